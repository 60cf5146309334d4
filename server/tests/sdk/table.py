"""Prints the SDK x call table from the suite's results (one JSON object a line).

Usage: table.py RESULTS.jsonl. Exits 1 when any step failed or no step ran.
"""
import json
import sys

ORDER = [
    "auth0-auth-js", "auth0-spa-js", "node-auth0", "openid-client",
    "auth0-python", "auth0-server-python",
]

CALLS = [
    "discovery", "password grant → mfa_required", "password-realm (realm) → mfa_required",
    "enroll (/mfa/associate otp)", "confirm with a TOTP code → tokens", "tokens verified by the SDK's verifier",
    "userinfo", "later login → mfa_required challenge otp", "list authenticators", "challenge otp",
    "verify a fresh code → tokens", "replayed code → invalid_grant", "wrong code → invalid_grant",
    "recovery code → tokens + replacement (old one refused)", "delete authenticator (remove:authenticators token)",
    "expired mfa_token → expired_token",
    "expired mfa_token → expired_token, and the code it carried is not spent", "lockout → too_many_attempts, a right code refused too",
    "refresh: rotation; the used token refused, its family revoked",
    "refresh through the SDK's cache (getTokenSilently, cacheMode off), twice",
    "signing-key rotation: the SDK's verifier takes the new kid",
]

rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
calls, sdks, cell, notes = [], {}, {}, []
for row in rows:
    if row["call"] not in calls:
        calls.append(row["call"])
    sdks.setdefault(row["sdk"], row["version"])
    mark = {"pass": "pass", "generic": "pass (generic)", "fail": "**FAIL**", "n/a": "n/a"}[row["status"]]
    cell[(row["sdk"], row["call"])] = mark
    if row["status"] not in ("pass", "generic"):
        notes.append(f"- {row['sdk']} / {row['call']}: {row['status']}: {row.get('detail', '')}")
calls.sort(key=lambda c: CALLS.index(c) if c in CALLS else len(CALLS))
columns = sorted(sdks, key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))
print("| call | " + " | ".join(f"{s} {sdks[s]}" for s in columns) + " |")
print("| --- |" + " --- |" * len(columns))
for call in calls:
    print(f"| {call} | " + " | ".join(cell.get((s, call), "—") for s in columns) + " |")
print()
print("\n".join(notes))
passed = sum(1 for r in rows if r["status"] in ("pass", "generic"))
failed = sum(1 for r in rows if r["status"] == "fail")
print(f"\nSDK steps: {passed} passed, {failed} failed, {len(rows) - passed - failed} not available in the SDK")
sys.exit(1 if failed or not passed else 0)
