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
-- archived_at when DELETE /services/{id} took the service out of the catalogue;
--            NULL while it is in it.
--
-- Both keys are computed by the domain in Rust, which SQL cannot run: rows
-- that exist before this migration get them from the adapter when it starts
-- (SqlStore::migrate, right after the migrations: every row whose name_key or
-- search_key is NULL). Until then they are NULL, which the unique index lets
-- any number of rows have. If two existing services turn out to share a name
-- key, that start fails loudly, naming both ids, and changes nothing else: an
-- administrator renames one (UPDATE services SET name = … WHERE id = …) and
-- starts again. Names are never rewritten behind anyone's back.

ALTER TABLE services
    ADD COLUMN name_key    TEXT COLLATE "C",
    ADD COLUMN search_key  TEXT COLLATE "C",
    ADD COLUMN archived_at TIMESTAMPTZ;

-- insert, update (rename): a taken name key → Duplicate(UniqueKey::ServiceName).
CREATE UNIQUE INDEX services_name_key ON services (name_key);

-- list with q: search_key LIKE '%' || $n || '%' ESCAPE '\' cannot seek in a
-- b-tree. The key is stored, so no function runs per row at query time and the
-- list still walks its sort index, checking each row's key, and stops after one
-- page. A trigram index (pg_trgm) would let it seek, but an extension is
-- database-wide, which neither per-schema tests nor every managed database
-- allow freely; the catalogue is small enough to go without.
