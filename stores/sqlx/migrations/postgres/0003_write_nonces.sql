-- totp-engine-sqlx schema, version 3 (PostgreSQL): each one-time write (a step
-- advance, a recovery-code consumption) stores a random nonce with it, so a
-- write whose commit outcome is unknown (the connection dropped during
-- COMMIT) can be re-read and recognized instead of guessed at.
ALTER TABLE {prefix}otp_authenticators ADD COLUMN write_nonce BYTEA;
ALTER TABLE {prefix}recovery_authenticators ADD COLUMN write_nonce BYTEA;
