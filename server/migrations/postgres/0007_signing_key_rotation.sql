-- mfa-server, version 7 (PostgreSQL): signing-key rotation. A key stops
-- signing when `rotate-signing-key` retires it (retired_at, Unix seconds)
-- and a new key of its algorithm takes over; retired keys stay published in
-- the JWKS, and accepted, for as long as a token they signed can live, and
-- are deleted by a later rotation after the longest token lifetime. At most
-- one current (not retired) key per algorithm; slots are now just row ids
-- (new keys take the next free one).
DROP INDEX signing_keys_alg;
ALTER TABLE signing_keys ADD COLUMN retired_at BIGINT;
CREATE UNIQUE INDEX signing_keys_current ON signing_keys (alg) WHERE retired_at IS NULL;
