"""Shared by the Python SDK tests: the servers scripts/sdk-test.sh started,
TOTP codes computed from an enrollment's secret, and the result table.

Nothing here talks to the server except `bridge_*`, used only for a step the
SDK under test has no call for (recorded as "n/a" for that SDK).
"""
import base64
import functools
import hashlib
import hmac
import importlib.metadata
import json
import os
import struct
import time
from urllib.parse import parse_qs, urlparse

import httpx


def _need(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the SDK tests through scripts/sdk-test.sh")
    return value


DOMAIN = _need("SDK_DOMAIN")
SHORT_DOMAINS = dict(pair.split("=") for pair in _need("SDK_SHORT_DOMAINS").split(" "))
CLIENT_ID = _need("SDK_CLIENT_ID")
CLIENT_SECRET = _need("SDK_CLIENT_SECRET")
PASSWORD = _need("SDK_PASSWORD")
MFA_TOKEN_TTL = int(_need("SDK_MFA_TOKEN_TTL"))
RESULTS = _need("SDK_RESULTS")
CA = _need("SDK_CA")
ISSUER = f"https://{DOMAIN}/"
MFA_AUDIENCE = f"{ISSUER}mfa/"
SCOPE = "openid profile email offline_access enroll read:authenticators remove:authenticators"
CONNECTION = "Username-Password-Authentication"


def short_server(sdk):
    """(domain, MFA API audience) of the SDK's server with a 3-second mfa_token lifetime."""
    domain = SHORT_DOMAINS[sdk]
    return domain, f"https://{domain}/mfa/"


def version(distribution):
    return importlib.metadata.version(distribution)


def users(sdk):
    return {"main": f"{sdk}-main", "lock": f"{sdk}-lock", "expiry": f"{sdk}-expiry"}


class Authenticator:
    """An authenticator app over an enrollment's secret and otpauth URI."""

    def __init__(self, secret, barcode_uri):
        uri = urlparse(barcode_uri)
        assert uri.scheme == "otpauth", barcode_uri
        query = {k: v[0] for k, v in parse_qs(uri.query).items()}
        assert query["secret"] == secret, "barcode_uri and secret disagree"
        self.key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
        self.digits = int(query.get("digits", 6))
        self.period = int(query.get("period", 30))
        self.digest = getattr(hashlib, query.get("algorithm", "SHA1").lower())
        self.last_step = -1

    def step(self):
        return int(time.time()) // self.period

    def code(self, step):
        mac = hmac.new(self.key, struct.pack(">Q", step), self.digest).digest()
        offset = mac[-1] & 0x0F
        number = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10 ** self.digits
        return str(number).zfill(self.digits)

    def fresh(self):
        """A code not accepted yet: this step's, or the next (the window is one step either side)."""
        while True:
            now = self.step()
            step = max(now, self.last_step + 1)
            if step <= now + 1:
                self.last_step = step
                return self.code(step)
            time.sleep(1)

    def wrong(self):
        now = self.step()
        near = {self.code(now + d) for d in range(-2, 3)}
        step = now + 1000
        while self.code(step) in near:
            step += 1
        return self.code(step)


def _record(sdk, sdk_version, call, status, detail=None):
    with open(RESULTS, "a", encoding="utf-8") as out:
        row = {"sdk": sdk, "version": sdk_version, "call": call, "status": status}
        if detail:
            row["detail"] = detail
        out.write(json.dumps(row) + "\n")


def step(sdk, sdk_version, call, generic=False):
    """Marks a test as one step of an SDK's flow, recorded in the result table.

    `generic`: the step goes through the SDK's generic request client, not a
    call made for it (the table shows "pass (generic)")."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                _record(sdk, sdk_version, call, "fail", str(error)[:300])
                raise
            _record(sdk, sdk_version, call, "generic" if generic else "pass")
            return result

        return run

    return wrap


def not_available(sdk, sdk_version, call, reason):
    _record(sdk, sdk_version, call, "n/a", reason)


def bridge_password(domain, username, audience, scope=SCOPE):
    """The password grant by plain HTTP: for an SDK that has no password login."""
    response = httpx.post(
        f"https://{domain}/oauth/token",
        data={"grant_type": "password", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
              "username": username, "password": PASSWORD, "audience": audience, "scope": scope},
        verify=CA,
    )
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["error"] == "mfa_required", body
    return body


def claims(jwt):
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
