// sdk.test.mjs - authentication and prefix authorization end to end with
// the real TypeScript SDK: 0.11.4 (the `prefix` option) with a matching and
// a mismatched prefix, 0.11.5 with a token scoped to the ids it uses, and the
// two flows of the public example resonatehq-examples/example-token-auth-ts
// (RSA keys from openssl, tokens from `resonate token`, server started with
// the legacy --api-auth-public-key as that example's README does).
//
// The SDK sends the token both as `Authorization: Bearer` and in head.auth,
// and on its /poll stream in the header; 401/403 surface in the SDK as a
// ResonateTimeoutException("HTTP 401"/"HTTP 403") (operations.md 3.9).
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { resonateBin } from "../node/lib/server.mjs";
import { Scope, call, keyPair, nowS, sign, snap } from "./lib.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const T = 60_000; // hard limit of each test, ms
const FAST = ["--timeouts-poll-interval", "100", "--messages-poll-interval", "50", "--tasks-retry-timeout", "1000"];

const sdks = new Map();
async function loadSdk(version) {
  if (!sdks.has(version)) {
    const file = path.resolve(HERE, `../node/node_modules/sdk-${version}/dist/src/index.js`);
    sdks.set(version, await import(`file://${file}`));
  }
  return sdks.get(version);
}

/** Rejects when p has not settled after ms. */
function within(ms, p, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** An SDK logger keeping warnings and errors (printed when a test fails). */
function memoryLogger() {
  const lines = [];
  const keep = (level) => (fields, msg) => lines.push(`${level} ${msg} ${JSON.stringify(fields)}`);
  return { lines, debug() {}, info() {}, warn: keep("warn"), error: keep("error") };
}

let pidSeq = 0;

/** A Resonate instance of SDK version that is stopped when the test ends. */
async function client(scope, version, opts) {
  const { Resonate } = await loadSdk(version);
  const logger = memoryLogger();
  const r = new Resonate({ pid: `auth-${process.pid}-${++pidSeq}`, logger, ...opts });
  r.logLines = logger.lines;
  scope.defer(() => within(5000, Promise.resolve(r.stop()), "sdk stop"));
  return r;
}

/** A workflow with a local step and an rpc through the server to group. */
function registerWorkflow(r, group) {
  r.register("double", (ctx, x) => x * 2);
  function* wf(ctx, x) {
    const a = yield* ctx.run((c, y) => y + 1, x);
    const b = yield* ctx.rpc("double", a, ctx.options({ target: group }));
    return { a, b };
  }
  return r.register("auth_wf", wf);
}

/**
 * Asserts that p fails (rejects, or has not succeeded after ms) and returns
 * the error text; an SDK run that succeeds is a failure of the test.
 */
async function expectFailure(p, ms, what) {
  let outcome;
  try {
    const v = await within(ms, p, what);
    outcome = { ok: true, v };
  } catch (e) {
    outcome = { ok: false, e };
  }
  assert.ok(!outcome.ok, `${what}: succeeded with ${JSON.stringify(outcome.v)}`);
  return String(outcome.e?.message ?? outcome.e);
}

/**
 * Runs the example's workflow in a child process (sdk-child.mjs) and
 * resolves to its one line of outcome; the child is killed after ms.
 */
function runInChild(scope, cfg, ms) {
  const child = spawn(process.execPath,
    ["--import", path.resolve(HERE, "../node/polyfill.mjs"), path.join(HERE, "sdk-child.mjs"), JSON.stringify(cfg)],
    { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  scope.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (c) => (out += c));
  child.stderr.on("data", (c) => (err += c));
  return within(ms, exited.then(() => out.trim() || `no output (stderr: ${err.slice(-2000)})`), `child ${cfg.id}`);
}

async function adminToken(k, alg) {
  return sign({ role: "admin", exp: nowS() + 600 }, { alg }, k.privateKey);
}

test("[sdk 0.11.4] token prefix tenantA + SDK prefix tenantA: the workflow runs under tenantA: ids", { timeout: T }, async (t) => {
  const scope = new Scope(t);
  const k = await keyPair("Ed25519");
  const srv = await scope.server({ keyFile: scope.file("ed.pem", k.pem), args: FAST });
  const token = await sign({ prefix: "tenantA", exp: nowS() + 600 }, { alg: "EdDSA" }, k.privateKey);
  const r = await client(scope, "0.11.4", { url: srv.url, group: "ga", token, prefix: "tenantA" });
  const f = registerWorkflow(r, "ga");
  const out = await within(20000, f.run("wf-1", 1), "run");
  assert.deepEqual(out, { a: 2, b: 4 });
  // A second handle through get (prefix applied there too).
  const h = await within(10000, r.get("wf-1"), "get");
  assert.deepEqual(await within(10000, h.result(), "result"), { a: 2, b: 4 });
  const store = await snap(srv, await adminToken(k, "EdDSA"));
  const ids = store.promises.map((p) => p.id);
  assert.ok(ids.includes("tenantA:wf-1"), ids.join(" "));
  assert.ok(ids.length >= 3, ids.join(" "));
  assert.ok(ids.every((id) => id.startsWith("tenantA:")), ids.join(" "));
  assert.ok(store.promises.every((p) => p.state === "resolved"), JSON.stringify(store.promises));
  assert.deepEqual(r.logLines.filter((l) => /server_error_40[13]/.test(l)), []);
});

test("[sdk 0.11.4] token prefix tenantA + SDK prefix tenantB: fails at once with 403, server unharmed", { timeout: T }, async (t) => {
  const scope = new Scope(t);
  const k = await keyPair("Ed25519");
  const srv = await scope.server({ keyFile: scope.file("ed.pem", k.pem), args: FAST });
  const token = await sign({ prefix: "tenantA", exp: nowS() + 600 }, { alg: "EdDSA" }, k.privateKey);
  const bad = await client(scope, "0.11.4", { url: srv.url, group: "gb", token, prefix: "tenantB" });
  const fb = registerWorkflow(bad, "gb");
  const started = Date.now();
  const err = await expectFailure(fb.run("wf-2", 1), 15000, "mismatched run");
  assert.match(err, /403/, err);
  assert.ok(Date.now() - started < 15000);
  assert.ok(bad.logLines.some((l) => l.includes("server_error_403")), bad.logLines.join("\n"));
  const admin = await adminToken(k, "EdDSA");
  const store = await snap(srv, admin);
  assert.deepEqual(store.promises, [], "the forbidden run wrote something");
  // The same server still serves a well-configured client.
  const good = await client(scope, "0.11.4", { url: srv.url, group: "ga", token, prefix: "tenantA" });
  const fg = registerWorkflow(good, "ga");
  assert.deepEqual(await within(20000, fg.run("wf-2", 5), "good run"), { a: 6, b: 12 });
  srv.assertHealthy();
});

test("[sdk 0.11.5] a token scoped to the ids of one workflow runs it and nothing else", { timeout: T }, async (t) => {
  const scope = new Scope(t);
  const k = await keyPair("RSA");
  const srv = await scope.server({ keyFile: scope.file("rsa.pem", k.pem), args: FAST });
  // 0.11.5 has no prefix option: children are named root:N, so the root id
  // is the prefix of everything the workflow touches.
  const token = await sign({ prefix: "order-17", exp: nowS() + 600 }, { alg: "RS256" }, k.privateKey);
  const r = await client(scope, "0.11.5", { url: srv.url, group: "gs", token });
  const f = registerWorkflow(r, "gs");
  assert.deepEqual(await within(20000, f.run("order-17", 10), "scoped run"), { a: 11, b: 22 });
  const admin = await adminToken(k, "RS256");
  const ids = (await snap(srv, admin)).promises.map((p) => p.id);
  assert.ok(ids.length >= 3 && ids.every((id) => id.startsWith("order-17")), ids.join(" "));
  const err = await expectFailure(f.run("order-18", 1), 15000, "run outside the scope");
  assert.match(err, /403/, err);
  const after = (await snap(srv, admin)).promises.map((p) => p.id);
  assert.ok(!after.some((id) => id.startsWith("order-18")), after.join(" "));
});

/** openssl RSA keys and `resonate token`, as the example's README does. */
function exampleKeys(scope) {
  const dir = scope.tmpdir();
  const priv = path.join(dir, "private_key.pem");
  const pub = path.join(dir, "public_key.pem");
  execFileSync("openssl", ["genrsa", "-out", priv, "2048"], { stdio: "ignore" });
  execFileSync("openssl", ["rsa", "-in", priv, "-pubout", "-out", pub], { stdio: "ignore" });
  const token = (...args) =>
    execFileSync(resonateBin(), ["token", "--private-key", priv, ...args], { encoding: "utf8" }).trim();
  return { dir, priv, pub, token };
}

/** The example's workflow (helloAuth) registered as "workflow". */
function exampleWorkflow(r) {
  function* helloAuth(ctx, greeting) {
    return yield* ctx.run((c) => `${greeting} world!`);
  }
  return r.register("workflow", helloAuth);
}

for (const version of ["0.11.4", "0.11.5"]) {
  test(`[sdk ${version}] example token-auth: prefix "" token runs workflow.id and workflow.rpc.id; no token or a foreign key fails`, { timeout: T }, async (t) => {
    const scope = new Scope(t);
    const ex = exampleKeys(scope);
    const srv = await scope.server({ mode: "serve", keyFile: ex.pub, flag: "--api-auth-public-key", args: FAST });
    const myToken = ex.token("--prefix", "");
    const r = await client(scope, version, { url: srv.url, token: myToken });
    const workflow = exampleWorkflow(r);
    assert.equal(await within(20000, workflow.run("workflow.id", "hello"), "run"), "hello world!");
    assert.equal(await within(20000, workflow.rpc("workflow.rpc.id", "hello rpc"), "rpc"), "hello rpc world!");
    for (const id of ["workflow.id", "workflow.rpc.id"]) {
      const res = await call(srv, "promise.get", { id }, { token: myToken });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.data.promise.state, "resolved", id);
    }

    // "Trying to run this example without setting a correct token" fails.
    // (In a child process: see sdk-child.mjs.)
    const noAuth = await runInChild(scope, { version, url: srv.url, group: "noauth", id: "workflow.noauth", arg: "hello" }, 20000);
    assert.match(noAuth, /^err .*401/, noAuth);
    const other = exampleKeys(scope);
    const foreign = await runInChild(scope, {
      version, url: srv.url, group: "foreign", token: other.token("--prefix", ""), id: "workflow.foreign", arg: "hello",
    }, 20000);
    assert.match(foreign, /^err .*401/, foreign);
    for (const id of ["workflow.noauth", "workflow.foreign"]) {
      assert.equal((await call(srv, "promise.get", { id }, { token: myToken })).status, 404, id);
    }
    srv.assertHealthy();
  });
}

test("[sdk 0.11.4] example prefix-authz: worker-1 token + prefix worker-1 runs worker-1:workflow.id; prefix not-worker fails", { timeout: T }, async (t) => {
  const scope = new Scope(t);
  const ex = exampleKeys(scope);
  const srv = await scope.server({ mode: "serve", keyFile: ex.pub, flag: "--api-auth-public-key", args: FAST });
  const myToken = ex.token("--prefix", "worker-1");
  const r = await client(scope, "0.11.4", { url: srv.url, token: myToken, prefix: "worker-1" });
  const workflow = exampleWorkflow(r);
  assert.equal(await within(20000, workflow.run("workflow.id", "hello"), "run"), "hello world!");
  assert.equal(await within(20000, workflow.rpc("workflow.rpc.id", "hello rpc"), "rpc"), "hello rpc world!");
  const admin = ex.token("--role", "admin");
  for (const id of ["worker-1:workflow.id", "worker-1:workflow.rpc.id"]) {
    const res = await call(srv, "promise.get", { id }, { token: admin });
    assert.equal(res.status, 200, `${id}: ${res.text}`);
    assert.equal(res.body.data.promise.state, "resolved", id);
  }
  // "The same can be achieved by passing worker-1:workflow.id explicitly."
  const plain = await client(scope, "0.11.4", { url: srv.url, group: "plain", token: myToken });
  const wf2 = exampleWorkflow(plain);
  assert.equal(await within(20000, wf2.run("worker-1:workflow.explicit", "hi"), "explicit id"), "hi world!");

  // "without setting a token with the correct prefix" fails (403).
  const wrong = await client(scope, "0.11.4", { url: srv.url, group: "wrong", token: myToken, prefix: "not-worker" });
  const err = await expectFailure(exampleWorkflow(wrong).run("workflow.id", "hello"), 15000, "prefix not-worker");
  assert.match(err, /403/, err);
  const res = await call(srv, "promise.get", { id: "not-worker:workflow.id" }, { token: admin });
  assert.equal(res.status, 404);
  srv.assertHealthy();
});
