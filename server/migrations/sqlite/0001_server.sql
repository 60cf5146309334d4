-- mfa-server's own tables, version 1 (SQLite). The authenticator tables
-- belong to totp-engine-sqlx and are migrated by it.

-- OAuth clients. (secret_salt, secret_hash): both NULL for a public
-- client; salt and salted SHA-256 for a strong secret; NULL salt and the
-- Argon2id PHC string (as bytes) for a short one.
CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    secret_salt BLOB,
    secret_hash BLOB,
    created_at BIGINT NOT NULL
);

-- Users and their Argon2id password hashes (PHC strings).
CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- mfa_tokens, by the SHA-256 of the token (the token itself is never stored).
CREATE TABLE mfa_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    audience TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX mfa_tokens_expiry ON mfa_tokens (expires_at);

-- The JWT signing key: one slot, so concurrent first starts agree on one key.
CREATE TABLE signing_keys (
    slot BIGINT PRIMARY KEY,
    kid TEXT NOT NULL UNIQUE,
    private_pkcs8 BLOB NOT NULL,
    public_key BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
