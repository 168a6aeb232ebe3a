// lib.mjs - running the `resonate` client subcommands from Node tests.
//
// The binary under test is $RESONATE_BIN (tests/run.sh points it at the
// sanitized build), else ./resonate. RESONATE_URL and RESONATE_TOKEN of the
// caller's environment are removed so that only what a test passes counts.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { resonateBin, sanitizerReport } from "../node/lib/server.mjs";

export { freePort, startServer } from "../node/lib/server.mjs";

const CLI_TIMEOUT_MS = 20000;

/**
 * Runs `resonate ...args`; resolves to {code, stdout, stderr}. Fails the test
 * when the process crashes, hangs or prints a sanitizer report.
 */
export function cli(args, { env = {} } = {}) {
  const base = { ...process.env };
  delete base.RESONATE_URL;
  delete base.RESONATE_TOKEN;
  return new Promise((resolve, reject) => {
    execFile(
      resonateBin(),
      args,
      {
        env: {
          ...base,
          ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? "detect_leaks=1",
          UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? "print_stacktrace=1",
          ...env,
        },
        timeout: CLI_TIMEOUT_MS,
        maxBuffer: 16 << 20,
      },
      (err, stdout, stderr) => {
        const san = sanitizerReport(stderr);
        if (san) return reject(new Error(`sanitizer report from resonate ${args.join(" ")}:\n${san}`));
        if (err && err.killed) {
          return reject(new Error(`resonate ${args.join(" ")} did not finish in ${CLI_TIMEOUT_MS} ms`));
        }
        if (err && typeof err.code !== "number") return reject(err);
        const code = err ? err.code : 0;
        if (code !== 0 && code !== 1 && code !== 2) {
          return reject(new Error(`resonate ${args.join(" ")} exited with ${code}:\n${stderr}`));
        }
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs a command with --json against url, asserts exit 0, returns the parsed data. */
export async function cliJson(url, args, opts = {}) {
  const r = await cli([...args, "-S", url, "--json"], opts);
  assert.equal(r.code, 0, `resonate ${args.join(" ")} failed: ${r.stderr}`);
  assert.equal(r.stderr, "", "nothing on stderr on success");
  return JSON.parse(r.stdout);
}

/** Runs a command against url (human output), asserts exit 0, returns stdout. */
export async function cliOk(url, args, opts = {}) {
  const r = await cli([...args, "-S", url], opts);
  assert.equal(r.code, 0, `resonate ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** base64 of a UTF-8 string. */
export const b64 = (s) => Buffer.from(s, "utf8").toString("base64");

/** The UTF-8 text of a base64 string. */
export const unb64 = (s) => Buffer.from(s, "base64").toString("utf8");
