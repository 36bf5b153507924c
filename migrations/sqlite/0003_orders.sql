-- Orders (tozalash_domain::orders::Order): a customer books a cleaning service.
--
-- No foreign keys to users or services: an order keeps a snapshot of the
-- service's name and price, so deleting the service (or the customer) must
-- leave it intact. Text compares with SQLite's default BINARY collation (byte
-- order), as Postgres does with COLLATE "C". Timestamps are INTEGER
-- milliseconds since the Unix epoch (UTC). STRICT makes SQLite refuse a value
-- of the wrong type. A taken id is reported as "UNIQUE constraint failed:
-- orders.id", which the adapter's error translation
-- (crates/store-sql/src/error.rs) maps to RepoError::Duplicate("id").

CREATE TABLE orders (
    -- An ObjectId as 24 lowercase hexadecimal characters (Id::to_hex).
    id           TEXT NOT NULL PRIMARY KEY
                 CHECK (length(id) = 24 AND id NOT GLOB '*[^0-9a-f]*'),
    user_id      TEXT NOT NULL
                 CHECK (length(user_id) = 24 AND user_id NOT GLOB '*[^0-9a-f]*'),
    service_id   TEXT NOT NULL
                 CHECK (length(service_id) = 24 AND service_id NOT GLOB '*[^0-9a-f]*'),
    -- The service's name and price when the order was placed.
    service_name TEXT NOT NULL CHECK (service_name <> ''),
    -- Money in minor units; the domain enforces 0..=10^12, this is defence in depth.
    price        INTEGER NOT NULL CHECK (price BETWEEN 0 AND 1000000000000),
    status       TEXT NOT NULL CHECK (status IN ('PENDING', 'COMPLETED', 'CANCELLED')),
    scheduled_at INTEGER,
    address      TEXT,
    notes        TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

-- Every list is newest first (created_at DESC, id DESC). The list builds its
-- WHERE clause from the filters that are set only, so the planner sees plain
-- equalities and walks the index that leads with the filtered column, stopping
-- after offset + limit rows; the total (the same filters under COUNT(*)) is a
-- covering-index scan of the same index.

-- A customer's own orders, and cancel_pending_of_user:
--   SELECT … FROM orders WHERE user_id = $1 [AND …]
--   ORDER BY created_at DESC, id DESC LIMIT … OFFSET …
--   UPDATE orders … WHERE user_id = $1 AND status = 'PENDING'
CREATE INDEX orders_user_id_created_at_id ON orders (user_id, created_at DESC, id DESC);

-- The admin's status filter:
--   SELECT … FROM orders WHERE status = $1 [AND …]
--   ORDER BY created_at DESC, id DESC LIMIT … OFFSET …
CREATE INDEX orders_status_created_at_id ON orders (status, created_at DESC, id DESC);

-- The admin's list of all orders, and the creation-time window alone:
--   SELECT … FROM orders [WHERE created_at >= $1 AND created_at < $2]
--   ORDER BY created_at DESC, id DESC LIMIT … OFFSET …
CREATE INDEX orders_created_at_id ON orders (created_at DESC, id DESC);

-- The admin's service filter:
--   SELECT … FROM orders WHERE service_id = $1 [AND …]
--   ORDER BY created_at DESC, id DESC LIMIT … OFFSET …
CREATE INDEX orders_service_id_created_at_id ON orders (service_id, created_at DESC, id DESC);
