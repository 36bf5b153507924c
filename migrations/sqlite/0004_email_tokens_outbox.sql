-- Single-use e-mail tokens (tozalash_domain::email_tokens::EmailToken) and the
-- mail outbox (tozalash_domain::mail::OutboxMessage).
--
-- Text compares with SQLite's default BINARY collation (byte order), as Postgres
-- does with COLLATE "C". Timestamps are INTEGER milliseconds since the Unix
-- epoch (UTC). STRICT makes SQLite refuse a value of the wrong type. Neither
-- table has a unique key the adapter maps to RepoError::Duplicate: hashes and
-- ids are random, so a clash can only come from a bug and stays a
-- RepoError::Failed.

CREATE TABLE email_tokens (
    -- TokenHash::to_hex: the SHA-256 of the token, 64 lowercase hex characters.
    -- Only the hash is stored, so a database leak leaks no usable link.
    hash        TEXT NOT NULL PRIMARY KEY
                CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'),
    -- No foreign key to users, as for sessions: deleting a user must not fail.
    user_id     TEXT NOT NULL
                CHECK (length(user_id) = 24 AND user_id NOT GLOB '*[^0-9a-f]*'),
    purpose     TEXT NOT NULL CHECK (purpose IN ('VERIFY_EMAIL', 'RESET_PASSWORD')),
    -- The address the token was sent to (Email: normalised by the domain).
    email       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    -- When it was used or superseded; NULL while it is still usable.
    used_at     INTEGER
) STRICT;

-- find and consume go by the primary key:
--   UPDATE email_tokens SET used_at = $3
--   WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 RETURNING …
-- invalidate (the unused tokens of one user and purpose) and latest (the
-- newest of them, read from the top of the index):
--   UPDATE email_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL
--   SELECT created_at FROM email_tokens WHERE user_id = $1 AND purpose = $2
--   ORDER BY created_at DESC LIMIT 1
CREATE INDEX email_tokens_user_id_purpose_created_at
    ON email_tokens (user_id, purpose, created_at DESC);

CREATE TABLE outbox (
    -- An ObjectId as 24 lowercase hexadecimal characters (Id::to_hex).
    id              TEXT NOT NULL PRIMARY KEY
                    CHECK (length(id) = 24 AND id NOT GLOB '*[^0-9a-f]*'),
    -- MailKind::as_str: the template the mail was rendered from.
    kind            TEXT NOT NULL CHECK (kind IN ('verify_email', 'reset_password')),
    -- The rendered mail: its recipient (Email), subject, text and HTML parts.
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    -- Emptied once the mail is SENT or DEAD: its links carry secret tokens.
    body_text       TEXT NOT NULL,
    body_html       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'SENT', 'DEAD')),
    -- Delivery attempts so far: a u32 in the domain.
    attempts        INTEGER NOT NULL CHECK (attempts BETWEEN 0 AND 4294967295),
    -- When the worker may next try it; while a worker sends it, its lease.
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    -- When it was sent (mark_sent); NULL until then. Not part of the domain
    -- value: it is here for operators and for purging old mail.
    sent_at         INTEGER,
    -- Why the last attempt failed.
    last_error      TEXT,

    -- Defence in depth: a finished mail keeps no secret link.
    CHECK (status = 'PENDING' OR (body_text = '' AND body_html = ''))
) STRICT;

-- The worker's claim, the only hot query: the due PENDING mail, oldest due
-- first. Mail that is SENT or DEAD (almost every row, in time) is not in it.
-- SQLite has one writer, so the claim is a BEGIN IMMEDIATE transaction of
--   SELECT … FROM outbox WHERE status = 'PENDING' AND next_attempt_at <= $1
--   ORDER BY next_attempt_at, id LIMIT $2
--   UPDATE outbox SET next_attempt_at = $3 WHERE id IN (the same SELECT's ids)
-- and backlog's count of PENDING mail.
CREATE INDEX outbox_pending_due ON outbox (next_attempt_at, id) WHERE status = 'PENDING';

-- backlog's count of DEAD mail (few rows, for metrics and operators).
CREATE INDEX outbox_dead ON outbox (created_at) WHERE status = 'DEAD';
