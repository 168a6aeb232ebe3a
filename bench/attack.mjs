// attack.mjs - replays issue 9's amplification attacks against a fresh
// `resonate serve` with auth, as a tenant holding a valid token for prefix
// "orders:", and measures what another tenant ("billing:") sees meanwhile.
//
//   A. slow streams + large settles: streams that never read, and ~1.9 MB
//      promises settled with listeners on those streams;
//   B. preload amplification: children of ~1.9 MB in one branch, then
//      concurrent task.fence calls, each answered with the branch's preload;
//   C. poll slots: one token opens as many streams as it can; can billing
//      still open one?
//
// Printed per phase: the server's peak RSS (VmHWM is per process, so the
// peak of VmRSS sampled every 50 ms), the p50/p99 of billing's promise.get
// sent every 20 ms throughout, and phase-specific figures. Billing connects
// from 127.0.0.2 and the attacker from 127.0.0.1, as two tenants on two
// machines would (the per-IP connection limit is one of the defences).
// Targets (issue 9): RSS <= 256 MiB, billing p99 <= 50 ms, billing can open
// a stream.
//
// By hand only (bench/attack.sh raises the open-file limit first); talks to
// 127.0.0.1 only; every loop is bounded in count and time.
//
//   node bench/attack.mjs [--bin PATH] [--phases ABC] [--big N] [--children N] [--fences N]
//                         [--streams N] [--threads N]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../tests/node/lib/server.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.resolve(HERE, "../tests/node/package.json"));
const jose = require("jose");

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const BIN = arg("bin", process.env.RESONATE_BIN || path.resolve(HERE, "../resonate"));
const BIG = Number(arg("big", 40)); // phase A: large settles
const CHILDREN = Number(arg("children", 150)); // phase B: children in the branch
const FENCES = Number(arg("fences", 4)); // phase B: concurrent fences
const STREAMS = Number(arg("streams", 1000)); // phase C: streams one token tries to open
const PHASES = arg("phases", "ABC"); // which phases to run
const THREADS = arg("threads", null); // --server-threads of the server (default: its own)
const PAYLOAD = Buffer.alloc(1_400_000, "x").toString("base64"); // ~1.87 MB of base64
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const FAR = Date.now() + 3600_000;

// ---- keys, tokens, server ----
const { publicKey, privateKey } = await jose.generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-attack-"));
const pem = path.join(dir, "public.pem");
writeFileSync(pem, await jose.exportSPKI(publicKey));
const token = (prefix) =>
  new jose.SignJWT({ prefix, sub: prefix }).setProtectedHeader({ alg: "EdDSA" }).setExpirationTime("2h").sign(privateKey);
const ORDERS = await token("orders:");
const BILLING = await token("billing:");

const server = await startServer({
  mode: "serve", debug: false, bin: BIN,
  args: ["--auth-publickey", pem, "--storage-sqlite-path", path.join(dir, "r.db"), "--level", "warn",
    ...(THREADS ? ["--server-threads", THREADS] : [])],
  env: { ASAN_OPTIONS: "detect_leaks=0" },
});
const pid = server.child.pid;
const rpc = (tok, kind, data, opts) => server.rpc(kind, data, { auth: tok }, opts);

// ---- meters ----
function rssMiB() {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}
// Billing's client runs on a worker thread of its own, with its own address
// and one keep-alive connection, so the attacker's JSON work on this
// thread's event loop never delays (or is counted in) billing's requests.
const PROBE = `
const { workerData, parentPort } = require("node:worker_threads");
const http = require("node:http");
const { port, token, stop } = workerData;
const flag = new Int32Array(stop);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: "127.0.0.2" });
const body = JSON.stringify({ kind: "promise.get", head: { corrId: "b", version: "2026-04-01", auth: token },
  data: { id: "billing:probe" } });
const get = () => new Promise((resolve) => {
  const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/", agent, timeout: 60000,
    headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
    (res) => { res.resume(); res.on("end", resolve); });
  req.on("error", resolve);
  req.on("timeout", () => req.destroy());
  req.end(body);
});
(async () => {
  const lat = [];
  while (Atomics.load(flag, 0) === 0) {
    const t0 = performance.now();
    await get();
    lat.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  parentPort.postMessage(lat);
  agent.destroy();
})();
`;
function meter() {
  let peak = rssMiB();
  const rss = setInterval(() => { peak = Math.max(peak, rssMiB()); }, 50);
  const stop = new SharedArrayBuffer(4);
  const w = new Worker(PROBE, { eval: true, workerData: { port: server.port, token: BILLING, stop } });
  const result = new Promise((resolve) => w.once("message", resolve));
  const t0 = performance.now();
  return {
    async end() {
      // A phase the server ends quickly still gets a window of 1 s of probes.
      await sleep(Math.max(0, 1000 - (performance.now() - t0)));
      Atomics.store(new Int32Array(stop), 0, 1);
      const lat = await result;
      await w.terminate();
      clearInterval(rss);
      lat.sort((a, b) => a - b);
      const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
      return { peakRss: peak, p50: q(0.5), p99: q(0.99), samples: lat.length };
    },
  };
}
const fmt = (m) =>
  `peak RSS ${m.peakRss.toFixed(0)} MiB, billing promise.get p50 ${m.p50.toFixed(1)} ms p99 ${m.p99.toFixed(1)} ms (${m.samples} samples)`;

/** A raw SSE stream; read=false never reads (the kernel buffers fill up). */
function openStream(tok, group, id, read, localAddress = "127.0.0.1") {
  return new Promise((resolve) => {
    const s = net.connect({ port: server.port, host: "127.0.0.1", localAddress });
    let head = "";
    let settled = false;
    const done = (status) => { if (!settled) { settled = true; resolve({ s, status }); } };
    s.on("error", () => done(0));
    s.on("close", () => done(0));
    s.on("data", (b) => {
      if (!settled) {
        head += b.toString("latin1");
        const m = /^HTTP\/1\.1 (\d+)/.exec(head);
        if (m) {
          done(Number(m[1]));
          if (!read) s.pause();
        }
      }
    });
    s.write(`GET /poll/${group}/${id}?token=${tok} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    setTimeout(() => done(0), 5000);
  });
}

await rpc(BILLING, "promise.create", { id: "billing:probe", timeoutAt: FAR, param: {}, tags: {} });
console.log(`server: ${BIN} (pid ${pid}), start RSS ${rssMiB().toFixed(0)} MiB`);

// ---- A: slow streams + large settles ----
if (PHASES.includes("A")) {
  const m = meter();
  const streams = [];
  for (let i = 0; i < 4; i++) streams.push(await openStream(ORDERS, "og", `s${i}`, false));
  let ok = 0;
  for (let i = 0; i < BIG; i++) {
    const id = `orders:big-${i}`;
    await rpc(ORDERS, "promise.create", { id, timeoutAt: FAR, param: { data: PAYLOAD }, tags: {} });
    await rpc(ORDERS, "promise.register_listener", { awaited: id, address: `poll://uni@og/s${i % 4}` });
    const r = await rpc(ORDERS, "promise.settle", { id, state: "resolved", value: { data: PAYLOAD } });
    if (r.status === 200) ok++;
  }
  await sleep(2000);
  const res = await m.end();
  console.log(`A slow streams: 4 never-reading streams, ${ok}/${BIG} settles of ~3.7 MB records: ${fmt(res)}`);
  for (const { s } of streams) s.destroy();
}

// ---- B: preload amplification ----
if (PHASES.includes("B")) {
  const r = await rpc(ORDERS, "task.create", {
    pid: "attacker", ttl: 3600000,
    action: { kind: "promise.create", head: {}, data: {
      id: "orders:root", timeoutAt: FAR, param: {},
      tags: { "resonate:target": "poll://any@og", "resonate:branch": "orders:root", "resonate:origin": "orders:root" } } },
  });
  const version = r.body?.data?.task?.version ?? 1;
  const fence = (id, param) => rpc(ORDERS, "task.fence", {
    id: "orders:root", version,
    action: { kind: "promise.create", head: {}, data: {
      id, timeoutAt: FAR, param, tags: { "resonate:branch": "orders:root", "resonate:parent": "orders:root", "resonate:origin": "orders:root" } } },
  }, { timeoutMs: 120000 });
  if (r.status !== 200) throw new Error(`task.create: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  const made = {};
  // Children are plain creates in the root's branch (a fence would answer
  // each with the growing preload: quadratic on an unbounded server).
  for (let i = 0; i < CHILDREN; i++) {
    const a = await rpc(ORDERS, "promise.create", {
      id: `orders:root.${i}`, timeoutAt: FAR, param: { data: PAYLOAD },
      tags: { "resonate:branch": "orders:root", "resonate:parent": "orders:root", "resonate:origin": "orders:root" },
    }, { timeoutMs: 120000 });
    made[a.status] = (made[a.status] ?? 0) + 1;
  }
  console.log(`B: children created, by status: ${JSON.stringify(made)}`);
  const m = meter();
  const t0 = performance.now();
  const answers = await Promise.all(
    Array.from({ length: FENCES }, (_, k) => fence(`orders:root.x${k}`, {}).catch((e) => ({ status: 0, body: String(e) }))),
  );
  const took = performance.now() - t0;
  const res = await m.end();
  const sizes = answers.map((a) => JSON.stringify(a.body).length);
  const counts = answers.map((a) => a.body?.data?.preload?.length ?? "-");
  console.log(`B preload: ${CHILDREN} children of ~1.9 MB, ${FENCES} concurrent fences in ${took.toFixed(0)} ms; ` +
    `statuses ${answers.map((a) => a.status).join(",")}, answer bytes ${sizes.join(",")}, preload counts ${counts.join(",")}: ${fmt(res)}`);
}

// ---- C: poll slots ----
if (PHASES.includes("C")) {
  const m = meter();
  const mine = [];
  let opened = 0;
  for (let i = 0; i < STREAMS; i++) {
    const st = await openStream(ORDERS, "og2", `x${i}`, true);
    mine.push(st);
    if (st.status === 200) opened++;
  }
  const other = await openStream(BILLING, "bg", "b0", true, "127.0.0.2");
  const res = await m.end();
  console.log(`C poll slots: orders opened ${opened}/${STREAMS} streams; billing's stream answered ${other.status}: ${fmt(res)}`);
  for (const { s } of mine) s.destroy();
  other.s.destroy();
}

await server.stop({ check: false });
rmSync(dir, { recursive: true, force: true });
