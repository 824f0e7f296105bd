-- API keys and accounts. Timestamps are Unix nanoseconds (UTC) in INTEGER columns: exact
-- round trips and numeric comparisons, the same in both backends.

CREATE TABLE api_keys (
    id            TEXT    PRIMARY KEY NOT NULL,  -- the public key id: the hot-path lookup
    name          TEXT    NOT NULL,
    workspace_id  BLOB    NOT NULL,
    product       TEXT    NOT NULL,
    environment   TEXT    NOT NULL,
    permissions   TEXT    NOT NULL,              -- space-separated
    created_by    BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER,
    last_used_at  INTEGER,
    rotated_from  TEXT,
    secret_hash   BLOB    NOT NULL               -- HMAC-SHA256(pepper, secret); never the secret
) STRICT;
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, created_at, id);

CREATE TABLE users (
    id                BLOB    PRIMARY KEY NOT NULL,
    name              TEXT    NOT NULL,
    email             TEXT    NOT NULL,          -- as typed (trimmed)
    email_normalized  TEXT    NOT NULL UNIQUE,   -- one account per address
    email_verified    INTEGER NOT NULL,
    password_hash     TEXT,
    totp_secret       BLOB,                      -- sealed; NULL: no two-factor state
    totp_enabled      INTEGER NOT NULL DEFAULT 0,
    totp_last_step    INTEGER,
    created_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE recovery_codes (
    user_id  BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    hash     BLOB,                               -- NULL once used
    PRIMARY KEY (user_id, idx)
) STRICT;

CREATE TABLE account_tokens (
    token_hash       BLOB    PRIMARY KEY NOT NULL,
    code_hash        BLOB,
    purpose          TEXT    NOT NULL,
    user_id          BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email            TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX account_tokens_by_user ON account_tokens (user_id, purpose, created_at);

CREATE TABLE sessions (
    token_hash           BLOB    PRIMARY KEY NOT NULL,
    id                   BLOB    NOT NULL UNIQUE,
    user_id              BLOB    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at           INTEGER NOT NULL,
    last_seen_at         INTEGER NOT NULL,
    absolute_expires_at  INTEGER NOT NULL,
    active_workspace     BLOB,
    two_factor_passed    INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);

CREATE TABLE throttle (
    key           TEXT    PRIMARY KEY NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    window_start  INTEGER,
    locked_until  INTEGER,
    locks         INTEGER NOT NULL DEFAULT 0
) STRICT;
