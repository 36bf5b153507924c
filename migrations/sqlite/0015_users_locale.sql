-- The language of an account's mail (tozalash_domain::users::User::locale):
-- 'uz', 'ru' or 'en', chosen at signup (the body's `locale`, else the request's
-- Accept-Language) and changeable by the owner. NULL for accounts made before
-- this column: their mail is in the service's default, MAIL_LOCALE. The domain
-- decides which codes exist (tozalash_domain::Locale); a row with another code
-- is reported as corrupt when read.
-- (ALTER TABLE … ADD COLUMN keeps the table STRICT.)

ALTER TABLE users ADD COLUMN locale TEXT;
