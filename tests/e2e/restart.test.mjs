// restart.test.mjs - `resonate serve` is stopped (SIGTERM) and started again
// on the same database file and port while a workflow is in flight; the SDK
// reconnects its SSE stream and the workflow completes. Covered: a workflow
// suspended on a sleep whose timer falls due while the server is down, and
// a workflow in the middle of a step (task acquired) across the restart.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { deferred, eachSdk, within } from "./lib.mjs";

async function serveOn(scope, dbPath, port) {
  return scope.server({ mode: "serve", dbPath, ...(port ? { port } : {}) });
}

eachSdk(test, "a serve restart while a workflow sleeps", 90000, async (scope) => {
  const dbPath = path.join(scope.tmpdir(), "resonate.db");
  let srv = await serveOn(scope, dbPath);
  const port = srv.port;
  const r = await scope.client(srv, { name: "worker" });
  const marks = [];
  const asleep = deferred();
  function mark(ctx, label) {
    marks.push(label);
    if (label === "before") asleep.resolve();
    return label;
  }
  function* wf(ctx, x) {
    const a = yield* ctx.run(mark, "before");
    yield* ctx.sleep(1500);
    const b = yield* ctx.run(mark, "after");
    return `${a}/${b}/${x}`;
  }
  r.register("mark", mark);
  const f = r.register("restart_sleep_wf", wf);
  const handle = await f.beginRun("rs-1", "x");
  await within(10000, asleep.promise, "first step");
  // Wait until the workflow is suspended on its timer.
  for (let i = 0; ; i++) {
    const t = await srv.rpc("task.get", { id: "rs-1" });
    if (t.body.data.task.state === "suspended") break;
    assert.ok(i < 100, `task never suspended: ${JSON.stringify(t.body)}`);
    await new Promise((res) => setTimeout(res, 50));
  }

  await scope.stopServer(srv);
  // Down for longer than the sleep's remaining time: the timer is due when
  // the server comes back and must be settled by its first ticks.
  await new Promise((res) => setTimeout(res, 1600));
  srv = await serveOn(scope, dbPath, port);

  assert.equal(await within(30000, handle.result(), "result after restart"), "before/after/x");
  assert.deepEqual(marks, ["before", "after"]);
  const root = await srv.rpc("promise.get", { id: "rs-1" });
  assert.equal(root.body.data.promise.state, "resolved");
});

eachSdk(test, "a serve restart while a step runs", 90000, async (scope) => {
  const dbPath = path.join(scope.tmpdir(), "resonate.db");
  let srv = await serveOn(scope, dbPath);
  const port = srv.port;
  const r = await scope.client(srv, { name: "worker" });
  const inStep = deferred();
  const gate = deferred();
  let slowCalls = 0;
  async function slow(ctx, x) {
    slowCalls++;
    inStep.resolve();
    await gate.promise;
    return x * 2;
  }
  function quick(ctx, x) {
    return x + 1;
  }
  function* wf(ctx, x) {
    const a = yield* ctx.run(quick, x);
    const b = yield* ctx.run(slow, a);
    const c = yield* ctx.run(quick, b);
    return c;
  }
  r.register("slow", slow);
  r.register("quick", quick);
  const f = r.register("restart_step_wf", wf);
  const handle = await f.beginRun("rs-2", 1);
  await within(10000, inStep.promise, "slow step started");

  await scope.stopServer(srv);
  srv = await serveOn(scope, dbPath, port);
  // The task is still held by the worker after the restart (the lease is
  // durable); the step finishes and the workflow records it.
  const t = await srv.rpc("task.get", { id: "rs-2" });
  assert.equal(t.body.data.task.state, "acquired");
  gate.resolve();

  assert.equal(await within(30000, handle.result(), "result after restart"), 5);
  assert.equal(slowCalls, 1);
  const root = await srv.rpc("promise.get", { id: "rs-2" });
  assert.equal(root.body.data.promise.state, "resolved");
});
