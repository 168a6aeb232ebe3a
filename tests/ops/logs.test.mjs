// logs.test.mjs - what the server writes to stderr: one event per line,
// --log-format json gives one JSON object per line with the request fields
// as members, --level filters, and no token ever appears in the log.
import { test } from "node:test";
import assert from "node:assert/strict";
import { envelope, httpRequest, makeKeys, mintToken, startServer, tempDir } from "./lib.mjs";

test("json logs: every line is an object; request lines carry kind, corrId, status, duration", async (t) => {
  const srv = await startServer({ args: ["--log-format", "json", "--level", "debug"] });
  t.after(() => srv.stop());
  const r = await srv.rpc("promise.create", { id: "log-1", timeoutAt: Date.now() + 60000, param: {}, tags: {} });
  assert.equal(r.status, 200);
  await srv.rpc("promise.get", { id: "absent" });
  const out = await srv.stop();
  const lines = out.stderr.split("\n").filter(Boolean);
  assert.ok(lines.length > 5);
  const events = lines.map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      assert.fail(`not a JSON line: ${l}`);
    }
  });
  for (const e of events) {
    assert.match(e.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.ok(["debug", "info", "warn", "error"].includes(e.level), e.level);
    assert.equal(typeof e.msg, "string");
  }
  const req = events.find((e) => e.msg === "request" && e.corrId === r.corrId);
  assert.ok(req, "no request event for the create");
  assert.equal(req.kind, "promise.create");
  assert.equal(req.status, "200");
  assert.ok(Number(req.duration_ms) >= 0);
  const miss = events.find((e) => e.msg === "request" && e.kind === "promise.get");
  assert.equal(miss.status, "404");
  const listening = events.find((e) => e.msg === "Server listening");
  assert.equal(listening.bind, "127.0.0.1");
  assert.equal(listening.port, String(srv.port));
  assert.ok(events.some((e) => e.msg === "Resonate Server stopped"));
});

test("text logs: time, level, message on one line; --level warn hides info and debug", async (t) => {
  const chatty = await startServer({ args: ["--level", "debug"] });
  await chatty.rpc("promise.get", { id: "x\ny" });
  const c = await chatty.stop();
  for (const line of c.stderr.split("\n").filter(Boolean)) {
    assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (debug|info |warn |error) \S/, line);
  }
  assert.match(c.stderr, / debug request kind=promise\.get corrId=\S+ status=\d+ duration_ms=[\d.]+\n/);

  const quiet = await startServer({ args: ["--level", "warn"] });
  t.after(() => quiet.stop());
  await quiet.rpc("promise.get", { id: "absent" });
  const q = await quiet.stop();
  assert.doesNotMatch(q.stderr, / (info|debug) /);
});

test("tokens never reach the log, accepted or refused", async (t) => {
  const dir = tempDir(t);
  const keys = makeKeys(dir);
  const good = mintToken(keys.priv, ["--prefix", "ok"]);
  const expired = mintToken(keys.priv, ["--prefix", "ok", "--exp", "1s"]);
  const srv = await startServer({ args: ["--auth-publickey", keys.pub, "--auth-leeway", "0", "--level", "debug", "--log-format", "json"] });
  t.after(() => srv.stop());
  const send = (token, id, viaHeader) =>
    httpRequest(srv.port, "POST", "/", {
      headers: { "content-type": "application/json", ...(viaHeader ? { authorization: `Bearer ${token}` } : {}) },
      body: envelope("promise.create", { id, timeoutAt: Date.now() + 60000, param: {}, tags: {} }, viaHeader ? {} : { auth: token }),
    });
  assert.equal((await send(good, "ok-1", false)).status, 200);
  assert.equal((await send(good, "ok-2", true)).status, 200);
  assert.equal((await send(good, "other", false)).status, 403);
  await new Promise((r) => setTimeout(r, 2100));
  assert.equal((await send(expired, "ok-3", true)).status, 401);
  const forged = good.slice(0, -4) + "AAAA";
  assert.equal((await send(forged, "ok-4", false)).status, 401);
  await httpRequest(srv.port, "GET", `/poll/g/w?token=${encodeURIComponent(forged)}`);
  const out = await srv.stop();
  assert.match(out.stderr, /auth rejected/);
  for (const tok of [good, expired, forged]) {
    for (const part of tok.split(".")) {
      if (part.length > 16) assert.ok(!out.stderr.includes(part), "a token part appears in the log");
    }
  }
});

test("a client's corrId cannot forge a log field: JSON keeps the real status, text quotes the value", async (t) => {
  const dir = tempDir(t);
  const keys = makeKeys(dir);
  const token = mintToken(keys.priv, ["--prefix", "ok"]);
  const forged = "c1 status=200 reason=all-good";
  for (const format of ["json", "text"]) {
    const srv = await startServer({ args: ["--auth-publickey", keys.pub, "--level", "debug", "--log-format", format] });
    t.after(() => srv.stop());
    const r = await httpRequest(srv.port, "POST", "/", {
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({
        kind: "promise.create",
        head: { corrId: forged, version: "2026-04-01" },
        data: { id: "other", timeoutAt: Date.now() + 60000, param: {}, tags: {} },
      }),
    });
    assert.equal(r.status, 403);
    const out = await srv.stop();
    const lines = out.stderr.split("\n").filter(Boolean);
    if (format === "json") {
      const events = lines.map((l) => JSON.parse(l));
      const req = events.find((e) => e.msg === "request" && e.corrId === forged);
      assert.ok(req, "no request event carrying the whole corrId");
      assert.equal(req.status, "403");
      assert.equal(req.reason, undefined);
      const rejected = events.find((e) => e.msg === "auth rejected" && e.corrId === forged);
      assert.equal(rejected.status, "403");
    } else {
      const line = lines.find((l) => / debug request kind=promise\.create /.test(l));
      assert.ok(line, out.stderr);
      assert.match(line, / corrId="c1 status=200 reason=all-good" status=403 duration_ms=[\d.]+$/);
    }
  }
});
