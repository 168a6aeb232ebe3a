// config.test.mjs - the command line of the real binary: --help of each
// command, configuration layers (the same key from four sources), and the
// message and exit status of each kind of configuration error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { REPO, freePort, httpRequest, launch, run, tempDir, writeFile } from "./lib.mjs";

/** Every key of resonate.toml.example, including the commented ones. */
function exampleKeys() {
  const keys = [];
  let table = "";
  for (const line of readFileSync(path.join(REPO, "resonate.toml.example"), "utf8").split("\n")) {
    const t = /^#?\s*\[([a-z_.]+)\]\s*$/.exec(line);
    if (t) {
      table = t[1];
      continue;
    }
    const k = /^#? ?([a-z_]+) = /.exec(line);
    if (k) keys.push(table ? `${table}.${k[1]}` : k[1]);
  }
  return [...new Set(keys)];
}

/** The flag that sets key (operations.md §1.2 names). */
function flagOf(key) {
  if (key === "server.cors.allow_origins") return "--server-cors-allow-origin";
  if (key === "transports.http_push.auth.audience") return "--transports-http-push-auth-aud";
  return "--" + key.replace(/[._]/g, "-");
}

test("serve --help and dev --help list a flag for every key of the example file", () => {
  const keys = exampleKeys();
  assert.ok(keys.length >= 44, `only ${keys.length} keys found in the example`);
  for (const cmd of ["serve", "dev"]) {
    const r = run([cmd, "--help"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: resonate ${cmd} \\[OPTIONS\\]`));
    for (const key of keys) {
      assert.match(r.stdout, new RegExp(`^  ${flagOf(key)}( |$)`, "m"), `${cmd} --help lacks ${flagOf(key)} (${key})`);
    }
    for (const extra of ["--config FILE", "-h, --help", "--api-auth-public-key"]) assert.ok(r.stdout.includes(extra), extra);
    assert.match(r.stdout, /Accepted for compatibility with the Rust server, not implemented/);
    // and nothing in help that the example does not document
    const flags = [...r.stdout.matchAll(/^  (--[a-z-]+)/gm)].map((m) => m[1]);
    const known = new Set([...keys.map(flagOf), "--config", "--api-auth-public-key"]);
    for (const f of flags) assert.ok(known.has(f), `${f} is in --help but not in resonate.toml.example`);
  }
  assert.match(run(["dev", "--help"]).stdout, /database is :memory:/);
});

test("top-level help, token --help, --version and an unknown command", () => {
  for (const args of [["--help"], ["help"], ["-h"]]) {
    const r = run(args);
    assert.equal(r.code, 0);
    for (const cmd of ["serve", "dev", "token", "promises", "tasks", "schedules", "invoke"]) {
      assert.match(r.stdout, new RegExp(`^  ${cmd} `, "m"), `${args} lacks ${cmd}`);
    }
  }
  const tok = run(["token", "--help"]);
  assert.equal(tok.code, 0);
  for (const f of ["--private-key", "--prefix", "--role", "--exp", "--no-exp", "--iss", "--aud", "--sub", "--kid", "--alg"]) {
    assert.ok(tok.stdout.includes(f), `token --help lacks ${f}`);
  }
  assert.match(run(["--version"]).stdout, /^resonate \d+\.\d+\.\d+/);
  const none = run([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Usage: resonate <COMMAND>/);
  const bad = run(["frobnicate"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command 'frobnicate'/);
});

test("server.port from defaults < resonate.toml < RESONATE_SERVER__PORT < --server-port", async (t) => {
  const dir = tempDir(t);
  const [pFile, pEnv, pFlag] = [await freePort(), await freePort(), await freePort()];
  writeFile(dir, "resonate.toml", `[server]\nport = ${pFile}\nbind = "127.0.0.1"\n[observability]\nmetrics_port = 0\n`);
  const env = { RESONATE_SERVER__PORT: String(pEnv) };
  const cases = [
    { args: ["--server-port", String(pFlag)], env, port: pFlag, source: "flag --server-port" },
    { args: [], env, port: pEnv, source: "environment RESONATE_SERVER__PORT" },
    { args: [], env: {}, port: pFile, source: `${dir}/resonate.toml:2` },
  ];
  for (const c of cases) {
    const s = await launch(["dev", "--level", "debug", ...c.args], { cwd: dir, env: c.env });
    try {
      // a value with a space is quoted in text logs
      const source = c.source.includes(" ") ? `"${c.source}"` : c.source;
      assert.match(s.stderr(), new RegExp(`config key=server.port value=${c.port} source=${source.replace(/[.]/g, "\\.")}`));
      const r = await httpRequest(c.port, "GET", "/health");
      assert.equal(r.status, 200, `nothing answers on port ${c.port}`);
    } finally {
      s.child.kill("SIGTERM");
      assert.deepEqual(await s.exited, { code: 0, signal: null });
    }
  }
  // No file, no variable, no flag: the default. (--help does not load
  // layers, so look at the configuration the server logs before binding.)
  const empty = tempDir(t);
  const s = await launch(["dev", "--level", "debug", "--server-bind", "127.0.0.1", "--observability-metrics-port", "0"],
    { cwd: empty, until: /config key=server\.port|Fatal/ });
  s.child.kill("SIGTERM");
  await s.exited;
  assert.match(s.stderr(), /config key=server\.port value=8001 source=default/);
});

test("the example file starts a server and sets nothing but defaults", async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  const s = await launch(["dev", "--config", path.join(REPO, "resonate.toml.example"), "--level", "debug",
    "--server-port", String(port), "--server-bind", "127.0.0.1", "--observability-metrics-port", "0"], { cwd: dir });
  try {
    assert.equal((await httpRequest(port, "GET", "/health")).status, 200);
    assert.doesNotMatch(s.stderr(), / warn /, "the example must not trigger warnings");
    assert.match(s.stderr(), /config=\S*resonate\.toml\.example/);
  } finally {
    s.child.kill("SIGTERM");
    assert.equal((await s.exited).code, 0);
  }
});

test("unimplemented Rust server keys are accepted and logged as ignored", async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  writeFile(dir, "resonate.toml", '[storage.mysql]\nurl = "mysql://db/x"\n[transports.gcps]\nenabled = false\n');
  const s = await launch(["dev", "--server-port", String(port), "--server-bind", "127.0.0.1", "--observability-metrics-port", "0",
    "--observability-otlp-endpoint", "collector:4317"], { cwd: dir });
  try {
    assert.equal((await httpRequest(port, "GET", "/health")).status, 200);
    assert.match(s.stderr(), /warn  storage\.mysql\.url \(\S+resonate\.toml:2\) is not implemented by resonate-c and is ignored/);
    assert.match(s.stderr(), /warn  observability\.otlp_endpoint \(flag --observability-otlp-endpoint\) is not implemented/);
    assert.doesNotMatch(s.stderr(), /transports\.gcps\.enabled/);
  } finally {
    s.child.kill("SIGTERM");
    await s.exited;
  }
});

// [what, setup, args, env, exit code, message]
const ERRORS = [
  ["TOML syntax", "resonate.toml", "[server]\nport = = 1\n", [], {}, 1, /^Fatal: Configuration error: \S+resonate\.toml:2: expected a value/],
  ["unknown key in the file", "resonate.toml", "[server]\nprot = 1\n", [], {}, 1,
    /resonate\.toml:2: unknown configuration key 'server\.prot' \(did you mean 'server\.port'\?\)/],
  ["wrong type in the file", "resonate.toml", "[server]\nport = \"8001\"\n", [], {}, 1,
    /resonate\.toml:2: invalid value for server\.port: expected an integer, found a string/],
  ["out of range in the file", "resonate.toml", "[transports.http_poll]\nbuffer_size = 0\n", [], {}, 1,
    /resonate\.toml:2: invalid value '0' for transports\.http_poll\.buffer_size: expected an integer from 1 to 1000000/],
  ["feature not implemented", "resonate.toml", "[storage]\ntype = \"mysql\"\n", [], {}, 1,
    /resonate\.toml:2: invalid value 'mysql' for storage\.type: the mysql backend is not implemented/],
  ["postgres without a url", "resonate.toml", "[storage]\ntype = \"postgres\"\n", [], {}, 1,
    /resonate\.toml:2: storage\.type is postgres but storage\.postgres\.url is not set/],
  ["missing --config file", null, null, ["--config", "/nonexistent.toml"], {}, 1,
    /cannot read configuration file \/nonexistent\.toml: No such file or directory/],
  ["a directory as --config", null, null, ["--config", "/tmp/"], {}, 1,
    /^Fatal: Configuration error: configuration file \/tmp\/ is a directory, not a file: give --config the TOML file itself \(e\.g\. \/tmp\/resonate\.toml\)/],
  ["postgres url of another scheme", "resonate.toml", "[storage]\ntype = \"postgres\"\n[storage.postgres]\nurl = \"mysql://u:s3cret@db/x\"\n", [], {}, 1,
    /resonate\.toml:4: storage\.postgres\.url is not a PostgreSQL connection string: its scheme is 'mysql:\/\/', which PostgreSQL does not take; give a postgres:\/\/ or postgresql:\/\/ URL/],
  ["unknown variable", null, null, [], { RESONATE_SERVER__PROT: "1" }, 1,
    /^Fatal: Configuration error: environment RESONATE_SERVER__PROT: unknown configuration key 'server\.prot'/],
  ["single underscore variable", null, null, [], { RESONATE_SERVER_PORT: "1" }, 1,
    /environment RESONATE_SERVER_PORT: .*double underscore: RESONATE_SERVER__PORT/],
  ["bad variable value", null, null, [], { RESONATE_OBSERVABILITY__METRICS_PORT: "90x" }, 1,
    /environment RESONATE_OBSERVABILITY__METRICS_PORT: invalid value '90x' for observability\.metrics_port/],
  ["issuer without key", null, null, [], { RESONATE_AUTH__ISS: "me" }, 1,
    /environment RESONATE_AUTH__ISS: auth\.iss is set but auth\.publickey is not/],
  ["unknown flag", null, null, ["--server-prot", "1"], {}, 2, /^error: unknown flag '--server-prot' \(see --help\)/],
  ["flag without value", null, null, ["--server-port"], {}, 2, /^error: flag --server-port needs a value/],
  ["bad flag value", null, null, ["--level", "loud"], {}, 2,
    /^error: flag --level: invalid value 'loud' for level: expected debug, info, warn or error/],
  ["bad origin", null, null, ["--server-cors-allow-origin", "https://a.example/"], {}, 2,
    /^error: flag --server-cors-allow-origin: .*'https:\/\/a\.example\/' is not an origin/],
  ["a directory as transports.http_push.cacert", null, null, ["--transports-http-push-cacert", "/tmp", "--observability-metrics-port", "0",
    "--server-bind", "127.0.0.1", "--server-port", "0"], {}, 1,
    /Fatal: transports\.http_push\.cacert '\/tmp' is a directory, not a file: give it the PEM file of the CA certificates/],
  ["unreadable key file", null, null, ["--auth-publickey", "/nonexistent.pem", "--observability-metrics-port", "0",
    "--server-bind", "127.0.0.1", "--server-port", "0"], {}, 1, /Fatal: cannot load auth public key '\/nonexistent\.pem'/],
];

for (const [what, file, text, args, env, code, message] of ERRORS) {
  test(`configuration error: ${what}`, (t) => {
    const dir = tempDir(t);
    if (file) writeFile(dir, file, text);
    const r = run(["serve", ...args], { cwd: dir, env });
    assert.equal(r.code, code, `exit ${r.code}, stderr: ${r.stderr}`);
    assert.match(r.stderr, message);
  });
}

test("other programs' RESONATE_* variables do not disturb the server", async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  const s = await launch(["dev", "--server-port", String(port), "--server-bind", "127.0.0.1", "--observability-metrics-port", "0"],
    { cwd: dir, env: { RESONATE_URL: "http://elsewhere", RESONATE_TOKEN: "x.y.z", RESONATE_PREFIX: "p" } });
  try {
    assert.equal((await httpRequest(port, "GET", "/health")).status, 200);
  } finally {
    s.child.kill("SIGTERM");
    assert.equal((await s.exited).code, 0);
  }
});
