// harness.mjs - runs one seed of the differential test.
//
// Each generated request is sent to resonate-c (debug mode, fake time in
// head["resonate:debug_time"]) and applied to the reference model at the same
// time; the answers are compared (compare.mjs). At the end of every batch of
// steps the two debug.snap dumps are compared and both sides are reset. A seed stops at its first mismatch: after that
// the two states have diverged and later differences say nothing new.
import { Generator, Rng } from "./gen.mjs";
import { diffResponse, diffSnaps, envelopeProblems, expectedErrorText, normaliseSnaps, normaliseSuccess } from "./compare.mjs";
import { Model } from "./model.mjs";
import { PROTOCOL_VERSION } from "../node/lib/server.mjs";

// Every kind that must reach a 2xx at least once per run.
export const REQUIRED_KINDS = [
  "promise.get",
  "promise.create",
  "promise.settle",
  "promise.register_callback",
  "promise.register_listener",
  "promise.search",
  "schedule.get",
  "schedule.create",
  "schedule.delete",
  "schedule.search",
  "task.get",
  "task.create",
  "task.acquire",
  "task.release",
  "task.fulfill",
  "task.suspend",
  "task.fence",
  "task.heartbeat",
  "task.halt",
  "task.continue",
  "task.search",
];

const SEARCHES = { "promise.search": "promiseSearch", "task.search": "taskSearch", "schedule.search": "scheduleSearch" };
const T0 = Date.UTC(2025, 0, 1); // fake clock origin; each seed adds up to a day

/**
 * Runs steps generated requests for seed against srv (a ServerHandle).
 * Returns {seed, steps, mismatch|null, coverage: {kind: 2xx count}, tolerated:
 * {name: count}}.
 */
export async function runSeed(srv, seed, steps, { batch = 60, historyKeep = 12 } = {}) {
  const rng = new Rng(seed);
  const model = new Model();
  const gen = new Generator(rng, model);
  let now = T0 + rng.int(0, 86_400_000);
  const coverage = {};
  const tolerated = {};
  const history = [];
  const note = (name) => (tolerated[name] = (tolerated[name] ?? 0) + 1);
  const result = (mismatch, step) => ({ seed, steps: step, mismatch, coverage, tolerated: addCounts(tolerated, model.tolerated) });

  // Both sides start empty; debug.start pauses resonate-c's background loops
  // so that only debug.tick moves its timers and nothing drains the outbox.
  const control = async (kind, step) => {
    const res = await srv.rpc(kind, {}, { "resonate:debug_time": now });
    if (res.status !== 200) {
      return result({ seed, step, now, request: { kind }, reason: `${kind} answered ${res.status}`, ours: res }, step);
    }
    model.apply(now, { kind, head: { corrId: "0", version: PROTOCOL_VERSION }, data: {} });
    return null;
  };
  for (const kind of ["debug.start", "debug.reset"]) {
    const bad = await control(kind, -1);
    if (bad) return bad;
  }

  for (let step = 0; step < steps; step++) {
    now += rng.pick([0, 0, 1, 10, 100, 500, 1000]);
    const g = gen.next(now);
    if (g.now !== undefined) now = g.now;
    const req = { kind: g.kind, head: { corrId: g.corrId, version: PROTOCOL_VERSION }, data: g.data };
    const ours = await srv.rpc(g.kind, g.data, { corrId: g.corrId, "resonate:debug_time": now });
    const entry = { step, now, request: req, ours: { status: ours.status, body: ours.body } };
    history.push(entry);
    if (history.length > historyKeep) history.shift();
    const fail = (reason, expected, extra = {}) =>
      result({ seed, step, now, reason, request: req, ours: entry.ours, expected, history: history.slice(0, -1), ...extra }, step);

    const env = envelopeProblems(g.kind, g.corrId, ours);
    if (env.length) return fail(`malformed envelope: ${env.join("; ")}`, undefined);
    if (ours.status >= 200 && ours.status < 300) coverage[g.kind] = (coverage[g.kind] ?? 0) + 1;

    let expected;
    if (g.negative) {
      // Input LN does not validate (T14): only resonate-c is asked.
      note("T14 validation only in resonate-c");
      expected = { status: g.negative.status, data: g.negative.message };
    } else if (SEARCHES[g.kind]) {
      // T12: LN answers 501; the expected page is computed from its state.
      note("T12 search computed from the model");
      expected = { status: 200, data: normaliseSuccess(g.kind, model[SEARCHES[g.kind]](g.data)) };
    } else {
      let ln;
      try {
        ln = model.apply(now, structuredClone(req));
      } catch (e) {
        return fail(`the reference threw: ${e.stack}`, undefined);
      }
      const status = ln.head.status;
      if (status >= 200 && status < 400) {
        if (g.kind === "task.fence") note("T9 fence preload and inner head");
        if (g.kind === "task.create" && ln.data.task?.state === "fulfilled") note("T8 preload of a fulfilled task.create");
        const ctx = g.kind === "task.fence" ? { preload: model.preload(g.data.id) } : {};
        expected = { status, data: normaliseSuccess(g.kind, ln.data, ctx) };
      } else {
        const text = expectedErrorText(g.kind, status, ln.data);
        if (text !== ln.data) note("T11 error text");
        if (g.kind === "task.suspend" && status === 422) note("T13 suspend 422 body");
        expected = { status, data: text };
      }
    }
    const why = diffResponse(g.kind, expected, ours);
    if (why) return fail(why, expected);

    // End of a batch: compare the dumps, then start over on an empty id
    // space (otherwise every id is soon settled and only replays remain).
    if ((step + 1) % batch === 0 || step === steps - 1) {
      const why2 = await compareSnaps(srv, model, now);
      if (why2) return fail("debug.snap differs after this step", undefined, { snap: why2 });
      if (step !== steps - 1) {
        const bad = await control("debug.reset", step);
        if (bad) return bad;
        model.deferred.clear();
      }
    }
  }
  return result(null, steps);
}

async function compareSnaps(srv, model, now) {
  const res = await srv.rpc("debug.snap", {}, { "resonate:debug_time": now });
  if (res.status !== 200) return { "(answer)": { ours: { status: res.status, body: res.body }, expected: "status 200" } };
  const { expected, actual } = normaliseSnaps(res.body.data, model.snap(), model.deferred);
  return diffSnaps(actual, expected);
}

/** A human-readable report of a mismatch. */
export function formatMismatch(m, steps) {
  const j = (v) => JSON.stringify(v);
  const lines = [
    `DIFFERENTIAL MISMATCH seed=${m.seed} step=${m.step} now=${m.now}: ${m.reason}`,
    `  reproduce: node tests/diff/run-long.mjs --seed ${m.seed} --steps ${Math.max(steps, m.step + 1)}`,
    `  request:  ${j(m.request)}`,
    `  ours:     ${j(m.ours)}`,
  ];
  if (m.expected !== undefined) lines.push(`  expected: ${j(m.expected)}`);
  if (m.snap) {
    for (const [k, v] of Object.entries(m.snap)) {
      lines.push(`  snap.${k}:`, `    ours:     ${j(v.ours)}`, `    expected: ${j(v.expected)}`);
    }
  }
  if (m.history?.length) {
    lines.push("  preceding requests (most recent last):");
    for (const h of m.history) lines.push(`    #${h.step} t=${h.now} ${j(h.request)} -> ${h.ours.status} ${j(h.ours.body?.data)}`);
  }
  return lines.join("\n");
}

/** Adds the counts of b into a. */
export function addCounts(a, b) {
  for (const [k, v] of Object.entries(b)) a[k] = (a[k] ?? 0) + v;
  return a;
}
