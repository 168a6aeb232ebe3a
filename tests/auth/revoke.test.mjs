// revoke.test.mjs - the revocation list (auth.revoked, issue 15) against a
// running server: each entry kind (jti, sub, sub before a time) revokes
// exactly the tokens it names, also tokens already in the verified-token
// cache, once SIGHUP reloaded the file; a file with a bad line keeps the
// previous list at reload (the log names the line) and stops the server at
// start; `resonate token` mints a random jti by default and --jti sets one.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { test } from "node:test";
import { freePort, resonateBin } from "../node/lib/server.mjs";
import { Scope, assertEnvelope, call, jose, keyPair, nowS, openPoll, sign, sleep } from "./lib.mjs";

const T = 60_000;

async function until(pred, ms, what) {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${ms} ms`);
    await sleep(25);
  }
}

function run(args) {
  return new Promise((resolve) => {
    execFile(resonateBin(), args, { timeout: 20000 }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

/** A server with auth and a revocation list file; reload(text) rewrites it and sends SIGHUP. */
async function setup(t, initial = "# nothing revoked yet\n", args = []) {
  const scope = new Scope(t);
  const k = await keyPair("Ed25519");
  const priv = await jose.importPKCS8(k.pkcs8, "EdDSA");
  const list = scope.file("revoked.txt", initial);
  const keyFile = scope.file("k.pem", k.pem);
  const srv = await scope.server({ keyFile, args: ["--auth-revoked", list, ...args] });
  let reloads = 0;
  // A successful reload ends by verifying the open poll streams again.
  const reload = async (text, expect = /SIGHUP: open poll streams verified again/) => {
    writeFileSync(list, text);
    const seen = (srv.stderr().match(new RegExp(expect.source, "g")) ?? []).length;
    srv.child.kill("SIGHUP");
    reloads++;
    await until(() => (srv.stderr().match(new RegExp(expect.source, "g")) ?? []).length > seen, 10000, `reload ${reloads}`);
  };
  const token = (claims) => sign({ prefix: "", exp: nowS() + 600, ...claims }, { alg: "EdDSA" }, priv);
  return { scope, srv, k, priv, keyFile, list, reload, token };
}

/** promise.get of an absent id: 404 when the token passes, 401 otherwise. */
async function outcome(srv, token, header = false) {
  const res = await call(srv, "promise.get", { id: "nothing-here" }, header ? { header: `Bearer ${token}` } : { token });
  if (res.status === 401) assertEnvelope(res, 401, "promise.get", res.corrId, "token revoked");
  else assert.equal(res.status, 404, res.text);
  return res.status;
}

test("each revocation entry kind revokes exactly what it names, under the token cache, across a SIGHUP", { timeout: T }, async (t) => {
  const metricsPort = await freePort();
  const { srv, reload, token } = await setup(t, undefined, ["--observability-metrics-port", String(metricsPort)]);
  const now = nowS();
  const cut = now - 500;
  const tokens = {
    jti: await token({ jti: "leak-1", sub: "svc" }),
    jtiOther: await token({ jti: "leak-2", sub: "svc" }),
    sub: await token({ jti: "m-1", sub: "mallory", iat: now }),
    subLike: await token({ sub: "mallory2" }),
    bobOld: await token({ sub: "bob", iat: cut - 1 }),
    bobAtCut: await token({ sub: "bob", iat: cut }),
    bobNew: await token({ sub: "bob", iat: now }),
    bobNoIat: await token({ sub: "bob" }),
  };
  // Every token passes, twice (the second from the cache).
  for (const [name, tok] of Object.entries(tokens)) {
    assert.equal(await outcome(srv, tok), 404, name);
    assert.equal(await outcome(srv, tok, true), 404, name);
  }
  await reload(`# incident 42\njti leak-1\nsub mallory   # all of them\nsub bob before ${cut}\n`);
  assert.match(srv.stderr(), /SIGHUP: revocation list reloaded \(1 jti, 2 sub\)/);
  const want = { jti: 401, jtiOther: 404, sub: 401, subLike: 404, bobOld: 401, bobAtCut: 404, bobNew: 404, bobNoIat: 401 };
  for (const [name, tok] of Object.entries(tokens)) {
    assert.equal(await outcome(srv, tok), want[name], `${name} in head.auth`);
    assert.equal(await outcome(srv, tok, true), want[name], `${name} in Authorization`);
  }
  // /poll refuses a revoked token too.
  const poll = await openPoll(srv, "g", "w", { header: `Bearer ${tokens.sub}` });
  assert.equal(poll.status, 401);
  const ok = await openPoll(srv, "g", "w", { header: `Bearer ${tokens.subLike}` });
  assert.equal(ok.status, 200);
  ok.close();
  // Counted under its own reason.
  const m = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text());
  const revoked = Number(/resonate_auth_failures_total\{reason="revoked"\} (\d+)/.exec(m)?.[1]);
  assert.ok(revoked >= 9, `revoked failures counted: ${revoked}`);
  // Taking an entry off the list restores the token.
  await reload(`sub mallory\n`);
  assert.equal(await outcome(srv, tokens.jti), 404);
  assert.equal(await outcome(srv, tokens.bobOld), 404);
  assert.equal(await outcome(srv, tokens.sub), 401);
});

// Review finding: a /poll stream was checked only when it opened, so a
// leaked token kept hearing its tenant's messages after its revocation.
test("a revocation ends the open /poll streams of the tokens it names, and only those", { timeout: T }, async (t) => {
  const { srv, reload, token } = await setup(t);
  const leaked = await token({ jti: "leak-1", sub: "svc" });
  const kept = await token({ jti: "keep-1", sub: "svc" });
  const byHeader = await openPoll(srv, "g", "w1", { header: `Bearer ${leaked}` });
  const byQuery = await openPoll(srv, "g", "w2", { query: `?token=${leaked}` });
  const other = await openPoll(srv, "g", "w3", { header: `Bearer ${kept}` });
  for (const p of [byHeader, byQuery, other]) assert.equal(p.status, 200, p.text);
  await reload("jti leak-1\n");
  assert.match(srv.stderr(), /SIGHUP: revocation list reloaded \(1 jti, 0 sub\)/);
  assert.match(srv.stderr(), /SIGHUP: open poll streams verified again: 2 ended; tokens refused: revoked 1\n/);
  await until(() => byHeader.closed && byQuery.closed, 5000, "the leaked token's streams end");
  await sleep(300);
  assert.equal(other.closed, false, "another token's stream stays open");
  const again = await openPoll(srv, "g", "w1", { header: `Bearer ${leaked}` });
  assert.equal(again.status, 401, "and the reconnect is refused");
  assert.equal(again.text, "Unauthorized: token revoked", "with the reason");
  other.close();
  srv.assertHealthy();
});

/**
 * Waits (8 s at most) for stream `ending` to end while `staying` stays open;
 * then a reconnect with `token` must be 401 with `reason`. Closes `staying`.
 */
async function endsAlone(srv, ending, staying, token, reason) {
  await until(() => ending.closed, 8000, `the stream ends (${reason})`);
  await sleep(300);
  assert.equal(staying.closed, false, "a valid token's stream stays open");
  const again = await openPoll(srv, "g", "w1", { header: `Bearer ${token}` });
  assert.equal(again.status, 401);
  assert.equal(again.text, `Unauthorized: ${reason}`, "the reconnect is told why");
  staying.close();
  srv.assertHealthy();
}

// Review finding: a /poll stream outlived its token's exp (it was verified
// only when it opened).
test("a /poll stream ends when its token expires (exp + auth.leeway); the reconnect is 401 token expired", { timeout: T }, async (t) => {
  const { srv, token } = await setup(t, undefined, ["--auth-leeway", "1", "--transports-http-poll-keepalive", "200"]);
  const exp = nowS() + 2;
  const short = await token({ exp });
  const long = await token({});
  const ending = await openPoll(srv, "g", "w1", { header: `Bearer ${short}` });
  const staying = await openPoll(srv, "g", "w2", { query: `?token=${long}` });
  for (const p of [ending, staying]) assert.equal(p.status, 200, p.text);
  await sleep(1000);
  assert.equal(ending.closed, false, "open while the token is valid");
  await endsAlone(srv, ending, staying, short, "token expired");
  assert.ok(nowS() > exp + 1, `ended after exp + leeway (now ${nowS()}, exp ${exp})`);
});

// Review finding: a key reload that removed the key a stream's token was
// signed with left the stream open.
test("a key reload ends the /poll streams of tokens the new key set does not verify, and only those", { timeout: T }, async (t) => {
  const { srv, k, keyFile, reload, token } = await setup(t);
  const k2 = await keyPair("Ed25519");
  const priv2 = await jose.importPKCS8(k2.pkcs8, "EdDSA");
  writeFileSync(keyFile, `${k.pem}\n${k2.pem}`);
  await reload("# none\n");
  assert.match(srv.stderr(), /SIGHUP: auth keys reloaded \(2 keys: Ed25519, Ed25519\)/);
  const byOld = await token({});
  const byNew = await sign({ prefix: "", exp: nowS() + 600 }, { alg: "EdDSA" }, priv2);
  const oldStream = await openPoll(srv, "g", "w1", { header: `Bearer ${byOld}` });
  const newStream = await openPoll(srv, "g", "w2", { header: `Bearer ${byNew}` });
  for (const p of [oldStream, newStream]) assert.equal(p.status, 200, p.text);
  writeFileSync(keyFile, k2.pem); // the first key is retired
  await reload("# none\n");
  assert.match(srv.stderr(), /SIGHUP: open poll streams verified again: 1 ended; tokens refused: bad_signature 1\n/);
  await endsAlone(srv, oldStream, newStream, byOld, "bad signature");
});

test("an unparsable revocation file at reload keeps the previous list and logs the line number", { timeout: T }, async (t) => {
  const { srv, reload, token } = await setup(t, "jti leak-1\n");
  const a = await token({ jti: "leak-1" });
  const b = await token({ jti: "leak-2" });
  assert.equal(await outcome(srv, a), 401);
  assert.equal(await outcome(srv, b), 404);
  await reload("jti leak-2\n\nsub\n", /SIGHUP: revocation list reload failed, keeping the previous list: .*line 3/);
  assert.match(srv.stderr(), /revocation file '.*revoked\.txt' line 3: not an entry starting with `sub`/);
  assert.equal(await outcome(srv, a), 401, "the previous list still applies");
  assert.equal(await outcome(srv, b), 404, "nothing of the bad file applies");
  await reload("jti leak-2\nsub x before tomorrow\n", /revocation list reload failed.*line 2/);
  assert.equal(await outcome(srv, a), 401);
  await reload("jti leak-2\n");
  assert.equal(await outcome(srv, a), 404);
  assert.equal(await outcome(srv, b), 401);
  srv.assertHealthy();
});

// Review finding: a list read while being written in place parses as a
// shorter one; a reload that loses more than half of it says so.
test("a reload that loses more than half of the revocation list warns, naming the atomic rename", { timeout: T }, async (t) => {
  const { srv, reload } = await setup(t, "jti a\njti b\nsub c\nsub d\n");
  const warn = /SIGHUP: the revocation list shrank from (\d+) to (\d+) entries.*write it aside and rename it over the path \(atomic\)/g;
  await reload("jti a\njti b\nsub c\n");
  await reload("jti a\njti b\n");
  assert.deepEqual([...srv.stderr().matchAll(warn)].map((m) => [m[1], m[2]]), [], "a third, then a half: no warning");
  await reload("# emptied by a writer caught mid-write\n");
  assert.deepEqual([...srv.stderr().matchAll(warn)].map((m) => [m[1], m[2]]), [["2", "0"]]);
  srv.assertHealthy();
});

test("an unparsable revocation file at start refuses to start, naming the line", { timeout: T }, async (t) => {
  const scope = new Scope(t);
  const k = await keyPair("Ed25519");
  const key = scope.file("k.pem", k.pem);
  const bad = scope.file("bad.txt", "jti ok\n# fine\nrevoke everything\n");
  const res = await run(["dev", "--server-port", String(await freePort()), "--server-bind", "127.0.0.1",
    "--observability-metrics-port", "0", "--auth-publickey", key, "--auth-revoked", bad]);
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /Fatal: .*revocation file '.*bad\.txt' line 3: not an entry/);
  const missing = await run(["dev", "--server-port", "0", "--auth-publickey", key, "--auth-revoked", `${bad}.missing`]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read revocation file/);
  const noAuth = await run(["dev", "--server-port", "0", "--auth-revoked", bad]);
  assert.equal(noAuth.code, 1);
  assert.match(noAuth.stderr, /auth\.revoked is set but auth\.publickey is not/);
});

test("resonate token mints a random jti by default, --jti sets one to revoke that token alone, --jti and --sub refuse what no entry can name", { timeout: T }, async (t) => {
  const scope = new Scope(t);
  const k = await keyPair("Ed25519");
  const privFile = scope.file("private.pem", k.pkcs8);
  const list = scope.file("revoked.txt", "");
  const srv = await scope.server({ keyFile: scope.file("k.pem", k.pem), args: ["--auth-revoked", list] });
  const mint = async (...args) => {
    const r = await run(["token", "--private-key", privFile, "--prefix", "", ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const claims = (tok) => JSON.parse(Buffer.from(tok.split(".")[1], "base64url").toString());
  const named = await mint("--jti", "ci-runner-7");
  const r1 = await mint();
  const r2 = await mint();
  assert.equal(claims(named).jti, "ci-runner-7");
  assert.match(claims(r1).jti, /^[A-Za-z0-9_-]{22}$/);
  assert.notEqual(claims(r1).jti, claims(r2).jti);
  assert.equal("jti" in claims(await mint("--jti", "")), false);
  // Review finding: a jti no revocation entry can name is refused, saying why.
  for (const bad of ["two words", "#hash", "tab\there"]) {
    const r = await run(["token", "--private-key", privFile, "--prefix", "", "--jti", bad]);
    assert.equal(r.code, 2, `--jti ${JSON.stringify(bad)}: ${r.stdout}`);
    assert.match(r.stderr, /^error: --jti .*no revocation entry could name it; choose another\n$/);
  }
  // Review finding: so is a subject, which `sub` entries name.
  for (const bad of ["two words", "#hash", "tab\there", "x".repeat(1025), ""]) {
    const r = await run(["token", "--private-key", privFile, "--prefix", "", "--sub", bad]);
    assert.equal(r.code, 2, `--sub ${JSON.stringify(bad)}: ${r.stdout}`);
    assert.equal(r.stdout, "", "no token printed");
    assert.match(r.stderr, /^error: --sub .*no revocation entry could name it; choose .*\n$/);
  }
  const subbed = await mint("--sub", "ci-runner#7");
  assert.equal(claims(subbed).sub, "ci-runner#7");
  for (const tok of [named, r1, r2]) assert.equal(await outcome(srv, tok), 404);
  writeFileSync(list, `jti ci-runner-7\njti ${claims(r2).jti}\n`);
  srv.child.kill("SIGHUP");
  await until(() => /revocation list reloaded \(2 jti, 0 sub\)/.test(srv.stderr()), 10000, "reload");
  assert.equal(await outcome(srv, named), 401);
  assert.equal(await outcome(srv, r1), 404);
  assert.equal(await outcome(srv, r2), 401);
});
