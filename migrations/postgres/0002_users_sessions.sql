-- Accounts (tozalash_domain::users::User), login sessions and the refresh tokens
-- each session has had (tozalash_domain::sessions).
--
-- Ids, folded usernames, e-mails and token hashes use the "C" collation, so they
-- compare byte by byte, as on SQLite and MongoDB. Constraint names are fixed:
-- the adapter's error translation (crates/store-sql/src/error.rs) maps the
-- unique ones to RepoError::Duplicate("id" / "email" / "username").

CREATE TABLE users (
    -- An ObjectId as 24 lowercase hexadecimal characters (Id::to_hex).
    id              TEXT COLLATE "C" NOT NULL,
    -- As the user typed it (Username: ASCII [A-Za-z0-9_.-]{3,32}).
    username        TEXT NOT NULL,
    -- Username::folded(): ASCII lower case; uniqueness and search use it.
    username_folded TEXT COLLATE "C" NOT NULL,
    -- Email: already normalised to lower case by the domain.
    email           TEXT COLLATE "C" NOT NULL,
    -- A PHC string ($argon2id$v=19$…).
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL,
    is_verified     BOOLEAN NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,

    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_username_key UNIQUE (username_folded),
    CONSTRAINT users_id_format CHECK (id ~ '^[0-9a-f]{24}$'),
    -- lower() under "C" changes ASCII letters only, exactly as to_ascii_lowercase.
    CONSTRAINT users_username_folded CHECK (username_folded = lower(username COLLATE "C")),
    CONSTRAINT users_role CHECK (role IN ('ADMIN', 'USER'))
);

-- list (newest first, ties by id):
--   SELECT … FROM users WHERE … ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5
CREATE INDEX users_created_at_id ON users (created_at, id);

CREATE TABLE sessions (
    id          TEXT COLLATE "C" NOT NULL,
    -- No foreign key to users: deleting a user must not fail or silently drop
    -- its sessions; the use case revokes them.
    user_id     TEXT COLLATE "C" NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    -- The absolute end of the session, however often it is refreshed.
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ,

    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT sessions_id_format CHECK (id ~ '^[0-9a-f]{24}$'),
    CONSTRAINT sessions_user_id_format CHECK (user_id ~ '^[0-9a-f]{24}$')
);

-- revoke_all_for_user: UPDATE sessions … WHERE user_id = $1 AND revoked_at IS NULL …
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE refresh_tokens (
    -- TokenHash::to_hex: the SHA-256 of the token, 64 lowercase hex characters.
    hash        TEXT COLLATE "C" NOT NULL,
    session_id  TEXT COLLATE "C" NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    -- When it was exchanged for its successor; NULL while it is the current one.
    rotated_at  TIMESTAMPTZ,

    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (hash),
    CONSTRAINT refresh_tokens_hash_format CHECK (hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT refresh_tokens_session_fkey FOREIGN KEY (session_id)
        REFERENCES sessions (id) ON DELETE CASCADE
);

-- The tokens of a session (the foreign key's cascade).
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);

-- A session has at most one current token: rotation marks the old one rotated
-- before it stores the new one, in one transaction.
CREATE UNIQUE INDEX refresh_tokens_one_current ON refresh_tokens (session_id)
    WHERE rotated_at IS NULL;
