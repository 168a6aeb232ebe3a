// poll.test.mjs - the SSE transport at GET /poll/:group/:id: framing and
// keep-alive comments, uni and any routing, retry of a message nobody could
// take, the connection limit, disconnects, and an execute superseded by a
// newer version of the same task.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import net from "node:net";
import {
  call,
  createPromise,
  deliveries,
  hasFlag,
  openStream,
  pollConnections,
  serverWithMetrics,
  settlePromise,
  sleep,
  snapMessages,
  startServer,
  waitFor,
} from "./lib.mjs";

const FAST = ["--messages-poll-interval", "20"];

/** Opens streams for [group, id] pairs; t.after closes them. */
async function streams(t, srv, pairs) {
  const out = [];
  for (const [g, id] of pairs) {
    const s = await openStream(srv.port, `/poll/${encodeURIComponent(g)}/${encodeURIComponent(id)}`);
    assert.equal(s.status, 200, `/poll/${g}/${id}`);
    t.after(() => s.close());
    out.push(s);
  }
  // every stream has been registered once its first comment arrived
  await waitFor(() => out.every((s) => s.comments.length > 0), 2000, "streams connected");
  return out;
}

const isExec = (id) => (f) => f.kind === "execute" && f.data.task.id === id;
const isUnblock = (id) => (f) => f.kind === "unblock" && f.data.promise.id === id;

// The keep-alive interval is 15 s (KEEPALIVE_MS in server/main.c) unless the
// server has a flag for it; the wait runs alongside the other tests and the
// last test collects its outcome.
const KEEPALIVE_FLAG = hasFlag("--transports-http-poll-keepalive");
const keepAlive = (async () => {
  const srv = await startServer({ args: KEEPALIVE_FLAG ? ["--transports-http-poll-keepalive", "200"] : [] });
  try {
    const s = await openStream(srv.port, "/poll/ka/w1");
    try {
      const opened = Date.now();
      await waitFor(() => s.comments.includes("keep-alive"), KEEPALIVE_FLAG ? 2000 : 17000, "keep-alive comment", 100);
      return { after: Date.now() - opened, raw: s.raw, errors: s.errors, ended: s.ended };
    } finally {
      s.close();
    }
  } finally {
    await srv.stop();
  }
})();
keepAlive.catch(() => {}); // collected by the last test

test("SSE framing: headers, an opening comment, then one `data: <json>` event per message", async (t) => {
  const srv = await serverWithMetrics(t, FAST);
  const s = await openStream(srv.port, "/poll/frames/w1");
  t.after(() => s.close());
  assert.equal(s.status, 200);
  assert.match(s.headers["content-type"], /^text\/event-stream/);
  assert.equal(s.headers["cache-control"], "no-cache");
  await waitFor(() => s.raw.length > 0, 2000, "opening comment");
  assert.equal(s.raw, ": connected\n\n");

  await createPromise(srv, "wf-frame", { "resonate:target": "poll://any@frames/w1" });
  const f = await s.next(isExec("wf-frame"));
  assert.deepEqual(f, {
    kind: "execute",
    head: { serverUrl: `http://localhost:${srv.port}` },
    data: { task: { id: "wf-frame", version: 0 } },
  });
  assert.match(s.raw, /^: connected\n\ndata: \{[^\n]*\}\n\n$/, `raw stream: ${JSON.stringify(s.raw)}`);

  // an unblock carries the promise as it is when delivered
  await createPromise(srv, "p-frame");
  await call(srv, "promise.register_listener", { awaited: "p-frame", address: "poll://uni@frames/w1" });
  const settled = (await settlePromise(srv, "p-frame", "eA==")).promise;
  const u = await s.next(isUnblock("p-frame"));
  assert.deepEqual(u, { kind: "unblock", head: {}, data: { promise: settled } });
  assert.deepEqual(s.errors, []);
  assert.equal(s.frames.length, 2);
});

for (const mode of ["dev", "serve"]) {
  test(`${mode}: a message queued by a request goes out at once, not at the next outbox scan`, async (t) => {
    // Scans and ticks (each tick is followed by a scan) a minute apart: only
    // the commit's own wake-up can deliver in time (dev runs each request on
    // its HTTP thread, serve on the store thread).
    const minute = ["--messages-poll-interval", "60000", "--timeouts-poll-interval", "60000"];
    const srv = await startServer({ mode, args: minute });
    t.after(() => srv.stop());
    const s = await openStream(srv.port, `/poll/now-${mode}/w1`);
    t.after(() => s.close());
    await waitFor(() => s.comments.length > 0, 2000, "stream connected");
    await createPromise(srv, `wf-now-${mode}`, { "resonate:target": `poll://any@now-${mode}/w1` });
    await s.next(isExec(`wf-now-${mode}`), 3000);
    await createPromise(srv, `p-now-${mode}`);
    await call(srv, "promise.register_listener", { awaited: `p-now-${mode}`, address: `poll://uni@now-${mode}/w1` });
    await settlePromise(srv, `p-now-${mode}`);
    await s.next(isUnblock(`p-now-${mode}`), 3000);
  });
}

test("uni reaches exactly its (group, id); other ids and groups hear nothing", async (t) => {
  const srv = await serverWithMetrics(t, FAST);
  const [ga, gb, ha] = await streams(t, srv, [["g", "a"], ["g", "b"], ["h", "a"]]);
  for (const [id, addr] of [["p-ga", "poll://uni@g/a"], ["p-ha", "poll://uni@h/a"], ["p-gb", "poll://uni@g/b"]]) {
    await createPromise(srv, id);
    await call(srv, "promise.register_listener", { awaited: id, address: addr });
    await settlePromise(srv, id);
  }
  await ga.next(isUnblock("p-ga"));
  await ha.next(isUnblock("p-ha"));
  await gb.next(isUnblock("p-gb"));
  await sleep(200);
  assert.deepEqual(ga.frames.map((f) => f.data.promise.id), ["p-ga"]);
  assert.deepEqual(gb.frames.map((f) => f.data.promise.id), ["p-gb"]);
  assert.deepEqual(ha.frames.map((f) => f.data.promise.id), ["p-ha"]);
});

test("any prefers the stream of its id, else takes turns among the group's streams", async (t) => {
  const srv = await serverWithMetrics(t, FAST);
  const [a, b, other] = await streams(t, srv, [["g", "a"], ["g", "b"], ["elsewhere", "a"]]);
  const count = (s) => s.frames.filter((f) => f.kind === "execute").length;

  for (let i = 0; i < 3; i++) await createPromise(srv, `to-b-${i}`, { "resonate:target": "poll://any@g/b" });
  for (let i = 0; i < 3; i++) await b.next(isExec(`to-b-${i}`));
  assert.equal(count(a), 0, "any@g/b with b connected goes to b only");

  // an id nobody has, and no id at all: one stream of the group, in turn
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push([`rr-${i}`, "poll://any@g/nobody"]);
  for (let i = 0; i < 4; i++) ids.push([`rr-noid-${i}`, "poll://any@g"]);
  for (const [id, target] of ids) {
    await createPromise(srv, id, { "resonate:target": target });
    await waitFor(() => [a, b].some((s) => s.frames.some(isExec(id))), 3000, `${id} delivered`);
  }
  await sleep(200);
  const onA = ids.filter(([id]) => a.frames.some(isExec(id))).length;
  const onB = ids.filter(([id]) => b.frames.some(isExec(id))).length;
  assert.equal(onA + onB, 8, "each message delivered once");
  assert.equal(onA, 4, `round robin: a got ${onA}, b got ${onB} of 8`);
  // strict alternation
  const who = ids.map(([id]) => (a.frames.some(isExec(id)) ? "a" : "b"));
  for (let i = 1; i < who.length; i++) assert.notEqual(who[i], who[i - 1], `turns: ${who.join("")}`);
  assert.equal(count(other), 0, "another group hears nothing");
});

test("a message with no live poller is retried and delivered when one connects", async (t) => {
  const srv = await serverWithMetrics(t, FAST);
  const before = await deliveries(srv);
  await createPromise(srv, "wf-late", { "resonate:target": "poll://any@late/w1" });
  await createPromise(srv, "p-late");
  await call(srv, "promise.register_listener", { awaited: "p-late", address: "poll://uni@late/w1" });
  await settlePromise(srv, "p-late");
  await waitFor(async () => (await deliveries(srv)).error >= before.error + 2, 2000, "both attempts failed");
  assert.equal((await snapMessages(srv)).length, 2, "both rows kept");

  const connected = Date.now();
  const [s] = await streams(t, srv, [["late", "w1"]]);
  await s.next(isExec("wf-late"), 4000);
  await s.next(isUnblock("p-late"), 4000);
  const took = Date.now() - connected;
  assert.ok(took <= 3000, `delivered ${took} ms after the poller connected`);
  await waitFor(async () => (await deliveries(srv)).success >= before.success + 2, 2000, "success counted");
  await waitFor(async () => (await snapMessages(srv)).length === 0, 2000, "rows deleted");
});

test("--transports-http-poll-max-connections N: stream N+1 gets 503 until one closes", async (t) => {
  const srv = await serverWithMetrics(t, [...FAST, "--transports-http-poll-max-connections", "3"]);
  const open = await streams(t, srv, [["cap", "a"], ["cap", "b"], ["other", "c"]]);
  assert.equal(await pollConnections(srv), 3);
  const extra = await openStream(srv.port, "/poll/cap/d");
  t.after(() => extra.close());
  assert.equal(extra.status, 503);
  await waitFor(() => extra.ended, 2000, "503 response ends");

  // A worker that went away frees its place at once, not at the next
  // keep-alive: its reconnecting successor must not be refused.
  open[0].close();
  await waitFor(async () => (await pollConnections(srv)) === 2, 1000, "closed stream unregistered");
  const again = await openStream(srv.port, "/poll/cap/a");
  t.after(() => again.close());
  assert.equal(again.status, 200);
  assert.equal(await pollConnections(srv), 3);
});

test("disconnects: many streams opened and dropped leave no registration behind", async (t) => {
  // 200 streams from one address: more than one tenant's default share
  const srv = await serverWithMetrics(t, [...FAST, "--transports-http-poll-max-connections-per-tenant", "0"]);
  const N = 200;
  const all = [];
  for (let i = 0; i < N; i++) all.push(openStream(srv.port, `/poll/churn-${i % 7}/w${i}`));
  const opened = await Promise.all(all);
  t.after(() => opened.forEach((s) => s.close()));
  assert.ok(opened.every((s) => s.status === 200));
  await waitFor(async () => (await pollConnections(srv)) === N, 2000, `${N} streams counted`);

  // half close cleanly (FIN), half reset (RST)
  opened.forEach((s, i) => (i % 2 ? s.reset() : s.close()));
  await waitFor(async () => (await pollConnections(srv)) === 0, 2000, "every stream unregistered");

  // a uni message for a gone stream is not lost: it waits for the reconnect
  await createPromise(srv, "p-gone");
  await call(srv, "promise.register_listener", { awaited: "p-gone", address: "poll://uni@churn-1/w1" });
  await settlePromise(srv, "p-gone");
  await sleep(100);
  const [back] = await streams(t, srv, [["churn-1", "w1"]]);
  await back.next(isUnblock("p-gone"), 4000);
  assert.equal(await pollConnections(srv), 1);
  srv.assertHealthy();
});

// Soft limit on open files of this process (and of the server it starts).
const NOFILE = Number(spawnSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).stdout.trim()) || Infinity;

test(
  "/metrics answers while more than 1024 streams are open",
  { skip: NOFILE < 2600 && `open-file limit ${NOFILE} is too low` },
  async (t) => {
    const srv = await serverWithMetrics(t, [...FAST, "--transports-http-poll-max-connections", "2000",
      "--transports-http-poll-max-connections-per-tenant", "0", "--server-max-connections-per-ip", "0"]);
    const N = 1100; // socket numbers past FD_SETSIZE: a select()-based listener cannot take them
    const socks = [];
    t.after(() => socks.forEach((s) => s.destroy()));
    const opens = [];
    for (let i = 0; i < N; i++) {
      opens.push(new Promise((resolve, reject) => {
        const s = net.connect({ host: "127.0.0.1", port: srv.port });
        socks.push(s);
        let head = "";
        s.on("data", (d) => {
          head += d;
          if (head.includes("\r\n\r\n")) resolve(head.split("\r\n")[0]);
        });
        s.on("error", reject);
        s.on("connect", () => s.write(`GET /poll/many/w${i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
      }));
    }
    const lines = await Promise.all(opens);
    assert.ok(lines.every((l) => l === "HTTP/1.1 200 OK"), "every stream accepted");
    let scraped;
    try {
      scraped = await pollConnections(srv);
    } catch (e) {
      assert.fail(`/metrics failed with ${N} streams open: ${e.cause?.code || e.message}`);
    }
    assert.equal(scraped, N);
    socks.forEach((s) => s.destroy());
    await waitFor(async () => (await pollConnections(srv)) === 0, 3000, "all unregistered");
  },
);

test("a newer execute for the same task supersedes an undelivered older one", async (t) => {
  const srv = await serverWithMetrics(t, FAST);
  await createPromise(srv, "wf-sup", { "resonate:target": "poll://any@sup/w1" });
  const acquired = await call(srv, "task.acquire", { id: "wf-sup", version: 0, pid: "p1", ttl: 60000 });
  assert.equal(acquired.task.version, 1);
  await call(srv, "task.release", { id: "wf-sup", version: 1 });
  const rows = await snapMessages(srv);
  assert.deepEqual(rows, [
    { address: "poll://any@sup/w1", message: { kind: "execute", head: {}, data: { task: { id: "wf-sup", version: 1 } } } },
  ]);

  const [s] = await streams(t, srv, [["sup", "w1"]]);
  const f = await s.next(isExec("wf-sup"), 4000);
  assert.equal(f.data.task.version, 1);
  await sleep(1500); // past the first back-off step: an old row would show up now
  assert.equal(s.frames.length, 1, `frames: ${JSON.stringify(s.frames)}`);
});

test("idle streams get a keep-alive comment", { timeout: 30000 }, async () => {
  const r = await keepAlive;
  assert.deepEqual(r.errors, []);
  assert.equal(r.ended, false, "the stream stayed open");
  assert.match(r.raw, /^: connected\n\n(: keep-alive\n\n)+$/);
  const expected = KEEPALIVE_FLAG ? 200 : 15000;
  assert.ok(r.after >= expected * 0.5, `first keep-alive after ${r.after} ms`);
});
