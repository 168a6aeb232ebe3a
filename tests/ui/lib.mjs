// lib.mjs - the console tests' browser: Debian's chromium (the `chromium`
// package, installed by scripts/deps.sh --test) driven by playwright-core
// from tests/node/node_modules. Nothing is downloaded: playwright's own
// browser builds are never used (`npx playwright install` is not needed).
//
// A Browser owns one headless chromium with a fresh --user-data-dir and one
// page, records what would make a test meaningless (page errors, CSP
// violations, any request leaving 127.0.0.1) and is closed in t.after.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "../..");
const require = createRequire(path.resolve(HERE, "../node/package.json"));
const { chromium } = require("playwright-core");

/** Debian's chromium, or $RESONATE_CHROMIUM. */
export const CHROMIUM = process.env.RESONATE_CHROMIUM || "/usr/bin/chromium";

/** Where the tests leave their screenshots (not committed: build/ is ignored). */
export const SHOTS = path.join(process.env.BUILD ? path.resolve(REPO, process.env.BUILD) : path.join(REPO, "build"), "ui-screenshots");

const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export class Browser {
  static async open(t) {
    assert.ok(existsSync(CHROMIUM),
      `${CHROMIUM} is missing: install Debian's chromium with scripts/deps.sh --test (or set RESONATE_CHROMIUM)`);
    const b = new Browser();
    b.dir = mkdtempSync(path.join(os.tmpdir(), "resonate-chromium-"));
    t.after(() => b.close());
    b.ctx = await chromium.launchPersistentContext(b.dir, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1280, height: 800 },
      timeout: 30000,
    });
    b.page = b.ctx.pages()[0] || (await b.ctx.newPage());
    b.page.setDefaultTimeout(15000);
    b.problems = [];
    b.requests = [];
    b.page.on("pageerror", (e) => b.problems.push(`page error: ${e.message}`));
    b.page.on("console", (m) => {
      const text = m.text();
      // Chromium logs every non-2xx fetch as a console error; the console
      // shows those itself. Anything else at error level is a defect.
      if (/Content.Security.Policy/i.test(text)) b.problems.push(`CSP: ${text}`);
      else if (m.type() === "error" && !/Failed to load resource: the server responded with a status of/.test(text)) {
        b.problems.push(`console error: ${text}`);
      }
    });
    // The console fetches nothing but its own server.
    await b.ctx.route("**/*", (route) => {
      const u = new URL(route.request().url());
      b.requests.push(route.request().url());
      if (u.hostname === "127.0.0.1") return route.continue();
      b.problems.push(`request outside 127.0.0.1: ${u.href}`);
      return route.abort();
    });
    mkdirSync(SHOTS, { recursive: true });
    return b;
  }

  /** Saves a full-page screenshot as SHOTS/name.png; returns its path. */
  async shot(name) {
    const p = path.join(SHOTS, `${name}.png`);
    await this.page.screenshot({ path: p, fullPage: true });
    return p;
  }

  /** Fails when the page reported an error, a CSP violation or an outside request. */
  assertClean() {
    assert.deepEqual(this.problems, [], this.problems.join("\n"));
  }

  async close() {
    if (this.ctx) await this.ctx.close().catch(() => {});
    this.ctx = null;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The security headers every /ui answer must carry. */
export function assertUiHeaders(headers, what) {
  const csp = headers["content-security-policy"] || "";
  assert.match(csp, /script-src 'self'/, `${what}: ${csp}`);
  assert.match(csp, /style-src 'self'/, `${what}: ${csp}`);
  assert.doesNotMatch(csp, /unsafe/, `${what}: ${csp}`);
  assert.equal(headers["x-frame-options"], "DENY", what);
  assert.equal(headers["referrer-policy"], "no-referrer", what);
  assert.equal(headers["x-content-type-options"], "nosniff", what);
}
