// Cross-origin calls from a real browser (Debian's headless Chromium via
// playwright-core) to the mfa-server that scripts/browser-test.sh started
// with `--allowed-origin $CORS_ORIGIN`. The test serves an app page on that
// origin and on another loopback port (node's http server), opens it, and
// the page's `fetch` calls go to the real server, across origins, with the
// browser enforcing CORS.
//
// From the named origin: the password grant (a simple request) and a call
// with an `Authorization` header (preflighted) are readable, with the
// server's own JSON; the JWKS too. From an origin that is not named, the
// browser refuses to hand the page any answer.
//
// Environment (set by scripts/browser-test.sh): BASE_URL, DEMO_PASSWORD,
// CHROMIUM, CORS_ORIGIN (allowed), CORS_OTHER_ORIGIN (not allowed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} must be set (run scripts/browser-test.sh)`);
  return value;
};
const BASE_URL = env('BASE_URL').replace(/\/$/, '');
const ALLOWED = env('CORS_ORIGIN');
const OTHER = env('CORS_OTHER_ORIGIN');

// What a page on `origin` gets back from the server for each call.
async function callsFrom(browser, origin) {
  const { hostname, port } = new URL(origin);
  const app = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>app</title>');
  });
  await new Promise((resolve) => app.listen(Number(port), hostname, resolve));
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  assert.equal(await page.evaluate(() => location.origin), origin);
  // What the demo page itself would ask for (client, audience, scopes).
  const config = await (await fetch(`${BASE_URL}/demo/config.json`)).json();
  const results = await page.evaluate(async ({ base, password, config }) => {
    const attempt = async (url, init) => {
      try {
        const r = await fetch(url, init);
        return { status: r.status, body: await r.json(), nonce: r.headers.get('www-authenticate') };
      } catch (e) {
        return { failed: String(e) };
      }
    };
    return {
      password: await attempt(`${base}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'password', client_id: config.client_id, username: 'demo', password,
          audience: config.audience, scope: config.scope,
        }),
      }),
      authenticators: await attempt(`${base}/mfa/authenticators`, {
        headers: { authorization: 'Bearer not-a-token' },
      }),
      jwks: await attempt(`${base}/.well-known/jwks.json`),
    };
  }, { base: BASE_URL, password: env('DEMO_PASSWORD'), config });
  await page.close();
  await new Promise((resolve) => app.close(resolve));
  return results;
}

test('a named origin calls the API across origins; any other origin is refused by the browser', async () => {
  const browser = await chromium.launch({ executablePath: env('CHROMIUM'), args: ['--no-sandbox'] });
  try {
    const ok = await callsFrom(browser, ALLOWED);
    assert.equal(ok.password.status, 403, JSON.stringify(ok));
    assert.equal(ok.password.body.error, 'mfa_required');
    assert.match(ok.password.body.mfa_token, /\S/);
    // Preflighted (Authorization header): the server's own 401 reaches the page,
    // with its WWW-Authenticate exposed.
    assert.equal(ok.authenticators.status, 401, JSON.stringify(ok));
    assert.equal(ok.authenticators.body.error, 'invalid_token');
    assert.match(ok.authenticators.nonce ?? '', /Bearer/);
    assert.equal(ok.jwks.status, 200);
    assert.ok(Array.isArray(ok.jwks.body.keys) && ok.jwks.body.keys.length > 0);

    const refused = await callsFrom(browser, OTHER);
    for (const [name, r] of Object.entries(refused)) {
      assert.ok(r.failed, `${name} from ${OTHER} should be blocked: ${JSON.stringify(r)}`);
      assert.match(r.failed, /TypeError/);
    }
  } finally {
    await browser.close();
  }
});
