// cors.test.mjs - --server-cors-allow-origin: preflights answered 204 with
// the allowed methods and headers (Authorization, Content-Type), the
// allowed origin echoed on POST / and GET /poll, nothing for other origins,
// and no CORS at all when no origin is configured.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { envelope, httpRequest, startServer } from "./lib.mjs";

const A = "https://app.example.com";
const B = "http://localhost:3000";

function preflight(port, path, origin, requestHeaders = "authorization, content-type") {
  return httpRequest(port, "OPTIONS", path, {
    headers: { origin, "access-control-request-method": path === "/" ? "POST" : "GET",
      "access-control-request-headers": requestHeaders },
  });
}

function post(port, origin) {
  const headers = { "content-type": "application/json" };
  if (origin) headers.origin = origin;
  return httpRequest(port, "POST", "/", {
    headers, body: envelope("promise.get", { id: "nope" }),
  });
}

/** Headers of GET /poll/... (the stream is closed once they arrive). */
function pollHeaders(port, origin) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/poll/g/w", headers: { origin } }, (res) => {
      resolve({ status: res.statusCode, headers: res.headers });
      req.destroy();
    });
    req.on("error", (e) => (e.code === "ECONNRESET" ? null : reject(e)));
  });
}

test("listed origins: preflight 204 and the origin echoed on POST / and GET /poll", async (t) => {
  const srv = await startServer({ args: ["--server-cors-allow-origin", A, "--server-cors-allow-origin", B] });
  t.after(() => srv.stop());
  for (const path of ["/", "/poll/g/w"]) {
    for (const origin of [A, B]) {
      const r = await preflight(srv.port, path, origin);
      assert.equal(r.status, 204, `${path} ${origin}`);
      assert.equal(r.headers["access-control-allow-origin"], origin);
      assert.match(r.headers["access-control-allow-methods"], /\bPOST\b/);
      assert.match(r.headers["access-control-allow-methods"], /\bGET\b/);
      const allowed = r.headers["access-control-allow-headers"].toLowerCase().split(/,\s*/);
      for (const h of ["authorization", "content-type"]) assert.ok(allowed.includes(h), `${h} not in ${allowed}`);
      assert.match(r.headers.vary, /Origin/);
    }
  }
  const r = await post(srv.port, A);
  assert.equal(r.status, 404); // the answer itself is unchanged
  assert.equal(r.headers["access-control-allow-origin"], A);
  assert.match(r.headers.vary, /Origin/);
  const p = await pollHeaders(srv.port, B);
  assert.equal(p.status, 200);
  assert.equal(p.headers["access-control-allow-origin"], B);
  assert.match(srv.stderr(), /CORS enabled origins=https:\/\/app\.example\.com,http:\/\/localhost:3000/);
});

test("other origins get no CORS headers, on preflight or request", async (t) => {
  const srv = await startServer({ args: ["--server-cors-allow-origin", A] });
  t.after(() => srv.stop());
  const pre = await preflight(srv.port, "/", "https://evil.example");
  assert.equal(pre.headers["access-control-allow-origin"], undefined);
  assert.equal(pre.headers["access-control-allow-headers"], undefined);
  const r = await post(srv.port, "https://evil.example");
  assert.equal(r.headers["access-control-allow-origin"], undefined);
  const none = await post(srv.port, undefined);
  assert.equal(none.headers["access-control-allow-origin"], undefined);
  // an OPTIONS that is not a preflight is not special
  const plain = await httpRequest(srv.port, "OPTIONS", "/", { headers: { origin: A } });
  assert.equal(plain.status, 405);
});

test("* allows any origin and echoes the requested headers", async (t) => {
  const srv = await startServer({ env: { RESONATE_SERVER__CORS__ALLOW_ORIGINS: '["*"]' } });
  t.after(() => srv.stop());
  const pre = await preflight(srv.port, "/", "https://anyone.example", "authorization, x-custom");
  assert.equal(pre.status, 204);
  assert.equal(pre.headers["access-control-allow-origin"], "*");
  assert.match(pre.headers["access-control-allow-headers"], /Authorization/);
  assert.match(pre.headers["access-control-allow-headers"], /x-custom/);
  const r = await post(srv.port, "https://anyone.example");
  assert.equal(r.headers["access-control-allow-origin"], "*");
});

test("without allowed origins there is no CORS at all", async (t) => {
  const srv = await startServer();
  t.after(() => srv.stop());
  const pre = await preflight(srv.port, "/", A);
  assert.equal(pre.status, 405);
  assert.equal(pre.headers["access-control-allow-origin"], undefined);
  const r = await post(srv.port, A);
  assert.equal(r.headers["access-control-allow-origin"], undefined);
  assert.equal(r.headers.vary, undefined);
});
