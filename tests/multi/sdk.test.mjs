// sdk.test.mjs - the real SDK (0.11.5) on three servers sharing one
// PostgreSQL (issue 12): workers connected to servers A and B, the caller on
// C. A workflow with local steps and a remote fan-out completes with every
// step's side effect counted once; then, with server A killed -9 in the
// middle of a run, every workflow still completes (its tasks move to the
// worker on B once their leases expire) and nothing acknowledged is lost.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { Scope, within } from "../e2e/lib.mjs";
import { pgArgs, pgSkip } from "./lib.mjs";

const VERSION = "0.11.5";

// The SDK does not cancel a function's retry timers in stop() (those of the
// worker whose server was killed retry for ever): end the process once the
// tests are done, as tests/e2e/lib.mjs does for its own suites.
after(() => {
  setTimeout(() => {
    process.stderr.write("multi/sdk: handles still open after the last test (SDK timers); exiting\n");
    process.exit();
  }, 2000).unref();
});

async function threeServers(scope) {
  const servers = [];
  for (let i = 0; i < 3; i++) servers.push(await scope.server({ mode: "serve", debug: true, args: pgArgs() }));
  assert.equal((await servers[0].rpc("debug.reset", {})).status, 200);
  return servers;
}

function setup(scope, a, b, c, counts, ttl) {
  return Promise.all([
    scope.client(a, { group: "mw", name: "w-on-a", ...(ttl ? { ttl } : {}) }),
    scope.client(b, { group: "mw", name: "w-on-b", ...(ttl ? { ttl } : {}) }),
    scope.client(c, { group: "mc", name: "caller-on-c" }),
  ]).then(([wa, wb, caller]) => {
    const child = (who) =>
      function mchild(ctx, i) {
        counts.set(ctx.id, (counts.get(ctx.id) ?? 0) + 1);
        return { i, sq: i * i, who };
      };
    wa.register("mchild", child("a"));
    wb.register("mchild", child("b"));
    function step(ctx, x) {
      counts.set(ctx.id, (counts.get(ctx.id) ?? 0) + 1);
      return x + 1;
    }
    caller.register("mstep", step);
    function* wf(ctx, n) {
      const s = yield* ctx.run(step, n);
      const fs = [];
      for (let i = 0; i < n; i++) fs.push(yield* ctx.beginRpc("mchild", i, ctx.options({ target: "mw" })));
      const out = [];
      for (const f of fs) out.push((yield* f).sq);
      return { s, out };
    }
    return { wa, wb, caller, wf: caller.register("mwf", wf) };
  });
}

test(`[sdk ${VERSION}] workers on two servers, the caller on a third: local and remote fan-out, each step once`, { skip: pgSkip, timeout: 120_000 }, async (t) => {
  const scope = new Scope(t, VERSION);
  const [a, b, c] = await threeServers(scope);
  const counts = new Map();
  const { wf } = await setup(scope, a, b, c, counts);
  const runs = Array.from({ length: 4 }, (_, k) => within(60000, wf.run(`m-${k}`, 6), `m-${k}`));
  const outs = await Promise.all(runs);
  for (const o of outs) assert.deepEqual(o, { s: 7, out: [0, 1, 4, 9, 16, 25] });
  const twice = [...counts].filter(([, n]) => n !== 1);
  assert.deepEqual(twice, [], "side effects counted more than once");
  assert.equal(counts.size, 4 * 7);
  for (const s of [a, b, c]) s.assertHealthy();
});

test(`[sdk ${VERSION}] kill -9 of a worker's server mid-run: every workflow completes`, { skip: pgSkip, timeout: 120_000 }, async (t) => {
  const scope = new Scope(t, VERSION);
  const [a, b, c] = await threeServers(scope);
  const counts = new Map();
  const { wf } = await setup(scope, a, b, c, counts, 2000);
  const runs = Array.from({ length: 4 }, (_, k) => within(90000, wf.run(`k-${k}`, 8), `k-${k}`));
  await new Promise((r) => setTimeout(r, 150));
  a.child.kill("SIGKILL");
  await a.exited;
  scope.servers = scope.servers.filter((s) => s !== a);
  const outs = await Promise.all(runs);
  for (const o of outs) assert.deepEqual(o, { s: 9, out: [0, 1, 4, 9, 16, 25, 36, 49] });
  for (let k = 0; k < 4; k++) {
    const g = await b.rpc("promise.get", { id: `k-${k}` });
    assert.equal(g.body.data.promise.state, "resolved");
  }
});
