// shutdown.test.mjs - SIGTERM in the middle of a burst of writes against
// `serve` with a file database: the process exits 0 within the shutdown
// timeout, and every request that was answered 200 before it went away is
// there after a restart (an answer is sent only after its commit).
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import { envelope, sleep, startServer, tempDir } from "./lib.mjs";

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function create(port, id) {
  const body = envelope("promise.create", { id, timeoutAt: Date.now() + 3600_000, param: {}, tags: {} });
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/", agent,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode, text }));
      res.on("error", () => resolve({ status: 0 }));
    });
    req.on("error", () => resolve({ status: 0 }));
    req.end(body);
  });
}

/** Writers loop until the server stops answering; returns the acknowledged ids. */
async function burst(port, writers, stopped) {
  const acked = [];
  let seq = 0;
  let failures = 0;
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    while (!stopped() || failures < writers * 3) {
      const id = `sd-${w}-${seq++}`;
      const r = await create(port, id);
      if (r.status === 200) acked.push(id);
      else if (++failures > writers * 3 && stopped()) break;
      else if (r.status === 0) await sleep(5);
    }
  }));
  return acked;
}

async function shutdownDuringBurst(t, extraArgs) {
  const dir = tempDir(t);
  const dbPath = path.join(dir, "resonate.db");
  const srv = await startServer({ mode: "serve", debug: false, dbPath, args: extraArgs });
  let stopped = false;
  const writing = burst(srv.port, 32, () => stopped);
  await sleep(400);
  const t0 = Date.now();
  srv.child.kill("SIGTERM");
  const exit = await srv.exited;
  const took = Date.now() - t0;
  stopped = true;
  const acked = await writing;
  const result = await srv.stop({ check: false });
  assert.equal(result.sanitizer, null, result.sanitizer ?? "");
  assert.deepEqual(exit, { code: 0, signal: null }, srv.describe());
  assert.ok(acked.length > 50, `only ${acked.length} writes acknowledged before SIGTERM`);

  const again = await startServer({ mode: "serve", debug: false, dbPath });
  t.after(() => again.stop());
  const missing = [];
  for (let i = 0; i < acked.length; i += 64) {
    const rs = await Promise.all(acked.slice(i, i + 64).map((id) => again.rpc("promise.get", { id })));
    rs.forEach((r, j) => r.status !== 200 && missing.push(acked[i + j]));
  }
  assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged writes lost`);
  return { took, stderr: result.stderr };
}

// Requests on keep-alive connections keep arriving between exec_stop and
// http_stop; they must get a 503, not touch freed memory (ASan checks).
test("SIGTERM during a burst: exit 0, no acknowledged write lost", async (t) => {
  const { took, stderr } = await shutdownDuringBurst(t, ["--server-shutdown-timeout", "5000"]);
  assert.ok(took < 5000 + 1000, `took ${took} ms`);
  assert.match(stderr, /Received SIGTERM, initiating graceful shutdown/);
  assert.match(stderr, /Resonate Server stopped/);
  assert.doesNotMatch(stderr, /forcing exit/);
});

test("a shutdown that overruns --server-shutdown-timeout is cut short, still exit 0 and durable", async (t) => {
  // 0 ms: the budget is spent before the drain can finish.
  const { took, stderr } = await shutdownDuringBurst(t, ["--server-shutdown-timeout", "0"]);
  assert.ok(took < 1000, `took ${took} ms`);
  assert.match(stderr, /Shutdown did not finish within server\.shutdown_timeout=0 ms, forcing exit/);
});
