// console.js - the web console of resonate-c (issue 13): promises, a
// promise, its call tree, tasks and schedules, read and settled through the
// same POST / API every client uses, so authentication, prefix checks and
// limits apply to it unchanged.
//
// Rules this file keeps:
// - Every value that comes from the store (ids, tags, param/value data, error
//   texts) reaches the page as text: el() appends strings as text nodes and
//   sets no HTML anywhere. The server's Content-Security-Policy also forbids
//   inline scripts and styles, so an injected tag could not run anyway.
// - The token lives in the variable `token` of this closure only: never in a
//   cookie, in the browser's storage or in the address (it travels in
//   the envelope's head.auth of each POST /).
// - Errors are never hidden: each failed request is listed at the top with
//   its status and the server's message until the user dismisses it, and the
//   connection badge says when the server cannot be reached.
(function () {
  "use strict";

  const VERSION = "2026-04-01";
  const REFRESH_MS = 3000;
  const PAGE = 50;
  const TREE_PAGE = 1000;
  const TREE_MAX_PAGES = 50; // 50,000 promises under one root
  const TREE_TASK_LOOKUPS = 200;
  const PROMISE_STATES = ["pending", "resolved", "rejected", "rejected_canceled", "rejected_timedout"];
  const TASK_STATES = ["pending", "acquired", "suspended", "halted", "fulfilled"];

  let token = null; // the bearer token: this tab's memory only
  let authOn = false;
  let corr = 0;
  let current = null; // the mounted view: {refresh()}
  let busy = false;
  let again = false; // refresh once more when the one under way ends
  let loads = 0; // results drawn so far (data-loads of each list, for tests)
  let downSince = null;

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------
  // DOM, text only

  /** An element with properties and children; strings become text nodes. */
  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "value" || k === "checked" || k === "disabled" || k === "hidden") e[k] = v;
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of kids.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  /** Replaces parent's children with kids (null, undefined and false left out). */
  function fill(parent, ...kids) {
    parent.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false));
  }

  const link = (href, text, props) => el("a", { href, ...(props || {}) }, text);
  const promiseHref = (id) => "#/promise/" + encodeURIComponent(id);
  const treeHref = (id) => "#/tree/" + encodeURIComponent(id);
  const stateBadge = (s) => el("span", { class: "state state-" + cls(s), "data-state": s }, s || "?");
  /** A state name usable in a class attribute. */
  const cls = (s) => (typeof s === "string" && /^[a-z_]+$/.test(s) ? s : "unknown");

  function select(options, value, anyLabel) {
    const s = el("select", {});
    for (const o of options) s.append(el("option", { value: o, selected: o === value }, o === "" ? anyLabel : o));
    s.value = value;
    return s;
  }

  // ------------------------------------------------------------------
  // Time

  function pad(n) {
    return String(n).padStart(2, "0");
  }

  /** "2026-12-03 15:40:01" (local time), or the raw number when out of range. */
  function fmtTime(ms) {
    if (typeof ms !== "number") return "";
    const d = new Date(ms);
    if (isNaN(d.getTime())) return String(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  /** "3m 20s" for a duration in ms. */
  function fmtSpan(ms) {
    let s = Math.floor(Math.abs(ms) / 1000);
    if (s < 60) return `${s}s`;
    const parts = [];
    for (const [u, n] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
      if (s >= n) {
        parts.push(`${Math.floor(s / n)}${u}`);
        s %= n;
      }
      if (parts.length === 2) break;
    }
    return Math.abs(ms) > 1000 * 86400 * 365 * 100 ? "centuries" : parts.join(" ");
  }

  /** "in 5m" / "5m ago" relative to now. */
  function fmtRel(ms) {
    if (typeof ms !== "number") return "";
    const d = ms - Date.now();
    return d >= 0 ? `in ${fmtSpan(d)}` : `${fmtSpan(d)} ago`;
  }

  /** A time cell: relative text, absolute time in the tooltip. */
  function timeCell(ms, props) {
    return el("td", { class: "time", title: fmtTime(ms), ...(props || {}) }, fmtRel(ms));
  }

  // ------------------------------------------------------------------
  // Decoding param / value data

  /**
   * What data (a base64 string, as the SDKs write it) holds: {kind: "json",
   * text (pretty)} for base64 JSON, {kind: "text", text, note} otherwise,
   * {kind: "none"} when absent.
   */
  function decodeData(data) {
    if (data === undefined || data === null) return { kind: "none" };
    if (typeof data !== "string") return { kind: "text", text: JSON.stringify(data), note: "not a string" };
    let bytes;
    try {
      const bin = atob(data);
      bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    } catch (_) {
      return { kind: "text", text: data, note: "as stored (not base64)" };
    }
    let text;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (_) {
      return { kind: "text", text: data, note: `as stored (base64 of ${bytes.length} bytes that are not UTF-8)` };
    }
    try {
      return { kind: "json", text: JSON.stringify(JSON.parse(text), null, 2) };
    } catch (_) {
      return { kind: "text", text, note: "base64-decoded text (not JSON)" };
    }
  }

  /** The function a param names ({"func": ...} in its base64 JSON), or "". */
  function funcOf(p) {
    const d = p && p.param && p.param.data;
    if (typeof d !== "string") return "";
    try {
      const v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(atob(d), (c) => c.charCodeAt(0))));
      return v && typeof v.func === "string" ? v.func : "";
    } catch (_) {
      return "";
    }
  }

  /** base64 of the UTF-8 bytes of s. */
  function b64(s) {
    const bytes = new TextEncoder().encode(s);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }

  /** The claims of a JWT, decoded without verification (shown, never trusted). */
  function claimsOf(t) {
    try {
      const part = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const json = new TextDecoder().decode(Uint8Array.from(atob(part + "===".slice((part.length + 3) % 4)), (c) => c.charCodeAt(0)));
      return JSON.parse(json);
    } catch (_) {
      return null;
    }
  }

  // ------------------------------------------------------------------
  // The API

  class ApiError extends Error {
    constructor(kind, status, message) {
      super(`${kind}: ${status ? "HTTP " + status + ": " : ""}${message}`);
      this.status = status;
    }
  }

  /**
   * POSTs one envelope to / and returns {kind, status, data, text} (text =
   * the body as received). Rejects only when the server cannot be reached.
   */
  async function rpc(kind, data) {
    const head = { corrId: `ui${++corr}`, version: VERSION };
    if (token) head.auth = token;
    let res, text;
    try {
      res = await fetch("/", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ kind, head, data }),
        cache: "no-store",
        credentials: "omit",
        redirect: "error",
      });
      text = await res.text();
    } catch (e) {
      markDown(e);
      throw new ApiError(kind, 0, `the server cannot be reached (${e.message})`);
    }
    markUp();
    let env = null;
    try {
      env = JSON.parse(text);
    } catch (_) {
      /* not an envelope: text is shown as is */
    }
    const r = { kind, status: res.status, data: env && typeof env === "object" ? env.data : undefined, text };
    if (r.status === 401) needToken(r);
    return r;
  }

  /** The data of a 2xx answer; otherwise an ApiError with the server's message. */
  function ok(r) {
    if (r.status >= 200 && r.status < 300) return r.data || {};
    throw new ApiError(r.kind, r.status, typeof r.data === "string" ? r.data : r.text);
  }

  // ------------------------------------------------------------------
  // Connection badge, errors, token

  function markDown(e) {
    if (!downSince) downSince = new Date();
    const c = $("conn");
    c.className = "conn down";
    c.textContent = `server unreachable since ${fmtTime(downSince.getTime())} (${e.message}); retrying`;
  }

  function markUp() {
    downSince = null;
    const c = $("conn");
    c.className = "conn ok";
    c.textContent = `connected · updated ${fmtTime(Date.now()).slice(11)}`;
  }

  /** Lists an error until dismissed; a repeat of the last one bumps its count. */
  function showError(e) {
    const msg = e && e.message ? e.message : String(e);
    const box = $("errors");
    const last = box.lastElementChild;
    if (last && last.dataset.msg === msg) {
      const n = Number(last.dataset.count) + 1;
      last.dataset.count = String(n);
      last.querySelector(".when").textContent = `×${n}, last at ${fmtTime(Date.now()).slice(11)}`;
      return;
    }
    const item = el("div", { class: "error", role: "alert" },
      el("span", { class: "msg" }, msg),
      el("span", { class: "when" }, `at ${fmtTime(Date.now()).slice(11)}`),
      el("button", { type: "button", onclick: () => item.remove() }, "Dismiss"));
    item.dataset.msg = msg;
    item.dataset.count = "1";
    box.append(item);
  }

  /** A 401: asks for a (new) token; the view stays as it was. */
  function needToken(r) {
    authOn = true;
    const had = token !== null;
    token = null;
    $("login").hidden = false;
    $("forget").hidden = true;
    $("who").textContent = "";
    const why = typeof r.data === "string" ? r.data : r.text;
    $("login-msg").textContent = had ? `The server refused the token: ${why}` : "";
    $("token").focus();
  }

  function showWho() {
    const c = token ? claimsOf(token) : null;
    let who = "";
    if (!authOn) who = "auth off";
    else if (c) {
      const role = c.role === "admin" || (Array.isArray(c.roles) && c.roles.includes("admin"));
      who = role ? "admin token" : typeof c.prefix === "string" ? `token prefix "${c.prefix}"` : "token";
      if (typeof c.sub === "string") who += ` (sub ${c.sub})`;
    }
    $("who").textContent = who;
    $("forget").hidden = !token;
  }

  async function useToken(ev) {
    ev.preventDefault();
    const input = $("token");
    const t = input.value.trim();
    input.value = "";
    if (!t) return;
    token = t;
    const r = await rpc("promise.search", { limit: 1 }).catch((e) => (showError(e), null));
    if (!r || r.status === 401) return; // needToken said why
    $("login").hidden = true;
    $("login-msg").textContent = "";
    route();
  }

  // ------------------------------------------------------------------
  // Paging with the cursor

  /** Previous/next buttons over a stack of cursors; onChange() reloads. */
  function pager(onChange) {
    const stack = [null];
    let next = null;
    const info = el("span", {});
    const prev = el("button", { type: "button", onclick: () => { stack.pop(); onChange(); } }, "← Previous");
    const nextB = el("button", { type: "button", onclick: () => { stack.push(next); onChange(); } }, "Next →");
    return {
      node: el("div", { class: "pager" }, prev, info, nextB),
      cursor: () => stack[stack.length - 1],
      reset: () => stack.splice(1),
      update(n, nextCursor) {
        next = nextCursor || null;
        prev.disabled = stack.length === 1;
        nextB.disabled = !next;
        info.textContent = `page ${stack.length} · ${n} shown${next ? " · more" : ""}`;
      },
    };
  }

  /** Parses "k=v, k2=v2" into an object. */
  function parseTags(s) {
    const out = {};
    for (const part of s.split(",")) {
      const p = part.trim();
      if (!p) continue;
      const i = p.indexOf("=");
      if (i <= 0) throw new Error(`tag filter "${p}": write key=value`);
      out[p.slice(0, i).trim()] = p.slice(i + 1).trim();
    }
    return out;
  }

  /** A filter form was sent: a new address mounts the view again with it;
   * the same address reloads the first page. */
  function go(hash, pg, load) {
    if (location.hash === hash) {
      pg.reset();
      load().catch(showError);
    } else location.hash = hash;
  }

  function stamp() {
    return el("span", { class: "stamp" }, `as of ${fmtTime(Date.now()).slice(11)}`);
  }

  // ------------------------------------------------------------------
  // Promises

  /**
   * One page of promises whose id starts with prefix (client side: the
   * search is ordered by id, so it starts at the prefix with the cursor and
   * stops at the first id past it; the id equal to the prefix is fetched
   * with promise.get on the first page).
   */
  async function searchPromises(prefix, state, tags, cursor) {
    const q = { limit: PAGE };
    if (state) q.state = state;
    if (Object.keys(tags).length) q.tags = tags;
    let exact = null;
    if (cursor !== null) q.cursor = cursor;
    else if (prefix) {
      q.cursor = prefix;
      const g = await rpc("promise.get", { id: prefix });
      const p = g.status === 200 && g.data && g.data.promise;
      if (p && (!state || p.state === state) && Object.entries(tags).every(([k, v]) => p.tags && p.tags[k] === v)) exact = p;
      // 404: no such id; 403: outside the token's prefix. Anything else is news.
      if (g.status !== 200 && g.status !== 404 && g.status !== 403) ok(g);
    }
    const d = ok(await rpc("promise.search", q));
    let list = d.promises || [];
    let next = d.cursor || null;
    if (prefix) {
      const inside = list.filter((p) => p.id.startsWith(prefix));
      if (inside.length < list.length) next = null;
      list = inside;
    }
    if (exact) list.unshift(exact);
    return { list, next };
  }

  /**
   * A list view: a filter form (controls; submitting moves to hashOf()), a
   * table of one page and the pager. page(cursor) loads {list, next};
   * rowOf(item) is a table row of heads.length cells.
   */
  function listView({ name, title, controls, hashOf, page, heads, rowOf, none, note }) {
    const out = el("div", { class: "results" });
    const pg = pager(() => load().catch(showError));
    const form = el("form", { class: "filters", onsubmit: (e) => {
      e.preventDefault();
      go(hashOf(), pg, load);
    } }, controls, el("button", { type: "submit" }, "Search"));
    const node = el("section", { "data-view": name }, el("h2", {}, title), form, out, pg.node,
      note ? el("p", { class: "note" }, note) : null);

    async function load() {
      const { list, next } = await page(pg.cursor());
      pg.update(list.length, next);
      out.dataset.loads = String(++loads);
      fill(out, list.length
        ? el("table", { class: name }, el("thead", {}, el("tr", {}, heads.map((h) => el("th", {}, h)))),
          el("tbody", {}, list.map((x) => rowOf(x))))
        : el("p", { class: "empty" }, none), stamp());
    }
    return { node, refresh: load };
  }

  /** One page of a search kind: {list: data[key], next: its cursor}. */
  async function searchPage(kind, key, filter, cursor) {
    const d = ok(await rpc(kind, { limit: PAGE, ...filter, ...(cursor ? { cursor } : {}) }));
    return { list: d[key] || [], next: d.cursor };
  }

  function promisesView(params) {
    const prefix = el("input", { type: "search", id: "f-prefix", placeholder: "id prefix", value: params.get("prefix") || "" });
    const state = select(["", ...PROMISE_STATES], params.get("state") || "", "any state");
    state.id = "f-state";
    const tags = el("input", { type: "text", id: "f-tags", placeholder: "tags: key=value, key2=value2", value: params.get("tags") || "" });
    return listView({
      name: "promises",
      title: "Promises",
      controls: [prefix, state, tags],
      hashOf: () => {
        const q = new URLSearchParams();
        if (prefix.value) q.set("prefix", prefix.value);
        if (state.value) q.set("state", state.value);
        if (tags.value) q.set("tags", tags.value);
        return "#/promises?" + q.toString();
      },
      page: (cursor) => searchPromises(prefix.value, state.value, parseTags(tags.value), cursor),
      heads: ["id", "state", "function", "age", "timeout", "workflow"],
      rowOf: (p) => el("tr", { "data-id": p.id },
        el("td", { class: "id" }, link(promiseHref(p.id), p.id)),
        el("td", {}, stateBadge(p.state)),
        el("td", {}, funcOf(p)),
        el("td", { class: "time", title: fmtTime(p.createdAt) }, typeof p.createdAt === "number" ? fmtSpan(Date.now() - p.createdAt) : ""),
        timeCell(p.timeoutAt),
        el("td", { class: "id" }, p.tags && p.tags["resonate:origin"] && p.tags["resonate:origin"] !== p.id
          ? link(treeHref(p.tags["resonate:origin"]), p.tags["resonate:origin"]) : link(treeHref(p.id), "tree"))),
      none: "No promise matches.",
    });
  }

  // ------------------------------------------------------------------
  // A promise

  function valuePanel(title, v) {
    const rows = [];
    const headers = v && v.headers;
    if (headers && Object.keys(headers).length) rows.push(el("h4", {}, "headers"), kvTable(headers));
    const d = decodeData(v && v.data);
    if (d.kind === "none") rows.push(el("p", { class: "empty" }, "no data"));
    else if (d.text === "") rows.push(el("p", { class: "empty" }, "empty data (\"\")"));
    else {
      rows.push(el("pre", { class: "data " + d.kind }, d.text));
      rows.push(el("span", { class: "decoded-note" }, d.kind === "json" ? "base64 JSON, formatted" : d.note));
    }
    return el("div", { class: "panel", "data-panel": title }, el("h3", {}, title), rows);
  }

  function kvTable(obj) {
    const keys = Object.keys(obj || {}).sort();
    if (!keys.length) return el("p", { class: "empty" }, "none");
    return el("table", { class: "kv" }, el("tbody", {}, keys.map((k) => el("tr", {}, el("td", { class: "id" }, k), el("td", { class: "id" }, String(obj[k]))))));
  }

  function dl(pairs) {
    return el("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function promiseView(id) {
    const details = el("div", {});
    const answer = el("pre", { class: "answer", "data-answer": "" });
    const value = el("textarea", { id: "settle-value", placeholder: '{"approved": true}', spellcheck: "false" });
    const enc = select(["json", "text"], "json", "");
    enc.id = "settle-encoding";
    enc.options[0].textContent = "JSON value";
    enc.options[1].textContent = "text (sent as a JSON string)";
    const settleBox = el("div", { class: "panel settle", hidden: true },
      el("h3", {}, "Settle by hand"),
      el("p", { class: "note" }, "The value is sent base64-encoded as the SDKs expect: the JSON you write, or the text as a JSON string."),
      value, el("div", { class: "actions" }, enc,
        el("button", { type: "button", id: "resolve", onclick: () => settle("resolved") }, "Resolve…"),
        el("button", { type: "button", id: "reject", onclick: () => settle("rejected") }, "Reject…")));
    // Outside the settle box, which hides once the promise is settled.
    const answerBox = el("div", { class: "panel", hidden: true }, el("h3", {}, "The server's answer to the settle"), answer);
    const cbOut = el("div", {});
    const cbBox = el("div", { class: "panel" }, el("h3", {}, "Callbacks and listeners"),
      el("p", { class: "note" }, "The protocol shows these only through debug.snap, which a server started with --debug answers (it reads the whole store)."),
      el("button", { type: "button", id: "load-callbacks", onclick: () => loadCallbacks().catch(showError) }, "Load from debug.snap"), cbOut);
    const node = el("section", { "data-view": "promise" }, el("h2", {}, "Promise ", el("span", { class: "id" }, id)), details, answerBox, el("div", { class: "panels" }, settleBox, cbBox));

    async function settle(state) {
      let data;
      try {
        data = enc.value === "json" ? JSON.stringify(JSON.parse(value.value || "null")) : JSON.stringify(value.value);
      } catch (e) {
        answer.textContent = `Not sent: the value is not valid JSON (${e.message}). Choose "text" to send it as a string.`;
        answerBox.hidden = false;
        return;
      }
      const verb = state === "resolved" ? "Resolve" : "Reject";
      if (!window.confirm(`${verb} promise "${id}" with the value ${data}?\n\nA settled promise cannot be changed.`)) return;
      const r = await rpc("promise.settle", { id, state, value: { data: b64(data) } }).catch((e) => (showError(e), null));
      if (!r) return;
      answer.textContent = `HTTP ${r.status}\n${r.text}`;
      answerBox.hidden = false;
      if (r.status < 200 || r.status > 299) showError(new ApiError("promise.settle", r.status, typeof r.data === "string" ? r.data : r.text));
      await load().catch(showError);
    }

    async function loadCallbacks() {
      const r = await rpc("debug.snap", {});
      const d = ok(r);
      const cbs = (d.callbacks || []).filter((c) => c.awaited === id || c.awaiter === id);
      const ls = (d.listeners || []).filter((l) => l.id === id);
      fill(cbOut,
        el("h4", {}, "callbacks"),
        cbs.length ? el("ul", { class: "callbacks" }, cbs.map((c) => el("li", {}, link(promiseHref(c.awaiter), c.awaiter), " waits for ", link(promiseHref(c.awaited), c.awaited)))) : el("p", { class: "empty" }, "none"),
        el("h4", {}, "listeners"),
        ls.length ? el("ul", { class: "listeners" }, ls.map((l) => el("li", { class: "id" }, l.address))) : el("p", { class: "empty" }, "none"));
    }

    async function load() {
      const r = await rpc("promise.get", { id });
      if (r.status === 404) {
        fill(details, el("p", { class: "empty" }, `No promise "${id}" (404: ${typeof r.data === "string" ? r.data : r.text}).`));
        settleBox.hidden = true;
        return;
      }
      const p = ok(r).promise;
      const tags = p.tags || {};
      let task = null;
      if ("resonate:target" in tags) {
        const t = await rpc("task.get", { id });
        if (t.status === 200) task = t.data.task;
        else if (t.status !== 404) ok(t);
      }
      const origin = tags["resonate:origin"] || id;
      const parent = tags["resonate:parent"];
      const f = funcOf(p);
      fill(details,
        el("div", { class: "actions" }, stateBadge(p.state), link(treeHref(origin), "Call tree", { id: "tree-link" }),
          parent && parent !== id ? link(promiseHref(parent), `Parent: ${parent}`) : null, stamp()),
        el("div", { class: "panels" },
          el("div", { class: "panel" }, el("h3", {}, "Record"), dl([
            ["state", p.state],
            f ? ["function", f] : null,
            ["created", `${fmtTime(p.createdAt)} (${fmtRel(p.createdAt)})`],
            ["times out", `${fmtTime(p.timeoutAt)} (${fmtRel(p.timeoutAt)})`],
            typeof p.settledAt === "number" ? ["settled", `${fmtTime(p.settledAt)} (${fmtRel(p.settledAt)})`] : ["settled", "not yet"],
          ])),
          el("div", { class: "panel" }, el("h3", {}, "Tags"), kvTable(tags)),
          task ? el("div", { class: "panel", "data-panel": "task" }, el("h3", {}, "Task"), dl([
            ["state", stateBadge(task.state)], ["version", String(task.version)], ["resumes", String(task.resumes)],
            task.pid !== undefined ? ["pid", task.pid] : null, task.ttl !== undefined ? ["lease ttl", `${task.ttl} ms`] : null,
          ])) : null,
          valuePanel("param", p.param), valuePanel("value", p.value)));
      settleBox.hidden = p.state !== "pending";
    }
    return { node, refresh: load };
  }

  // ------------------------------------------------------------------
  // Call tree

  /** " (sleep)", " (rpc f)", " (run f)" or "": what `resonate tree` prints. */
  function detailOf(p) {
    const tags = (p && p.tags) || {};
    const f = funcOf(p);
    if (tags["resonate:timer"]) return "sleep";
    if (tags["resonate:scope"] === "global") return f ? `rpc ${f}` : "rpc";
    if (tags["resonate:scope"] === "local") return f ? `run ${f}` : "run";
    return "";
  }

  /** What a pending node waits on, from its children, its tags and its task. */
  function waitsOf(p, kids, task) {
    if (p.state !== "pending") return "";
    const tags = p.tags || {};
    if (tags["resonate:timer"] === "true") return `sleeping until ${fmtTime(p.timeoutAt)} (${fmtRel(p.timeoutAt)})`;
    const open = kids.filter((k) => k.p.state === "pending").map((k) => k.id);
    if (open.length) return `waits on ${open.join(", ")}`;
    if (!("resonate:target" in tags)) return `waits to be settled from outside (by hand or by a client); times out ${fmtRel(p.timeoutAt)}`;
    if (!task) return "waits for its task";
    if (task.state === "acquired") return `running: task acquired by ${task.pid || "?"}`;
    if (task.state === "pending") return "waits for a worker to take its task";
    return `task ${task.state}`;
  }

  function treeView(root) {
    const out = el("div", {});
    const node = el("section", { "data-view": "tree" }, el("h2", {}, "Call tree of ", link(promiseHref(root), root)),
      el("p", { class: "note" }, "The promises tagged resonate:origin = this id, linked by resonate:parent (what `resonate tree` prints)."), out);

    async function load() {
      const all = new Map();
      let cursor = null;
      let capped = false;
      for (let i = 0; ; i++) {
        if (i === TREE_MAX_PAGES) {
          capped = true;
          break;
        }
        const q = { limit: TREE_PAGE, tags: { "resonate:origin": root } };
        if (cursor) q.cursor = cursor;
        const d = ok(await rpc("promise.search", q));
        for (const p of d.promises || []) all.set(p.id, p);
        cursor = d.cursor;
        if (!cursor) break;
      }
      if (!all.has(root)) {
        const g = await rpc("promise.get", { id: root });
        if (g.status === 200) all.set(root, g.data.promise);
        else if (g.status !== 404) ok(g);
      }
      const nodes = [...all.values()].map((p) => {
        let parent = p.tags && p.tags["resonate:parent"];
        if (parent === p.id) parent = undefined;
        return { id: p.id, p, parent, kids: [], seen: false };
      });
      nodes.sort((a, b) => (a.p.createdAt || 0) - (b.p.createdAt || 0));
      const byId = new Map(nodes.map((n) => [n.id, n]));
      for (const n of nodes) if (n.parent && byId.has(n.parent) && n.parent !== n.id) byId.get(n.parent).kids.push(n);
      // Tasks of pending nodes that have one and no pending child.
      const tasks = new Map();
      const ask = nodes.filter((n) => n.p.state === "pending" && n.p.tags && "resonate:target" in n.p.tags &&
        !n.kids.some((k) => k.p.state === "pending")).slice(0, TREE_TASK_LOOKUPS);
      await Promise.all(ask.map(async (n) => {
        const t = await rpc("task.get", { id: n.id });
        if (t.status === 200) tasks.set(n.id, t.data.task);
      }));
      const counts = {};
      for (const n of nodes) counts[n.p.state] = (counts[n.p.state] || 0) + 1;

      function draw(n) {
        n.seen = true;
        const kids = n.kids.filter((k) => !k.seen);
        for (const k of kids) k.seen = true; // claims them before recursing (guards cycles)
        const detail = detailOf(n.p);
        const waits = waitsOf(n.p, kids, tasks.get(n.id));
        return el("li", {},
          el("div", { class: "node state-" + cls(n.p.state), "data-id": n.id, "data-state": n.p.state || "" },
            stateBadge(n.p.state), link(promiseHref(n.id), n.id, { class: "nid" }),
            detail ? el("span", { class: "detail" }, `(${detail})`) : null,
            waits ? el("span", { class: "waits" }, waits) : null),
          kids.length ? el("ul", {}, kids.map(draw)) : null);
      }
      const top = byId.get(root) || { id: root, p: { id: root }, kids: [], seen: false };
      fill(out,
        el("div", { class: "legend" }, Object.keys(counts).sort().map((s) => el("span", {}, stateBadge(s), ` ${counts[s]}`)),
          el("span", {}, `${nodes.length} promises`), stamp()),
        capped ? el("p", { class: "error" }, `Only the first ${TREE_MAX_PAGES * TREE_PAGE} promises of this workflow are drawn.`) : null,
        byId.has(root) ? null : el("p", { class: "empty" }, `No promise "${root}" (shown as its bare id, as resonate tree does).`),
        el("ul", { class: "tree" }, draw(top)));
    }
    return { node, refresh: load };
  }

  // ------------------------------------------------------------------
  // Tasks

  function tasksView(params) {
    const state = select(["", ...TASK_STATES], params.get("state") || "", "any state");
    return listView({
      name: "tasks",
      title: "Tasks",
      controls: [state],
      hashOf: () => "#/tasks" + (state.value ? "?state=" + encodeURIComponent(state.value) : ""),
      page: (cursor) => searchPage("task.search", "tasks", state.value ? { state: state.value } : {}, cursor),
      heads: ["id", "state", "version", "resumes", "pid", "lease ttl"],
      rowOf: (t) => el("tr", { "data-id": t.id },
        el("td", { class: "id" }, link(promiseHref(t.id), t.id)),
        el("td", {}, stateBadge(t.state)),
        el("td", { class: "num" }, String(t.version)),
        el("td", { class: "num" }, String(t.resumes)),
        el("td", { class: "id" }, t.pid === undefined ? "" : t.pid),
        el("td", { class: "num" }, t.ttl === undefined ? "" : `${t.ttl} ms`)),
      none: "No task matches.",
      note: "A task's lease lasts ttl ms from its acquisition or last heartbeat; the protocol does not expose the expiry instant itself.",
    });
  }

  // ------------------------------------------------------------------
  // Schedules

  function schedulesView(params) {
    const tags = el("input", { type: "text", placeholder: "promise tags: key=value", value: params.get("tags") || "" });
    return listView({
      name: "schedules",
      title: "Schedules",
      controls: [tags],
      hashOf: () => "#/schedules" + (tags.value ? "?tags=" + encodeURIComponent(tags.value) : ""),
      page: (cursor) => {
        const t = parseTags(tags.value);
        return searchPage("schedule.search", "schedules", Object.keys(t).length ? { tags: t } : {}, cursor);
      },
      heads: ["id", "cron", "next run", "last run", "promise template"],
      rowOf: (s) => {
        const param = decodeData(s.promiseParam && s.promiseParam.data);
        return el("tr", { "data-id": s.id },
          el("td", { class: "id" }, s.id),
          el("td", { class: "id" }, s.cron),
          timeCell(s.nextRunAt),
          typeof s.lastRunAt === "number" ? timeCell(s.lastRunAt) : el("td", {}, "never"),
          el("td", {}, dl([
            ["id", s.promiseId], ["timeout", `${s.promiseTimeout} ms`],
            ["tags", Object.entries(s.promiseTags || {}).map(([k, v]) => `${k}=${v}`).join(", ")],
            param.kind === "none" ? null : ["param", el("pre", { class: "data" }, param.text)],
          ])));
      },
      none: "No schedule matches.",
    });
  }

  // ------------------------------------------------------------------
  // Router and refresh loop

  function route() {
    const h = location.hash.replace(/^#\/?/, "");
    const q = h.indexOf("?");
    const path = q >= 0 ? h.slice(0, q) : h;
    const params = new URLSearchParams(q >= 0 ? h.slice(q + 1) : "");
    const slash = path.indexOf("/");
    const name = slash >= 0 ? path.slice(0, slash) : path;
    let arg = "";
    try {
      arg = slash >= 0 ? decodeURIComponent(path.slice(slash + 1)) : "";
    } catch (_) {
      arg = path.slice(slash + 1);
    }
    let v;
    if (name === "promise" && arg) v = promiseView(arg);
    else if (name === "tree" && arg) v = treeView(arg);
    else if (name === "tasks") v = tasksView(params);
    else if (name === "schedules") v = schedulesView(params);
    else v = promisesView(params);
    for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === (name || "promises"));
    current = v;
    $("main").replaceChildren(v.node);
    refresh();
  }

  async function refresh() {
    if (!current || (authOn && !token)) return;
    if (busy) {
      again = true; // e.g. a new view mounted while a refresh was under way
      return;
    }
    busy = true;
    again = false;
    const v = current;
    try {
      await v.refresh();
      showWho();
    } catch (e) {
      // A 401 is said by the token form (needToken), not as an error here.
      if (e.status !== 401) showError(e);
    } finally {
      busy = false;
      if (again) refresh();
    }
  }

  async function start() {
    $("login-form").addEventListener("submit", (e) => useToken(e).catch(showError));
    $("forget").addEventListener("click", () => {
      token = null;
      showWho();
      $("main").replaceChildren();
      needToken({ data: "", text: "" });
    });
    $("refresh").addEventListener("click", () => refresh());
    window.addEventListener("hashchange", route);
    setInterval(() => {
      if ($("auto").checked && !document.hidden) refresh();
    }, REFRESH_MS);
    // The first view's own request tells whether auth is on: a 401 shows
    // the token form (no separate probe, one round trip to the first rows).
    route();
  }

  start().catch(showError);
})();
