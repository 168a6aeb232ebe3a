// detached.test.mjs - a two-level detached chain sent request by request
// with plain fetch(), exactly as the TypeScript SDK's `.d<hash>` id scheme
// sends it (resonate-sdk-ts main at version 0.11.4: src/context.ts
// detached/remoteCreateReq, src/core.ts, src/util.ts buildEffects,
// src/resonate.ts beginRun), DECISIONS.md #14.
//
// chainTop(3) starts chainMid(3) detached and awaits it; chainMid starts
// chainLeaf(3) detached and awaits it; chainLeaf returns 6, the others add 1,
// so the root resolves to 8. Detached ids are minted off resonate:prefix
// (`nest-root`), one segment past it, so the second-level child
// `nest-root.d10adbebf742c76` names its sibling `nest-root.d0324200e2cd1f0` as
// resonate:parent, which a prefix-only lineage rule refused with 400.
//
// FetchWorker below is a minimal worker: one SSE stream on /poll, one POST
// per request, no retries; it stops at the first answer the SDK would treat
// as a failure (anything but 200, or 300 for task.suspend) and reports it.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { readSse } from "../node/lib/server.mjs";
import { deferred, Scope, within } from "./lib.mjs";

const VERSION = "2026-04-01";
const DAY = 24 * 60 * 60 * 1000;
const ROOT = "nest-root";
// What the SDK's detachedId(prefix, `${spawner}.0`) mints for this chain
// (checked against the installed SDK by the first test below).
const D1 = "nest-root.d0324200e2cd1f0";
const D2 = "nest-root.d10adbebf742c76";
const DETACHED_OF = { [ROOT]: D1, [D1]: D2 };
const CHILD_FUNC = { chainTop: "chainMid", chainMid: "chainLeaf" };

const b64 = (value) => Buffer.from(JSON.stringify(value), "utf8").toString("base64");
const unb64 = (data) => JSON.parse(Buffer.from(data, "base64").toString("utf8"));
const head = (extra = {}) => ({ corrId: randomUUID(), version: VERSION, ...extra });

class FetchWorker {
  constructor(url, { group = "default", pid = "P", ttl = 60000 } = {}) {
    this.url = url;
    this.group = group;
    this.pid = pid;
    this.ttl = ttl;
    this.log = []; // {kind, data, status, inner} per request, in the order answered
    this.failed = deferred(); // rejects at the first failure
    this.failed.promise.catch(() => {});
    this.unblocked = new Map(); // promise id -> deferred of its settled record
    this.abort = new AbortController();
    this.inflight = new Set();
  }

  /** Opens the SSE stream GET /poll/<group>/<pid>; resolves once it answered. */
  async connect() {
    const res = await fetch(`${this.url}/poll/${this.group}/${this.pid}`, { signal: this.abort.signal });
    assert.equal(res.status, 200, "poll stream");
    readSse(res.body, (m) => this.onMessage(m)).catch((e) => {
      if (!this.abort.signal.aborted) this.fail(`poll stream: ${e.message}`);
    });
  }

  close() {
    this.abort.abort();
  }

  fail(why) {
    this.failed.reject(new Error(why));
  }

  /** Resolves once no request is in flight (the log then holds every answer). */
  async idle() {
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  /** POSTs one envelope; logs it; fails the worker on an answer the SDK rejects. */
  send(kind, data, extraHead = {}, ok = [200]) {
    const p = this.post(kind, data, extraHead, ok);
    this.inflight.add(p);
    p.finally(() => this.inflight.delete(p)).catch(() => {});
    return p;
  }

  async post(kind, data, extraHead, ok) {
    const res = await fetch(this.url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ kind, head: head(extraHead), data }),
      signal: this.abort.signal,
    });
    const body = JSON.parse(await res.text());
    const inner = data.action && body.data?.action ? body.data.action.head.status : undefined;
    this.log.push({ kind, data, status: res.status, inner });
    if (!ok.includes(res.status) || (inner !== undefined && inner !== 200)) {
      const text = typeof body.data === "string" ? body.data : JSON.stringify(body.data);
      this.fail(`${kind} ${JSON.stringify(data.action?.data?.id ?? data.id)}: ${res.status} ${text}`);
      throw new Error(`${kind}: ${res.status}`);
    }
    return body.data;
  }

  /** resonate.beginRun(id, "chainTop", x): task.create, run, listen for the result. */
  async run(id, func, x) {
    const created = await this.send("task.create", {
      pid: this.pid,
      ttl: this.ttl,
      action: {
        kind: "promise.create",
        head: head(),
        data: {
          id,
          timeoutAt: Date.now() + DAY,
          param: { headers: {}, data: b64({ func, args: [x], version: 1 }) },
          tags: {
            "resonate:origin": id,
            "resonate:prefix": id,
            "resonate:branch": id,
            "resonate:parent": id,
            "resonate:scope": "global",
            "resonate:target": `poll://any@${this.group}/${this.pid}`,
          },
        },
      },
    });
    const done = this.listen(id);
    if (created.task?.state === "acquired") this.execute(created.task, created.promise, []).catch(() => {});
    return done;
  }

  /** promise.register_listener, then the unblock message (or the settled record). */
  async listen(id) {
    const d = deferred();
    this.unblocked.set(id, d);
    const { promise } = await this.send("promise.register_listener", {
      awaited: id,
      address: `poll://uni@${this.group}/${this.pid}`,
    });
    if (promise.state !== "pending") d.resolve(promise);
    return Promise.race([d.promise, this.failed.promise]);
  }

  onMessage(msg) {
    if (msg.kind === "unblock") {
      this.unblocked.get(msg.data.promise.id)?.resolve(msg.data.promise);
    } else if (msg.kind === "execute") {
      this.acquire(msg.data.task).catch(() => {});
    }
  }

  async acquire({ id, version }) {
    const res = await this.send(
      "task.acquire",
      { id, version, pid: this.pid, ttl: this.ttl },
      { "resonate:origin": id },
    );
    await this.execute(res.task, res.promise, res.preload);
  }

  /** Runs the function of root until it is done or blocked on a child. */
  async execute(task, root, preload) {
    const origin = root.tags["resonate:origin"];
    const fence = { id: task.id, version: task.version };
    const cache = new Map(preload.map((p) => [p.id, p]));
    const { func, args } = unb64(root.param.data);
    try {
      let value;
      if (func === "chainLeaf") {
        value = args[0] * 2;
      } else {
        const child = await this.detached(fence, cache, root, CHILD_FUNC[func], args[0]);
        if (child.state === "pending") {
          const suspended = await this.send(
            "task.suspend",
            {
              id: task.id,
              version: task.version,
              actions: [{
                kind: "promise.register_callback",
                head: head(),
                data: { awaiter: root.id, awaited: child.id },
              }],
            },
            { "resonate:origin": origin },
            [200, 300],
          );
          if (suspended.preload) return this.execute(task, root, suspended.preload); // 300
          return;
        }
        assert.equal(child.state, "resolved", `${child.id} ${child.state}`);
        value = unb64(child.value.data) + 1;
      }
      await this.send(
        "task.fulfill",
        {
          id: task.id,
          version: task.version,
          action: {
            kind: "promise.settle",
            head: head({ "resonate:origin": origin }),
            data: { id: root.id, state: "resolved", value: { headers: {}, data: b64(value) } },
          },
        },
        { "resonate:origin": origin },
      );
    } catch (e) {
      this.fail(`${task.id}: ${e.message}`);
      // The SDK releases the task when an execution fails.
      await this.send("task.release", { id: task.id, version: task.version }, { "resonate:origin": origin })
        .catch(() => {});
      throw e;
    }
  }

  /** ctx.detached(func, x): a fenced create of `${prefix}.d<hash>`, origin = its own id. */
  async detached(fence, cache, root, func, x) {
    const id = DETACHED_OF[root.id];
    if (cache.has(id)) return cache.get(id);
    const res = await this.send("task.fence", {
      ...fence,
      action: {
        kind: "promise.create",
        head: head(),
        data: {
          id,
          timeoutAt: Math.min(Date.now() + DAY, Number.MAX_SAFE_INTEGER),
          tags: {
            "resonate:scope": "global",
            "resonate:target": `poll://any@${this.group}`,
            "resonate:branch": id,
            "resonate:parent": root.id,
            "resonate:origin": id,
            "resonate:prefix": root.tags["resonate:prefix"] ?? root.id,
          },
          param: { headers: {}, data: b64({ func, args: [x], version: 1 }) },
        },
      },
    });
    for (const p of res.preload ?? []) cache.set(p.id, p);
    const child = res.action.data.promise;
    cache.set(child.id, child);
    return child;
  }
}

test("the chain's ids are the ones the SDK's .d<hash> scheme mints", async () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const util = await import(`file://${path.resolve(here, "../node/node_modules/sdk-0.11.4/dist/src/util.js")}`);
  assert.equal(util.detachedId(ROOT, `${ROOT}.0`), D1);
  assert.equal(util.detachedId(ROOT, `${D1}.0`), D2);
});

test("a detached child of a detached child, sent as the SDK sends it, completes the chain",
  { timeout: 60000 }, async (t) => {
    const scope = new Scope(t, "fetch");
    const srv = await scope.server();
    const w = new FetchWorker(srv.url);
    try {
      await w.connect();
      await chainCompletes(srv, w);
    } finally {
      w.close();
    }
  });

async function chainCompletes(srv, w) {
  const root = await within(20000, w.run(ROOT, "chainTop", 3), "chain");
  assert.equal(root.state, "resolved");
  assert.equal(unb64(root.value.data), 8);
  await within(5000, w.idle(), "requests in flight");

  // The create of the issue: parent is the sibling, origin and branch the id
  // itself, prefix the root; answered 200 (inner 200).
  const second = w.log.find((r) => r.kind === "task.fence" && r.data.action.data.id === D2);
  assert.ok(second, "D1 never created D2");
  assert.deepEqual([second.data.id, second.status, second.inner], [D1, 200, 200]);
  assert.deepEqual(second.data.action.data.tags, {
    "resonate:scope": "global",
    "resonate:target": "poll://any@default",
    "resonate:branch": D2,
    "resonate:parent": D1,
    "resonate:origin": D2,
    "resonate:prefix": ROOT,
  });
  // Root and D1 each suspend on their child and are fulfilled once, last; the
  // leaf is acquired and fulfilled. (A suspend answered 300 replays at once,
  // without a second acquire, as the SDK does.)
  const kinds = (id) => w.log
    .filter((r) => r.data.id === id || (r.kind === "task.create" && r.data.action.data.id === id))
    .map((r) => r.kind);
  for (const id of [ROOT, D1]) {
    const k = kinds(id);
    assert.equal(k.filter((x) => x === "task.fulfill").length, 1, `${id}: ${k}`);
    assert.ok(k.includes("task.suspend"), `${id} never suspended: ${k}`);
    assert.equal(k.at(-1), "task.fulfill", `${id}: ${k}`);
  }
  assert.deepEqual(kinds(D2), ["task.acquire", "task.fulfill"]);
  for (const [id, value] of [[D1, 7], [D2, 6]]) {
    const p = (await srv.rpc("promise.get", { id })).body.data.promise;
    assert.equal(p.state, "resolved", id);
    assert.equal(unb64(p.value.data), value, id);
  }
  srv.assertHealthy();
}
