"""Auth0's Management API calls for MFA, driven by auth0-python 4.13.0's
management API (the classes `auth0.management.Auth0` is made of: Users,
UserBlocks, Guardian) and its GetToken (the client_credentials grant),
against the real mfa-server binary. Run by scripts/management-test.sh,
which provisions the database, starts the server and sets the environment
below; every check asserts the exact answer, and after each refusal that
nothing changed.

auth0-python always builds https URLs from `Auth0(domain, token)`; the
classes take `protocol="http"` for this loopback server, which is what is
used here (the same classes, the same requests).
"""

import base64
import json
import os
import subprocess
import sys
import time

import requests
from auth0.authentication import GetToken
from auth0.exceptions import Auth0Error
from auth0.management import Guardian, UserBlocks, Users

DOMAIN = os.environ["MGMT_DOMAIN"]  # 127.0.0.1:PORT
AUDIENCE = os.environ["MGMT_AUDIENCE"]  # <issuer_url>api/v2/
FULL_ID, FULL_SECRET = "mgmt-full", os.environ["MGMT_FULL_SECRET"]
READ_ID, READ_SECRET = "mgmt-read", os.environ["MGMT_READ_SECRET"]
APP_ID, APP_SECRET = "seed-app", os.environ["APP_SECRET"]
PASSWORD = "correct horse battery staple"
JANE, BOB = "auth0|jane", "auth0|bob"
ALL_SCOPES = (
    "read:users update:users read:authentication_methods "
    "delete:authentication_methods delete:guardian_enrollments"
)

passed = 0
failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok - {name}")
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failed += 1
        print(f"not ok - {name}: {type(e).__name__}: {e}")


def jwt_payload(token):
    """The payload of a JWT, decoded (not verified: the SDK calls verify it)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def token_endpoint(**fields):
    return requests.post(f"http://{DOMAIN}/oauth/token", data=fields, timeout=10)


def totp(secret, t):
    out = subprocess.run(
        ["oathtool", "--totp", "--base32", f"--now=@{t}", secret],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def mfa_token(username):
    r = token_endpoint(grant_type="password", client_id=APP_ID, client_secret=APP_SECRET,
                       username=username, password=PASSWORD)
    assert r.status_code == 403 and r.json()["error"] == "mfa_required", r.text
    return r.json()["mfa_token"]


def enroll(username):
    token = mfa_token(username)
    r = requests.post(f"http://{DOMAIN}/mfa/associate", json={"authenticator_types": ["otp"]},
                      headers={"authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    secret, code = r.json()["secret"], r.json()["recovery_codes"][0]
    r = token_endpoint(grant_type="http://auth0.com/oauth/grant-type/mfa-otp", client_id=APP_ID,
                       client_secret=APP_SECRET, mfa_token=token, otp=totp(secret, int(time.time())))
    assert r.status_code == 200, r.text
    return code


def recovery_login(username, code):
    r = token_endpoint(grant_type="http://auth0.com/oauth/grant-type/mfa-recovery-code",
                       client_id=APP_ID, client_secret=APP_SECRET, mfa_token=mfa_token(username),
                       recovery_code=code)
    return r.status_code


def refused(fn, status, error_code, message=None):
    try:
        fn()
    except Auth0Error as e:
        assert (e.status_code, e.error_code) == (status, error_code), (e.status_code, e.error_code, e.message)
        if message is not None:
            assert e.message == message, e.message
        return
    raise AssertionError("not refused")


def main():
    recovery_code = enroll("jane")
    # Three wrong passwords block jane at 127.0.0.1 (the server runs with
    # --login-max-failures 3).
    for _ in range(3):
        r = token_endpoint(grant_type="password", client_id=APP_ID, client_secret=APP_SECRET,
                           username="jane", password="wrong")
        assert r.status_code == 403, r.text

    full = GetToken(DOMAIN, FULL_ID, FULL_SECRET, protocol="http").client_credentials(AUDIENCE)
    read = GetToken(DOMAIN, READ_ID, READ_SECRET, protocol="http").client_credentials(AUDIENCE)
    users = Users(DOMAIN, full["access_token"], protocol="http")
    blocks = UserBlocks(DOMAIN, full["access_token"], protocol="http")
    guardian = Guardian(DOMAIN, full["access_token"], protocol="http")
    read_users = Users(DOMAIN, read["access_token"], protocol="http")
    read_blocks = UserBlocks(DOMAIN, read["access_token"], protocol="http")
    read_guardian = Guardian(DOMAIN, read["access_token"], protocol="http")

    def grants():
        assert (full["token_type"], full["scope"]) == ("Bearer", ALL_SCOPES), full
        assert read["scope"] == "read:users", read
        assert full["expires_in"] > 0
        # Each access token has its own jti (RFC 9068 section 2.2).
        jtis = [jwt_payload(t["access_token"])["jti"] for t in (full, read)]
        assert all(len(j) == 22 for j in jtis) and jtis[0] != jtis[1], jtis
    check("client_credentials grants the allowed scopes", grants)

    check("client_credentials for an unknown audience is refused", lambda: refused(
        lambda: GetToken(DOMAIN, FULL_ID, FULL_SECRET, protocol="http").client_credentials("https://elsewhere.example/api/v2/"),
        403, "access_denied", "Service not found: https://elsewhere.example/api/v2/"))
    check("client_credentials for a client without a grant is refused", lambda: refused(
        lambda: GetToken(DOMAIN, APP_ID, APP_SECRET, protocol="http").client_credentials(AUDIENCE),
        403, "access_denied"))
    check("client_credentials with a wrong secret is refused", lambda: refused(
        lambda: GetToken(DOMAIN, FULL_ID, "not-the-secret-of-this-client", protocol="http").client_credentials(AUDIENCE),
        401, "invalid_client"))

    methods = {}

    def list_methods():
        got = users.get_authentication_methods(JANE)
        assert sorted(m["type"] for m in got) == ["recovery-code", "totp"], got
        for m in got:
            assert m["confirmed"] is True, m
            assert m["created_at"].endswith(".000Z"), m
            methods[m["type"]] = m["id"]
        assert methods["totp"].startswith("totp|dev_"), got
        assert methods["recovery-code"].startswith("recovery-code|dev_"), got
    check("get_authentication_methods lists totp and recovery-code", list_methods)

    def wrong_scope_changes_nothing():
        refused(lambda: read_users.get_authentication_methods(JANE), 403, "insufficient_scope",
                "Insufficient scope, expected any of: read:authentication_methods")
        refused(lambda: read_users.delete_authentication_methods(JANE), 403, "insufficient_scope")
        refused(lambda: read_users.delete_authentication_method_by_id(JANE, methods["totp"]), 403, "insufficient_scope")
        refused(lambda: read_users.regenerate_recovery_code(JANE), 403, "insufficient_scope",
                "Insufficient scope, expected any of: update:users")
        refused(lambda: read_blocks.unblock(JANE), 403, "insufficient_scope")
        refused(lambda: read_guardian.delete_enrollment(methods["totp"].removeprefix("totp|")), 403,
                "insufficient_scope", "Insufficient scope, expected any of: delete:guardian_enrollments")
        # Nothing changed: both methods, the block, the recovery code.
        assert len(users.get_authentication_methods(JANE)) == 2
        assert len(blocks.get(JANE)["blocked_for"]) == 1
    check("wrong scopes are refused with 403 and change nothing", wrong_scope_changes_nothing)

    def unknown_users():
        for call in (
            lambda: users.get_authentication_methods("auth0|ghost"),
            lambda: users.delete_authentication_methods("auth0|ghost"),
            lambda: users.get_guardian_enrollments("auth0|ghost"),
            lambda: users.regenerate_recovery_code("auth0|ghost"),
            lambda: blocks.get("auth0|ghost"),
            lambda: blocks.unblock("auth0|ghost"),
        ):
            refused(call, 404, "inexistent_user", "The user does not exist.")
        refused(lambda: users.delete_authentication_method_by_id(JANE, "totp|dev_AAAAAAAAAAAAAAAA"), 404,
                "inexistent_authentication_method")
        refused(lambda: guardian.delete_enrollment("dev_AAAAAAAAAAAAAAAA"), 404, "inexistent_enrollment")
        assert len(users.get_authentication_methods(JANE)) == 2
    check("unknown users, methods and enrollments are 404", unknown_users)

    def bad_tokens():
        refused(lambda: Users(DOMAIN, "not-a-jwt", protocol="http").get_authentication_methods(JANE), 401,
                "invalid_token", "Invalid token")
        r = requests.get(f"http://{DOMAIN}/api/v2/users/auth0%7Cjane/authentication-methods", timeout=10)
        assert (r.status_code, r.json()) == (401, {"statusCode": 401, "error": "Unauthorized",
                                                   "message": "Missing authentication"}), r.text
        assert len(users.get_authentication_methods(JANE)) == 2
    check("a missing or invalid token is 401", bad_tokens)

    def user_blocks():
        got = blocks.get(JANE)
        assert got == {"blocked_for": [{"identifier": "jane", "ip": "127.0.0.1",
                                        "connection": "Username-Password-Authentication"}]}, got
        assert read_blocks.get(BOB) == {"blocked_for": []}
        r = token_endpoint(grant_type="password", client_id=APP_ID, client_secret=APP_SECRET,
                           username="jane", password=PASSWORD)
        assert r.status_code == 429, r.text
        assert blocks.unblock(JANE) in ("", None, {}), "unblock answers 204"
        assert blocks.get(JANE) == {"blocked_for": []}
        mfa_token("jane")
    check("user blocks: get and unblock", user_blocks)

    def regenerate():
        new = users.regenerate_recovery_code(JANE)["recovery_code"]
        assert len(new) == len(recovery_code) and new != recovery_code
        assert recovery_login("jane", recovery_code) == 400
        assert recovery_login("jane", new) == 200
    check("regenerate_recovery_code: the new code works, the old one not", regenerate)
    check("regenerate_recovery_code for a user not enrolled is 400", lambda: refused(
        lambda: users.regenerate_recovery_code(BOB), 400, "mfa_not_enrolled"))

    def enrollments():
        got = read_users.get_guardian_enrollments(JANE)
        assert len(got) == 1, got
        assert got[0]["id"] == methods["totp"].removeprefix("totp|"), got
        assert (got[0]["status"], got[0]["auth_method"]) == ("confirmed", "authenticator"), got
        assert read_users.get_guardian_enrollments(BOB) == []
        assert guardian.delete_enrollment(got[0]["id"]) in ("", None, {})
        assert [m["type"] for m in users.get_authentication_methods(JANE)] == ["recovery-code"]
        refused(lambda: guardian.delete_enrollment(got[0]["id"]), 404, "inexistent_enrollment")
    check("guardian enrollments: list and delete", enrollments)

    def delete_methods():
        rec = users.get_authentication_methods(JANE)[0]["id"]
        assert users.delete_authentication_method_by_id(JANE, rec) in ("", None, {})
        assert users.get_authentication_methods(JANE) == []
        # Enrolled again, then everything removed at once.
        enroll("jane")
        assert len(users.get_authentication_methods(JANE)) == 2
        assert users.delete_authentication_methods(JANE) in ("", None, {})
        assert users.get_authentication_methods(JANE) == []
        r = token_endpoint(grant_type="password", client_id=APP_ID, client_secret=APP_SECRET,
                           username="jane", password=PASSWORD)
        assert r.json()["mfa_requirements"] == {"enroll": [{"type": "otp"}]}, r.text
    check("delete authentication methods: one, then all", delete_methods)

    def withdrawn():
        # The grant withdrawn (`add-client --management-scopes ""`): the
        # token issued under it is refused at once.
        assert read_users.get_guardian_enrollments(BOB) == []
        subprocess.run([os.environ["MGMT_BIN"], "add-client", READ_ID, "--db", os.environ["MGMT_DB"],
                        "--management-scopes", ""], input=READ_SECRET + "\n", text=True,
                       check=True, capture_output=True)
        refused(lambda: read_users.get_guardian_enrollments(BOB), 401, "invalid_token", "Invalid token")
        refused(lambda: GetToken(DOMAIN, READ_ID, READ_SECRET, protocol="http").client_credentials(AUDIENCE),
                403, "access_denied")
    check("a withdrawn grant ends its tokens", withdrawn)

    print(f"auth0-python: {passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
