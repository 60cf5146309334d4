"""auth0-python: GetToken.login (password-realm), TokenVerifier with the
AsymmetricSignatureVerifier on the server's JWKS, Users.userinfo,
GetToken.refresh_token. The package has no MFA API methods: the MFA calls go
through its generic clients (AuthenticationBase.authenticated_post, RestClient
with the token as `jwt`), which is what the table marks "pass (generic)"."""
import base64
import json
import os
import subprocess
import time

import pytest
from auth0.authentication import GetToken, Users
from auth0.authentication.exceptions import Auth0Error
from auth0.authentication.rest import RestClient
from auth0.authentication.token_verifier import AsymmetricSignatureVerifier, TokenVerifier

from common import (not_available, short_server, CLIENT_ID, CLIENT_SECRET, CONNECTION, DOMAIN, ISSUER, MFA_AUDIENCE, MFA_TOKEN_TTL,
                    PASSWORD, SCOPE, Authenticator, step, users, version)

SDK = "auth0-python"
V = version("auth0-python")
not_available(SDK, V, "discovery", "no discovery: the SDK builds https://DOMAIN/ URLs itself")
WHO = users(SDK)
SHORT_DOMAIN, SHORT_MFA_AUDIENCE = short_server(SDK)
S = {}
gt = GetToken(DOMAIN, CLIENT_ID, client_secret=CLIENT_SECRET)
short_gt = GetToken(SHORT_DOMAIN, CLIENT_ID, client_secret=CLIENT_SECRET)


def mfa_required(username, token_client=gt, audience=MFA_AUDIENCE):
    with pytest.raises(Auth0Error) as raised:
        token_client.login(username, PASSWORD, scope=SCOPE, realm=CONNECTION, audience=audience)
    error = raised.value
    assert (error.status_code, error.error_code) == (403, "mfa_required"), error
    assert isinstance(error.content["mfa_token"], str)
    return error.content


def verify(token_client, mfa_token, **credential):
    grant = "mfa-otp" if "otp" in credential else "mfa-recovery-code"
    return token_client.authenticated_post(
        f"https://{token_client.domain}/oauth/token",
        data={"client_id": CLIENT_ID, "grant_type": f"http://auth0.com/oauth/grant-type/{grant}",
              "mfa_token": mfa_token, **credential})


def verify_fails(mfa_token, error_code, message, **credential):
    with pytest.raises(Auth0Error) as raised:
        verify(gt, mfa_token, **credential)
    assert (raised.value.error_code, raised.value.message) == (error_code, message), raised.value


def enroll(token_client, mfa_token):
    return RestClient(mfa_token, telemetry=False).post(
        f"https://{token_client.domain}/mfa/associate", data={"authenticator_types": ["otp"]})


@step(SDK, V, "password grant → mfa_required")
def test_password():
    # GetToken.login is the password-realm grant by default; grant_type="password" is its other form.
    with pytest.raises(Auth0Error) as raised:
        gt.login(WHO["main"], PASSWORD, scope=SCOPE, audience=MFA_AUDIENCE, grant_type="password")
    assert raised.value.error_code == "mfa_required"
    assert raised.value.content["mfa_requirements"] == {"enroll": [{"type": "otp"}]}


@step(SDK, V, "password-realm (realm) → mfa_required")
def test_password_realm():
    S["mfa_token"] = mfa_required(WHO["main"])["mfa_token"]
    with pytest.raises(Auth0Error) as raised:
        gt.login(WHO["main"], PASSWORD, realm="Other-Connection")
    assert raised.value.error_code == "invalid_request", raised.value


@step(SDK, V, "enroll (/mfa/associate otp)", generic=True)
def test_enroll():
    enrollment = enroll(gt, S["mfa_token"])
    assert enrollment["authenticator_type"] == "otp"
    S["app"] = Authenticator(enrollment["secret"], enrollment["barcode_uri"])
    S["recovery_code"] = enrollment["recovery_codes"][0]


@step(SDK, V, "confirm with a TOTP code → tokens", generic=True)
def test_confirm():
    tokens = verify(gt, S["mfa_token"], otp=S["app"].fresh())
    assert tokens["token_type"] == "Bearer"
    assert tokens["access_token"] and tokens["id_token"], tokens
    S["tokens"] = tokens


@step(SDK, V, "tokens verified by the SDK's verifier")
def test_token_verifier():
    verifier = TokenVerifier(
        signature_verifier=AsymmetricSignatureVerifier(f"{ISSUER}.well-known/jwks.json"),
        issuer=ISSUER, audience=CLIENT_ID)
    payload = verifier.verify(S["tokens"]["id_token"])
    assert payload["iss"] == ISSUER and payload["aud"] == CLIENT_ID
    S["sub"] = payload["sub"]
    # The same verifier refuses a token for another audience.
    with pytest.raises(Exception, match="Audience"):
        TokenVerifier(signature_verifier=AsymmetricSignatureVerifier(f"{ISSUER}.well-known/jwks.json"),
                      issuer=ISSUER, audience="another-client").verify(S["tokens"]["id_token"])


@step(SDK, V, "userinfo")
def test_userinfo():
    info = Users(DOMAIN).userinfo(S["tokens"]["access_token"])
    assert info["sub"] == S["sub"] and info["name"] == WHO["main"], info


@step(SDK, V, "later login → mfa_required challenge otp")
def test_later_login():
    content = mfa_required(WHO["main"])
    assert content["mfa_requirements"] == {"challenge": [{"type": "otp"}]}
    S["mfa_token"] = content["mfa_token"]


@step(SDK, V, "list authenticators", generic=True)
def test_list():
    entries = RestClient(S["mfa_token"], telemetry=False).get(f"https://{DOMAIN}/mfa/authenticators")
    otp = [e for e in entries if e["authenticator_type"] == "otp"]
    assert len(otp) == 1 and otp[0]["active"] and otp[0]["type"] == "otp", entries
    S["otp_id"] = otp[0]["id"]


@step(SDK, V, "challenge otp", generic=True)
def test_challenge():
    answer = gt.authenticated_post(f"https://{DOMAIN}/mfa/challenge", data={
        "client_id": CLIENT_ID, "mfa_token": S["mfa_token"], "challenge_type": "otp"})
    assert answer == {"challenge_type": "otp"}, answer


@step(SDK, V, "verify a fresh code → tokens", generic=True)
def test_verify():
    S["code"] = S["app"].fresh()
    S["tokens"] = verify(gt, S["mfa_token"], otp=S["code"])
    assert S["tokens"]["access_token"] and S["tokens"]["id_token"]


@step(SDK, V, "replayed code → invalid_grant", generic=True)
def test_replay():
    S["mfa_token"] = mfa_required(WHO["main"])["mfa_token"]
    verify_fails(S["mfa_token"], "invalid_grant", "Invalid otp_code.", otp=S["code"])


@step(SDK, V, "wrong code → invalid_grant", generic=True)
def test_wrong():
    verify_fails(S["mfa_token"], "invalid_grant", "Invalid otp_code.", otp=S["app"].wrong())


@step(SDK, V, "recovery code → tokens + replacement (old one refused)", generic=True)
def test_recovery():
    tokens = verify(gt, S["mfa_token"], recovery_code=S["recovery_code"])
    replacement = tokens["recovery_code"]
    assert replacement and replacement != S["recovery_code"]
    mfa_token = mfa_required(WHO["main"])["mfa_token"]
    verify_fails(mfa_token, "invalid_grant", "Invalid recovery_code.", recovery_code=S["recovery_code"])
    S["tokens"] = verify(gt, mfa_token, recovery_code=replacement)
    assert S["tokens"]["recovery_code"]


@step(SDK, V, "delete authenticator (remove:authenticators token)", generic=True)
def test_delete():
    api = RestClient(S["tokens"]["access_token"], telemetry=False)
    api.delete(f"https://{DOMAIN}/mfa/authenticators/{S['otp_id']}")
    entries = api.get(f"https://{DOMAIN}/mfa/authenticators")
    assert all(e["id"] != S["otp_id"] for e in entries), entries


@step(SDK, V, "refresh: rotation; the used token refused, its family revoked")
def test_refresh():
    first = S["tokens"].get("refresh_token")
    assert first, "offline_access gave no refresh_token"
    answer = gt.refresh_token(first)
    assert answer["access_token"] and answer["id_token"] and answer["refresh_token"] != first, answer
    for dead in (first, answer["refresh_token"]):
        with pytest.raises(Auth0Error) as raised:
            gt.refresh_token(dead)
        assert (raised.value.status_code, raised.value.error_code, raised.value.message) == (
            403, "invalid_grant", "Unknown or invalid refresh token."), raised.value


@step(SDK, V, "expired mfa_token → expired_token", generic=True)
def test_expired():
    mfa_token = mfa_required(WHO["expiry"], short_gt, SHORT_MFA_AUDIENCE)["mfa_token"]
    time.sleep(MFA_TOKEN_TTL + 1)
    with pytest.raises(Auth0Error) as raised:
        enroll(short_gt, mfa_token)
    assert raised.value.error_code == "expired_token", raised.value


@step(SDK, V, "lockout → too_many_attempts, a right code refused too", generic=True)
def test_lockout():
    first = mfa_required(WHO["lock"])["mfa_token"]
    enrollment = enroll(gt, first)
    app = Authenticator(enrollment["secret"], enrollment["barcode_uri"])
    verify(gt, first, otp=app.fresh())
    mfa_token = mfa_required(WHO["lock"])["mfa_token"]
    for _ in range(10):
        verify_fails(mfa_token, "invalid_grant", "Invalid otp_code.", otp=app.wrong())
    with pytest.raises(Auth0Error) as raised:
        verify(gt, mfa_token, otp=app.fresh())
    assert raised.value.error_code == "too_many_attempts", raised.value


@step(SDK, V, "signing-key rotation: the SDK's verifier takes the new kid")
def test_signing_key_rotation():
    domain, db = os.environ["SDK_ROTATE_DOMAIN"], os.environ["SDK_ROTATE_DB"]
    issuer = f"https://{domain}/"
    rotate_gt = GetToken(domain, CLIENT_ID, client_secret=CLIENT_SECRET)
    verifier = TokenVerifier(signature_verifier=AsymmetricSignatureVerifier(f"{issuer}.well-known/jwks.json"),
                             issuer=issuer, audience=CLIENT_ID)
    mfa_token = mfa_required(WHO["main"], rotate_gt, f"{issuer}mfa/")["mfa_token"]
    enrollment = enroll(rotate_gt, mfa_token)
    app = Authenticator(enrollment["secret"], enrollment["barcode_uri"])
    before = verify(rotate_gt, mfa_token, otp=app.fresh())["id_token"]
    verifier.verify(before)  # fetches and caches the JWKS
    rotated = subprocess.run([os.environ["SDK_BIN"], "rotate-signing-key", "--db", db],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 0, f"mfa-server rotate-signing-key failed: {rotated.stderr.strip()}"
    time.sleep(1.5)  # "the new key signs within about a second on every instance"
    mfa_token = mfa_required(WHO["main"], rotate_gt, f"{issuer}mfa/")["mfa_token"]
    after = verify(rotate_gt, mfa_token, otp=app.fresh())["id_token"]
    kid = lambda token: json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]
    assert kid(after) != kid(before), "the rotated key does not sign"
    assert verifier.verify(after)["iss"] == issuer  # a kid miss makes it refetch the JWKS
    assert verifier.verify(before)["iss"] == issuer  # the old key stays published
