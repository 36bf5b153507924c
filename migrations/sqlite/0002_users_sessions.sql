-- Accounts (tozalash_domain::users::User), login sessions and the refresh tokens
-- each session has had (tozalash_domain::sessions).
--
-- Text compares with SQLite's default BINARY collation (byte order), as Postgres
-- does with COLLATE "C". Timestamps are INTEGER milliseconds since the Unix
-- epoch (UTC). STRICT makes SQLite refuse a value of the wrong type.
-- SQLite reports a unique violation as "UNIQUE constraint failed: table.column";
-- the adapter's error translation (crates/store-sql/src/error.rs) maps
-- users.id / users.email / users.username_folded to RepoError::Duplicate.

CREATE TABLE users (
    -- An ObjectId as 24 lowercase hexadecimal characters (Id::to_hex).
    id              TEXT NOT NULL PRIMARY KEY
                    CHECK (length(id) = 24 AND id NOT GLOB '*[^0-9a-f]*'),
    -- As the user typed it (Username: ASCII [A-Za-z0-9_.-]{3,32}).
    username        TEXT NOT NULL,
    -- Username::folded(): ASCII lower case (which is all SQLite's lower() does).
    username_folded TEXT NOT NULL UNIQUE CHECK (username_folded = lower(username)),
    -- Email: already normalised to lower case by the domain.
    email           TEXT NOT NULL UNIQUE,
    -- A PHC string ($argon2id$v=19$…).
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('ADMIN', 'USER')),
    is_verified     INTEGER NOT NULL CHECK (is_verified IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

-- list (newest first, ties by id):
--   SELECT … FROM users WHERE … ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5
CREATE INDEX users_created_at_id ON users (created_at, id);

CREATE TABLE sessions (
    id          TEXT NOT NULL PRIMARY KEY
                CHECK (length(id) = 24 AND id NOT GLOB '*[^0-9a-f]*'),
    -- No foreign key to users: deleting a user must not fail or silently drop
    -- its sessions; the use case revokes them.
    user_id     TEXT NOT NULL
                CHECK (length(user_id) = 24 AND user_id NOT GLOB '*[^0-9a-f]*'),
    created_at  INTEGER NOT NULL,
    -- The absolute end of the session, however often it is refreshed.
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

-- revoke_all_for_user: UPDATE sessions … WHERE user_id = $1 AND revoked_at IS NULL …
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE refresh_tokens (
    -- TokenHash::to_hex: the SHA-256 of the token, 64 lowercase hex characters.
    hash        TEXT NOT NULL PRIMARY KEY
                CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'),
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    -- When it was exchanged for its successor; NULL while it is the current one.
    rotated_at  INTEGER
) STRICT;

-- The tokens of a session (the foreign key's cascade).
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

-- A session has at most one current token: rotation marks the old one rotated
-- before it stores the new one, in one transaction.
CREATE UNIQUE INDEX refresh_tokens_one_current ON refresh_tokens (session_id)
    WHERE rotated_at IS NULL;
