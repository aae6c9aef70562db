-- Console sign-ins, kept on the server: signing out ends a session for good (a captured cookie no longer works),
-- every session of a token can be ended at once, and a session lives console.session_ttl_secs from created_at,
-- whatever the cookie says. The cookie carries the id, signed with the console key.
CREATE TABLE console_sessions (
    id          bytea       CONSTRAINT console_sessions_pkey PRIMARY KEY CHECK (octet_length(id) = 16),
    token_name  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz
);
CREATE INDEX console_sessions_token_idx ON console_sessions (token_name) WHERE ended_at IS NULL;
