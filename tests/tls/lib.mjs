// lib.mjs - a throwaway PKI for the TLS tests, made with the openssl
// command in a temporary directory: one CA, server certificates for
// localhost/127.0.0.1 (two, for reloads), an expired one, one for another
// host name, and helpers to talk HTTPS trusting only that CA.
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";

export { httpsRequest } from "../node/lib/server.mjs";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function openssl(dir, ...args) {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 30000 });
}

/**
 * Makes dir/<name>.pem and dir/<name>.key (mode 600), signed by the CA, for
 * the SANs given ("DNS:localhost,IP:127.0.0.1"), valid for days (negative:
 * already expired). Returns {cert, key} paths.
 */
function issue(dir, name, san, days, issuer = "ca") {
  openssl(dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
  const ext = san ? `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`
    : "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.pem`, "-CAkey", `${issuer}.key`,
    "-CAcreateserial", "-days", String(days), "-out", `${name}.pem`, "-extfile", `${name}.ext`);
  chmodSync(path.join(dir, `${name}.key`), 0o600);
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

/**
 * The PKI of one test; remove() deletes it. a, b: server pairs signed by
 * the CA; chained: signed by an intermediate CA, its cert file holding the
 * server's certificate then the intermediate's (a fullchain.pem).
 */
export function makePki() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "resonate-tls-"));
  openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=resonate test CA");
  const here = "DNS:localhost,IP:127.0.0.1";
  const pki = {
    dir,
    caFile: path.join(dir, "ca.pem"),
    ca: readFileSync(path.join(dir, "ca.pem"), "utf8"),
    a: issue(dir, "server-a", here, 2),
    b: issue(dir, "server-b", here, 2),
    expired: issue(dir, "expired", here, -1),
    otherHost: issue(dir, "other-host", "DNS:other.example", 2),
    chained: (() => {
      issue(dir, "intermediate", null, 2);
      const leaf = issue(dir, "chained", here, 2, "intermediate");
      const full = path.join(dir, "fullchain.pem");
      writeFileSync(full, readFileSync(leaf.cert, "utf8") + readFileSync(path.join(dir, "intermediate.pem"), "utf8"));
      return { cert: full, key: leaf.key, leaf: leaf.cert };
    })(),
    /** Copies pair (a, b, ...) to the files the server reads (live.pem/live.key). */
    install(pair) {
      copyFileSync(pair.cert, pki.live.cert);
      copyFileSync(pair.key, pki.live.key);
      chmodSync(pki.live.key, 0o600);
    },
    live: { cert: path.join(dir, "live.pem"), key: path.join(dir, "live.key") },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  pki.install(pki.a);
  return pki;
}

/** SHA-256 fingerprint of a PEM certificate file, as node formats it. */
export function fingerprint(certFile) {
  return new crypto.X509Certificate(readFileSync(certFile)).fingerprint256;
}

/** Opens a TLS connection and returns the peer certificate's fingerprint256. */
export function peerFingerprint(port, ca, options = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost", ...options }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.setTimeout(10000, () => s.destroy(new Error("TLS connect timed out")));
    s.on("error", reject);
  });
}

/**
 * GET /poll/<group>/<id> over HTTPS. Resolves once the response head is
 * in: {status, socketFingerprint, messages, closed, close()}.
 */
export function openTlsPoll(port, ca, group, id, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: "127.0.0.1", port, path: `/poll/${group}/${id}`, ca, headers, agent: false }, (res) => {
      const out = {
        status: res.statusCode,
        socketFingerprint: res.socket.getPeerCertificate().fingerprint256,
        messages: [],
        closed: false,
        close() {
          req.destroy();
        },
      };
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          for (const line of frame.split("\n")) if (line.startsWith("data:")) out.messages.push(JSON.parse(line.slice(5)));
        }
      });
      res.on("close", () => (out.closed = true));
      res.on("error", () => (out.closed = true));
      resolve(out);
    });
    req.on("error", reject);
  });
}

/** Waits until pred() is true, polling every 25 ms; throws after ms. */
export async function until(pred, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${ms} ms`);
    await sleep(25);
  }
}
