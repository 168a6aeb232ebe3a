// wait.test.mjs - workflows that suspend and are resumed by the server:
// ctx.sleep woken by the background timer (DECISIONS.md #1), and a durable
// promise resolved from outside the workflow.
import assert from "node:assert/strict";
import { test } from "node:test";
import { deferred, eachSdk, encodeValue, within } from "./lib.mjs";

const SLEEP_MS = 400;
// The background tick runs every 100 ms (FAST_FLAGS); then resume, execute,
// acquire and replay, against the sanitized build.
const WAKE_SLACK_MS = 2500;

eachSdk(test, "ctx.sleep of a few hundred ms wakes on time", 60000, async (scope) => {
  const srv = await scope.server();
  // Group "default": 0.11.5 sends its timer promises to the default target
  // (poll://any@default), so the worker also receives the timer's task.
  const r = await scope.client(srv);
  const marks = [];
  function mark(ctx, label) {
    marks.push({ label, at: Date.now() });
    return label;
  }
  function* wf(ctx) {
    yield* ctx.run(mark, "before");
    yield* ctx.sleep(SLEEP_MS);
    yield* ctx.run(mark, "after");
    return "woke";
  }
  r.register("mark", mark);
  const f = r.register("sleep_wf", wf);
  const started = Date.now();
  const out = await within(20000, f.run("sleep-1"), "run");
  assert.equal(out, "woke");
  const before = marks.find((m) => m.label === "before");
  const after = marks.find((m) => m.label === "after");
  assert.ok(before && after, JSON.stringify(marks));
  const slept = after.at - before.at;
  if (process.env.E2E_VERBOSE) console.error(`slept ${slept}`);
  assert.ok(slept >= SLEEP_MS - 5, `woke after ${slept} ms, before the timer`);
  assert.ok(slept <= SLEEP_MS + WAKE_SLACK_MS, `woke after ${slept} ms`);
  assert.ok(Date.now() - started < SLEEP_MS + WAKE_SLACK_MS + 2000);

  // Two sleeps in sequence and one in parallel with a step.
  function* wf2(ctx) {
    yield* ctx.sleep(200);
    yield* ctx.sleep(200);
    const t = yield* ctx.beginRun(mark, "parallel");
    yield* ctx.sleep(100);
    return yield* t;
  }
  const g = r.register("sleep2_wf", wf2);
  const t0 = Date.now();
  assert.equal(await within(20000, g.run("sleep-2"), "run 2"), "parallel");
  if (process.env.E2E_VERBOSE) console.error(`three sleeps ${Date.now() - t0}`);
  assert.ok(Date.now() - t0 >= 500, `three sleeps done after ${Date.now() - t0} ms`);
});

eachSdk(test, "a workflow waits on a durable promise resolved from outside", 60000, async (scope) => {
  const srv = await scope.server();
  const r = await scope.client(srv, { group: "approvals" });
  const announced = deferred();
  function announce(ctx, id) {
    announced.resolve(id);
    return id;
  }
  let resumed = 0;
  function* wf(ctx, who) {
    const p = yield* ctx.promise();
    yield* ctx.run(announce, p.id);
    const answer = yield* p;
    resumed++;
    return `${who}: ${answer.verdict}`;
  }
  r.register("announce", announce);
  const f = r.register("approval_wf", wf);
  const handle = await f.beginRun("approve-1", "alice");
  const latentId = await within(10000, announced.promise, "latent promise id");
  assert.ok(latentId.startsWith("approve-1"), latentId);

  // The workflow is suspended on the latent promise.
  await new Promise((res) => setTimeout(res, 300));
  const task = await srv.rpc("task.get", { id: "approve-1" });
  assert.equal(task.body.data.task.state, "suspended");
  assert.equal(resumed, 0);

  // Someone else (another client, no workflows of its own) resolves it.
  const outsider = await scope.client(srv, { group: "outsiders" });
  const settled = await outsider.promises.resolve(latentId, { data: encodeValue({ verdict: "approved" }) });
  assert.equal(settled.state, "resolved");

  assert.equal(await within(15000, handle.result(), "result"), "alice: approved");
  assert.equal(resumed, 1);

  // Rejected from outside: the workflow sees the error.
  const announced2 = deferred();
  function announce2(ctx, id) {
    announced2.resolve(id);
  }
  function* wf2(ctx) {
    const p = yield* ctx.promise();
    yield* ctx.run(announce2, p.id);
    try {
      yield* p;
      return "resolved?";
    } catch (e) {
      return `rejected: ${e.message ?? e}`;
    }
  }
  r.register("announce2", announce2);
  const g = r.register("reject_wf", wf2);
  const h2 = await g.beginRun("approve-2");
  const id2 = await within(10000, announced2.promise, "latent promise id 2");
  const err = new Error("denied");
  await outsider.promises.reject(id2, { data: encodeValue({ __type: "error", message: err.message, name: "Error" }) });
  assert.equal(await within(15000, h2.result(), "result 2"), "rejected: denied");
});

// limits.listeners_per_promise answers a new listener past it 429, which the
// SDK retries (every 5 s) rather than failing the waiter; once the promise
// has settled the retry is answered with it. A 409 or 422 would have made
// 0.11.5's handle.result() throw.
eachSdk(test, "a waiter past limits.listeners_per_promise still gets the result once the promise settles", 60000, async (scope) => {
  const srv = await scope.server({ debug: true, args: ["--limits-listeners-per-promise", "1"] });
  let res = await srv.rpc("promise.create", { id: "gate", timeoutAt: Date.now() + 600000 });
  assert.equal(res.status, 200);
  res = await srv.rpc("promise.register_listener", { awaited: "gate", address: "poll://uni@elsewhere/w" });
  assert.equal(res.status, 200);
  const r = await scope.client(srv);
  const handle = await r.get("gate");
  let done = false;
  const result = handle.result().finally(() => (done = true));
  await new Promise((ok) => setTimeout(ok, 500));
  assert.equal(done, false, "the waiter is not failed by the refusal");
  const snap = await srv.rpc("debug.snap", {});
  assert.equal(snap.body.data.listeners.length, 1, "the refused listener was not stored");
  res = await srv.rpc("promise.settle", { id: "gate", state: "resolved", value: { data: encodeValue("open") } });
  assert.equal(res.status, 200);
  assert.equal(await within(15000, result, "result"), "open");
});
