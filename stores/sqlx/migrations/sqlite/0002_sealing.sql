-- totp-engine-sqlx schema, version 2 (SQLite): TOTP secrets sealed at rest.
-- secret_key_id is the id of the sealing key the secret is sealed under
-- (totp-engine's sealed format); NULL means the secret is stored plain
-- (written by a store without a keyring, or before version 2).
ALTER TABLE {prefix}otp_authenticators ADD COLUMN secret_key_id BIGINT;
CREATE INDEX {prefix}otp_authenticators_key ON {prefix}otp_authenticators (secret_key_id);
