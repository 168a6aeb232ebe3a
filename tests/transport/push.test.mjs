// push.test.mjs - the HTTP push transport against a Node HTTP server on
// 127.0.0.1: the execute and unblock messages it POSTs, retries with back-off
// after 5xx answers, refused connections and timeouts, the drop after the
// attempt limit, and the transport switched off.
//
// The outbox's back-off is 500 ms * 2^attempts (1 s, 2 s, 4 s, ... capped at
// 30 s) and a row is dropped after 10 failed deliveries, about 150 s in all.
// The drop test therefore runs fast only when the server has the knobs
// --messages-max-attempts/--messages-retry-base; otherwise it runs with the
// built-in schedule when RESONATE_SLOW_TESTS=1 and is skipped else.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  createPromise,
  call,
  deliveries,
  freePort,
  hasFlag,
  httpTarget,
  serverWithMetrics,
  settlePromise,
  sleep,
  snapMessages,
  waitFor,
} from "./lib.mjs";

const FAST = ["--messages-poll-interval", "20"];

test("execute POSTs the task with head.serverUrl; an http listener gets the settled promise", async (t) => {
  const target = await httpTarget(t);
  const srv = await serverWithMetrics(t, [...FAST, "--server-url", "http://resonate.example:7001"]);
  const before = await deliveries(srv);

  await createPromise(srv, "wf-push", { "resonate:target": target.url("/work/queue?x=1") });
  const exec = await waitFor(() => target.reqs.find((r) => r.url.startsWith("/work")), 3000, "execute POST");
  assert.equal(exec.method, "POST");
  assert.equal(exec.url, "/work/queue?x=1");
  assert.match(exec.headers["content-type"], /^application\/json/);
  assert.deepEqual(exec.json, {
    kind: "execute",
    head: { serverUrl: "http://resonate.example:7001" },
    data: { task: { id: "wf-push", version: 0 } },
  });

  await call(srv, "promise.register_listener", { awaited: "wf-push", address: target.url("/listen") });
  await sleep(100);
  assert.equal(target.reqs.filter((r) => r.url === "/listen").length, 0, "no unblock before the settle");
  const settled = (await settlePromise(srv, "wf-push", "aGk=")).promise;
  const unblock = await waitFor(() => target.reqs.find((r) => r.url === "/listen"), 3000, "unblock POST");
  assert.equal(unblock.method, "POST");
  assert.deepEqual(unblock.json, { kind: "unblock", head: {}, data: { promise: settled } });
  assert.equal(settled.state, "resolved");
  assert.equal(settled.value.data, "aGk=");

  await waitFor(async () => (await deliveries(srv)).success >= before.success + 2, 2000, "success counter +2");
  assert.deepEqual(await snapMessages(srv), [], "delivered rows are deleted");
  assert.equal(target.reqs.length, 2, "each message POSTed once");
});

test("a target answering 500 twice is retried with back-off and then delivered", async (t) => {
  const target = await httpTarget(t, (req, n) => ({ status: n < 2 ? 500 : 200 }));
  const srv = await serverWithMetrics(t, FAST);
  const before = await deliveries(srv);
  await createPromise(srv, "wf-500", { "resonate:target": target.url("/t") });
  await waitFor(() => target.reqs.length >= 3, 8000, "third attempt");
  await waitFor(async () => (await deliveries(srv)).success === before.success + 1, 2000, "success counted");
  const after = await deliveries(srv);
  assert.equal(after.error - before.error, 2, "two failed attempts counted");
  assert.equal(after.dropped, before.dropped);

  const [a, b, c] = target.reqs.map((r) => r.at);
  for (const r of target.reqs) assert.deepEqual(r.json.data.task, { id: "wf-500", version: 0 });
  // back-off 500 ms * 2^attempts: 1 s after the first failure, 2 s after the second
  // messages.retry_base (500 ms) before the first retry, doubling after.
  assert.ok(b - a >= 450 && b - a <= 1200, `first retry after ${b - a} ms, expected ~500`);
  assert.ok(c - b >= 900 && c - b <= 1900, `second retry after ${c - b} ms, expected ~1000`);
  await sleep(300);
  assert.equal(target.reqs.length, 3, "nothing sent after the success");
  assert.deepEqual(await snapMessages(srv), []);
});

test("a refused connection is retried and delivered once the target listens", async (t) => {
  const port = await freePort(); // nobody listens here yet
  const srv = await serverWithMetrics(t, FAST);
  const before = await deliveries(srv);
  await createPromise(srv, "wf-down", { "resonate:target": `http://127.0.0.1:${port}/late` });
  await waitFor(async () => (await deliveries(srv)).error > before.error, 2000, "first attempt fails");
  const rows = await snapMessages(srv);
  assert.equal(rows.length, 1, `the row stays queued: ${JSON.stringify(rows)}`);

  const up = Date.now();
  const target = await httpTarget(t, () => ({ status: 200 }), port);
  const got = await waitFor(() => target.reqs[0], 5000, "delivery after the target came up");
  assert.ok(got.at - up <= 3500, `delivered ${got.at - up} ms after the target came up`);
  assert.deepEqual(got.json.data.task, { id: "wf-down", version: 0 });
  await waitFor(async () => (await deliveries(srv)).success > before.success, 2000, "success counted");
  await waitFor(async () => (await snapMessages(srv)).length === 0, 2000, "row deleted");
});

test("a target slower than the request timeout is retried", async (t) => {
  const target = await httpTarget(t, (req, n) => (n === 0 ? { status: 200, delayMs: 3000 } : { status: 200 }));
  const srv = await serverWithMetrics(t, [...FAST, "--transports-http-push-request-timeout", "300"]);
  const before = await deliveries(srv);
  await createPromise(srv, "wf-slow", { "resonate:target": target.url("/slow") });
  await waitFor(() => target.reqs.length >= 2, 5000, "a second attempt");
  const [first, second] = target.reqs;
  assert.ok(first.aborted, "the server gave up on the slow request");
  const waited = first.abortedAt - first.at;
  assert.ok(waited >= 250 && waited <= 1500, `the slow request was abandoned after ${waited} ms (timeout 300)`);
  assert.deepEqual(second.json, first.json);
  await waitFor(async () => (await deliveries(srv)).success === before.success + 1, 2000, "success counted");
  assert.equal((await deliveries(srv)).error - before.error, 1);
  await waitFor(async () => (await snapMessages(srv)).length === 0, 2000, "row deleted");
});

test("with --transports-http-push-enabled false nothing is POSTed", async (t) => {
  const target = await httpTarget(t);
  const srv = await serverWithMetrics(t, [...FAST, "--transports-http-push-enabled", "false"]);
  await createPromise(srv, "wf-off", { "resonate:target": target.url("/off") });
  await createPromise(srv, "p-off");
  await call(srv, "promise.register_listener", { awaited: "p-off", address: target.url("/off-listen") });
  await settlePromise(srv, "p-off");
  // As the reference: a message for a disabled transport is consumed.
  await waitFor(async () => (await snapMessages(srv)).length === 0, 2000, "rows consumed");
  await sleep(300);
  assert.equal(target.reqs.length, 0, `POSTs: ${JSON.stringify(target.reqs.map((r) => r.url))}`);
});

// The knobs this test needs to run fast; see the file comment.
const KNOBS = hasFlag("--messages-max-attempts") && hasFlag("--messages-retry-base");
const SLOW = process.env.RESONATE_SLOW_TESTS === "1";

test(
  "a target that never works is dropped after the attempt limit",
  { skip: !KNOBS && !SLOW && "needs --messages-max-attempts/--messages-retry-base (or RESONATE_SLOW_TESTS=1, ~150 s)", timeout: 240000 },
  async (t) => {
    const attempts = KNOBS ? 4 : 10;
    const args = KNOBS ? [...FAST, "--messages-max-attempts", String(attempts), "--messages-retry-base", "20"] : FAST;
    const target = await httpTarget(t, () => ({ status: 500 }));
    const srv = await serverWithMetrics(t, args);
    const before = await deliveries(srv);
    // An unblock, not an execute: the task retry timer would re-queue an
    // execute (attempts from 0) every --tasks-retry-timeout.
    await createPromise(srv, "p-never");
    await call(srv, "promise.register_listener", { awaited: "p-never", address: target.url("/never") });
    await settlePromise(srv, "p-never");
    await waitFor(async () => (await deliveries(srv)).dropped > before.dropped, KNOBS ? 10000 : 200000, "dropped");
    const after = await deliveries(srv);
    assert.equal(after.dropped - before.dropped, 1);
    assert.equal(after.error - before.error, attempts - 1, "every failure but the last is a retry");
    assert.equal(target.reqs.length, attempts, `${attempts} attempts`);
    assert.match(srv.stderr(), new RegExp(`warn\\s+outbox: message \\d+ dropped after ${attempts} failed deliveries`));
    await waitFor(async () => (await snapMessages(srv)).length === 0, 2000, "row deleted");
    await sleep(KNOBS ? 300 : 1500);
    assert.equal(target.reqs.length, attempts, "nothing sent after the drop");
  },
);
