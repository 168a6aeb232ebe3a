// docs.test.mjs - the man pages and the shell completion against --help,
// from the outside: every flag that `resonate COMMAND [SUBCOMMAND] --help`
// lists is in that command's man page, is offered by the bash completion
// (its function run as bash runs it on TAB) and has a spec in the zsh
// completion function of that command; resonate.toml(5) documents every key
// of resonate.toml.example; the pages render without a groff warning; and
// --version names the protocol and the linked libraries.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { resonateBin } from "../node/lib/server.mjs";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function run(args) {
  const r = spawnSync(resonateBin(), args, { encoding: "utf8", timeout: 20000 });
  assert.equal(r.status, 0, `resonate ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

function have(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** The names listed under "Commands:" in a --help text. */
function commandsOf(help) {
  const m = /\nCommands:\n((?: {2}\S.*\n)+)/.exec(help);
  return m ? m[1].trim().split("\n").map((l) => l.trim().split(/\s+/)[0]) : [];
}

/**
 * The flags of a --help text: the option lines (indented, starting with a
 * dash), not flags named in prose or on continuation lines.
 */
function flagsOf(help) {
  const flags = new Set();
  for (const line of help.split("\n")) {
    const m = /^ {1,8}(?:(-[A-Za-z]), )?(--[a-z][a-z0-9-]*)/.exec(line);
    if (!m) continue;
    if (m[1]) flags.add(m[1]);
    flags.add(m[2]);
  }
  return [...flags];
}

/** Every command path with its --help flags: [["serve"], ["promises", "create"], ...]. */
function commandPaths() {
  const out = [];
  for (const cmd of commandsOf(run(["--help"]))) {
    if (cmd === "help") continue;
    const help = run([cmd, "--help"]);
    const subs = commandsOf(help);
    if (subs.length === 0) out.push({ path: [cmd], flags: flagsOf(help) });
    for (const sub of subs) out.push({ path: [cmd, sub], flags: flagsOf(run([cmd, sub, "--help"])) });
  }
  return out;
}

/** roff source as plain text: escapes and font changes removed. */
function plain(roff) {
  return roff.replace(/\\f[BIR]/g, "").replace(/\\&/g, "").replace(/\\:/g, "").replace(/\\-/g, "-");
}

function hasWord(text, word) {
  const esc = word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^a-z0-9-])${esc}(?![a-z0-9_-])`, "m").test(text);
}

const paths = commandPaths();

test("every command and subcommand of --help is found, each with flags", () => {
  const names = paths.map((p) => p.path.join(" "));
  for (const want of ["serve", "dev", "token", "promises create", "tasks claim", "schedules create", "invoke", "tree"]) {
    assert.ok(names.includes(want), `${want} not found in ${names.join(", ")}`);
  }
  for (const p of paths) assert.ok(p.flags.includes("--help"), `${p.path.join(" ")}: no --help in its help`);
  assert.ok(paths.find((p) => p.path[0] === "serve").flags.length > 50);
});

test("every flag of every --help is in the command's man page", () => {
  const pages = run(["help", "--man-pages"]).trim().split("\n");
  for (const p of paths) {
    const page = `resonate-${p.path[0]}.1`;
    assert.ok(pages.includes(page), `no man page ${page}`);
    const text = plain(run(["help", "--man", page]));
    for (const flag of p.flags) {
      assert.ok(hasWord(text, flag), `${page} lacks ${flag} (of resonate ${p.path.join(" ")} --help)`);
    }
    if (p.path.length === 2) assert.ok(text.includes(`.SS "${p.path.join(" ")}"`), `${page} has no section ${p.path[1]}`);
  }
});

test("the bash completion offers every flag of every --help after that command", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-comp-"));
  try {
    const script = path.join(dir, "resonate.bash");
    writeFileSync(script, run(["help", "--completion", "bash"]));
    // One bash for all commands: prints "path<TAB>reply words" per command.
    const calls = paths.map((p) => {
      const words = ["resonate", ...p.path, "-"].map((w) => `'${w}'`).join(" ");
      return `COMP_WORDS=(${words}); COMP_CWORD=${p.path.length + 1}; COMPREPLY=(); _resonate; ` +
        `printf '%s\\t%s\\n' '${p.path.join(" ")}' "\${COMPREPLY[*]}"`;
    });
    // Options before the command, with their values, are skipped.
    calls.push(`COMP_WORDS=(resonate promises -S http://h:1 --token t cr); COMP_CWORD=6; COMPREPLY=(); _resonate; ` +
      `printf '%s\\t%s\\n' 'skip' "\${COMPREPLY[*]}"`);
    const r = spawnSync("bash", ["-c", `source ${script}\n${calls.join("\n")}`], { encoding: "utf8", timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    const replies = new Map(r.stdout.trim().split("\n").map((l) => l.split("\t")));
    for (const p of paths) {
      const offered = new Set((replies.get(p.path.join(" ")) ?? "").split(" "));
      for (const flag of p.flags) {
        assert.ok(offered.has(flag), `bash: resonate ${p.path.join(" ")} -<TAB> does not offer ${flag}`);
      }
    }
    assert.equal(replies.get("skip"), "create");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the zsh completion has a spec for every flag of every --help in that command's function", (t) => {
  const script = run(["help", "--completion", "zsh"]);
  assert.match(script, /^#compdef resonate\n/);
  for (const p of paths) {
    const fn = `_resonate_${p.path.join("_").replace(/-/g, "_")}() {\n`;
    const start = script.indexOf(fn);
    assert.ok(start >= 0, `zsh: no function ${fn.trim()}`);
    const body = script.slice(start, script.indexOf("\n}\n", start));
    for (const flag of p.flags) {
      const esc = flag.replace(/-/g, "\\-");
      assert.match(body, new RegExp(`'\\*?${esc}[=+\\[]`), `zsh: ${fn.trim()} has no spec for ${flag}`);
    }
  }
  if (!have("zsh")) {
    t.diagnostic("zsh not installed: syntax not checked");
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-zsh-"));
  try {
    writeFileSync(path.join(dir, "_resonate"), script);
    const r = spawnSync("zsh", ["-n", path.join(dir, "_resonate")], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("resonate.toml(5) documents every key of resonate.toml.example", () => {
  const text = plain(run(["help", "--man", "resonate.toml.5"]));
  let table = "";
  let n = 0;
  for (const line of readFileSync(path.join(REPO, "resonate.toml.example"), "utf8").split("\n")) {
    const tm = /^#?\s*\[([a-z_.]+)\]\s*$/.exec(line);
    if (tm) {
      table = tm[1];
      continue;
    }
    const k = /^#? ?([a-z_]+) = /.exec(line);
    if (!k) continue;
    const key = table ? `${table}.${k[1]}` : k[1];
    const env = "RESONATE_" + key.toUpperCase().replace(/\./g, "__");
    assert.ok(text.includes(`.SS "${table ? `[${table}]` : "Top level (before any table)"}"`), `no section for ${key}`);
    assert.ok(text.includes(`\n${k[1]} = `), `resonate.toml(5) lacks ${key}`);
    assert.ok(hasWord(text, env), `resonate.toml(5) lacks ${env}`);
    n++;
  }
  assert.ok(n >= 44, `only ${n} keys in the example`);
});

test("every man page renders without a groff warning", (t) => {
  if (!have("man")) {
    t.skip("man not installed (apt-get install man-db)");
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-man-"));
  try {
    for (const page of run(["help", "--man-pages"]).trim().split("\n")) {
      const file = path.join(dir, page);
      writeFileSync(file, run(["help", "--man", page]));
      const r = spawnSync("man", ["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", file], {
        encoding: "utf8", env: { ...process.env, LC_ALL: "C.UTF-8", MANWIDTH: "80" },
      });
      assert.equal(r.status, 0, `${page}: ${r.stderr}`);
      assert.equal(r.stderr, "", `${page}: ${r.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--version prints the version, the protocol and each linked library's version", () => {
  const out = run(["--version"]);
  assert.match(out, /^resonate \d+\.\d+\.\d+ \(resonate-c\)\nprotocol 2026-04-01\n/);
  for (const lib of ["libmicrohttpd", "jansson", "sqlite3", "libpq", "openssl", "gnutls", "libcurl"]) {
    assert.match(out, new RegExp(`^${lib} \\d+\\.\\d+`, "m"), `no ${lib} version in:\n${out}`);
  }
  assert.equal(run(["-V"]), out);
});

test("help COMMAND [SUBCOMMAND] prints that command's --help", () => {
  for (const args of [["serve"], ["token"], ["tasks"], ["tasks", "claim"], ["invoke"]]) {
    assert.equal(run(["help", ...args]), run([...args, "--help"]), `help ${args.join(" ")}`);
  }
});

test("help refuses unknown pages, shells and arguments with exit 2", () => {
  for (const [args, msg] of [
    [["help", "--man", "resonate-nope"], /no man page 'resonate-nope'; the pages are: resonate resonate-serve/],
    [["help", "--completion", "fish"], /no completion for shell 'fish'; use bash or zsh/],
    [["help", "--bogus"], /usage: resonate help/],
  ]) {
    const r = spawnSync(resonateBin(), args, { encoding: "utf8" });
    assert.equal(r.status, 2, args.join(" "));
    assert.match(r.stderr, msg);
  }
});
