-- The catalogue of cleaning services (tozalash_domain::catalog::Service).
--
-- Text compares with SQLite's default BINARY collation (byte order), the same
-- order Postgres gives with COLLATE "C" and MongoDB gives by default.
-- STRICT makes SQLite refuse a value of the wrong type instead of storing it.

CREATE TABLE services (
    -- An ObjectId as 24 lowercase hexadecimal characters (Id::to_hex).
    id          TEXT NOT NULL PRIMARY KEY
                CHECK (length(id) = 24 AND id NOT GLOB '*[^0-9a-f]*'),
    name        TEXT NOT NULL CHECK (name <> ''),
    -- ServiceName::folded(): Unicode lower case, for search and name order
    -- (SQLite's own lower() only knows ASCII).
    name_folded TEXT NOT NULL,
    description TEXT NOT NULL,
    -- Money in minor units; the domain enforces 0..=10^12, this is defence in depth.
    price       INTEGER NOT NULL CHECK (price BETWEEN 0 AND 1000000000000),
    -- Milliseconds since the Unix epoch (UTC): the domain's precision, exactly.
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- An index is read backwards as cheaply as forwards, so each index below serves
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
