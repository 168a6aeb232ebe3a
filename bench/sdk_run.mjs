// bench/sdk_run.mjs - latency of an SDK `run` of a one-step workflow.
//
//   node bench/sdk_run.mjs [URL] [--runs N] [--warmup N] [--sdk 0.11.5|0.11.4]
//
// URL (default $RESONATE_URL, else http://127.0.0.1:8001) is a running
// resonate server on loopback, e.g. `./resonate dev`. One Resonate instance
// (the real TypeScript SDK from tests/node/node_modules) runs N workflows one
// after another, each `function* wf(ctx, i) { return yield* ctx.run(step, i) }`
// under a fresh id, and the time of each `run()` call is measured from the
// call to its result: task.create, the step's fenced create and settle,
// task.fulfill, and the result coming back through the listener and the SSE
// stream (the usual case: the listener is registered before the workflow
// ends). Prints p50, p90, p99, mean, min and max in milliseconds.
// By hand only; never part of the tests.
import "../tests/node/polyfill.mjs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

function parseArgs(argv) {
  const opts = { url: process.env.RESONATE_URL || "http://127.0.0.1:8001", runs: 1000, warmup: 50, sdk: "0.11.5" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--runs") opts.runs = Number(next());
    else if (a === "--warmup") opts.warmup = Number(next());
    else if (a === "--sdk") opts.sdk = next();
    else if (a === "-h" || a === "--help") opts.help = true;
    else if (!a.startsWith("-")) opts.url = a;
    else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isInteger(opts.runs) || opts.runs < 1) throw new Error("--runs must be a positive integer");
  if (!Number.isInteger(opts.warmup) || opts.warmup < 0) throw new Error("--warmup must be >= 0");
  return opts;
}

function quantile(sorted, q) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`sdk_run: ${e.message}`);
    process.exitCode = 2;
    return;
  }
  if (opts.help) {
    console.log("usage: node bench/sdk_run.mjs [URL] [--runs N] [--warmup N] [--sdk 0.11.5|0.11.4]");
    return;
  }
  const here = path.dirname(fileURLToPath(import.meta.url));
  const sdkPath = path.resolve(here, `../tests/node/node_modules/sdk-${opts.sdk}/dist/src/index.js`);
  const { Resonate } = await import(pathToFileURL(sdkPath).href);

  // Health first, so a wrong URL fails fast instead of hanging in the SDK.
  try {
    const res = await fetch(`${opts.url}/health`);
    if (res.status !== 200) throw new Error(`GET /health answered ${res.status}`);
  } catch (e) {
    console.error(`sdk_run: no server at ${opts.url}: ${e.message}`);
    process.exitCode = 1;
    return;
  }

  const warnings = [];
  const logger = {
    debug() {},
    info() {},
    warn: (f, m) => warnings.push(m),
    error: (f, m) => warnings.push(m),
  };
  const resonate = new Resonate({ url: opts.url, group: `bench-${process.pid}`, logger });
  function step(ctx, i) {
    return i + 1;
  }
  function* wf(ctx, i) {
    return yield* ctx.run(step, i);
  }
  resonate.register("bench_step", step);
  const f = resonate.register("bench_wf", wf);
  // Let the SSE stream open before the first run.
  await new Promise((r) => setTimeout(r, 200));

  const run = `b${Date.now().toString(36)}${process.pid}`;
  const lat = [];
  try {
    for (let i = 0; i < opts.warmup + opts.runs; i++) {
      const t0 = performance.now();
      const out = await f.run(`${run}-${i}`, i);
      const dt = performance.now() - t0;
      if (out !== i + 1) throw new Error(`run ${i} returned ${JSON.stringify(out)}`);
      if (i >= opts.warmup) lat.push(dt);
    }
  } finally {
    await resonate.stop();
  }
  lat.sort((a, b) => a - b);
  const mean = lat.reduce((s, x) => s + x, 0) / lat.length;
  const ms = (x) => x.toFixed(2);
  console.log(`sdk ${opts.sdk}, ${opts.url}, ${lat.length} runs of a 1-step workflow (after ${opts.warmup} warm-up)`);
  console.log(
    `latency ms: p50 ${ms(quantile(lat, 0.5))}  p90 ${ms(quantile(lat, 0.9))}  p99 ${ms(quantile(lat, 0.99))}  ` +
      `mean ${ms(mean)}  min ${ms(lat[0])}  max ${ms(lat[lat.length - 1])}`,
  );
  if (warnings.length) console.log(`SDK warnings: ${warnings.length} (first: ${warnings[0]})`);
}

await main();
// The SDK may leave timers behind after stop(); the numbers are printed.
setTimeout(() => process.exit(), 500).unref();
