// tls.test.mjs - HTTPS on the API, /poll and /metrics (issue 15), with a
// throwaway CA made by openssl: the real SDK runs a workflow over HTTPS,
// plain HTTP and old TLS versions are refused without hurting the server,
// SIGHUP swaps the certificate for new connections while an open SSE stream
// keeps going, a bad new pair keeps the old one, a key readable by others
// refuses to start, the client commands speak https:// with --cacert, and
// pushes to https:// targets verify the target's certificate.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, copyFileSync, readFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { PROTOCOL_VERSION, freePort, resonateBin, startServer } from "../node/lib/server.mjs";
import { fingerprint, httpsRequest, makePki, openTlsPoll, peerFingerprint, sleep, until } from "./lib.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const T = 90_000;
const FAST = ["--timeouts-poll-interval", "100", "--messages-poll-interval", "50", "--tasks-retry-timeout", "1000"];

/** A PKI and a server with --server-tls-cert/--server-tls-key; both removed in t.after. */
async function tlsServer(t, { args = [], ...rest } = {}) {
  const pki = makePki();
  t.after(() => pki.remove());
  const srv = await startServer({
    ca: pki.ca,
    args: ["--server-tls-cert", pki.live.cert, "--server-tls-key", pki.live.key, ...args],
    ...rest,
  });
  t.after(() => srv.stop());
  return { pki, srv };
}

const env = (kind, data, head = {}) =>
  JSON.stringify({ kind, head: { corrId: `c${Math.random()}`, version: PROTOCOL_VERSION, ...head }, data });

async function create(srv, id, tags = {}) {
  const res = await srv.request("POST", "/", {
    body: env("promise.create", { id, timeoutAt: Date.now() + 600_000, param: {}, tags }),
    headers: { "content-type": "application/json" },
  });
  assert.equal(res.status, 200, res.text);
  return JSON.parse(res.text);
}

/** Runs `resonate args...`; resolves to {code, stdout, stderr}. */
function cli(args, extraEnv = {}) {
  return new Promise((resolve) => {
    execFile(resonateBin(), args, { env: { ...process.env, ...extraEnv }, timeout: 20000 }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

test("the real SDK 0.11.5 runs a workflow over HTTPS (RPC and SSE) trusting the CA via NODE_EXTRA_CA_CERTS", { timeout: T }, async (t) => {
  const { pki, srv } = await tlsServer(t, { args: FAST });
  assert.ok(srv.url.startsWith("https://"));
  const child = spawn(process.execPath,
    ["--import", path.resolve(HERE, "../node/polyfill.mjs"), path.join(HERE, "../auth/sdk-child.mjs"),
      JSON.stringify({ version: "0.11.5", url: srv.url, group: "tls", id: "tls.wf.1", arg: 20, rpc: true })],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_EXTRA_CA_CERTS: pki.caFile } });
  let out = "";
  let err = "";
  child.stdout.on("data", (c) => (out += c));
  child.stderr.on("data", (c) => (err += c));
  const exited = new Promise((r) => child.on("exit", r));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  await exited;
  clearTimeout(timer);
  assert.equal(out.trim(), 'ok {"a":21,"b":42}', `child stderr: ${err.slice(-2000)}`);
  // The web console is on the same HTTPS listener.
  const ui = await srv.request("GET", "/ui");
  assert.equal(ui.status, 200);
  assert.match(ui.headers.get("content-type") ?? "", /text\/html/);
  // Workers are told to call back over https:// (server.url's default).
  assert.match(srv.stderr(), /server_url=https:\/\/localhost:\d+ .*tls=on/);
  // The workflow's promises are stored: the SDK really went through us.
  const got = await srv.request("POST", "/", { body: env("promise.get", { id: "tls.wf.1" }) });
  assert.equal(JSON.parse(got.text).data.promise?.state ?? JSON.parse(got.text).data.state, "resolved", got.text);
  srv.assertHealthy();
});

test("plain HTTP and TLS below 1.2 to the HTTPS port fail cleanly and the server keeps serving", { timeout: T }, async (t) => {
  const { pki, srv } = await tlsServer(t);
  // fetch over http:// to the TLS port: no HTTP answer.
  await assert.rejects(fetch(`http://127.0.0.1:${srv.port}/health`));
  // A raw plaintext request: the server closes the connection (no crash, no hang).
  const closed = await new Promise((resolve, reject) => {
    const s = net.connect(srv.port, "127.0.0.1", () => s.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
    let got = "";
    s.on("data", (d) => (got += d.toString("latin1")));
    s.on("close", () => resolve(got));
    s.on("error", () => resolve(got));
    s.setTimeout(10000, () => reject(new Error("plaintext connection neither answered nor closed")));
  });
  assert.ok(!closed.startsWith("HTTP/"), `a plaintext answer: ${closed.slice(0, 100)}`);
  // TLS 1.0/1.1 are refused by the server (this client would speak them:
  // security level 0 lifts Node's own floor), with a protocol-version alert.
  const old = (v) => ({ minVersion: v, maxVersion: v, ciphers: "DEFAULT@SECLEVEL=0" });
  const control = tls.createServer({ cert: readFileSync(pki.a.cert), key: readFileSync(pki.a.key), minVersion: "TLSv1", ciphers: "DEFAULT@SECLEVEL=0" }, (s) => s.end());
  await new Promise((r) => control.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => control.close(r)));
  for (const v of ["TLSv1", "TLSv1.1"]) {
    // The control server proves this client really speaks v ...
    assert.equal(await peerFingerprint(control.address().port, pki.ca, old(v)), fingerprint(pki.a.cert), v);
    // ... and ours refuses it.
    await assert.rejects(peerFingerprint(srv.port, pki.ca, old(v)),
      /disconnected before secure TLS|alert protocol version|unsupported protocol|wrong version/i, v);
  }
  // TLS 1.2 and 1.3 work, with an AEAD cipher and the server's chain.
  for (const v of ["TLSv1.2", "TLSv1.3"]) {
    const info = await new Promise((resolve, reject) => {
      const s = tls.connect({ host: "127.0.0.1", port: srv.port, ca: pki.ca, servername: "localhost", minVersion: v, maxVersion: v }, () => {
        const r = { version: s.getProtocol(), cipher: s.getCipher().name };
        s.end();
        resolve(r);
      });
      s.on("error", reject);
    });
    assert.equal(info.version, v);
    assert.match(info.cipher, /GCM|CHACHA20/, info.cipher);
  }
  // An untrusted client (no CA) is refused by the client itself: the certificate is not public.
  await assert.rejects(httpsRequest(`${srv.url}/health`, { ca: undefined }));
  // Still serving.
  assert.equal((await srv.request("GET", "/health")).status, 200);
  await create(srv, "still-serving");
  srv.assertHealthy();
});

test("SIGHUP with a new pair keeps an open SSE stream and serves the new certificate to the next connection", { timeout: T }, async (t) => {
  const { pki, srv } = await tlsServer(t, { args: FAST });
  const fpA = fingerprint(pki.a.cert);
  const fpB = fingerprint(pki.b.cert);
  assert.notEqual(fpA, fpB);
  assert.equal(await peerFingerprint(srv.port, pki.ca), fpA);
  const stream = await openTlsPoll(srv.port, pki.ca, "g", "w1");
  t.after(() => stream.close());
  assert.equal(stream.status, 200);
  assert.equal(stream.socketFingerprint, fpA);

  pki.install(pki.b);
  srv.child.kill("SIGHUP");
  await until(() => /SIGHUP: TLS certificate reloaded/.test(srv.stderr()), 10000, "reload logged");
  assert.match(srv.stderr(), new RegExp(`sha256 ${fpB.replaceAll(":", "").toLowerCase()}`));
  assert.equal(await peerFingerprint(srv.port, pki.ca), fpB);

  // The stream opened before the reload still carries messages.
  await create(srv, "after-reload", { "resonate:target": "poll://any@g/w1" });
  await until(() => stream.messages.some((m) => JSON.stringify(m).includes("after-reload")), 15000, "message on the old stream");
  assert.equal(stream.closed, false);

  // A bad new pair (certificate of a, key of b) is refused; b stays in use.
  copyFileSync(pki.a.cert, pki.live.cert);
  srv.child.kill("SIGHUP");
  await until(() => /SIGHUP: TLS reload failed, keeping the previous certificate and key: .*does not match/.test(srv.stderr()), 10000, "failed reload logged");
  assert.equal(await peerFingerprint(srv.port, pki.ca), fpB);
  // A world-readable key at reload: refused too, named with the fix.
  pki.install(pki.a);
  chmodSync(pki.live.key, 0o644);
  srv.child.kill("SIGHUP");
  await until(() => /TLS reload failed.*live\.key' has mode 0644.*chmod 600/.test(srv.stderr()), 10000, "mode refusal logged");
  assert.equal(await peerFingerprint(srv.port, pki.ca), fpB);
  assert.equal((await srv.request("GET", "/health")).status, 200);
  srv.assertHealthy();
});

test("a certificate chain (server, then intermediate) is served whole: a client trusting only the root verifies it", { timeout: T }, async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  pki.install(pki.chained);
  const srv = await startServer({ ca: pki.ca, args: ["--server-tls-cert", pki.live.cert, "--server-tls-key", pki.live.key] });
  t.after(() => srv.stop());
  assert.match(srv.stderr(), /chain of 2 from/);
  const chain = await new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port: srv.port, ca: pki.ca, servername: "localhost" }, () => {
      const leaf = s.getPeerCertificate(true);
      resolve({ leaf: leaf.fingerprint256, issuer: leaf.issuerCertificate?.subject?.CN, authorized: s.authorized });
      s.end();
    });
    s.on("error", reject);
  });
  assert.equal(chain.authorized, true);
  assert.equal(chain.leaf, fingerprint(pki.chained.leaf));
  assert.equal(chain.issuer, "intermediate");
  assert.equal((await srv.request("GET", "/health")).status, 200);
  // The leaf alone (no intermediate) does not verify with the root only:
  // the test above is not vacuous.
  pki.install({ cert: pki.chained.leaf, key: pki.chained.key });
  srv.child.kill("SIGHUP");
  await until(() => /TLS certificate reloaded \(server.tls_cert\/server.tls_key: chain of 1/.test(srv.stderr()), 10000, "reload");
  await assert.rejects(peerFingerprint(srv.port, pki.ca), /unable to (verify|get local issuer)/);
});

test("a key file readable by other users refuses to start, naming the file and the chmod", { timeout: T }, async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  for (const mode of [0o644, 0o604, 0o660]) {
    chmodSync(pki.live.key, mode);
    const res = await cli(["dev", "--server-port", String(await freePort()), "--server-bind", "127.0.0.1",
      "--observability-metrics-port", "0", "--server-tls-cert", pki.live.cert, "--server-tls-key", pki.live.key]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /Fatal: TLS key file '.*live\.key' has mode 0\d+: .*chmod 600/, res.stderr);
  }
  // 640 (a group like Debian's ssl-cert) is accepted.
  chmodSync(pki.live.key, 0o640);
  const srv = await startServer({ ca: pki.ca, args: ["--server-tls-cert", pki.live.cert, "--server-tls-key", pki.live.key] });
  await srv.stop();
});

test("/metrics can have its own pair and is then HTTPS only", { timeout: T }, async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const port = await freePort();
  const srv = await startServer({
    args: ["--observability-metrics-port", String(port),
      "--observability-metrics-tls-cert", pki.b.cert, "--observability-metrics-tls-key", pki.b.key],
  });
  t.after(() => srv.stop());
  assert.ok(srv.url.startsWith("http://"), "the API stays plain HTTP");
  const m = await httpsRequest(`https://127.0.0.1:${port}/metrics`, { ca: pki.ca });
  assert.equal(m.status, 200);
  assert.match(m.text, /resonate_outbox_depth/);
  assert.equal(await peerFingerprint(port, pki.ca), fingerprint(pki.b.cert));
  await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`));
  // SIGHUP reloads it too.
  copyFileSync(pki.a.cert, pki.b.cert);
  copyFileSync(pki.a.key, pki.b.key);
  srv.child.kill("SIGHUP");
  await until(() => /SIGHUP: TLS certificate reloaded \(observability/.test(srv.stderr()), 10000, "metrics reload logged");
  assert.equal(await peerFingerprint(port, pki.ca), fingerprint(pki.a.cert));
});

// Review finding: a certificate close to its expiry went unnoticed.
test("a served certificate expiring within 30 days, or expired, is warned about at start and at SIGHUP, and /metrics exports its expiry per listener", { timeout: T }, async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const port = await freePort();
  const srv = await startServer({
    ca: pki.ca,
    args: ["--server-tls-cert", pki.live.cert, "--server-tls-key", pki.live.key,
      "--observability-metrics-port", String(port),
      "--observability-metrics-tls-cert", pki.b.cert, "--observability-metrics-tls-key", pki.b.key],
  });
  t.after(() => srv.stop());
  const notAfter = (file) => Math.round(Date.parse(new X509Certificate(readFileSync(file)).validTo) / 1000);
  const iso = (s) => new Date(s * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const a = notAfter(pki.a.cert), b = notAfter(pki.b.cert), expired = notAfter(pki.expired.cert);
  // Both test certificates are valid for 2 days: warned about at start.
  assert.match(srv.stderr(), new RegExp(`server\\.tls_cert/server\\.tls_key: the certificate in '${esc(pki.live.cert)}' expires on ${iso(a)} \\(in [12] days?, under 30\\)`));
  assert.match(srv.stderr(), new RegExp(`observability\\.metrics_tls_cert/metrics_tls_key: the certificate in '${esc(pki.b.cert)}' expires on ${iso(b)} \\(in [12] days?, under 30\\)`));
  const gauge = async (listener) => {
    const m = await httpsRequest(`https://127.0.0.1:${port}/metrics`, { ca: pki.ca });
    assert.equal(m.status, 200);
    return Number(new RegExp(`^resonate_tls_cert_expiry_timestamp_seconds\\{listener="${listener}"\\} (\\d+)$`, "m").exec(m.text)?.[1]);
  };
  assert.equal(await gauge("api"), a);
  assert.equal(await gauge("metrics"), b);
  // An expired certificate is served if installed (clients refuse it): warned about at the reload.
  pki.install(pki.expired);
  srv.child.kill("SIGHUP");
  await until(() => /SIGHUP: TLS certificate reloaded \(server/.test(srv.stderr()), 10000, "reload logged");
  await until(() => new RegExp(`the certificate in '${esc(pki.live.cert)}' EXPIRED on ${iso(expired)} \\(\\d+ days? ago\\): clients refuse it`).test(srv.stderr()), 10000, "expired warning");
  assert.equal(await gauge("api"), expired);
  srv.assertHealthy();
});

test("client commands speak https:// and trust a private CA only with --cacert", { timeout: T }, async (t) => {
  const { pki, srv } = await tlsServer(t);
  await create(srv, "cli-1");
  const ok = await cli(["promises", "get", "cli-1", "-S", srv.url, "--cacert", pki.caFile, "--json"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).id ?? JSON.parse(ok.stdout).promise?.id, "cli-1");
  const viaEnv = await cli(["promises", "get", "cli-1", "-S", srv.url], { RESONATE_CACERT: pki.caFile });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  const untrusted = await cli(["promises", "get", "cli-1", "-S", srv.url], { RESONATE_CACERT: "" });
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /certificate .* is not trusted: .*--cacert FILE/);
  const plain = await cli(["promises", "get", "cli-1", "-S", `http://127.0.0.1:${srv.port}`]);
  assert.equal(plain.code, 1);
  // It read "cannot use the CA file DIR: error setting certificate file: DIR".
  const caDir = path.dirname(pki.caFile);
  const dir = await cli(["promises", "get", "cli-1", "-S", srv.url, "--cacert", caDir]);
  assert.equal(dir.code, 1);
  assert.equal(dir.stderr, `error: the CA file ${caDir} is a directory, not a file: give --cacert (or RESONATE_CACERT) the PEM file of the CA certificates\n`);
});

test("a client given https:// for a plain HTTP server, or http:// for an HTTPS one, is told which it speaks and the address to use", { timeout: T }, async (t) => {
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const { srv } = await tlsServer(t);
  const plain = await startServer({});
  t.after(() => plain.stop());
  const host = `127.0.0.1:${plain.port}`;
  // The TLS library words the first case "wrong version number" or
  // SSL_ERROR_SYSCALL (a reset) from run to run: each must be explained.
  for (let i = 0; i < 3; i++) {
    const r = await cli(["promises", "get", "p-1", "-S", `https://${host}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`the server at https://${esc(host)} answered in plain HTTP, not TLS: use -S http://${esc(host)} .*server\\.tls_cert and server\\.tls_key`), r.stderr);
  }
  const tlsHost = `127.0.0.1:${srv.port}`;
  const r = await cli(["promises", "get", "p-1", "-S", `http://${tlsHost}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`the server at http://${esc(tlsHost)} speaks TLS \\(HTTPS\\), not plain HTTP: use -S https://${esc(tlsHost)} .*--cacert FILE`), r.stderr);
  srv.assertHealthy();
  plain.assertHealthy();
});

/** An HTTPS receiver with pair; records the requests it gets. */
async function receiver(t, pair) {
  const hits = [];
  const tlsErrors = [];
  const server = https.createServer({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) }, (req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      hits.push({ url: req.url, body });
      res.writeHead(200);
      res.end();
    });
  });
  server.on("tlsClientError", (e) => tlsErrors.push(String(e.message)));
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }));
  return { hits, tlsErrors, url: `https://127.0.0.1:${server.address().port}` };
}

test("pushes to https:// verify the target: a valid certificate is delivered, an expired or wrong-host one refused", { timeout: T }, async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const srv = await startServer({
    args: [...FAST, "--level", "debug", "--transports-http-push-cacert", pki.caFile,
      "--messages-retry-base", "100", "--messages-retry-max", "200"],
  });
  t.after(() => srv.stop());
  const good = await receiver(t, pki.a);
  const expired = await receiver(t, pki.expired);
  const wrongHost = await receiver(t, pki.otherHost);
  await create(srv, "push-good", { "resonate:target": `${good.url}/hook` });
  // Review finding: the refusal logged the target's user:pass@.
  const withSecret = expired.url.replace("https://", "https://hook-user:s3cret-pw@");
  await create(srv, "push-expired", { "resonate:target": `${withSecret}/hook` });
  await create(srv, "push-wrong-host", { "resonate:target": `${wrongHost.url}/hook` });
  await until(() => good.hits.length > 0, 15000, "push to the valid target");
  assert.match(good.hits[0].body, /push-good/);
  await until(() => /push to https:\/\/\*\*\*@127\.0\.0\.1:\d+\/hook refused: TLS: .*expired/i.test(srv.stderr()), 15000, "expired refusal logged");
  await until(() => /push to https:\/\/127\.0\.0\.1:\d+\/hook refused: TLS: .*(subject|name|match)/i.test(srv.stderr()), 15000, "wrong-host refusal logged");
  await sleep(500); // a few retries happen meanwhile: none may get through
  assert.equal(expired.hits.length, 0, "nothing delivered to the expired target");
  assert.equal(wrongHost.hits.length, 0, "nothing delivered to the wrong host");
  assert.doesNotMatch(srv.stderr(), /s3cret-pw|hook-user/, "no userinfo in any log line");
  srv.assertHealthy();
});

test("without transports.http_push.cacert a private CA's target is refused too (the system store is used)", { timeout: T }, async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const srv = await startServer({ args: [...FAST, "--level", "debug"] });
  t.after(() => srv.stop());
  const good = await receiver(t, pki.a);
  await create(srv, "push-private", { "resonate:target": `${good.url}/hook` });
  await until(() => /push to https:\/\/127\.0\.0\.1:\d+\/hook refused: TLS/.test(srv.stderr()), 15000, "refusal logged");
  assert.equal(good.hits.length, 0);
});
