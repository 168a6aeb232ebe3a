// worker.mjs - an SDK worker in its own Node process, for the tests that
// kill a worker with SIGKILL (tests/e2e/failover.test.mjs).
//
// argv[2] is a JSON config: {version, url, group, pid, ttl, run?: {id, arg}}.
// It registers `failover_wf` (step `failover_one`, then `failover_two`, which
// in this process announces itself and never returns) and, when config.run
// is given, starts that workflow. Progress is printed as lines on stdout:
//   ready                      the instance exists and the function is registered
//   one <promise id> <arg>     failover_one ran here
//   two-start <promise id>     failover_two started here (and hangs)
import { pathToFileURL } from "node:url";
import path from "node:path";
import { fileURLToPath } from "node:url";

const config = JSON.parse(process.argv[2]);
const here = path.dirname(fileURLToPath(import.meta.url));
const sdkUrl = pathToFileURL(path.resolve(here, `../node/node_modules/sdk-${config.version}/dist/src/index.js`));
const { Resonate } = await import(sdkUrl.href);

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const resonate = new Resonate({
  url: config.url,
  group: config.group,
  pid: config.pid,
  ttl: config.ttl,
  logger: quiet,
});

function failover_one(ctx, x) {
  console.log(`one ${ctx.id} ${x}`);
  return x * 10;
}

function failover_two(ctx, x) {
  console.log(`two-start ${ctx.id}`);
  return new Promise(() => {}); // never settles: the process is killed here
}

function* failover_wf(ctx, x) {
  const a = yield* ctx.run(failover_one, x);
  const b = yield* ctx.run(failover_two, a);
  return { a, b };
}

resonate.register("failover_one", failover_one);
resonate.register("failover_two", failover_two);
const wf = resonate.register("failover_wf", failover_wf);
console.log("ready");
if (config.run) {
  wf.beginRun(config.run.id, config.run.arg).catch((e) => console.log(`error ${e.message}`));
}
