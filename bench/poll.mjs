// bench/poll.mjs - cost of idle SSE pollers and settle-to-frame latency.
//
//   bench/poll.sh [--conns N] [--samples N] [--rate R] [--bin PATH]
//
// (bench/poll.sh raises the open-file limit and runs this script.)
// Starts `resonate dev --transports-http-poll-max-connections N+1000` on a
// free 127.0.0.1 port (binary: --bin, else $RESONATE_BIN, else
// build/rel/resonate, else ./resonate), then:
//
// 1. Memory: opens N (default 10000) idle streams GET /poll/idle-<k>/w<i>
//    with raw sockets and reads the server's VmRSS (and RssAnon) from
//    /proc/<pid>/status before and after, once the count on /metrics says
//    they are all registered. Prints bytes per idle poller (goal <= 16 KiB).
//    Kernel socket buffers are not in RSS and not counted.
// 2. Latency, with the N idle streams still open: four listener streams
//    (poll://uni@lat/w0..w3); for each sample a promise is created, a
//    listener registered on one of the four, then the promise is settled;
//    the time from the settle's HTTP response to the arrival of its unblock
//    frame is recorded (negative when the frame overtook the response;
//    counted as 0 in the percentiles). Two runs: one settle at a time, and
//    open loop at --rate settles per second (default 200; settle i is sent
//    at t0 + i/rate whatever happened before). Prints p50/p90/p99/max
//    (goal p99 <= 5 ms), and also the time from sending the settle.
//
// Everything is bounded (a global deadline kills the run) and talks to
// 127.0.0.1 only. By hand only; never part of the tests.
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DEADLINE_MS = 240000;

function parseArgs(argv) {
  const o = { conns: 10000, samples: 2000, rate: 200, bin: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--conns") o.conns = Number(next());
    else if (a === "--samples") o.samples = Number(next());
    else if (a === "--rate") o.rate = Number(next());
    else if (a === "--bin") o.bin = next();
    else if (a === "-h" || a === "--help") o.help = true;
    else throw new Error(`unknown option ${a}`);
  }
  for (const k of ["conns", "samples", "rate"]) {
    if (!Number.isFinite(o[k]) || o[k] < 1) throw new Error(`--${k} must be a positive number`);
  }
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function binary(o) {
  if (o.bin) return o.bin;
  if (process.env.RESONATE_BIN) return process.env.RESONATE_BIN;
  for (const p of [path.join(REPO, "build/rel/resonate"), path.join(REPO, "resonate")]) if (existsSync(p)) return p;
  throw new Error("no resonate binary: pass --bin or set RESONATE_BIN");
}

function memOf(pid) {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb("VmRSS"), anon: kb("RssAnon"), threads: Number(/^Threads:\s+(\d+)/m.exec(text)?.[1]) };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

function request(port, method, urlPath, body, { keepAlive = true } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method, path: urlPath, agent: keepAlive ? agent : false, headers: body ? { "content-type": "application/json" } : {} },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode, text }));
      },
    );
    req.on("error", (e) => reject(new Error(`${method} ${urlPath}: ${e.message}`)));
    if (body) req.write(body);
    req.end();
  });
}

let corr = 0;
async function rpc(port, kind, data) {
  const env = { kind, head: { corrId: `b${++corr}`, version: "2026-04-01" }, data };
  const r = await request(port, "POST", "/", JSON.stringify(env));
  const body = JSON.parse(r.text);
  if (body.head?.status !== 200) throw new Error(`${kind}: ${r.text}`);
  return body.data;
}

/** A sample of /metrics, or NaN when the scrape fails (a metrics server
 * built on select() cannot accept a socket numbered >= 1024). */
async function metric(port, name) {
  try {
    const r = await request(port, "GET", "/metrics", null, { keepAlive: false });
    const m = new RegExp(`^${name} (\\S+)$`, "m").exec(r.text);
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Opens one idle SSE stream with a raw socket; resolves once the 200 came. */
function openIdle(port, urlPath, sockets) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port });
    let head = "";
    const onData = (d) => {
      head += d.toString("latin1");
      if (head.includes("\r\n\r\n")) {
        s.removeListener("data", onData);
        s.on("data", () => {}); // keep-alives
        if (!head.startsWith("HTTP/1.1 200")) {
          s.destroy();
          reject(new Error(`${urlPath}: ${head.split("\r\n")[0]}`));
        } else resolve();
      }
    };
    s.on("data", onData);
    s.on("error", reject);
    s.on("connect", () => s.write(`GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`));
    sockets.push(s);
  });
}

/** A listener stream that timestamps each unblock frame by promise id. */
function openLatencyStream(port, urlPath, arrivals) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`${urlPath}: ${res.statusCode}`));
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        const now = performance.now();
        buf += chunk;
        let k;
        while ((k = buf.indexOf("\n\n")) >= 0) {
          const ev = buf.slice(0, k);
          buf = buf.slice(k + 2);
          if (!ev.startsWith("data: ")) continue;
          const msg = JSON.parse(ev.slice(6));
          const id = msg.data?.promise?.id;
          const w = arrivals.get(id);
          if (w) w.resolve(now);
          else arrivals.set(id, { at: now });
        }
      });
      resolve(req);
    });
    req.on("error", reject);
  });
}

/** Resolves with the frame arrival time of promise id. */
function arrivalOf(arrivals, id) {
  const e = arrivals.get(id);
  if (e && e.at !== undefined) return Promise.resolve(e.at);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no frame for ${id} after 10 s`)), 10000);
    arrivals.set(id, {
      resolve: (at) => {
        clearTimeout(t);
        resolve(at);
      },
    });
  });
}

function stats(xs) {
  const s = xs.map((x) => Math.max(0, x)).sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  const neg = xs.filter((x) => x < 0).length;
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s[s.length - 1], neg };
}

const fmt = (st) =>
  `n=${st.n} p50=${st.p50.toFixed(3)} ms p90=${st.p90.toFixed(3)} ms p99=${st.p99.toFixed(3)} ms max=${st.max.toFixed(3)} ms` +
  (st.neg ? ` (${st.neg} frames before the response)` : "");

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.help) {
    console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(0, 27).join("\n"));
    return;
  }
  const bin = binary(o);
  const port = await freePort();
  const mport = await freePort();
  const args = ["dev", "--server-port", String(port), "--server-bind", "127.0.0.1", "--observability-metrics-port",
    String(mport), "--transports-http-poll-max-connections", String(o.conns + 1000),
    // every poller comes from 127.0.0.1: lift the per-address and per-tenant limits
    "--server-max-connections", String(o.conns + 2000), "--server-max-connections-per-ip", "0",
    "--transports-http-poll-max-connections-per-tenant", "0"];
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-20000)));
  const killer = setTimeout(() => {
    console.error(`bench: deadline of ${DEADLINE_MS} ms passed, stopping`);
    child.kill("SIGKILL");
    process.exit(2);
  }, DEADLINE_MS);
  process.on("exit", () => child.kill("SIGKILL"));
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await request(port, "GET", "/health", null, { keepAlive: false })).status === 200) break;
      } catch {}
      if (i > 200) throw new Error(`server did not start: ${stderr}`);
      await sleep(50);
    }
    console.log(`resonate ${bin} pid ${child.pid}, port ${port}`);

    // ---- 1. memory per idle poller ----
    // warm up: one stream, one message, so lazy allocations are not counted
    const warm = [];
    await openIdle(port, "/poll/warm/w", warm);
    await rpc(port, "promise.create", { id: "warm", timeoutAt: Date.now() + 600000, param: { headers: {}, data: "" }, tags: {} });
    warm.forEach((s) => s.destroy());
    await sleep(500);
    const before = memOf(child.pid);
    const sockets = [];
    const t0 = performance.now();
    const BATCH = 250;
    for (let i = 0; i < o.conns; i += BATCH) {
      const batch = [];
      for (let j = i; j < Math.min(o.conns, i + BATCH); j++) batch.push(openIdle(port, `/poll/idle-${j % 16}/w${j}`, sockets));
      await Promise.all(batch);
    }
    const openMs = performance.now() - t0;
    // every stream answered 200, so each is registered; /metrics confirms
    for (let i = 0; (await metric(mport, "resonate_poll_connections")) < o.conns; i++) {
      if (i > 100) throw new Error("streams not all registered");
      await sleep(50);
    }
    await sleep(1000);
    const after = memOf(child.pid);
    const registered = await metric(mport, "resonate_poll_connections");
    const per = (after.rss - before.rss) / o.conns;
    const perAnon = (after.anon - before.anon) / o.conns;
    console.log(`idle pollers: ${o.conns} opened in ${(openMs / 1000).toFixed(1)} s, ${Number.isNaN(registered) ? "? (/metrics unreachable)" : registered} registered, server threads ${after.threads}`);
    console.log(`VmRSS   before ${(before.rss / 1048576).toFixed(1)} MiB, after ${(after.rss / 1048576).toFixed(1)} MiB`);
    console.log(`RssAnon before ${(before.anon / 1048576).toFixed(1)} MiB, after ${(after.anon / 1048576).toFixed(1)} MiB`);
    console.log(`bytes per idle poller: ${Math.round(per)} (VmRSS), ${Math.round(perAnon)} (RssAnon); goal <= 16384 -> ${per <= 16384 ? "met" : "NOT met"}`);

    // ---- 2. settle-to-frame latency ----
    const arrivals = new Map();
    const lat = [];
    for (let k = 0; k < 4; k++) lat.push(await openLatencyStream(port, `/poll/lat/w${k}`, arrivals));
    await sleep(200);
    const prepare = async (prefix, n) => {
      for (let i = 0; i < n; i++) {
        const id = `${prefix}-${i}`;
        await rpc(port, "promise.create", { id, timeoutAt: Date.now() + 600000, param: { headers: {}, data: "" }, tags: {} });
        await rpc(port, "promise.register_listener", { awaited: id, address: `poll://uni@lat/w${i % 4}` });
      }
    };
    const settle = async (id) => {
      const sent = performance.now();
      await rpc(port, "promise.settle", { id, state: "resolved", value: { headers: {}, data: "" } });
      const resp = performance.now();
      const at = await arrivalOf(arrivals, id);
      return { fromResponse: at - resp, fromSend: at - sent };
    };

    // one at a time (a short warm-up first)
    const warmN = Math.min(100, o.samples);
    await prepare("w1", warmN);
    for (let i = 0; i < warmN; i++) await settle(`w1-${i}`);
    await prepare("seq", o.samples);
    const seq = [];
    for (let i = 0; i < o.samples; i++) seq.push(await settle(`seq-${i}`));
    console.log(`settle one at a time (${o.conns} idle streams open):`);
    console.log(`  response -> frame: ${fmt(stats(seq.map((x) => x.fromResponse)))}`);
    console.log(`  send     -> frame: ${fmt(stats(seq.map((x) => x.fromSend)))}`);

    // open loop at a modest rate
    await prepare("rate", o.samples);
    const start = performance.now();
    const runs = [];
    for (let i = 0; i < o.samples; i++) {
      const due = start + (i * 1000) / o.rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      runs.push(settle(`rate-${i}`));
    }
    const rated = await Promise.all(runs);
    console.log(`settle open loop at ${o.rate}/s for ${(o.samples / o.rate).toFixed(1)} s:`);
    console.log(`  response -> frame: ${fmt(stats(rated.map((x) => x.fromResponse)))}`);
    console.log(`  send     -> frame: ${fmt(stats(rated.map((x) => x.fromSend)))}`);
    const goal = stats([...seq, ...rated].map((x) => x.fromResponse)).p99;
    console.log(`p99 response -> frame over both runs: ${goal.toFixed(3)} ms; goal <= 5 ms -> ${goal <= 5 ? "met" : "NOT met"}`);

    lat.forEach((r) => r.destroy());
    sockets.forEach((s) => s.destroy());
    await sleep(500);
    const left = await metric(mport, "resonate_poll_connections");
    console.log(`streams still registered 0.5 s after the clients went: ${Number.isNaN(left) ? "? (/metrics unreachable)" : left}`);
  } finally {
    clearTimeout(killer);
    agent.destroy();
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
  }
}

main().catch((e) => {
  console.error(`bench: ${e.stack || e}`);
  process.exit(1);
});
