-- Lists at scale (issue 16): the admin's user search (`GET /users?q=`) matches
--   username_folded LIKE '%' || $1 || '%' OR email LIKE '%' || $1 || '%'
-- anywhere in the text, which no B-tree can serve. Trigram GIN indexes can
-- (pg_trgm supports LIKE with leading wildcards), so a search reads a BitmapOr
-- of the two instead of scanning the table. pg_trgm ships with Postgres and is
-- a trusted extension since Postgres 13: the database's owner may create it.
-- It goes into `public` (once per database), and the indexes name its operator
-- class there, so that a schema whose search_path leaves `public` out (one
-- schema per test) finds it too.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE INDEX users_username_folded_trgm ON users USING gin (username_folded public.gin_trgm_ops);
CREATE INDEX users_email_trgm ON users USING gin (email public.gin_trgm_ops);
