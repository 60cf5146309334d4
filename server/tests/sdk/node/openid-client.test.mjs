// openid-client: discovery, the password and Auth0 grants through
// genericGrantRequest, fetchUserInfo, refreshTokenGrant; the MFA API through
// its generic fetchProtectedResource (Bearer), marked "pass (generic)".
import assert from "node:assert/strict";
import * as oidc from "openid-client";
import { env, users, version, step, Authenticator, sleep, shortServer, notAvailable } from "./common.mjs";

const SDK = "openid-client";
const V = version("openid-client");
const who = users(SDK);
const GRANT = (name) => `http://auth0.com/oauth/grant-type/${name}`;
const s = {};
notAvailable(SDK, V, "signing-key rotation: the SDK's verifier takes the new kid", "it checks id token claims, not signatures (it trusts the TLS token endpoint)");

async function configuration(issuer = env.issuer) {
  return oidc.discovery(new URL(issuer), env.clientId, env.clientSecret);
}

async function refused(promise) {
  const error = await promise.then(() => assert.fail("the request succeeded"), (e) => e);
  assert.ok(error instanceof oidc.ResponseBodyError, `not a ResponseBodyError: ${error}`);
  return error;
}

async function mfaRequired(username, config = s.config, audience = env.mfaAudience) {
  const error = await refused(oidc.genericGrantRequest(config, GRANT("password-realm"), {
    username, password: env.password, realm: "Username-Password-Authentication", audience, scope: env.scope,
  }));
  assert.equal(error.error, "mfa_required");
  assert.equal(error.status, 403);
  return error.cause;
}

const verify = (mfaToken, otp, config = s.config) => oidc.genericGrantRequest(config, GRANT("mfa-otp"), { mfa_token: mfaToken, otp });

async function verifyFails(mfaToken, params, error, description) {
  const grant = params.otp ? GRANT("mfa-otp") : GRANT("mfa-recovery-code");
  const e = await refused(oidc.genericGrantRequest(s.config, grant, { mfa_token: mfaToken, ...params }));
  assert.equal(e.error, error);
  assert.equal(e.error_description, description);
}

async function api(token, method, path, json, config = s.config) {
  const url = new URL(path, config.serverMetadata().issuer);
  const headers = json ? new Headers({ "content-type": "application/json" }) : undefined;
  const response = await oidc.fetchProtectedResource(config, token, url, method, json ? JSON.stringify(json) : undefined, headers);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

step(SDK, V, "discovery", async () => {
  s.config = await configuration();
  const metadata = s.config.serverMetadata();
  assert.equal(metadata.issuer, env.issuer);
  assert.ok(metadata.grant_types_supported.includes(GRANT("mfa-otp")));
  assert.ok(metadata.jwks_uri && metadata.userinfo_endpoint);
});

step(SDK, V, "password grant → mfa_required", async () => {
  const error = await refused(oidc.genericGrantRequest(s.config, "password", {
    username: who.main, password: env.password, audience: env.mfaAudience, scope: env.scope,
  }));
  assert.equal(error.error, "mfa_required");
  assert.deepEqual(error.cause.mfa_requirements, { enroll: [{ type: "otp" }] });
});

step(SDK, V, "password-realm (realm) → mfa_required", async () => {
  s.mfaToken = (await mfaRequired(who.main)).mfa_token;
  const error = await refused(oidc.genericGrantRequest(s.config, GRANT("password-realm"), { username: who.main, password: env.password, realm: "Other-Connection" }));
  assert.equal(error.error, "invalid_request");
});

step(SDK, V, "enroll (/mfa/associate otp)", async () => {
  const { status, body } = await api(s.mfaToken, "POST", "mfa/associate", { authenticator_types: ["otp"] });
  assert.equal(status, 200, JSON.stringify(body));
  s.app = new Authenticator(body.secret, body.barcode_uri);
  s.recoveryCode = body.recovery_codes[0];
}, "generic");

step(SDK, V, "confirm with a TOTP code → tokens", async () => {
  s.tokens = await verify(s.mfaToken, await s.app.fresh());
  assert.ok(s.tokens.access_token && s.tokens.id_token);
});

step(SDK, V, "tokens verified by the SDK's verifier", async () => {
  // genericGrantRequest validated the id token's iss, aud, exp and iat; claims() is its result.
  const claims = s.tokens.claims();
  assert.equal(claims.iss, env.issuer);
  assert.equal(claims.aud, env.clientId);
  s.sub = claims.sub;
});

step(SDK, V, "userinfo", async () => {
  const info = await oidc.fetchUserInfo(s.config, s.tokens.access_token, s.sub);
  assert.equal(info.name, who.main);
  await assert.rejects(oidc.fetchUserInfo(s.config, s.tokens.access_token, "someone-else"));
});

step(SDK, V, "later login → mfa_required challenge otp", async () => {
  const cause = await mfaRequired(who.main);
  assert.deepEqual(cause.mfa_requirements, { challenge: [{ type: "otp" }] });
  s.mfaToken = cause.mfa_token;
});

step(SDK, V, "list authenticators", async () => {
  const { status, body } = await api(s.mfaToken, "GET", "mfa/authenticators");
  assert.equal(status, 200);
  const otp = body.filter((a) => a.authenticator_type === "otp");
  assert.equal(otp.length, 1);
  assert.equal(otp[0].type, "otp");
  s.otpId = otp[0].id;
}, "generic");

step(SDK, V, "challenge otp", async () => {
  const { status, body } = await api(s.mfaToken, "POST", "mfa/challenge", { client_id: env.clientId, client_secret: env.clientSecret, mfa_token: s.mfaToken, challenge_type: "otp" });
  assert.equal(status, 200, JSON.stringify(body));
  assert.deepEqual(body, { challenge_type: "otp" });
}, "generic");

step(SDK, V, "verify a fresh code → tokens", async () => {
  s.code = await s.app.fresh();
  s.tokens = await verify(s.mfaToken, s.code);
  assert.ok(s.tokens.access_token && s.tokens.id_token);
});

step(SDK, V, "replayed code → invalid_grant", async () => {
  s.mfaToken = (await mfaRequired(who.main)).mfa_token;
  await verifyFails(s.mfaToken, { otp: s.code }, "invalid_grant", "Invalid otp_code.");
});

step(SDK, V, "wrong code → invalid_grant", async () => {
  await verifyFails(s.mfaToken, { otp: s.app.wrong() }, "invalid_grant", "Invalid otp_code.");
});

step(SDK, V, "recovery code → tokens + replacement (old one refused)", async () => {
  const tokens = await oidc.genericGrantRequest(s.config, GRANT("mfa-recovery-code"), { mfa_token: s.mfaToken, recovery_code: s.recoveryCode });
  assert.ok(tokens.recovery_code && tokens.recovery_code !== s.recoveryCode);
  const mfaToken = (await mfaRequired(who.main)).mfa_token;
  await verifyFails(mfaToken, { recovery_code: s.recoveryCode }, "invalid_grant", "Invalid recovery_code.");
  s.tokens = await oidc.genericGrantRequest(s.config, GRANT("mfa-recovery-code"), { mfa_token: mfaToken, recovery_code: tokens.recovery_code });
  assert.ok(s.tokens.recovery_code);
});

step(SDK, V, "delete authenticator (remove:authenticators token)", async () => {
  const deleted = await api(s.tokens.access_token, "DELETE", `mfa/authenticators/${encodeURIComponent(s.otpId)}`);
  assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
  const { body } = await api(s.tokens.access_token, "GET", "mfa/authenticators");
  assert.ok(!body.some((a) => a.id === s.otpId));
}, "generic");

step(SDK, V, "refresh: rotation; the used token refused, its family revoked", async () => {
  const first = s.tokens.refresh_token;
  assert.ok(first, "offline_access gave no refresh token");
  const next = await oidc.refreshTokenGrant(s.config, first);
  assert.ok(next.access_token && next.id_token && next.refresh_token && next.refresh_token !== first);
  for (const dead of [first, next.refresh_token]) {
    const error = await refused(oidc.refreshTokenGrant(s.config, dead));
    assert.equal(error.error, "invalid_grant");
    assert.equal(error.error_description, "Unknown or invalid refresh token.");
  }
});

step(SDK, V, "expired mfa_token → expired_token", async () => {
  const server = shortServer(SDK);
  const short = await configuration(server.issuer);
  const cause = await mfaRequired(who.expiry, short, server.mfaAudience);
  await sleep((env.mfaTokenTtl + 1) * 1000);
  const error = await verify(cause.mfa_token, "123456", short).then(() => assert.fail("accepted"), (e) => e);
  assert.equal(error.error, "expired_token", String(error));
});

step(SDK, V, "lockout → too_many_attempts, a right code refused too", async () => {
  const first = (await mfaRequired(who.lock)).mfa_token;
  const { body } = await api(first, "POST", "mfa/associate", { authenticator_types: ["otp"] });
  const app = new Authenticator(body.secret, body.barcode_uri);
  await verify(first, await app.fresh());
  const mfaToken = (await mfaRequired(who.lock)).mfa_token;
  for (let i = 0; i < 10; i++) await verifyFails(mfaToken, { otp: app.wrong() }, "invalid_grant", "Invalid otp_code.");
  const locked = await refused(verify(mfaToken, await app.fresh()));
  assert.equal(locked.error, "too_many_attempts");
});
