"""The negative cases with a Python JOSE library: joserfc (pinned in
requirements.txt) signs every client assertion and DPoP proof, against the
real mfa-server binary started by scripts/pkjwt-test.sh.

Each refused request is an mfa-otp grant carrying a code the server would
accept; after each, the test checks the exact error and that nothing
changed: the OTP authenticator's row (last accepted step, attempts) is
the same after each, and the same code is then accepted with a good
assertion (it was not consumed).

Environment: MFA_BIN, MFA_DB, MFA_BASE (the --issuer-url).
"""

import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings

from joserfc import jws, jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

warnings.simplefilter("ignore")  # joserfc warns on "none" and oct keys: both are the point

BIN = os.environ["MFA_BIN"]
DB = os.environ["MFA_DB"]
BASE = os.environ["MFA_BASE"]
TOKEN_URL = BASE + "oauth/token"
MFA_OTP = "http://auth0.com/oauth/grant-type/mfa-otp"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT = "py-rs256"
USER = "py-negative@example.com"
PASSWORD = "correct horse battery staple"
FAILURES = []


def cli(args, stdin=""):
    r = subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True)
    assert r.returncode == 0, f"{args}: {r.stdout}{r.stderr}"
    return r.stdout


def totp(secret, t):
    r = subprocess.run(["oathtool", "--totp", "--base32", f"--now=@{t}", secret], capture_output=True, text=True, check=True)
    return r.stdout.strip()


def post(url, fields=None, headers=None, body=None):
    data = body if body is not None else urllib.parse.urlencode(fields).encode()
    h = {"content-type": "application/x-www-form-urlencoded", **(headers or {})}
    req = urllib.request.Request(url, data=data, headers=h, method="POST")
    return send(req)


def send(req):
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"null"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), dict(e.headers)


def check(name, got, status, error, description=None):
    ok = got[0] == status and got[1].get("error") == error and (description is None or got[1].get("error_description") == description)
    shown = got[1] if got[0] >= 400 or not ok else {"token_type": got[1].get("token_type")}
    print(("ok" if ok else "FAIL") + f" - {name}: {got[0]} {shown}")
    if not ok:
        FAILURES.append(name)


key = RSAKey.generate_key(2048, parameters={"kid": "py-1"})
other = RSAKey.generate_key(2048, parameters={"kid": "py-1"})
public = key.as_dict(private=False)
tmp = tempfile.mkdtemp(prefix="pkjwt-py-")
with open(os.path.join(tmp, "jwks.json"), "w") as f:
    json.dump({"keys": [{**public, "kid": "py-1", "alg": "RS256"}]}, f)
cli(["add-client", CLIENT, "--db", DB, "--jwks", os.path.join(tmp, "jwks.json")])
cli(["add-user", USER, "--db", DB], PASSWORD + "\n")


def claims(**over):
    now = int(time.time())
    c = {"iss": CLIENT, "sub": CLIENT, "aud": TOKEN_URL, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def assertion(k=key, kid="py-1", alg="RS256", **over):
    header = {"alg": alg}
    if kid is not None:
        header["kid"] = kid
    return jwt.encode(header, claims(**over), k, algorithms=[alg])


def dpop_proof(k, htm="POST", htu=TOKEN_URL, **extra):
    header = {"alg": "ES256", "typ": "dpop+jwt", "jwk": k.as_dict(private=False)}
    c = {"htm": htm, "htu": htu, "iat": int(time.time()), "jti": str(uuid.uuid4()), **extra}
    return jwt.encode(header, c, k, algorithms=["ES256"])


def token_request(grant, a, extra=None, headers=None):
    fields = {"grant_type": grant, "client_assertion_type": JWT_BEARER, "client_assertion": a, **(extra or {})}
    return post(TOKEN_URL, fields, headers)


def login():
    got = token_request("password", assertion(), {"username": USER, "password": PASSWORD, "audience": BASE + "mfa/", "scope": "openid read:authenticators"})
    assert got[0] == 403 and got[1]["error"] == "mfa_required", got
    return got[1]["mfa_token"]


def otp_state():
    """The user's OTP authenticator as stored: last step and attempts."""
    con = sqlite3.connect(DB)
    try:
        return con.execute(
            "SELECT last_step, attempts_used, attempts_since FROM otp_authenticators WHERE user_id = ?",
            (f"auth0|{USER}",),
        ).fetchone()
    finally:
        con.close()


# Enroll.
mfa_token = login()
status, body, _ = post(BASE + "mfa/associate", headers={"authorization": f"Bearer {mfa_token}", "content-type": "application/json"},
                       body=json.dumps({"authenticator_types": ["otp"]}).encode())
assert status == 200, body
secret = body["secret"]
t = int(time.time())
got = token_request(MFA_OTP, assertion(), {"mfa_token": mfa_token, "otp": totp(secret, t)})
assert got[0] == 200, got

# The negative cases, each on the mfa-otp grant with the next step's code.
mfa_token = login()
code = totp(secret, t + 30)
otp = {"mfa_token": mfa_token, "otp": code}
spent = assertion()
got = token_request("password", spent, {"username": USER, "password": PASSWORD})
assert got[0] == 403, got
pem = key.as_pem(private=False)
now = int(time.time())
sig = assertion()
h, p, s = sig.split(".")
tampered_payload = jws.serialize_compact({"alg": "RS256"}, json.dumps(claims()).encode(), key).split(".")[1]
cases = [
    ("wrong aud", assertion(aud="https://evil.example.com/"),
     f"client_assertion aud must contain the issuer URL ({BASE}) or the token endpoint URL ({TOKEN_URL})"),
    ("expired", assertion(iat=now - 120, exp=now - 1), "client_assertion has expired (exp)"),
    ("lifetime too long", assertion(exp=now + 301), "client_assertion lifetime exceeds 300 seconds (exp - iat, or exp - now)"),
    ("iss != sub", assertion(iss="someone-else"), "client_assertion iss and sub must both be the client_id"),
    ("unknown kid", assertion(kid="py-unknown"), "client_assertion kid names none of the client's keys"),
    ("alg none", jws.serialize_compact({"alg": "none"}, json.dumps(claims()).encode(), None, algorithms=["none"]),
     "client_assertion alg must be one of RS256 RS384 RS512 PS256 ES256 ES384 EdDSA (never none or HMAC)"),
    ("HS256 keyed with the public key (PEM)", assertion(k=OctKey.import_key(pem), alg="HS256"),
     "client_assertion alg must be one of RS256 RS384 RS512 PS256 ES256 ES384 EdDSA (never none or HMAC)"),
    ("tampered payload", f"{h}.{tampered_payload}.{s}", "client_assertion signature does not verify with the client's keys"),
    ("signed by another key with the same kid", assertion(k=other), "client_assertion signature does not verify with the client's keys"),
    ("second use of one jti", spent, "client_assertion jti has already been used"),
]
before = otp_state()
for name, a, description in cases:
    check(name, token_request(MFA_OTP, a, otp), 401, "invalid_client", description)
    if otp_state() != before:
        FAILURES.append(f"{name}: the authenticator changed")

# DPoP proofs: for another URL, another method, reused.
dkey = ECKey.generate_key("P-256")
reused = dpop_proof(dkey)
got = token_request("password", assertion(), {"username": USER, "password": PASSWORD}, {"DPoP": reused})
assert got[0] == 403, got
dpop_cases = [
    ("DPoP proof for another URL", dpop_proof(dkey, htu=BASE + "mfa/challenge"), f"DPoP proof htu must be {TOKEN_URL}"),
    ("DPoP proof for another method", dpop_proof(dkey, htm="GET"), "DPoP proof htm must be POST"),
    ("DPoP proof reused", reused, "DPoP proof jti has already been used"),
]
for name, proof, description in dpop_cases:
    check(name, token_request(MFA_OTP, assertion(), otp, {"DPoP": proof}), 400, "invalid_dpop_proof", description)
    if otp_state() != before:
        FAILURES.append(f"{name}: the authenticator changed")

# Nothing was consumed or charged: the same code works, bound to dkey.
got = token_request(MFA_OTP, assertion(), otp, {"DPoP": dpop_proof(dkey)})
check("the same code after every refusal", got, 200, None)
access = got[1]["access_token"]
assert got[1]["token_type"] == "DPoP", got

# A bound token sent as Bearer, and a resource proof for another method.
req = urllib.request.Request(BASE + "mfa/authenticators", headers={"authorization": f"Bearer {access}"})
got = send(req)
check("a bound token sent as Bearer", got, 401, "invalid_token",
      "This access token is DPoP-bound: send it as Authorization: DPoP with a DPoP proof")
assert got[2].get("WWW-Authenticate", got[2].get("www-authenticate", "")).startswith("DPoP "), got[2]
ath = base64.urlsafe_b64encode(hashlib.sha256(access.encode()).digest()).rstrip(b"=").decode()
req = urllib.request.Request(BASE + "mfa/authenticators", headers={"authorization": f"DPoP {access}", "DPoP": dpop_proof(dkey, htm="POST", htu=BASE + "mfa/authenticators", ath=ath)})
got = send(req)
check("a resource proof for another method", got, 401, "invalid_dpop_proof", "DPoP proof htm must be GET")
req = urllib.request.Request(BASE + "mfa/authenticators", headers={"authorization": f"DPoP {access}", "DPoP": dpop_proof(dkey, htm="GET", htu=BASE + "mfa/authenticators", ath=ath)})
got = send(req)
print(("ok" if got[0] == 200 else "FAIL") + f" - the bound token as DPoP with a good proof: {got[0]}")
if got[0] != 200:
    FAILURES.append("bound token with a good proof")

if FAILURES:
    print(f"{len(FAILURES)} failed: {FAILURES}")
    sys.exit(1)
print(f"all {len(cases) + len(dpop_cases) + 4} joserfc cases passed")
