-- Access: workspaces, members, invitations, groups, subscriptions, grants. Added after
-- 0001, so a database of the first version migrates forward: nothing here touches the key
-- or account tables. Timestamps are Unix nanoseconds, as in 0001.

CREATE TABLE workspaces (
    id                         BLOB     PRIMARY KEY NOT NULL,
    name                       TEXT     NOT NULL,
    created_by                 BLOB     NOT NULL,
    created_at                 INTEGER  NOT NULL,
    two_factor_admins          INTEGER  NOT NULL DEFAULT 0,
    two_factor_sensitive_roles INTEGER  NOT NULL DEFAULT 0
) STRICT;

-- `seq` keeps joining order (AUTOINCREMENT: never reused after a removal).
CREATE TABLE workspace_members (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id  BLOB    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       BLOB    NOT NULL,
    role          TEXT    NOT NULL,              -- owner | admin | member
    joined_at     INTEGER NOT NULL,
    UNIQUE (workspace_id, user_id)               -- also the membership lookup
) STRICT;
CREATE INDEX workspace_members_by_user ON workspace_members (user_id);

CREATE TABLE invitations (
    id            BLOB    PRIMARY KEY NOT NULL,  -- also the first part of the token
    workspace_id  BLOB    NOT NULL,
    email         TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    invited_by    BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    token_hash    BLOB    NOT NULL,              -- SHA-256 of the token; never the token
    accepted_at   INTEGER,
    accepted_by   BLOB,
    revoked_at    INTEGER
) STRICT;
CREATE INDEX invitations_by_workspace ON invitations (workspace_id, created_at);

CREATE TABLE workspace_groups (
    id            BLOB    PRIMARY KEY NOT NULL,
    workspace_id  BLOB    NOT NULL,
    name          TEXT    NOT NULL,
    name_folded   TEXT    NOT NULL,              -- ASCII-lowercased: unique per workspace
    created_by    BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (workspace_id, name_folded)
) STRICT;

CREATE TABLE group_members (
    group_id  BLOB  NOT NULL REFERENCES workspace_groups (id) ON DELETE CASCADE,
    user_id   BLOB  NOT NULL,
    PRIMARY KEY (group_id, user_id)
) STRICT;
CREATE INDEX group_members_by_user ON group_members (user_id);

CREATE TABLE subscriptions (
    workspace_id  BLOB    NOT NULL,
    product       TEXT    NOT NULL,
    active        INTEGER NOT NULL,
    changed_by    BLOB    NOT NULL,
    changed_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, product)          -- on the key verification path
) STRICT;

CREATE TABLE grants (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,  -- "oldest first"
    workspace_id  BLOB    NOT NULL,
    grantee_kind  TEXT    NOT NULL,              -- user | group
    grantee_id    BLOB    NOT NULL,
    product       TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    granted_by    BLOB    NOT NULL,
    granted_at    INTEGER NOT NULL,
    UNIQUE (workspace_id, grantee_kind, grantee_id, product, role)
) STRICT;
CREATE INDEX grants_by_grantee ON grants (grantee_id);
