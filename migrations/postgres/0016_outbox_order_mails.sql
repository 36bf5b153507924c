-- Mail kinds of their own for what a customer hears about their booking
-- (MailKind::OrderPlaced, OrderCompleted, OrderCancelled). The domain owns the
-- list of kinds; the CHECK stays as defence in depth and grows with it.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind
    CHECK (kind IN ('verify_email', 'reset_password', 'email_changed',
                    'order_placed', 'order_completed', 'order_cancelled'));
