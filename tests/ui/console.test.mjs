// console.test.mjs - the web console (GET /ui, issue 13) in a real headless
// chromium (lib.mjs): a workflow of the real SDK 0.11.5 fanning out and
// waiting on a promise for a human is found, drawn and finished from the
// console; with auth on, a prefixed token sees its own ids only and store
// values that look like HTML are shown as text. Screenshots of every view
// go to build/ui-screenshots/ (lib.mjs SHOTS).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { Scope as AuthScope, call, keyPair, nowS, sign } from "../auth/lib.mjs";
import { Scope, deferred, loadSdk, waitFor, within } from "../e2e/lib.mjs";
import { resonateBin, startServer } from "../node/lib/server.mjs";
import { Browser, assertUiHeaders } from "./lib.mjs";

const T = 120_000;
const b64 = (s) => Buffer.from(s, "utf8").toString("base64");

test("a waiting workflow is found, drawn and resolved by hand from the console, and finishes", { timeout: T }, async (t) => {
  const scope = new Scope(t, "0.11.5");
  await loadSdk("0.11.5");
  // `dev`: the console is on by default; --debug for debug.snap (callbacks).
  const srv = await scope.server({ debug: true });
  const r = await scope.client(srv);
  const announced = deferred();
  function double(ctx, n) {
    return n * 2;
  }
  function announce(ctx, id) {
    announced.resolve(id);
    return id;
  }
  function* approvalFlow(ctx, n) {
    const parts = [];
    for (let i = 1; i <= n; i++) parts.push(yield* ctx.beginRpc("double", i));
    const local = yield* ctx.beginRun(double, 10);
    let sum = yield* local;
    for (const p of parts) sum += yield* p;
    const approval = yield* ctx.promise();
    yield* ctx.run(announce, approval.id);
    const verdict = yield* approval;
    return { sum, verdict };
  }
  r.register("double", double);
  r.register("announce", announce);
  const f = r.register("approval_flow", approvalFlow);
  const sched = await srv.rpc("schedule.create", {
    id: "nightly-report", cron: "0 3 * * *", promiseId: "report-{{.timestamp}}", promiseTimeout: 60000,
    promiseParam: { data: b64(JSON.stringify({ func: "report", args: [] })) },
    promiseTags: { "resonate:target": "poll://any@default" },
  });
  assert.equal(sched.status, 200, JSON.stringify(sched.body));

  const root = "order-42";
  const handle = await f.beginRun(root, 3);
  const latent = await within(20000, announced.promise, "the workflow's latent promise");
  // What the server holds (the console must show the same): every promise
  // of the workflow settled but the root and the latent one.
  const tree = await waitFor(async () => {
    const res = await srv.rpc("promise.search", { tags: { "resonate:origin": root }, limit: 100 });
    const ps = res.body.data.promises;
    const open = ps.filter((p) => p.state === "pending").map((p) => p.id).sort();
    return open.length === 2 && open.includes(root) && open.includes(latent) && ps.length >= 7 ? ps : null;
  }, 20000, "workflow suspended on the latent promise");

  const b = await Browser.open(t);
  const { page } = b;
  const res = await page.goto(`${srv.url}/ui`);
  assert.equal(res.status(), 200);
  assertUiHeaders(res.headers(), "GET /ui");

  // Promises: find the workflow by id prefix.
  await page.fill("#f-prefix", "order-");
  await page.click("form.filters button[type=submit]");
  const row = page.locator(`tr[data-id="${root}"]`);
  await row.waitFor();
  assert.equal(await row.locator(".state").textContent(), "pending");
  assert.equal(await row.locator("td").nth(2).textContent(), "approval_flow");
  const rowIds = await page.locator("table.promises tbody tr").evaluateAll((rs) => rs.map((x) => x.dataset.id));
  assert.deepEqual(rowIds.sort(), tree.map((p) => p.id).sort(), "the workflow's promises, nothing else");
  await b.shot("1-promises");

  // The promise: its param decoded.
  await row.locator("a").first().click();
  await page.locator('[data-panel="param"] pre').waitFor();
  const param = JSON.parse(await page.locator('[data-panel="param"] pre').textContent());
  assert.equal(param.func, "approval_flow");
  assert.deepEqual(param.args, [3]);
  await page.locator('[data-panel="task"]').waitFor();
  await b.shot("2-promise-workflow");

  // The call tree: every node, coloured by state; the pending ones say what
  // they wait on.
  await page.click("#tree-link");
  await page.locator(`.node[data-id="${latent}"]`).waitFor();
  const nodes = await page.locator(".node").evaluateAll((ns) =>
    ns.map((n) => ({ id: n.dataset.id, state: n.dataset.state, cls: n.className, waits: n.querySelector(".waits")?.textContent ?? "", detail: n.querySelector(".detail")?.textContent ?? "" })));
  assert.deepEqual(nodes.map((n) => n.id).sort(), tree.map((p) => p.id).sort(), "one node per promise of the workflow");
  for (const n of nodes) {
    const p = tree.find((x) => x.id === n.id);
    assert.equal(n.state, p.state, n.id);
    assert.ok(n.cls.includes(`state-${p.state}`), `${n.id} coloured ${n.cls}`);
  }
  const rootNode = nodes.find((n) => n.id === root);
  assert.match(rootNode.waits, new RegExp(`waits on .*${latent.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  assert.match(nodes.find((n) => n.id === latent).waits, /settled from outside/);
  const rpcs = nodes.filter((n) => n.detail === "(rpc double)");
  assert.equal(rpcs.length, 3, JSON.stringify(nodes));
  assert.ok(rpcs.every((n) => n.state === "resolved"));
  // The same nodes, states and details as `resonate tree` prints.
  const cliTree = execFileSync(resonateBin(), ["tree", root, "-S", srv.url], { encoding: "utf8", timeout: 10000 });
  const glyph = { "🟡": "pending", "🟢": "resolved", "🔴": "rejected" };
  const cliNodes = cliTree.trim().split("\n").map((line) => {
    const m = /^[│├└─\s]*(\S+) (🟡|🟢|🔴)( \(.*\))?$/u.exec(line);
    assert.ok(m, `resonate tree line: ${line}`);
    return { id: m[1], state: glyph[m[2]], detail: (m[3] || "").trim() };
  });
  assert.deepEqual(nodes.map((n) => ({ id: n.id, state: n.state, detail: n.detail })), cliNodes, cliTree);
  // The root is drawn at the top, its children inside it.
  assert.equal(await page.locator("ul.tree > li > .node").getAttribute("data-id"), root);
  await b.shot("3-tree-waiting");

  // The workflow's task waits on the latent promise: a callback (debug.snap).
  await page.locator(`.node[data-id="${root}"] a`).click();
  await page.click("#load-callbacks");
  await page.locator("ul.callbacks li", { hasText: latent }).waitFor();
  assert.equal(await page.locator("ul.callbacks li").textContent(), `${root} waits for ${latent}`);
  await b.shot("3b-promise-callbacks");
  await page.click("#tree-link");
  await page.locator(`.node[data-id="${latent}"]`).waitFor();

  // Resolve the waiting promise through the button, confirming the dialog.
  await page.locator(`.node[data-id="${latent}"] a`).click();
  await page.locator("#settle-value").waitFor();
  await page.fill("#settle-value", '{"approved": true, "by": "console test"}');
  let asked = "";
  page.once("dialog", (d) => {
    asked = d.message();
    d.accept();
  });
  await page.click("#resolve");
  await page.locator("pre.answer", { hasText: "HTTP 200" }).waitFor();
  assert.match(asked, new RegExp(`Resolve promise "${latent.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"`));
  const answer = await page.locator("pre.answer").textContent();
  const env = JSON.parse(answer.slice(answer.indexOf("\n") + 1)); // the server's answer, as is
  assert.equal(env.data.promise.state, "resolved");
  assert.equal(Buffer.from(env.data.promise.value.data, "base64").toString(), '{"approved":true,"by":"console test"}');
  await page.locator('[data-panel="value"] pre', { hasText: "console test" }).waitFor();
  await b.shot("4-promise-resolved");

  // The workflow finishes, and the tree shows it (auto refresh).
  assert.deepEqual(await within(20000, handle.result(), "workflow result"), { sum: 2 + 4 + 6 + 20, verdict: { approved: true, by: "console test" } });
  await page.click("#tree-link");
  await page.locator(`.node[data-id="${root}"][data-state="resolved"]`).waitFor({ timeout: 10000 });
  assert.equal(await page.locator('.node[data-state="pending"]').count(), 0);
  await b.shot("5-tree-done");

  // Tasks and schedules.
  await page.click('nav a[data-nav="tasks"]');
  const taskRow = page.locator(`table.tasks tr[data-id="${root}"]`);
  await taskRow.waitFor();
  await page.locator(`table.tasks tr[data-id="${root}"] .state`, { hasText: "fulfilled" }).waitFor();
  await b.shot("6-tasks");
  await page.click('nav a[data-nav="schedules"]');
  const sRow = page.locator('table.schedules tr[data-id="nightly-report"]');
  await sRow.waitFor();
  assert.equal(await sRow.locator("td").nth(1).textContent(), "0 3 * * *");
  assert.match(await sRow.textContent(), /report-\{\{\.timestamp\}\}/);
  await b.shot("7-schedules");

  // The server goes away: the console says so and keeps the error listed.
  await scope.stopClient(r);
  await scope.stopServer(srv);
  await page.locator("#conn.down").waitFor({ timeout: 10000 });
  assert.match(await page.locator("#conn").textContent(), /unreachable/);
  await page.locator(".error", { hasText: "cannot be reached" }).waitFor();
  await b.shot("8-unreachable");
  b.problems = b.problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to fetch/.test(p));
  b.assertClean();
});

test("with auth on a prefixed token sees only its tenant's ids, and HTML in the store is shown as text", { timeout: T }, async (t) => {
  const scope = new AuthScope(t);
  const k = await keyPair("Ed25519");
  const keyFile = scope.file("ed.pem", k.pem);
  const srv = await scope.server({ keyFile, debug: false, mode: "serve", args: ["--ui-enabled", "true"] });
  const tok = (claims) => sign({ ...claims, exp: nowS() + 600 }, { alg: "EdDSA" }, k.privateKey);
  const admin = await tok({ role: "admin" });
  const acme = await tok({ prefix: "acme/", sub: "acme-ops" });
  const A = async (kind, data) => {
    const res = await call(srv, kind, data, { token: admin });
    assert.equal(res.status, 200, `${kind}: ${res.text}`);
    return res.body.data;
  };
  const XSS = '<img src=x onerror="window.__xss=1">';
  const far = Date.now() + 3600_000;
  const named = ["acme/order-1", "acme/order-2", "acme/xss", `acme/${XSS}`];
  const bulk = Array.from({ length: 60 }, (_, i) => `acme/bulk-${String(i).padStart(3, "0")}`);
  const mine = [...named, ...bulk];
  // Ids that share the prefix's characters but are not inside it.
  const theirs = ["acme", "acme-evil/x", "acme2/order-1", "acmecorp/plan", "acme.x", "other/1"];
  for (const id of [...mine, ...theirs]) {
    await A("promise.create", { id, timeoutAt: far, param: { data: b64(JSON.stringify({ func: `f-${id}`, args: [] })) }, tags: { note: XSS } });
  }
  await A("promise.settle", { id: "acme/xss", state: "resolved", value: { data: b64(XSS) } });
  await A("promise.settle", { id: "acme/order-2", state: "rejected", value: { data: b64(JSON.stringify(XSS)) } });
  for (const id of ["acme/daily", "acmecorp/daily"]) {
    await A("schedule.create", { id, cron: "0 * * * *", promiseId: `${id}-{{.timestamp}}`, promiseTimeout: 1000, promiseTags: { "resonate:target": "poll://any@x" } });
  }

  // `serve` without the flag has no console.
  const plain = await startServer({ mode: "serve", debug: false, args: ["--auth-publickey", keyFile] });
  t.after(() => plain.stop());
  assert.equal((await plain.request("GET", "/ui")).status, 404);

  const b = await Browser.open(t);
  const { page } = b;
  const res = await page.goto(`${srv.url}/ui`);
  assertUiHeaders(res.headers(), "GET /ui");
  await page.locator("#login").waitFor();
  await b.shot("9-login");
  // A bad token is refused with the server's reason.
  await page.fill("#token", "not-a-token");
  await page.click("#login-form button[type=submit]");
  await page.locator("#login-msg", { hasText: "Unauthorized" }).waitFor();
  await page.fill("#token", acme);
  await page.click("#login-form button[type=submit]");
  await page.locator("table.promises tbody tr").first().waitFor();
  assert.equal(await page.locator("#login").isVisible(), false);
  assert.match(await page.locator("#who").textContent(), /prefix "acme\/"/);

  const ids = async () => page.locator("table.promises tbody tr").evaluateAll((rs) => rs.map((x) => x.dataset.id));
  /** Does action, then waits until the list was drawn again. */
  const redrawn = async (action) => {
    const loads = async () => Number((await page.locator(".results").getAttribute("data-loads")) || 0);
    const before = await loads();
    await action();
    await waitFor(async () => (await loads()) > before, 10000, "the list drawn again");
    return ids();
  };
  /** Every page of the current search, following Next. */
  const allPages = async () => {
    const pages = [await ids()];
    while (await page.locator(".pager button", { hasText: "Next" }).isEnabled()) {
      pages.push(await redrawn(() => page.click(".pager button >> text=Next")));
      assert.ok(pages.length < 10, "paging does not end");
    }
    return pages;
  };
  const sorted = (xs) => [...xs].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  await b.shot("10-tenant-promises");
  // Pages of 50, through the cursor: the tenant's ids, every one once.
  let pages = await allPages();
  assert.deepEqual(pages.map((p) => p.length), [50, 14]);
  assert.deepEqual(pages.flat(), sorted(mine));
  // Back to the first page.
  assert.deepEqual(await redrawn(() => page.click(".pager button >> text=Previous")), pages[0]);
  // Search by id prefix, paged too.
  await page.fill("#f-prefix", "acme/bulk-");
  pages = [await redrawn(() => page.click("form.filters button[type=submit]"))];
  pages = [...pages, ...(await allPages()).slice(1)];
  assert.deepEqual(pages.map((p) => p.length), [50, 10]);
  assert.deepEqual(pages.flat(), bulk);
  // A prefix typed by the user cannot widen the token's scope: "acme" is
  // also the start of other tenants' ids.
  await page.fill("#f-prefix", "acme");
  pages = [await redrawn(() => page.click("form.filters button[type=submit]"))];
  pages = [...pages, ...(await allPages()).slice(1)];
  assert.deepEqual(pages.flat(), sorted(mine));
  await page.fill("#f-prefix", "acme/o");
  assert.deepEqual(await redrawn(() => page.click("form.filters button[type=submit]")), ["acme/order-1", "acme/order-2"]);
  const text = await page.locator("main").textContent();
  for (const id of theirs.filter((x) => x !== "acme")) assert.ok(!text.includes(id), `${id} visible to acme/`);
  // The id holding HTML is a text row, not an element.
  await page.fill("#f-prefix", "acme/<");
  assert.deepEqual(await redrawn(() => page.click("form.filters button[type=submit]")), [`acme/${XSS}`]);
  assert.equal(await page.locator("img").count(), 0);

  // Tasks and schedules are scoped too.
  await page.click('nav a[data-nav="schedules"]');
  await page.locator("table.schedules tbody tr").first().waitFor();
  assert.deepEqual(await page.locator("table.schedules tbody tr").evaluateAll((rs) => rs.map((x) => x.dataset.id)), ["acme/daily"]);

  // A foreign promise named in the address: the server's 403 is shown.
  await page.goto(`${srv.url}/ui#/promise/${encodeURIComponent("acmecorp/plan")}`);
  await page.reload();
  // (a new page load forgot the token: it must be given again)
  await page.locator("#login").waitFor();
  await page.fill("#token", acme);
  await page.click("#login-form button[type=submit]");
  await page.locator(".error", { hasText: "403" }).waitFor();
  assert.ok(!(await page.locator("main").textContent()).includes("f-acmecorp"));

  // Values that look like HTML are text.
  await page.evaluate(() => { location.hash = "#/promise/" + encodeURIComponent("acme/xss"); });
  const value = page.locator('[data-panel="value"] pre');
  await value.waitFor();
  assert.equal(await value.textContent(), XSS);
  assert.equal(await page.locator("img").count(), 0, "no img element was created");
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.ok((await page.locator("main").textContent()).includes(XSS), "the tag value is shown as text too");
  await b.shot("11-html-as-text");
  await page.evaluate(() => { location.hash = "#/promise/" + encodeURIComponent("acme/order-2"); });
  await page.locator('[data-panel="value"] pre', { hasText: "onerror" }).waitFor();
  assert.equal(JSON.parse(await page.locator('[data-panel="value"] pre').textContent()), XSS);
  assert.equal(await page.locator("img").count(), 0);

  // The token stays in the tab's memory: no cookie, no storage, no URL.
  const kept = await page.evaluate(() => ({ cookie: document.cookie, local: localStorage.length, session: sessionStorage.length, url: location.href }));
  assert.deepEqual(kept, { cookie: "", local: 0, session: 0, url: kept.url });
  assert.ok(!kept.url.includes(acme));
  assert.ok(b.requests.every((u) => !u.includes(acme.split(".")[2])), "token in a request URL");
  assert.equal((await b.ctx.cookies()).length, 0);
  b.assertClean();
});
