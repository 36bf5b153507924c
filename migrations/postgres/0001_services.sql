-- The catalogue of cleaning services (tozalash_domain::catalog::Service).
--
-- Ids and folded names use the "C" collation, so they compare byte by byte and
-- every list comes back in the same order as on SQLite and MongoDB.

CREATE TABLE services (
    -- An ObjectId as 24 lowercase hexadecimal characters (Id::to_hex).
    id          TEXT COLLATE "C" NOT NULL,
    name        TEXT NOT NULL,
    -- ServiceName::folded(): Unicode lower case, for search and name order.
    name_folded TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL,
    -- Money in minor units; the domain enforces 0..=10^12, this is defence in depth.
    price       BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,

    CONSTRAINT services_pkey PRIMARY KEY (id),
    CONSTRAINT services_id_format CHECK (id ~ '^[0-9a-f]{24}$'),
    CONSTRAINT services_name_not_empty CHECK (name <> ''),
    CONSTRAINT services_price_range CHECK (price BETWEEN 0 AND 1000000000000)
);

-- A b-tree is read backwards as cheaply as forwards, so each index below serves
-- both directions of its order (ASC, ASC and DESC, DESC).

-- list, sort=name / -name (the default order):
--   SELECT … FROM services WHERE … ORDER BY name_folded, id LIMIT $2 OFFSET $3
CREATE INDEX services_name_folded_id ON services (name_folded, id);

-- list, sort=price / -price:
--   SELECT … FROM services WHERE … ORDER BY price, id LIMIT $2 OFFSET $3
CREATE INDEX services_price_id ON services (price, id);

-- list, sort=createdAt / -createdAt:
--   SELECT … FROM services WHERE … ORDER BY created_at, id LIMIT $2 OFFSET $3
CREATE INDEX services_created_at_id ON services (created_at, id);
