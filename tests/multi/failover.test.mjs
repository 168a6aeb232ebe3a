// failover.test.mjs - background work across servers on one PostgreSQL
// (issue 12): timeouts fire on the one server that holds the leader lock,
// and another server takes over within two poll intervals of its kill -9.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { pgSkip, startServers, stopAll } from "./lib.mjs";

const TICK = 200; // --timeouts-poll-interval of every server
let servers = [];

after(async () => {
  await stopAll(servers);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The stored state of id (debug.snap reads rows; a get would time it out itself). */
async function storedState(srv, id) {
  const r = await srv.rpc("debug.snap", {});
  const p = r.body.data.promises.find((x) => x.id === id);
  return p ? p.state : null;
}

async function waitState(srv, id, state, ms) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if ((await storedState(srv, id)) === state) return Date.now() - t0;
    await sleep(20);
  }
  throw new Error(`${id} not ${state} within ${ms} ms (is ${await storedState(srv, id)})`);
}

function leaderOf(list) {
  return list.find((s) => /runs on this server now/.test(s.stderrText));
}


test("timeouts fire on one leader and go on after a kill -9 of it", { skip: pgSkip, timeout: 60_000 }, async () => {
  servers = await startServers(3, { args: ["--timeouts-poll-interval", String(TICK)] });
  await sleep(3 * TICK);
  const leaders = servers.filter((s) => /runs on this server now/.test(s.stderrText));
  assert.equal(leaders.length, 1, `leaders: ${leaders.length}`);
  const leader = leaderOf(servers);
  const others = servers.filter((s) => s !== leader);

  const at = Date.now() + 300;
  assert.equal((await others[0].rpc("promise.create", { id: "fo-a", timeoutAt: at, param: {}, tags: {} })).status, 200);
  await waitState(others[1], "fo-a", "rejected_timedout", 300 + 3 * TICK + 1000);

  leader.child.kill("SIGKILL");
  await leader.exited;
  const killedAt = Date.now();
  const at2 = killedAt + 100;
  assert.equal((await others[0].rpc("promise.create", { id: "fo-b", timeoutAt: at2, param: {}, tags: {} })).status, 200);
  await waitState(others[1], "fo-b", "rejected_timedout", 5000);
  const took = Date.now() - Math.max(at2, killedAt);
  // two poll intervals, plus the time to see it through debug.snap
  assert.ok(took <= 2 * TICK + 400, `took ${took} ms after the kill`);
  const newLeaders = others.filter((s) => /runs on this server now/.test(s.stderrText));
  assert.equal(newLeaders.length, 1, "exactly one survivor took over");
  servers = others;
});
