// search.mjs - bench/search.sh's client: sequential promise.search calls on
// one keep-alive connection to 127.0.0.1:PORT, one line per kind with p50,
// p99 and max latency (ms), the server's CPU time per call (from
// /proc/PID/stat when PID is given: insensitive to other load on the
// machine, unlike latency) and the size of the first page.
//
//   node bench/search.mjs PORT [CALLS] [PID]
import { readFileSync } from "node:fs";

const port = Number(process.argv[2]);
const calls = Number(process.argv[3] || 200);
const pid = process.argv[4];
if (!port) {
  console.error("usage: node bench/search.mjs PORT [CALLS] [PID]");
  process.exit(2);
}

// utime + stime of the server in clock ticks (USER_HZ, 100 on Linux).
function cpuTicks() {
  if (!pid) return NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

const kinds = [
  ["selective tag g=42", { tags: { g: "42" } }],
  ["non-matching tag", { tags: { k: "none" } }],
  ["state resolved (none)", { state: "resolved" }],
  ["state pending (all), limit 100", { state: "pending" }],
  ["state pending + tag g=42", { state: "pending", tags: { g: "42" } }],
];

async function search(data, i) {
  const body = JSON.stringify({
    kind: "promise.search",
    head: { corrId: String(i), version: "2026-04-01" },
    data,
  });
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    signal: AbortSignal.timeout(30000),
  });
  const json = await res.json();
  const ms = performance.now() - t0;
  if (res.status !== 200 || json.head?.status !== 200)
    throw new Error(`search ${JSON.stringify(data)}: ${res.status} ${JSON.stringify(json).slice(0, 200)}`);
  return [ms, json.data.promises.length, json.data.cursor !== undefined];
}

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

// BENCH_KINDS=text runs only the kinds whose name contains text.
const only = process.env.BENCH_KINDS || "";
for (const [name, data] of kinds.filter(([name]) => name.includes(only))) {
  await search(data, 0); // warm the page cache for this kind
  const lat = [];
  let first;
  const cpu0 = cpuTicks();
  for (let i = 0; i < calls; i++) {
    const [ms, n, more] = await search(data, i + 1);
    if (!first) first = `${n} results${more ? " + cursor" : ""}`;
    lat.push(ms);
  }
  const cpuMs = ((cpuTicks() - cpu0) * 10) / calls;
  lat.sort((a, b) => a - b);
  console.log(
    `  ${name.padEnd(32)} p50 ${pct(lat, 50).toFixed(2).padStart(8)} ms` +
      `  p99 ${pct(lat, 99).toFixed(2).padStart(8)} ms  max ${lat[lat.length - 1].toFixed(2).padStart(8)} ms` +
      `  cpu ${Number.isNaN(cpuMs) ? "?" : cpuMs.toFixed(2)} ms/call  (${first})`,
  );
}
