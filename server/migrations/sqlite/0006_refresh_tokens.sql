-- mfa-server, version 6 (SQLite): refresh tokens (offline_access).
-- Stored by the SHA-256 of the token (the token itself never is). Every
-- token descends from one login: its family. A use rotates it (used_at is
-- set and a child is inserted, in one transaction); presenting a used one
-- again deletes the whole family (RFC 9700 §4.14). expires_at is the
-- token's own (inactivity) expiry, never past family_expires_at, the
-- family's absolute one. auth_time is the login's time, checked against
-- users.tokens_valid_from; amr the login's authentication methods. dpop_jkt
-- binds the family to a DPoP key (RFC 9449 §5) when it is not NULL.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    family_id BLOB NOT NULL,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    audience TEXT NOT NULL,
    scope TEXT NOT NULL,
    amr TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    family_expires_at BIGINT NOT NULL,
    used_at BIGINT,
    dpop_jkt TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (family_expires_at);
