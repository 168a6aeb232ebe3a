// race.test.mjs - two servers on one PostgreSQL database, many connections
// racing on the same ids (issue 12): exactly one winner per race, the
// losers answered as a single server answers them, never a 500 or a lost
// update. docs/postgres.md describes the locking that makes this hold.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { pgSkip, startServers, stopAll } from "./lib.mjs";

const IDS = 25; // ids raced per test
const RACERS = 8; // concurrent requests per id, alternating between the servers
const FAR = 4102444800000; // 2100-01-01

let servers = [];

before(async () => {
  if (pgSkip) return;
  servers = await startServers(2);
});

after(async () => {
  await stopAll(servers);
});

const on = (i) => servers[i % servers.length];

function assertNo5xx(results, what) {
  const bad = results.filter((r) => r.status >= 500);
  assert.deepEqual(bad.map((r) => `${r.status} ${JSON.stringify(r.body)}`), [], `${what}: 5xx answers`);
}

test("creates of one id through two servers: one record, which every answer shows", { skip: pgSkip, timeout: 120_000 }, async () => {
  const all = [];
  for (let n = 0; n < IDS; n++) {
    const id = `race-create-${n}`;
    const rs = await Promise.all(
      Array.from({ length: RACERS }, (_, k) =>
        on(k).rpc("promise.create", { id, timeoutAt: FAR, param: {}, tags: { who: `r${k}` } }),
      ),
    );
    all.push(...rs);
    assertNo5xx(rs, id);
    for (const r of rs) assert.equal(r.status, 200, JSON.stringify(r.body));
    const winners = new Set(rs.map((r) => r.body.data.promise.tags.who));
    assert.equal(winners.size, 1, `${id}: answers disagree on the record: ${[...winners]}`);
    for (const s of servers) {
      const g = await s.rpc("promise.get", { id });
      assert.equal(g.body.data.promise.tags.who, [...winners][0]);
    }
  }
  assertNo5xx(all, "creates");
});

test("settles of one promise through two servers: exactly one value wins, every answer shows it", { skip: pgSkip, timeout: 120_000 }, async () => {
  for (let n = 0; n < IDS; n++) {
    const id = `race-settle-${n}`;
    assert.equal((await on(n).rpc("promise.create", { id, timeoutAt: FAR, param: {}, tags: {} })).status, 200);
    const rs = await Promise.all(
      Array.from({ length: RACERS }, (_, k) =>
        on(k).rpc("promise.settle", {
          id,
          state: k % 2 ? "resolved" : "rejected",
          value: { data: Buffer.from(`v${k}`).toString("base64") },
        }),
      ),
    );
    assertNo5xx(rs, id);
    for (const r of rs) assert.equal(r.status, 200, JSON.stringify(r.body));
    const finals = new Set(rs.map((r) => `${r.body.data.promise.state}/${r.body.data.promise.value.data}`));
    assert.equal(finals.size, 1, `${id}: answers disagree: ${[...finals]}`);
    const won = rs.filter((r, k) => r.body.data.promise.value.data === Buffer.from(`v${k}`).toString("base64"));
    assert.equal(won.length, 1, `${id}: ${won.length} winners`);
    const g = await on(n + 1).rpc("promise.get", { id });
    assert.equal(`${g.body.data.promise.state}/${g.body.data.promise.value.data}`, [...finals][0]);
  }
});

test("acquires of one task version through two servers: one 200, the others 409", { skip: pgSkip, timeout: 120_000 }, async () => {
  for (let n = 0; n < IDS; n++) {
    const id = `race-acquire-${n}`;
    const c = await on(n).rpc("promise.create", {
      id,
      timeoutAt: FAR,
      param: {},
      tags: { "resonate:target": "poll://any@race-nobody" },
    });
    assert.equal(c.status, 200);
    const rs = await Promise.all(
      Array.from({ length: RACERS }, (_, k) =>
        on(k).rpc("task.acquire", { id, version: 0, pid: `pid-${k}`, ttl: 600000 }),
      ),
    );
    assertNo5xx(rs, id);
    const ok = rs.map((r, k) => [r, k]).filter(([r]) => r.status === 200);
    assert.equal(ok.length, 1, `${id}: ${ok.length} acquired: ${rs.map((r) => r.status)}`);
    for (const r of rs) if (r.status !== 200) assert.equal(r.status, 409, JSON.stringify(r.body));
    const t = await on(n + 1).rpc("task.get", { id });
    assert.equal(t.body.data.task.state, "acquired");
    assert.equal(t.body.data.task.version, 1);
    assert.equal(t.body.data.task.pid, `pid-${ok[0][1]}`);
  }
});

test("fences racing a release of the same version: each fence either lands before it or gets 409", { skip: pgSkip, timeout: 120_000 }, async () => {
  for (let n = 0; n < IDS; n++) {
    const id = `race-fence-${n}`;
    const child = `${id}.c`;
    await on(n).rpc("promise.create", { id, timeoutAt: FAR, param: {}, tags: { "resonate:target": "poll://any@race-nobody" } });
    const a = await on(n).rpc("task.acquire", { id, version: 0, pid: "holder", ttl: 600000 });
    assert.equal(a.status, 200);
    const fences = Array.from({ length: RACERS - 1 }, (_, k) =>
      on(k).rpc("task.fence", {
        id,
        version: 1,
        action: { kind: "promise.create", head: {}, data: { id: child, timeoutAt: FAR, param: {}, tags: { who: `f${k}` } } },
      }),
    );
    const release = on(n + 1).rpc("task.release", { id, version: 1 });
    const rs = await Promise.all([...fences, release]);
    assertNo5xx(rs, id);
    assert.equal(rs.at(-1).status, 200, `release: ${JSON.stringify(rs.at(-1).body)}`);
    const landed = rs.slice(0, -1).filter((r) => r.status === 200);
    for (const r of rs.slice(0, -1)) if (r.status !== 200) assert.equal(r.status, 409, JSON.stringify(r.body));
    const g = await on(n).rpc("promise.get", { id: child });
    if (landed.length === 0) {
      assert.equal(g.status, 404, `${id}: no fence landed, yet the child exists`);
    } else {
      assert.equal(g.status, 200);
      const whos = new Set(landed.map((r) => r.body.data.action.data.promise.tags.who));
      assert.equal(whos.size, 1, `${id}: fences disagree on the child: ${[...whos]}`);
      assert.equal(g.body.data.promise.tags.who, [...whos][0]);
    }
    const t = await on(n).rpc("task.get", { id });
    assert.equal(t.body.data.task.state, "pending");
  }
});
