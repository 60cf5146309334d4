// The mfa-server demo page: sign in, enroll an authenticator app, use a
// recovery code, list and remove authenticators, all through the server's
// own MFA API (seed 001, "Enroll and Challenge OTP Authenticators"). It
// talks to this origin only; tokens, the secret and recovery codes live in
// this closure's memory, never in storage, and never in innerHTML.
'use strict';

(() => {
  const MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp';
  const MFA_RECOVERY_CODE = 'http://auth0.com/oauth/grant-type/mfa-recovery-code';
  const STEPS = ['step-sign-in', 'step-enroll', 'step-save-recovery', 'step-otp', 'step-recovery', 'step-signed-in'];

  const $ = (id) => document.getElementById(id);

  // What this sign-in holds; forgotten on sign-out.
  let config = null;
  let session = {};

  // --- showing things -------------------------------------------------

  function show(step) {
    for (const id of STEPS) $(id).hidden = id !== step;
    const first = $(step).querySelector('input:not([type=checkbox]), button');
    if (first) first.focus();
  }

  function say(id, text) {
    const el = $(id);
    el.textContent = text || '';
    el.hidden = !text;
  }
  const error = (text) => { say('message', text); if (text) say('notice', ''); };
  const notice = (text) => say('notice', text);

  // "6 minutes", "30 days" for a number of seconds.
  function duration(secs) {
    if (secs < 90) return `${secs} seconds`;
    const mins = Math.ceil(secs / 60);
    if (mins < 90) return `${mins} minutes`;
    const hours = Math.ceil(mins / 60);
    if (hours < 48) return `${hours} hours`;
    return `${Math.ceil(hours / 24)} days`;
  }

  // "in 6 minutes, at 14:03:10" from a Retry-After in seconds.
  function when(retryAfter) {
    const secs = Number.parseInt(retryAfter || '', 10);
    if (!Number.isFinite(secs) || secs < 0) return 'later';
    const at = new Date(Date.now() + secs * 1000);
    const time = secs < 86400 ? at.toLocaleTimeString() : at.toLocaleString();
    return `in ${duration(secs)}, at ${time}`;
  }

  // The sentence for a refused answer: the table from /demo/config.json,
  // looked up as server/src/demo/messages.rs describes.
  function explain(answer) {
    if (answer.status === 0) return 'The server cannot be reached. Check that it is running, then try again.';
    const body = answer.body || {};
    const code = String(body.error || '');
    const description = String(body.error_description || '');
    const table = (config && config.messages) || [];
    const mine = table.filter((m) => m.error === code);
    const found = mine.find((m) => m.match === 'exact' && m.description === description)
      || mine.find((m) => m.match === 'prefix' && description.startsWith(m.description))
      || mine.find((m) => m.match === 'any_description');
    const sentence = found ? found.sentence
      : (config ? config.generic : 'The server refused this: {description}')
        .replace('{description}', description || `HTTP ${answer.status}`);
    const block = config && Number.isFinite(config.login_block_secs) ? duration(config.login_block_secs) : 'some time';
    return sentence.replace('{retry}', when(answer.retryAfter)).replace('{block}', block);
  }

  // --- the API ---------------------------------------------------------

  // One request to this server; never throws: status 0 is "unreachable".
  async function call(method, path, { form, json, bearer, raw } = {}) {
    const headers = {};
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form);
    } else if (json) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(json);
    }
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    let response;
    try {
      response = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit', redirect: 'error' });
    } catch (e) {
      return { status: 0, body: null, retryAfter: null };
    }
    const answer = { status: response.status, retryAfter: response.headers.get('retry-after'), body: null };
    if (raw && response.ok) {
      answer.blob = await response.blob();
      return answer;
    }
    const text = await response.text();
    try { answer.body = text ? JSON.parse(text) : null; } catch (e) { answer.body = null; }
    return answer;
  }

  const token = (form) => call('POST', '/oauth/token', { form: { client_id: config.client_id, ...form } });

  // --- the steps -------------------------------------------------------

  async function signIn(username, password) {
    const answer = await token({
      grant_type: 'password', username, password, audience: config.audience, scope: config.scope,
    });
    if (answer.status !== 403 || !answer.body || answer.body.error !== 'mfa_required') {
      if (answer.status === 200) return signedIn(answer.body, 'password only');
      return error(explain(answer));
    }
    session = { username, mfaToken: answer.body.mfa_token };
    const requirements = answer.body.mfa_requirements || {};
    const challenge = (requirements.challenge || []).map((c) => c.type);
    if (requirements.enroll) return enroll(session.mfaToken);
    if (challenge.includes('otp')) {
      // The seed's challenge request: which challenge the user answers.
      const asked = await call('POST', '/mfa/challenge', {
        json: { client_id: config.client_id, challenge_type: 'otp', mfa_token: session.mfaToken },
      });
      if (asked.status !== 200) return error(explain(asked));
      return show('step-otp');
    }
    if (challenge.includes('recovery-code')) {
      $('recovery-only').hidden = false;
      $('use-otp').hidden = true;
      return show('step-recovery');
    }
    return error(explain({ status: 400, body: { error: 'unsupported_challenge_type' } }));
  }

  // /mfa/associate with the mfa_token (first enrollment) or an access token
  // with `enroll` (setting up an app again), then the QR code of the
  // barcode_uri, drawn by this server from the URI just received.
  async function enroll(bearer) {
    const answer = await call('POST', '/mfa/associate', { bearer, json: { authenticator_types: ['otp'] } });
    if (answer.status !== 200) return error(explain(answer));
    const { secret, barcode_uri: uri, recovery_codes: codes } = answer.body;
    session.newRecoveryCode = codes && codes.length ? codes[0] : null;
    const qr = await call('POST', '/demo/qr', { json: { barcode_uri: uri }, raw: true });
    if (qr.status !== 200) return error(explain(qr));
    forgetQr();
    session.qrUrl = URL.createObjectURL(qr.blob);
    $('qr').src = session.qrUrl;
    $('secret').textContent = secret.match(/.{1,4}/g).join(' ');
    $('otpauth-link').href = uri;
    error('');
    show('step-enroll');
  }

  function forgetQr() {
    if (session.qrUrl) URL.revokeObjectURL(session.qrUrl);
    session.qrUrl = null;
    $('qr').removeAttribute('src');
    $('secret').textContent = '';
    $('otpauth-link').href = '#';
  }

  async function confirmEnrollment(otp) {
    const answer = await token({ grant_type: MFA_OTP, mfa_token: session.mfaToken, otp });
    if (answer.status !== 200) return error(explain(answer));
    forgetQr();
    const code = session.newRecoveryCode;
    session.newRecoveryCode = null;
    if (code) return saveRecoveryCode(code, answer.body, 'password and authenticator app');
    notice('Your authenticator app is set up. Your recovery code stays the one you saved before.');
    return signedIn(answer.body, 'password and authenticator app');
  }

  async function verifyOtp(otp) {
    const answer = await token({ grant_type: MFA_OTP, mfa_token: session.mfaToken, otp });
    if (answer.status !== 200) return error(explain(answer));
    return signedIn(answer.body, 'password and authenticator app');
  }

  async function verifyRecoveryCode(code) {
    const answer = await token({ grant_type: MFA_RECOVERY_CODE, mfa_token: session.mfaToken, recovery_code: code });
    if (answer.status !== 200) return error(explain(answer));
    if (answer.body.recovery_code) {
      return saveRecoveryCode(answer.body.recovery_code, answer.body, 'password and recovery code',
        'Your recovery code is now used up. This is its replacement.');
    }
    return signedIn(answer.body, 'password and recovery code');
  }

  // Shows a recovery code once; it leaves the page on Continue.
  function saveRecoveryCode(code, tokens, how, why) {
    $('recovery-code-value').textContent = code;
    $('recovery-saved').checked = false;
    $('recovery-continue').disabled = true;
    session.pending = { tokens, how };
    error('');
    notice(why || '');
    show('step-save-recovery');
  }

  function claimsOf(jwt) {
    try {
      const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const bytes = Uint8Array.from(atob(part.padEnd(Math.ceil(part.length / 4) * 4, '=')), (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      return null;
    }
  }

  async function signedIn(tokens, how) {
    session.accessToken = tokens.access_token;
    const claims = claimsOf(tokens.access_token) || {};
    const id = tokens.id_token ? claimsOf(tokens.id_token) || {} : {};
    $('who').textContent = id.name || session.username || claims.sub || '';
    $('how').textContent = how;
    $('claims').textContent = JSON.stringify(claims, null, 2);
    error('');
    show('step-signed-in');
    await listAuthenticators();
  }

  async function listAuthenticators() {
    const answer = await call('GET', '/mfa/authenticators', { bearer: session.accessToken });
    const list = $('authenticators');
    list.replaceChildren();
    if (answer.status !== 200) return error(explain(answer));
    const names = { otp: 'Authenticator app', 'recovery-code': 'Recovery code' };
    for (const a of answer.body) {
      const row = $('authenticator-row').content.firstElementChild.cloneNode(true);
      row.dataset.id = a.id;
      row.dataset.type = a.authenticator_type;
      row.querySelector('.kind').textContent = names[a.authenticator_type] || a.authenticator_type;
      row.querySelector('.id').textContent = a.id;
      row.querySelector('.state').textContent = a.active ? 'active' : 'not confirmed';
      const remove = row.querySelector('.remove');
      remove.addEventListener('click', () => removeAuthenticator(a, remove));
      list.append(row);
    }
    $('no-otp').hidden = answer.body.some((a) => a.authenticator_type === 'otp' && a.active);
  }

  // Two clicks: the first asks, the second removes.
  async function removeAuthenticator(a, button) {
    if (button.dataset.armed !== 'yes') {
      button.dataset.armed = 'yes';
      button.textContent = 'Click again to remove';
      return;
    }
    button.disabled = true;
    const answer = await call('DELETE', `/mfa/authenticators/${encodeURIComponent(a.id)}`, { bearer: session.accessToken });
    if (answer.status !== 204) {
      button.disabled = false;
      return error(explain(answer));
    }
    notice(a.authenticator_type === 'otp'
      ? 'The authenticator app was removed. Until you set up another one, you sign in with your recovery code.'
      : 'The recovery code was removed.');
    await listAuthenticators();
  }

  function signOut() {
    forgetQr();
    session = {};
    for (const form of document.querySelectorAll('form')) form.reset();
    $('recovery-code-value').textContent = '';
    $('claims').textContent = '';
    $('authenticators').replaceChildren();
    $('recovery-only').hidden = true;
    $('use-otp').hidden = false;
    error('');
    notice('');
    show('step-sign-in');
  }

  // --- wiring ------------------------------------------------------------

  // A form's submit clears the last error and runs `action` with its
  // fields, the button disabled while the request runs (each action clears
  // the fields that hold secrets).
  function onSubmit(id, action) {
    const form = $(id);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      error('');
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      try {
        await action(new FormData(form));
      } finally {
        button.disabled = false;
      }
    });
  }

  function wire() {
    onSubmit('sign-in-form', async (f) => {
      const username = String(f.get('username') || '').trim();
      const password = String(f.get('password') || '');
      if (!username || !password) return error('Enter your username and your password.');
      $('password').value = '';
      return signIn(username, password);
    });
    const code = (f, name) => String(f.get(name) || '').replace(/\s+/g, '');
    onSubmit('enroll-form', async (f) => {
      $('enroll-otp').value = '';
      return confirmEnrollment(code(f, 'otp'));
    });
    onSubmit('otp-form', async (f) => {
      $('otp').value = '';
      return verifyOtp(code(f, 'otp'));
    });
    onSubmit('recovery-form', async (f) => {
      $('recovery-code').value = '';
      return verifyRecoveryCode(code(f, 'recovery_code'));
    });
    $('use-recovery').addEventListener('click', () => { error(''); show('step-recovery'); });
    $('use-otp').addEventListener('click', () => { error(''); show('step-otp'); });
    $('recovery-saved').addEventListener('change', (e) => { $('recovery-continue').disabled = !e.target.checked; });
    $('recovery-continue').addEventListener('click', () => {
      const { tokens, how } = session.pending || {};
      session.pending = null;
      $('recovery-code-value').textContent = '';
      notice('');
      if (tokens) signedIn(tokens, how);
    });
    $('add-otp').addEventListener('click', () => { error(''); notice(''); enroll(session.accessToken); });
    for (const button of document.querySelectorAll('[data-action=sign-out]')) button.addEventListener('click', signOut);
  }

  async function start() {
    const answer = await call('GET', '/demo/config.json');
    if (answer.status !== 200 || !answer.body) {
      $('sign-in-button').disabled = true;
      return error('The page cannot load its settings from the server. Reload the page.');
    }
    config = answer.body;
    wire();
    document.body.dataset.ready = 'yes';
    show('step-sign-in');
  }

  start();
})();
