// lib.mjs - helpers of the operations tests: run the binary, raw HTTP with
// full control of headers, keys and tokens, temporary directories.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, resonateBin, startServer } from "../node/lib/server.mjs";

export { freePort, resonateBin, startServer };
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The environment without RESONATE_* variables (so the host's cannot leak in), plus extra. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^RESONATE_/i.test(k)) env[k] = v;
  env.ASAN_OPTIONS ??= "detect_leaks=1";
  return { ...env, ...extra };
}

/** A temporary directory removed when the test ends. */
export function tempDir(t) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-ops-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `resonate ...args` to completion; returns {code, stdout, stderr}. */
export function run(args, { env = {}, cwd = REPO, timeoutMs = 20000 } = {}) {
  const r = spawnSync(resonateBin(), args, { cwd, env: cleanEnv(env), encoding: "utf8", timeout: timeoutMs });
  if (r.error) throw r.error;
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Starts `resonate ...args` in the background; resolves once its stderr
 * contains `until` (a RegExp). Returns {child, stderr(), exited}.
 */
export async function launch(args, { env = {}, cwd = REPO, until = /Server listening/, timeoutMs = 20000 } = {}) {
  const child = spawn(resonateBin(), args, { cwd, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  child.stdout.on("data", () => {});
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  const deadline = Date.now() + timeoutMs;
  let done = false;
  exited.then(() => (done = true));
  while (!until.test(err)) {
    if (done || Date.now() > deadline) break;
    await sleep(20);
  }
  return { child, stderr: () => err, exited };
}

/** One HTTP request to 127.0.0.1:port with exactly the given headers. */
export function httpRequest(port, method, urlPath, { headers = {}, body, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: urlPath, headers, timeout: timeoutMs }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** An Ed25519 key pair in dir (private.pem, public.pem) made with openssl. */
export function makeKeys(dir) {
  const priv = path.join(dir, "private.pem");
  const pub = path.join(dir, "public.pem");
  for (const args of [["genpkey", "-algorithm", "ed25519", "-out", priv], ["pkey", "-in", priv, "-pubout", "-out", pub]]) {
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  }
  return { priv, pub };
}

/** A token from `resonate token` (extra: more flags, e.g. ["--prefix", "a"]). */
export function mintToken(priv, extra) {
  const r = run(["token", "--private-key", priv, ...extra]);
  if (r.code !== 0) throw new Error(`resonate token: ${r.stderr}`);
  return r.stdout.trim();
}

export function writeFile(dir, name, text) {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** An envelope body for POST /. */
export function envelope(kind, data, head = {}) {
  return JSON.stringify({ kind, head: { corrId: `ops-${Math.random().toString(36).slice(2)}`, version: "2026-04-01", ...head }, data });
}
