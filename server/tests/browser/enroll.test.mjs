// The demo page of `mfa-server serve --demo` in a real browser: Debian's
// headless Chromium driven by playwright-core, against the real binary that
// scripts/browser-test.sh started (on a free loopback port, its own
// temporary database, `--throttle-attempts 3 --login-max-failures 3
// --login-block-secs 7200`).
//
// The whole path a person takes: a wrong password; the first sign-in's
// enrollment, with the QR code decoded back from the page's screenshot by
// zbarimg and compared with the barcode_uri the API returned, the grouped
// secret, a wrong first code, the right one (oathtool, from the decoded
// secret) and the recovery code shown once; a later sign-in with a replayed
// code, then the next one; "use a recovery code" with a wrong one, the right
// one and its replacement shown once; the remove button; a sign-in with only
// the recovery code left (the used one refused) and setting up an app again;
// a lockout that says when to retry; a blocked login that says how long
// the block lasts. Throughout: no request leaves the
// server's origin, and no Content-Security-Policy violation or script error.
//
// Also `mfa-server qr`: the terminal drawing of the same URI, decoded back.
//
// Environment (set by scripts/browser-test.sh): BASE_URL, DEMO_PASSWORD,
// SECOND_USER, SECOND_PASSWORD, ARTIFACTS (where the screenshots go),
// CHROMIUM (the browser's path), BIN (the mfa-server binary).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} must be set (run scripts/browser-test.sh)`);
  return value;
};
const BASE_URL = env('BASE_URL').replace(/\/$/, '');
const ARTIFACTS = env('ARTIFACTS');
mkdirSync(ARTIFACTS, { recursive: true });

// --- codes and QR codes, from tools independent of the server ----------------

// oathtool's code for `secret` at unix time `t`.
function totp(secret, t) {
  return execFileSync('oathtool', ['--totp', '-b', secret, '-N', `@${Math.floor(t)}`], { encoding: 'utf8' }).trim();
}
const now = () => Date.now() / 1000;

// A well-formed code that none of the steps around now accepts.
function wrongCode(secret) {
  const t = now();
  const window = new Set([-60, -30, 0, 30, 60].map((d) => totp(secret, t + d)));
  for (let n = 0; ; n += 1) {
    const candidate = String(n).padStart(6, '0');
    if (!window.has(candidate)) return candidate;
  }
}

// What zbarimg reads in a PNG: the QR codes' texts.
function decodeQr(file) {
  return execFileSync('zbarimg', ['--quiet', '--raw', file], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
}

// The half blocks `mfa-server qr` prints, as a PBM image (8 pixels a
// module): by default a block is a light module (light text on a dark
// terminal), with --light-background a dark one.
function halfBlocksToPbm(text, light) {
  const halves = { ' ': [0, 0], '\u2580': [1, 0], '\u2584': [0, 1], '\u2588': [1, 1] };
  const rows = [];
  for (const line of text.replace(/\n+$/, '').split('\n')) {
    const top = [];
    const bottom = [];
    for (const c of line) {
      assert.ok(c in halves, `unexpected character ${JSON.stringify(c)}`);
      const [t, b] = halves[c];
      top.push(t);
      bottom.push(b);
    }
    rows.push(top, bottom);
  }
  const scale = 8;
  const width = Math.max(...rows.map((r) => r.length));
  const out = [`P1\n${width * scale} ${rows.length * scale}\n`];
  for (const row of rows) {
    // PBM: 1 is black. A block is dark exactly when drawing for a light background.
    const line = row.flatMap((v) => Array(scale).fill((v === 1) === light ? '1' : '0')).join(' ');
    for (let i = 0; i < scale; i += 1) out.push(`${line}\n`);
  }
  return out.join('');
}

function secretOf(uri) {
  return new URL(uri).searchParams.get('secret');
}

// --- the browser -----------------------------------------------------------

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

test('a person signs in, enrolls a phone, recovers and manages authenticators in the demo page', async (t) => {
  // playwright-core gives the browser a fresh, empty --user-data-dir.
  const browser = await chromium.launch({ executablePath: env('CHROMIUM'), args: FLAGS, headless: true });
  const requests = [];
  const problems = [];
  const associations = [];
  const tokenAnswers = [];
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
    // A step that does not come fails in 10 s, not Playwright's 30.
    context.setDefaultTimeout(10000);
    context.on('request', (r) => requests.push(r.url()));
    const page = await context.newPage();
    page.on('console', (m) => {
      // Chromium logs every 4xx answer of fetch() as "Failed to load
      // resource": the page asks for those on purpose.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
      if (/Content.Security.Policy/i.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('response', async (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/mfa/associate' && r.status() === 200) associations.push(await r.json());
      if (url.pathname === '/oauth/token') tokenAnswers.push({ status: r.status(), retryAfter: r.headers()['retry-after'] });
    });

    const shot = async (name, locator) => {
      const file = path.join(ARTIFACTS, name);
      await (locator || page).screenshot({ path: file, ...(locator ? {} : { fullPage: true }) });
      return file;
    };
    const visible = (id) => page.locator(`#${id}`).waitFor({ state: 'visible' });
    const text = async (id) => (await page.locator(`#${id}`).textContent()).trim();
    // Waits for the error line to show a sentence containing `expected`.
    const message = async (expected) => {
      await page.waitForFunction(([s]) => {
        const el = document.getElementById('message');
        return !el.hidden && el.textContent.includes(s);
      }, [expected]);
      return text('message');
    };
    const signIn = async (username, password) => {
      await visible('step-sign-in');
      await page.fill('#username', username);
      await page.fill('#password', password);
      await page.click('#sign-in-button');
    };
    const signOut = async () => {
      await page.click('#step-signed-in [data-action=sign-out]');
      await visible('step-sign-in');
    };
    const claims = async () => JSON.parse(await text('claims'));
    const authenticators = () => page.$$eval('#authenticators li', (rows) => rows.map((r) => ({
      type: r.dataset.type, state: r.querySelector('.state').textContent,
    })));

    await page.goto(`${BASE_URL}/`);
    await page.waitForSelector('body[data-ready=yes]');
    await shot('01-sign-in.png');

    const config = await (await page.request.get(`${BASE_URL}/demo/config.json`)).json();
    let recoveryCode;
    let secret;
    let usedCode;

    await t.test('a wrong password is a sentence, not an error code', async () => {
      await signIn('demo', 'not the password');
      assert.equal(await message('password'), 'The username or the password is wrong.');
      await visible('step-sign-in');
    });

    await t.test('first sign-in: QR code, secret, first code, recovery code shown once', async () => {
      await signIn('demo', env('DEMO_PASSWORD'));
      await visible('step-enroll');
      await page.waitForFunction(() => {
        const img = document.getElementById('qr');
        return img.complete && img.naturalWidth > 0;
      });
      assert.equal(associations.length, 1);
      const api = associations[0];
      // The QR code, decoded from the page's screenshot, is the API's barcode_uri.
      const page2 = await shot('02-enroll.png');
      assert.deepEqual(decodeQr(page2), [api.barcode_uri]);
      assert.deepEqual(decodeQr(await shot('02-enroll-qr.png', page.locator('#qr'))), [api.barcode_uri]);
      assert.match(await page.locator('#qr').getAttribute('src'), /^blob:/);
      secret = secretOf(decodeQr(page2)[0]);
      assert.equal(secret, api.secret);
      // The secret for manual entry, in groups of four.
      const grouped = await text('secret');
      assert.match(grouped, /^([A-Z2-7]{4} )*[A-Z2-7]{1,4}$/);
      assert.equal(grouped.replace(/ /g, ''), secret);
      assert.equal(await page.locator('#otpauth-link').getAttribute('href'), api.barcode_uri);

      // A wrong first code: a sentence, and the enrollment waits.
      await page.fill('#enroll-otp', wrongCode(secret));
      await page.click('#enroll-form button[type=submit]');
      assert.match(await message('not right'), /^That code is not right, or it was already used\./);
      await visible('step-enroll');

      usedCode = totp(secret, now());
      await page.fill('#enroll-otp', usedCode);
      await page.click('#enroll-form button[type=submit]');
      await visible('step-save-recovery');
      recoveryCode = await text('recovery-code-value');
      assert.equal(recoveryCode, api.recovery_codes[0]);
      assert.match(await text('step-save-recovery'), /Save this recovery code now: it is shown only once\./);
      assert.equal(await page.locator('#recovery-continue').isDisabled(), true);
      await shot('03-recovery-code.png');
      await page.check('#recovery-saved');
      await page.click('#recovery-continue');
      await visible('step-signed-in');
      assert.equal(await text('recovery-code-value'), '', 'the recovery code leaves the page');
      const c = await claims();
      assert.equal(c.aud, config.audience);
      assert.deepEqual(c.amr, ['pwd', 'otp']);
      assert.equal(c.azp, 'demo-page');
      assert.match(c.scope, /read:authenticators/);
      assert.equal(await text('who'), 'demo');
      await page.waitForSelector('#authenticators li');
      const list = (await authenticators()).sort((a, b) => a.type.localeCompare(b.type));
      assert.deepEqual(list, [{ type: 'otp', state: 'active' }, { type: 'recovery-code', state: 'active' }]);
      await shot('04-signed-in.png');
      await signOut();
    });

    await t.test('later sign-in: a replayed code is refused, the next one accepted', async () => {
      await signIn('demo', env('DEMO_PASSWORD'));
      await visible('step-otp');
      await page.fill('#otp', usedCode);
      await page.click('#otp-form button[type=submit]');
      assert.match(await message('already used'), /^That code is not right, or it was already used\./);
      await visible('step-otp');
      // The next step's code (inside the window, after the one used).
      await page.fill('#otp', totp(secret, now() + 30));
      await page.click('#otp-form button[type=submit]');
      await visible('step-signed-in');
      assert.deepEqual((await claims()).amr, ['pwd', 'otp']);
      await signOut();
    });

    let replacement;
    await t.test('use a recovery code: a wrong one, then the right one and its replacement, shown once', async () => {
      await signIn('demo', env('DEMO_PASSWORD'));
      await visible('step-otp');
      await page.click('#use-recovery');
      await visible('step-recovery');
      await page.fill('#recovery-code', 'A'.repeat(24));
      await page.click('#recovery-form button[type=submit]');
      assert.equal(await message('recovery code'), 'That recovery code is not right, or it was already used.');
      await page.fill('#recovery-code', recoveryCode);
      await page.click('#recovery-form button[type=submit]');
      await visible('step-save-recovery');
      replacement = await text('recovery-code-value');
      assert.match(replacement, /^[A-Z0-9]{24}$/);
      assert.notEqual(replacement, recoveryCode);
      assert.match(await text('notice'), /This is its replacement/);
      await shot('05-replacement-code.png');
      await page.check('#recovery-saved');
      await page.click('#recovery-continue');
      await visible('step-signed-in');
      assert.deepEqual((await claims()).amr, ['pwd', 'recovery-code']);
    });

    await t.test('the remove button removes the authenticator app', async () => {
      await page.waitForSelector('#authenticators li[data-type=otp]');
      const remove = page.locator('#authenticators li[data-type=otp] .remove');
      await remove.click();
      assert.equal((await remove.textContent()).trim(), 'Click again to remove');
      await remove.click();
      await page.waitForSelector('#authenticators li[data-type=otp]', { state: 'detached' });
      assert.deepEqual((await authenticators()).map((a) => a.type), ['recovery-code']);
      assert.match(await text('notice'), /authenticator app was removed/);
      await visible('no-otp');
      await shot('06-removed.png');
      await signOut();
    });

    await t.test('with only the recovery code left: the used code is refused, the new one works, an app is set up again', async () => {
      await signIn('demo', env('DEMO_PASSWORD'));
      await visible('step-recovery');
      await visible('recovery-only');
      await page.fill('#recovery-code', recoveryCode);
      await page.click('#recovery-form button[type=submit]');
      assert.equal(await message('recovery code'), 'That recovery code is not right, or it was already used.');
      await page.fill('#recovery-code', replacement);
      await page.click('#recovery-form button[type=submit]');
      await visible('step-save-recovery');
      await page.check('#recovery-saved');
      await page.click('#recovery-continue');
      await visible('step-signed-in');
      await visible('no-otp');
      await page.click('#add-otp');
      await visible('step-enroll');
      await page.waitForFunction(() => document.getElementById('qr').naturalWidth > 0);
      assert.equal(associations.length, 2);
      const api = associations[1];
      const decoded = decodeQr(await shot('07-enroll-again.png'));
      assert.deepEqual(decoded, [api.barcode_uri]);
      assert.equal(api.recovery_codes, undefined, 'the active recovery code stays');
      const again = secretOf(decoded[0]);
      assert.notEqual(again, secret);
      await page.fill('#enroll-otp', totp(again, now()));
      await page.click('#enroll-form button[type=submit]');
      await visible('step-signed-in');
      assert.match(await text('notice'), /Your recovery code stays/);
      await page.waitForSelector('#authenticators li[data-type=otp]');
      assert.equal((await authenticators()).find((a) => a.type === 'otp').state, 'active');
      await signOut();
    });

    await t.test('a lockout says when to retry', async () => {
      await signIn(env('SECOND_USER'), env('SECOND_PASSWORD'));
      await visible('step-enroll');
      await page.waitForFunction(() => document.getElementById('qr').naturalWidth > 0);
      const second = associations[associations.length - 1].secret;
      const before = tokenAnswers.length;
      // --throttle-attempts 3: three wrong codes, then the bucket is empty.
      for (let i = 0; i < 3; i += 1) {
        await page.fill('#enroll-otp', wrongCode(second));
        await page.click('#enroll-form button[type=submit]');
        await message('not right');
      }
      await page.fill('#enroll-otp', totp(second, now()));
      await page.click('#enroll-form button[type=submit]');
      const said = await message('Too many wrong codes');
      const answers = tokenAnswers.slice(before);
      assert.deepEqual(answers.map((a) => a.status), [400, 400, 400, 429]);
      const retry = Number(answers[3].retryAfter);
      assert.ok(retry > 0, `Retry-After ${answers[3].retryAfter}`);
      const amount = retry < 90 ? `${retry} seconds` : `${Math.ceil(retry / 60)} minutes`;
      assert.match(said, new RegExp(`^Too many wrong codes\\. .*try again in ${amount}, at .+\\.$`));
      await visible('step-enroll');
      await shot('08-lockout.png');
      await page.click('#step-enroll [data-action=sign-out]');
    });

    await t.test('a blocked login says how long the block lasts', async () => {
      // --login-max-failures 3 --login-block-secs 7200: three wrong passwords
      // block this user from this address, for two hours after the last one.
      for (let i = 0; i < 3; i += 1) {
        await signIn(env('SECOND_USER'), 'a wrong password');
        await message('password is wrong');
      }
      await signIn(env('SECOND_USER'), env('SECOND_PASSWORD'));
      assert.equal(await message('blocked'),
        'This account is blocked here after too many failed sign-ins. The block ends 2 hours after the last '
        + 'failed attempt, or sooner if an administrator lifts it (mfa-server users unblock) or the password is changed.');
      assert.equal(tokenAnswers[tokenAnswers.length - 1].status, 429);
      await visible('step-sign-in');
    });

    await t.test('`mfa-server qr` prints the same URI as a QR code a decoder reads back', async () => {
      const uri = associations[0].barcode_uri;
      for (const light of [false, true]) {
        // The URI goes on standard input, not on the command line.
        const args = light ? ['qr', '--light-background'] : ['qr'];
        const drawn = execFileSync(env('BIN'), args, { input: `${uri}\n`, encoding: 'utf8' });
        const file = path.join(ARTIFACTS, `terminal-qr${light ? '-light' : ''}.pbm`);
        writeFileSync(file, halfBlocksToPbm(drawn, light));
        assert.deepEqual(decodeQr(file), [uri]);
      }
    });

    await t.test('the page asked nothing of any other origin, and broke no rule of its CSP', async () => {
      assert.ok(requests.length > 20, `${requests.length} requests`);
      const foreign = requests.filter((u) => !u.startsWith(`${BASE_URL}/`) && !u.startsWith('blob:'));
      assert.deepEqual(foreign, []);
      assert.deepEqual(problems, []);
    });
  } finally {
    await browser.close();
  }
});
