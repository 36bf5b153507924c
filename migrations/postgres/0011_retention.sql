-- Retention (issue 13): indexes that serve the batched purges of rows past
-- RETENTION_DAYS (crates/store-sql/src/retention.rs). Each purge is
--   DELETE FROM t WHERE <past retention> AND key IN
--   (SELECT key FROM t WHERE <past retention> LIMIT $2)
-- and its inner SELECT reads one batch from these indexes.

-- purge_ended: sessions expired, or revoked, at $1 or earlier
--   WHERE expires_at <= $1 OR revoked_at <= $1   (a BitmapOr of the two)
-- Their refresh tokens go by the foreign key's cascade (refresh_tokens_session_id).
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- purge_spent: e-mail tokens used, or expired, at $1 or earlier
--   WHERE used_at <= $1 OR expires_at <= $1
CREATE INDEX email_tokens_expires_at ON email_tokens (expires_at);
CREATE INDEX email_tokens_used_at ON email_tokens (used_at) WHERE used_at IS NOT NULL;

-- purge_finished: SENT or DEAD mail created at $1 or earlier, oldest first
--   WHERE status <> 'PENDING' AND created_at <= $1 ORDER BY created_at
CREATE INDEX outbox_finished_created_at ON outbox (created_at) WHERE status <> 'PENDING';
