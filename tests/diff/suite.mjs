// suite.mjs - the differential suite's tests, for one server configuration:
// a few fixed seeds (DIFF_SEEDS, DIFF_STEPS) against one server started by
// start(), then the coverage of the required kinds. differential.test.mjs
// runs it on SQLite, differential-postgres.test.mjs on PostgreSQL.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { REQUIRED_KINDS, addCounts, formatMismatch, runSeed } from "./harness.mjs";

const SEEDS = (process.env.DIFF_SEEDS ?? "1,2,3,4").split(",").map((s) => Number(s.trim()));
const STEPS = Number(process.env.DIFF_STEPS ?? 400);

/** label prefixes every test name; skip (a reason) skips them all. */
export function defineDifferential({ label = "", start, skip = false, timeout = 120_000 }) {
  let srv;
  const coverage = {};
  let failedSeeds = 0;

  before(async () => {
    if (!skip) srv = await start();
  });

  after(async () => {
    if (srv) await srv.stop();
  });

  for (const seed of SEEDS) {
    test(`${label}seed ${seed}: ${STEPS} random requests agree with the reference`, { skip, timeout }, async () => {
      const r = await runSeed(srv, seed, STEPS);
      addCounts(coverage, r.coverage);
      srv.assertHealthy();
      if (r.mismatch) {
        failedSeeds++;
        assert.fail(formatMismatch(r.mismatch, STEPS));
      }
    });
  }

  test(`${label}every required operation kind reached a 2xx`, { skip }, (t) => {
    // A seed that stopped early at a mismatch says nothing about coverage.
    if (failedSeeds) return t.skip(`${failedSeeds} seed(s) stopped at a mismatch`);
    const missing = REQUIRED_KINDS.filter((k) => !coverage[k]);
    assert.deepEqual(missing, [], `kinds without a 2xx over seeds ${SEEDS.join(",")}: ${missing.join(", ")}\ncoverage: ${JSON.stringify(coverage)}`);
  });
}
