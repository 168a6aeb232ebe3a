// server.mjs - start, talk to and stop a resonate process from Node tests.
//
// Shared by tests/diff and tests/e2e. A test gets a server on a free
// 127.0.0.1 port, waits for GET /health, sends envelopes with rpc(), and stops
// it at the end. The server's stderr is kept so that a failure (a crash, a
// sanitizer report, a hang) is reported with what the server said; a request
// to a server that died fails at once instead of waiting for a timeout.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const PROTOCOL_VERSION = "2026-04-01";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const STDERR_KEEP = 1 << 20; // bytes of stderr kept for failure reports

// Lines that mean a sanitizer (ASan, LSan, UBSan) found something.
const SANITIZER_RE =
  /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|ERROR: UndefinedBehaviorSanitizer|WARNING: ThreadSanitizer)/;

/** The binary under test: $RESONATE_BIN, else ./resonate of the repository. */
export function resonateBin() {
  return process.env.RESONATE_BIN || path.join(REPO, "resonate");
}

/** A TCP port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The first sanitizer report in text (from its first line to the end), or null. */
export function sanitizerReport(text) {
  const m = SANITIZER_RE.exec(text);
  if (!m) return null;
  const start = text.lastIndexOf("\n", m.index) + 1;
  return text.slice(Math.max(0, start - 200)).slice(0, 20000);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Reads an SSE response body (of fetch() on /poll) to its end and calls
 * onData with the parsed JSON of every `data:` line. Rejects when the stream
 * is aborted or reset.
 */
export async function readSse(body, onData) {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of body) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      for (const line of frame.split("\n")) {
        if (line.startsWith("data:")) onData(JSON.parse(line.slice(5)));
      }
    }
  }
}

/**
 * One HTTPS request trusting only the CA certificates in ca (PEM), as
 * fetch() would make it: resolves to {status, headers, text}. (fetch has no
 * per-request CA; NODE_EXTRA_CA_CERTS is read only at process start.)
 */
export function httpsRequest(url, { method = "GET", body, headers = {}, ca, signal } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca, signal, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: new Headers(res.headers), text }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

let corrSeq = 0;

class ServerHandle {
  constructor(child, port, argv, tmpdir, ca) {
    this.child = child;
    this.port = port;
    this.argv = argv;
    this.ca = ca; // PEM of the CA of the server's certificate: HTTPS
    this.url = `${ca ? "https" : "http"}://127.0.0.1:${port}`;
    this.tmpdir = tmpdir;
    this.stderrText = "";
    this.stdoutText = "";
    this.exit = null; // {code, signal} once the process ended
    this.stopping = false;
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    const keep = (field) => (chunk) => {
      this[field] += chunk.toString("utf8");
      if (this[field].length > STDERR_KEEP) this[field] = this[field].slice(-STDERR_KEEP);
    };
    child.stderr.on("data", keep("stderrText"));
    child.stdout.on("data", keep("stdoutText"));
  }

  /** What the server wrote to stderr so far. */
  stderr() {
    return this.stderrText;
  }

  /** A text for failure messages: how the process ended and its stderr tail. */
  describe() {
    const how = this.exit
      ? `exited (code ${this.exit.code}, signal ${this.exit.signal})`
      : "still running";
    const san = sanitizerReport(this.stderrText);
    const tail = this.stderrText.slice(-8000);
    return `resonate ${this.argv.join(" ")} ${how}\n` +
      (san ? `--- sanitizer report ---\n${san}\n` : `--- stderr (tail) ---\n${tail}\n`);
  }

  /** Throws if the server died (unless we stopped it) or reported a sanitizer error. */
  assertHealthy() {
    if (this.exit && !this.stopping) throw new Error(`server died: ${this.describe()}`);
    if (sanitizerReport(this.stderrText)) throw new Error(`sanitizer report: ${this.describe()}`);
  }

  /** Raw HTTP request with a timeout; rejects at once if the server exits. */
  async request(method, urlPath, { body, headers = {}, timeoutMs = 15000 } = {}) {
    if (this.exit) throw new Error(`server is not running: ${this.describe()}`);
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    let onExit;
    const died = new Promise((_, reject) => {
      onExit = () => reject(new Error(`server died during ${method} ${urlPath}: ${this.describe()}`));
      this.child.once("exit", onExit);
    });
    try {
      const res = await Promise.race([
        (async () => {
          if (this.ca) {
            return await httpsRequest(this.url + urlPath, { method, body, headers, ca: this.ca, signal: ctl.signal });
          }
          const r = await fetch(this.url + urlPath, { method, body, headers, signal: ctl.signal });
          const text = await r.text();
          return { status: r.status, headers: r.headers, text };
        })(),
        died,
      ]);
      return res;
    } catch (e) {
      if (e.name === "AbortError") {
        throw new Error(`${method} ${urlPath} timed out after ${timeoutMs} ms: ${this.describe()}`);
      }
      // A reset connection usually means the process is going down: give
      // its exit a moment to arrive so the report carries its stderr.
      if (!this.exit) await Promise.race([this.exited, sleep(300)]);
      if (this.exit && !String(e.message).startsWith("server died")) {
        throw new Error(`server died during ${method} ${urlPath}: ${this.describe()}`);
      }
      throw e;
    } finally {
      clearTimeout(timer);
      this.child.removeListener("exit", onExit);
      died.catch(() => {});
    }
  }

  /**
   * POSTs the envelope {kind, head:{corrId, version, ...head}, data} to / and
   * returns {status, body} where body is the parsed JSON (or the raw text when
   * it is not JSON). status is the HTTP status.
   */
  async rpc(kind, data, head = {}, opts = {}) {
    const env = {
      kind,
      head: { corrId: `c${++corrSeq}`, version: PROTOCOL_VERSION, ...head },
      data,
    };
    const res = await this.request("POST", "/", {
      body: JSON.stringify(env),
      headers: { "content-type": "application/json" },
      ...opts,
    });
    let body;
    try {
      body = JSON.parse(res.text);
    } catch {
      body = res.text;
    }
    return { status: res.status, body, corrId: env.head.corrId };
  }

  /**
   * SIGTERM, then SIGKILL after graceMs. Resolves to {code, signal, stderr,
   * sanitizer}; with check (the default) throws when the process had died on
   * its own, did not exit cleanly, or printed a sanitizer report.
   */
  async stop({ graceMs = 5000, check = true } = {}) {
    const diedBefore = this.exit !== null && !this.stopping;
    this.stopping = true;
    if (!this.exit) {
      this.child.kill("SIGTERM");
      const t = setTimeout(() => {
        if (!this.exit) this.child.kill("SIGKILL");
      }, graceMs);
      await this.exited;
      clearTimeout(t);
    }
    // stdio may still hold the last bytes of a sanitizer report
    await sleep(20);
    if (this.tmpdir) rmSync(this.tmpdir, { recursive: true, force: true });
    unregister(this);
    const out = { ...this.exit, stderr: this.stderrText, sanitizer: sanitizerReport(this.stderrText) };
    if (check) {
      if (diedBefore) throw new Error(`server had died before stop: ${this.describe()}`);
      if (out.sanitizer) throw new Error(`sanitizer report: ${this.describe()}`);
      if (out.signal === "SIGKILL") throw new Error(`server ignored SIGTERM for ${graceMs} ms: ${this.describe()}`);
      if (out.code !== 0) throw new Error(`server exited with code ${out.code}: ${this.describe()}`);
    }
    return out;
  }
}

// Children still running when the Node process exits are killed.
const live = new Set();
function unregister(h) {
  live.delete(h);
}
process.on("exit", () => {
  for (const h of live) if (!h.exit) h.child.kill("SIGKILL");
});

/**
 * Starts `resonate <mode> [--debug] --server-port N --server-bind 127.0.0.1
 * --observability-metrics-port 0 ...args` and waits for GET /health = 200.
 *
 * options: mode ("dev" | "serve"), debug (bool), args (extra flags),
 * env (extra environment), bin, dbPath (serve: defaults to a file in a fresh
 * temporary directory that stop() removes), healthTimeoutMs, port, ca (the
 * server has --server-tls-cert in args: PEM of its CA; requests use HTTPS).
 */
export async function startServer(options = {}) {
  const {
    mode = "dev",
    debug = true,
    args = [],
    env = {},
    bin = resonateBin(),
    healthTimeoutMs = 20000,
  } = options;
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = options.port ?? (await freePort());
    let tmpdir = null;
    let dbArgs = [];
    if (mode === "serve" && !args.includes("--storage-sqlite-path")) {
      let dbPath = options.dbPath;
      if (!dbPath) {
        tmpdir = mkdtempSync(path.join(os.tmpdir(), "resonate-test-"));
        dbPath = path.join(tmpdir, "resonate.db");
      }
      dbArgs = ["--storage-sqlite-path", dbPath];
    }
    const argv = [
      mode,
      ...(debug ? ["--debug"] : []),
      "--server-port", String(port),
      "--server-bind", "127.0.0.1",
      "--observability-metrics-port", "0",
      ...dbArgs,
      ...args,
    ];
    const child = spawn(bin, argv, {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? "detect_leaks=1",
        UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? "print_stacktrace=1",
        ...env,
      },
    });
    const h = new ServerHandle(child, port, argv, tmpdir, options.ca);
    live.add(h);
    const spawnErr = new Promise((_, reject) => child.once("error", reject));
    spawnErr.catch(() => {});
    try {
      await Promise.race([waitHealthy(h, healthTimeoutMs), spawnErr]);
      return h;
    } catch (e) {
      lastErr = e;
      if (!h.exit) {
        h.stopping = true;
        child.kill("SIGKILL");
        await h.exited;
      }
      unregister(h);
      if (tmpdir) rmSync(tmpdir, { recursive: true, force: true });
      // Someone took the port between freePort() and the bind: try another.
      if (options.port === undefined && /bind|address in use/i.test(h.stderrText)) continue;
      throw e;
    }
  }
  throw lastErr;
}

async function waitHealthy(h, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (h.exit) throw new Error(`server exited during startup: ${h.describe()}`);
    try {
      const r = await h.request("GET", "/health", { timeoutMs: 1000 });
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`server not healthy after ${timeoutMs} ms: ${h.describe()}`);
    }
    await sleep(50);
  }
}
