-- A clean catalogue (issue 14): unique names, search in both alphabets, and
-- deletion by archiving.
--
-- name_key   ServiceName::key(): the name in NFKC, case-folded, blanks and
--            invisible characters collapsed, apostrophe look-alikes as one.
--            Unique, archived services included: two services cannot share a
--            name ignoring case and spaces, and restoring one cannot make a
--            duplicate. The unique index, not a read before the write, decides.
-- search_key ServiceName::search_key(): the same normal form in Uzbek Latin
--            (Cyrillic transliterated), without apostrophes; what `q` matches.
-- archived_at when DELETE /services/{id} took the service out of the catalogue
--            (milliseconds since the Unix epoch); NULL while it is in it.
--
-- Both keys are computed by the domain in Rust, which SQL cannot run: rows
-- that exist before this migration get them from the adapter when it starts
-- (SqlStore::migrate, right after the migrations: every row whose name_key or
-- search_key is NULL). Until then they are NULL, which the unique index lets
-- any number of rows have. If two existing services turn out to share a name
-- key, that start fails loudly, naming both ids, and changes nothing else: an
-- administrator renames one (UPDATE services SET name = … WHERE id = …) and
-- starts again. Names are never rewritten behind anyone's back.

ALTER TABLE services ADD COLUMN name_key TEXT;
ALTER TABLE services ADD COLUMN search_key TEXT;
ALTER TABLE services ADD COLUMN archived_at INTEGER;

-- insert, update (rename): a taken name key → Duplicate(UniqueKey::ServiceName).
-- SQLite reports it as "UNIQUE constraint failed: services.name_key".
CREATE UNIQUE INDEX services_name_key ON services (name_key);

-- list with q: search_key LIKE '%' || $n || '%' ESCAPE '\' cannot seek in a
-- b-tree; SQLite checks the stored key of each row it walks in the list's
-- order (the catalogue is small), and never computes a key at query time.
