// extras.test.mjs - SDK features beyond the core scenarios: heartbeats that
// keep a lease alive through a long function (DECISIONS.md #2: 0.11.4 sends
// `tasks: []`, 0.11.5 lists its tasks), schedules firing SDK workflows,
// detached children (also a detached child of a detached child, DECISIONS.md
// #14), and 0.11.4's `prefix` option.
import assert from "node:assert/strict";
import { test } from "node:test";
import { childSep, eachSdk, loadSdk, Scope, sleep, waitFor, within } from "./lib.mjs";

eachSdk(test, "heartbeats keep the lease of a function that outlives its ttl", 60000, async (scope) => {
  const srv = await scope.server();
  const caller = await scope.client(srv, { group: "hb-callers", name: "caller" });
  // Two workers with a 1 s lease; the function takes 2.5 s. Without working
  // heartbeats the lease would lapse and the other worker would run it again.
  const w1 = await scope.client(srv, { group: "hb-workers", ttl: 1000, name: "w1" });
  const w2 = await scope.client(srv, { group: "hb-workers", ttl: 1000, name: "w2" });
  let calls = 0;
  async function longFunc(ctx, x) {
    calls++;
    await sleep(2500);
    return x + 1;
  }
  w1.register("longFunc", longFunc);
  w2.register("longFunc", longFunc);
  const out = await within(20000, caller.rpc("hb-1", "longFunc", 1, caller.options({ target: "hb-workers" })), "rpc");
  assert.equal(out, 2);
  assert.equal(calls, 1, "the function was re-dispatched while it ran");
  const task = await srv.rpc("task.get", { id: "hb-1" });
  assert.equal(task.body.data.task.state, "fulfilled");
  assert.equal(task.body.data.task.version, 1, "acquired more than once");
});

eachSdk(test, "a schedule fires SDK workflows", 60000, async (scope) => {
  const srv = await scope.server();
  const r = await scope.client(srv);
  const fired = [];
  function bump(ctx, x) {
    return x + 1;
  }
  function* scheduled(ctx, x) {
    const a = yield* ctx.run(bump, x);
    fired.push(ctx.id);
    return a;
  }
  r.register("bump", bump);
  r.register("scheduled_wf", scheduled);
  const s = await r.schedule("every-second", "* * * * * *", "scheduled_wf", 5);
  await waitFor(() => fired.length >= 2, 10000, "two firings");
  await s.delete();
  // 0.11.5 names firings `every-second-<ms>`, 0.11.4 `every-second.<ms>`.
  const sep = scope.version === "0.11.4" ? "." : "-";
  for (const id of fired) assert.match(id, new RegExp(`^every-second\\${sep}\\d+$`));
  const root = await srv.rpc("promise.get", { id: fired[0] });
  assert.equal(root.body.data.promise.state, "resolved");
  assert.equal(Buffer.from(root.body.data.promise.value.data, "base64").toString(), "6");
  const gone = await srv.rpc("schedule.get", { id: "every-second" });
  assert.equal(gone.status, 404);
});

eachSdk(test, "a detached child outlives its parent's await", 60000, async (scope) => {
  const srv = await scope.server();
  const r = await scope.client(srv);
  const w = await scope.client(srv, { group: "detached-workers", name: "w" });
  let childRuns = 0;
  w.register("detachedChild", (ctx, x) => {
    childRuns++;
    return x * 7;
  });
  function* parent(ctx) {
    const h = yield* ctx.detached("detachedChild", 6, ctx.options({ target: "detached-workers" }));
    return h.id;
  }
  const f = r.register("detach_parent", parent);
  const childId = await within(20000, f.run("det-1"), "parent");
  assert.ok(childId.startsWith(`det-1${childSep(scope.version)}`), childId);
  const h = await r.get(childId);
  assert.equal(await within(20000, h.result(), "detached child"), 42);
  assert.equal(childRuns, 1);
});

// DECISIONS.md #14: 0.11.4 mints `root.d<h1>` and `root.d<h2>` off
// resonate:prefix (origin = own id) and the second level names its sibling
// `root.d<h1>` as resonate:parent (400 before #14); 0.11.5 mints `root:d<h1>`
// and `root:d<h2>` off the origin and declares the origin as parent. Each
// level awaits the next, so the chain also suspends and resumes across
// siblings.
eachSdk(test, "a detached child that starts a detached child completes the chain", 60000, async (scope) => {
  const srv = await scope.server();
  const r = await scope.client(srv);
  const ran = [];
  r.register("chainLeaf", (ctx, x) => {
    ran.push(ctx.id);
    return x * 2;
  });
  r.register("chainMid", function* (ctx, x) {
    ran.push(ctx.id);
    const h = yield* ctx.detached("chainLeaf", x);
    return (yield* h) + 1;
  });
  const f = r.register("chainTop", function* (ctx, x) {
    const h = yield* ctx.detached("chainMid", x);
    return (yield* h) + 1;
  });
  assert.equal(await within(20000, f.run("nest-root", 3), "chain"), 8);
  const [mid, leaf] = ran.filter((id, i) => ran.indexOf(id) === i);
  const sep = childSep(scope.version);
  assert.match(mid, new RegExp(`^nest-root\\${sep}d[0-9a-f]{14}$`));
  assert.match(leaf, new RegExp(`^nest-root\\${sep}d[0-9a-f]{14}$`));
  const tags = (await srv.rpc("promise.get", { id: leaf })).body.data.promise.tags;
  if (scope.version === "0.11.4") assert.equal(tags["resonate:parent"], mid, "the parent is the sibling");
  else assert.equal(tags["resonate:parent"], "nest-root");
});

test("[sdk 0.11.4] the prefix option namespaces every id", { timeout: 60000 }, async (t) => {
  const scope = new Scope(t, "0.11.4");
  const { Resonate } = await loadSdk("0.11.4");
  const srv = await scope.server();
  const mk = (group, pid) => {
    const r = new Resonate({ url: srv.url, group, pid, prefix: "tenant", logger: { debug() {}, info() {}, warn() {}, error() {} } });
    scope.clients.push(r);
    return r;
  };
  const r = mk("default", "pre-1");
  const w = mk("pre-workers", "pre-2");
  w.register("triple", (ctx, x) => x * 3);
  r.register("inc", (ctx, x) => x + 1);
  const f = r.register("prefixed_wf", function* (ctx, x) {
    const a = yield* ctx.run("inc", x);
    yield* ctx.sleep(150);
    const b = yield* ctx.rpc("triple", a, ctx.options({ target: "pre-workers" }));
    return [ctx.id, a, b];
  });
  assert.deepEqual(await within(20000, f.run("job", 1), "run"), ["tenant:job", 2, 6]);
  const ids = (await srv.rpc("promise.search", { limit: 100 })).body.data.promises.map((p) => p.id).sort();
  assert.deepEqual(ids, ["tenant:job", "tenant:job.0", "tenant:job.1", "tenant:job.2"]);
  const again = await within(20000, f.run("job", 1), "re-run");
  assert.deepEqual(again, ["tenant:job", 2, 6]);
  srv.assertHealthy();
});
