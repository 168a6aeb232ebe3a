#!/usr/bin/env node
// run-long.mjs - the long differential run, by hand (not part of make test).
//
//   node tests/diff/run-long.mjs --seeds 100 --steps 2000
//   node tests/diff/run-long.mjs --seed 17 --steps 400      # reproduce one seed
//   node tests/diff/run-long.mjs --self-check --seeds 50    # reference side only
//
// Options (or env): --seeds N (DIFF_LONG_SEEDS, default 20), --steps M
// (DIFF_LONG_STEPS, default 2000), --first S (DIFF_LONG_FIRST: first seed,
// default random), --seed S (exactly one seed), --batch K (steps between
// debug.snap comparisons and resets, default 60), --history N (requests
// printed before a mismatch, default 12),
// --bin PATH (RESONATE_BIN, default ./resonate). Every seed runs even after a
// mismatch; the exit code is 1 when any seed mismatched or a required kind
// never reached a 2xx.
import "../node/polyfill.mjs";

import { startServer } from "../node/lib/server.mjs";
import { Generator, Rng } from "./gen.mjs";
import { REQUIRED_KINDS, addCounts, formatMismatch, runSeed } from "./harness.mjs";
import { Model } from "./model.mjs";

function parseArgs(argv) {
  const o = {
    seeds: Number(process.env.DIFF_LONG_SEEDS ?? 20),
    steps: Number(process.env.DIFF_LONG_STEPS ?? 2000),
    first: process.env.DIFF_LONG_FIRST !== undefined ? Number(process.env.DIFF_LONG_FIRST) : undefined,
    batch: 60,
    history: 12,
    bin: process.env.RESONATE_BIN,
    selfCheck: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--seeds") o.seeds = Number(val());
    else if (a === "--steps") o.steps = Number(val());
    else if (a === "--first") o.first = Number(val());
    else if (a === "--seed") { o.first = Number(val()); o.seeds = 1; }
    else if (a === "--batch") o.batch = Number(val());
    else if (a === "--history") o.history = Number(val());
    else if (a === "--bin") o.bin = val();
    else if (a === "--self-check") o.selfCheck = true;
    else if (a === "-h" || a === "--help") { console.log(readHelp()); process.exit(0); }
    else throw new Error(`unknown option ${a}`);
  }
  if (o.first === undefined) o.first = Math.floor(Math.random() * 1e9);
  return o;
}

function readHelp() {
  return "usage: node tests/diff/run-long.mjs [--seeds N] [--steps M] [--first S | --seed S] [--batch K] [--history N] [--bin PATH] [--self-check]";
}

// The generator against the reference alone: it must never throw and should
// reach every kind's success path.
function selfCheck(o) {
  const status = {};
  for (let s = o.first; s < o.first + o.seeds; s++) {
    const rng = new Rng(s);
    const model = new Model();
    const gen = new Generator(rng, model);
    let now = Date.UTC(2025, 0, 1) + rng.int(0, 86_400_000);
    for (let i = 0; i < o.steps; i++) {
      now += rng.pick([0, 0, 1, 10, 100, 500, 1000]);
      const g = gen.next(now);
      if (g.now !== undefined) now = g.now;
      if (g.negative || g.kind.endsWith(".search")) {
        if ((i + 1) % o.batch === 0) model.apply(now, { kind: "debug.reset", head: {}, data: {} });
        continue;
      }
      let st;
      try {
        st = model.apply(now, { kind: g.kind, head: { corrId: g.corrId, version: "2026-04-01" }, data: structuredClone(g.data) }).head.status;
      } catch (e) {
        console.error(`seed ${s} step ${i}: reference threw on ${JSON.stringify(g)}\n${e.stack}`);
        process.exit(1);
      }
      status[g.kind] ??= {};
      status[g.kind][st] = (status[g.kind][st] ?? 0) + 1;
      if ((i + 1) % o.batch === 0) model.apply(now, { kind: "debug.reset", head: {}, data: {} });
    }
  }
  for (const k of Object.keys(status).sort()) console.log(k.padEnd(28), JSON.stringify(status[k]));
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.selfCheck) return selfCheck(o);
  const srv = await startServer({ mode: "dev", debug: true, ...(o.bin ? { bin: o.bin } : {}) });
  const coverage = {};
  const tolerated = {};
  const failed = [];
  const t0 = Date.now();
  try {
    for (let s = o.first; s < o.first + o.seeds; s++) {
      const r = await runSeed(srv, s, o.steps, { batch: o.batch, historyKeep: o.history });
      addCounts(coverage, r.coverage);
      addCounts(tolerated, r.tolerated);
      if (r.mismatch) {
        failed.push(s);
        console.log(formatMismatch(r.mismatch, o.steps));
      } else {
        process.stdout.write(`seed ${s}: ${o.steps} steps ok\n`);
      }
      srv.assertHealthy();
    }
  } finally {
    await srv.stop({ check: false }).then((r) => {
      if (r.sanitizer) {
        console.log(`sanitizer report:\n${r.sanitizer}`);
        failed.push("sanitizer");
      }
    });
  }
  const missing = REQUIRED_KINDS.filter((k) => !coverage[k]);
  console.log(`\n${o.seeds} seeds from ${o.first}, ${o.steps} steps each, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`2xx per kind: ${JSON.stringify(coverage)}`);
  console.log(`tolerated differences applied: ${JSON.stringify(tolerated)}`);
  if (missing.length) console.log(`kinds that never reached a 2xx: ${missing.join(", ")}`);
  console.log(failed.length ? `FAILED seeds: ${failed.join(", ")}` : "all seeds agree");
  process.exitCode = failed.length || missing.length ? 1 : 0;
}

main().catch((e) => {
  if (/^(unknown option|.* needs a value)/.test(e.message)) console.error(`${e.message}\n${readHelp()}`);
  else console.error(e.stack ?? e);
  process.exit(2);
});
