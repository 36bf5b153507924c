-- A mail kind of its own for the notice an account's old address gets when
-- the address changes (MailKind::EmailChanged). The domain owns the list of
-- kinds; the CHECK stays as defence in depth and grows with it.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind
    CHECK (kind IN ('verify_email', 'reset_password', 'email_changed'));
