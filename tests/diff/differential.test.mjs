// differential.test.mjs - resonate-c against the SDK's reference Server.
//
// Part of `make test`: a few fixed seeds, a few hundred steps each, against
// one `resonate serve --debug` on a database file, so that the read kinds are
// answered by the read-only connections (server/reads.h) as in production
// (the sanitized build under make test). See README.md in this folder for
// what is compared and TOLERATED.md for the differences that are not
// failures. Env: DIFF_SEEDS (comma list), DIFF_STEPS, DIFF_MODE ("dev": the
// in-memory database, every request on the store thread).
import { startServer } from "../node/lib/server.mjs";
import { defineDifferential } from "./suite.mjs";

defineDifferential({ start: () => startServer({ mode: process.env.DIFF_MODE ?? "serve", debug: true }) });
