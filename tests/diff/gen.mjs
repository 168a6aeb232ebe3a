// gen.mjs - seeded random requests for the differential test.
//
// A small id space (promise ids of two lineage schemes, a few schedule ids)
// makes requests collide on the same records, so idempotency, state
// transitions and stale versions are exercised. The generator peeks at the
// reference model only to make plausible choices (a task's current version,
// which tasks are acquired); it never decides what the answer should be.
import { PROTOCOL_VERSION } from "../node/lib/server.mjs";

// ---- PRNG: splitmix64 seeding an xorshift128+ (deterministic per seed) ----
export class Rng {
  constructor(seed) {
    let x = BigInt.asUintN(64, BigInt(seed));
    const next = () => {
      x = BigInt.asUintN(64, x + 0x9e3779b97f4a7c15n);
      let z = x;
      z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
      z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
      return z ^ (z >> 31n);
    };
    this.s0 = next();
    this.s1 = next();
  }
  /** Uniform float in [0, 1). */
  float() {
    let s1 = this.s0;
    const s0 = this.s1;
    this.s0 = s0;
    s1 = BigInt.asUintN(64, s1 ^ (s1 << 23n));
    this.s1 = s1 ^ s0 ^ (s1 >> 17n) ^ (s0 >> 26n);
    const r = BigInt.asUintN(64, this.s1 + s0);
    return Number(r >> 11n) / 2 ** 53;
  }
  int(lo, hi) {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }
  chance(p) {
    return this.float() < p;
  }
  pick(arr) {
    return arr[Math.floor(this.float() * arr.length)];
  }
  /** Picks a key of {key: weight}. */
  weighted(table) {
    const entries = Object.entries(table);
    let r = this.float() * entries.reduce((s, [, w]) => s + w, 0);
    for (const [k, w] of entries) {
      if ((r -= w) < 0) return k;
    }
    return entries[entries.length - 1][0];
  }
}

// ---- the id space ---------------------------------------------------------
export const PROMISE_IDS = ["a", "a:1", "a:2", "a.1", "b", "b:1"];
export const SCHEDULE_IDS = ["s1", "s2", "s3"];
const TARGETS = ["poll://any@g", "poll://uni@g/w1"];
const LISTENER_ADDRS = ["poll://uni@g/l1", "poll://any@g/l2"];
const PIDS = ["w1", "w2"];
const TTLS = [1000, 5000, 60000, 60000];
const SETTLE_STATES = ["resolved", "rejected", "rejected_canceled"];
const PROMISE_STATES = ["pending", "resolved", "rejected", "rejected_canceled", "rejected_timedout"];
const TASK_STATES = ["pending", "acquired", "suspended", "halted", "fulfilled"];
// Expressions on which standard cron (resonate-c) and cron-parser agree.
const CRONS = ["* * * * *", "*/2 * * * *", "0 * * * *", "*/30 * * * * *", "0 0 1,15 * 1", "15 10 * * *"];
// Promise id templates. Only s1 may use the fixed id "a:2": two schedules
// firing in the same tick into the same id would make the winner depend on
// the firing order, which the protocol leaves unspecified.
const TEMPLATES = ["{{.id}}:{{.timestamp}}", "{{.id}}"];
const templatesOf = (id) => (id === "s1" ? [...TEMPLATES, "a:2"] : TEMPLATES);
const VALUES = [{}, { data: "aGk=" }, { headers: { k: "v" }, data: "eA==" }, { headers: {} }];

/** Origin of id under the rule splitting at sep. */
function originBy(id, sep) {
  const i = id.indexOf(sep);
  return i < 0 ? id : id.slice(0, i);
}

/** DECISIONS.md #3: same origin under the ':' rule or under the '.' rule. */
export function sameOrigin(a, b) {
  return originBy(a, ":") === originBy(b, ":") || originBy(a, ".") === originBy(b, ".");
}

/** The id a child extends (text before its last ':' or '.'), or null for a root. */
function parentOf(id) {
  const i = Math.max(id.lastIndexOf(":"), id.lastIndexOf("."));
  return i < 0 ? null : id.slice(0, i);
}

function rootOf(id) {
  return id.split(/[:.]/)[0];
}

export class Generator {
  constructor(rng, model) {
    this.rng = rng;
    this.model = model;
    this.corr = 0;
  }

  head() {
    return { corrId: `x${++this.corr}`, version: PROTOCOL_VERSION };
  }

  /** Promise ids known to the model beyond the fixed space (schedule firings). */
  knownIds() {
    return [...this.model.ln.promises.keys()];
  }

  promiseId() {
    const r = this.rng;
    if (r.chance(0.1)) {
      const extra = this.knownIds().filter((id) => !PROMISE_IDS.includes(id));
      if (extra.length) return r.pick(extra);
    }
    return r.pick(PROMISE_IDS);
  }

  /** Ids of tasks in a state, from the model. */
  tasksIn(state) {
    return [...this.model.ln.tasks.values()].filter((t) => state === undefined || t.state === state).map((t) => t.id);
  }

  /** An id, preferring tasks in one of the states. */
  taskId(prefer, p = 0.7) {
    const ids = prefer.flatMap((s) => this.tasksIn(s));
    if (ids.length && this.rng.chance(p)) return this.rng.pick(ids);
    const any = this.tasksIn();
    if (any.length && this.rng.chance(0.5)) return this.rng.pick(any);
    return this.promiseId();
  }

  /** Current version of id's task most of the time, else a stale or future one. */
  version(id) {
    const cur = this.model.task(id)?.version ?? 0;
    if (this.rng.chance(0.75)) return cur;
    return this.rng.pick([0, 1, 2, Math.max(0, cur - 1), cur + 1]);
  }

  timeoutAt(now) {
    return now + this.rng.pick([-5000, -1, 0, 1, 1000, 3000, 10000, 30000, 60000, 300000, 600000, 3600000]);
  }

  value() {
    return structuredClone(this.rng.pick(VALUES));
  }

  /** Well-formed tags for a new promise id: lineage consistent with the id. */
  tags(id, now, timeoutAt, { target = "maybe", delay = true } = {}) {
    const r = this.rng;
    const tags = {};
    const hasTarget = target === "always" || (target === "maybe" && r.chance(0.55));
    if (hasTarget) tags["resonate:target"] = r.pick(TARGETS);
    if (r.chance(0.7)) {
      const parent = parentOf(id);
      tags["resonate:origin"] = rootOf(id);
      tags["resonate:prefix"] = rootOf(id);
      tags["resonate:parent"] = parent ?? id;
      tags["resonate:branch"] = parent && r.chance(0.5) ? parent : id;
      if (r.chance(0.5)) tags["resonate:scope"] = r.pick(["local", "global"]);
    }
    if (r.chance(0.2)) tags["resonate:timer"] = "true";
    else if (r.chance(0.05)) tags["resonate:timer"] = "false";
    if (r.chance(0.3)) tags.x = r.pick(["1", "2"]);
    if (delay && hasTarget && r.chance(0.12)) {
      const d = now + r.pick([-1000, 0, 2000, 10000]);
      if (d >= 0 && d < timeoutAt) tags["resonate:delay"] = String(d);
    }
    return tags;
  }

  createData(id, now, opts) {
    const timeoutAt = this.timeoutAt(now);
    return { id, timeoutAt, param: this.value(), tags: this.tags(id, now, timeoutAt, opts) };
  }

  /** Ids that may be awaited by awaiter (same origin, different id). */
  awaitables(awaiter) {
    const ids = new Set([...PROMISE_IDS, ...this.knownIds()]);
    return [...ids].filter((id) => id !== awaiter && sameOrigin(id, awaiter));
  }

  /**
   * The next request at time now: {kind, corrId, data, negative?, now?}.
   * negative = {status, message} for requests only resonate-c validates
   * (never applied to the reference). now, when present, replaces the
   * current time (debug.tick moves the clock).
   */
  next(now) {
    const r = this.rng;
    for (;;) {
      const kind = r.weighted(WEIGHTS);
      const req = this.make(kind, now);
      if (req) {
        req.corrId ??= this.head().corrId;
        return req;
      }
    }
  }

  make(kind, now) {
    const r = this.rng;
    // Holder operations need an acquired task; when there is none, acquiring
    // a pending one first keeps them from being mostly 404/409.
    if (["task.release", "task.fulfill", "task.suspend", "task.fence"].includes(kind) &&
        !this.tasksIn("acquired").length && this.tasksIn("pending").length && r.chance(0.6)) {
      kind = "task.acquire";
    }
    switch (kind) {
      case "promise.get":
        return { kind, data: { id: this.promiseId() } };
      case "promise.create":
        return { kind, data: this.createData(this.promiseId(), now) };
      case "promise.settle":
        return { kind, data: { id: this.promiseId(), state: r.pick(SETTLE_STATES), value: this.value() } };
      case "promise.register_callback": {
        const withTarget = this.knownIds().filter((id) => this.model.promise(id)?.tags["resonate:target"]);
        const awaiter = withTarget.length && r.chance(0.7) ? r.pick(withTarget) : this.promiseId();
        const cands = this.awaitables(awaiter);
        if (!cands.length) return null;
        return { kind, data: { awaited: r.pick(cands), awaiter } };
      }
      case "promise.register_listener":
        return { kind, data: { awaited: this.promiseId(), address: r.pick(LISTENER_ADDRS) } };
      case "promise.search": {
        const data = {};
        if (r.chance(0.5)) data.state = r.pick(PROMISE_STATES);
        if (r.chance(0.4)) data.tags = r.pick([{}, { "resonate:target": TARGETS[0] }, { x: "1" }, { "resonate:timer": "true" }]);
        if (r.chance(0.5)) data.limit = r.int(1, 4);
        if (r.chance(0.3)) data.cursor = r.pick(PROMISE_IDS);
        return { kind, data };
      }
      case "task.get":
        return { kind, data: { id: this.taskId(TASK_STATES, 0.6) } };
      case "task.create": {
        const id = this.promiseId();
        return {
          kind,
          data: {
            pid: r.pick(PIDS),
            ttl: r.pick(TTLS),
            action: { kind: "promise.create", head: this.head(), data: this.createData(id, now, { target: "always", delay: false }) },
          },
        };
      }
      case "task.acquire": {
        const id = this.taskId(["pending"]);
        return { kind, data: { id, version: this.version(id), pid: r.pick(PIDS), ttl: r.pick(TTLS) } };
      }
      case "task.release": {
        const id = this.taskId(["acquired"]);
        return { kind, data: { id, version: this.version(id) } };
      }
      case "task.fulfill": {
        const id = this.taskId(["acquired"]);
        return {
          kind,
          data: {
            id,
            version: this.version(id),
            action: { kind: "promise.settle", head: this.head(), data: { id, state: r.pick(SETTLE_STATES), value: this.value() } },
          },
        };
      }
      case "task.suspend": {
        const id = this.taskId(["acquired"], 0.85);
        let cands = this.awaitables(id);
        // Mostly await promises that exist and are pending (the 200 path).
        const pending = cands.filter((c) => this.model.promise(c)?.state === "pending");
        if (pending.length && r.chance(0.9)) cands = pending;
        if (!cands.length) return null;
        const n = r.int(1, Math.min(2, cands.length));
        const awaited = [];
        while (awaited.length < n) {
          const c = r.pick(cands);
          if (!awaited.includes(c)) awaited.push(c);
        }
        return {
          kind,
          data: {
            id,
            version: this.version(id),
            actions: awaited.map((a) => ({ kind: "promise.register_callback", head: this.head(), data: { awaited: a, awaiter: id } })),
          },
        };
      }
      case "task.fence": {
        const id = this.taskId(["acquired"], 0.85);
        let inner = this.promiseId();
        if (inner === id) inner = r.pick(PROMISE_IDS.filter((x) => x !== id));
        // The fenced action's head carries the outer corrId and the protocol
        // version: resonate-c answers with those (rs), LN with the action's (T9).
        const head = this.head();
        const action = r.chance(0.55)
          ? { kind: "promise.create", head, data: this.createData(inner, now) }
          : { kind: "promise.settle", head, data: { id: inner, state: r.pick(SETTLE_STATES), value: this.value() } };
        return { kind, corrId: head.corrId, data: { id, version: this.version(id), action } };
      }
      case "task.heartbeat": {
        const pid = r.pick(PIDS);
        let tasks = [];
        if (r.chance(0.5)) {
          const mine = [...this.model.ln.tasks.values()].filter((t) => t.pid === pid).map((t) => t.id);
          const first = mine.length && r.chance(0.8) ? r.pick(mine) : this.promiseId();
          tasks = [{ id: first, version: this.version(first) }];
          const more = this.awaitables(first).filter((x) => this.model.task(x));
          if (more.length && r.chance(0.3)) {
            const second = r.pick(more);
            tasks.push({ id: second, version: this.version(second) });
          }
        }
        return { kind, data: { pid, tasks } };
      }
      case "task.halt":
        return { kind, data: { id: this.taskId(["pending", "acquired", "suspended"], 0.6) } };
      case "task.continue":
        return { kind, data: { id: this.taskId(["halted"], 0.8) } };
      case "task.search": {
        const data = {};
        if (r.chance(0.6)) data.state = r.pick(TASK_STATES);
        if (r.chance(0.5)) data.limit = r.int(1, 4);
        if (r.chance(0.3)) data.cursor = r.pick(PROMISE_IDS);
        return { kind, data };
      }
      case "schedule.get":
      case "schedule.delete": {
        const existing = [...this.model.ln.schedules.keys()];
        return { kind, data: { id: existing.length && r.chance(0.6) ? r.pick(existing) : r.pick(SCHEDULE_IDS) } };
      }
      case "schedule.create": {
        const promiseTags = { "resonate:target": r.pick(TARGETS) };
        if (r.chance(0.3)) promiseTags["resonate:timer"] = "true";
        if (r.chance(0.3)) promiseTags.x = "1";
        const id = r.pick(SCHEDULE_IDS);
        return {
          kind,
          data: {
            id,
            cron: r.pick(CRONS),
            promiseId: r.pick(templatesOf(id)),
            promiseTimeout: r.pick([0, 1000, 30000, 120000]),
            promiseParam: this.value(),
            promiseTags,
          },
        };
      }
      case "schedule.search": {
        const data = {};
        if (r.chance(0.4)) data.tags = r.pick([{}, { "resonate:target": TARGETS[0] }, { x: "1" }]);
        if (r.chance(0.5)) data.limit = r.int(1, 4);
        if (r.chance(0.3)) data.cursor = r.pick(SCHEDULE_IDS);
        return { kind, data };
      }
      case "debug.tick": {
        const t = now + r.pick([0, 500, 2000, 5000, 10000, 31000, 61000]);
        return { kind, data: { time: t }, now: t };
      }
      case "negative":
        return this.negative(now);
    }
    throw new Error(`no generator for ${kind}`);
  }

  /** Inputs resonate-c must reject with 400 and the reference's exact text. */
  negative(now) {
    const r = this.rng;
    const t = now + 10000;
    const cases = [
      () => ({ kind: "promise.create", data: { id: "b", timeoutAt: t, param: {}, tags: { "resonate:origin": "a" } },
        message: "Promise ID must be prefixed by resonate:origin" }),
      () => ({ kind: "promise.create", data: { id: "a:1", timeoutAt: t, param: {}, tags: { "resonate:delay": String(now + 1) } },
        message: "resonate:delay requires a resonate:target tag" }),
      () => ({ kind: "promise.create", data: { id: "a:1", timeoutAt: t, param: {}, tags: { "resonate:target": TARGETS[0], "resonate:delay": String(t) } },
        message: "resonate:delay must be less than timeoutAt" }),
      () => ({ kind: "promise.create", data: { id: "a", timeoutAt: t, param: {}, tags: { "resonate:target": "local://any@g" } },
        message: "Invalid resonate:target address" }),
      () => ({ kind: "promise.create", data: { id: "a", timeoutAt: -1, param: {}, tags: {} },
        message: "TimeoutAt must be a non-negative integer" }),
      () => ({ kind: "promise.settle", data: { id: "a", state: "pending", value: {} },
        message: "Invalid request: unknown variant `pending`, expected one of `resolved`, `rejected`, `rejected_canceled`" }),
      () => ({ kind: "promise.register_listener", data: { awaited: "a", address: "nope" }, message: "Invalid listener address" }),
      () => ({ kind: "promise.register_callback", data: { awaited: "a.1", awaiter: "a:1" },
        message: "Awaiter and awaited must belong to the same origin" }),
      () => ({ kind: "promise.search", data: { limit: 0 }, message: "Limit must be a positive integer" }),
      () => ({ kind: "task.search", data: { limit: 1001 }, message: "Invalid 'limit' \u2014 must be between 1 and 1000" }),
      () => ({ kind: "task.create", data: { pid: "w1", ttl: 1000, action: { kind: "promise.create", head: this.head(),
        data: { id: "b", timeoutAt: t, param: {}, tags: { "resonate:target": TARGETS[0], "resonate:delay": String(now + 1) } } } },
        message: "Action must not have a resonate:delay tag" }),
      () => ({ kind: "task.fence", data: { id: "a", version: 1, action: { kind: "promise.settle", head: this.head(),
        data: { id: "a", state: "resolved", value: {} } } }, message: "Action ID must not equal the task ID" }),
      () => ({ kind: "task.heartbeat", data: { pid: "w1", tasks: [{ id: "a", version: 1 }, { id: "b", version: 1 }] },
        message: "All tasks must belong to the same origin" }),
      () => ({ kind: "schedule.create", data: { id: r.pick(SCHEDULE_IDS), cron: "61 * * * *", promiseId: "{{.id}}", promiseTimeout: 1000,
        promiseParam: {}, promiseTags: { "resonate:target": TARGETS[0] } }, message: "Invalid cron expression" }),
      () => ({ kind: "debug.tick", data: { time: now + 1 }, message: "resonate:debug_time must equal data.time" }),
      () => ({ kind: "promise.frobnicate", data: {}, message: "Unknown operation: promise.frobnicate" }),
    ];
    const c = r.pick(cases)();
    return { kind: c.kind, data: c.data, negative: { status: 400, message: c.message } };
  }
}

export const WEIGHTS = {
  "promise.get": 6,
  "promise.create": 14,
  "promise.settle": 4,
  "promise.register_callback": 5,
  "promise.register_listener": 4,
  "promise.search": 3,
  "task.get": 4,
  "task.create": 5,
  "task.acquire": 9,
  "task.release": 4,
  "task.fulfill": 4,
  "task.suspend": 8,
  "task.fence": 7,
  "task.heartbeat": 3,
  "task.halt": 3,
  "task.continue": 4,
  "task.search": 2,
  "schedule.get": 2,
  "schedule.create": 3,
  "schedule.delete": 2,
  "schedule.search": 2,
  "debug.tick": 5,
  negative: 3,
};
