-- Schema version 3: server-side sign-in sessions and sign-in attempts.
--
-- The browser holds only a signed random token (an HttpOnly cookie); the row
-- that its hash names is what makes it valid, so ending the row ends the
-- session at once (sign-out, inactivity, an administrator disabling the
-- account). Times are seconds since the epoch (UTC).

CREATE TABLE sessions (
    session_id         VARCHAR PRIMARY KEY,   -- random; never leaves the server
    username           VARCHAR NOT NULL,
    token_hash         VARCHAR NOT NULL,      -- sha256 of the cookie's random token (never the token)
    created_at         DOUBLE NOT NULL,
    last_seen_at       DOUBLE NOT NULL,
    expires_at         DOUBLE NOT NULL,       -- absolute end, whatever the activity
    ended_at           DOUBLE,
    end_reason         VARCHAR
);

-- Every sign-in attempt, for rate limiting per account and per client address.
CREATE TABLE sign_in_attempts (
    attempted_at  DOUBLE NOT NULL,
    username      VARCHAR,                    -- NULL when no such account (typed names can be passwords)
    client        VARCHAR,                    -- the client's address as the server saw it
    succeeded     BOOLEAN NOT NULL
);

-- Keys the server generates once per store (the session-cookie signing key).
CREATE TABLE server_keys (
    name        VARCHAR PRIMARY KEY,
    value       VARCHAR NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
);
