-- mfa-server, version 15 (SQLite): the next signing key. Each algorithm has,
-- beside its current key, a next key (next_key = 1): published in the JWKS
-- but not signing, so that verifiers have it cached before it signs.
-- rotate-signing-key retires the current key, promotes the next one (it
-- signs at once) and stores a new next key. At most one current and one
-- next key per algorithm.
ALTER TABLE signing_keys ADD COLUMN next_key BIGINT NOT NULL DEFAULT 0;
DROP INDEX signing_keys_current;
CREATE UNIQUE INDEX signing_keys_current ON signing_keys (alg) WHERE retired_at IS NULL AND next_key = 0;
CREATE UNIQUE INDEX signing_keys_next ON signing_keys (alg) WHERE next_key = 1;
