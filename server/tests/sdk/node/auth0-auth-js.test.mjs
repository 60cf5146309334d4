// @auth0/auth0-auth-js: AuthClient (discovery before each token call, through
// openid-client) and its MfaClient, against the real mfa-server over HTTPS.
import assert from "node:assert/strict";
import { AuthClient, TokenByPasswordError, TokenByRefreshTokenError, MfaVerifyError, isMfaRequiredError } from "@auth0/auth0-auth-js";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { env, users, version, step, Authenticator, sleep, shortServer, notAvailable } from "./common.mjs";

const SDK = "auth0-auth-js";
const V = version("@auth0/auth0-auth-js");
const who = users(SDK);
const client = (domain = env.domain) =>
  new AuthClient({ domain, clientId: env.clientId, clientSecret: env.clientSecret });
const auth = client();

/** A password login that must end in mfa_required; answers the error's cause. */
async function mfaRequired(username, options = {}, authClient = auth) {
  const error = await authClient
    .getTokenByPassword({ username, password: env.password, audience: options.audience ?? env.mfaAudience, scope: env.scope, ...options })
    .then(() => assert.fail("the password alone gave tokens"), (e) => e);
  assert.ok(error instanceof TokenByPasswordError, `not a TokenByPasswordError: ${error}`);
  assert.ok(isMfaRequiredError(error), `not mfa_required: ${JSON.stringify(error.cause)}`);
  assert.equal(error.cause.error, "mfa_required");
  assert.equal(error.statusCode, 403);
  return error.cause;
}

async function verifyFails(options, expected) {
  const error = await auth.mfa.verify(options).then(() => assert.fail("verify succeeded"), (e) => e);
  assert.ok(error instanceof MfaVerifyError, `not an MfaVerifyError: ${error}`);
  assert.equal(error.cause.error, expected.error, JSON.stringify(error.cause));
  assert.equal(error.cause.error_description, expected.description);
  return error;
}

const jwks = createRemoteJWKSet(new URL(`${env.issuer}.well-known/jwks.json`));
const s = {};
notAvailable(SDK, V, "signing-key rotation: the SDK's verifier takes the new kid", "it checks id token claims, not signatures (openid-client trusts the TLS token endpoint)");

step(SDK, V, "discovery", async () => {
  const metadata = await auth.getServerMetadata();
  assert.equal(metadata.issuer, env.issuer);
  assert.equal(metadata.token_endpoint, `${env.issuer}oauth/token`);
  assert.ok(metadata.jwks_uri);
  s.jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));
});

step(SDK, V, "password grant → mfa_required", async () => {
  const cause = await mfaRequired(who.main);
  assert.equal(typeof cause.mfa_token, "string");
  assert.deepEqual(cause.mfa_requirements, { enroll: [{ type: "otp" }] });
});

step(SDK, V, "password-realm (realm) → mfa_required", async () => {
  // auth-js sends grant_type=password with realm (not the password-realm grant URI).
  const cause = await mfaRequired(who.main, { realm: "Username-Password-Authentication" });
  s.mfaToken = cause.mfa_token;
});

step(SDK, V, "enroll (/mfa/associate otp)", async () => {
  const enrollment = await auth.mfa.enrollAuthenticator({ authenticatorTypes: ["otp"], mfaToken: s.mfaToken });
  assert.equal(enrollment.authenticatorType, "otp");
  assert.match(enrollment.barcodeUri, /^otpauth:\/\/totp\//);
  assert.equal(enrollment.recoveryCodes.length, 1);
  s.app = new Authenticator(enrollment.secret, enrollment.barcodeUri);
  s.recoveryCode = enrollment.recoveryCodes[0];
});

step(SDK, V, "confirm with a TOTP code → tokens", async () => {
  const tokens = await auth.mfa.verify({ factorType: "otp", mfaToken: s.mfaToken, otp: await s.app.fresh() });
  assert.ok(tokens.accessToken && tokens.idToken, "access and id token");
  assert.equal(tokens.tokenType.toLowerCase(), "bearer");
  s.tokens = tokens;
});

step(SDK, V, "tokens verified by the SDK's verifier", async () => {
  // openid-client (inside auth-js) validated iss/aud/exp of the id token; claims are its result.
  assert.equal(s.tokens.claims.iss, env.issuer);
  assert.equal(s.tokens.claims.aud, env.clientId);
  const { payload, protectedHeader } = await jwtVerify(s.tokens.accessToken, s.jwks ?? jwks, { issuer: env.issuer, audience: env.mfaAudience });
  assert.equal(protectedHeader.alg, "RS256");
  assert.equal(payload.sub, s.tokens.claims.sub);
  assert.deepEqual(payload.amr, ["pwd", "otp"]);
});

step(SDK, V, "userinfo", async () => {
  const info = await auth.getUserInfo({ accessToken: s.tokens.accessToken, expectedSubject: s.tokens.claims.sub });
  assert.equal(info.sub, s.tokens.claims.sub);
  assert.equal(info.name, who.main);
});

step(SDK, V, "later login → mfa_required challenge otp", async () => {
  const cause = await mfaRequired(who.main);
  assert.deepEqual(cause.mfa_requirements, { challenge: [{ type: "otp" }] });
  s.mfaToken = cause.mfa_token;
});

step(SDK, V, "list authenticators", async () => {
  const list = await auth.mfa.listAuthenticators({ mfaToken: s.mfaToken });
  const otp = list.find((a) => a.authenticatorType === "otp");
  assert.ok(otp, JSON.stringify(list));
  assert.equal(otp.active, true);
  assert.equal(otp.type, "otp");
  assert.ok(list.some((a) => a.authenticatorType === "recovery-code"), JSON.stringify(list));
  s.otpId = otp.id;
});

step(SDK, V, "challenge otp", async () => {
  const challenge = await auth.mfa.challengeAuthenticator({ challengeType: "otp", mfaToken: s.mfaToken, authenticatorId: s.otpId });
  assert.equal(challenge.challengeType, "otp");
});

step(SDK, V, "verify a fresh code → tokens", async () => {
  s.code = await s.app.fresh();
  const tokens = await auth.mfa.verify({ factorType: "otp", mfaToken: s.mfaToken, otp: s.code });
  assert.ok(tokens.accessToken && tokens.idToken);
  s.tokens = tokens;
});

step(SDK, V, "replayed code → invalid_grant", async () => {
  const login = await mfaRequired(who.main);
  await verifyFails({ factorType: "otp", mfaToken: login.mfa_token, otp: s.code }, { error: "invalid_grant", description: "Invalid otp_code." });
  s.mfaToken = login.mfa_token;
});

step(SDK, V, "wrong code → invalid_grant", async () => {
  await verifyFails({ factorType: "otp", mfaToken: s.mfaToken, otp: s.app.wrong() }, { error: "invalid_grant", description: "Invalid otp_code." });
});

step(SDK, V, "recovery code → tokens + replacement (old one refused)", async () => {
  const tokens = await auth.mfa.verify({ factorType: "recovery-code", mfaToken: s.mfaToken, recoveryCode: s.recoveryCode });
  assert.ok(tokens.accessToken);
  assert.equal(typeof tokens.recoveryCode, "string");
  assert.notEqual(tokens.recoveryCode, s.recoveryCode);
  const login = await mfaRequired(who.main);
  await verifyFails({ factorType: "recovery-code", mfaToken: login.mfa_token, recoveryCode: s.recoveryCode }, { error: "invalid_grant", description: "Invalid recovery_code." });
  const again = await auth.mfa.verify({ factorType: "recovery-code", mfaToken: login.mfa_token, recoveryCode: tokens.recoveryCode });
  assert.ok(again.accessToken && again.recoveryCode);
  s.tokens = again;
});

step(SDK, V, "delete authenticator (remove:authenticators token)", async () => {
  // auth-js names the Bearer `mfaToken`; Auth0 (and mfa-server) require an MFA API
  // access token with remove:authenticators for DELETE.
  await auth.mfa.deleteAuthenticator({ authenticatorId: s.otpId, mfaToken: s.tokens.accessToken });
  const list = await auth.mfa.listAuthenticators({ mfaToken: s.tokens.accessToken });
  assert.ok(!list.some((a) => a.id === s.otpId), JSON.stringify(list));
});

step(SDK, V, "refresh: rotation; the used token refused, its family revoked", async () => {
  const first = s.tokens.refreshToken;
  assert.ok(first, "offline_access gave no refresh token");
  const next = await auth.getTokenByRefreshToken({ refreshToken: first });
  assert.ok(next.accessToken && next.idToken);
  assert.ok(next.refreshToken && next.refreshToken !== first, "a new refresh token");
  const reuse = await auth.getTokenByRefreshToken({ refreshToken: first }).then(() => assert.fail("reuse accepted"), (e) => e);
  assert.ok(reuse instanceof TokenByRefreshTokenError);
  assert.equal(reuse.cause.error, "invalid_grant");
  assert.equal(reuse.cause.error_description, "Unknown or invalid refresh token.");
  const family = await auth.getTokenByRefreshToken({ refreshToken: next.refreshToken }).then(() => assert.fail("family not revoked"), (e) => e);
  assert.equal(family.cause.error, "invalid_grant");
});

step(SDK, V, "expired mfa_token → expired_token", async () => {
  const server = shortServer(SDK);
  const short = client(server.domain);
  const cause = await mfaRequired(users(SDK).expiry, { audience: server.mfaAudience }, short);
  await sleep((env.mfaTokenTtl + 1) * 1000);
  const error = await short.mfa.enrollAuthenticator({ authenticatorTypes: ["otp"], mfaToken: cause.mfa_token }).then(() => assert.fail("expired token accepted"), (e) => e);
  assert.equal(error.cause.error, "expired_token", JSON.stringify(error.cause));
  assert.equal(error.cause.error_description, "mfa_token is expired");
});

step(SDK, V, "expired mfa_token → expired_token, and the code it carried is not spent", async () => {
  // An enrolled user on the short-lived-token server: enroll and confirm within the lifetime.
  const server = shortServer(SDK);
  const short = client(server.domain);
  await short.getServerMetadata();
  const first = await mfaRequired(users(SDK).lock, { audience: server.mfaAudience }, short);
  const enrollment = await short.mfa.enrollAuthenticator({ authenticatorTypes: ["otp"], mfaToken: first.mfa_token });
  const app = new Authenticator(enrollment.secret, enrollment.barcodeUri);
  await short.mfa.verify({ factorType: "otp", mfaToken: first.mfa_token, otp: await app.fresh() });
  const stale = await mfaRequired(users(SDK).lock, { audience: server.mfaAudience }, short);
  await sleep((env.mfaTokenTtl + 1) * 1000);
  const code = await app.fresh();
  const error = await short.mfa.verify({ factorType: "otp", mfaToken: stale.mfa_token, otp: code }).then(() => assert.fail("expired token accepted"), (e) => e);
  assert.ok(error instanceof MfaVerifyError);
  assert.equal(error.cause.error, "expired_token", JSON.stringify(error.cause));
  // The same code still signs the user in: the expired token was refused before the code was checked.
  const fresh = await mfaRequired(users(SDK).lock, { audience: server.mfaAudience }, short);
  const tokens = await short.mfa.verify({ factorType: "otp", mfaToken: fresh.mfa_token, otp: code });
  assert.ok(tokens.accessToken);
});

step(SDK, V, "lockout → too_many_attempts, a right code refused too", async () => {
  const first = await mfaRequired(who.lock);
  const enrollment = await auth.mfa.enrollAuthenticator({ authenticatorTypes: ["otp"], mfaToken: first.mfa_token });
  const app = new Authenticator(enrollment.secret, enrollment.barcodeUri);
  await auth.mfa.verify({ factorType: "otp", mfaToken: first.mfa_token, otp: await app.fresh() });
  const login = await mfaRequired(who.lock);
  for (let i = 0; i < 10; i++) {
    await verifyFails({ factorType: "otp", mfaToken: login.mfa_token, otp: app.wrong() }, { error: "invalid_grant", description: "Invalid otp_code." });
  }
  const locked = await auth.mfa.verify({ factorType: "otp", mfaToken: login.mfa_token, otp: await app.fresh() }).then(() => assert.fail("accepted while locked"), (e) => e);
  assert.ok(locked instanceof MfaVerifyError);
  assert.equal(locked.cause.error, "too_many_attempts", JSON.stringify(locked.cause));
});
