// node-auth0 (`auth0` on npm, v6: the last major with AuthenticationClient;
// v7 ships only the Management API): oauth.passwordGrant (password and,
// with a realm, password-realm), oauth.refreshTokenGrant (its id-token
// validator checks RS256 on /.well-known/jwks.json, iss, aud, exp), and
// UserInfoClient. It has no MFA API calls: the test enrolls and confirms
// by plain HTTP (bridge*) only to reach the refresh token, and records those
// steps n/a.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { AuthenticationClient, AuthApiError, UserInfoClient } from "auth0";
import { env, users, version, step, notAvailable, Authenticator, bridgeToken, bridgeMfa, sleep } from "./common.mjs";

const SDK = "node-auth0";
const V = version("auth0");
const who = users(SDK);
const auth = new AuthenticationClient({ domain: env.domain, clientId: env.clientId, clientSecret: env.clientSecret });
const s = {};

async function mfaRequired(params) {
  const error = await auth.oauth
    .passwordGrant({ username: who.main, password: env.password, audience: env.mfaAudience, scope: env.scope, ...params })
    .then(() => assert.fail("the password alone gave tokens"), (e) => e);
  assert.ok(error instanceof AuthApiError, `not an AuthApiError: ${error}`);
  assert.equal(error.error, "mfa_required");
  assert.equal(error.statusCode, 403);
  // The mfa_token is only in the raw body the error keeps.
  return JSON.parse(error.body);
}

for (const [call, reason] of [
  ["discovery", "no discovery: the SDK builds https://DOMAIN/ URLs itself"],
  ["enroll (/mfa/associate otp)", "no MFA API calls"],
  ["confirm with a TOTP code → tokens", "no mfa-otp grant"],
  ["tokens verified by the SDK's verifier", "its validator runs on id tokens of passwordGrant/refreshTokenGrant: covered by the refresh step"],
  ["later login → mfa_required challenge otp", "covered by the password grant step's AuthApiError"],
  ["list authenticators", "no MFA API calls"],
  ["challenge otp", "no MFA API calls"],
  ["verify a fresh code → tokens", "no mfa-otp grant"],
  ["replayed code → invalid_grant", "no mfa-otp grant"],
  ["wrong code → invalid_grant", "no mfa-otp grant"],
  ["recovery code → tokens + replacement (old one refused)", "no mfa-recovery-code grant"],
  ["delete authenticator (remove:authenticators token)", "no MFA API calls"],
  ["expired mfa_token → expired_token", "no call takes an mfa_token"],
  ["lockout → too_many_attempts, a right code refused too", "no mfa-otp grant"],
]) notAvailable(SDK, V, call, reason);

step(SDK, V, "password grant → mfa_required", async () => {
  const body = await mfaRequired({});
  assert.deepEqual(body.mfa_requirements, { enroll: [{ type: "otp" }] });
});

step(SDK, V, "password-realm (realm) → mfa_required", async () => {
  s.mfaToken = (await mfaRequired({ realm: "Username-Password-Authentication" })).mfa_token;
  const unknown = await auth.oauth.passwordGrant({ username: who.main, password: env.password, realm: "Other-Connection" }).then(() => assert.fail("accepted"), (e) => e);
  assert.ok(unknown instanceof AuthApiError);
  assert.equal(unknown.error, "invalid_request");
  // Reach a login with a refresh token (no SDK call for these two requests).
  const enrolled = await bridgeMfa(env.domain, "POST", "/mfa/associate", s.mfaToken, { authenticator_types: ["otp"] });
  assert.equal(enrolled.status, 200);
  const app = new Authenticator(enrolled.body.secret, enrolled.body.barcode_uri);
  const tokens = await bridgeToken(env.domain, { grant_type: "http://auth0.com/oauth/grant-type/mfa-otp", mfa_token: s.mfaToken, otp: await app.fresh() });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  s.tokens = tokens.body;
});

step(SDK, V, "userinfo", async () => {
  const info = await new UserInfoClient({ domain: env.domain }).getUserInfo(s.tokens.access_token);
  assert.equal(info.data.name, who.main);
});

step(SDK, V, "refresh: rotation; the used token refused, its family revoked", async () => {
  const first = s.tokens.refresh_token;
  assert.ok(first, "offline_access gave no refresh token");
  // refreshTokenGrant validates the answer's id token (RS256 on the JWKS, iss, aud, exp).
  const { data } = await auth.oauth.refreshTokenGrant({ refresh_token: first });
  assert.ok(data.access_token && data.id_token && data.refresh_token && data.refresh_token !== first);
  for (const dead of [first, data.refresh_token]) {
    const error = await auth.oauth.refreshTokenGrant({ refresh_token: dead }).then(() => assert.fail("accepted"), (e) => e);
    assert.ok(error instanceof AuthApiError);
    assert.equal(error.error, "invalid_grant");
    assert.equal(error.error_description, "Unknown or invalid refresh token.");
  }
});

step(SDK, V, "signing-key rotation: the SDK's verifier takes the new kid", async () => {
  const domain = process.env.SDK_NODE_ROTATE_DOMAIN;
  const client = new AuthenticationClient({ domain, clientId: env.clientId, clientSecret: env.clientSecret });
  const login = await client.oauth
    .passwordGrant({ username: who.main, password: env.password, audience: `https://${domain}/mfa/`, scope: env.scope, realm: "Username-Password-Authentication" })
    .then(() => assert.fail("no mfa_required"), (e) => JSON.parse(e.body));
  const enrolled = await bridgeMfa(domain, "POST", "/mfa/associate", login.mfa_token, { authenticator_types: ["otp"] });
  const app = new Authenticator(enrolled.body.secret, enrolled.body.barcode_uri);
  const tokens = await bridgeToken(domain, { grant_type: "http://auth0.com/oauth/grant-type/mfa-otp", mfa_token: login.mfa_token, otp: await app.fresh() });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  // The validator fetches the JWKS here: the signing key and the next one.
  const { data: first } = await client.oauth.refreshTokenGrant({ refresh_token: tokens.body.refresh_token });
  const kid = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[0], "base64url")).kid;
  const rotated = spawnSync(process.env.SDK_BIN, ["rotate-signing-key", "--db", process.env.SDK_NODE_ROTATE_DB], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  assert.equal(rotated.status, 0, `mfa-server rotate-signing-key failed: ${rotated.stderr}`);
  assert.match(rotated.stdout, /signs from now on \(every instance within a second; published in the JWKS since/);
  await sleep(1500);
  // Within 30 s of its last JWKS fetch jose does not refetch for an unknown
  // kid; the new kid is not unknown to it: the next key was in the JWKS it
  // fetched before the rotation. The refresh right after the rotation
  // verifies, signed by the new key.
  const { data } = await client.oauth.refreshTokenGrant({ refresh_token: first.refresh_token });
  assert.notEqual(kid(data.id_token), kid(first.id_token), "the rotated key does not sign");
  // And the refresh token it answered is the family's live one.
  const { data: again } = await client.oauth.refreshTokenGrant({ refresh_token: data.refresh_token });
  assert.equal(kid(again.id_token), kid(data.id_token));
});
