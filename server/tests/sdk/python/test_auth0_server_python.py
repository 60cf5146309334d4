"""auth0-server-python: its MfaClient (list, enroll, challenge, verify with an
OTP or a recovery code) and ServerClient.get_token_by_refresh_token (with
discovery). The SDK has no password login (it logs in through /authorize,
which mfa-server does not have) and surfaces mfa_required only from
get_access_token's refresh or a passkey grant; its MFA calls take the
mfa_token encrypted by the SDK as MfaRequiredError carries it. So the test
gets the mfa_token by the plain password grant and encrypts it exactly as the
SDK does, with the SDK's exported `encrypt` over its MfaTokenContext."""
import asyncio
import time

import pytest
from auth0_server_python.auth_server import MfaClient, ServerClient
from auth0_server_python.auth_types import MfaTokenContext
from auth0_server_python.encryption import encrypt
from auth0_server_python.error import ApiError, MfaEnrollmentError, MfaVerifyError

from common import (short_server, CLIENT_ID, CLIENT_SECRET, DOMAIN, ISSUER, MFA_AUDIENCE, MFA_TOKEN_TTL, SCOPE, 
                    Authenticator, bridge_password, claims, not_available, step, users,
                    version)

SDK = "auth0-server-python"
V = version("auth0-server-python")
WHO = users(SDK)
SHORT_DOMAIN, SHORT_MFA_AUDIENCE = short_server(SDK)
SECRET = "a-32-character-or-longer-cookie-secret-for-the-test"
S = {}


def run(coroutine):
    return asyncio.run(coroutine)


def mfa(domain=DOMAIN):
    return MfaClient(domain=domain, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, secret=SECRET)


def login(username, domain=DOMAIN, audience=MFA_AUDIENCE):
    """The mfa_token of a password login, wrapped as the SDK's MfaRequiredError would carry it."""
    body = bridge_password(domain, username, audience)
    context = MfaTokenContext(mfa_token=body["mfa_token"], audience=audience, scope=SCOPE,
                              mfa_requirements=body.get("mfa_requirements"), created_at=int(time.time()))
    return encrypt(context.model_dump(), SECRET, "mfa_token"), body


def verify_fails(mfa_token, error, description, **credential):
    with pytest.raises(MfaVerifyError) as raised:
        run(mfa().verify({"mfa_token": mfa_token, **credential}))
    assert (raised.value.cause["error"], raised.value.cause["error_description"]) == (error, description), raised.value.cause


for call, reason in [
    ("discovery", "used inside get_token_by_refresh_token (see refresh), no call of its own"),
    ("password grant → mfa_required", "no password login; mfa_required is raised only from get_access_token (refresh) and passkey grants"),
    ("password-realm (realm) → mfa_required", "no password login"),
    ("tokens verified by the SDK's verifier", "its verifier runs only inside complete_interactive_login (/authorize)"),
    ("userinfo", "no userinfo call (get_user reads the session)"),
    ("delete authenticator (remove:authenticators token)", "MfaClient has no delete"),
    ("signing-key rotation: the SDK's verifier takes the new kid", "its verifier runs only inside complete_interactive_login (/authorize)"),
]:
    not_available(SDK, V, call, reason)


@step(SDK, V, "enroll (/mfa/associate otp)")
def test_enroll():
    S["mfa_token"], body = login(WHO["main"])
    assert body["mfa_requirements"] == {"enroll": [{"type": "otp"}]}
    enrollment = run(mfa().enroll_authenticator({"mfa_token": S["mfa_token"], "factor_type": "otp"}))
    assert enrollment.authenticator_type == "otp"
    S["app"] = Authenticator(enrollment.secret, enrollment.barcode_uri)
    S["recovery_code"] = enrollment.recovery_codes[0]


@step(SDK, V, "confirm with a TOTP code → tokens")
def test_confirm():
    tokens = run(mfa().verify({"mfa_token": S["mfa_token"], "otp": S["app"].fresh()}))
    assert tokens.access_token and tokens.id_token, tokens
    assert claims(tokens.id_token)["iss"] == ISSUER
    S["tokens"] = tokens


@step(SDK, V, "later login → mfa_required challenge otp")
def test_later_login():
    S["mfa_token"], body = login(WHO["main"])
    assert body["mfa_requirements"] == {"challenge": [{"type": "otp"}]}


@step(SDK, V, "list authenticators")
def test_list():
    entries = run(mfa().list_authenticators({"mfa_token": S["mfa_token"]}))
    otp = [e for e in entries if e.authenticator_type == "otp"]
    assert len(otp) == 1 and otp[0].active and otp[0].type == "otp", entries


@step(SDK, V, "challenge otp")
def test_challenge():
    answer = run(mfa().challenge_authenticator({"mfa_token": S["mfa_token"], "factor_type": "otp"}))
    assert answer.challenge_type == "otp"


@step(SDK, V, "verify a fresh code → tokens")
def test_verify():
    S["code"] = S["app"].fresh()
    S["tokens"] = run(mfa().verify({"mfa_token": S["mfa_token"], "otp": S["code"]}))
    assert S["tokens"].access_token and S["tokens"].id_token


@step(SDK, V, "replayed code → invalid_grant")
def test_replay():
    S["mfa_token"], _ = login(WHO["main"])
    verify_fails(S["mfa_token"], "invalid_grant", "Invalid otp_code.", otp=S["code"])


@step(SDK, V, "wrong code → invalid_grant")
def test_wrong():
    verify_fails(S["mfa_token"], "invalid_grant", "Invalid otp_code.", otp=S["app"].wrong())


@step(SDK, V, "recovery code → tokens + replacement (old one refused)")
def test_recovery():
    tokens = run(mfa().verify({"mfa_token": S["mfa_token"], "recovery_code": S["recovery_code"]}))
    assert tokens.recovery_code and tokens.recovery_code != S["recovery_code"], tokens
    mfa_token, _ = login(WHO["main"])
    verify_fails(mfa_token, "invalid_grant", "Invalid recovery_code.", recovery_code=S["recovery_code"])
    S["tokens"] = run(mfa().verify({"mfa_token": mfa_token, "recovery_code": tokens.recovery_code}))
    assert S["tokens"].recovery_code


@step(SDK, V, "refresh: rotation; the used token refused, its family revoked")
def test_refresh():
    client = ServerClient(domain=DOMAIN, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, secret=SECRET)
    first = S["tokens"].refresh_token
    assert first, "offline_access gave no refresh_token"
    answer = run(client.get_token_by_refresh_token({"refresh_token": first}))
    assert answer["access_token"] and answer["id_token"] and answer["refresh_token"] != first, answer
    for dead in (first, answer["refresh_token"]):
        with pytest.raises(ApiError) as raised:
            run(client.get_token_by_refresh_token({"refresh_token": dead}))
        assert (raised.value.code, str(raised.value)) == ("invalid_grant", "Unknown or invalid refresh token.")


@step(SDK, V, "expired mfa_token → expired_token")
def test_expired():
    mfa_token, _ = login(WHO["expiry"], SHORT_DOMAIN, SHORT_MFA_AUDIENCE)
    time.sleep(MFA_TOKEN_TTL + 1)
    with pytest.raises(MfaEnrollmentError) as raised:
        run(mfa(SHORT_DOMAIN).enroll_authenticator({"mfa_token": mfa_token, "factor_type": "otp"}))
    assert raised.value.cause["error"] == "expired_token", raised.value.cause


@step(SDK, V, "lockout → too_many_attempts, a right code refused too")
def test_lockout():
    first, _ = login(WHO["lock"])
    enrollment = run(mfa().enroll_authenticator({"mfa_token": first, "factor_type": "otp"}))
    app = Authenticator(enrollment.secret, enrollment.barcode_uri)
    run(mfa().verify({"mfa_token": first, "otp": app.fresh()}))
    mfa_token, _ = login(WHO["lock"])
    for _ in range(10):
        verify_fails(mfa_token, "invalid_grant", "Invalid otp_code.", otp=app.wrong())
    with pytest.raises(MfaVerifyError) as raised:
        run(mfa().verify({"mfa_token": mfa_token, "otp": app.fresh()}))
    assert raised.value.cause["error"] == "too_many_attempts", raised.value.cause
