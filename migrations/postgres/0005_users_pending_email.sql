-- A new e-mail address an account owner asked for and has not proven yet
-- (tozalash_domain::users::User::pending_email). Until its verification link is
-- followed, users.email stays the account's address; UserRepo::confirm_email
-- moves it over in one conditional UPDATE.
--
-- Not unique: anyone may ask for any address, and only proving it (which
-- writes users.email, under users_email_key) decides who gets it.

ALTER TABLE users ADD COLUMN pending_email TEXT COLLATE "C";

-- find_by_pending_email (the newest account waiting for this address):
--   SELECT … FROM users WHERE pending_email = $1 ORDER BY created_at DESC, id DESC LIMIT 1
-- Partial: almost no account has a pending address at any time.
CREATE INDEX users_pending_email ON users (pending_email, created_at DESC, id DESC)
    WHERE pending_email IS NOT NULL;
