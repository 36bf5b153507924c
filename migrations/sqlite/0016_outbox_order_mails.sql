-- Mail kinds of their own for what a customer hears about their booking
-- (MailKind::OrderPlaced, OrderCompleted, OrderCancelled). SQLite cannot alter
-- a CHECK, so the table is rebuilt (the documented 12-step way, inside the
-- migration's transaction) with the same columns, constraints and indexes and
-- the longer list of kinds.
CREATE TABLE outbox_next (
    -- An ObjectId as 24 lowercase hexadecimal characters (Id::to_hex).
    id              TEXT NOT NULL PRIMARY KEY
                    CHECK (length(id) = 24 AND id NOT GLOB '*[^0-9a-f]*'),
    -- MailKind::as_str: the template the mail was rendered from.
    kind            TEXT NOT NULL CHECK (kind IN ('verify_email', 'reset_password', 'email_changed',
                                                  'order_placed', 'order_completed', 'order_cancelled')),
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
    -- The claim that holds the message (0010_outbox_claim_token.sql).
    claim_token     TEXT
                    CHECK (length(claim_token) = 32 AND claim_token NOT GLOB '*[^0-9a-f]*'),

    -- Defence in depth: a finished mail keeps no secret link.
    CHECK (status = 'PENDING' OR (body_text = '' AND body_html = ''))
) STRICT;

INSERT INTO outbox_next (id, kind, recipient, subject, body_text, body_html, status, attempts,
                         next_attempt_at, created_at, sent_at, last_error, claim_token)
    SELECT id, kind, recipient, subject, body_text, body_html, status, attempts,
           next_attempt_at, created_at, sent_at, last_error, claim_token
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_next RENAME TO outbox;

CREATE INDEX outbox_pending_due ON outbox (next_attempt_at, id) WHERE status = 'PENDING';
CREATE INDEX outbox_dead ON outbox (created_at) WHERE status = 'DEAD';
CREATE INDEX outbox_finished_created_at ON outbox (created_at) WHERE status <> 'PENDING';
