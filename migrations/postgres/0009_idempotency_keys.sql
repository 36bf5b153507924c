-- Records of idempotent requests (tozalash_domain::idempotency): a retried
-- POST /orders with the same Idempotency-Key gets the first answer again
-- instead of a second order, whichever instance receives it.
--
-- One row per (user, key). While the first request runs, response_status is
-- NULL and locked_until bounds how long it is presumed running; once it
-- finished, the answer is kept until expires_at (24 h) and replayed.

CREATE TABLE idempotency_keys (
    user_id          TEXT COLLATE "C" NOT NULL,
    -- IdempotencyKey: 1 to 255 visible ASCII characters, as the client sent it.
    key              TEXT COLLATE "C" NOT NULL,
    -- The SHA-256 of the first request's body, 64 lowercase hex characters.
    fingerprint      TEXT COLLATE "C" NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    locked_until     TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    -- The answer to replay; all three NULL while the request runs.
    response_status  INTEGER,
    response_type    TEXT,
    response_body    TEXT,

    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_keys_user_id_format CHECK (user_id ~ '^[0-9a-f]{24}$'),
    CONSTRAINT idempotency_keys_fingerprint_format CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    CONSTRAINT idempotency_keys_key_length CHECK (length(key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_keys_response CHECK (
        (response_status IS NULL) = (response_body IS NULL)
        AND (response_status IS NULL) = (response_type IS NULL))
);

-- begin is one INSERT … ON CONFLICT (user_id, key) DO UPDATE … WHERE (expired,
-- or an unfinished request of the same body whose lease ran out); complete and
-- release go by the primary key. purge_expired:
--   DELETE FROM idempotency_keys WHERE expires_at <= $1
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
