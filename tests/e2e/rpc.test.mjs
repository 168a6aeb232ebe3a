// rpc.test.mjs - work that crosses worker groups: a top-level rpc and a
// ctx.rpc to a function registered only by a second Resonate instance in
// another group, and a fan-out of 20 remote children over two workers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { childSep, eachSdk, within } from "./lib.mjs";

eachSdk(test, "rpc to a function registered by a second instance in another group", 60000, async (scope, sdk) => {
  const srv = await scope.server();
  const caller = await scope.client(srv, { group: "callers", name: "caller" });
  const worker = await scope.client(srv, { group: "workers-b", name: "worker" });
  const ranOn = [];
  function remoteFunc(ctx, x) {
    ranOn.push({ id: ctx.id, who: "worker" });
    return { doubled: x * 2 };
  }
  worker.register("remoteFunc", remoteFunc);

  // Top-level rpc: the caller does not know the function.
  const out = await within(20000, caller.rpc("job-1", "remoteFunc", 5, caller.options({ target: "workers-b" })), "rpc");
  assert.deepEqual(out, { doubled: 10 });
  assert.deepEqual(ranOn, [{ id: "job-1", who: "worker" }]);
  const task = await srv.rpc("task.get", { id: "job-1" });
  assert.equal(task.body.data.task.state, "fulfilled");

  // ctx.rpc from a workflow running on the caller's group.
  function* orchestrate(ctx, x) {
    const a = yield* ctx.rpc("remoteFunc", x, ctx.options({ target: "workers-b" }));
    const b = yield* ctx.rpc("remoteFunc", a.doubled, ctx.options({ target: "workers-b" }));
    return b.doubled;
  }
  const f = caller.register("orchestrate", orchestrate);
  assert.equal(await within(20000, f.run("orch-1", 3), "ctx.rpc run"), 12);
  const sep = childSep(scope.version);
  assert.deepEqual(ranOn.slice(1).map((r) => r.id), [`orch-1${sep}0`, `orch-1${sep}1`]);
  const child = await srv.rpc("promise.get", { id: `orch-1${sep}0` });
  assert.equal(child.body.data.promise.tags["resonate:target"], "poll://any@workers-b");
  assert.equal(child.body.data.promise.state, "resolved");

  // A rejected remote function surfaces as an error in the caller.
  worker.register("remoteFail", () => {
    throw new Error("remote says no");
  });
  await assert.rejects(
    within(20000, caller.rpc("job-2", "remoteFail", caller.options({ target: "workers-b", retryPolicy: new sdk.Never() })), "failing rpc"),
    /remote says no/,
  );
});

eachSdk(test, "fan-out of 20 remote children over two workers", 90000, async (scope, sdk) => {
  const srv = await scope.server();
  const caller = await scope.client(srv, { group: "fan-callers", name: "caller" });
  const w1 = await scope.client(srv, { group: "fan-workers", name: "w1" });
  const w2 = await scope.client(srv, { group: "fan-workers", name: "w2" });
  const runs = new Map();
  const child = (who) =>
    function fanChild(ctx, i) {
      runs.set(ctx.id, (runs.get(ctx.id) ?? 0) + 1);
      return { i, sq: i * i, who };
    };
  w1.register("fanChild", child("w1"));
  w2.register("fanChild", child("w2"));
  function* fanout(ctx, n) {
    const futures = [];
    for (let i = 0; i < n; i++) {
      futures.push(yield* ctx.beginRpc("fanChild", i, ctx.options({ target: "fan-workers" })));
    }
    const out = [];
    for (const fu of futures) out.push(yield* fu);
    return out;
  }
  const f = caller.register("fanout", fanout);
  const out = await within(60000, f.run("fan-1", 20), "fan-out run");
  assert.equal(out.length, 20);
  assert.deepEqual(out.map((o) => o.sq), Array.from({ length: 20 }, (_, i) => i * i));
  assert.equal(runs.size, 20);
  for (const [id, n] of runs) assert.equal(n, 1, `${id} ran ${n} times`);
  // Anycast spreads the children over both workers of the group.
  const who = new Set(out.map((o) => o.who));
  assert.equal(who.size, 2, `all children ran on ${[...who]}`);
  const done = await srv.rpc("task.search", { state: "fulfilled", limit: 100 });
  assert.equal(done.status, 200);
  assert.equal(done.body.data.tasks.length, 21);
  void sdk;
});
