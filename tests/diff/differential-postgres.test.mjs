// differential-postgres.test.mjs - differential.test.mjs on the PostgreSQL
// backend (issue 12): the same seeds against one `resonate serve --debug
// --storage-type postgres` on RESONATE_TEST_PG_URL (a database the test may
// empty; tests/run.sh starts a throwaway cluster and sets it). Skipped, and
// says so, without that variable.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { startServer } from "../node/lib/server.mjs";
import { REQUIRED_KINDS, addCounts, formatMismatch, runSeed } from "./harness.mjs";

const PG_URL = process.env.RESONATE_TEST_PG_URL;
const SEEDS = (process.env.DIFF_SEEDS ?? "1,2,3,4").split(",").map((s) => Number(s.trim()));
const STEPS = Number(process.env.DIFF_STEPS ?? 400);
const SKIP = PG_URL ? false : "RESONATE_TEST_PG_URL is not set (scripts/pg-cluster.sh start prints one)";

let srv;
const coverage = {};
let failedSeeds = 0;

before(async () => {
  if (SKIP) return;
  srv = await startServer({
    mode: "serve",
    debug: true,
    args: ["--storage-type", "postgres", "--storage-postgres-url", PG_URL],
  });
});

after(async () => {
  if (srv) await srv.stop();
});

for (const seed of SEEDS) {
  test(`postgres seed ${seed}: ${STEPS} random requests agree with the reference`, { skip: SKIP, timeout: 180_000 }, async () => {
    const r = await runSeed(srv, seed, STEPS);
    addCounts(coverage, r.coverage);
    srv.assertHealthy();
    if (r.mismatch) {
      failedSeeds++;
      assert.fail(formatMismatch(r.mismatch, STEPS));
    }
  });
}

test("postgres: every required operation kind reached a 2xx", { skip: SKIP }, (t) => {
  if (failedSeeds) return t.skip(`${failedSeeds} seed(s) stopped at a mismatch`);
  const missing = REQUIRED_KINDS.filter((k) => !coverage[k]);
  assert.deepEqual(missing, [], `kinds without a 2xx: ${missing.join(", ")}`);
});
