-- The persisted mail queue (sealed bodies), and tokens of nobody: where a flow must not tell
-- whether an account exists, the path without one writes a token of a random user id (a
-- decoy no proof can name), so account_tokens no longer references users (SQLite drops a
-- foreign key by rebuilding the table). No user is ever deleted; expired tokens are purged
-- by the mail worker.
CREATE TABLE mail_queue (
    id          BLOB    PRIMARY KEY NOT NULL,
    sealed      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    due_at      INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX mail_queue_by_due ON mail_queue (due_at);

CREATE TABLE account_tokens_new (
    token_hash       BLOB    PRIMARY KEY NOT NULL,
    code_hash        BLOB,
    purpose          TEXT    NOT NULL,
    user_id          BLOB    NOT NULL,
    email            TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO account_tokens_new
    SELECT token_hash, code_hash, purpose, user_id, email, created_at, expires_at, failed_attempts
    FROM account_tokens;
DROP TABLE account_tokens;
ALTER TABLE account_tokens_new RENAME TO account_tokens;
CREATE INDEX account_tokens_by_user ON account_tokens (user_id, purpose, created_at);
CREATE INDEX account_tokens_by_expiry ON account_tokens (expires_at);
