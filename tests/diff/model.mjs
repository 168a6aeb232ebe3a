// model.mjs - the reference side of the differential test.
//
// Wraps the in-memory `Server` of @resonatehq/sdk@0.11.5 (LN) and adjusts it
// where resonate-c deliberately follows the Rust server or DECISIONS.md
// instead of LN. Every adjustment names its entry in TOLERATED.md (T-numbers);
// anything not adjusted here or in compare.mjs must match exactly.
import { createRequire } from "node:module";

import { Server } from "../node/node_modules/sdk-0.11.5/dist/src/network/local.js";

// The cron-parser that LN itself uses (a dependency of the SDK package).
const { CronExpressionParser } = createRequire(
  new URL("../node/node_modules/sdk-0.11.5/dist/src/network/local.js", import.meta.url),
)("cron-parser");

// LN evaluates cron in the process's time zone; resonate-c in UTC (T6).
process.env.TZ = "UTC";

export const RETRY_TIMEOUT = 30000; // LN's fixed value = resonate-c's default

export class Model {
  constructor() {
    this.ln = new Server();
    // Task ids whose first dispatch LN deferred for resonate:delay (T7).
    this.deferred = new Set();
    // How often each adjustment changed LN's behaviour, for the run summary.
    this.tolerated = {};
    patch(this);
  }

  note(name) {
    this.tolerated[name] = (this.tolerated[name] ?? 0) + 1;
  }

  /** Applies req at time now; returns LN's {kind, head:{status}, data}. */
  apply(now, req) {
    return this.ln.apply(now, req).response;
  }

  promise(id) {
    return this.ln.promises.get(id);
  }

  task(id) {
    return this.ln.tasks.get(id);
  }

  schedule(id) {
    return this.ln.schedules.get(id);
  }

  /** Wire record of a promise as stored (no lazy timeout). */
  promiseRecord(p) {
    return this.ln.toPromiseRecord(p);
  }

  taskRecord(t) {
    return this.ln.toTaskRecord(t);
  }

  /** Promises sharing the branch of id, as resonate-c's preload (T9). */
  preload(id) {
    return this.ln.preload(id);
  }

  // ---- searches (T12): LN answers 501; the answer is computed from its state

  promiseSearch(q) {
    const all = [...this.ln.promises.values()]
      .filter((p) => q.state === undefined || p.state === q.state)
      .filter((p) => Object.entries(q.tags ?? {}).every(([k, v]) => p.tags[k] === v))
      .map((p) => this.promiseRecord(p));
    return page(all, q, 100, "promises");
  }

  taskSearch(q) {
    const all = [...this.ln.tasks.values()]
      .filter((t) => q.state === undefined || t.state === q.state)
      .map((t) => this.taskRecord(t));
    return page(all, q, 100, "tasks");
  }

  scheduleSearch(q) {
    const all = [...this.ln.schedules.values()]
      .filter((s) => Object.entries(q.tags ?? {}).every(([k, v]) => s.promiseTags[k] === v))
      .map((s) => this.ln.toScheduleRecord(s));
    return page(all, q, 10, "schedules");
  }

  snap() {
    return this.ln.apply(0, { kind: "debug.snap", head: {}, data: {} }).response.data;
  }
}

function page(records, q, defaultLimit, key) {
  const limit = q.limit ?? defaultLimit;
  const sorted = records
    .filter((r) => q.cursor === undefined || byteCmp(r.id, q.cursor) > 0)
    .sort((a, b) => byteCmp(a.id, b.id));
  const out = { [key]: sorted.slice(0, limit) };
  if (sorted.length > limit) out.cursor = out[key][out[key].length - 1].id;
  return out;
}

/** Byte-order comparison of two strings (UTF-8), as SQLite's BINARY collation. */
export function byteCmp(a, b) {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function patch(model) {
  const ln = model.ln;

  // T1 (DECISIONS.md #1): every pending promise has a timer, not only those
  // with a resonate:target. T7: remember tasks whose dispatch LN deferred.
  const origCreate = ln.promiseCreate.bind(ln);
  ln.promiseCreate = (now, req) => {
    const id = req.data.id;
    const existed = ln.promises.has(id);
    const r = origCreate(now, req);
    const p = ln.promises.get(id);
    if (!existed && p && p.state === "pending") {
      if (!ln.pTimeouts.some((e) => e.id === id)) {
        model.note("T1 timer for a promise without target");
        r.changes.push(ln.setPTimeout({ id, timeout: p.timeoutAt }));
      }
      const delay = Number(p.tags["resonate:delay"]);
      if (p.tags["resonate:target"] && Number.isFinite(delay) && now < delay) {
        model.note("T7 deferred dispatch");
        model.deferred.add(id);
      }
    }
    return r;
  };

  // T2 (rs, protocol-tasks §5.3): register_callback on an already-settled
  // awaited resumes a suspended awaiter and records a ready callback for a
  // pending/acquired awaiter. LN does nothing besides the answer.
  const origCallback = ln.promiseRegisterCallback.bind(ln);
  ln.promiseRegisterCallback = (now, req) => {
    const r = origCallback(now, req);
    if (r.response.head.status !== 200) return r;
    const awaited = ln.promises.get(req.data.awaited);
    if (awaited.state === "pending") return r;
    const awaiterId = req.data.awaiter;
    let task = ln.tasks.get(awaiterId);
    if (!task) return r;
    model.note("T2 register_callback on a settled awaited");
    if (task.state === "suspended") {
      task = { ...task, state: "pending", resumes: new Set() };
      r.changes.push(ln.setTask(task));
      r.changes.push(ln.setTTimeout({ id: awaiterId, type: 0, timeout: now + RETRY_TIMEOUT }));
      const address = ln.promises.get(awaiterId).tags["resonate:target"];
      r.changes.push(ln.sendMessage(address, {
        kind: "execute",
        head: {},
        data: { task: { id: awaiterId, version: task.version } },
      }));
    }
    if (task.state === "pending" || task.state === "acquired") {
      task.resumes.add(req.data.awaited);
      r.changes.push(ln.setTask(task));
    }
    return r;
  };

  // T4 (rs): register_listener works on any promise. LN 0.11.5 answers 422
  // "Awaited promise is not awaitable" for promises without a scope/target/
  // timer tag.
  ln.promiseRegisterListener = (now, req) => {
    const p = ln.promises.get(req.data.awaited);
    if (!p) return { response: ln.response(req.kind, 404, "Promise not found"), changes: [] };
    const t = p.tags;
    if (!(t["resonate:scope"] === "global" || t["resonate:external"] === "true" ||
          t["resonate:target"] !== undefined || t["resonate:timer"] === "true")) {
      model.note("T4 listener on a promise LN calls not awaitable");
    }
    const projected = ln.projectedPromise(now, p);
    const changes = [];
    if (projected.state === "pending") {
      p.listeners.add(req.data.address);
      changes.push(ln.setPromise(p));
    }
    return {
      response: ln.response(req.kind, 200, { promise: ln.toPromiseRecord(projected) }),
      changes,
    };
  };

  // T3 (DECISIONS.md #2, rs §4.8): a heartbeat renews the leases it names
  // (or, with an empty list, every lease of the pid) to now + the ttl given
  // at acquisition; the promise's deadline is not consulted.
  ln.taskHeartbeat = (now, req) => {
    const changes = [];
    if (!req.data.tasks.length) model.note("T3 heartbeat with an empty list");
    const refs = req.data.tasks.length
      ? req.data.tasks
      : [...ln.tasks.values()]
          .filter((t) => t.state === "acquired" && t.pid === req.data.pid)
          .map((t) => ({ id: t.id, version: t.version }));
    for (const ref of refs) {
      const t = ln.tasks.get(ref.id);
      if (!t || t.state !== "acquired" || t.version !== ref.version || t.pid !== req.data.pid) continue;
      changes.push(ln.setTTimeout({ id: ref.id, type: 1, timeout: now + t.ttl }));
    }
    return { response: ln.response("task.heartbeat", 200, {}), changes };
  };

  // T5 (rs, D14): a schedule firing at F adds resonate:schedule and
  // origin/branch/parent/prefix = the promise id, and the promise gets
  // createdAt = F. LN adds only resonate:schedule and uses its create path's
  // createdAt. Promise and task timers run first, as in LN.
  const origTick = ln.debugTick.bind(ln);
  ln.debugTick = (req) => {
    const saved = ln.sTimeouts;
    ln.sTimeouts = [];
    let r;
    try {
      r = origTick(req);
    } finally {
      ln.sTimeouts = saved;
    }
    const now = req.data.time;
    for (const st of [...ln.sTimeouts]) {
      if (now < st.timeout) continue;
      const s = ln.schedules.get(st.id);
      const f = st.timeout;
      const pid = s.promiseId.replaceAll("{{.id}}", s.id).replaceAll("{{.timestamp}}", String(f));
      model.note("T5 schedule firing");
      if (!ln.promises.has(pid)) {
        const tags = {
          ...s.promiseTags,
          "resonate:schedule": s.id,
          "resonate:origin": pid,
          "resonate:branch": pid,
          "resonate:parent": pid,
          "resonate:prefix": pid,
        };
        const c = ln.promiseCreate(now, {
          kind: "promise.create",
          head: {},
          data: { id: pid, timeoutAt: f + s.promiseTimeout, param: s.promiseParam, tags },
        });
        r.changes.push(...c.changes);
        ln.promises.get(pid).createdAt = f;
      }
      const next = CronExpressionParser.parse(s.cron, { currentDate: new Date(f) }).next().getTime();
      s.lastRunAt = f;
      r.changes.push(ln.setSTimeout({ id: s.id, timeout: next }));
      r.changes.push(ln.setSchedule(s));
    }
    return r;
  };
}
