// lib.mjs - shared pieces of the end-to-end tests: the real TypeScript SDK
// (both generations) driving a resonate process started by
// tests/node/lib/server.mjs.
//
// Every test gets a Scope that owns what it started (servers, SDK instances,
// child worker processes, temporary directories) and tears all of it down in
// t.after, also when the test failed or hit its timeout: the SDK keeps an SSE
// connection and interval timers open, and a forgotten one keeps the test
// process alive forever.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../node/lib/server.mjs";

export { startServer };

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE_MODULES = path.resolve(HERE, "../node/node_modules");

/** The SDK generations under test: 0.11.5 mints `root:1.2`, 0.11.4 `root.1.2`. */
export const SDK_VERSIONS = ["0.11.5", "0.11.4"];

/** Flags that make background work fast enough for tests
 * (E2E_FLAGS=default runs with the server's defaults instead). */
export const FAST_FLAGS = process.env.E2E_FLAGS === "default" ? [] : [
  "--timeouts-poll-interval", "100",
  "--messages-poll-interval", "50",
  "--tasks-retry-timeout", "1000",
];

const sdkCache = new Map();

/** The SDK module of one generation (its index.js exports). */
export async function loadSdk(version) {
  if (!sdkCache.has(version)) {
    const url = new URL(`file://${NODE_MODULES}/sdk-${version}/dist/src/index.js`);
    sdkCache.set(version, await import(url.href));
  }
  return sdkCache.get(version);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** base64 of the SDK's JSON encoding of value (what `promises.resolve` must carry). */
export function encodeValue(value) {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64");
}

/** A promise with its resolve/reject exposed. */
export function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Rejects with a message naming what was awaited when p does not settle in
 * ms; the inner timer does not keep the process alive.
 */
export function within(ms, p, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms);
    t.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** Polls cond() (may be async) every stepMs until it is truthy or ms passed. */
export async function waitFor(cond, ms, what, stepMs = 25) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not true after ${ms} ms`);
    await sleep(stepMs);
  }
}

/** An SDK logger that keeps warnings and errors instead of printing them. */
export class MemoryLogger {
  constructor(name) {
    this.name = name;
    this.lines = [];
  }
  debug() {}
  info() {}
  warn(fields, msg) {
    this.lines.push(`[${this.name}] warn ${msg} ${JSON.stringify(fields)}`);
  }
  error(fields, msg) {
    this.lines.push(`[${this.name}] error ${msg} ${JSON.stringify(fields)}`);
  }
}

let pidSeq = 0;

/** Everything one test started, torn down in reverse order by close(). */
export class Scope {
  constructor(t, version) {
    this.t = t;
    this.version = version;
    this.servers = [];
    this.clients = [];
    this.children = [];
    this.dirs = [];
    this.loggers = [];
    t.after(() => this.close());
  }

  /** Starts a server with FAST_FLAGS (plus extra args) and remembers it. */
  async server(options = {}) {
    const h = await startServer({
      debug: false,
      ...options,
      args: [...FAST_FLAGS, ...(options.args ?? []),
        ...(process.env.E2E_SERVER_LOG ? ["--level", "debug"] : [])],
    });
    this.servers.push(h);
    return h;
  }

  /** Stops one server now (SIGTERM, checked); close() will not stop it again. */
  async stopServer(h) {
    this.servers = this.servers.filter((s) => s !== h);
    if (process.env.E2E_SERVER_LOG) process.stderr.write(h.stderr());
    await h.stop();
  }

  /** A fresh temporary directory removed at the end of the test. */
  tmpdir() {
    const d = mkdtempSync(path.join(os.tmpdir(), "resonate-e2e-"));
    this.dirs.push(d);
    return d;
  }

  /** A new Resonate instance of this scope's SDK generation, talking to server. */
  async client(server, { group = "default", pid, ttl, name } = {}) {
    const { Resonate } = await loadSdk(this.version);
    const p = pid ?? `p${process.pid}x${++pidSeq}`;
    const logger = new MemoryLogger(name ?? `${group}/${p}`);
    this.loggers.push(logger);
    const r = new Resonate({
      url: typeof server === "string" ? server : server.url,
      group,
      pid: p,
      ...(ttl !== undefined ? { ttl } : {}),
      logger,
    });
    this.clients.push(r);
    return r;
  }

  /** Stops one SDK instance now. */
  async stopClient(r) {
    this.clients = this.clients.filter((c) => c !== r);
    await r.stop();
  }

  /**
   * Spawns `node worker.mjs <json config>` (see worker.mjs); resolves to the
   * child once it printed its "ready" line. Lines it prints are collected in
   * child.lines and announced on child.events.
   */
  async worker(config) {
    const child = spawn(
      process.execPath,
      ["--import", path.resolve(HERE, "../node/polyfill.mjs"), path.join(HERE, "worker.mjs"),
        JSON.stringify({ version: this.version, ...config })],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.children.push(child);
    child.lines = [];
    child.stderrText = "";
    child.waiters = [];
    child.exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
    let buf = "";
    child.stdout.on("data", (chunk) => {
      buf += chunk.toString("utf8");
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        child.lines.push(line);
        for (const w of child.waiters.splice(0)) w();
      }
    });
    child.stderr.on("data", (chunk) => {
      child.stderrText += chunk.toString("utf8");
    });
    /** Resolves once the child printed a line starting with prefix. */
    child.waitLine = (prefix, ms) =>
      within(ms, (async () => {
        for (;;) {
          const hit = child.lines.find((l) => l.startsWith(prefix));
          if (hit) return hit;
          if (child.exitCode !== null || child.signalCode !== null) {
            throw new Error(`worker exited before printing "${prefix}": ${child.stderrText}`);
          }
          await new Promise((r) => {
            child.waiters.push(r);
            child.once("exit", r);
          });
        }
      })(), `worker line "${prefix}" (stderr: ${child.stderrText})`);
    await child.waitLine("ready", 15000);
    return child;
  }

  /** SIGKILLs a child worker and waits until it is gone. */
  async kill(child) {
    child.kill("SIGKILL");
    await child.exited;
  }

  /** SDK warnings collected so far (printed by close() when the test failed). */
  sdkLog() {
    return this.loggers.flatMap((l) => l.lines).join("\n");
  }

  async close() {
    const errors = [];
    for (const r of this.clients.splice(0).reverse()) {
      try {
        await within(5000, r.stop(), "sdk stop");
      } catch (e) {
        errors.push(e);
      }
    }
    for (const c of this.children.splice(0)) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill("SIGKILL");
        await c.exited;
      }
    }
    for (const h of this.servers.splice(0).reverse()) {
      if (process.env.E2E_SERVER_LOG) process.stderr.write(h.stderr());
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

let exitGuardArmed = false;

/**
 * After the last test of the file, gives the process a moment to end on its
 * own, then ends it. Everything this suite starts is stopped by Scope.close,
 * but the SDK itself does not cancel a function's pending retry timers in
 * stop() (a retry loop with the default Exponential policy never ends), and
 * one such timer would keep the test process alive for ever.
 */
function armExitGuard(after) {
  if (exitGuardArmed) return;
  exitGuardArmed = true;
  after(() => {
    setTimeout(() => {
      process.stderr.write("e2e: handles still open after the last test (SDK timers); exiting\n");
      process.exit();
    }, 2000).unref();
  });
}

/**
 * Declares `name` once per SDK generation. fn(scope, sdk) runs with a fresh
 * Scope; timeoutMs is the hard limit of each.
 */
export function eachSdk(test, name, timeoutMs, fn) {
  armExitGuard(test.after);
  for (const version of SDK_VERSIONS) {
    test(`[sdk ${version}] ${name}`, { timeout: timeoutMs }, async (t) => {
      const scope = new Scope(t, version);
      const sdk = await loadSdk(version);
      try {
        await fn(scope, sdk, t);
      } catch (e) {
        const log = scope.sdkLog();
        if (log) e.message += `\n--- SDK log ---\n${log.slice(-6000)}`;
        for (const h of scope.servers) {
          try {
            h.assertHealthy();
          } catch (he) {
            e.message += `\n--- server ---\n${he.message}`;
          }
        }
        throw e;
      }
      for (const h of scope.servers) h.assertHealthy();
    });
  }
}

/** The separator a generation puts between a root id and its first child. */
export function childSep(version) {
  return version === "0.11.4" ? "." : ":";
}
