-- When the last mail carrying a link (verification, password reset) went to
-- the account, in milliseconds: UserRepo::claim_mail_slot takes the account's
-- slot with ONE conditional UPDATE, so at most one such mail per
-- MAIL_RESEND_INTERVAL goes out however many requests ask at once:
--   UPDATE users SET last_mail_at = $2
--   WHERE id = $1 AND (last_mail_at IS NULL OR last_mail_at <= $3)
-- NULL: no such mail yet. (It replaces reading the newest e-mail token, so the
-- index email_tokens_user_id_purpose_created_at now serves `invalidate` only.)
-- (ALTER TABLE … ADD COLUMN keeps the table STRICT.)

ALTER TABLE users ADD COLUMN last_mail_at INTEGER;
