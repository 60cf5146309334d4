-- mfa-server, version 14 (PostgreSQL): client grants, Auth0's permission for a
-- machine client to get access tokens for an API by the client_credentials
-- grant, with the scopes it may ask for. The one API granted this way is
-- the Management API (<issuer_url>api/v2/), set with
-- `add-client ID --management-scopes "..."`.
CREATE TABLE client_grants (
    client_id TEXT NOT NULL,
    audience TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, audience)
);
