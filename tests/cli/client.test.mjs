// client.test.mjs - the client subcommands (promises, tasks, schedules,
// invoke, tree) against a running server without auth: the request each one
// sends (checked through the server's state and the --json answer), the human
// output, and the exit codes of usage errors (2) and failed requests (1).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { b64, cli, cliJson, cliOk, freePort, startServer, unb64 } from "./lib.mjs";

const T = { timeout: 60000 };

describe("client without auth", T, () => {
  let srv;
  let url;
  before(async () => {
    srv = await startServer({ debug: false, args: ["--tasks-retry-timeout", "600000"] });
    url = srv.url;
  });
  after(async () => {
    if (srv) await srv.stop();
  });

  test("--help of every command and subcommand exits 0 and shows its usage", T, async () => {
    const groups = {
      promises: ["get", "create", "resolve", "reject", "cancel", "search", "register-callback", "register-listener"],
      tasks: ["get", "create", "claim", "fence", "heartbeat", "suspend", "complete", "release", "halt", "continue", "search"],
      schedules: ["get", "create", "delete", "search"],
    };
    for (const [g, subs] of Object.entries(groups)) {
      const top = await cli([g, "--help"]);
      assert.equal(top.code, 0, g);
      assert.match(top.stdout, new RegExp(`Usage: resonate ${g} <COMMAND>`));
      for (const s of subs) assert.match(top.stdout, new RegExp(`^  ${s} `, "m"), `${g} lists ${s}`);
      for (const s of subs) {
        for (const flag of ["--help", "-h"]) {
          const r = await cli([g, s, flag]);
          assert.equal(r.code, 0, `${g} ${s} ${flag}`);
          assert.match(r.stdout, new RegExp(`Usage: resonate ${g} ${s}`), `${g} ${s}`);
          assert.match(r.stdout, /-S, --server <URL>/);
          assert.match(r.stdout, /-T, --token <JWT>/);
          assert.match(r.stdout, /--json/);
        }
      }
    }
    for (const g of ["invoke", "tree"]) {
      const r = await cli([g, "--help"]);
      assert.equal(r.code, 0, g);
      assert.match(r.stdout, new RegExp(`Usage: resonate ${g} <ID>`));
    }
    // aliases and the `help` subcommand
    const alias = await cli(["promise", "help", "create"]);
    assert.equal(alias.code, 0);
    assert.match(alias.stdout, /Usage: resonate promises create <ID> --timeout <DURATION>/);
    const inv = await cli(["invoke", "--help"]);
    assert.match(inv.stdout, /-f, --func <NAME>/);
    assert.match(inv.stdout, /--target <ADDR> .*\[default: poll:\/\/any@default\]/);
  });

  test("usage errors exit 2, send nothing and point to --help", T, async () => {
    const cases = [
      [["promises"], /missing command/],
      [["promises", "frobnicate"], /unknown command 'frobnicate'/],
      [["promises", "get"], /missing argument <ID>/],
      [["promises", "get", "a", "b"], /unexpected argument 'b'/],
      [["promises", "get", "a", "--bogus"], /unknown option '--bogus'/],
      [["promises", "create", "u1"], /missing required option --timeout/],
      [["promises", "create", "u1", "--timeout", "10"], /--timeout: invalid duration '10'/],
      [["promises", "create", "u1", "--timeout", "1x"], /invalid duration/],
      [["promises", "create", "u1", "--timeout", "0s"], /invalid duration/],
      [["promises", "create", "u1", "--timeout", "1h", "--param", "{nope"], /invalid JSON in --param/],
      [["promises", "create", "u1", "--timeout", "1h", "--tags", "[1]"], /--tags must be a JSON object/],
      [["promises", "resolve", "u1", "--value", "{\"data\":"], /invalid JSON in --value/],
      [["promises", "search", "--limit", "ten"], /invalid --limit 'ten'/],
      [["promises", "create", "u1", "--timeout"], /--timeout needs a value/],
      [["tasks", "claim", "u1", "--pid", "p", "--ttl", "1m"], /missing required option --version/],
      [["tasks", "claim", "u1", "--pid", "p", "--ttl", "1m", "--version", "x"], /invalid --version 'x'/],
      [["tasks", "complete", "u1", "--version", "1"], /--state/],
      [["tasks", "complete", "u1", "--version", "1", "--state", "done"], /invalid --state 'done'/],
      [["tasks", "suspend", "u1", "--version", "1"], /--awaited/],
      [["tasks", "heartbeat", "--pid", "p", "--tasks", "{}"], /--tasks must be a JSON array/],
      [["schedules", "create", "s", "--cron", "* * * * *", "--promise-id", "x", "--promise-timeout", "soon"], /invalid duration/],
      [["invoke", "u1"], /missing required option --func/],
      [["invoke", "u1", "-f", "f", "--version", "0"], /--version must be greater than 0/],
      [["invoke", "u1", "-f", "f", "--json-args", "{\"a\":1}"], /--json-args must be a JSON array/],
      [["invoke", "u1", "-f", "f", "--delay", "soon"], /--delay: invalid duration/],
    ];
    for (const [args, re] of cases) {
      const r = await cli([...args, "-S", url]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(" "));
      assert.match(r.stderr, /--help' for usage/, args.join(" "));
      assert.equal(r.stdout, "", args.join(" "));
    }
    // nothing reached the server: u1 does not exist
    const g = await srv.rpc("promise.get", { id: "u1" });
    assert.equal(g.status, 404);
  });

  test("promises create sends timeoutAt, base64 param and tags; get shows it", T, async () => {
    const before_ = Date.now();
    const d = await cliJson(url, [
      "promises", "create", "p-create", "--timeout", "1h",
      "--param", '{"data":"hello","headers":{"h":"v"}}', "--tags", '{"env":"test"}',
    ]);
    const p = d.promise;
    assert.equal(p.id, "p-create");
    assert.equal(p.state, "pending");
    assert.deepEqual(p.param, { data: b64("hello"), headers: { h: "v" } });
    assert.deepEqual(p.tags, { env: "test" });
    assert.ok(p.timeoutAt >= before_ + 3600000 && p.timeoutAt <= Date.now() + 3600000, `timeoutAt ${p.timeoutAt}`);

    // what the server stored is what the CLI printed
    const stored = await srv.rpc("promise.get", { id: "p-create" });
    assert.deepEqual(stored.body.data.promise, p);

    const out = await cliOk(url, ["promises", "get", "p-create"]);
    assert.match(out, /^id +p-create$/m);
    assert.match(out, /^state +pending$/m);
    assert.match(out, /^timeout +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(in (59m\d+s|1h)\)$/m);
    assert.match(out, /^tags +env=test$/m);
    assert.match(out, /^param +hello$/m, "decoded param");
    assert.match(out, /^ +headers +h=v$/m);

    // JSON data is serialised, then base64-encoded
    const j = await cliJson(url, ["promises", "create", "p-create-json", "--timeout", "10m", "--param", '{"data":{"b":1,"a":[true]}}']);
    assert.equal(unb64(j.promise.param.data), '{"a":[true],"b":1}');
    // --target is the tag resonate:target: the promise gets a task
    await cliJson(url, ["promises", "create", "p-target", "--timeout", "10m", "--target", "poll://any@default"]);
    const t = await cliJson(url, ["tasks", "get", "p-target"]);
    assert.equal(t.task.state, "pending");
  });

  test("resolve, reject and cancel settle with the given value", T, async () => {
    for (const [cmd, state] of [["resolve", "resolved"], ["reject", "rejected"], ["cancel", "rejected_canceled"]]) {
      const id = `p-${cmd}`;
      await cliJson(url, ["promises", "create", id, "--timeout", "1h"]);
      const d = await cliJson(url, ["promises", cmd, id, "--value", '{"data":{"ok":true}}']);
      assert.equal(d.promise.state, state);
      assert.equal(unb64(d.promise.value.data), '{"ok":true}');
      assert.ok(d.promise.settledAt > 0);
      const out = await cliOk(url, ["promises", "get", id]);
      assert.match(out, new RegExp(`^state +${state}$`, "m"));
      assert.match(out, /^value +\{"ok":true\}$/m);
      assert.match(out, /^settled +\S+Z \((now|\d+s ago)\)$/m);
    }
    // settling without --value sends no value: the stored value stays empty
    await cliJson(url, ["promises", "create", "p-novalue", "--timeout", "1h"]);
    const d = await cliJson(url, ["promises", "resolve", "p-novalue"]);
    assert.deepEqual(d.promise.value, {});
  });

  test("binary payloads and non-base64 data are not printed raw", T, async () => {
    await srv.rpc("promise.create", {
      id: "p-bin", timeoutAt: Date.now() + 60000,
      param: { data: Buffer.from([0, 1, 2, 255]).toString("base64") },
    });
    await srv.rpc("promise.create", { id: "p-raw", timeoutAt: Date.now() + 60000, param: { data: "not base64!" } });
    assert.match(await cliOk(url, ["promises", "get", "p-bin"]), /^param +<4 bytes of binary data/m);
    assert.match(await cliOk(url, ["promises", "get", "p-raw"]), /^param +not base64! +\(not base64\)$/m);
  });

  test("search filters by state and tags and pages with --cursor", T, async () => {
    for (let i = 0; i < 5; i++) {
      await cliJson(url, ["promises", "create", `s-${i}`, "--timeout", "1h", "--tags", `{"batch":"s","n":"${i}"}`]);
    }
    await cliJson(url, ["promises", "resolve", "s-4"]);
    const pending = await cliJson(url, ["promises", "search", "--tags", '{"batch":"s"}', "--state", "pending"]);
    assert.deepEqual(pending.promises.map((p) => p.id), ["s-0", "s-1", "s-2", "s-3"]);
    assert.equal(pending.cursor, undefined);

    const page1 = await cliJson(url, ["promises", "search", "--tags", '{"batch":"s"}', "--limit", "2"]);
    assert.deepEqual(page1.promises.map((p) => p.id), ["s-0", "s-1"]);
    assert.equal(page1.cursor, "s-1");
    const page2 = await cliJson(url, ["promises", "search", "--tags", '{"batch":"s"}', "--limit", "2", "--cursor", page1.cursor]);
    assert.deepEqual(page2.promises.map((p) => p.id), ["s-2", "s-3"]);

    const table = await cliOk(url, ["promises", "search", "--tags", '{"batch":"s"}', "--limit", "2"]);
    const lines = table.trimEnd().split("\n");
    assert.match(lines[0], /^ID +STATE +TIMEOUT +TAGS$/);
    assert.match(lines[1], /^s-0 +pending +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +batch=s, n=0$/);
    assert.match(lines[3], /^2 promises; more with: resonate promises search --cursor 's-1'$/);
    const none = await cliOk(url, ["promises", "search", "--tags", '{"batch":"none"}']);
    assert.equal(none, "0 promises\n");
    // a bad state is the server's 400
    const bad = await cli(["promises", "search", "--state", "done", "-S", url]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: bad request: .*unknown variant/m);
  });

  test("register-callback and register-listener", T, async () => {
    await cliJson(url, ["promises", "create", "cb", "--timeout", "1h", "--target", "poll://any@default"]);
    await cliJson(url, ["promises", "create", "cb.1", "--timeout", "1h"]);
    const d = await cliJson(url, ["promises", "register-callback", "cb.1", "cb"]);
    assert.equal(d.promise.id, "cb.1");
    const l = await cliJson(url, ["promises", "register-listener", "cb.1", "poll://uni@default/me"]);
    assert.equal(l.promise.state, "pending");
    // an awaiter without target is the server's 422
    await cliJson(url, ["promises", "create", "cb.2", "--timeout", "1h"]);
    const r = await cli(["promises", "register-callback", "cb.1", "cb.2", "-S", url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: cannot do that: /m);
  });

  test("not found and conflict are exit 1 with a clear message", T, async () => {
    const r = await cli(["promises", "get", "nope", "-S", url]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "error: not found: Promise not found\n");
    const t = await cli(["tasks", "get", "nope", "-S", url]);
    assert.equal(t.stderr, "error: not found: Task not found\n");
    const s = await cli(["schedules", "delete", "nope", "-S", url, "--json"]);
    assert.equal(s.code, 1);
    assert.equal(s.stderr, "error: not found: Schedule not found\n");
  });

  test("a task through its life: invoke, claim, heartbeat, fence, suspend, resume, complete", T, async () => {
    // the branch tag makes the fenced child part of the task's preload
    await cliJson(url, ["promises", "create", "wf", "--timeout", "1h", "--target", "poll://any@default",
      "--tags", '{"resonate:branch":"wf"}', "--param", '{"data":"input"}']);

    let t = await cliJson(url, ["tasks", "get", "wf"]);
    assert.deepEqual(t.task, { id: "wf", state: "pending", version: 0, resumes: 0 });

    const c = await cliJson(url, ["tasks", "claim", "wf", "--pid", "p1", "--version", "0", "--ttl", "1m"]);
    assert.equal(c.task.state, "acquired");
    assert.equal(c.task.version, 1);
    assert.equal(c.task.ttl, 60000);
    assert.equal(c.task.pid, "p1");
    assert.equal(c.promise.id, "wf");

    const again = await cli(["tasks", "claim", "wf", "--pid", "p1", "--version", "0", "--ttl", "1m", "-S", url]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error: conflict: /m);

    const hb = await cliOk(url, ["tasks", "heartbeat", "--pid", "p1", "--tasks", '[{"id":"wf","version":1}]']);
    assert.equal(hb, "leases of p1 renewed\n");
    assert.deepEqual(await cliJson(url, ["tasks", "heartbeat", "--pid", "p1"]), {});

    const timeoutAt = Date.now() + 3600000;
    const f = await cliJson(url, [
      "tasks", "fence", "wf", "--version", "1",
      "--action", JSON.stringify({ kind: "promise.create", head: {}, data: { id: "wf.1", timeoutAt, tags: { "resonate:branch": "wf" } } }),
    ]);
    assert.equal(f.action.head.status, 200);
    assert.equal(f.action.data.promise.id, "wf.1");
    const fh = await cliOk(url, [
      "tasks", "fence", "wf", "--version", "1",
      "--action", JSON.stringify({ kind: "promise.create", data: { id: "wf.1", timeoutAt } }),
    ]);
    assert.match(fh, /^fenced promise\.create: status 200$/m);
    assert.match(fh, /^id +wf\.1$/m);

    const s = await cliOk(url, ["tasks", "suspend", "wf", "--version", "1", "--awaited", "wf.1"]);
    assert.equal(s, "task wf suspended until an awaited promise settles\n");
    t = await cliJson(url, ["tasks", "get", "wf"]);
    assert.equal(t.task.state, "suspended");

    await cliJson(url, ["promises", "resolve", "wf.1", "--value", '{"data":"child done"}']);
    t = await cliJson(url, ["tasks", "get", "wf"]);
    assert.equal(t.task.state, "pending");
    assert.equal(t.task.resumes, 1);

    const c2 = await cliOk(url, ["tasks", "claim", "wf", "--pid", "p1", "--version", "1", "--ttl", "30s"]);
    assert.match(c2, /^state +acquired$/m);
    assert.match(c2, /^version +2$/m);
    assert.match(c2, /^ttl +30s /m);
    assert.match(c2, /^preload +wf\.1 \(resolved\)$/m);

    // suspending on a settled promise is status 300: not an error
    const s300 = await cli(["tasks", "suspend", "wf", "--version", "2", "--awaited", "wf.1", "-S", url]);
    assert.equal(s300.code, 0, s300.stderr);
    assert.match(s300.stdout, /task wf was NOT suspended/);
    const s300j = await cliJson(url, ["tasks", "suspend", "wf", "--version", "2", "--actions",
      JSON.stringify([{ kind: "promise.register_callback", data: { awaited: "wf.1", awaiter: "wf" } }])]);
    assert.ok(Array.isArray(s300j.preload));

    const done = await cliJson(url, ["tasks", "complete", "wf", "--version", "2", "--state", "resolved", "--value", '{"data":"done"}']);
    assert.equal(done.promise.state, "resolved");
    assert.equal(unb64(done.promise.value.data), "done");
    t = await cliJson(url, ["tasks", "get", "wf"]);
    assert.equal(t.task.state, "fulfilled");
    const human = await cliOk(url, ["promises", "get", "wf"]);
    assert.match(human, /^value +done$/m);
    assert.match(human, /^param +input$/m);
  });

  test("release, halt, continue, search and a raw --action complete", T, async () => {
    await cliJson(url, ["invoke", "job", "--func", "work", "--json-args", '[1,2]', "--version", "3", "-t", "2h", "--target", "poll://any@workers"]);
    const p = await cliJson(url, ["promises", "get", "job"]);
    assert.equal(p.promise.tags["resonate:target"], "poll://any@workers");
    assert.deepEqual(JSON.parse(unb64(p.promise.param.data)), { args: [1, 2], func: "work", version: 3 });
    assert.ok(Math.abs(p.promise.timeoutAt - (Date.now() + 7200000)) < 60000);

    await cliJson(url, ["tasks", "claim", "job", "--pid", "p2", "--version", "0", "--ttl", "1m"]);
    assert.equal(await cliOk(url, ["tasks", "release", "job", "--version", "1"]), "task job released\n");
    assert.equal((await cliJson(url, ["tasks", "get", "job"])).task.state, "pending");
    assert.equal(await cliOk(url, ["tasks", "halt", "job"]), "task job halted\n");
    assert.equal((await cliJson(url, ["tasks", "get", "job"])).task.state, "halted");
    const halted = await cliJson(url, ["tasks", "search", "--state", "halted"]);
    assert.deepEqual(halted.tasks.map((x) => x.id), ["job"]);
    const table = await cliOk(url, ["tasks", "search", "--state", "halted"]);
    assert.match(table, /^ID +STATE +VERSION +RESUMES +PID\njob +halted +1 +0 *\n1 task\n$/);
    assert.equal(await cliOk(url, ["tasks", "continue", "job"]), "task job continued\n");
    const nc = await cli(["tasks", "continue", "job", "-S", url]);
    assert.equal(nc.code, 1);
    assert.match(nc.stderr, /^error: conflict: Task is not halted$/m);

    await cliJson(url, ["tasks", "claim", "job", "--pid", "p2", "--version", "1", "--ttl", "1m"]);
    const done = await cliJson(url, ["tasks", "complete", "job", "--version", "2", "--action",
      JSON.stringify({ kind: "promise.settle", data: { id: "job", state: "rejected", value: { data: b64("boom") } } })]);
    assert.equal(done.promise.state, "rejected");
    assert.equal(unb64(done.promise.value.data), "boom");
  });

  test("tasks create makes a promise and its acquired task", T, async () => {
    const d = await cliJson(url, ["tasks", "create", "tc", "--pid", "p3", "--ttl", "30s", "--timeout", "1h",
      "--target", "poll://any@default", "--param", '{"data":"x"}', "--tags", '{"a":"b"}']);
    assert.equal(d.task.state, "acquired");
    assert.equal(d.task.version, 1);
    assert.equal(d.task.pid, "p3");
    assert.equal(d.task.ttl, 30000);
    assert.equal(d.promise.param.data, b64("x"));
    assert.deepEqual(d.promise.tags, { a: "b", "resonate:target": "poll://any@default" });
    // without a target the server refuses
    const r = await cli(["tasks", "create", "tc2", "--pid", "p3", "--ttl", "30s", "--timeout", "1h", "-S", url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: bad request: .*resonate:target/m);
  });

  test("schedules create, get, search, delete", T, async () => {
    const d = await cliJson(url, ["schedules", "create", "nightly", "--cron", "0 3 * * *",
      "--promise-id", "nightly-{{.timestamp}}", "--promise-timeout", "1h30m",
      "--promise-param", '{"data":{"job":"backup"}}', "--target", "poll://any@default"]);
    const s = d.schedule;
    assert.equal(s.id, "nightly");
    assert.equal(s.cron, "0 3 * * *");
    assert.equal(s.promiseId, "nightly-{{.timestamp}}");
    assert.equal(s.promiseTimeout, 5400000);
    assert.equal(unb64(s.promiseParam.data), '{"job":"backup"}');
    assert.deepEqual(s.promiseTags, { "resonate:target": "poll://any@default" });
    assert.equal(new Date(s.nextRunAt).getUTCHours(), 3);

    const out = await cliOk(url, ["schedule", "get", "nightly"]);
    assert.match(out, /^cron +0 3 \* \* \*$/m);
    assert.match(out, /^promise timeout +1h30m$/m);
    assert.match(out, /^promise param +\{"job":"backup"\}$/m);
    assert.match(out, /^next run +\d{4}-\d\d-\d\dT03:00:00\.000Z \(in /m);
    assert.match(out, /^last run +\(never\)$/m);

    await cliJson(url, ["schedules", "create", "hourly", "--cron", "0 * * * *", "--promise-id", "h", "--promise-timeout", "1m",
      "--promise-tags", '{"resonate:target":"poll://any@default","team":"a"}']);
    const all = await cliJson(url, ["schedules", "search"]);
    assert.deepEqual(all.schedules.map((x) => x.id), ["hourly", "nightly"]);
    const team = await cliJson(url, ["schedules", "search", "--tags", '{"team":"a"}']);
    assert.deepEqual(team.schedules.map((x) => x.id), ["hourly"]);
    const table = await cliOk(url, ["schedules", "search", "--limit", "1"]);
    assert.match(table, /^ID +CRON +NEXT RUN +PROMISE ID\nhourly +0 \* \* \* \* +\S+ +h\n1 schedule; more with: resonate schedules search --cursor 'hourly'\n$/);

    assert.equal(await cliOk(url, ["schedules", "delete", "hourly"]), "schedule hourly deleted\n");
    const gone = await cli(["schedules", "get", "hourly", "-S", url]);
    assert.equal(gone.code, 1);
    // a schedule without a target tag is the server's 400
    const bad = await cli(["schedules", "create", "x", "--cron", "* * * * *", "--promise-id", "x", "--promise-timeout", "1m", "-S", url]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: bad request: promiseTags must include a resonate:target tag$/m);
  });

  test("invoke with --delay sets resonate:delay and extends the timeout", T, async () => {
    const t0 = Date.now();
    const d = await cliJson(url, ["invoke", "later", "-f", "f", "--delay", "10m", "-t", "1h"]);
    const delay = Number(d.promise.tags["resonate:delay"]);
    assert.ok(delay >= t0 + 600000 && delay <= Date.now() + 600000, `delay ${delay}`);
    assert.ok(d.promise.timeoutAt >= t0 + 4200000 && d.promise.timeoutAt <= Date.now() + 4200000);
    const plain = await cliJson(url, ["invoke", "now", "-f", "f"]);
    assert.equal(plain.promise.tags["resonate:delay"], undefined);
    assert.deepEqual(JSON.parse(unb64(plain.promise.param.data)), { args: [], func: "f", version: 1 });

    // each --arg is JSON when it parses, else a string; the param is what the SDKs send
    const inv = await cliJson(url, ["invoke", "args", "-f", "hello", "--arg", "1", "--arg", "world", "--arg", '{"k":[1]}', "--arg", '"q"']);
    assert.equal(inv.promise.tags["resonate:target"], "poll://any@default");
    assert.deepEqual(inv.promise.param.headers, {});
    assert.equal(unb64(inv.promise.param.data), '{"args":[1,"world",{"k":[1]},"q"],"func":"hello","version":1}');
    const t = await cliJson(url, ["tasks", "get", "args"]);
    assert.deepEqual(t.task, { id: "args", state: "pending", version: 0, resumes: 0 });
    const human = await cliOk(url, ["promises", "get", "args"]);
    assert.match(human, /^param +\{"args":\[1,"world",\{"k":\[1\]\},"q"\],"func":"hello","version":1\}$/m);
  });

  test("tree prints the call graph by resonate:parent, in creation order", T, async () => {
    const mk = async (id, tags) => {
      const r = await srv.rpc("promise.create", { id, timeoutAt: Date.now() + 3600000, tags: { "resonate:origin": "root", ...tags } });
      assert.equal(r.status, 200);
    };
    const fn = (func) => ({ data: b64(JSON.stringify({ func, args: [], version: 1 })) });
    await srv.rpc("promise.create", { id: "root", timeoutAt: Date.now() + 3600000, param: fn("main"), tags: { "resonate:origin": "root" } });
    await mk("root.1", { "resonate:parent": "root", "resonate:scope": "local" });
    await mk("root.2", { "resonate:parent": "root", "resonate:timer": "true" });
    await mk("root.1.1", { "resonate:parent": "root.1" });
    await srv.rpc("promise.create", { id: "root.3", timeoutAt: Date.now() + 3600000, param: fn("remote"), tags: { "resonate:origin": "root", "resonate:parent": "root", "resonate:scope": "global" } });
    await srv.rpc("promise.settle", { id: "root.1.1", state: "resolved" });
    await srv.rpc("promise.settle", { id: "root.3", state: "rejected" });
    const out = await cliOk(url, ["tree", "root"]);
    assert.equal(out, [
      "root 🟡",
      "├── root.1 🟡 (run)",
      "│   └── root.1.1 🟢",
      "├── root.2 🟡 (sleep)",
      "└── root.3 🔴 (rpc remote)",
      "",
    ].join("\n"));
    const j = await cliJson(url, ["tree", "root"]);
    assert.equal(j.id, "root");
    assert.deepEqual(j.children.map((c) => c.id), ["root.1", "root.2", "root.3"]);
    assert.deepEqual(j.children[0].children.map((c) => c.id), ["root.1.1"]);
    assert.equal(await cliOk(url, ["tree", "no-such-root"]), "no-such-root\n");
  });

  test("server address: -S wins over RESONATE_URL, which wins over the default", T, async () => {
    await cliJson(url, ["promises", "create", "env-url", "--timeout", "1h"]);
    const viaEnv = await cli(["promises", "get", "env-url", "--json"], { env: { RESONATE_URL: url } });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(JSON.parse(viaEnv.stdout).promise.id, "env-url");
    // a trailing slash is fine; -S before the subcommand is fine
    const slash = await cli(["promises", "-S", `${url}/`, "get", "env-url"]);
    assert.equal(slash.code, 0, slash.stderr);
    const dead = `http://127.0.0.1:${await freePort()}`;
    const wins = await cli(["promises", "get", "env-url", "--server", url], { env: { RESONATE_URL: dead } });
    assert.equal(wins.code, 0, wins.stderr);
    const loses = await cli(["promises", "get", "env-url"], { env: { RESONATE_URL: dead } });
    assert.equal(loses.code, 1);
    assert.ok(loses.stderr.includes(dead), loses.stderr);
  });

  test("connection refused names the URL and exits 1", T, async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    for (const args of [["promises", "get", "x"], ["invoke", "x", "-f", "f"], ["tree", "x"]]) {
      const r = await cli([...args, "-S", dead]);
      assert.equal(r.code, 1, args.join(" "));
      assert.equal(r.stdout, "");
      assert.match(r.stderr, new RegExp(`^error: cannot connect to the server at ${dead}: .*-S or RESONATE_URL`, "m"));
    }
  });

  test("a server that does not speak the protocol is reported, not parsed", T, async () => {
    const r = await cli(["promises", "get", "x", "-S", `${url}/health`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: unexpected answer from .*\/health \(HTTP \d+, not a Resonate envelope\)/m);
  });
});
