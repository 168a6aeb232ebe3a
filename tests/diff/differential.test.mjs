// differential.test.mjs - resonate-c against the SDK's reference Server.
//
// Part of `make test`: a few fixed seeds, a few hundred steps each, against
// one `resonate serve --debug` on a database file, so that the read kinds are
// answered by the read-only connections (server/reads.h) as in production
// (the sanitized build under make test). See README.md in this folder for
// what is compared and TOLERATED.md for the differences that are not
// failures. Env: DIFF_SEEDS (comma list), DIFF_STEPS, DIFF_MODE ("dev": the
// in-memory database, every request on the store thread).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { startServer } from "../node/lib/server.mjs";
import { REQUIRED_KINDS, addCounts, formatMismatch, runSeed } from "./harness.mjs";

const SEEDS = (process.env.DIFF_SEEDS ?? "1,2,3,4").split(",").map((s) => Number(s.trim()));
const STEPS = Number(process.env.DIFF_STEPS ?? 400);

let srv;
const coverage = {};
let failedSeeds = 0;

before(async () => {
  srv = await startServer({ mode: process.env.DIFF_MODE ?? "serve", debug: true });
});

after(async () => {
  if (srv) await srv.stop();
});

for (const seed of SEEDS) {
  test(`seed ${seed}: ${STEPS} random requests agree with the reference`, { timeout: 120_000 }, async () => {
    const r = await runSeed(srv, seed, STEPS);
    addCounts(coverage, r.coverage);
    srv.assertHealthy();
    if (r.mismatch) {
      failedSeeds++;
      assert.fail(formatMismatch(r.mismatch, STEPS));
    }
  });
}

test("every required operation kind reached a 2xx", (t) => {
  // A seed that stopped early at a mismatch says nothing about coverage.
  if (failedSeeds) return t.skip(`${failedSeeds} seed(s) stopped at a mismatch`);
  const missing = REQUIRED_KINDS.filter((k) => !coverage[k]);
  assert.deepEqual(missing, [], `kinds without a 2xx over seeds ${SEEDS.join(",")}: ${missing.join(", ")}\ncoverage: ${JSON.stringify(coverage)}`);
});
