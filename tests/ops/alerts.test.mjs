// alerts.test.mjs - conf/alerts.yml, the Prometheus alert rules shipped
// with the server: each rule is well formed, the four concerns of issue 15
// are covered (auth failures by reason, poll-slot exhaustion, outbox
// backlog, delivery drops), and every metric a rule names is served by a
// running server's /metrics (so renaming a metric breaks this test, not the
// operator's alerting). With promtool installed (Debian's prometheus
// package), `promtool check rules` must accept the file as well.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { parse } from "./prom.mjs";
import { REPO, freePort, httpRequest, startServer } from "./lib.mjs";

const FILE = path.join(REPO, "conf/alerts.yml");

/** The rules of the file: [{alert, expr, for, labels, annotations, line}]. */
function readRules(text) {
  const rules = [];
  let cur = null;
  let section = null;
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\s+$/, "");
    if (/^\s*#/.test(line) || line === "") return;
    let m;
    if ((m = /^\s*- alert: (\S+)$/.exec(line))) {
      cur = { alert: m[1], labels: {}, annotations: {}, line: i + 1 };
      rules.push(cur);
      section = null;
    } else if (cur && (m = /^\s+expr: (.+)$/.exec(line))) {
      cur.expr = m[1];
      section = null;
    } else if (cur && (m = /^\s+for: (\S+)$/.exec(line))) {
      cur.for = m[1];
    } else if (cur && (m = /^\s+(labels|annotations):$/.exec(line))) {
      section = m[1];
    } else if (cur && section && (m = /^\s+(\w+): (.+)$/.exec(line))) {
      cur[section][m[1]] = m[2];
    } else if (/^\s*- name: /.test(line) || /^\s*(groups|rules):$/.test(line)) {
      cur = null;
      section = null;
    } else {
      throw new Error(`conf/alerts.yml:${i + 1}: unexpected line: ${line}`);
    }
  });
  return rules;
}

/** Metric names an expression refers to. */
const metricsOf = (expr) => [...new Set(expr.match(/\bresonate_[a-z0-9_]+/g) ?? [])];

test("every alert rule is complete and the four concerns are covered", () => {
  const rules = readRules(readFileSync(FILE, "utf8"));
  assert.ok(rules.length >= 6, `only ${rules.length} rules`);
  const names = new Set();
  for (const r of rules) {
    const at = `conf/alerts.yml:${r.line} ${r.alert}`;
    assert.ok(!names.has(r.alert), `${at}: duplicate alert name`);
    names.add(r.alert);
    assert.match(r.alert, /^Resonate[A-Z][A-Za-z]+$/, at);
    assert.ok(r.expr, `${at}: no expr`);
    assert.ok(metricsOf(r.expr).length > 0, `${at}: expr names no resonate_ metric`);
    assert.match(r.labels.severity ?? "", /^(warning|critical)$/, `${at}: severity`);
    assert.ok(r.annotations.summary, `${at}: no summary`);
    if (r.for) assert.match(r.for, /^\d+[smh]$/, `${at}: for`);
    // Balanced parentheses and braces: a cheap syntax check without promtool.
    for (const [o, c] of [["(", ")"], ["{", "}"]]) {
      assert.equal(r.expr.split(o).length, r.expr.split(c).length, `${at}: unbalanced ${o}${c}`);
    }
  }
  const exprs = rules.map((r) => r.expr);
  assert.ok(exprs.some((e) => /resonate_auth_failures_total/.test(e) && /by \(instance, reason\)/.test(e)),
    "an alert on auth failures by reason");
  assert.ok(exprs.some((e) => /resonate_poll_connections \/ resonate_poll_max_connections/.test(e)),
    "an alert on poll-slot exhaustion");
  assert.ok(exprs.some((e) => /resonate_poll_streams_refused_total/.test(e)), "an alert on refused poll streams");
  assert.ok(exprs.some((e) => /resonate_outbox_depth/.test(e)), "an alert on the outbox backlog");
  assert.ok(exprs.some((e) => /resonate_deliveries_total\{status="dropped"\}/.test(e)), "an alert on dropped deliveries");
  assert.ok(exprs.some((e) => /resonate_tls_cert_expiry_timestamp_seconds - time\(\) < 30 \* 86400/.test(e)),
    "an alert on a TLS certificate expiring within 30 days");
});

test("every metric an alert names is served by /metrics of a running server", async (t) => {
  const metricsPort = await freePort();
  const srv = await startServer({ args: ["--observability-metrics-port", String(metricsPort)] });
  t.after(() => srv.stop());
  const res = await httpRequest(metricsPort, "GET", "/metrics");
  assert.equal(res.status, 200);
  const families = parse(res.text);
  const rules = readRules(readFileSync(FILE, "utf8"));
  const missing = [];
  for (const r of rules) {
    for (const name of metricsOf(r.expr)) {
      const base = name.replace(/_(bucket|sum|count)$/, "");
      if (!families.has(name) && !(families.has(base) && families.get(base).type === "histogram")) {
        missing.push(`${r.alert}: ${name}`);
      }
    }
  }
  assert.deepEqual(missing, [], `metrics named by alerts but not served:\n${missing.join("\n")}`);
  // The label values the rules select on are ones the server writes.
  const text = res.text;
  assert.match(text, /resonate_deliveries_total\{status="dropped"\}/);
  assert.match(text, /resonate_poll_streams_refused_total\{reason="limit"\}/);
  assert.match(text, /resonate_poll_max_connections 1000\n/);
});

// promtool from PATH, else where scripts/deps.sh --test extracts it.
const PROMTOOL = [process.env.PROMTOOL, "promtool", path.join(REPO, "build/tools/usr/bin/promtool")]
  .filter(Boolean)
  .find((p) => spawnSync(p, ["--version"]).status === 0);
test("promtool check rules accepts the file", { skip: !PROMTOOL && "promtool not found (scripts/deps.sh --test fetches it)" }, () => {
  const out = execFileSync(PROMTOOL, ["check", "rules", FILE], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  assert.match(out, /SUCCESS: \d+ rules found/);
});
