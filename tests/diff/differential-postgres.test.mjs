// differential-postgres.test.mjs - differential.test.mjs on the PostgreSQL
// backend (issue 12): the same seeds against one `resonate serve --debug
// --storage-type postgres` on RESONATE_TEST_PG_URL (a database the test may
// empty; tests/run.sh starts a throwaway cluster and sets it). Skipped, and
// says so, without that variable.
import { startServer } from "../node/lib/server.mjs";
import { defineDifferential } from "./suite.mjs";

const PG_URL = process.env.RESONATE_TEST_PG_URL;

defineDifferential({
  label: "postgres ",
  skip: PG_URL ? false : "RESONATE_TEST_PG_URL is not set (scripts/pg-cluster.sh start prints one)",
  timeout: 180_000,
  start: () =>
    startServer({ mode: "serve", debug: true, args: ["--storage-type", "postgres", "--storage-postgres-url", PG_URL] }),
});
