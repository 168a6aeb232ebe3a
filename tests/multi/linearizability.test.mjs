// linearizability.test.mjs - histories of concurrent creates, settles and
// reads of the same ids, spread over two servers on one PostgreSQL, are
// linearizable (issue 12): a read on server A that starts after server B
// acknowledged a write sees that write. The checker (linearize.mjs) is
// shown to catch an injected stale read, both in a written history and
// spliced into a real one.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { check } from "./linearize.mjs";
import { pgSkip, startServers, stopAll } from "./lib.mjs";

const FAR = 4102444800000;
let servers = [];

after(async () => {
  await stopAll(servers);
});

const op = (kind, inv, ret, seen, value) => ({ kind, id: "x", inv, ret, seen, ...(value ? { value } : {}) });

test("the checker accepts a linearizable history and catches stale reads", () => {
  const good = [
    op("get", 0, 2, "absent"),
    op("create", 1, 5, "pending"),
    op("get", 3, 6, "pending"), // overlaps the create: may see it
    op("settle", 6, 10, "settled:resolved/a", "resolved/a"),
    op("settle", 7, 11, "settled:resolved/a", "resolved/b"), // lost the race
    op("get", 8, 9, "pending"), // overlaps the winner: may miss it
    op("get", 12, 13, "settled:resolved/a"),
    op("settle", 14, Infinity, "unknown", "resolved/c"), // timed out: maybe applied
  ];
  assert.deepEqual(check(good), []);
  // A read that began after the settle was acknowledged and still saw pending.
  const stale = [...good, op("get", 10.5, 12, "pending")];
  assert.match(check(stale).join("\n"), /cannot be ordered after every read that saw it pending/);
  // A read that began after the create was acknowledged and saw nothing.
  const lost = [...good, op("get", 5.5, 5.8, "absent")];
  assert.match(check(lost).join("\n"), /no create can be ordered/);
  // Two answers with different settlements.
  const split = [...good, op("get", 12, 13, "settled:resolved/b")];
  assert.match(check(split).join("\n"), /different settlements/);
});

function seenOf(r) {
  if (r.status === 404) return "absent";
  if (r.status !== 200) return `status ${r.status}`;
  const p = r.body.data.promise;
  return p.state === "pending" ? "pending" : `settled:${p.state}/${p.value.data ?? ""}`;
}

test("creates, settles and reads of the same ids through two servers are linearizable", { skip: pgSkip, timeout: 120_000 }, async () => {
  servers = await startServers(2);
  const t0 = performance.now();
  const history = [];
  const run = async (srv, kind, id, data, value) => {
    const inv = performance.now() - t0;
    let r;
    try {
      r = await srv.rpc(kind, data, {}, { timeoutMs: 10000 });
    } catch {
      history.push({ kind, id, inv, ret: Infinity, seen: "unknown", value });
      return;
    }
    const ret = performance.now() - t0;
    history.push({ kind, id, inv, ret, seen: seenOf(r), value, status: r.status });
  };
  const IDS = 20;
  const jobs = [];
  for (let n = 0; n < IDS; n++) {
    const id = `lin-${n}`;
    const ops = [];
    for (let k = 0; k < 2; k++) ops.push(["promise.create", { id, timeoutAt: FAR, param: {}, tags: {} }]);
    for (let k = 0; k < 4; k++) {
      const state = k % 2 ? "resolved" : "rejected";
      const data = Buffer.from(`v${k}`).toString("base64");
      ops.push(["promise.settle", { id, state, value: { data } }, `${state}/${data}`]);
    }
    for (let k = 0; k < 10; k++) ops.push(["promise.get", { id }]);
    for (const [i, [kind, data, value]] of ops.entries()) {
      const srv = servers[(n + i) % 2];
      const delay = Math.floor(Math.random() * 30);
      jobs.push(new Promise((r) => setTimeout(r, delay)).then(() => run(srv, kind, id, data, value)));
    }
  }
  await Promise.all(jobs);
  for (const h of history) {
    h.kind = h.kind.replace("promise.", "");
    // (a settle of a promise not yet created is a 404: seen "absent")
    assert.ok(!String(h.seen).startsWith("status"), `${h.id} ${h.kind}: ${h.seen}`);
  }
  const violations = check(history);
  assert.deepEqual(violations, [], violations.join("\n"));
  const settledOps = history.filter((h) => h.seen.startsWith("settled:")).length;
  assert.ok(settledOps > IDS, `too few reads saw a settlement (${settledOps}): the races did not happen`);

  // Spliced into the real history, a stale read is caught.
  const win = history.filter((h) => h.kind === "settle" && h.seen.startsWith("settled:") && h.seen.slice(8) === h.value)[0];
  const stale = { kind: "get", id: win.id, inv: win.ret + 0.01, ret: win.ret + 1, seen: "pending" };
  assert.match(check([...history, stale]).join("\n"), new RegExp(`${win.id}: the settle`));
});
