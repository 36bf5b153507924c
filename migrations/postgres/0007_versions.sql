-- Optimistic concurrency (tozalash_domain::version::Version): every service,
-- user and order counts its writes. Each write that changes what the API shows
-- of a row raises `version` by one in the same UPDATE, and a PATCH with
-- If-Match is ONE conditional UPDATE … WHERE id = $1 AND version = $n, so two
-- administrators editing one record cannot silently overwrite each other. The
-- API's ETag is the version. A counter, not a timestamp: two writes in one
-- millisecond share a timestamp, never a version.
--
-- Rows that exist already start at 1 (the DEFAULT fills them in place).

ALTER TABLE services ADD COLUMN version bigint NOT NULL DEFAULT 1
    CONSTRAINT services_version_positive CHECK (version >= 1);
ALTER TABLE users ADD COLUMN version bigint NOT NULL DEFAULT 1
    CONSTRAINT users_version_positive CHECK (version >= 1);
ALTER TABLE orders ADD COLUMN version bigint NOT NULL DEFAULT 1
    CONSTRAINT orders_version_positive CHECK (version >= 1);
