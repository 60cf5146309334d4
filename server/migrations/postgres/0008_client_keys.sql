-- mfa-server, version 8 (PostgreSQL): Private Key JWT clients and single-use JWT ids.
-- A client with public_keys authenticates with private_key_jwt (RFC 7523):
-- its JWK Set (JSON) or one PEM public key; its secret columns are NULL.
ALTER TABLE clients ADD COLUMN public_keys TEXT;
-- The jti of every accepted client assertion and DPoP proof, by the SHA-256
-- of (kind, issuer, jti), until the JWT would be refused anyway
-- (expires_at): the primary key makes a second use fail across instances.
CREATE TABLE used_jtis (
    jti_hash BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_jtis_expiry ON used_jtis (expires_at);
