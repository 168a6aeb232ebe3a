// sdk-child.mjs - runs the example's workflow once with an SDK instance in a
// process of its own, for the clients whose /poll stream the server rejects
// (no token, a token of another key). Such an instance can never be stopped
// in-process: SDK 0.11.4/0.11.5 re-arm an SSE reconnect timer that stop()
// does not clear, which would keep the test runner alive forever.
//
// Also used by tests/tls with an https:// url (NODE_EXTRA_CA_CERTS is read
// by Node only at start-up, so a throwaway CA needs a process of its own);
// with rpc: true the workflow takes a local step and an rpc through the
// server to its own group, so the SDK uses both POST / and its /poll stream.
//
// argv[2] is JSON {version, url, group, token?, prefix?, id, arg, rpc?}.
// Prints one line, `ok <json result>` or `err <message>`, and exits.
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
  ...(cfg.prefix !== undefined ? { prefix: cfg.prefix } : {}),
});
function* helloAuth(ctx, greeting) {
  return yield* ctx.run((c) => `${greeting} world!`);
}
r.register("double", (ctx, x) => x * 2);
function* withRpc(ctx, x) {
  const a = yield* ctx.run((c, y) => y + 1, x);
  const b = yield* ctx.rpc("double", a, ctx.options({ target: cfg.group }));
  return { a, b };
}
const workflow = r.register("workflow", cfg.rpc ? withRpc : helloAuth);
try {
  console.log(`ok ${JSON.stringify(await workflow.run(cfg.id, cfg.arg))}`);
} catch (e) {
  console.log(`err ${e?.message ?? e}`);
}
process.exit(0);
