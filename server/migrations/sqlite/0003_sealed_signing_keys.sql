-- mfa-server, version 3 (SQLite): the signing key's private half sealed at
-- rest. private_key_id is the id of the encryption key it is sealed under
-- (totp-engine's sealed format, bound to the key's kid); NULL means stored
-- plain (before version 3), which the server seals on its next start.
ALTER TABLE signing_keys ADD COLUMN private_key_id BIGINT;
