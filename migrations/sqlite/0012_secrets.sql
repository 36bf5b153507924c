-- Small named secrets every instance on this database shares (issue 13):
-- the development access-token key of a server database
-- (crates/store-sql/src/secrets.rs). On SQLite the development key lives in
-- the file beside the database instead, so this table stays empty; it exists
-- so that the port behaves the same on every backend.
--   INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING
--   SELECT value FROM secrets WHERE name = $1
CREATE TABLE secrets (
    -- What the value is for ('jwt_key').
    name   TEXT NOT NULL PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT;
