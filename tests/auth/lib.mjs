// lib.mjs - shared pieces of the auth tests (tokens.test.mjs, sdk.test.mjs):
// keys and tokens made with `jose` (an implementation independent of
// auth/), a server started with --auth-publickey, envelopes sent with a
// token in head.auth or the Authorization header, and the checks every
// rejection must pass (well-formed envelope, reason named, store unchanged).
//
// A Scope owns what a test started (servers, temporary directories) and
// removes it in t.after, also when the test failed or timed out.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PROTOCOL_VERSION, readSse, startServer } from "../node/lib/server.mjs";

export { PROTOCOL_VERSION, startServer };

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.resolve(HERE, "../node/package.json"));
export const jose = require("jose");

export const ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

/** The key family each algorithm needs (one server key per family). */
export const FAMILY = {
  RS256: "RSA", RS384: "RSA", RS512: "RSA", PS256: "RSA", PS384: "RSA", PS512: "RSA",
  ES256: "P-256", ES384: "P-384", EdDSA: "Ed25519",
};

/** The algorithm used to generate a key of each family. */
export const FAMILY_ALG = { RSA: "RS256", "P-256": "ES256", "P-384": "ES384", Ed25519: "EdDSA" };

export const nowS = () => Math.floor(Date.now() / 1000);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const b64 = (s) => Buffer.from(s).toString("base64url");

/** A fresh key pair of a family: {family, publicKey, privateKey, pem (SPKI), pkcs8}. */
export async function keyPair(family) {
  const alg = FAMILY_ALG[family];
  const opts = { extractable: true };
  if (family === "Ed25519") opts.crv = "Ed25519";
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, opts);
  return {
    family,
    publicKey,
    privateKey,
    pem: await jose.exportSPKI(publicKey),
    pkcs8: await jose.exportPKCS8(privateKey),
  };
}

/** A JWK of the key's public half with kid (for JWKS files). */
export async function publicJwk(k, kid) {
  return { ...(await jose.exportJWK(k.publicKey)), kid, use: "sig" };
}

/** Signs claims with key; header defaults to {alg}. */
export function sign(claims, header, key) {
  return new jose.SignJWT(claims).setProtectedHeader(header).sign(key);
}

/** A token whose three segments are made by hand (for malformed ones). */
export function handToken(header, claims, sig = "") {
  const enc = (x) => (typeof x === "string" ? x : b64(JSON.stringify(x)));
  return `${enc(header)}.${enc(claims)}.${sig}`;
}

/** A unique string starting with p (ids, corrIds). */
let seq = 0;
export const uniq = (p) => `${p}${process.pid}-${++seq}`;

/** Everything one test started; closed in t.after. */
export class Scope {
  constructor(t) {
    this.t = t;
    this.servers = [];
    this.dirs = [];
    this.closers = [];
    t.after(() => this.close());
  }

  tmpdir() {
    const d = mkdtempSync(path.join(os.tmpdir(), "resonate-auth-"));
    this.dirs.push(d);
    return d;
  }

  /** Writes text to a new file in a scope directory; returns its path. */
  file(name, text) {
    if (!this.dir) this.dir = this.tmpdir();
    const p = path.join(this.dir, name);
    writeFileSync(p, text);
    return p;
  }

  /**
   * Starts `resonate dev --debug` with auth on: keyFile is the path given
   * to --auth-publickey (flag overrides the flag name, e.g. the legacy
   * --api-auth-public-key); args are extra flags.
   */
  async server({ keyFile, flag = "--auth-publickey", args = [], debug = true, ...rest } = {}) {
    const h = await startServer({
      debug,
      ...rest,
      args: [...(keyFile ? [flag, keyFile] : []), ...args],
    });
    this.servers.push(h);
    return h;
  }

  /** Registers a cleanup (SDK instances, open streams) run before servers stop. */
  defer(fn) {
    this.closers.push(fn);
  }

  async close() {
    const errors = [];
    for (const fn of this.closers.splice(0).reverse()) {
      try {
        await fn();
      } catch (e) {
        errors.push(e);
      }
    }
    for (const h of this.servers.splice(0).reverse()) {
      try {
        await h.stop();
      } catch (e) {
        errors.push(e);
      }
    }
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    if (errors.length) throw errors[0];
  }
}

/**
 * POSTs {kind, head:{corrId, version, auth?}, data} to /. token goes to
 * head.auth (unless undefined), header to `Authorization` verbatim; head
 * adds head fields. Resolves to {status, body, corrId, text}.
 */
export async function call(srv, kind, data, { token, header, head = {}, corrId = uniq("c") } = {}) {
  const env = {
    kind,
    head: { corrId, version: PROTOCOL_VERSION, ...(token !== undefined ? { auth: token } : {}), ...head },
    data,
  };
  const headers = { "content-type": "application/json" };
  if (header !== undefined) headers.authorization = header;
  const res = await srv.request("POST", "/", { body: JSON.stringify(env), headers });
  let body;
  try {
    body = JSON.parse(res.text);
  } catch {
    body = res.text;
  }
  return { status: res.status, body, corrId, text: res.text };
}

/**
 * Asserts res is a protocol envelope with HTTP status = head.status =
 * status, kind and corrId echoed and, when reason is given, a data text
 * naming it ("Unauthorized: ..." for 401, "Forbidden: ..." for 403).
 */
export function assertEnvelope(res, status, kind, corrId, reason, what = "") {
  const ctx = `${what} -> ${res.status} ${res.text.slice(0, 300)}`;
  assert.equal(res.status, status, ctx);
  assert.equal(typeof res.body, "object", `not a JSON envelope: ${ctx}`);
  assert.equal(res.body.kind, kind, ctx);
  assert.equal(res.body.head?.corrId, corrId, ctx);
  assert.equal(res.body.head?.status, status, ctx);
  assert.equal(res.body.head?.version, PROTOCOL_VERSION, ctx);
  if (reason !== undefined) {
    const lead = status === 401 ? "Unauthorized: " : status === 403 ? "Forbidden: " : "";
    assert.equal(typeof res.body.data, "string", ctx);
    assert.ok(res.body.data.startsWith(lead), `message should start with "${lead}": ${ctx}`);
    if (reason instanceof RegExp) assert.match(res.body.data, reason, ctx);
    else assert.ok(res.body.data.includes(reason), `message should name "${reason}": ${ctx}`);
  }
}

/** The whole store, through debug.snap with an admin token. */
export async function snap(srv, adminToken) {
  const res = await call(srv, "debug.snap", {}, { token: adminToken });
  assert.equal(res.status, 200, `debug.snap: ${res.text}`);
  return res.body.data;
}

/** data of a promise.create with a far timeout. */
export function createData(id, tags = {}) {
  return { id, timeoutAt: Date.now() + 3600_000, param: {}, tags };
}

/**
 * Opens GET /poll/<group>/<id> and collects its SSE frames. Resolves once
 * the response head arrived: {status, contentType, text (non-2xx body),
 * messages (parsed `data:` frames), waitFor(pred, ms), close()}.
 */
export async function openPoll(srv, group, id, { header, query = "" } = {}) {
  const ctl = new AbortController();
  const headers = {};
  if (header !== undefined) headers.authorization = header;
  const res = await fetch(`${srv.url}/poll/${group}/${id}${query}`, { headers, signal: ctl.signal });
  const out = {
    status: res.status,
    contentType: res.headers.get("content-type"),
    messages: [],
    text: "",
    closed: false,
    waiters: [],
    close() {
      if (!out.closed) {
        out.closed = true;
        ctl.abort();
      }
    },
    /** Resolves with the first message satisfying pred, or rejects after ms. */
    async waitFor(pred, ms, what) {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = out.messages.find(pred);
        if (hit) return hit;
        if (Date.now() > deadline) {
          throw new Error(`poll ${group}/${id}: ${what} not received after ${ms} ms; got ${JSON.stringify(out.messages)}`);
        }
        await sleep(25);
      }
    },
  };
  if (res.status !== 200) {
    out.text = await res.text();
    out.closed = true;
    return out;
  }
  (async () => {
    try {
      await readSse(res.body, (m) => out.messages.push(m));
    } catch {
      // aborted by close(), or the server went away
    }
    out.closed = true;
  })();
  return out;
}
