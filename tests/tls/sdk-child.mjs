// sdk-child.mjs - runs one workflow with the real SDK against an https://
// server, in a process of its own so that NODE_EXTRA_CA_CERTS (read by Node
// only at start-up) can name the test's throwaway CA. The workflow takes a
// local step and an rpc through the server (so the SDK uses both POST /
// and its /poll SSE stream over TLS).
//
// argv[2] is JSON {version, url, group, id, arg, token?}. Prints one line,
// `ok <json result>` or `err <message>`, and exits.
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const cfg = JSON.parse(process.argv[2]);
const here = path.dirname(fileURLToPath(import.meta.url));
const sdk = pathToFileURL(path.resolve(here, `../node/node_modules/sdk-${cfg.version}/dist/src/index.js`));
const { Resonate } = await import(sdk.href);

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const r = new Resonate({
  url: cfg.url,
  group: cfg.group,
  logger: quiet,
  ...(cfg.token !== undefined ? { token: cfg.token } : {}),
});
r.register("double", (ctx, x) => x * 2);
function* wf(ctx, x) {
  const a = yield* ctx.run((c, y) => y + 1, x);
  const b = yield* ctx.rpc("double", a, ctx.options({ target: cfg.group }));
  return { a, b };
}
const workflow = r.register("tls_wf", wf);
try {
  console.log(`ok ${JSON.stringify(await workflow.run(cfg.id, cfg.arg))}`);
} catch (e) {
  console.log(`err ${e?.message ?? e}`);
}
process.exit(0);
