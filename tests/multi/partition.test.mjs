// partition.test.mjs - a host that dies without closing its connections
// (issue 12): nothing tells PostgreSQL or the server that the peer is gone,
// so only TCP keepalives and the user timeout (store/postgres.h,
// PG_DEAD_PEER_S: 10 s) end the connection. The leader's host dying must
// hand background work to another server, and a server cut off from the
// database must answer 503, both within seconds (not the kernel's hours).
// Runs partition.sh in a private network namespace: needs root, unshare,
// ip with veth, and PostgreSQL's binaries; skipped otherwise.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { test } from "node:test";

import { resonateBin } from "../node/lib/server.mjs";

const WAIT = 30;

function skipReason() {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  if (!existsSync("/usr/lib/postgresql") || readdirSync("/usr/lib/postgresql").length === 0)
    return "PostgreSQL's server binaries are not installed";
  try {
    execFileSync("unshare", ["-mn", "sh", "-c", "ip link add va type veth peer name vb"], { stdio: "ignore" });
  } catch {
    return "cannot create a network namespace with a veth pair here";
  }
  return false;
}
const skip = skipReason();

function run(mode) {
  const r = spawnSync("unshare", ["-mn", "tests/multi/partition.sh", mode], {
    env: { ...process.env, BIN: resonateBin(), WAIT: String(WAIT) },
    encoding: "utf8",
    timeout: (WAIT + 60) * 1000,
  });
  assert.equal(r.status, 0, `partition.sh ${mode}: ${r.stdout}\n${r.stderr}`);
  const m = /(state|status)=(\S+) seconds=(\d+)/.exec(r.stdout);
  assert.ok(m, `partition.sh ${mode} printed no result: ${r.stdout}\n${r.stderr}`);
  return { value: m[2], seconds: Number(m[3]), out: r.stdout };
}

test("the leader's host dies: another server times promises out within seconds", { skip, timeout: 120_000 }, () => {
  const { value, seconds } = run("leader");
  assert.equal(value, "rejected_timedout", `no server took over within ${WAIT} s`);
  assert.ok(seconds <= 20, `took ${seconds} s`);
});

test("the database's host is cut off: a write is answered 503 within seconds", { skip, timeout: 120_000 }, () => {
  const { value, seconds, out } = run("database");
  assert.equal(value, "503", `no answer within ${WAIT} s: ${out}`);
  assert.ok(seconds <= 20, `took ${seconds} s`);
});
