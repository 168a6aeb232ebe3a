// lib.mjs - several resonate servers on one PostgreSQL database (issue 12).
//
// RESONATE_TEST_PG_URL names a database the tests may empty (tests/run.sh
// starts a throwaway cluster and sets it); without it every test here is
// skipped with that reason (pgSkip).
import { startServer } from "../node/lib/server.mjs";

export const PG_URL = process.env.RESONATE_TEST_PG_URL;
export const pgSkip = PG_URL ? false : "RESONATE_TEST_PG_URL is not set (scripts/pg-cluster.sh start prints one)";

export function pgArgs(extra = []) {
  return ["--storage-type", "postgres", "--storage-postgres-url", PG_URL, ...extra];
}

/** Starts n servers on the database (after emptying it) and returns them. */
export async function startServers(n, { args = [], debug = true, env = {} } = {}) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++)
      servers.push(await startServer({ mode: "serve", debug, args: pgArgs(args), env }));
  } catch (e) {
    await stopAll(servers);
    throw e;
  }
  if (debug) {
    const r = await servers[0].rpc("debug.reset", {});
    if (r.status !== 200) throw new Error(`debug.reset: ${r.status} ${JSON.stringify(r.body)}`);
  }
  return servers;
}

export async function stopAll(servers) {
  await Promise.all(servers.map((s) => s.stop().catch(() => {})));
}
