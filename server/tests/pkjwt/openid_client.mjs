// The positive paths with a real client library: openid-client (pinned in
// package.json) authenticates by Private Key JWT (its PrivateKeyJwt client
// authentication signs every client_assertion) and binds tokens with its
// DPoP handle, against the real mfa-server binary started by
// scripts/pkjwt-test.sh. For each of RS256, ES256 and EdDSA: a client
// registered with `add-client --jwks`, the seed flow (password grant →
// mfa_required, associate, mfa-otp, challenge, mfa-otp again), DPoP-bound
// access tokens on /mfa/authenticators and /userinfo, and a DPoP refresh.
// Also a PEM client (`add-client --public-key`) and use_dpop_nonce handled
// by openid-client's DPoP retry (second server started with nonces on).
//
// Environment: MFA_BIN, MFA_DB, MFA_BASE (the --issuer-url, http://127.0.0.1:PORT/),
// MFA_NONCE_BASE (a second server on the same database with --dpop-nonce-secs).
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import * as client from 'openid-client';

const BIN = process.env.MFA_BIN;
const DB = process.env.MFA_DB;
const BASE = process.env.MFA_BASE;
const NONCE_BASE = process.env.MFA_NONCE_BASE;
const MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp';
const PASSWORD = 'correct horse battery staple';
const dir = mkdtempSync(join(tmpdir(), 'pkjwt-js-'));

function cli(args, input = '') {
  const r = spawnSync(BIN, args, { input, encoding: 'utf8' });
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

function totp(secret, t) {
  const r = spawnSync('oathtool', ['--totp', '--base32', `--now=@${t}`, secret], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

const now = () => Math.floor(Date.now() / 1000);

function payload(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

const KEYGEN = {
  RS256: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  EdDSA: { name: 'Ed25519' },
};

/** A key pair for `alg`, its public JWK written as a JWK Set. */
async function keys(alg, kid) {
  const pair = await crypto.subtle.generateKey(KEYGEN[alg], true, ['sign', 'verify']);
  const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
  delete jwk.key_ops;
  delete jwk.ext;
  Object.assign(jwk, { kid, alg, use: 'sig' });
  const path = join(dir, `${kid}.json`);
  writeFileSync(path, JSON.stringify({ keys: [jwk] }));
  return { pair, path };
}

// openid-client 6.9 signs with Ed25519 keys under the fully-specified alg
// name "Ed25519" (RFC 9864); the server accepts the algorithms it lists in
// discovery, where Ed25519 signatures are "EdDSA" (RFC 8037). Its
// modifyAssertion hook names the alg so.
const eddsa = { [client.modifyAssertion]: (header) => { if (header.alg === 'Ed25519') header.alg = 'EdDSA'; } };

async function configure(base, clientId, privateKey, kid) {
  return client.discovery(new URL(base), clientId, {}, client.PrivateKeyJwt({ key: privateKey, kid }, eddsa), {
    execute: [client.allowInsecureRequests],
  });
}

/** The password grant: openid-client throws the 403 mfa_required. */
async function passwordGrant(config, username, scope, options, base = BASE) {
  try {
    await client.genericGrantRequest(config, 'password', { username, password: PASSWORD, scope, audience: `${base}mfa/` }, options);
  } catch (e) {
    assert.equal(e.status, 403, `${e} ${JSON.stringify(e.cause)}`);
    assert.equal(e.error, 'mfa_required');
    return e.cause.mfa_token;
  }
  assert.fail('the password grant must answer mfa_required');
}

async function seedFlow(alg) {
  const clientId = `oc-${alg}`;
  const kid = `oc-${alg}-key`;
  const { pair, path } = await keys(alg, kid);
  assert.match(cli(['add-client', clientId, '--db', DB, '--jwks', path]), /private_key_jwt, 1 key/);
  const username = `oc-${alg.toLowerCase()}@example.com`;
  cli(['add-user', username, '--db', DB], `${PASSWORD}\n`);
  const config = await configure(BASE, clientId, pair.privateKey, kid);
  const meta = config.serverMetadata();
  assert.ok(meta.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
  assert.ok(meta.token_endpoint_auth_signing_alg_values_supported.includes(alg));
  assert.ok(meta.dpop_signing_alg_values_supported.includes(alg));
  const scope = 'openid profile offline_access enroll read:authenticators';

  // Enroll: password grant, associate, first mfa-otp (DPoP-bound).
  const mfaToken = await passwordGrant(config, username, scope);
  const associated = await fetch(`${BASE}mfa/associate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${mfaToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ authenticator_types: ['otp'] }),
  });
  assert.equal(associated.status, 200);
  const { secret } = await associated.json();
  const dpopKeys = await client.randomDPoPKeyPair(alg === 'RS256' ? 'PS256' : alg);
  const DPoP = client.getDPoPHandle(config, dpopKeys, eddsa);
  let t = now();
  const first = await client.genericGrantRequest(config, MFA_OTP, { mfa_token: mfaToken, otp: totp(secret, t) }, { DPoP });
  assert.equal(first.token_type, 'dpop');
  const jkt = payload(first.access_token).cnf?.jkt;
  assert.match(jkt, /^[A-Za-z0-9_-]{43}$/);

  // The seed flow again, challenged: password grant, /mfa/challenge
  // (authenticated by a client_assertion too), mfa-otp.
  const mfaToken2 = await passwordGrant(config, username, scope);
  const challenge = await fetch(`${BASE}mfa/challenge`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await signedAssertion(config, pair.privateKey, kid, alg, clientId),
      mfa_token: mfaToken2,
      challenge_type: 'otp',
    }),
  });
  assert.equal(challenge.status, 200, await challenge.clone().text());
  assert.equal((await challenge.json()).challenge_type, 'otp');
  // The next step's code (within the verification window; the step just
  // accepted cannot be used again).
  t += 30;
  const tokens = await client.genericGrantRequest(config, MFA_OTP, { mfa_token: mfaToken2, otp: totp(secret, t) }, { DPoP });
  assert.equal(tokens.token_type, 'dpop');
  assert.equal(payload(tokens.access_token).cnf.jkt, jkt);
  assert.ok(tokens.refresh_token);

  // DPoP-bound token on the resources, through openid-client's DPoP handle.
  const list = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${BASE}mfa/authenticators`), 'GET', undefined, undefined, { DPoP });
  assert.equal(list.status, 200);
  assert.equal((await list.json()).length, 2);
  const info = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${BASE}userinfo`), 'GET', undefined, undefined, { DPoP });
  assert.equal(info.status, 200);
  assert.equal((await info.json()).sub, `auth0|${username}`);
  // The same token as Bearer is refused (RFC 9449 §7.1).
  const bearer = await fetch(`${BASE}mfa/authenticators`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(bearer.status, 401);
  assert.equal((await bearer.json()).error, 'invalid_token');

  // Refresh with DPoP: a new DPoP-bound access token for the same key.
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, {}, { DPoP });
  assert.equal(refreshed.token_type, 'dpop');
  assert.equal(payload(refreshed.access_token).cnf.jkt, jkt);
  console.log(`ok - ${alg}: seed flow by client_assertion, DPoP-bound tokens, userinfo, refresh`);
}

/**
 * One more assertion for /mfa/challenge, which openid-client has no call
 * for: signed by openid-client's own PrivateKeyJwt through a custom fetch
 * that captures the body it would send.
 */
async function signedAssertion(config, key, kid, alg, clientId) {
  let captured;
  const capture = client.PrivateKeyJwt({ key, kid }, eddsa);
  const probe = new client.Configuration(config.serverMetadata(), clientId, {}, capture);
  client.allowInsecureRequests(probe);
  probe[client.customFetch] = async (_url, options) => {
    captured = new URLSearchParams(options.body.toString()).get('client_assertion');
    return new Response(JSON.stringify({ error: 'invalid_request' }), { status: 400, headers: { 'content-type': 'application/json' } });
  };
  await client.genericGrantRequest(probe, 'password', { username: 'x', password: 'y' }).catch(() => {});
  assert.ok(captured, 'openid-client produced no assertion');
  assert.equal(payload(captured).iss, clientId);
  return captured;
}

async function pemClient() {
  const pair = await crypto.subtle.generateKey(KEYGEN.ES256, true, ['sign', 'verify']);
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', pair.publicKey)).toString('base64');
  const pem = `-----BEGIN PUBLIC KEY-----\n${spki.match(/.{1,64}/g).join('\n')}\n-----END PUBLIC KEY-----\n`;
  const path = join(dir, 'pem-client.pem');
  writeFileSync(path, pem);
  assert.match(cli(['add-client', 'oc-pem', '--db', DB, '--public-key', path]), /private_key_jwt, 1 key/);
  cli(['add-user', 'oc-pem@example.com', '--db', DB], `${PASSWORD}\n`);
  const config = await configure(BASE, 'oc-pem', pair.privateKey, undefined);
  await passwordGrant(config, 'oc-pem@example.com', 'openid');
  console.log('ok - a --public-key (PEM) client authenticates by client_assertion');
}

async function nonceServer() {
  const { pair, path } = await keys('ES256', 'oc-nonce-key');
  cli(['add-client', 'oc-nonce', '--db', DB, '--jwks', path]);
  cli(['add-user', 'oc-nonce@example.com', '--db', DB], `${PASSWORD}\n`);
  const config = await client.discovery(new URL(NONCE_BASE), 'oc-nonce', {}, client.PrivateKeyJwt({ key: pair.privateKey, kid: 'oc-nonce-key' }), {
    execute: [client.allowInsecureRequests],
  });
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  // The first proof has no nonce: the server answers use_dpop_nonce with a
  // DPoP-Nonce, and openid-client retries with it (the retry signs a new
  // client assertion: the first one's jti was not spent).
  await passwordGrant(config, 'oc-nonce@example.com', 'openid', { DPoP }, NONCE_BASE);
  console.log('ok - use_dpop_nonce: openid-client retries with the DPoP-Nonce and succeeds');
}

for (const alg of ['RS256', 'ES256', 'EdDSA']) {
  await seedFlow(alg);
}
await pemClient();
await nonceServer();
