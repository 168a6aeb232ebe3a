// limits.test.mjs - bounds a hostile or broken client cannot get around
// (issue 9, findings 4, 6 and 9): the bytes a /poll stream may hold queued,
// poll streams per tenant, connections per client address, and the deadline
// for a request's headers and body.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { keyPair, sign, nowS } from "../auth/lib.mjs";
import { call, openStream, scrape, serverWithMetrics, sleep, waitFor } from "./lib.mjs";

const FAST = ["--messages-poll-interval", "20"];

/** Resident memory of a process in bytes (VmRSS of /proc/<pid>/status). */
function rss(pid) {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m[1]) * 1024;
}

/**
 * GET /poll/<group>/<id> whose response is not read (the socket is paused
 * from the start, so the server's writes stop once the kernel buffers are
 * full). resume() starts reading; ids() then gives the ids of the unblock
 * frames read so far, ended() whether the server ended the stream.
 */
function openPaused(port, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, agent: false }, (res) => {
      res.pause();
      resolve({
        status: res.statusCode,
        close: () => req.destroy(),
        text: "",
        done: false,
        resume() {
          res.setEncoding("utf8");
          res.on("data", (d) => (this.text += d));
          for (const ev of ["end", "close", "error"]) res.on(ev, () => (this.done = true));
          res.resume();
        },
        ids() {
          return unblockIds(this.text);
        },
      });
    });
    req.on("error", reject);
  });
}

/** Ids of the unblocked promises in a raw SSE text (complete frames only). */
function unblockIds(text) {
  const ids = [];
  for (const event of text.split("\n\n").slice(0, -1))
    for (const line of event.split("\n"))
      if (line.startsWith("data: ")) {
        const f = JSON.parse(line.slice(6));
        if (f.kind === "unblock") ids.push(f.data.promise.id);
      }
  return ids;
}

/**
 * Creates n promises, each listened to at every address of addrs, and
 * settles each with a value of size bytes: n * addrs.length messages.
 */
async function settleLarge(srv, prefix, n, size, addrs) {
  const value = "A".repeat(size); // valid base64
  const ids = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}${i}`;
    await call(srv, "promise.create", { id, timeoutAt: Date.now() + 600000, param: { headers: {}, data: "" }, tags: {} });
    for (const address of addrs) await call(srv, "promise.register_listener", { awaited: id, address });
    await call(srv, "promise.settle", { id, state: "resolved", value: { headers: {}, data: value } });
    ids.push(id);
  }
  return ids;
}

const metric = async (srv, name) => (await scrape(srv)).get(name) ?? 0;

/**
 * A worker's stream: reopens GET urlPath whenever the server ends it, as an
 * SDK does, until stop(). ids() are the unblocked promise ids heard so far.
 */
function worker(port, urlPath) {
  const streams = [];
  let stopped = false;
  const open = async () => {
    if (stopped) return;
    const s = await openStream(port, urlPath);
    streams.push(s);
    const reopen = setInterval(() => {
      if (stopped || !s.ended) return;
      clearInterval(reopen);
      open().catch(() => {});
    }, 20);
  };
  return open().then(() => ({
    ids: () => streams.flatMap((s) => s.frames.filter((f) => f.kind === "unblock").map((f) => f.data.promise.id)),
    reconnects: () => streams.length - 1,
    stop() {
      stopped = true;
      streams.forEach((s) => s.close());
    },
  }));
}

// The sanitizer's quarantine keeps freed memory resident; without it RSS
// tracks what the server really holds.
const LOW_QUARANTINE = { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? "detect_leaks=1"}:quarantine_size_mb=0` };

/**
 * W streams that never read while N promises of SIZE bytes, each listened
 * to by all of them, are settled (W * N messages, as in the issue: large
 * settles with listeners). Returns {sent, growth (RSS), queuedMax, closed,
 * missing (messages not delivered after the reconnect, per stream)}.
 */
async function neverReadingStreams(t, flags) {
  const W = 4, N = 12, SIZE = 1000000;
  const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-limits-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const srv = await serverWithMetrics(
    t,
    [...FAST, "--storage-sqlite-path", path.join(dir, "db"), "--messages-retry-base", "100",
      "--messages-retry-max", "500", "--messages-max-attempts", "1000", ...flags],
    { env: LOW_QUARANTINE },
  );
  const addrs = [], slow = [];
  for (let w = 0; w < W; w++) {
    const s = await openPaused(srv.port, `/poll/slow/w${w}`);
    t.after(() => s.close());
    assert.equal(s.status, 200);
    addrs.push(`poll://uni@slow/w${w}`);
    slow.push(s);
  }
  await call(srv, "promise.get", { id: "warm-up" }, 404);
  const before = rss(srv.child.pid);
  let queuedMax = 0;
  const sampler = setInterval(async () => {
    try {
      queuedMax = Math.max(queuedMax, await metric(srv, "resonate_poll_queued_bytes"));
    } catch {}
  }, 50);
  let ids;
  try {
    ids = await settleLarge(srv, "big-", N, SIZE, addrs);
    await sleep(300); // the deliverer's last rounds
  } finally {
    clearInterval(sampler);
  }
  const growth = rss(srv.child.pid) - before;
  const closed = await metric(srv, 'resonate_poll_streams_closed_total{reason="budget"}');

  // Every client reconnects; the old connections are read out too.
  const fresh = [];
  for (let w = 0; w < W; w++) {
    const s = await worker(srv.port, `/poll/slow/w${w}`);
    t.after(() => s.stop());
    fresh.push(s);
  }
  slow.forEach((s) => s.resume());
  const missing = () => {
    const out = [];
    for (let w = 0; w < W; w++) {
      const got = new Set([...slow[w].ids(), ...fresh[w].ids()]);
      for (const id of ids) if (!got.has(id)) out.push(`w${w}:${id}`);
    }
    return out;
  };
  await waitFor(() => missing().length === 0, 15000, "every message delivered", 50).catch(() => {});
  return { sent: W * N * SIZE, growth, queuedMax, closed, missing: missing(), fromOld: slow.map((s) => s.ids().length) };
}

const MiB = 1 << 20;

test("poll streams that never read hold at most transports.http_poll.total_buffer_bytes; they are closed and every message arrives after the reconnect", { timeout: 60000 }, async (t) => {
  const r = await neverReadingStreams(t, ["--transports-http-poll-buffer-bytes", String(2 * MiB),
    "--transports-http-poll-total-buffer-bytes", String(3 * MiB)]);
  t.diagnostic(`sent ${(r.sent / MiB).toFixed(1)} MiB, RSS +${(r.growth / MiB).toFixed(1)} MiB, ` +
    `queued max ${(r.queuedMax / MiB).toFixed(2)} MiB, ${r.fromOld} read from the old streams`);
  // Measured: without budgets 32 MB queued and RSS +50 MB; with them 3 MB and +19..25 MB.
  assert.ok(r.queuedMax <= 3 * MiB + 1000100, `queued ${r.queuedMax} bytes past the total budget`);
  assert.ok(r.closed >= 1, "streams were closed for their budget");
  assert.ok(r.growth < (r.sent * 2) / 3, `RSS grew ${r.growth} bytes for ${r.sent} sent`);
  assert.deepEqual(r.missing, [], "every message delivered, on the old or the new stream");
});

/** A token for the test's key with the given claims. */
async function tokenFactory(t) {
  const k = await keyPair("P-256");
  const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-limits-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = path.join(dir, "key.pem");
  writeFileSync(keyFile, k.pem);
  const token = (claims) => sign({ exp: nowS() + 600, ...claims }, { alg: "ES256" }, k.privateKey);
  return { keyFile, token };
}

test("one tenant cannot take another's poll slots: transports.http_poll.max_connections_per_tenant answers 429 naming the setting", async (t) => {
  const { keyFile, token } = await tokenFactory(t);
  const srv = await serverWithMetrics(t, [...FAST, "--auth-publickey", keyFile,
    "--transports-http-poll-max-connections", "10", "--transports-http-poll-max-connections-per-tenant", "3"]);
  const orders = await token({ prefix: "orders:", sub: "worker-a" });
  const orders2 = await token({ prefix: "orders:", sub: "worker-b" }); // same tenant, other token
  const billing = await token({ prefix: "billing:" });
  const admin1 = await token({ role: "admin", sub: "ops-1" });
  const admin2 = await token({ role: "admin", sub: "ops-2" });
  const open = async (tok, id) => {
    const s = await openStream(srv.port, `/poll/g/${id}?token=${tok}`);
    t.after(() => s.close());
    return s;
  };
  for (let i = 0; i < 3; i++) assert.equal((await open(i % 2 ? orders : orders2, `o${i}`)).status, 200);
  const refused = await open(orders, "o3");
  assert.equal(refused.status, 429);
  await waitFor(() => refused.ended, 2000, "429 body");
  assert.match(refused.raw, /max_connections_per_tenant/);
  assert.match(refused.raw, /3/);
  // another tenant still gets a stream; tokens without a prefix count per sub
  assert.equal((await open(billing, "b0")).status, 200);
  for (let i = 0; i < 3; i++) assert.equal((await open(admin1, `a${i}`)).status, 200);
  assert.equal((await open(admin1, "a3")).status, 429);
  assert.equal((await open(admin2, "x0")).status, 200);
  assert.equal(await metric(srv, 'resonate_poll_streams_refused_total{reason="tenant"}'), 2);
});

test("without auth the poll tenant is the client address", async (t) => {
  const srv = await serverWithMetrics(t, [...FAST, "--transports-http-poll-max-connections-per-tenant", "2"]);
  const a = await openStream(srv.port, "/poll/g/a");
  t.after(() => a.close());
  const b = await openStream(srv.port, "/poll/g/b");
  t.after(() => b.close());
  const c = await openStream(srv.port, "/poll/g/c");
  t.after(() => c.close());
  assert.deepEqual([a.status, b.status, c.status], [200, 200, 429]);
  a.close();
  await waitFor(async () => (await metric(srv, "resonate_poll_connections")) === 1, 2000, "stream a unregistered");
  const d = await openStream(srv.port, "/poll/g/d");
  t.after(() => d.close());
  assert.equal(d.status, 200, "a closed stream gives its slot back");
});

/** A raw connection: {sock, text (all read), closedAt (ms after open, or null)}. */
function rawConn(port, localAddress = "127.0.0.1") {
  return new Promise((resolve, reject) => {
    const c = { text: "", closedAt: null, opened: Date.now() };
    c.sock = net.connect({ host: "127.0.0.1", port, localAddress }, () => resolve(c));
    c.sock.setEncoding("utf8");
    c.sock.on("data", (d) => (c.text += d));
    c.sock.on("close", () => (c.closedAt = Date.now() - c.opened));
    c.sock.on("error", () => {});
    c.sock.once("error", reject);
  });
}

/** Writes one byte of text every stepMs while the socket is open. */
function dribble(c, text, stepMs) {
  let i = 0;
  const timer = setInterval(() => {
    if (c.closedAt !== null || i >= text.length) return clearInterval(timer);
    c.sock.write(text[i++]);
  }, stepMs);
  return timer;
}

test("server.request_timeout: slow headers, a slow body and an idle connection are cut off while a normal client is served", { timeout: 20000 }, async (t) => {
  const srv = await serverWithMetrics(t, [...FAST, "--server-request-timeout", "1000"]);
  const body = JSON.stringify({ kind: "promise.get", head: { corrId: "c1", version: "2026-04-01" }, data: { id: "x" } });
  const slowHead = await rawConn(srv.port);
  const slowBody = await rawConn(srv.port);
  const idle = await rawConn(srv.port);
  const conns = [slowHead, slowBody, idle];
  t.after(() => conns.forEach((c) => c.sock.destroy()));
  slowHead.sock.write("POST / HTTP/1.1\r\n"); // the request line, then headers at 10 bytes/s
  const timers = [
    dribble(slowHead, `Host: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 100),
  ];
  slowBody.sock.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n`);
  timers.push(dribble(slowBody, body, 100));
  t.after(() => timers.forEach(clearInterval));

  // Meanwhile a normal client is answered at once, again and again.
  const started = Date.now();
  while (Date.now() - started < 1500) {
    const t0 = Date.now();
    await call(srv, "promise.get", { id: "x" }, 404);
    assert.ok(Date.now() - t0 < 500, "a normal request is answered promptly");
    await sleep(100);
  }
  await waitFor(() => conns.every((c) => c.closedAt !== null), 3000, "slow connections closed");
  for (const c of [slowHead, slowBody]) {
    assert.match(c.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(c.text, /server\.request_timeout/);
    assert.ok(c.closedAt < 2500, `closed ${c.closedAt} ms after opening`);
  }
  assert.equal(idle.text, "", "an idle connection is closed without an answer");
  assert.ok(idle.closedAt < 2500);
  assert.equal(await metric(srv, "resonate_request_timeouts_total"), 2);
  // a poll stream is exempt
  const s = await openStream(srv.port, "/poll/g/w");
  t.after(() => s.close());
  await sleep(1600);
  assert.equal(s.ended, false, "a poll stream outlives the request deadline");
});

test("server.max_connections_per_ip: connections past the limit are refused; closing one makes room", { timeout: 20000 }, async (t) => {
  const srv = await serverWithMetrics(t, ["--server-max-connections-per-ip", "4"]);
  // From 127.0.0.2, so that no connection the harness keeps open from
  // 127.0.0.1 (the start-up health check's keep-alive socket) counts.
  const FROM = "127.0.0.2";
  const held = [];
  t.after(() => held.forEach((c) => c.sock.destroy()));
  for (let i = 0; i < 4; i++) held.push(await rawConn(srv.port, FROM));
  await sleep(100);
  assert.ok(held.every((c) => c.closedAt === null), "the first four stay open");
  const extra = await rawConn(srv.port, FROM).catch(() => ({ closedAt: 0, sock: { destroy() {} } }));
  held.push(extra);
  await waitFor(() => extra.closedAt !== null, 2000, "the fifth connection closed by the server");
  await assert.rejects(postFrom(srv.port, FROM), "an HTTP request from the same address is refused too");
  // The limit is per address: another one is served meanwhile.
  assert.equal((await srv.rpc("promise.get", { id: "x" })).body.head.status, 404);
  held[0].sock.destroy();
  await sleep(100);
  assert.match(await postFrom(srv.port, FROM), /"status":404/);
});

/** POSTs a promise.get from localAddress; resolves with the answer's body. */
function postFrom(port, localAddress) {
  const body = JSON.stringify({ kind: "promise.get", head: { corrId: "p", version: "2026-04-01" }, data: { id: "x" } });
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, localAddress, method: "POST", path: "/", agent: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve(text));
        res.on("error", reject);
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(body);
  });
}
