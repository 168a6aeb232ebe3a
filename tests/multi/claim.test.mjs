// claim.test.mjs - a server that dies holding a message loses none of them
// (issue 12): server A claims a push message and is killed with SIGKILL while
// its push is in flight (the target holds the request unanswered); server B,
// on the same PostgreSQL, sends the message once A's claim has run out
// (messages.claim_ttl), and deletes the row when the target answers 2xx.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { startServer } from "../node/lib/server.mjs";
import { httpTarget, snapMessages, waitFor } from "../transport/lib.mjs";
import { pgArgs, pgSkip, startServers, stopAll } from "./lib.mjs";

const CLAIM_TTL = 1500; // --messages-claim-ttl of both servers
const FAR = 4102444800000;
let servers = [];

after(async () => {
  await stopAll(servers);
});

test("a push claimed by a server killed mid-delivery is sent by another after claim_ttl", { skip: pgSkip, timeout: 60_000 }, async (t) => {
  const args = ["--messages-claim-ttl", String(CLAIM_TTL), "--messages-poll-interval", "100"];
  // The first request hangs (A's delivery stays in flight); later ones get 200.
  const target = await httpTarget(t, (req, n) => (n === 0 ? { status: 200, delayMs: 50_000 } : { status: 200 }));
  servers = await startServers(1, { args });
  const [a] = servers;
  const r = await a.rpc("promise.create", {
    id: "claim-1",
    timeoutAt: FAR,
    param: {},
    tags: { "resonate:target": `http://127.0.0.1:${target.port}/` },
  });
  assert.equal(r.status, 200);
  await waitFor(() => target.reqs.length >= 1, 5000, "A's push reaches the target");
  const claimedBy = target.reqs[0].at; // A claimed the row just before sending

  a.child.kill("SIGKILL");
  await a.exited;
  servers = [];
  const b = await startServer({ mode: "serve", debug: true, args: pgArgs(args) });
  servers = [b];
  assert.equal((await snapMessages(b)).length, 1, "the message A was sending is still queued");

  await waitFor(() => target.reqs.length >= 2, CLAIM_TTL + 5000, "B sends the message after A's claim ran out");
  const again = target.reqs[1];
  assert.equal(again.json?.kind, "execute");
  assert.equal(again.json?.data?.task?.id, target.reqs[0].json?.data?.task?.id, "the same message");
  const waited = again.at - claimedBy;
  assert.ok(waited >= CLAIM_TTL - 100, `sent again ${waited} ms after A's claim: before it ran out`);
  assert.ok(waited <= CLAIM_TTL + 2000, `sent again ${waited} ms after A's claim (claim_ttl ${CLAIM_TTL} ms)`);
  // Delivered: B deletes the row, and sends it no more.
  await waitFor(async () => (await snapMessages(b)).length === 0, 3000, "the delivered row is deleted");
  await new Promise((r) => setTimeout(r, CLAIM_TTL + 300));
  assert.equal(target.reqs.length, 2, "sent once more after the kill, not again");
});
