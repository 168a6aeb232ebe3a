// jose-vectors.mjs - test vectors for auth/ made with an independent JOSE
// implementation (the `jose` npm package in tests/node/node_modules).
//
// Usage: node tests/auth/jose-vectors.mjs OUT.json
//        RESONATE_JOSE_VECTORS=OUT.json BUILD/rel/unit auth
//
// Writes {generator, now, vectors: [...]}; each vector is
//   {name, alg, publicKeyPem | jwks, token, now, expect: "ok" | 401,
//    reason?, iss?, aud?, requireExp?, prefix?, admin?}
// where publicKeyPem/jwks is the key file content the verifier is built
// from, iss/aud/requireExp its configuration, reason a substring of the
// expected rejection reason and prefix/admin the expected claims. Keys are
// fresh on every run, so the file is a build product, not a fixture.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const require = createRequire(new URL('../node/package.json', import.meta.url));
const jose = require('jose');
const joseVersion = require('jose/package.json').version;

const now = Math.floor(Date.now() / 1000);
const vectors = [];
const ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];

async function keyPair(alg) {
  const opts = { extractable: true };
  if (alg === 'EdDSA') opts.crv = 'Ed25519';
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, opts);
  return { publicKey, privateKey, pem: await jose.exportSPKI(publicKey) };
}

function sign(claims, header, key) {
  return new jose.SignJWT(claims).setProtectedHeader(header).sign(key);
}

function add(v) {
  vectors.push({ now, ...v });
}

// Re-encodes one segment of a token (for hand-made malformed tokens).
const b64 = (s) => Buffer.from(s).toString('base64url');

const keys = {};
for (const alg of ALGS) keys[alg] = await keyPair(alg);
// One key per family is enough for the "another key" cases.
const other = { RS256: await keyPair('RS256'), ES256: await keyPair('ES256'), EdDSA: await keyPair('EdDSA') };

const base = { prefix: 'tenantA:', exp: now + 3600 };

// Every algorithm, signed correctly.
for (const alg of ALGS) {
  const k = keys[alg];
  add({
    name: `${alg} valid`, alg, publicKeyPem: k.pem, expect: 'ok', prefix: 'tenantA:', admin: false,
    token: await sign({ ...base, iat: now }, { alg, typ: 'JWT' }, k.privateKey),
  });
  add({
    name: `${alg} admin`, alg, publicKeyPem: k.pem, expect: 'ok', admin: true,
    token: await sign({ role: 'Admin', exp: now + 60 }, { alg }, k.privateKey),
  });
}

// Signature by another key of the same type.
for (const alg of ['RS256', 'ES256', 'EdDSA']) {
  add({
    name: `${alg} signed by another key`, alg, publicKeyPem: keys[alg].pem, expect: 401,
    reason: 'bad signature', token: await sign(base, { alg }, other[alg].privateKey),
  });
}

// Claim rules, across key types.
for (const alg of ['RS256', 'PS256', 'ES384', 'EdDSA']) {
  const k = keys[alg];
  const t = (claims, header = { alg }) => sign(claims, header, k.privateKey);
  const v = (name, rest) => add({ name: `${alg} ${name}`, alg, publicKeyPem: k.pem, ...rest });
  v('expired', { expect: 401, reason: 'token expired', token: await t({ ...base, exp: now - 3600 }) });
  v('expired within leeway', { expect: 'ok', prefix: 'tenantA:', token: await t({ ...base, exp: now - 30 }) });
  v('nbf ahead', { expect: 401, reason: 'token not yet valid', token: await t({ ...base, nbf: now + 3600 }) });
  v('nbf within leeway', { expect: 'ok', prefix: 'tenantA:', token: await t({ ...base, nbf: now + 30 }) });
  v('no exp', { expect: 401, reason: 'token has no exp claim', token: await t({ prefix: '' }) });
  v('no exp allowed', { expect: 'ok', requireExp: false, prefix: '', token: await t({ prefix: '' }) });
  v('wrong iss', {
    expect: 401, reason: 'wrong issuer', iss: 'https://issuer.example',
    token: await t({ ...base, iss: 'https://evil.example' }),
  });
  v('right iss', {
    expect: 'ok', prefix: 'tenantA:', iss: 'https://issuer.example',
    token: await t({ ...base, iss: 'https://issuer.example' }),
  });
  v('wrong aud', { expect: 401, reason: 'wrong audience', aud: 'resonate', token: await t({ ...base, aud: ['other'] }) });
  v('aud string', { expect: 'ok', prefix: 'tenantA:', aud: 'resonate', token: await t({ ...base, aud: 'resonate' }) });
  v('aud array', { expect: 'ok', prefix: 'tenantA:', aud: 'resonate', token: await t({ ...base, aud: ['x', 'resonate'] }) });
  v('no prefix', { expect: 401, reason: 'token has no prefix claim', token: await t({ exp: now + 60 }) });
  v('null prefix', { expect: 401, reason: 'prefix claim is null', token: await t({ exp: now + 60, prefix: null }) });
  v('numeric prefix', { expect: 401, reason: 'prefix claim is not a string', token: await t({ exp: now + 60, prefix: 7 }) });
  v('empty prefix', { expect: 'ok', prefix: '', token: await t({ exp: now + 60, prefix: '' }) });
}

// Algorithm confusion.
for (const alg of ['RS256', 'ES256', 'EdDSA']) {
  const k = keys[alg];
  const secret = new TextEncoder().encode(k.pem);
  add({
    name: `HS256 keyed with the ${alg} public key PEM`, alg: 'HS256', publicKeyPem: k.pem, expect: 401,
    reason: 'unsupported algorithm "HS256"', token: await sign(base, { alg: 'HS256' }, secret),
  });
  add({
    name: `alg none against ${alg} key`, alg: 'none', publicKeyPem: k.pem, expect: 401,
    reason: 'unsupported algorithm "none"', token: new jose.UnsecuredJWT(base).encode(),
  });
}
add({
  name: 'ES256 token against RSA key', alg: 'ES256', publicKeyPem: keys.RS256.pem, expect: 401,
  reason: 'does not fit', token: await sign(base, { alg: 'ES256' }, keys.ES256.privateKey),
});
add({
  name: 'RS256 token against Ed25519 key', alg: 'RS256', publicKeyPem: keys.EdDSA.pem, expect: 401,
  reason: 'does not fit', token: await sign(base, { alg: 'RS256' }, keys.RS256.privateKey),
});
add({
  name: 'ES384 token against P-256 key', alg: 'ES384', publicKeyPem: keys.ES256.pem, expect: 401,
  reason: 'does not fit', token: await sign(base, { alg: 'ES384' }, keys.ES384.privateKey),
});
{
  // A PS256 signature relabelled RS256: same key, wrong padding.
  const ps = await sign(base, { alg: 'PS256' }, keys.PS256.privateKey);
  const [, c, s] = ps.split('.');
  add({
    name: 'PS256 signature under an RS256 header', alg: 'RS256', publicKeyPem: keys.PS256.pem, expect: 401,
    reason: 'bad signature', token: `${b64(JSON.stringify({ alg: 'RS256' }))}.${c}.${s}`,
  });
}

// Malformed tokens.
{
  const k = keys.EdDSA;
  const good = await sign(base, { alg: 'EdDSA' }, k.privateKey);
  const [h, c, s] = good.split('.');
  const m = (name, token, reason) =>
    add({ name, alg: 'EdDSA', publicKeyPem: k.pem, expect: 401, token, ...(reason ? { reason } : {}) });
  m('truncated signature', good.slice(0, -10));
  m('signature removed', `${h}.${c}.`, 'bad signature');
  m('two segments', `${h}.${c}`, 'malformed token');
  m('one segment', h, 'malformed token');
  m('four segments', `${good}.${s}`, 'malformed token');
  m('garbage base64 header', `!!!!.${c}.${s}`, 'header is not base64url');
  m('padded claims', `${h}.${c}==.${s}`, 'claims is not base64url');
  m('standard base64 signature', `${h}.${c}.${Buffer.from(s, 'base64url').toString('base64')}x`);
  m('header not JSON', `${b64('{"alg":"EdDSA"')}.${c}.${s}`, 'header is not JSON');
  m('claims swapped', `${h}.${b64(JSON.stringify({ ...base, role: 'admin' }))}.${s}`, 'bad signature');
  m('empty string', '', 'no token');
  const pad = 'x'.repeat(9000);
  m('huge token', await sign({ ...base, pad }, { alg: 'EdDSA' }, k.privateKey), 'token too large');
  m('1 MB header', `${b64(JSON.stringify({ alg: 'EdDSA', pad: 'y'.repeat(1 << 20) }))}.${c}.${s}`,
    'token too large');
}

// JWKS with kids (exported by jose).
{
  const a = keys.EdDSA, b = other.EdDSA, r = keys.RS256;
  const jwk = async (k, kid) => ({ ...(await jose.exportJWK(k.publicKey)), kid, use: 'sig' });
  const jwks = JSON.stringify({ keys: [await jwk(a, 'ed-a'), await jwk(b, 'ed-b'), await jwk(r, 'rsa-1')] });
  const j = (name, rest) => add({ name: `JWKS ${name}`, jwks, ...rest });
  j('kid ed-a', { alg: 'EdDSA', expect: 'ok', prefix: 'tenantA:', token: await sign(base, { alg: 'EdDSA', kid: 'ed-a' }, a.privateKey) });
  j('kid ed-b', { alg: 'EdDSA', expect: 'ok', prefix: 'tenantA:', token: await sign(base, { alg: 'EdDSA', kid: 'ed-b' }, b.privateKey) });
  j('kid rsa-1', { alg: 'RS256', expect: 'ok', prefix: 'tenantA:', token: await sign(base, { alg: 'RS256', kid: 'rsa-1' }, r.privateKey) });
  j('no kid', { alg: 'EdDSA', expect: 'ok', prefix: 'tenantA:', token: await sign(base, { alg: 'EdDSA' }, b.privateKey) });
  j('kid names the other key', {
    alg: 'EdDSA', expect: 401, reason: 'bad signature',
    token: await sign(base, { alg: 'EdDSA', kid: 'ed-a' }, b.privateKey),
  });
  j('unknown kid', {
    alg: 'EdDSA', expect: 401, reason: 'unknown key id',
    token: await sign(base, { alg: 'EdDSA', kid: 'ed-c' }, a.privateKey),
  });
  j('kid of another family', {
    alg: 'EdDSA', expect: 401, reason: 'does not fit',
    token: await sign(base, { alg: 'EdDSA', kid: 'rsa-1' }, a.privateKey),
  });
}

const out = JSON.stringify({ generator: `jose ${joseVersion}`, now, vectors }, null, 1);
if (process.argv[2]) writeFileSync(process.argv[2], out);
else process.stdout.write(out);
console.error(`jose-vectors: ${vectors.length} vectors${process.argv[2] ? ` in ${process.argv[2]}` : ''}`);
