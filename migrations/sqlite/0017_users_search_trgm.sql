-- Lists at scale (issue 16): Postgres adds trigram indexes for the admin's
-- user search. SQLite has no index that serves LIKE '%term%' (its LIKE
-- optimisation needs a fixed prefix, and FTS5's trigram tokenizer would mean a
-- second, synchronised table), so the search stays a scan of `users` there; the
-- file keeps both backends' migration numbers in step.
SELECT 1;
