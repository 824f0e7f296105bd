-- API keys and accounts. Timestamps are Unix nanoseconds (UTC) in BIGINT columns: exact
-- round trips (timestamptz keeps microseconds only) and the same code in both backends.

CREATE TABLE api_keys (
    id            TEXT    PRIMARY KEY,            -- the public key id: the hot-path lookup
    name          TEXT    NOT NULL,
    workspace_id  UUID    NOT NULL,
    product       TEXT    NOT NULL,
    environment   TEXT    NOT NULL,
    permissions   TEXT    NOT NULL,               -- space-separated
    created_by    UUID    NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT,
    revoked_at    BIGINT,
    last_used_at  BIGINT,
    rotated_from  TEXT,
    secret_hash   BYTEA   NOT NULL                -- HMAC-SHA256(pepper, secret); never the secret
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, created_at, id);

CREATE TABLE users (
    id                UUID     PRIMARY KEY,
    name              TEXT     NOT NULL,
    email             TEXT     NOT NULL,          -- as typed (trimmed)
    email_normalized  TEXT     NOT NULL UNIQUE,   -- one account per address
    email_verified    BOOLEAN  NOT NULL,
    password_hash     TEXT,
    totp_secret       BYTEA,                      -- sealed; NULL: no two-factor state
    totp_enabled      BOOLEAN  NOT NULL DEFAULT FALSE,
    totp_last_step    BIGINT,
    created_at        BIGINT   NOT NULL
);

CREATE TABLE recovery_codes (
    user_id  UUID    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    hash     BYTEA,                               -- NULL once used
    PRIMARY KEY (user_id, idx)
);

CREATE TABLE account_tokens (
    token_hash       BYTEA   PRIMARY KEY,
    code_hash        BYTEA,
    purpose          TEXT    NOT NULL,
    user_id          UUID    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email            TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX account_tokens_by_user ON account_tokens (user_id, purpose, created_at);

CREATE TABLE sessions (
    token_hash           BYTEA   PRIMARY KEY,
    id                   UUID    NOT NULL UNIQUE,
    user_id              UUID    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at           BIGINT  NOT NULL,
    last_seen_at         BIGINT  NOT NULL,
    absolute_expires_at  BIGINT  NOT NULL,
    active_workspace     UUID,
    two_factor_passed    BOOLEAN NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);

CREATE TABLE throttle (
    key           TEXT    PRIMARY KEY,
    attempts      INTEGER NOT NULL DEFAULT 0,
    window_start  BIGINT,
    locked_until  BIGINT,
    locks         INTEGER NOT NULL DEFAULT 0
);
