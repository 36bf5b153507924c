-- Orders (tozalash_domain::orders::Order): a customer books a cleaning service.
--
-- No foreign keys to users or services: an order keeps a snapshot of the
-- service's name and price, so deleting the service (or the customer) must
-- leave it intact. Ids use the "C" collation, so they compare byte by byte and
-- lists come back in the same order as on SQLite and MongoDB. The constraint
-- name orders_pkey is mapped to RepoError::Duplicate("id") by the adapter's
-- error translation (crates/store-sql/src/error.rs).

CREATE TABLE orders (
    -- An ObjectId as 24 lowercase hexadecimal characters (Id::to_hex).
    id           TEXT COLLATE "C" NOT NULL,
    user_id      TEXT COLLATE "C" NOT NULL,
    service_id   TEXT COLLATE "C" NOT NULL,
    -- The service's name and price when the order was placed.
    service_name TEXT NOT NULL,
    -- Money in minor units; the domain enforces 0..=10^12, this is defence in depth.
    price        BIGINT NOT NULL,
    status       TEXT COLLATE "C" NOT NULL,
    scheduled_at TIMESTAMPTZ,
    address      TEXT,
    notes        TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,

    CONSTRAINT orders_pkey PRIMARY KEY (id),
    CONSTRAINT orders_id_format CHECK (id ~ '^[0-9a-f]{24}$'),
    CONSTRAINT orders_user_id_format CHECK (user_id ~ '^[0-9a-f]{24}$'),
    CONSTRAINT orders_service_id_format CHECK (service_id ~ '^[0-9a-f]{24}$'),
    CONSTRAINT orders_service_name_not_empty CHECK (service_name <> ''),
    CONSTRAINT orders_price_range CHECK (price BETWEEN 0 AND 1000000000000),
    CONSTRAINT orders_status CHECK (status IN ('PENDING', 'COMPLETED', 'CANCELLED'))
);

-- Every list is newest first (created_at DESC, id DESC). The list builds its
-- WHERE clause from the filters that are set only, so the planner sees plain
-- equalities and walks the index that leads with the filtered column, stopping
-- after offset + limit rows; the total (the same filters under COUNT(*)) is an
-- index-only scan of the same index.

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
