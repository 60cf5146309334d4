-- totp-engine-sqlx schema, version 1 (PostgreSQL): one OTP authenticator and
-- one recovery-code authenticator per user. `{prefix}` is the store's table
-- prefix. u64 values (steps, times) are stored as the BIGINT with the same
-- bits and only ever compared for equality; flags are 0/1.
CREATE TABLE {prefix}otp_authenticators (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    secret BYTEA NOT NULL,
    algorithm TEXT NOT NULL,
    digits BIGINT NOT NULL,
    period BIGINT NOT NULL,
    t0 BIGINT NOT NULL,
    stepped BIGINT NOT NULL CHECK (stepped IN (0, 1)),
    last_step BIGINT NOT NULL,
    drift BIGINT NOT NULL,
    active BIGINT NOT NULL CHECK (active IN (0, 1)),
    attempts_used BIGINT NOT NULL,
    attempts_since BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE {prefix}recovery_authenticators (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    active BIGINT NOT NULL CHECK (active IN (0, 1)),
    -- totp-engine's stable recovery-slot format (version byte first).
    slots BYTEA NOT NULL,
    attempts_used BIGINT NOT NULL,
    attempts_since BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
