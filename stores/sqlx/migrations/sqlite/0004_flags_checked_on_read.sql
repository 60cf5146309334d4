-- totp-engine-sqlx schema, version 4 (SQLite): nothing to change. On
-- PostgreSQL this version drops the CHECK constraints of the 0/1 flags,
-- which cost a rebuild of their expressions on every UPDATE there; SQLite
-- compiles them into each prepared statement once, so they stay (and
-- dropping one would mean rebuilding the table). The store reads every flag
-- strictly on both.
SELECT 1;
