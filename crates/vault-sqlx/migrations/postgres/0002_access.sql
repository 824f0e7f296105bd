-- Access: workspaces, members, invitations, groups, subscriptions, grants. Added after
-- 0001, so a database of the first version migrates forward: nothing here touches the key
-- or account tables. Timestamps are Unix nanoseconds, as in 0001.

CREATE TABLE workspaces (
    id                         UUID     PRIMARY KEY,
    name                       TEXT     NOT NULL,
    created_by                 UUID     NOT NULL,
    created_at                 BIGINT   NOT NULL,
    two_factor_admins          BOOLEAN  NOT NULL DEFAULT FALSE,
    two_factor_sensitive_roles BOOLEAN  NOT NULL DEFAULT FALSE
);

-- `seq` keeps joining order; a workspace's membership changes are serialised by a lock on
-- its `workspaces` row, so the order is the commit order.
CREATE TABLE workspace_members (
    seq           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  UUID    NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id       UUID    NOT NULL,
    role          TEXT    NOT NULL,               -- owner | admin | member
    joined_at     BIGINT  NOT NULL,
    UNIQUE (workspace_id, user_id)                -- also the membership lookup
);
CREATE INDEX workspace_members_by_user ON workspace_members (user_id);

CREATE TABLE invitations (
    id            UUID    PRIMARY KEY,            -- also the first part of the token
    workspace_id  UUID    NOT NULL,
    email         TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    invited_by    UUID    NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    token_hash    BYTEA   NOT NULL,               -- SHA-256 of the token; never the token
    accepted_at   BIGINT,
    accepted_by   UUID,
    revoked_at    BIGINT
);
CREATE INDEX invitations_by_workspace ON invitations (workspace_id, created_at);

CREATE TABLE workspace_groups (
    id            UUID    PRIMARY KEY,
    workspace_id  UUID    NOT NULL,
    name          TEXT    NOT NULL,
    name_folded   TEXT    NOT NULL,               -- ASCII-lowercased: unique per workspace
    created_by    UUID    NOT NULL,
    created_at    BIGINT  NOT NULL,
    UNIQUE (workspace_id, name_folded)
);

CREATE TABLE group_members (
    group_id  UUID  NOT NULL REFERENCES workspace_groups (id) ON DELETE CASCADE,
    user_id   UUID  NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);

CREATE TABLE subscriptions (
    workspace_id  UUID     NOT NULL,
    product       TEXT     NOT NULL,
    active        BOOLEAN  NOT NULL,
    changed_by    UUID     NOT NULL,
    changed_at    BIGINT   NOT NULL,
    PRIMARY KEY (workspace_id, product)           -- on the key verification path
);

-- `seq` keeps "oldest first"; inserts are serialised per workspace like members.
CREATE TABLE grants (
    seq           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  UUID    NOT NULL,
    grantee_kind  TEXT    NOT NULL,               -- user | group
    grantee_id    UUID    NOT NULL,
    product       TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    granted_by    UUID    NOT NULL,
    granted_at    BIGINT  NOT NULL,
    UNIQUE (workspace_id, grantee_kind, grantee_id, product, role)
);
CREATE INDEX grants_by_grantee ON grants (grantee_id);
