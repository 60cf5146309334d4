// @auth0/auth0-spa-js in headless Chromium (playwright-core driving Debian's
// /usr/bin/chromium): Auth0Client.mfa (getAuthenticators, enroll, challenge,
// verify, whose tokens spa-js checks and caches), getUser, getTokenSilently
// (refresh token grant). The app's page is served from another origin, as a
// SPA is: a plain http server of this test's on a loopback port
// ($SDK_SPA_ORIGIN), which every server of the suite names with
// --allowed-origin; every call of the page and of spa-js crosses origins to
// the real server, with Chromium enforcing CORS.
//
// spa-js has no password login (it logs in through /authorize) and raises
// MfaRequiredError only from getTokenSilently; what it does then is
// mfa.setMFAAuthDetails(mfa_token, scope, audience, mfa_requirements). The page
// does the password grant with fetch and makes that same call.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { after, before } from "node:test";
import { chromium } from "playwright-core";
import { env, users, version, step, notAvailable, Authenticator, sleep, shortServer, claims } from "./common.mjs";

const SDK = "auth0-spa-js";
const V = version("@auth0/auth0-spa-js");
const who = users(SDK);
// mfa.verify's typings promise MfaVerifyError, but the server's error reaches it
// from _requestToken as a GenericError (error, error_description), which verify
// passes on unchanged: that is what an app sees.
const VERIFY_ERROR = "GenericError";
const bundle = readFileSync(process.env.SDK_SPA_BUNDLE, "utf8");
const s = {};
notAvailable(SDK, V, "signing-key rotation: the SDK's verifier takes the new kid", "it checks id token claims and the RS256 header, not signatures");
let browser;

const ORIGIN = process.env.SDK_SPA_ORIGIN;
const PAGE = `<!doctype html><meta charset="utf-8"><title>spa-js</title><script src="/spa.js"></script>
<script>
window.sdk = {
  client: null,
  init(domain, clientId, audience, scope) {
    this.client = new auth0.Auth0Client({ domain, clientId, useRefreshTokens: true, cacheLocation: "memory",
      authorizationParams: { audience, scope } });
    this.domain = domain; this.audience = audience; this.scope = scope; this.clientId = clientId;
  },
  async login(username, password) {
    const response = await fetch("https://" + this.domain + "/oauth/token", { method: "POST", body: new URLSearchParams({
      grant_type: "http://auth0.com/oauth/grant-type/password-realm", realm: "Username-Password-Authentication",
      client_id: this.clientId, username, password, audience: this.audience, scope: this.scope }) });
    const body = await response.json();
    if (body.error !== "mfa_required") return { status: response.status, body };
    this.client.mfa.setMFAAuthDetails(body.mfa_token, this.scope, this.audience, body.mfa_requirements);
    return { status: response.status, body };
  },
  async call(fn) {
    try { return { ok: await fn(this.client) }; }
    catch (e) {
      // The production bundle is minified: name the error class by instanceof.
      const kinds = ["MfaVerifyError", "MfaEnrollmentError", "MfaChallengeError", "MfaListAuthenticatorsError", "MissingRefreshTokenError", "GenericError"];
      const name = kinds.find((k) => auth0[k] && e instanceof auth0[k]) ?? "unknown";
      return { error: { name, error: e.error, error_description: e.error_description, message: e.message } };
    }
  },
};
</script>`;

// The app's own origin: the page and the spa-js bundle, nothing else.
let appServer;
function serveApp() {
  const { hostname, port } = new URL(ORIGIN);
  appServer = createServer((req, res) => {
    const script = req.url === "/spa.js";
    res.writeHead(200, { "content-type": script ? "text/javascript" : "text/html" });
    res.end(script ? bundle : PAGE);
  });
  return new Promise((resolve) => appServer.listen(Number(port), hostname, resolve));
}

async function openPage(domain) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${ORIGIN}/index.html`);
  assert.notEqual(new URL(page.url()).origin, `https://${domain}`);
  return page;
}

/** Runs `fn(client, ...args)` in the page; answers {ok} or {error}. */
function call(page, fn, ...args) {
  return page.evaluate(([source, args]) => window.sdk.call((client) => new Function("client", "args", `return (${source})(client, ...args)`)(client, args)), [fn.toString(), args]);
}

async function init(page, domain, audience) {
  await page.evaluate(([d, c, a, sc]) => window.sdk.init(d, c, a, sc), [domain, env.publicClientId, audience, env.scope]);
}

async function login(page, username) {
  const { status, body } = await page.evaluate(([u, p]) => window.sdk.login(u, p), [username, env.password]);
  assert.equal(status, 403, JSON.stringify(body));
  assert.equal(body.error, "mfa_required");
  return body;
}

function fails(result, name, error, description) {
  assert.ok(result.error, `succeeded: ${JSON.stringify(result.ok)}`);
  assert.equal(result.error.name, name, JSON.stringify(result.error));
  assert.equal(result.error.error, error, JSON.stringify(result.error));
  if (description) assert.equal(result.error.error_description, description);
}

before(async () => {
  assert.ok(ORIGIN, "SDK_SPA_ORIGIN must be set (run scripts/sdk-test.sh)");
  await serveApp();
  // launch() gives Chromium a fresh temporary --user-data-dir, removed at close.
  browser = await chromium.launch({
    executablePath: process.env.SDK_CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", `--ignore-certificate-errors-spki-list=${process.env.SDK_SPKI}`],
  });
  s.page = await openPage(env.domain);
  await init(s.page, env.domain, env.mfaAudience);
});
after(async () => {
  await browser?.close();
  await new Promise((resolve) => (appServer ? appServer.close(resolve) : resolve()));
});

for (const [call, reason] of [
  ["discovery", "no discovery: spa-js builds https://DOMAIN/ URLs itself"],
  ["password grant → mfa_required", "no password login; MfaRequiredError comes only from getTokenSilently"],
  ["password-realm (realm) → mfa_required", "no password login"],
  ["userinfo", "no /userinfo call: getUser() answers the verified id token's claims (checked in the id token step)"],
  ["delete authenticator (remove:authenticators token)", "Auth0Client.mfa has no delete"],
  ["refresh: rotation; the used token refused, its family revoked", "spa-js keeps only the newest refresh token and never shows or re-sends a used one (its rotation is in the next row)"],
]) notAvailable(SDK, V, call, reason);

step(SDK, V, "enroll (/mfa/associate otp)", async () => {
  const body = await login(s.page, who.main);
  assert.deepEqual(body.mfa_requirements, { enroll: [{ type: "otp" }] });
  s.mfaToken = body.mfa_token;
  const factors = await call(s.page, (c, t) => c.mfa.getEnrollmentFactors(t), s.mfaToken);
  assert.deepEqual(factors.ok, [{ type: "otp" }]);
  const enrolled = await call(s.page, (c, t) => c.mfa.enroll({ mfaToken: t, factorType: "otp" }), s.mfaToken);
  assert.ok(enrolled.ok, JSON.stringify(enrolled.error));
  s.app = new Authenticator(enrolled.ok.secret, enrolled.ok.barcodeUri);
  s.recoveryCode = enrolled.ok.recoveryCodes[0];
});

step(SDK, V, "confirm with a TOTP code → tokens", async () => {
  const result = await call(s.page, (c, t, otp) => c.mfa.verify({ mfaToken: t, otp }), s.mfaToken, await s.app.fresh());
  assert.ok(result.ok?.access_token && result.ok?.id_token, JSON.stringify(result));
  s.accessToken = result.ok.access_token;
});

step(SDK, V, "tokens verified by the SDK's verifier", async () => {
  // spa-js verified the id token (RS256 header, iss https://DOMAIN/, aud, exp) before caching it.
  const claims = await call(s.page, (c) => c.getIdTokenClaims());
  assert.equal(claims.ok.iss, env.issuer);
  const user = await call(s.page, (c) => c.getUser());
  assert.equal(user.ok.sub, claims.ok.sub);
  assert.equal(claims.ok.aud, env.publicClientId);
  const cached = await call(s.page, (c) => c.getTokenSilently());
  assert.equal(cached.ok, s.accessToken);
});

step(SDK, V, "later login → mfa_required challenge otp", async () => {
  const body = await login(s.page, who.main);
  assert.deepEqual(body.mfa_requirements, { challenge: [{ type: "otp" }] });
  s.mfaToken = body.mfa_token;
});

step(SDK, V, "list authenticators", async () => {
  // spa-js keeps only the entries whose `type` is among mfa_requirements' challenge types.
  const result = await call(s.page, (c, t) => c.mfa.getAuthenticators(t), s.mfaToken);
  assert.equal(result.ok?.length, 1, JSON.stringify(result));
  assert.equal(result.ok[0].type, "otp");
  assert.equal(result.ok[0].authenticatorType, "otp");
  s.otpId = result.ok[0].id;
});

step(SDK, V, "challenge otp", async () => {
  const result = await call(s.page, (c, t, id) => c.mfa.challenge({ mfaToken: t, challengeType: "otp", authenticatorId: id }), s.mfaToken, s.otpId);
  assert.equal(result.ok?.challengeType, "otp", JSON.stringify(result));
});

step(SDK, V, "verify a fresh code → tokens", async () => {
  s.code = await s.app.fresh();
  const result = await call(s.page, (c, t, otp) => c.mfa.verify({ mfaToken: t, otp }), s.mfaToken, s.code);
  assert.ok(result.ok?.access_token, JSON.stringify(result));
  s.accessToken = result.ok.access_token;
});

step(SDK, V, "replayed code → invalid_grant", async () => {
  s.mfaToken = (await login(s.page, who.main)).mfa_token;
  const result = await call(s.page, (c, t, otp) => c.mfa.verify({ mfaToken: t, otp }), s.mfaToken, s.code);
  fails(result, VERIFY_ERROR, "invalid_grant", "Invalid otp_code.");
});

step(SDK, V, "wrong code → invalid_grant", async () => {
  const result = await call(s.page, (c, t, otp) => c.mfa.verify({ mfaToken: t, otp }), s.mfaToken, s.app.wrong());
  fails(result, VERIFY_ERROR, "invalid_grant", "Invalid otp_code.");
});

step(SDK, V, "recovery code → tokens + replacement (old one refused)", async () => {
  const first = await call(s.page, (c, t, recoveryCode) => c.mfa.verify({ mfaToken: t, recoveryCode }), s.mfaToken, s.recoveryCode);
  assert.ok(first.ok?.access_token, JSON.stringify(first));
  const replacement = first.ok.recovery_code;
  assert.ok(replacement && replacement !== s.recoveryCode, `no replacement recovery code in ${Object.keys(first.ok)}`);
  const again = (await login(s.page, who.main)).mfa_token;
  const old = await call(s.page, (c, t, recoveryCode) => c.mfa.verify({ mfaToken: t, recoveryCode }), again, s.recoveryCode);
  fails(old, VERIFY_ERROR, "invalid_grant", "Invalid recovery_code.");
  const next = await call(s.page, (c, t, recoveryCode) => c.mfa.verify({ mfaToken: t, recoveryCode }), again, replacement);
  assert.ok(next.ok?.recovery_code, JSON.stringify(next));
});

step(SDK, V, "refresh through the SDK's cache (getTokenSilently, cacheMode off), twice", async () => {
  const before = await call(s.page, (c) => c.getTokenSilently());
  // Let iat move on: the assertions below tell the tokens apart by it
  // (id tokens are deterministic per second: RS256, no jti).
  await sleep(1100);
  const refreshed = await call(s.page, (c) => c.getTokenSilently({ cacheMode: "off", detailedResponse: true }));
  assert.ok(refreshed.ok?.access_token && refreshed.ok?.id_token, JSON.stringify(refreshed));
  assert.ok(claims(refreshed.ok.access_token).iat > claims(before.ok).iat, "a new access token");
  assert.deepEqual(claims(refreshed.ok.access_token).amr, claims(before.ok).amr);
  // The second refresh needs the rotated refresh token that spa-js kept.
  await sleep(1100);
  const twice = await call(s.page, (c) => c.getTokenSilently({ cacheMode: "off" }));
  assert.ok(twice.ok, `the rotated refresh token was not kept: ${JSON.stringify(twice.error)}`);
  assert.ok(claims(twice.ok).iat > claims(refreshed.ok.access_token).iat);
});

step(SDK, V, "expired mfa_token → expired_token", async () => {
  const server = shortServer(SDK);
  const page = await openPage(server.domain);
  await init(page, server.domain, server.mfaAudience);
  const body = await login(page, who.expiry);
  await sleep((env.mfaTokenTtl + 1) * 1000);
  const result = await call(page, (c, t) => c.mfa.enroll({ mfaToken: t, factorType: "otp" }), body.mfa_token);
  fails(result, "MfaEnrollmentError", "expired_token");
  await page.context().close();
});

step(SDK, V, "lockout → too_many_attempts, a right code refused too", async () => {
  const first = (await login(s.page, who.lock)).mfa_token;
  const enrolled = await call(s.page, (c, t) => c.mfa.enroll({ mfaToken: t, factorType: "otp" }), first);
  const app = new Authenticator(enrolled.ok.secret, enrolled.ok.barcodeUri);
  assert.ok((await call(s.page, (c, t, otp) => c.mfa.verify({ mfaToken: t, otp }), first, await app.fresh())).ok);
  const mfaToken = (await login(s.page, who.lock)).mfa_token;
  for (let i = 0; i < 10; i++) {
    fails(await call(s.page, (c, t, otp) => c.mfa.verify({ mfaToken: t, otp }), mfaToken, app.wrong()), VERIFY_ERROR, "invalid_grant", "Invalid otp_code.");
  }
  const locked = await call(s.page, (c, t, otp) => c.mfa.verify({ mfaToken: t, otp }), mfaToken, await app.fresh());
  fails(locked, VERIFY_ERROR, "too_many_attempts");
});
