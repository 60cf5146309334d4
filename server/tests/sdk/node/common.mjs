// Shared by the Node SDK tests: the servers scripts/sdk-test.sh started,
// TOTP codes computed from an enrollment's secret, and the result table.
//
// Nothing here talks to the server except `bridge*`, which the tests use
// only for a step the SDK under test has no call for (each such step is
// recorded as "n/a" for that SDK, never as a pass).
import { test } from "node:test";
import { createHmac } from "node:crypto";
import { appendFileSync, readFileSync } from "node:fs";

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the SDK tests through scripts/sdk-test.sh`);
  return value;
}

/** What scripts/sdk-test.sh passes to every test. */
export const env = {
  /** The main server: `host:port` (SDKs build `https://${domain}`). */
  domain: need("SDK_DOMAIN"),
  /** Each SDK's server with a 3-second mfa_token lifetime: `sdk=host:port …`. */
  shortDomains: Object.fromEntries(need("SDK_SHORT_DOMAINS").split(" ").map((pair) => pair.split("="))),
  clientId: need("SDK_CLIENT_ID"),
  clientSecret: need("SDK_CLIENT_SECRET"),
  publicClientId: need("SDK_PUBLIC_CLIENT_ID"),
  password: need("SDK_PASSWORD"),
  mfaTokenTtl: Number(need("SDK_MFA_TOKEN_TTL")),
  results: need("SDK_RESULTS"),
};
env.issuer = `https://${env.domain}/`;
env.shortIssuer = `https://${env.shortDomain}/`;
env.mfaAudience = `${env.issuer}mfa/`;
/** The short-lived-mfa_token server of one SDK. */
export function shortServer(sdk) {
  const domain = env.shortDomains[sdk];
  if (!domain) throw new Error(`no short-TTL server for ${sdk}`);
  return { domain, issuer: `https://${domain}/`, mfaAudience: `https://${domain}/mfa/` };
}
env.shortMfaAudience = `${env.shortIssuer}mfa/`;
/** The scope every login of the suite asks for. */
env.scope = "openid profile email offline_access enroll read:authenticators remove:authenticators";

/** The installed version of an npm package (from its package.json). */
export function version(name) {
  const path = new URL(`./node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(path, "utf8")).version;
}

/** The users scripts/sdk-test.sh provisioned for one SDK. */
export function users(sdk) {
  return { main: `${sdk}-main`, lock: `${sdk}-lock`, expiry: `${sdk}-expiry`};
}

// --- TOTP (RFC 6238) from the otpauth URI the server answered -------------

function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/=+$/, "").toUpperCase()) {
    const index = alphabet.indexOf(ch);
    if (index < 0) throw new Error("secret is not base32");
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** An authenticator app over `secret` and the parameters of `barcodeUri`. */
export class Authenticator {
  constructor(secret, barcodeUri) {
    const uri = new URL(barcodeUri);
    if (uri.protocol !== "otpauth:") throw new Error(`not an otpauth URI: ${barcodeUri}`);
    if (uri.searchParams.get("secret") !== secret) throw new Error("barcode_uri and secret disagree");
    this.key = base32Decode(secret);
    this.digits = Number(uri.searchParams.get("digits") ?? 6);
    this.period = Number(uri.searchParams.get("period") ?? 30);
    this.algorithm = (uri.searchParams.get("algorithm") ?? "SHA1").toLowerCase().replace("sha", "sha");
    this.lastStep = -1;
  }
  step() {
    return Math.floor(Date.now() / 1000 / this.period);
  }
  code(step) {
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64BE(BigInt(step));
    const mac = createHmac(this.algorithm, this.key).update(counter).digest();
    const offset = mac[mac.length - 1] & 0x0f;
    const number = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** this.digits;
    return String(number).padStart(this.digits, "0");
  }
  /**
   * A code the server has not accepted yet: the current step's, or the next
   * one's (the server's window is one step either side) when the current
   * step was used; waits when even that was used.
   */
  async fresh() {
    for (;;) {
      const now = this.step();
      const step = Math.max(now, this.lastStep + 1);
      if (step <= now + 1) {
        this.lastStep = step;
        return this.code(step);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  /** A well-formed code of no step near now. */
  wrong() {
    const now = this.step();
    const near = new Set([-2, -1, 0, 1, 2].map((d) => this.code(now + d)));
    for (let step = now + 1000; ; step++) {
      const code = this.code(step);
      if (!near.has(code)) return code;
    }
  }
}

// --- results ---------------------------------------------------------------

/**
 * One step of one SDK's flow, as a node:test test whose outcome also goes to
 * the suite's result table. Steps of one file run in order; a failed step
 * fails the steps that need its result. `kind` "generic": the step goes
 * through the SDK's generic request call, not one made for it.
 */
export function step(sdk, sdkVersion, call, fn, kind = "pass") {
  test(`${sdk} ${sdkVersion}: ${call}`, async (t) => {
    try {
      await fn(t);
    } catch (error) {
      appendFileSync(env.results, JSON.stringify({ sdk, version: sdkVersion, call, status: "fail", detail: String(error?.message ?? error) }) + "\n");
      throw error;
    }
    appendFileSync(env.results, JSON.stringify({ sdk, version: sdkVersion, call, status: kind }) + "\n");
  });
}

/** A step this SDK has no public call for: recorded as n/a with the reason. */
export function notAvailable(sdk, sdkVersion, call, reason) {
  appendFileSync(env.results, JSON.stringify({ sdk, version: sdkVersion, call, status: "n/a", detail: reason }) + "\n");
}

// --- the bridge: plain HTTP for a step the SDK has no call for --------------

/** POST /oauth/token with a form body, client authentication in the body. */
export async function bridgeToken(domain, params) {
  const body = new URLSearchParams({ client_id: env.clientId, client_secret: env.clientSecret, ...params });
  const response = await fetch(`https://${domain}/oauth/token`, { method: "POST", body });
  return { status: response.status, body: await response.json() };
}

/** A JSON call to the MFA API with a Bearer token. */
export async function bridgeMfa(domain, method, path, token, json) {
  const response = await fetch(`https://${domain}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(json ? { "content-type": "application/json" } : {}) },
    body: json ? JSON.stringify(json) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** Decodes a JWT's payload (no verification: for reading claims the SDK already checked). */
export function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
