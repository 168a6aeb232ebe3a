// metrics.test.mjs - /metrics of a running server, read with the strict
// exposition-format parser: after real traffic (good and bad tokens, a poll
// stream, a delivered message, store batches on a file database) every
// counter that should have moved did, by the right amount.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { parse, value } from "./prom.mjs";
import { envelope, freePort, httpRequest, makeKeys, mintToken, sleep, startServer, tempDir } from "./lib.mjs";

async function scrape(port) {
  const r = await httpRequest(port, "GET", "/metrics");
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  return parse(r.text);
}

const v = (f, name, labels) => value(f, name, labels) ?? 0;

/** Opens an SSE stream; resolves once the headers arrived. */
function openStream(port, urlPath, token) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const stream = { res, req, data: "" };
      res.setEncoding("utf8");
      res.on("data", (d) => (stream.data += d));
      res.on("error", () => {});
      resolve(stream);
    });
    req.on("error", reject);
  });
}

test("counters move with traffic and every family parses strictly", async (t) => {
  const dir = tempDir(t);
  const keys = makeKeys(dir);
  const metricsPort = await freePort();
  const srv = await startServer({
    mode: "serve",
    dbPath: path.join(dir, "resonate.db"),
    args: ["--auth-publickey", keys.pub, "--observability-metrics-port", String(metricsPort),
      "--messages-poll-interval", "20"],
  });
  t.after(() => srv.stop());
  const admin = mintToken(keys.priv, ["--role", "admin"]);
  const onlyA = mintToken(keys.priv, ["--prefix", "a"]);
  const post = (body, headers = {}) =>
    httpRequest(srv.port, "POST", "/", { body, headers: { "content-type": "application/json", ...headers } });
  const create = (id, token, tags = {}) =>
    post(envelope("promise.create", { id, timeoutAt: Date.now() + 3600_000, param: {}, tags }, token ? { auth: token } : {}));

  const before = await scrape(metricsPort);
  assert.equal(v(before, "resonate_request_total", { kind: "promise.create", status: "200" }), 0);
  assert.equal(before.get("resonate_request_duration_seconds").type, "histogram");

  const N = 25;
  const created = await Promise.all(Array.from({ length: N }, (_, i) => create(`m-${i}`, admin)));
  assert.ok(created.every((r) => r.status === 200), JSON.stringify(created.map((r) => r.status)));
  assert.equal((await post(envelope("promise.get", { id: "missing" }, { auth: admin }))).status, 404);
  assert.equal((await post(envelope("promise.get", { id: "m-0" }))).status, 401); // no token
  assert.equal((await post(envelope("promise.get", { id: "m-0" }, { auth: "not.a.jwt" }))).status, 401);
  assert.equal((await post(envelope("promise.get", { id: "b-1" }, { auth: onlyA }))).status, 403);
  assert.equal((await post("{not json")).status, 400);

  // A poll stream, and an execute message delivered to it.
  const stream = await openStream(srv.port, "/poll/g/w1", admin);
  t.after(() => stream.req.destroy());
  assert.equal(stream.res.statusCode, 200);
  const during = await scrape(metricsPort);
  assert.equal(v(during, "resonate_poll_connections"), 1);
  assert.equal((await create("task-1", admin, { "resonate:target": "poll://uni@g/w1" })).status, 200);
  for (let i = 0; i < 200 && !stream.data.includes('"execute"'); i++) await sleep(20);
  assert.match(stream.data, /"execute"/);
  let after;
  for (let i = 0; i < 100; i++) {
    after = await scrape(metricsPort);
    if (v(after, "resonate_deliveries_total", { status: "success" }) >= 1) break;
    await sleep(20);
  }

  const d = (name, labels) => v(after, name, labels) - v(before, name, labels);
  assert.equal(d("resonate_request_total", { kind: "promise.create", status: "200" }), N + 1);
  assert.equal(d("resonate_request_total", { kind: "promise.get", status: "404" }), 1);
  assert.equal(d("resonate_request_total", { kind: "promise.get", status: "401" }), 2);
  assert.equal(d("resonate_request_total", { kind: "promise.get", status: "403" }), 1);
  assert.equal(d("resonate_request_total", { kind: "unknown", status: "400" }), 1);
  assert.equal(d("resonate_request_duration_seconds_count", { kind: "promise.create", status: "200" }), N + 1);
  assert.ok(v(after, "resonate_request_duration_seconds_sum", { kind: "promise.create", status: "200" }) > 0);
  assert.equal(d("resonate_auth_failures_total", { reason: "no_token" }), 1);
  assert.equal(d("resonate_auth_failures_total", { reason: "malformed" }), 1);
  assert.equal(d("resonate_auth_failures_total", { reason: "outside_prefix" }), 1);
  // the admin token is verified once, then served from the cache
  assert.ok(d("resonate_auth_verifications_total") >= 2);
  assert.ok(d("resonate_auth_cache_hits_total") >= N - 1);
  assert.ok(d("resonate_store_batch_jobs_count") >= 1);
  assert.ok(d("resonate_store_batch_jobs_sum") >= N + 1, "every stored request is in some batch");
  assert.ok(d("resonate_store_batch_duration_seconds_count") >= d("resonate_store_batch_jobs_count"));
  assert.ok(d("resonate_deliveries_total", { status: "success" }) >= 1);
  assert.ok(v(after, "resonate_sqlite_size_bytes") > 0);
  assert.equal(v(after, "resonate_outbox_depth") >= 0, true);

});

// The depth is counted at each scrape on a read connection, not by the
// store thread's tick (a count of every row there held up every write).
test("resonate_outbox_depth counts the messages waiting, at each scrape", async (t) => {
  const dir = tempDir(t);
  const metricsPort = await freePort();
  const srv = await startServer({
    mode: "serve",
    dbPath: path.join(dir, "resonate.db"),
    args: ["--observability-metrics-port", String(metricsPort), "--timeouts-poll-interval", "3600000"],
  });
  t.after(() => srv.stop());
  assert.equal(value(await scrape(metricsPort), "resonate_outbox_depth"), 0);
  const post = (body) => httpRequest(srv.port, "POST", "/", { body, headers: { "content-type": "application/json" } });
  // No stream for the group: each execute stays queued (retried later).
  for (const id of ["d-1", "d-2", "d-3"]) {
    const r = await post(envelope("promise.create", {
      id, timeoutAt: Date.now() + 3600_000, param: {}, tags: { "resonate:target": "poll://any@nobody" },
    }));
    assert.equal(r.status, 200);
  }
  // No background tick comes within the test (an hour apart): the scrape counts.
  assert.equal(value(await scrape(metricsPort), "resonate_outbox_depth"), 3);
});

test("metrics listener: other paths 404, other methods 405", async (t) => {
  const port = await freePort();
  const srv = await startServer({ args: ["--observability-metrics-port", String(port)] });
  t.after(() => srv.stop());
  assert.equal((await httpRequest(port, "GET", "/")).status, 404);
  assert.equal((await httpRequest(port, "POST", "/metrics", { body: "" })).status, 405);
  assert.equal((await httpRequest(port, "HEAD", "/metrics")).status, 200);
});

test("a metrics port that cannot be bound is logged with its cause and fix and the API keeps serving", async (t) => {
  const port = await freePort();
  const squatter = net.createServer();
  await new Promise((r) => squatter.listen(port, "127.0.0.1", r));
  t.after(() => squatter.close());
  const srv = await startServer({ args: ["--observability-metrics-port", String(port)] });
  t.after(() => srv.stop());
  assert.match(srv.stderr(), /error Failed to bind metrics port: cannot listen on 127\.0\.0\.1:\d+: address in use \(another process listens on port \d+, `ss -ltnp` shows which\): stop it, or set observability\.metrics_port to a free port/);
  const r = await srv.rpc("promise.create", { id: "still-ok", timeoutAt: Date.now() + 60000, param: {}, tags: {} });
  assert.equal(r.status, 200);
});
