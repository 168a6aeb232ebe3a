// reads.test.mjs - reads off the store thread (issue 11, server/reads.h).
//
// promise.get, task.get, schedule.get and the searches are answered on HTTP
// threads from read-only SQLite connections. What must hold:
// - a read never misses a write acknowledged before it was sent, even when
//   the write went through another connection and many clients race;
// - a promise.get or task.get past the promise's timeout answers what the
//   store thread's lazy timeout answers (it is handed to the store thread),
//   also with the debug clock (head resonate:debug_time);
// - shutdown with readers open still checkpoints and removes the -wal.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";

import { PROTOCOL_VERSION, startServer } from "../node/lib/server.mjs";

const CLIENTS = Number(process.env.READS_CLIENTS ?? 8);
const ITERATIONS = Number(process.env.READS_ITERATIONS ?? 300);

let corr = 0;

/** POSTs one envelope on agent (its own keep-alive connection); {status, data}. */
function rpc(port, agent, kind, data, head = {}) {
  const body = JSON.stringify({
    kind,
    head: { corrId: `r${++corr}`, version: PROTOCOL_VERSION, ...head },
    data,
  });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        timeout: 15000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => {
          try {
            const env = JSON.parse(text);
            resolve({ status: env.head.status, data: env.data });
          } catch (e) {
            reject(new Error(`bad answer ${res.statusCode}: ${text}: ${e.message}`));
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${kind} timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

const agentOf = () => new http.Agent({ keepAlive: true, maxSockets: 1 });

test("a read through another connection sees every acknowledged write: 8 clients x 300 create/settle/search, never stale", { timeout: 300_000 }, async (t) => {
  const srv = await startServer({ mode: "serve", debug: false });
  t.after(() => srv.stop());
  const deadline = Date.now() + 240_000;
  const stale = [];
  async function client(n) {
    const writer = agentOf();
    const reader = agentOf();
    try {
      for (let i = 0; i < ITERATIONS && Date.now() < deadline && stale.length === 0; i++) {
        const id = `reads-${n}-${i}`;
        const tag = `t-${n}-${i}`;
        const c = await rpc(srv.port, writer, "promise.create", {
          id, timeoutAt: Date.now() + 600_000, param: {}, tags: { k: tag },
        });
        assert.equal(c.status, 200, JSON.stringify(c));
        const g = await rpc(srv.port, reader, "promise.get", { id });
        if (g.status !== 200 || g.data.promise.state !== "pending") stale.push({ after: "create", id, g });
        const q = await rpc(srv.port, reader, "promise.search", { tags: { k: tag }, limit: 10 });
        if (q.status !== 200 || q.data.promises.length !== 1 || q.data.promises[0].id !== id)
          stale.push({ after: "create", search: tag, q });
        const s = await rpc(srv.port, writer, "promise.settle", {
          id, state: "resolved", value: {},
        });
        assert.equal(s.status, 200, JSON.stringify(s));
        const g2 = await rpc(srv.port, reader, "promise.get", { id });
        if (g2.status !== 200 || g2.data.promise.state !== "resolved") stale.push({ after: "settle", id, g2 });
        const q2 = await rpc(srv.port, reader, "promise.search", { state: "resolved", tags: { k: tag }, limit: 10 });
        if (q2.status !== 200 || q2.data.promises.length !== 1) stale.push({ after: "settle", search: tag, q2 });
      }
    } finally {
      writer.destroy();
      reader.destroy();
    }
  }
  await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
  assert.deepEqual(stale.slice(0, 3), [], `${stale.length} stale reads`);
  srv.assertHealthy();
});

test("promise.get and task.get past the timeout answer the store thread's lazy timeout, with the debug clock", async (t) => {
  const srv = await startServer({ mode: "serve", debug: true });
  t.after(() => srv.stop());
  const a = agentOf();
  t.after(() => a.destroy());
  const at = (now) => ({ "resonate:debug_time": now });
  const T0 = 1_000_000;
  let r = await rpc(srv.port, a, "debug.start", {}, at(T0));
  assert.equal(r.status, 200);
  r = await rpc(srv.port, a, "promise.create", { id: "p", timeoutAt: T0 + 100, param: {}, tags: {} }, at(T0));
  assert.equal(r.status, 200);
  r = await rpc(srv.port, a, "promise.create", {
    id: "timer", timeoutAt: T0 + 100, param: {}, tags: { "resonate:timer": "true" },
  }, at(T0));
  assert.equal(r.status, 200);
  r = await rpc(srv.port, a, "promise.create", {
    id: "task", timeoutAt: T0 + 100, param: {}, tags: { "resonate:target": "poll://any@g" },
  }, at(T0));
  assert.equal(r.status, 200);

  // Before the deadline: pending, from a reader.
  r = await rpc(srv.port, a, "promise.get", { id: "p" }, at(T0 + 99));
  assert.equal(r.data.promise.state, "pending");
  // A search does no lazy timeout (as before): still pending in the store.
  r = await rpc(srv.port, a, "promise.search", { state: "pending", limit: 10 }, at(T0 + 200));
  assert.deepEqual(r.data.promises.map((p) => p.id).sort(), ["p", "task", "timer"]);

  r = await rpc(srv.port, a, "promise.get", { id: "p" }, at(T0 + 200));
  assert.equal(r.status, 200);
  assert.equal(r.data.promise.state, "rejected_timedout");
  assert.equal(r.data.promise.settledAt, T0 + 100);
  r = await rpc(srv.port, a, "promise.get", { id: "timer" }, at(T0 + 200));
  assert.equal(r.data.promise.state, "resolved");
  assert.equal(r.data.promise.settledAt, T0 + 100);
  r = await rpc(srv.port, a, "task.get", { id: "task" }, at(T0 + 200));
  assert.equal(r.status, 200);
  assert.equal(r.data.task.state, "fulfilled");

  // The timeouts were stored with their effects (the store thread ran them).
  r = await rpc(srv.port, a, "debug.snap", {}, at(T0 + 200));
  const states = Object.fromEntries(r.data.promises.map((p) => [p.id, p.state]));
  assert.deepEqual(states, { p: "rejected_timedout", task: "rejected_timedout", timer: "resolved" });
  r = await rpc(srv.port, a, "promise.search", { state: "pending", limit: 10 }, at(T0 + 200));
  assert.deepEqual(r.data.promises, []);
});

test("shutdown with read connections open checkpoints the database and removes its -wal", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-reads-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const dbPath = path.join(dir, "resonate.db");
  const srv = await startServer({ mode: "serve", debug: false, dbPath });
  const agents = [agentOf(), agentOf(), agentOf()];
  t.after(() => agents.forEach((a) => a.destroy()));
  const r = await rpc(srv.port, agents[0], "promise.create", { id: "w", timeoutAt: Date.now() + 600_000, param: {}, tags: {} });
  assert.equal(r.status, 200);
  // Reads at once on several connections: several readers open.
  const gets = await Promise.all(agents.map((a) => rpc(srv.port, a, "promise.get", { id: "w" })));
  assert.deepEqual(gets.map((g) => g.status), [200, 200, 200]);
  assert.ok(existsSync(`${dbPath}-wal`));
  const out = await srv.stop();
  assert.equal(out.code, 0);
  assert.ok(existsSync(dbPath), path.basename(dbPath));
  assert.ok(!existsSync(`${dbPath}-wal`), "the -wal is removed at shutdown");
});
