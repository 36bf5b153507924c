-- The outbox claim token (tozalash_domain::mail::ClaimToken): each claim
-- stores a fresh random token with the messages it leases, and every write
-- that follows the claim (renew, mark_sent, retry_later, mark_dead, release)
-- is conditional on it, so a worker whose lease ran out cannot touch a
-- message another worker claimed since. NULL while no claim holds the message
-- (never claimed, or the claim ended). Follow-ups go by the primary key.
ALTER TABLE outbox ADD COLUMN claim_token TEXT
    CHECK (length(claim_token) = 32 AND claim_token NOT GLOB '*[^0-9a-f]*');
