#!/usr/bin/env bash
# Walks Auth0's "Enroll and Challenge OTP Authenticators" guide (shared/seeds)
# against a local mfa-server, with the guide's own curl commands and codes
# from oathtool. Exits non-zero at the first step that does not answer as the
# guide says. Needs curl, jq and oathtool.
#
#   cargo build -p mfa-server && examples/seed-walkthrough.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MFA_SERVER:-target/debug/mfa-server}
WORK=$(mktemp -d)
DB="$WORK/walkthrough.db"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

CLIENT_ID=walkthrough-app
CLIENT_SECRET=walkthrough-client-secret-0123456789
echo "$CLIENT_SECRET" | "$BIN" add-client "$CLIENT_ID" --db "$DB" >/dev/null
echo "walkthrough password" | "$BIN" add-user jane --db "$DB" >/dev/null
"$BIN" serve --listen 127.0.0.1:0 --db "$DB" --issuer ACME >"$WORK/out" 2>"$WORK/log" &
PID=$!
for _ in $(seq 100); do grep -q 'listening on' "$WORK/out" 2>/dev/null && break; sleep 0.1; done
BASE=$(sed -n 's/^mfa-server listening on //p' "$WORK/out")
[ -n "$BASE" ] || { echo "server did not start"; cat "$WORK/log"; exit 1; }
yourDomain=${BASE#http://}

step() { printf '\n--- %s\n' "$*"; }
# call EXPECTED_STATUS curl-args... : runs curl, prints the body, checks the status.
call() {
  local want=$1; shift
  local status
  status=$(curl -sS -o "$WORK/body" -w '%{http_code}' "$@")
  cat "$WORK/body"; echo
  [ "$status" = "$want" ] || { echo "FAILED: expected HTTP $want, got $status"; exit 1; }
}
check() { jq -e "$1" "$WORK/body" >/dev/null || { echo "FAILED: $1"; exit 1; }; }

step "Password grant: 403 mfa_required with an mfa_token"
call 403 --request POST --url "http://${yourDomain}/oauth/token" \
  --header 'content-type: application/x-www-form-urlencoded' \
  --data grant_type=password --data "client_id=${CLIENT_ID}" --data "client_secret=${CLIENT_SECRET}" \
  --data username=jane --data 'password=walkthrough password'
check '.error == "mfa_required" and .mfa_requirements.enroll[0].type == "otp"'
MFA_TOKEN=$(jq -r .mfa_token "$WORK/body")

step "Enroll authenticator (the guide's curl)"
call 200 --request POST \
  --url "http://${yourDomain}/mfa/associate" \
  --header "authorization: Bearer ${MFA_TOKEN}" \
  --header 'content-type: application/json' \
  --data '{ "authenticator_types": ["otp"] }'
check '.authenticator_type == "otp" and (.barcode_uri | startswith("otpauth://totp/ACME:jane?secret=")) and (.recovery_codes | length == 1)'
SECRET=$(jq -r .secret "$WORK/body")
RECOVERY=$(jq -r '.recovery_codes[0]' "$WORK/body")

step "Confirm the enrollment (the guide's curl, code from oathtool)"
NOW=$(date +%s)
userOtpCode=$(oathtool --totp --base32 --now="@$NOW" "$SECRET")
call 200 --request POST \
  --url "http://${yourDomain}/oauth/token" \
  --header 'content-type: application/x-www-form-urlencoded' \
  --data grant_type=http://auth0.com/oauth/grant-type/mfa-otp \
  --data "client_id=${CLIENT_ID}" \
  --data "mfa_token=${MFA_TOKEN}" \
  --data "client_secret=${CLIENT_SECRET}" \
  --data "otp=${userOtpCode}"
check '.access_token and .token_type == "Bearer" and .expires_in > 0'

step "The same code again is refused"
call 400 --request POST --url "http://${yourDomain}/oauth/token" \
  --header 'content-type: application/x-www-form-urlencoded' \
  --data grant_type=http://auth0.com/oauth/grant-type/mfa-otp --data "client_id=${CLIENT_ID}" \
  --data "mfa_token=${MFA_TOKEN}" --data "client_secret=${CLIENT_SECRET}" --data "otp=${userOtpCode}"
check '.error == "invalid_grant" and .error_description == "Invalid otp_code."'

step "List authenticators (the guide's curl)"
call 200 --request GET \
  --url "http://${yourDomain}/mfa/authenticators" \
  --header "authorization: Bearer ${MFA_TOKEN}" \
  --header 'content-type: application/json'
check 'length == 2 and .[0].authenticator_type == "recovery-code" and .[1].authenticator_type == "otp" and all(.[]; .active)'
AUTHENTICATOR_ID=$(jq -r '.[1].id' "$WORK/body")

step "Challenge (the guide's curl: a JSON body with no content-type header)"
call 200 --request POST \
  --url "http://${yourDomain}/mfa/challenge" \
  --data "{ \"client_id\": \"${CLIENT_ID}\", \"challenge_type\": \"otp\", \"mfa_token\": \"${MFA_TOKEN}\", \"authenticator_id\" : \"${AUTHENTICATOR_ID}\" }"
check '.challenge_type == "otp"'

step "Verify with the next code"
userOtpCode=$(oathtool --totp --base32 --now="@$((NOW + 30))" "$SECRET")
call 200 --request POST --url "http://${yourDomain}/oauth/token" \
  --header 'content-type: application/x-www-form-urlencoded' \
  --data grant_type=http://auth0.com/oauth/grant-type/mfa-otp --data "client_id=${CLIENT_ID}" \
  --data "mfa_token=${MFA_TOKEN}" --data "client_secret=${CLIENT_SECRET}" --data "otp=${userOtpCode}"

step "Lost device: the recovery code, replaced by a new one"
call 200 --request POST --url "http://${yourDomain}/oauth/token" \
  --header 'content-type: application/x-www-form-urlencoded' \
  --data grant_type=http://auth0.com/oauth/grant-type/mfa-recovery-code --data "client_id=${CLIENT_ID}" \
  --data "mfa_token=${MFA_TOKEN}" --data "client_secret=${CLIENT_SECRET}" --data "recovery_code=${RECOVERY}"
check ".access_token and (.recovery_code | length == 24) and .recovery_code != \"${RECOVERY}\""

step "JWKS"
call 200 "http://${yourDomain}/.well-known/jwks.json"
check '.keys[0].kty == "RSA" and .keys[0].alg == "RS256" and .keys[0].use == "sig" and (.keys[0].n | length) > 300'

echo
echo "Seed walk-through passed."
