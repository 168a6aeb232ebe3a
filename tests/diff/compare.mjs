// compare.mjs - what "the same answer" means in the differential test.
//
// The reference's answer is first turned into what resonate-c should say
// (the tolerated differences of TOLERATED.md, T-numbers below); then status
// and data must be equal (deep equality; JSON key order is not part of the
// contract, array order is).
import { isDeepStrictEqual } from "node:util";

import { PROTOCOL_VERSION } from "../node/lib/server.mjs";
import { byteCmp } from "./model.mjs";

const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
const byId = (a, b) => byteCmp(a.id, b.id);

// T11: LN's error texts for the cases where rs (and resonate-c) word it
// differently; statuses agree. Keyed by kind, then LN's text ("*" = any).
const ERROR_TEXTS = {
  "promise.register_callback": {
    "Awaited and awaiter must be different": "Awaited and awaiter must be different promises",
    "Awaiter has no address": "Awaiter promise has no resonate:target tag",
  },
  "promise.register_listener": { "Promise not found": "Awaited promise not found" },
  "task.create": {
    "Task already exists": "Already exists",
    "Promise already exists": "Already exists",
    "Promise has no address": "The promise does not have a resonate:target tag",
  },
  "task.acquire": {
    "Task not in pending state": "Task is not pending",
    "Task logically fulfilled": "Task is not pending",
  },
  "task.release": { "*": "Task version mismatch or invalid state" },
  "task.fulfill": { "*": "Task version mismatch or invalid state" },
  "task.suspend": { "*409": "Task is not acquired or version mismatch", "*422": "Awaited promise not found" },
  "task.fence": { "Fence check failed": "Version mismatch" },
};

/** The error text resonate-c should send where LN answered status/text. */
export function expectedErrorText(kind, status, lnData) {
  const t = ERROR_TEXTS[kind] ?? {};
  if (typeof lnData === "string" && t[lnData] !== undefined) return t[lnData];
  if (t[`*${status}`] !== undefined) return t[`*${status}`];
  if (t["*"] !== undefined && status !== 404) return t["*"];
  return lnData;
}

/** T10: LN's resumes is the set of awaited ids; resonate-c's the count. */
function normTask(t) {
  return Array.isArray(t.resumes) ? { ...t, resumes: t.resumes.length } : t;
}

/**
 * LN's 2xx data turned into resonate-c's. ctx.preload: the preload resonate-c
 * must send for task.fence (T9), computed from the model after the request.
 */
export function normaliseSuccess(kind, data, ctx = {}) {
  const d = clone(data);
  if (d && typeof d === "object" && !Array.isArray(d)) {
    if (d.task) d.task = normTask(d.task);
    if (d.tasks) d.tasks = d.tasks.map(normTask);
    // T16: LN lists preloads in insertion order; rs by id.
    if (Array.isArray(d.preload)) d.preload.sort(byId);
    // T8: rs answers an existing fulfilled task.create with an empty preload.
    if (kind === "task.create" && d.task?.state === "fulfilled") d.preload = [];
    // T9: LN's fence preload is always []; rs computes it.
    if (kind === "task.fence") d.preload = clone(ctx.preload ?? []).sort(byId);
  }
  return d;
}

/** Problems with the envelope resonate-c sent, as a list of strings. */
export function envelopeProblems(kind, corrId, res) {
  const p = [];
  const b = res.body;
  if (!b || typeof b !== "object") return [`response is not a JSON object: ${JSON.stringify(b)}`];
  if (b.kind !== kind) p.push(`kind ${JSON.stringify(b.kind)} != ${JSON.stringify(kind)}`);
  if (!b.head || typeof b.head !== "object") return [...p, "no head"];
  if (b.head.corrId !== corrId) p.push(`corrId ${JSON.stringify(b.head.corrId)} != ${JSON.stringify(corrId)}`);
  if (b.head.version !== PROTOCOL_VERSION) p.push(`head.version ${JSON.stringify(b.head.version)}`);
  if (b.head.status !== res.status) p.push(`head.status ${b.head.status} != HTTP ${res.status}`);
  const ok = res.status >= 200 && res.status < 400;
  if (ok && (b.data === null || typeof b.data !== "object")) p.push("success data is not an object/array");
  if (!ok && typeof b.data !== "string") p.push("error data is not a string");
  return p;
}

/**
 * Compares resonate-c's response with the expected {status, data}. Returns
 * null when equal, else a reason.
 */
export function diffResponse(kind, expected, res) {
  const got = res.body;
  if (res.status !== expected.status) return `status ${res.status} != expected ${expected.status}`;
  if (!isDeepStrictEqual(got.data, expected.data)) return "data differs";
  return null;
}

// ---- debug.snap -------------------------------------------------------------

const cmpBy = (...keys) => (a, b) => {
  for (const k of keys) {
    const c = byteCmp(String(a[k]), String(b[k]));
    if (c) return c;
  }
  return 0;
};

/**
 * Both snapshots in comparable form. LN's lists are sorted into rs's order
 * (T16: LN keeps insertion order); resonate-c's are kept as sent so that its
 * order is checked too, except messages, whose unblock order is not part of
 * the contract. deferred: task ids excluded from timers/executes (T7).
 */
export function normaliseSnaps(ours, ln, deferred) {
  const keepTimer = (t) => !deferred.has(t.id);
  const keepMsg = (m) => !(m.message.kind === "execute" && deferred.has(m.message.data.task.id));
  const msgOrder = (a, b) => {
    const ka = a.message.kind === "execute" ? `0${a.message.data.task.id}` : `1${a.message.data.promise.id}\u0000${a.address}`;
    const kb = b.message.kind === "execute" ? `0${b.message.data.task.id}` : `1${b.message.data.promise.id}\u0000${b.address}`;
    return byteCmp(ka, kb);
  };
  const l = clone(ln);
  const expected = {
    callbacks: l.callbacks.sort(cmpBy("awaiter", "awaited")),
    listeners: l.listeners.sort(cmpBy("id", "address")),
    messages: l.messages.filter(keepMsg).sort(msgOrder),
    promiseTimeouts: l.promiseTimeouts.sort(byId),
    promises: l.promises.sort(byId),
    taskTimeouts: l.taskTimeouts.filter(keepTimer).sort(byId),
    tasks: l.tasks.map(normTask).sort(byId),
  };
  const o = clone(ours);
  const actual = {
    callbacks: o.callbacks,
    listeners: o.listeners,
    messages: (o.messages ?? []).filter(keepMsg).sort(msgOrder),
    promiseTimeouts: o.promiseTimeouts,
    promises: o.promises,
    taskTimeouts: (o.taskTimeouts ?? []).filter(keepTimer),
    tasks: o.tasks,
  };
  return { expected, actual };
}

/** Per-section differences between normalised snapshots, or null. */
export function diffSnaps(actual, expected) {
  const out = {};
  for (const k of Object.keys(expected)) {
    if (!isDeepStrictEqual(actual[k], expected[k])) out[k] = { ours: actual[k], expected: expected[k] };
  }
  for (const k of Object.keys(actual ?? {})) {
    if (!(k in expected)) out[k] = { ours: actual[k], expected: undefined };
  }
  return Object.keys(out).length ? out : null;
}
