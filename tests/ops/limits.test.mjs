// limits.test.mjs - hostile sizes and times against the real binary (issue 9,
// findings 5 and 8, and the [limits] keys): durations beyond 2^53 - 1 ms are
// refused instead of overflowing a time sum (the sanitized build aborts on
// signed overflow, and stop() fails on any sanitizer report); a schedule
// stored before that bound fires after a restart without crashing; ids and
// tags over their limits are refused naming the setting; a task's preload
// stays within tasks.preload_max_bytes however large its branch is; a
// settlement's fan-out past limits.settle_fanout_batch completes right after
// the settle.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { PROTOCOL_VERSION, startServer } from "../node/lib/server.mjs";

const INT64_MAX = "9223372036854775807";
const TIME_MAX = "9007199254740991"; // 2^53 - 1

/** POSTs an envelope whose data is raw JSON text (for integers past 2^53). */
async function rawRpc(srv, kind, dataText) {
  const body = `{"kind":"${kind}","head":{"corrId":"c","version":"${PROTOCOL_VERSION}"},"data":${dataText}}`;
  const res = await srv.request("POST", "/", { body, headers: { "content-type": "application/json" } });
  return { status: res.status, text: res.text, body: JSON.parse(res.text) };
}

const taskCreate = (id, ttl) =>
  `{"pid":"w","ttl":${ttl},"action":{"kind":"promise.create","head":{},"data":{"id":"${id}",` +
  `"timeoutAt":${INT64_MAX},"tags":{"resonate:target":"poll://any@g"}}}}`;

test("durations past 2^53 - 1 ms are 400 naming the bound; the largest allowed ones store sane timers", async (t) => {
  const srv = await startServer({});
  t.after(() => srv.stop());
  let r = await rawRpc(srv, "task.create", taskCreate("t1", INT64_MAX));
  assert.equal(r.status, 400);
  assert.equal(r.body.data, `TTL must be at most ${TIME_MAX} ms`);
  r = await rawRpc(srv, "task.acquire", `{"id":"t1","version":0,"pid":"w","ttl":${INT64_MAX}}`);
  assert.equal(r.status, 400);
  r = await rawRpc(srv, "promise.create",
    `{"id":"d","timeoutAt":${INT64_MAX},"tags":{"resonate:delay":"9223372036854775000","resonate:target":"poll://any@g"}}`);
  assert.equal(r.status, 400);
  assert.equal(r.body.data, `resonate:delay must be at most ${TIME_MAX}`);
  r = await rawRpc(srv, "schedule.create",
    `{"id":"s","cron":"* * * * *","promiseId":"p.{{.timestamp}}","promiseTimeout":${INT64_MAX},` +
    `"promiseTags":{"resonate:target":"poll://any@g"}}`);
  assert.equal(r.status, 400);
  assert.equal(r.body.data, `Promise timeout must be at most ${TIME_MAX} ms`);

  // The bound itself is accepted and the lease lands where it should.
  const now = Date.now();
  r = await rawRpc(srv, "task.create", taskCreate("t2", TIME_MAX));
  assert.equal(r.status, 200, r.text);
  const snap = await srv.rpc("debug.snap", {});
  const lease = snap.body.data.taskTimeouts.find((x) => x.id === "t2");
  assert.ok(lease.timeout > now + 9e15, `lease at ${lease.timeout}`);
  // A tick at the far end of time (debug) wraps nothing either.
  r = await rawRpc(srv, "debug.tick", `{"time":${INT64_MAX}}`);
  assert.equal(r.status, 200, r.text);
});

test("a schedule stored with promiseTimeout = INT64_MAX before the bound fires after a restart without crashing", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-limits-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dbPath = path.join(dir, "resonate.db");
  const fast = ["--timeouts-poll-interval", "100"];
  let srv = await startServer({ mode: "serve", debug: false, dbPath, args: fast });
  const r = await srv.rpc("schedule.create", {
    id: "old",
    cron: "* * * * * *",
    promiseId: "old.{{.timestamp}}",
    promiseTimeout: 1000,
    promiseTags: { "resonate:target": "poll://any@g" },
  });
  assert.equal(r.status, 200);
  await srv.stop();
  // What a server before the fix would have stored.
  execFileSync("sqlite3", [dbPath, `UPDATE schedules SET promise_timeout = ${INT64_MAX}, next_run_at = 0`]);
  srv = await startServer({ mode: "serve", debug: false, dbPath, args: fast });
  t.after(() => srv.stop());
  let fired;
  for (const deadline = Date.now() + 10000; !fired && Date.now() < deadline; ) {
    const s = await srv.rpc("promise.search", { tags: { "resonate:schedule": "old" } });
    fired = s.body.data.promises[0];
    if (!fired) await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(fired, "the stored schedule never fired");
  const raw = await rawRpc(srv, "promise.get", `{"id":"${fired.id}"}`);
  assert.equal(raw.body.data.promise.state, "pending");
  assert.match(raw.text, new RegExp(`"timeoutAt":${INT64_MAX}\\b`), "timeoutAt saturates");
});

test("ids and tags over the [limits] are 400 naming the setting; raising it lets them in", async (t) => {
  const long = "x".repeat(5000);
  let srv = await startServer({});
  const create = (s, id, tags = {}) => s.rpc("promise.create", { id, timeoutAt: Date.now() + 60000, tags });
  let r = await create(srv, long);
  assert.equal(r.status, 400);
  assert.equal(r.body.data, "Promise ID is 5000 bytes, over the limit of 4096 (limits.id_max_bytes)");
  const many = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, "v"]));
  r = await create(srv, "p", many);
  assert.equal(r.status, 400);
  assert.equal(r.body.data, "tags has 129 entries, over the limit of 128 (limits.tags_max_count)");
  r = await srv.rpc("promise.get", { id: "p" });
  assert.equal(r.status, 404, "a refused request stored nothing");
  // The SDK's deep child ids stay well within the default.
  const deep = "root" + ".12".repeat(300);
  r = await create(srv, deep, { "resonate:branch": deep, "resonate:origin": "root" });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await srv.stop();

  srv = await startServer({ args: ["--limits-id-max-bytes", "8192", "--limits-tag-value-max-bytes", "8192"] });
  t.after(() => srv.stop());
  r = await create(srv, long);
  assert.equal(r.status, 200);
});

test("a task's preload stays within tasks.preload_max_bytes for a branch of large promises", async (t) => {
  const budget = 1024 * 1024;
  const srv = await startServer({ args: ["--tasks-preload-max-bytes", String(budget)] });
  t.after(() => srv.stop());
  const timeoutAt = Date.now() + 600000;
  const data = "A".repeat(200 * 1000);
  let r = await srv.rpc("task.create", {
    pid: "w",
    ttl: 60000,
    action: {
      kind: "promise.create",
      head: {},
      data: { id: "root", timeoutAt, tags: { "resonate:target": "poll://any@g", "resonate:branch": "root" } },
    },
  });
  assert.equal(r.status, 200);
  for (let i = 0; i < 30; i++) {
    r = await srv.rpc("promise.create", {
      id: `root.${i}`,
      timeoutAt,
      param: { data },
      tags: { "resonate:branch": "root" },
    });
    assert.equal(r.status, 200);
  }
  r = await srv.rpc("task.fence", {
    id: "root",
    version: 1,
    action: { kind: "promise.create", head: {}, data: { id: "root.30", timeoutAt, tags: { "resonate:branch": "root" } } },
  });
  assert.equal(r.status, 200);
  const pre = r.body.data.preload;
  const bytes = JSON.stringify(pre).length;
  assert.ok(pre.length >= 1 && pre.length < 30, `preload of ${pre.length} promises`);
  assert.ok(bytes <= budget, `preload of ${bytes} bytes`);
  // Unbudgeted, the same branch would have been ~6 MB.
  assert.equal(pre[0].id, "root.0");
});

test("a listener past limits.listeners_per_promise is 429 naming the setting; a stored one and a settled promise are 200", async (t) => {
  const srv = await startServer({ args: ["--limits-listeners-per-promise", "2"] });
  t.after(() => srv.stop());
  const listen = (awaited, address) => srv.rpc("promise.register_listener", { awaited, address });
  let r = await srv.rpc("promise.create", { id: "hot", timeoutAt: Date.now() + 600000 });
  assert.equal(r.status, 200);
  assert.equal((await listen("hot", "poll://uni@g/a")).status, 200);
  assert.equal((await listen("hot", "poll://uni@g/b")).status, 200);
  r = await listen("hot", "poll://uni@g/c");
  assert.equal(r.status, 429);
  assert.equal(r.body.head.status, 429);
  assert.equal(r.body.data,
    "Promise 'hot' already has 2 listeners, the limit of limits.listeners_per_promise: " +
    "settle it, or retry once it has settled, or raise the limit");
  r = await listen("hot", "poll://uni@g/a");
  assert.equal(r.status, 200, "re-registering a stored listener is accepted at the limit");
  const snap = await srv.rpc("debug.snap", {});
  assert.deepEqual(snap.body.data.listeners.map((l) => l.address), ["poll://uni@g/a", "poll://uni@g/b"]);
  r = await srv.rpc("promise.settle", { id: "hot", state: "resolved", value: {} });
  assert.equal(r.status, 200);
  r = await listen("hot", "poll://uni@g/c");
  assert.equal(r.status, 200, "a settled promise answers as always");
  assert.equal(r.body.data.promise.state, "resolved");
});

test("a settle past limits.settle_fanout_batch resumes every awaiter once, those past the batch right after the settle, not a tick interval later", async (t) => {
  // An hour between ticks: only the wake-up after the settle continues it.
  const srv = await startServer({
    mode: "serve",
    debug: true,
    args: ["--limits-settle-fanout-batch", "4", "--timeouts-poll-interval", "3600000"],
  });
  t.after(() => srv.stop());
  const far = Date.now() + 600000;
  let r = await srv.rpc("promise.create", { id: "f.root", timeoutAt: far });
  assert.equal(r.status, 200);
  const N = 25;
  for (let i = 0; i < N; i++) {
    const id = `f.w${String(i).padStart(2, "0")}`;
    r = await srv.rpc("task.create", {
      pid: "p", ttl: 600000,
      action: { kind: "promise.create", head: {}, data: { id, timeoutAt: far, tags: { "resonate:target": "poll://any@g" } } },
    });
    assert.equal(r.status, 200, r.text);
    r = await srv.rpc("task.suspend", {
      id, version: 1,
      actions: [{ kind: "promise.register_callback", head: {}, data: { awaited: "f.root", awaiter: id } }],
    });
    assert.equal(r.status, 200, r.text);
  }
  r = await srv.rpc("promise.settle", { id: "f.root", state: "resolved", value: {} });
  assert.equal(r.status, 200);
  assert.equal(r.body.data.promise.state, "resolved");
  let tasks;
  for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
    tasks = (await srv.rpc("debug.snap", {})).body.data.tasks;
    if (tasks.every((x) => x.state === "pending")) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.deepEqual(tasks.filter((x) => x.state !== "pending").map((x) => x.id), []);
  for (const x of tasks) assert.deepEqual([x.id, x.version, x.resumes], [x.id, 1, 1]);
});
