// basic.test.mjs - one SDK worker against one server: a generator with
// ctx.run steps, re-running a completed id, a step that throws and is retried
// by the SDK's retry policy, a fan-out of 20 local children.
import assert from "node:assert/strict";
import { test } from "node:test";
import { childSep, eachSdk, within } from "./lib.mjs";

eachSdk(test, "run of a generator with ctx.run steps", 60000, async (scope, sdk) => {
  const srv = await scope.server();
  const r = await scope.client(srv);
  const seen = [];
  function add(ctx, a, b) {
    seen.push(ctx.id);
    return a + b;
  }
  function* wf(ctx, x) {
    const a = yield* ctx.run(add, x, 1);
    const b = yield* ctx.run(add, a, 10);
    const c = yield* ctx.run(add, b, 100);
    return { a, b, c };
  }
  r.register("add", add);
  const f = r.register("steps_wf", wf);
  const out = await within(20000, f.run("steps-1", 1), "run");
  assert.deepEqual(out, { a: 2, b: 12, c: 112 });
  const sep = childSep(scope.version);
  assert.deepEqual(seen, [`steps-1${sep}0`, `steps-1${sep}1`, `steps-1${sep}2`]);

  // The server holds the whole tree: the root resolved with the result, each
  // step a resolved child, and the root's task fulfilled.
  const root = await srv.rpc("promise.get", { id: "steps-1" });
  assert.equal(root.status, 200);
  assert.equal(root.body.data.promise.state, "resolved");
  for (const id of seen) {
    const child = await srv.rpc("promise.get", { id });
    assert.equal(child.status, 200, id);
    assert.equal(child.body.data.promise.state, "resolved", id);
    assert.equal(child.body.data.promise.tags["resonate:branch"], "steps-1");
  }
  const task = await srv.rpc("task.get", { id: "steps-1" });
  assert.equal(task.body.data.task.state, "fulfilled");
  // A second handle on the same result, through promise.get + listener.
  const h = await r.get("steps-1");
  assert.deepEqual(await within(10000, h.result(), "get().result()"), { a: 2, b: 12, c: 112 });
  void sdk;
});

eachSdk(test, "re-running a completed id returns the stored result without re-executing", 60000, async (scope) => {
  const srv = await scope.server();
  const r = await scope.client(srv);
  let wfRuns = 0;
  let stepRuns = 0;
  function stamp(ctx, x) {
    stepRuns++;
    return `${x}-${stepRuns}`;
  }
  function* wf(ctx, x) {
    wfRuns++;
    return yield* ctx.run(stamp, x);
  }
  r.register("stamp", stamp);
  const f = r.register("once_wf", wf);
  const first = await within(20000, f.run("once-1", "v"), "first run");
  assert.equal(first, "v-1");
  assert.equal(stepRuns, 1);
  const wfRunsAfterFirst = wfRuns;

  // Same id, same instance: the stored result, nothing runs.
  const again = await within(20000, f.run("once-1", "other-arg"), "second run");
  assert.equal(again, "v-1");
  // Same id from another worker (another pid): still the stored result.
  const r2 = await scope.client(srv);
  r2.register("stamp", stamp);
  const f2 = r2.register("once_wf", wf);
  const third = await within(20000, f2.run("once-1", "third"), "run from a second worker");
  assert.equal(third, "v-1");
  assert.equal(stepRuns, 1, "the step ran again");
  assert.equal(wfRuns, wfRunsAfterFirst, "the workflow body ran again");
});

eachSdk(test, "a step that throws is retried by the SDK retry policy", 60000, async (scope, sdk) => {
  const srv = await scope.server();
  const r = await scope.client(srv);
  let flakyCalls = 0;
  let brokenCalls = 0;
  function flaky(ctx, n) {
    flakyCalls++;
    if (flakyCalls < n) throw new Error(`flaky failure ${flakyCalls}`);
    return `ok after ${flakyCalls}`;
  }
  function broken() {
    brokenCalls++;
    throw new Error("always broken");
  }
  function* wf(ctx) {
    const policy = new sdk.Constant({ delay: 50, maxRetries: 5 });
    const a = yield* ctx.run(flaky, 3, ctx.options({ retryPolicy: policy }));
    let b;
    try {
      yield* ctx.run(broken, ctx.options({ retryPolicy: new sdk.Constant({ delay: 20, maxRetries: 2 }) }));
      b = "no error";
    } catch (e) {
      b = `caught: ${e.message}`;
    }
    return { a, b };
  }
  r.register("flaky", flaky);
  r.register("broken", broken);
  const f = r.register("retry_wf", wf);
  const out = await within(30000, f.run("retry-1"), "run");
  assert.deepEqual(out, { a: "ok after 3", b: "caught: always broken" });
  assert.equal(flakyCalls, 3);
  assert.equal(brokenCalls, 3, "one call and two retries");
  // The failed step is durably rejected, the root resolved.
  const sep = childSep(scope.version);
  const failed = await srv.rpc("promise.get", { id: `retry-1${sep}1` });
  assert.equal(failed.body.data.promise.state, "rejected");
  const root = await srv.rpc("promise.get", { id: "retry-1" });
  assert.equal(root.body.data.promise.state, "resolved");

  // A workflow that lets the exhausted step's error escape: run() rejects.
  function* failing(ctx) {
    return yield* ctx.run(broken, ctx.options({ retryPolicy: new sdk.Constant({ delay: 10, maxRetries: 1 }) }));
  }
  const g = r.register("failing_wf", failing);
  await assert.rejects(within(30000, g.run("retry-2"), "failing run"), /always broken/);
  const root2 = await srv.rpc("promise.get", { id: "retry-2" });
  assert.equal(root2.body.data.promise.state, "rejected");
});

eachSdk(test, "fan-out of 20 local children", 60000, async (scope) => {
  const srv = await scope.server();
  const r = await scope.client(srv);
  const ran = new Set();
  function square(ctx, i) {
    ran.add(ctx.id);
    return i * i;
  }
  function* wf(ctx, n) {
    const futures = [];
    for (let i = 0; i < n; i++) futures.push(yield* ctx.beginRun(square, i));
    const out = [];
    for (const f of futures) out.push(yield* f);
    return out;
  }
  r.register("square", square);
  const f = r.register("fan_local_wf", wf);
  const out = await within(30000, f.run("fanl-1", 20), "run");
  assert.deepEqual(out, Array.from({ length: 20 }, (_, i) => i * i));
  assert.equal(ran.size, 20);
  const search = await srv.rpc("promise.search", { tags: { "resonate:branch": "fanl-1" }, limit: 100 });
  assert.equal(search.status, 200);
  const children = search.body.data.promises.filter((p) => p.id !== "fanl-1");
  assert.equal(children.length, 20);
  assert.ok(children.every((p) => p.state === "resolved"));
});
