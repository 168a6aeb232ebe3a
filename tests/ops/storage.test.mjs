// storage.test.mjs - readiness tells the truth about the database (issue 9
// #10): /ready is 503 when the database cannot take a write (file deleted
// or replaced under the server, full disk, file no longer writable), writes
// are then answered 5xx instead of 200 into a file that is gone, with an
// ERROR line naming the cause; `serve` refuses a database it cannot write.
// (A file that becomes unwritable while open is covered as nobody in
// tests/unit/test_sqlite.c: root may write it anyway.)
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { cleanEnv, envelope, freePort, httpRequest, resonateBin, startServer, tempDir } from "./lib.mjs";

const create = (srv, id, param = {}) =>
  httpRequest(srv.port, "POST", "/", {
    headers: { "content-type": "application/json" },
    body: envelope("promise.create", { id, timeoutAt: Date.now() + 600000, param, tags: {} }),
  });
const ready = async (srv) => (await httpRequest(srv.port, "GET", "/ready")).status;

async function serveIn(t, dir) {
  const dbPath = path.join(dir, "resonate.db");
  const srv = await startServer({ mode: "serve", debug: false, dbPath });
  t.after(() => srv.stop({ check: false }));
  return { srv, dbPath };
}

test("a database file deleted under the server: /ready 503, writes 503 with an ERROR line, never 200", async (t) => {
  const { srv, dbPath } = await serveIn(t, tempDir(t));
  assert.equal((await create(srv, "before")).status, 200);
  assert.equal(await ready(srv), 200);
  for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) rmSync(f, { force: true });
  for (let i = 0; i < 5; i++) {
    const r = await create(srv, `lost-${i}`);
    assert.equal(r.status, 503, r.text);
    assert.match(JSON.parse(r.text).data, /deleted or replaced/);
  }
  assert.equal(await ready(srv), 503);
  const out = await srv.stop();
  assert.match(out.stderr, / error batch refused: the database file \S+resonate\.db was deleted or replaced while the server was running/);
});

test("a database file replaced under the server (or only its -wal deleted): /ready 503 and writes 503", async (t) => {
  const dir = tempDir(t);
  const { srv, dbPath } = await serveIn(t, dir);
  assert.equal((await create(srv, "before")).status, 200);
  const other = await startServer({ mode: "serve", debug: false, dbPath: path.join(dir, "other.db") });
  await other.stop();
  renameSync(path.join(dir, "other.db"), dbPath);
  assert.equal((await create(srv, "after")).status, 503);
  assert.equal(await ready(srv), 503);
  await srv.stop();

  const second = await serveIn(t, tempDir(t));
  assert.equal((await create(second.srv, "before")).status, 200);
  rmSync(`${second.dbPath}-wal`);
  assert.equal((await create(second.srv, "after")).status, 503);
  assert.equal(await ready(second.srv), 503);
  const out = await second.srv.stop();
  assert.match(out.stderr, /resonate\.db-wal was deleted or replaced/);
});

/** argv prefix running a command as nobody when we are root; [] otherwise. */
function unprivileged() {
  if (process.getuid() !== 0) return [];
  const r = spawnSync("setpriv", ["--version"]);
  return r.status === 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : null;
}

/** Runs `resonate serve` on dbPath (as nobody when root) until it exits or 15 s pass. */
function serveOnce(dbPath, port) {
  const pre = unprivileged();
  const argv = [...pre, resonateBin(), "serve", "--server-port", String(port), "--server-bind", "127.0.0.1",
    "--observability-metrics-port", "0", "--storage-sqlite-path", dbPath];
  const r = spawnSync(argv[0], argv.slice(1), { env: cleanEnv(), encoding: "utf8", timeout: 15000 });
  return { code: r.status, stderr: r.stderr };
}

test("serve refuses a database file or directory it cannot write, saying why and what to do", { skip: unprivileged() === null && "needs setpriv to drop root" }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-ro-"));
  t.after(() => {
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  });
  const dbPath = path.join(dir, "resonate.db");
  const seed = await startServer({ mode: "serve", debug: false, dbPath });
  await seed.stop();
  assert.ok(!existsSync(`${dbPath}-wal`));
  chmodSync(dir, 0o777);

  chmodSync(dbPath, 0o444);
  const ro = serveOnce(dbPath, await freePort());
  assert.equal(ro.code, 1, ro.stderr);
  assert.match(ro.stderr, /Fatal: .*read-only for this process; the file is not writable by this process .*make it writable by the server's user/);
  assert.doesNotMatch(ro.stderr, /Server listening/);

  chmodSync(dbPath, 0o666);
  chmodSync(dir, 0o555);
  const rodir = serveOnce(dbPath, await freePort());
  assert.equal(rodir.code, 1, rodir.stderr);
  assert.match(rodir.stderr, /Fatal: .*its directory \S+ is not writable by this process .*-wal and -shm files/);
});

test("a nearly full disk: /ready answers 503 below 4 MiB free; a full one fails writes with 5xx", { skip: process.getuid() !== 0 && "needs root to mount a small tmpfs" }, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-full-"));
  const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=12m", "tmpfs", dir]);
  if (m.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    t.skip("cannot mount a tmpfs here");
    return;
  }
  // Unmounted here, not in t.after: the server must have stopped first.
  let srv = null;
  try {
    srv = (await serveIn(t, dir)).srv;
    await fillUp(srv);
  } finally {
    if (srv) await srv.stop({ check: false });
    if (spawnSync("umount", [dir]).status !== 0) spawnSync("umount", ["-l", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Fills the server's small disk; asserts /ready turned 503 and writes fail with 5xx. */
async function fillUp(srv) {
  assert.equal(await ready(srv), 200);
  const big = { data: Buffer.alloc(60000, "x").toString("base64") };
  let failed = null;
  let readyWhileFilling = 200;
  for (let i = 0; i < 400 && !failed; i++) {
    const r = await create(srv, `fill-${i}`, big);
    if (r.status !== 200) failed = r;
    else if (i % 10 === 0 && readyWhileFilling === 200) readyWhileFilling = await ready(srv);
  }
  assert.equal(readyWhileFilling, 503, "/ready stayed 200 while the disk filled up");
  assert.ok(failed, "the 12 MiB disk never filled up");
  assert.ok(failed.status >= 500, failed.text);
  assert.match(failed.text, /full/);
  assert.equal(await ready(srv), 503);
  const out = await srv.stop({ check: false });
  assert.ok(!out.sanitizer, out.stderr.slice(-4000));
}
