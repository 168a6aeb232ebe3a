// systemd.test.mjs - runs tests/ops/systemd-check.sh against the binary
// under test: make install (DESTDIR, PREFIX), systemd-analyze verify and
// security of conf/resonate.service, and the sd_notify READY=1/STOPPING=1
// exchange. Skipped when systemd-analyze is not installed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { REPO, cleanEnv, resonateBin } from "./lib.mjs";

test("systemd packaging: install, verify, readiness", (t) => {
  const r = spawnSync(path.join(REPO, "tests/ops/systemd-check.sh"), [resonateBin()], {
    cwd: REPO, env: cleanEnv(), encoding: "utf8", timeout: 120000,
  });
  if (r.status === 77) {
    t.skip(r.stdout.trim());
    return;
  }
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  for (const step of ["make install", "systemd-analyze verify", "systemd-analyze security", "sd_notify READY=1"]) {
    assert.match(r.stdout, new RegExp(`^ok - ${step}`, "m"));
  }
});
