// fanout.mjs - what one large settlement costs every other tenant: starts
// BIN (`dev`, in-memory, or `serve` on a file in /tmp), suspends N tasks
// on one promise (task.create, then task.suspend with a callback on
// f.root: one callback and one suspended awaiter each), then settles
// f.root while another client creates promises one after another. Prints
// the settle's latency, the other client's promise.create latency during
// the settle (max, p99, count), the longest store transaction in the
// window (from resonate_store_batch_duration_seconds: the upper bound of
// the highest bucket that grew) and how long until every awaiter was
// resumed (task.search state=pending).
//
//   [FANOUT_ARGS="--flag value ..."] node bench/fanout.mjs BIN dev|serve N [PORT]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const [bin, mode = "dev", nArg = "1000", portArg = "18071"] = process.argv.slice(2);
const N = Number(nArg);
const port = Number(portArg);
const mport = port + 1;
if (!bin || !N) {
  console.error('usage: [FANOUT_ARGS="--flag value ..."] node bench/fanout.mjs BIN dev|serve N [PORT]');
  process.exit(2);
}
const FAR = 9007199254740991;
const url = `http://127.0.0.1:${port}/`;

async function rpc(kind, data) {
  const body = JSON.stringify({ kind, head: { corrId: "c", version: "2026-04-01" }, data });
  const r = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json" } });
  const j = await r.json();
  return { status: r.status, body: j };
}

async function metrics() {
  const r = await fetch(`http://127.0.0.1:${mport}/metrics`);
  const t = await r.text();
  const b = new Map();
  for (const m of t.matchAll(/^resonate_store_batch_duration_seconds_bucket\{le="([^"]+)"\} (\d+)/gm))
    b.set(m[1], Number(m[2]));
  return b;
}

/** The upper bound (s) of the highest bucket that grew between a and b. */
function longest(a, b) {
  let prev = 0, top = "none";
  for (const [le, n] of b) {
    const grew = n - (a.get(le) ?? 0);
    if (grew > prev) top = le;
    prev = grew;
  }
  return top;
}

const dir = mkdtempSync(path.join(os.tmpdir(), "fanout-"));
const args = [mode, "--server-port", String(port), "--server-bind", "127.0.0.1",
  "--observability-metrics-port", String(mport), "--level", "warn"];
if (mode === "serve") args.push("--storage-sqlite-path", path.join(dir, "r.db"));
// Extra server flags, e.g. FANOUT_ARGS="--limits-settle-fanout-batch 200".
if (process.env.FANOUT_ARGS) args.push(...process.env.FANOUT_ARGS.split(/\s+/).filter(Boolean));
const child = spawn(bin, args, { stdio: ["ignore", "ignore", "inherit"] });
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).status === 200) break;
    } catch {}
    if (i > 100) throw new Error("server did not start");
    await new Promise((r) => setTimeout(r, 50));
  }
  let r = await rpc("promise.create", { id: "f.root", timeoutAt: FAR, tags: {} });
  if (r.status !== 200) throw new Error(JSON.stringify(r));
  let next = 0;
  const t0 = performance.now();
  async function worker() {
    for (let i = next++; i < N; i = next++) {
      const id = `f.w${i}`;
      let x = await rpc("task.create", {
        pid: "p", ttl: FAR - Date.now() - 1000,
        action: { kind: "promise.create", head: {}, data: { id, timeoutAt: FAR, tags: { "resonate:target": "poll://any@g" } } },
      });
      if (x.status !== 200) throw new Error(JSON.stringify(x));
      x = await rpc("task.suspend", {
        id, version: 1,
        actions: [{ kind: "promise.register_callback", head: {}, data: { awaited: "f.root", awaiter: id } }],
      });
      if (x.status !== 200) throw new Error(JSON.stringify(x));
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker));
  const setup = performance.now() - t0;

  // The other tenant: creates one after another until told to stop.
  const lat = [];
  let stop = false, k = 0;
  const other = (async () => {
    while (!stop) {
      const s = performance.now();
      const x = await rpc("promise.create", { id: `g.x${k++}`, timeoutAt: FAR, tags: {} });
      if (x.status !== 200) throw new Error(JSON.stringify(x));
      lat.push([s, performance.now() - s]);
    }
  })();
  await new Promise((res) => setTimeout(res, 300));
  const m0 = await metrics();
  const s0 = performance.now();
  r = await rpc("promise.settle", { id: "f.root", state: "resolved", value: {} });
  const settle = performance.now() - s0;
  if (r.status !== 200) throw new Error(JSON.stringify(r));
  // Until every awaiter is pending again (resumed).
  let resumed = 0;
  for (;;) {
    let cursor, n = 0;
    do {
      const x = await rpc("task.search", { state: "pending", limit: 1000, ...(cursor ? { cursor } : {}) });
      n += x.body.data.tasks.length;
      cursor = x.body.data.cursor;
    } while (cursor);
    resumed = n;
    if (n >= N || performance.now() - s0 > 60000) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  const all = performance.now() - s0;
  await new Promise((res) => setTimeout(res, 200));
  stop = true;
  await other;
  const m1 = await metrics();
  const during = lat.filter(([s, d]) => s + d >= s0 && s <= s0 + all).map(([, d]) => d).sort((a, b) => a - b);
  const before = lat.filter(([s, d]) => s + d < s0).map(([, d]) => d).sort((a, b) => a - b);
  const q = (a, p) => (a.length ? a[Math.min(a.length - 1, Math.floor(a.length * p))] : NaN);
  console.log(
    `${mode} N=${N}: setup ${(setup / 1000).toFixed(1)} s; settle ${settle.toFixed(1)} ms;` +
      ` all ${resumed} resumed after ${all.toFixed(0)} ms; other tenant's create during it:` +
      ` max ${q(during, 1).toFixed(1)} ms p99 ${q(during, 0.99).toFixed(1)} ms p50 ${q(during, 0.5).toFixed(2)} ms` +
      ` (${during.length} calls; before: p50 ${q(before, 0.5).toFixed(2)} max ${q(before, 1).toFixed(1)} ms);` +
      ` longest store batch <= ${longest(m0, m1)} s`,
  );
} finally {
  child.kill("SIGTERM");
  await new Promise((res) => child.once("exit", res));
  rmSync(dir, { recursive: true, force: true });
}
