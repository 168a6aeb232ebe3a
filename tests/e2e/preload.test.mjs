// preload.test.mjs - the SDK treats a task's preload as a cache (issue 9,
// finding 5): with tasks.preload_max_count = 1 a workflow that suspends and
// is re-acquired replays its steps from the server (task.fence returns the
// stored promises) and still runs each step exactly once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { eachSdk, within } from "./lib.mjs";

eachSdk(test, "a preload cut to one promise still replays every step exactly once", 60000, async (scope) => {
  const srv = await scope.server({ args: ["--tasks-preload-max-count", "1"] });
  const r = await scope.client(srv);
  const ran = [];
  function step(ctx, i) {
    ran.push(ctx.id);
    return i * 10;
  }
  function* wf(ctx, n) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(yield* ctx.run(step, i));
    yield* ctx.sleep(200); // suspends; the wake re-acquires the task with a preload
    out.push(yield* ctx.run(step, n));
    return out;
  }
  r.register("step", step);
  const f = r.register("preload_cut_wf", wf);
  const out = await within(30000, f.run("pre-1", 8), "run");
  assert.deepEqual(out, Array.from({ length: 9 }, (_, i) => i * 10));
  assert.equal(ran.length, 9, `steps ran ${ran.length} times: ${ran.join(", ")}`);
  assert.equal(new Set(ran).size, 9);
  const task = await srv.rpc("task.get", { id: "pre-1" });
  assert.equal(task.body.data.task.state, "fulfilled");
  assert.ok(task.body.data.task.version >= 2, "the task was never re-acquired");
});
