-- mfa-server, version 2 (PostgreSQL): brute-force protection of the password
-- grant. Both tables are written only by single conditional statements
-- (server/src/db/login_attempts.rs), so several instances share them.

-- Consecutive failed logins per (user, client address), Auth0's
-- brute-force protection. user_key is the SHA-256 of the username as
-- submitted (unknown usernames are counted alike, so a block does not tell
-- them apart); address is the client's IPv4 address or IPv6 /64. A pair
-- with failures at the threshold is blocked until last_failed_at plus the
-- block period, an unblock, or a successful login of the user.
CREATE TABLE login_failures (
    user_key BYTEA NOT NULL,
    address TEXT NOT NULL,
    failures BIGINT NOT NULL,
    last_failed_at BIGINT NOT NULL,
    PRIMARY KEY (user_key, address)
);
CREATE INDEX login_failures_last ON login_failures (last_failed_at);

-- Failed logins per client address across accounts (suspicious-IP
-- throttling): a token bucket kept as its theoretical arrival time (GCRA).
-- An attempt is allowed while tat - now stays within (capacity - 1)
-- refill periods; each moves tat one period on; a row with tat <= now is
-- a full bucket.
CREATE TABLE login_address_throttle (
    address TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);
CREATE INDEX login_address_throttle_tat ON login_address_throttle (tat);
