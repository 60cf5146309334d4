-- mfa-server, version 5 (PostgreSQL): revoking a user's outstanding tokens.
-- Access tokens of this server whose iat is before tokens_valid_from are
-- refused on its own endpoints; a password reset, `users reset-mfa` and a
-- user's deletion set it (and delete the user's mfa_tokens).
ALTER TABLE users ADD COLUMN tokens_valid_from BIGINT NOT NULL DEFAULT 0;
CREATE INDEX mfa_tokens_user ON mfa_tokens (user_id);
