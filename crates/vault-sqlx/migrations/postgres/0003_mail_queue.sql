-- The persisted mail queue (sealed bodies), and tokens of nobody: where a flow must not tell
-- whether an account exists, the path without one writes a token of a random user id (a
-- decoy no proof can name), so account_tokens no longer references users. No user is ever
-- deleted; expired tokens are purged by the mail worker.
CREATE TABLE mail_queue (
    id          UUID    PRIMARY KEY,
    sealed      BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    due_at      BIGINT  NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mail_queue_by_due ON mail_queue (due_at);

ALTER TABLE account_tokens DROP CONSTRAINT IF EXISTS account_tokens_user_id_fkey;
CREATE INDEX account_tokens_by_expiry ON account_tokens (expires_at);
