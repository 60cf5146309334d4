// Auth0's Management API calls for MFA, driven by node-auth0 4.37.1's
// ManagementClient (client credentials: it fetches its own token with the
// client_credentials grant) against the real mfa-server binary. Run by
// scripts/management-test.sh with `node --test`, which provisions the
// database, starts the server and sets the environment below.
//
// The ManagementClient always builds https URLs from its `domain`; its
// documented `fetch` option is given a fetch that sends the same request
// over http to this loopback server (the SDK's requests, headers and error
// parsing are unchanged).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

// The pinned package, from the cache scripts/management-test.sh installs.
const require = createRequire(`${process.env.AUTH0_NODE_MODULES}/`);
const { ManagementClient, ManagementApiError } = require('auth0');

const DOMAIN = process.env.MGMT_DOMAIN;
const AUDIENCE = process.env.MGMT_AUDIENCE;
const APP_SECRET = process.env.APP_SECRET;
const PASSWORD = 'correct horse battery staple';
const JANE = 'auth0|jane';
const BOB = 'auth0|bob';
const base = `http://${DOMAIN}`;

const overHttp = (url, init) => fetch(String(url).replace(/^https:/, 'http:'), init);
const client = (clientId, clientSecret) =>
  new ManagementClient({ domain: DOMAIN, clientId, clientSecret, audience: AUDIENCE, fetch: overHttp, retry: { enabled: false } });
const full = client('mgmt-full', process.env.MGMT_FULL_SECRET);
const read = client('mgmt-read', process.env.MGMT_READ_SECRET);

async function tokenEndpoint(fields) {
  const r = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  });
  return { status: r.status, json: await r.json() };
}

async function mfaToken(username, password = PASSWORD) {
  const r = await tokenEndpoint({ grant_type: 'password', client_id: 'seed-app', client_secret: APP_SECRET, username, password });
  assert.equal(r.status, 403, JSON.stringify(r.json));
  return r.json.mfa_token;
}

async function enroll(username) {
  const token = await mfaToken(username);
  const r = await fetch(`${base}/mfa/associate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ authenticator_types: ['otp'] }),
  });
  const a = await r.json();
  assert.equal(r.status, 200, JSON.stringify(a));
  const now = Math.floor(Date.now() / 1000);
  const otp = execFileSync('oathtool', ['--totp', '--base32', `--now=@${now}`, a.secret]).toString().trim();
  const done = await tokenEndpoint({ grant_type: 'http://auth0.com/oauth/grant-type/mfa-otp', client_id: 'seed-app', client_secret: APP_SECRET, mfa_token: token, otp });
  assert.equal(done.status, 200, JSON.stringify(done.json));
  return a.recovery_codes[0];
}

async function refused(promise, statusCode, errorCode, message) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof ManagementApiError, `${e}`);
    assert.equal(e.statusCode, statusCode, e.body);
    assert.equal(e.errorCode, errorCode, e.body);
    if (message !== undefined) assert.equal(e.message, message);
    return true;
  });
}

let recoveryCode;
const ids = {};

test('setup: jane enrolled and blocked from 127.0.0.1', async () => {
  recoveryCode = await enroll('jane');
  for (let i = 0; i < 3; i++) {
    const r = await tokenEndpoint({ grant_type: 'password', client_id: 'seed-app', client_secret: APP_SECRET, username: 'jane', password: 'wrong' });
    assert.equal(r.status, 403);
  }
});

test('getAuthenticationMethods lists totp and recovery-code', async () => {
  const { data, status } = await full.users.getAuthenticationMethods({ id: JANE });
  assert.equal(status, 200);
  assert.deepEqual(data.map((m) => m.type).sort(), ['recovery-code', 'totp']);
  for (const m of data) {
    assert.equal(m.confirmed, true);
    ids[m.type] = m.id;
  }
  assert.match(ids.totp, /^totp\|dev_[A-Za-z0-9]{16}$/);
  assert.match(ids['recovery-code'], /^recovery-code\|dev_[A-Za-z0-9]{16}$/);
});

test('wrong scopes are 403 insufficient_scope and change nothing', async () => {
  await refused(read.users.getAuthenticationMethods({ id: JANE }), 403, 'insufficient_scope', 'Insufficient scope, expected any of: read:authentication_methods');
  await refused(read.users.deleteAuthenticationMethods({ id: JANE }), 403, 'insufficient_scope');
  await refused(read.users.deleteAuthenticationMethod({ id: JANE, authentication_method_id: ids.totp }), 403, 'insufficient_scope');
  await refused(read.users.regenerateRecoveryCode({ id: JANE }), 403, 'insufficient_scope', 'Insufficient scope, expected any of: update:users');
  await refused(read.userBlocks.delete({ id: JANE }), 403, 'insufficient_scope');
  await refused(read.guardian.deleteGuardianEnrollment({ id: ids.totp.replace('totp|', '') }), 403, 'insufficient_scope');
  assert.equal((await full.users.getAuthenticationMethods({ id: JANE })).data.length, 2);
  assert.equal((await full.userBlocks.get({ id: JANE })).data.blocked_for.length, 1);
});

test('unknown users, methods and enrollments are 404', async () => {
  for (const call of [
    () => full.users.getAuthenticationMethods({ id: 'auth0|ghost' }),
    () => full.users.deleteAuthenticationMethods({ id: 'auth0|ghost' }),
    () => full.users.getEnrollments({ id: 'auth0|ghost' }),
    () => full.users.regenerateRecoveryCode({ id: 'auth0|ghost' }),
    () => full.userBlocks.get({ id: 'auth0|ghost' }),
    () => full.userBlocks.delete({ id: 'auth0|ghost' }),
  ]) {
    await refused(call(), 404, 'inexistent_user', 'The user does not exist.');
  }
  await refused(full.users.deleteAuthenticationMethod({ id: JANE, authentication_method_id: 'totp|dev_AAAAAAAAAAAAAAAA' }), 404, 'inexistent_authentication_method');
  await refused(full.guardian.deleteGuardianEnrollment({ id: 'dev_AAAAAAAAAAAAAAAA' }), 404, 'inexistent_enrollment');
  assert.equal((await full.users.getAuthenticationMethods({ id: JANE })).data.length, 2);
});

test('a client without a grant gets no token', async () => {
  const app = client('seed-app', APP_SECRET);
  await assert.rejects(app.users.getAuthenticationMethods({ id: JANE }), (e) => {
    assert.match(String(e.body ?? e.message), /access_denied|not authorized/);
    return true;
  });
});

test('user blocks: get and delete', async () => {
  const { data } = await full.userBlocks.get({ id: JANE });
  assert.deepEqual(data, { blocked_for: [{ identifier: 'jane', ip: '127.0.0.1', connection: 'Username-Password-Authentication' }] });
  assert.deepEqual((await read.userBlocks.get({ id: BOB })).data, { blocked_for: [] });
  const { status } = await full.userBlocks.delete({ id: JANE });
  assert.equal(status, 204);
  assert.deepEqual((await full.userBlocks.get({ id: JANE })).data, { blocked_for: [] });
  await mfaToken('jane');
});

test('regenerateRecoveryCode: the new code works, the old one not', async () => {
  const { data } = await full.users.regenerateRecoveryCode({ id: JANE });
  assert.equal(data.recovery_code.length, recoveryCode.length);
  assert.notEqual(data.recovery_code, recoveryCode);
  const grant = async (code) => (await tokenEndpoint({ grant_type: 'http://auth0.com/oauth/grant-type/mfa-recovery-code', client_id: 'seed-app', client_secret: APP_SECRET, mfa_token: await mfaToken('jane'), recovery_code: code })).status;
  assert.equal(await grant(recoveryCode), 400);
  assert.equal(await grant(data.recovery_code), 200);
  await refused(full.users.regenerateRecoveryCode({ id: BOB }), 400, 'mfa_not_enrolled');
});

test('enrollments: list and delete', async () => {
  const { data } = await read.users.getEnrollments({ id: JANE });
  assert.equal(data.length, 1);
  assert.equal(data[0].id, ids.totp.replace('totp|', ''));
  assert.equal(data[0].status, 'confirmed');
  assert.deepEqual((await read.users.getEnrollments({ id: BOB })).data, []);
  const { status } = await full.guardian.deleteGuardianEnrollment({ id: data[0].id });
  assert.equal(status, 204);
  assert.deepEqual((await full.users.getAuthenticationMethods({ id: JANE })).data.map((m) => m.type), ['recovery-code']);
  await refused(full.guardian.deleteGuardianEnrollment({ id: data[0].id }), 404, 'inexistent_enrollment');
});

test('delete authentication methods: one, then all', async () => {
  const rec = (await full.users.getAuthenticationMethods({ id: JANE })).data[0].id;
  assert.equal((await full.users.deleteAuthenticationMethod({ id: JANE, authentication_method_id: rec })).status, 204);
  assert.deepEqual((await full.users.getAuthenticationMethods({ id: JANE })).data, []);
  await enroll('jane');
  assert.equal((await full.users.getAuthenticationMethods({ id: JANE })).data.length, 2);
  assert.equal((await full.users.deleteAuthenticationMethods({ id: JANE })).status, 204);
  assert.deepEqual((await full.users.getAuthenticationMethods({ id: JANE })).data, []);
});
