-- mfa-server, version 4 (SQLite): one signing key per algorithm. alg is the
-- key's JWS algorithm: the keys stored before version 4 are Ed25519
-- ('EdDSA', slot 1); an RS256 key (RSA 2048, PKCS#8, sealed like the
-- Ed25519 key) lives in slot 2. At most one key per algorithm.
ALTER TABLE signing_keys ADD COLUMN alg TEXT NOT NULL DEFAULT 'EdDSA';
CREATE UNIQUE INDEX signing_keys_alg ON signing_keys (alg);
