// push.test.mjs - outbound push is opt-in per destination (issue 9 #7):
// with auth on, a token without the admin role may name an http(s) push
// address (resonate:target of promise.create, task.create, a fenced
// create and schedule.create's promiseTags; register_listener's address)
// only under an entry of transports.http_push.allow; admin tokens keep
// naming any address; and the push client follows no redirect.
import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";
import { Scope, assertEnvelope, call, createData, jose, keyPair, nowS, sign, sleep, uniq } from "./lib.mjs";

const T = 60_000;
const H = { corrId: "inner", version: "2026-04-01" };

/** A local HTTP receiver recording every request; answer(req) -> [status, headers]. */
async function receiver(scope, answer = () => [200, {}]) {
  const hits = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      hits.push({ url: req.url, body });
      const [status, headers] = answer(req);
      res.writeHead(status, headers);
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  scope.defer(() => new Promise((r) => server.close(r)));
  return { hits, url: `http://127.0.0.1:${server.address().port}` };
}

async function setup(t, allow = []) {
  const scope = new Scope(t);
  const k = await keyPair("Ed25519");
  const priv = await jose.importPKCS8(k.pkcs8, "EdDSA");
  const exp = nowS() + 600;
  const tenant = await sign({ prefix: "a:", exp }, { alg: "EdDSA" }, priv);
  const all = await sign({ prefix: "", exp }, { alg: "EdDSA" }, priv);
  const admin = await sign({ role: "admin", exp }, { alg: "EdDSA" }, priv);
  const args = allow.flatMap((a) => ["--transports-http-push-allow", a]);
  const srv = await scope.server({ keyFile: scope.file("k.pem", k.pem), args });
  return { scope, srv, tenant, all, admin };
}

/** Every way a request can name a push address, for address addr. */
function namings(addr) {
  const target = { "resonate:target": addr };
  return [
    ["promise.create", createData(uniq("a:p"), target)],
    ["task.create", { pid: "w", ttl: 60000, action: { kind: "promise.create", head: H, data: createData(uniq("a:t"), target) } }],
    ["schedule.create", { id: uniq("a:s"), cron: "0 0 1 1 *", promiseId: "a:{{.id}}", promiseTimeout: 60000, promiseParam: {}, promiseTags: target }],
    ["promise.register_listener", { awaited: "a:listened", address: addr }],
  ];
}

test("a prefixed token may not name a push address outside transports.http_push.allow (403, nothing pushed)", { timeout: T }, async (t) => {
  const { scope, srv, tenant, all, admin } = await setup(t);
  const local = await receiver(scope);
  assert.equal((await call(srv, "promise.create", createData("a:listened"), { token: admin })).status, 200);
  for (const token of [tenant, all]) {
    for (const [kind, data] of namings(`${local.url}/x`)) {
      const res = await call(srv, kind, data, { token });
      assertEnvelope(res, 403, kind, res.corrId, "transports.http_push.allow", kind);
    }
  }
  // the fenced create: the task must exist and be held for the check to matter
  const holder = await call(srv, "promise.create", createData("a:holder", { "resonate:target": "poll://any@w" }), { token: admin });
  assert.equal(holder.status, 200, holder.text);
  const acq = await call(srv, "task.acquire", { id: "a:holder", version: 0, pid: "w", ttl: 60000 }, { token: admin });
  assert.equal(acq.status, 200, acq.text);
  const fenced = await call(srv, "task.fence", {
    id: "a:holder", version: 1,
    action: { kind: "promise.create", head: H, data: createData("a:fenced", { "resonate:target": `${local.url}/y` }) },
  }, { token: tenant });
  assertEnvelope(fenced, 403, "task.fence", fenced.corrId, "transports.http_push.allow", "task.fence");
  // poll addresses are not pushed: still allowed
  const poll = await call(srv, "promise.create", createData("a:poll", { "resonate:target": "poll://any@w" }), { token: tenant });
  assert.equal(poll.status, 200, poll.text);
  await sleep(500);
  assert.deepEqual(local.hits, [], "the server pushed to a refused address");
});

test("a prefixed token may name a push address under an allowed prefix, and only there", { timeout: T }, async (t) => {
  const scope = new Scope(t);
  const ok = await receiver(scope);
  const { srv, tenant } = await setup(t, [`${ok.url}/hooks/`]);
  for (const [kind, data] of namings(`${ok.url}/hooks/w1`)) {
    if (kind === "promise.register_listener") continue; // needs an existing promise
    const res = await call(srv, kind, data, { token: tenant });
    assert.equal(res.status, 200, `${kind}: ${res.text}`);
  }
  const host = new URL(ok.url);
  for (const addr of [
    `${ok.url}/other`, // outside the path
    `${ok.url}/hooksx/w`, // not at a segment boundary
    `http://${host.hostname}:${Number(host.port) + 1}/hooks/w`, // another port
    `http://${host.hostname}:${host.port}@127.0.0.2:${host.port}/hooks/w`, // userinfo trick
    `${ok.url}/hooks/../admin`,
  ]) {
    const res = await call(srv, "promise.create", createData(uniq("a:"), { "resonate:target": addr }), { token: tenant });
    assertEnvelope(res, 403, "promise.create", res.corrId, "transports.http_push.allow", addr);
  }
  // the allowed create was pushed
  const deadline = Date.now() + 10000;
  while (!ok.hits.some((h) => h.url === "/hooks/w1") && Date.now() < deadline) await sleep(50);
  assert.ok(ok.hits.some((h) => h.url === "/hooks/w1"), "the allowed address got no push");
  assert.ok(ok.hits.every((h) => h.url.startsWith("/hooks/w1")), JSON.stringify(ok.hits.map((h) => h.url)));
});

test("an admin token may name any push address, allowed or not", { timeout: T }, async (t) => {
  const { scope, srv, admin } = await setup(t, ["http://hooks.invalid/"]);
  const local = await receiver(scope);
  const res = await call(srv, "promise.create", createData("a:admin", { "resonate:target": `${local.url}/admin` }), { token: admin });
  assert.equal(res.status, 200, res.text);
  const deadline = Date.now() + 10000;
  while (!local.hits.length && Date.now() < deadline) await sleep(50);
  assert.equal(local.hits[0]?.url, "/admin");
});

test("a push target answering 302 is not followed", { timeout: T }, async (t) => {
  const { scope, srv, admin } = await setup(t);
  const inner = await receiver(scope);
  const outer = await receiver(scope, () => [302, { location: `${inner.url}/stolen` }]);
  const res = await call(srv, "promise.create", createData("a:redirect", { "resonate:target": `${outer.url}/r` }), { token: admin });
  assert.equal(res.status, 200, res.text);
  const deadline = Date.now() + 10000;
  while (!outer.hits.length && Date.now() < deadline) await sleep(50);
  assert.equal(outer.hits.length >= 1, true, "the redirecting target was never called");
  await sleep(1500); // a retry (backoff 500 ms) would also land on outer, never inner
  assert.deepEqual(inner.hits, [], "the redirect was followed");
});
