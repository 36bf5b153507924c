-- Orders for the dispatcher and for the record (issue 14).

-- The customer's username when the order was placed (like service_name), so
-- an order stays readable after the account is deleted. Existing orders take
-- their customer's current username; those whose customer is already gone
-- keep NULL (the API shows customerName: null).
ALTER TABLE orders ADD COLUMN customer_name TEXT;
UPDATE orders SET customer_name = (SELECT username FROM users WHERE users.id = orders.user_id);

-- A blank address or notes is no address or notes at all (the domain stores
-- them trimmed, so a blank one is the empty string).
UPDATE orders SET address = NULL WHERE address = '';
UPDATE orders SET notes = NULL WHERE notes = '';

-- The dispatcher's view by visit time:
--   SELECT … FROM orders WHERE scheduled_at >= $1 AND scheduled_at < $2
--   ORDER BY scheduled_at [DESC], id [DESC] LIMIT … OFFSET …
-- SQLite sorts NULL first ascending and last descending, as the query asks,
-- so one index serves both directions.
CREATE INDEX orders_scheduled_at_id ON orders (scheduled_at, id);
