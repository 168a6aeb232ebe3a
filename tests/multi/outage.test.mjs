// outage.test.mjs - PostgreSQL stopped and restarted under load (issue 12):
// while it is down every write is answered 503 (never 200 for something not
// kept, never another 5xx) and /ready is 503; once it is back the server
// answers 200 again by itself, and every write acknowledged before, during
// or after the outage is there. Needs the throwaway cluster of tests/run.sh
// (RESONATE_TEST_PG_DIR), which it stops and starts.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, test } from "node:test";

import { freePort } from "../node/lib/server.mjs";
import { pgSkip, startServers, stopAll } from "./lib.mjs";

const DIR = process.env.RESONATE_TEST_PG_DIR;
const skip = pgSkip || (DIR ? false : "RESONATE_TEST_PG_DIR is not set (tests/run.sh sets it for its own cluster)");
const FAR = 4102444800000;
let servers = [];

after(async () => {
  if (DIR) execFileSync("scripts/pg-cluster.sh", ["start", DIR], { stdio: "ignore" });
  await stopAll(servers);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("PostgreSQL restarted under load: only 503 meanwhile, then 200 again, nothing acknowledged lost", { skip, timeout: 120_000 }, async () => {
  const metricsPort = await freePort();
  servers = await startServers(1, { args: ["--observability-metrics-port", String(metricsPort)] });
  const [srv] = servers;
  /** resonate_outbox_depth at a scrape (counted then, on a read connection). */
  const depth = async () => {
    const r = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    const m = (await r.text()).match(/^resonate_outbox_depth (\d+)$/m);
    assert.ok(m, "no resonate_outbox_depth in /metrics");
    return Number(m[1]);
  };
  assert.equal(await depth(), 0); // a reader now idle in the pool
  const acked = [];
  const statuses = {};
  let n = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const id = `out-${n++}`;
      const r = await srv.rpc("promise.create", { id, timeoutAt: FAR, param: {}, tags: {} }).catch((e) => ({ status: `error ${e.message}` }));
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (r.status === 200) acked.push(id);
      else await sleep(20);
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  await sleep(500);
  execFileSync("scripts/pg-cluster.sh", ["halt", DIR], { stdio: "ignore" });
  await sleep(1000);
  const ready = await srv.request("GET", "/ready");
  assert.equal(ready.status, 503, "/ready while PostgreSQL is down");
  const during = { ...statuses };
  execFileSync("scripts/pg-cluster.sh", ["start", DIR], { stdio: "ignore" });
  const back = Date.now();
  let ok = false;
  while (Date.now() - back < 10000 && !ok) {
    const before = acked.length;
    await sleep(200);
    ok = acked.length > before;
  }
  stop = true;
  await Promise.all(workers);
  assert.ok(ok, `no write acknowledged within 10 s of the restart: ${JSON.stringify(statuses)}`);
  assert.ok((during[503] ?? 0) > 0, `no 503 while down: ${JSON.stringify(during)}`);
  const unexpected = Object.keys(statuses).filter((s) => s !== "200" && s !== "503");
  assert.deepEqual(unexpected, [], `answers other than 200/503: ${JSON.stringify(statuses)}`);
  assert.equal((await srv.request("GET", "/ready")).status, 200);
  // The reader left idle before the outage is dead: the count opens another
  // rather than keep the old value (no read has replaced it yet).
  for (const id of ["out-msg-1", "out-msg-2"]) {
    const r = await srv.rpc("promise.create", { id, timeoutAt: FAR, param: {}, tags: { "resonate:target": "poll://any@nobody" } });
    assert.equal(r.status, 200);
  }
  assert.equal(await depth(), 2);
  for (const id of acked) {
    const g = await srv.rpc("promise.get", { id });
    assert.equal(g.status, 200, `${id} was acknowledged, then lost`);
  }
  srv.assertHealthy();
});
