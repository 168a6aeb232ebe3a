// failover.test.mjs - a worker dies mid-workflow and another one finishes
// it: its lease (the SDK's ttl) runs out without heartbeats, the server puts
// the task back to pending and re-dispatches it to the group, the survivor
// acquires a newer version and replays from the durable steps. Whatever the
// old holder still sends is fenced out with 409.
import assert from "node:assert/strict";
import { test } from "node:test";
import { childSep, deferred, eachSdk, waitFor, within } from "./lib.mjs";

const TTL = 1500; // the dead worker's lease, ms
// Long enough that recovery through the retry timer would fail the timing
// checks: the re-dispatch after lease expiry must reach the survivor at once
// (the dead worker's stream is recognised as gone).
const RETRY_ARGS = ["--tasks-retry-timeout", "20000"];
const RECOVERY_MS = TTL + 3000;

eachSdk(test, "a worker killed mid-workflow (SIGKILL) and another finishing it", 60000, async (scope) => {
  const srv = await scope.server({ args: RETRY_ARGS });
  const group = "fo-workers";
  // The survivor is connected first, so it is there when the re-dispatch
  // comes; the victim owns the workflow (its anycast address is the target).
  const survivor = await scope.client(srv, { group, name: "survivor" });
  const ran = [];
  function failover_one(ctx, x) {
    ran.push(`one ${ctx.id}`);
    return x * 10;
  }
  function failover_two(ctx, a) {
    ran.push(`two ${ctx.id}`);
    return a + 1;
  }
  function* failover_wf(ctx, x) {
    const a = yield* ctx.run(failover_one, x);
    const b = yield* ctx.run(failover_two, a);
    return { a, b };
  }
  survivor.register("failover_one", failover_one);
  survivor.register("failover_two", failover_two);
  survivor.register("failover_wf", failover_wf);

  const victim = await scope.worker({
    url: srv.url, group, pid: "victim", ttl: TTL, run: { id: "fo-1", arg: 4 },
  });
  const sep = childSep(scope.version);
  assert.equal(await victim.waitLine("one ", 15000), `one fo-1${sep}0 4`);
  assert.equal(await victim.waitLine("two-start", 15000), `two-start fo-1${sep}1`);
  const held = await srv.rpc("task.get", { id: "fo-1" });
  assert.equal(held.body.data.task.state, "acquired");
  assert.equal(held.body.data.task.pid, "victim");
  const heldVersion = held.body.data.task.version;
  const killedAt = Date.now();
  await scope.kill(victim);

  // The survivor learns the result through its own handle on the promise.
  const handle = await survivor.get("fo-1");
  const out = await within(20000, handle.result(), "result after failover");
  assert.deepEqual(out, { a: 40, b: 41 });
  const took = Date.now() - killedAt;
  assert.ok(took < RECOVERY_MS, `took ${took} ms after the kill`);
  // Step one came from the durable record (not re-run); step two ran here.
  assert.deepEqual(ran, [`two fo-1${sep}1`]);
  const task = await srv.rpc("task.get", { id: "fo-1" });
  assert.equal(task.body.data.task.state, "fulfilled");
  assert.ok(task.body.data.task.version > heldVersion, "the survivor acquired a newer version");

  // The dead worker's version is fenced out.
  const stale = await srv.rpc("task.fence", {
    id: "fo-1",
    version: heldVersion,
    action: { kind: "promise.settle", head: {}, data: { id: `fo-1${sep}1`, state: "resolved", value: {} } },
  });
  assert.equal(stale.status, 409);
});

eachSdk(test, "a stopped worker's late writes are fenced out after another one finished", 60000, async (scope) => {
  const srv = await scope.server({ args: RETRY_ARGS });
  const group = "fo2-workers";
  const survivor = await scope.client(srv, { group, name: "survivor" });
  const victim = await scope.client(srv, { group, pid: "victim2", ttl: TTL, name: "victim" });
  const gate = deferred();
  const entered = deferred();
  const calls = { victimOne: 0, victimTwo: 0, survivorOne: 0, survivorTwo: 0 };
  const register = (r, who, two) => {
    r.register("stop_one", function stop_one(ctx, x) {
      calls[`${who}One`]++;
      return x + 1;
    });
    r.register("stop_two", two);
    return r.register("stop_wf", function* stop_wf(ctx, x) {
      const a = yield* ctx.run("stop_one", x);
      const b = yield* ctx.run("stop_two", a);
      return [a, b];
    });
  };
  const vf = register(victim, "victim", async function stop_two(ctx, a) {
    calls.victimTwo++;
    entered.resolve();
    await gate.promise; // held until the survivor has finished
    return `victim ${a}`;
  });
  register(survivor, "survivor", function stop_two(ctx, a) {
    calls.survivorTwo++;
    return `survivor ${a}`;
  });
  const victimRun = vf.run("fo-2", 1).then(
    (v) => ({ ok: v }),
    (e) => ({ err: e }),
  );
  await within(15000, entered.promise, "victim inside step two");
  await scope.stopClient(victim); // no more heartbeats; the lease runs out
  const t2 = Date.now();

  const handle = await survivor.get("fo-2");
  assert.deepEqual(await within(20000, handle.result(), "result after failover"), [2, "survivor 2"]);
  const took = Date.now() - t2;
  assert.ok(took < RECOVERY_MS, `took ${took} ms after the stop`);
  assert.deepEqual(calls, { victimOne: 1, victimTwo: 1, survivorOne: 0, survivorTwo: 1 });

  // The old holder wakes up and tries to record its step and finish: the
  // server refuses with 409 and the stored result does not change.
  gate.resolve();
  await waitFor(() => /Version mismatch/.test(scope.sdkLog()), 10000, "the stopped worker's fenced write");
  const sep = childSep(scope.version);
  const step = await srv.rpc("promise.get", { id: `fo-2${sep}1` });
  assert.equal(Buffer.from(step.body.data.promise.value.data, "base64").toString(), JSON.stringify("survivor 2"));
  const root = await srv.rpc("promise.get", { id: "fo-2" });
  assert.equal(root.body.data.promise.state, "resolved");
  assert.equal(Buffer.from(root.body.data.promise.value.data, "base64").toString(), JSON.stringify([2, "survivor 2"]));
});
