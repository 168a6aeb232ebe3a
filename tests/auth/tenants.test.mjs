// tenants.test.mjs - tenant isolation of prefixed tokens (issue 9, findings
// 1, 2, 3 and 11; DECISIONS #2 and #15): a token with a `prefix` claim can
// neither read, take, keep alive nor resume what lies outside its prefix,
// learns nothing about foreign ids from the answers, and searches only its
// own ids. Tokens are minted with `jose`; the store is inspected through an
// admin token's debug.snap.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Scope, assertEnvelope, call, createData, keyPair, nowS, sign, sleep, snap } from "./lib.mjs";

const T = 60_000; // hard limit of each test, ms
const H = { corrId: "inner", version: "2026-04-01" };
const TARGET = { "resonate:target": "poll://any@nobody" };

/** A server with auth on and a token factory: tok(prefix) / tok(null, "admin"). */
async function setup(t) {
  const scope = new Scope(t);
  const k = await keyPair("Ed25519");
  const srv = await scope.server({ keyFile: scope.file("ed.pem", k.pem) });
  const tok = (prefix, role) =>
    sign({ ...(prefix !== null ? { prefix } : {}), ...(role ? { role } : {}), exp: nowS() + 600 }, { alg: "EdDSA" }, k.privateKey);
  const admin = await tok(null, "admin");
  /** Sends as admin and asserts the status. */
  const A = async (kind, data, status = 200) => {
    const res = await call(srv, kind, data, { token: admin });
    assert.equal(res.status, status, `admin ${kind} ${JSON.stringify(data)}: ${res.text}`);
    return res.body.data;
  };
  return { srv, tok, admin, A };
}

function schedule(id, promiseId, extra = {}) {
  return { id, cron: "0 0 1 1 *", promiseId, promiseTimeout: 60000, promiseParam: { data: "c2VjcmV0" }, promiseTags: TARGET, ...extra };
}

// Finding 1.
test("schedule.create is checked on the schedule id too: a foreign schedule can be neither read nor squatted", { timeout: T }, async (t) => {
  const { srv, tok, admin, A } = await setup(t);
  const orders = await tok("orders:");
  const billing = await tok("billing:");
  await A("schedule.create", schedule("nightly", "billing:{{.id}}.{{.timestamp}}"));
  await A("schedule.create", schedule("billing:hourly", "billing:{{.id}}"));
  const before = await snap(srv, admin);

  // Reading an existing foreign schedule through create: 403, no record.
  const answers = [];
  for (const id of ["nightly", "billing:hourly", "billing:unused", "never-made"]) {
    const res = await call(srv, "schedule.create", schedule(id, "orders:x"), { token: orders });
    assertEnvelope(res, 403, "schedule.create", res.corrId, 'outside prefix "orders:"', id);
    assert.ok(!res.text.includes("billing:{{"), `the foreign record leaked: ${res.text}`);
    answers.push(res.body.data);
  }
  // Existing or not, the answer is the same: nothing is revealed.
  assert.equal(new Set(answers).size, 1, answers.join(" | "));
  // Squatting a name billing will use: refused, so billing gets its own.
  const squat = await call(srv, "schedule.create", schedule("billing:later", "orders:{{.id}}"), { token: orders });
  assertEnvelope(squat, 403, "schedule.create", squat.corrId, "outside prefix");
  assert.deepEqual(await snap(srv, admin), before, "a refused schedule.create changed the store");
  const mine = await call(srv, "schedule.create", schedule("billing:later", "billing:{{.id}}"), { token: billing });
  assertEnvelope(mine, 200, "schedule.create", mine.corrId);
  assert.equal(mine.body.data.schedule.promiseId, "billing:{{.id}}");
  // Inside its prefix, with a template inside it too, orders may create.
  const own = await call(srv, "schedule.create", schedule("orders:nightly", "orders:{{.id}}"), { token: orders });
  assertEnvelope(own, 200, "schedule.create", own.corrId);
  // The template is still checked on its own.
  const tmpl = await call(srv, "schedule.create", schedule("orders:n2", "billing:{{.id}}"), { token: orders });
  assertEnvelope(tmpl, 403, "schedule.create", tmpl.corrId, "outside prefix");
});

// A prefix that overlaps a template placeholder passed as the template is
// written, and the schedule then created promises outside it, e.g. prefix
// "{{" with promiseId "{{.timestamp}}" fired as "1796405940000".
test("a schedule's template is checked as filled in: a prefix overlapping a placeholder is refused", { timeout: T }, async (t) => {
  const { srv, tok, admin } = await setup(t);
  const before = await snap(srv, admin);
  for (const [prefix, id, tpl] of [["{{", "{{s", "{{.timestamp}}"], ["x{", "x{s", "x{{.timestamp}}"]]) {
    const res = await call(srv, "schedule.create", schedule(id, tpl), { token: await tok(prefix) });
    assertEnvelope(res, 403, "schedule.create", res.corrId, "promiseId filled in when the schedule fires");
    assert.match(res.body.data, /is outside prefix .*: write the whole prefix before the first \{\{\.timestamp\}\}/);
  }
  assert.deepEqual(await snap(srv, admin), before, "a refused schedule.create changed the store");
  // A prefix before every placeholder still passes.
  const ok = await call(srv, "schedule.create", schedule("x{s", "x{-{{.id}}-{{.timestamp}}"), { token: await tok("x{") });
  assertEnvelope(ok, 200, "schedule.create", ok.corrId);
});

/** The lease timeout of task id in the admin snapshot. */
async function leaseOf(srv, admin, id) {
  const s = await snap(srv, admin);
  const tt = s.taskTimeouts.find((x) => x.id === id);
  assert.ok(tt, `no timer for ${id}: ${JSON.stringify(s.taskTimeouts)}`);
  return tt.timeout;
}

// Finding 2 and DECISIONS #2.
test("task.heartbeat with tasks: [] renews only the pid's leases inside the token's prefix", { timeout: T }, async (t) => {
  const { srv, tok, admin, A } = await setup(t);
  const orders = await tok("orders:");
  const acme = await tok("acme");
  // One worker pid holds leases in several tenants (a pid is guessable).
  const ids = ["billing:t", "orders:t", "acme", "acme2:t"];
  for (const id of ids) {
    await A("promise.create", createData(id, TARGET));
    await A("task.acquire", { id, version: 0, pid: "billing-worker", ttl: 600000 });
  }
  const before = {};
  for (const id of ids) before[id] = await leaseOf(srv, admin, id);
  await sleep(50);
  const hb = await call(srv, "task.heartbeat", { pid: "billing-worker", tasks: [] }, { token: orders });
  assertEnvelope(hb, 200, "task.heartbeat", hb.corrId);
  assert.ok((await leaseOf(srv, admin, "orders:t")) > before["orders:t"], "the token's own lease was not renewed");
  for (const id of ["billing:t", "acme", "acme2:t"]) {
    assert.equal(await leaseOf(srv, admin, id), before[id], `${id}: a foreign lease was renewed`);
  }
  // Byte-wise prefix: "acme" covers "acme" and "acme2:t" (docs/security.md
  // tells tenants to end prefixes with a separator).
  await sleep(50);
  const hb2 = await call(srv, "task.heartbeat", { pid: "billing-worker", tasks: [] }, { token: acme });
  assertEnvelope(hb2, 200, "task.heartbeat", hb2.corrId);
  assert.ok((await leaseOf(srv, admin, "acme2:t")) > before["acme2:t"]);
  assert.equal(await leaseOf(srv, admin, "billing:t"), before["billing:t"]);
  // Admin and "" renew every lease of the pid.
  await sleep(50);
  const all = await tok("");
  await call(srv, "task.heartbeat", { pid: "billing-worker", tasks: [] }, { token: all });
  assert.ok((await leaseOf(srv, admin, "billing:t")) > before["billing:t"]);
});

// Finding 3.
test("promise.register_callback is checked on the awaiter too: a foreign task cannot be resumed", { timeout: T }, async (t) => {
  const { srv, tok, admin, A } = await setup(t);
  // acme:b is suspended on acme:c; acme:a1 is settled.
  await A("promise.create", createData("acme:a1"));
  await A("promise.settle", { id: "acme:a1", state: "resolved", value: {} });
  await A("promise.create", createData("acme:c"));
  await A("promise.create", createData("acme:b", TARGET));
  await A("task.acquire", { id: "acme:b", version: 0, pid: "w", ttl: 600000 });
  await A("task.suspend", { id: "acme:b", version: 1, actions: [{ kind: "promise.register_callback", head: H, data: { awaited: "acme:c", awaiter: "acme:b" } }] });
  const before = await snap(srv, admin);
  assert.equal(before.tasks.find((x) => x.id === "acme:b").state, "suspended");

  const narrow = await tok("acme:a");
  const res = await call(srv, "promise.register_callback", { awaited: "acme:a1", awaiter: "acme:b" }, { token: narrow });
  assertEnvelope(res, 403, "promise.register_callback", res.corrId, 'outside prefix "acme:a"');
  assert.deepEqual(await snap(srv, admin), before, "the refused callback changed the store");
  assert.equal((await A("task.get", { id: "acme:b" })).task.state, "suspended");

  // Nothing is learnt about foreign promises: the same 403 whether the
  // awaiter exists, has a target or not, and whatever the awaited's state.
  const texts = new Set();
  for (const [awaited, awaiter] of [["acme:a1", "acme:b"], ["acme:a1", "acme:c"], ["acme:a1", "acme:zz"], ["acme:a2", "acme:zz"], ["acme:c", "acme:a1"]]) {
    const r = await call(srv, "promise.register_callback", { awaited, awaiter }, { token: narrow });
    assert.equal(r.status, 403, `${awaited} <- ${awaiter}: ${r.text}`);
    texts.add(r.body.data);
  }
  assert.equal(texts.size, 1, [...texts].join(" | "));
  // Both inside: the callback works as before.
  const wide = await tok("acme:");
  const ok = await call(srv, "promise.register_callback", { awaited: "acme:a1", awaiter: "acme:b" }, { token: wide });
  assertEnvelope(ok, 200, "promise.register_callback", ok.corrId);
});

// Finding 11 and operations.md 3.5: authorization before validation.
test("a request naming a foreign id is 403 before any validation: mixed heartbeat, cross-origin callback", { timeout: T }, async (t) => {
  const { srv, tok, admin } = await setup(t);
  const a = await tok("tenantA:");
  const before = await snap(srv, admin);
  const cases = [
    ["task.heartbeat", { pid: "w", tasks: [{ id: "tenantA:x", version: 1 }, { id: "tenantB:y", version: 1 }] }],
    ["task.heartbeat", { pid: "", tasks: [{ id: "tenantB:y", version: -1 }] }],
    ["promise.register_callback", { awaited: "tenantB:x", awaiter: "tenantA:y" }],
    ["promise.register_callback", { awaited: "tenantA:x", awaiter: "tenantB:y" }],
    ["promise.create", { id: "tenantB:x", timeoutAt: -1 }],
    ["schedule.create", schedule("bad.name", "tenantB:{{.id}}", { cron: "not cron" })],
    ["task.fence", { id: "tenantA:t", version: -1, action: { kind: "promise.create", head: H, data: { id: "tenantB:evil", timeoutAt: 1 } } }],
    ["task.fulfill", { id: "tenantA:t", version: 1, action: { kind: "promise.settle", head: H, data: { id: "tenantB:t", state: "resolved", value: {} } } }],
  ];
  for (const [kind, data] of cases) {
    const res = await call(srv, kind, data, { token: a });
    assertEnvelope(res, 403, kind, res.corrId, 'outside prefix "tenantA:"', JSON.stringify(data));
  }
  // Structurally malformed requests are still 400 (nothing to check).
  const bad = await call(srv, "task.heartbeat", { pid: "w", tasks: [{ id: 5, version: 1 }] }, { token: a });
  assertEnvelope(bad, 400, "task.heartbeat", bad.corrId);
  // Inside the prefix the validation answers as before.
  const same = await call(srv, "promise.register_callback", { awaited: "tenantA:x", awaiter: "tenantA:x" }, { token: a });
  assertEnvelope(same, 400, "promise.register_callback", same.corrId, "must be different");
  assert.deepEqual(await snap(srv, admin), before);
});

/** The ids a search answers, following cursors (bounded). */
async function searchAll(srv, token, kind, key, data = {}) {
  const ids = [];
  let cursor;
  for (let page = 0; page < 50; page++) {
    const res = await call(srv, kind, { ...data, limit: 2, ...(cursor ? { cursor } : {}) }, { token });
    assertEnvelope(res, 200, kind, res.corrId);
    ids.push(...res.body.data[key].map((x) => x.id));
    cursor = res.body.data.cursor;
    if (!cursor) return ids;
  }
  throw new Error(`${kind}: more than 50 pages`);
}

// DECISIONS #15.
test("searches by a prefixed token are scoped to its prefix, byte-wise; the cursor cannot escape; admin and \"\" see all", { timeout: T }, async (t) => {
  const { srv, tok, admin, A } = await setup(t);
  const ids = ["a", "acme", "acme2:x", "acme:1", "acme:2", "acme:3", "acme;", "billing:1", "z"];
  for (const id of ids) {
    await A("promise.create", createData(id, { ...TARGET, env: id.startsWith("acme:2") ? "prod" : "dev" }));
    await A("schedule.create", schedule(`${id.replace(/\./g, "-")}`, `${id}{{.id}}`));
  }
  const acme = await tok("acme:");
  const sorted = (xs) => [...xs].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  const inside = ids.filter((x) => x.startsWith("acme:"));
  assert.deepEqual(await searchAll(srv, acme, "promise.search", "promises"), inside);
  assert.deepEqual(await searchAll(srv, acme, "task.search", "tasks"), inside);
  assert.deepEqual(await searchAll(srv, acme, "schedule.search", "schedules"), inside);
  // Filters still apply inside the scope.
  assert.deepEqual(await searchAll(srv, acme, "promise.search", "promises", { tags: { env: "prod" } }), ["acme:2"]);
  assert.deepEqual(await searchAll(srv, acme, "promise.search", "promises", { state: "resolved" }), []);
  // A cursor below the prefix starts at it; one past it finds nothing.
  const low = await call(srv, "promise.search", { cursor: "a", limit: 100 }, { token: acme });
  assert.deepEqual(low.body.data.promises.map((x) => x.id), inside);
  for (const cursor of ["acme:3", "acme;", "b", "\u{10FFFF}"]) {
    const high = await call(srv, "promise.search", { cursor, limit: 100 }, { token: acme });
    assertEnvelope(high, 200, "promise.search", high.corrId);
    assert.deepEqual(high.body.data.promises, [], `cursor ${cursor}`);
  }
  // A prefix without a separator is a plain byte prefix: "acme" also sees
  // "acme", "acme2:x" and "acme;" (docs/security.md: end prefixes with a
  // separator).
  const loose = await tok("acme");
  assert.deepEqual(await searchAll(srv, loose, "promise.search", "promises"), ids.filter((x) => x.startsWith("acme")));
  // Admin and "" see everything.
  for (const token of [admin, await tok("")]) {
    assert.deepEqual(await searchAll(srv, token, "promise.search", "promises"), sorted(ids));
    assert.equal((await searchAll(srv, token, "schedule.search", "schedules")).length, ids.length);
  }
});
