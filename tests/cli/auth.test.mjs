// auth.test.mjs - the client subcommands against a server with auth on: an
// Ed25519 key made with openssl, tokens minted by `resonate token`, the token
// given with -T or RESONATE_TOKEN (-T wins), and the messages for 401 and 403.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { cli, cliJson, startServer } from "./lib.mjs";

const T = { timeout: 60000 };

describe("client with auth", T, () => {
  let srv;
  let url;
  let dir;
  let tenantA; // prefix "tenant-a"
  let everyone; // prefix "": every id, searches included
  let otherKey; // signed by a key the server does not know

  async function mint(key, prefix) {
    const r = await cli(["token", "--private-key", key, "--prefix", prefix]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  }

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "resonate-cli-auth-"));
    const priv = path.join(dir, "priv.pem");
    const pub = path.join(dir, "pub.pem");
    const other = path.join(dir, "other.pem");
    execFileSync("openssl", ["genpkey", "-algorithm", "ed25519", "-out", priv]);
    execFileSync("openssl", ["pkey", "-in", priv, "-pubout", "-out", pub]);
    execFileSync("openssl", ["genpkey", "-algorithm", "ed25519", "-out", other]);
    srv = await startServer({ debug: false, args: ["--auth-publickey", pub] });
    url = srv.url;
    tenantA = await mint(priv, "tenant-a");
    everyone = await mint(priv, "");
    otherKey = await mint(other, "");
  });
  after(async () => {
    if (srv) await srv.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("resonate token given a directory as --private-key names it and the file to give", T, async () => {
    // It read "no unencrypted private key in 'DIR'".
    const r = await cli(["token", "--private-key", dir, "--prefix", ""]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, new RegExp(`^error: --private-key ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is a directory, not a file: give the PEM private key file itself`, "m"));
  });

  test("without a token every command is 401 with a hint", T, async () => {
    const cmds = [
      ["promises", "get", "tenant-a:x"],
      ["promises", "create", "tenant-a:x", "--timeout", "1h"],
      ["tasks", "get", "tenant-a:x"],
      ["schedules", "get", "tenant-a-s"],
      ["invoke", "tenant-a:x", "-f", "f"],
      ["tree", "tenant-a:x"],
    ];
    for (const args of cmds) {
      const r = await cli([...args, "-S", url]);
      assert.equal(r.code, 1, args.join(" "));
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^error: unauthorized(: .+)? — pass a token with -T or RESONATE_TOKEN$/m, args.join(" "));
    }
    // nothing was created
    const g = await srv.rpc("promise.get", { id: "tenant-a:x" }, { auth: everyone });
    assert.equal(g.status, 404);
  });

  test("a token the server cannot verify is 401 naming the token as the problem", T, async () => {
    for (const tok of ["not-a-jwt", otherKey]) {
      const r = await cli(["promises", "get", "tenant-a:x", "-S", url, "-T", tok]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: unauthorized.* — the server rejected the token/m);
    }
  });

  test("-T with a prefix token: its ids succeed, others are 403", T, async () => {
    const d = await cliJson(url, ["promises", "create", "tenant-a:1", "--timeout", "1h", "-T", tenantA]);
    assert.equal(d.promise.id, "tenant-a:1");
    const g = await cliJson(url, ["promises", "get", "tenant-a:1", "--token", tenantA]);
    assert.equal(g.promise.state, "pending");
    const inv = await cliJson(url, ["invoke", "tenant-a:job", "-f", "work", "-T", tenantA]);
    assert.equal(inv.promise.tags["resonate:target"], "poll://any@default");
    const t = await cliJson(url, ["tasks", "claim", "tenant-a:job", "--pid", "p", "--version", "0", "--ttl", "1m", "-T", tenantA]);
    assert.equal(t.task.version, 1);

    const cases = [
      ["promises", "create", "tenant-b:1", "--timeout", "1h"],
      ["promises", "get", "tenant-b:1"],
    ];
    for (const args of cases) {
      const r = await cli([...args, "-S", url, "-T", tenantA]);
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.stderr, /^error: forbidden(: .+)? — the token's prefix or role does not allow this request$/m, args.join(" "));
    }
    const b = await srv.rpc("promise.get", { id: "tenant-b:1" }, { auth: everyone });
    assert.equal(b.status, 404, "the forbidden create did not happen");
    // Searches (and tree, built on them) are scoped to the prefix
    // (DECISIONS #15): they answer only tenant-a ids.
    await srv.rpc("promise.create", { id: "tenant-b:2", timeoutAt: Date.now() + 3600_000, param: {}, tags: {} }, { auth: everyone });
    const ps = await cliJson(url, ["promises", "search", "-T", tenantA]);
    assert.ok(ps.promises.length > 0 && ps.promises.every((p) => p.id.startsWith("tenant-a")), JSON.stringify(ps));
    const ts = await cliJson(url, ["tasks", "search", "-T", tenantA]);
    assert.ok(ts.tasks.every((x) => x.id.startsWith("tenant-a")), JSON.stringify(ts));
    const ss = await cliJson(url, ["schedules", "search", "-T", tenantA]);
    assert.ok(ss.schedules.every((x) => x.id.startsWith("tenant-a")), JSON.stringify(ss));
    const tr = await cli(["tree", "tenant-a:1", "-S", url, "-T", tenantA]);
    assert.equal(tr.code, 0, tr.stderr);
  });

  test("RESONATE_TOKEN is used when -T is absent, and -T wins over it", T, async () => {
    const env = { RESONATE_TOKEN: tenantA, RESONATE_URL: url };
    const viaEnv = await cli(["promises", "create", "tenant-a:env", "--timeout", "1h", "--json"], { env });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(JSON.parse(viaEnv.stdout).promise.id, "tenant-a:env");

    // the env token cannot read tenant-b; the -T one can
    await srv.rpc("promise.create", { id: "tenant-b:env", timeoutAt: Date.now() + 3600_000, param: {}, tags: {} }, { auth: everyone });
    const envOnly = await cli(["promises", "get", "tenant-b:env"], { env });
    assert.equal(envOnly.code, 1);
    assert.match(envOnly.stderr, /^error: forbidden/m);
    const flag = await cli(["promises", "search", "--json", "-T", everyone], { env });
    assert.equal(flag.code, 0, flag.stderr);
    const ids = JSON.parse(flag.stdout).promises.map((p) => p.id);
    assert.ok(ids.includes("tenant-a:env") && ids.includes("tenant-a:1"), ids.join(","));

    // and a bad -T is not rescued by a good RESONATE_TOKEN
    const bad = await cli(["promises", "get", "tenant-a:env", "-T", "not-a-jwt"], { env: { RESONATE_TOKEN: everyone, RESONATE_URL: url } });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: unauthorized/m);
  });

  test("an admin-equivalent token (prefix \"\") runs every command", T, async () => {
    const tok = ["-T", everyone];
    await cliJson(url, ["promises", "create", "root", "--timeout", "1h", "--tags", '{"resonate:origin":"root"}', ...tok]);
    await cliJson(url, ["promises", "resolve", "root", "--value", '{"data":"ok"}', ...tok]);
    const s = await cliJson(url, ["schedules", "create", "s1", "--cron", "0 * * * *", "--promise-id", "s1-{{.timestamp}}", "--promise-timeout", "1m", "--target", "poll://any@default", ...tok]);
    assert.equal(s.schedule.id, "s1");
    const list = await cliJson(url, ["schedules", "search", ...tok]);
    assert.deepEqual(list.schedules.map((x) => x.id), ["s1"]);
    const tr = await cli(["tree", "root", "-S", url, ...tok]);
    assert.equal(tr.code, 0, tr.stderr);
    assert.equal(tr.stdout, "root 🟢\n");
  });
});
