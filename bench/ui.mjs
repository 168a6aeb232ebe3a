// ui.mjs - the web console's page weight and time to first render (issue
// 13), on an empty store and on one with BENCH_UI_PROMISES promises
// (default 100,000), in the same run. Run by hand after `make` and
// `scripts/deps.sh --test` (Debian's chromium, playwright-core):
//
//   node bench/ui.mjs            # ./resonate, or $RESONATE_BIN
//
// Each store is a `resonate serve --ui-enabled true` on a fresh SQLite file
// in /tmp (127.0.0.1 only). Page weight: the bytes of GET /ui and of the
// files it loads, as served (uncompressed; gzip size shown for reference).
// Time to first render: a fresh headless chromium per sample (new profile,
// nothing cached) opens /ui; measured in the page from navigation start to
// the moment the first row of the promises table is in the document (a
// MutationObserver installed before the page's own script), and to the load
// event, and the part after DOMContentLoaded (the console's own script and
// its one promise.search). BENCH_UI_SAMPLES samples (default 7), median
// and max reported.
// The raw API call the page depends on, promise.search with limit 50, is
// timed from Node as the baseline.
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { startServer } from "../tests/node/lib/server.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.resolve(HERE, "../tests/node/package.json"));
const { chromium } = require("playwright-core");
const CHROMIUM = process.env.RESONATE_CHROMIUM || "/usr/bin/chromium";
const N = Number(process.env.BENCH_UI_PROMISES || 100000);
const SAMPLES = Number(process.env.BENCH_UI_SAMPLES || 7);
const DEADLINE = Date.now() + 15 * 60_000; // the whole run, bounded
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const max = (xs) => Math.max(...xs);

async function post(url, kind, data) {
  const res = await fetch(url + "/", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ kind, head: { corrId: "b", version: "2026-04-01" }, data }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${kind}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** n promises p-000000.. with a param naming a function; 64 requests in flight. */
async function fill(url, n) {
  const param = { data: Buffer.from(JSON.stringify({ func: "bench_fn", args: [1, 2, 3], version: 1 })).toString("base64") };
  let next = 0;
  const t0 = Date.now();
  async function worker() {
    while (next < n) {
      if (Date.now() > DEADLINE) throw new Error("fill: past the deadline");
      const i = next++;
      const id = `p-${String(i).padStart(6, "0")}`;
      await post(url, "promise.create", { id, timeoutAt: Date.now() + 86400_000, param, tags: { "resonate:origin": id } });
    }
  }
  await Promise.all(Array.from({ length: 64 }, worker));
  return Date.now() - t0;
}

async function pageWeight(url) {
  const html = await (await fetch(url + "/ui")).text();
  const assets = [...html.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)].map((m) => m[1]);
  const rows = [];
  for (const p of ["/ui", ...assets]) {
    const buf = Buffer.from(await (await fetch(url + p)).arrayBuffer());
    rows.push({ path: p, bytes: buf.length, gzip: gzipSync(buf, { level: 9 }).length });
  }
  return rows;
}

async function firstRender(url) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-bench-chromium-"));
  const ctx = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    // Runs before the page's scripts (CDP, not subject to the page's CSP).
    await page.addInitScript(() => {
      new MutationObserver((_, obs) => {
        if (document.querySelector("table.promises tbody tr")) {
          window.__firstRow = performance.now();
          obs.disconnect();
        }
      }).observe(document, { childList: true, subtree: true });
    });
    await page.goto(url + "/ui");
    await page.waitForFunction(() => window.__firstRow !== undefined, null, { timeout: 30000 });
    return await page.evaluate(() => ({
      firstRow: window.__firstRow,
      load: performance.getEntriesByType("navigation")[0].loadEventEnd,
      dcl: performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd,
      rows: document.querySelectorAll("table.promises tbody tr").length,
    }));
  } finally {
    await ctx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function apiBaseline(url) {
  const ts = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await post(url, "promise.search", { limit: 50 });
    ts.push(performance.now() - t0);
  }
  return ts;
}

async function measure(label, n) {
  const srv = await startServer({ mode: "serve", debug: false, args: ["--ui-enabled", "true"] });
  try {
    const fillMs = n ? await fill(srv.url, n) : 0;
    const count = n ? `${n} promises (filled in ${(fillMs / 1000).toFixed(1)} s)` : "empty store";
    const api = await apiBaseline(srv.url);
    const samples = [];
    for (let i = 0; i < SAMPLES; i++) samples.push(await firstRender(srv.url));
    const fr = samples.map((s) => s.firstRow);
    const ld = samples.map((s) => s.load);
    const own = samples.map((s) => s.firstRow - s.dcl);
    console.log(`${label.padEnd(10)} ${count}`);
    console.log(`  promise.search limit 50 from Node: p50 ${median(api).toFixed(2)} ms, max ${max(api).toFixed(2)} ms`);
    console.log(`  first table row: median ${median(fr).toFixed(0)} ms, max ${max(fr).toFixed(0)} ms ` +
      `(load event: median ${median(ld).toFixed(0)} ms); rows shown ${samples[0].rows}; ${SAMPLES} cold samples`);
    console.log(`  of which after DOMContentLoaded (the console's script and its search): median ${median(own).toFixed(0)} ms, max ${max(own).toFixed(0)} ms`);
    return srv;
  } catch (e) {
    await srv.stop({ check: false });
    throw e;
  }
}

const empty = await measure("baseline", 1); // one promise: the table has a row to wait for
const weight = await pageWeight(empty.url);
await empty.stop();
let total = 0, totalGz = 0;
console.log("page weight (as served, uncompressed; gzip -9 for reference):");
for (const r of weight) {
  console.log(`  ${r.path.padEnd(18)} ${String(r.bytes).padStart(7)} B   gzip ${String(r.gzip).padStart(6)} B`);
  total += r.bytes;
  totalGz += r.gzip;
}
console.log(`  ${"total".padEnd(18)} ${String(total).padStart(7)} B   gzip ${String(totalGz).padStart(6)} B`);
const big = await measure("100k", N);
await big.stop();
