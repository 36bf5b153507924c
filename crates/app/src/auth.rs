//! Signing up, logging in and staying logged in: sessions with rotating refresh
//! tokens, logout, and changing the password.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::TimeDelta;
use tozalash_domain::{
    AuthMetrics, Clock, Email, FieldError, Id, Password, PasswordHasher, Principal, RefreshToken,
    Role, SecretToken, SecretTokens, Session, SessionRepo, Signup, Timestamp, TokenPurpose, User,
    UserPatch, UserRepo, Version,
};

use crate::error::AppError;
use crate::limits::{login_key, Limit, RateLimits};
use crate::mail::MailFlows;

/// How long sessions live and how long a rotated refresh token is forgiven.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// The absolute lifetime of a session, however often it refreshes.
    pub refresh_ttl: TimeDelta,
    /// A rotated token presented again within this window is refused without
    /// revoking the session (two tabs refreshing at once); after it, the replay
    /// is taken for theft and the whole session is revoked.
    pub reuse_grace: TimeDelta,
}

/// A caller whose session was checked against storage just now: the account
/// as stored, and the principal with the role the account holds now (not the
/// one its access token was issued with).
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub user: User,
}

/// [`AuthService::authority`], for use cases that check the caller themselves.
pub(crate) async fn live_caller(
    sessions: &dyn SessionRepo,
    token: &Principal,
    now: Timestamp,
) -> Result<Caller, AppError> {
    let Some(user) = sessions.live_user(token.session_id, token.user_id, now).await? else {
        return Err(session_ended(token));
    };
    let principal = Principal { user_id: user.id, role: user.role, session_id: token.session_id };
    Ok(Caller { principal, user })
}

/// Logs that `token`'s session was found ended (revoked, expired, or its
/// account deleted), and answers the error that says so.
pub(crate) fn session_ended(token: &Principal) -> AppError {
    tracing::warn!(event = "authn_session_ended", user_id = %token.user_id, session_id = %token.session_id,
        "an access token of an ended session or a deleted account was refused");
    AppError::SessionEnded
}

/// Whether a request may trust its access token alone. Reads of public or
/// one's own data may, for the token's short lifetime; a write, and anything
/// an administrator's token asks, must be checked against storage
/// ([`AuthService::authority`]), so that logout, deletion and demotion take
/// effect at once for everything that changes or reveals others' data.
pub fn needs_live_check(token: &Principal, writes: bool) -> bool {
    writes || token.role == Role::Admin
}

/// A successful login or refresh: who, in which session, and the new refresh
/// token (its plain value travels to the client once, in a cookie).
#[derive(Debug)]
pub struct Authenticated {
    pub user: User,
    pub principal: Principal,
    pub refresh_token: SecretToken,
}

#[derive(Clone)]
pub struct AuthService {
    users: Arc<dyn UserRepo>,
    sessions: Arc<dyn SessionRepo>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn SecretTokens>,
    clock: Arc<dyn Clock>,
    policy: SessionPolicy,
    mail: MailFlows,
    metrics: Arc<dyn AuthMetrics>,
    limits: RateLimits,
}

impl std::fmt::Debug for AuthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl AuthService {
    // One argument per port, as the composition root wires them; a struct of
    // ports would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        users: Arc<dyn UserRepo>,
        sessions: Arc<dyn SessionRepo>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn SecretTokens>,
        clock: Arc<dyn Clock>,
        policy: SessionPolicy,
        mail: MailFlows,
        metrics: Arc<dyn AuthMetrics>,
        limits: RateLimits,
    ) -> Self {
        Self { users, sessions, hasher, tokens, clock, policy, mail, metrics, limits }
    }

    /// A new, unverified customer account; `SIGNUP_IP` limits how many one
    /// client may make.
    pub async fn signup(&self, signup: Signup, client: IpAddr) -> Result<User, AppError> {
        self.limits.check_ip(Limit::SignupIp, client).await?;
        let password_hash = self.hasher.hash(&signup.password).await.map_err(AppError::internal)?;
        let now = self.clock.now();
        let user = User {
            id: Id::generate(),
            username: signup.username,
            email: signup.email,
            password_hash,
            role: Role::User,
            pending_email: None,
            is_verified: false,
            locale: signup.locale,
            created_at: now,
            updated_at: now,
            version: Version::FIRST,
        };
        self.users.insert(&user).await?;
        tracing::info!(event = "user_created", user_id = %user.id, "user signed up");
        // Queued before the 201, so a signup that succeeded gets its mail
        // once SMTP is reachable, whatever happens to this process. The new
        // account's slot is free; taking it holds back a resend just as long.
        self.mail.queue_in_slot(user.id, self.mail.send_verification(&user, &user.email)).await?;
        Ok(user)
    }

    /// Checks the credentials and opens a session. An unknown or malformed
    /// e-mail and a wrong password do the same work and fail the same way,
    /// and are limited the same way: `LOGIN_IP`, `LOGIN_ACCOUNT`,
    /// `LOGIN_EMAIL`, and the slowdown of the (e-mail, client) pair after
    /// repeated failures, which a success resets.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<Authenticated, AppError> {
        let key = login_key(email);
        self.limits.admit_login(&key, client).await?;
        let email = Email::parse("email", email).ok();
        let user = match &email {
            Some(email) => self.users.find_by_email(email).await?,
            None => None,
        };
        // An empty or over-long password is never hashed (nor truncated); a
        // stand-in keeps the work, and so the timing, the same.
        let attempt = Password::parse_attempt("password", password).ok();
        let candidate = attempt.clone().unwrap_or_else(Password::stand_in);
        let matches = self
            .hasher
            .verify(&candidate, user.as_ref().map(|u| &u.password_hash))
            .await
            .map_err(AppError::internal)?;
        let user = match user {
            Some(user) if matches && attempt.is_some() => user,
            _ => {
                tracing::warn!(event = "authn_login_fail", "login failed");
                self.metrics.login_failed();
                self.limits.login_failed(&key, client).await;
                return Err(AppError::InvalidCredentials);
            }
        };
        self.limits.login_succeeded(&key, client).await;
        let now = self.clock.now();
        let session = Session {
            id: Id::generate(),
            user_id: user.id,
            created_at: now,
            expires_at: now + self.policy.refresh_ttl,
            revoked_at: None,
        };
        let refresh_token = self.tokens.generate();
        let record = RefreshToken {
            hash: refresh_token.hash,
            session_id: session.id,
            created_at: now,
            rotated_at: None,
        };
        self.sessions.create(&session, &record).await?;
        tracing::info!(event = "authn_login_success", user_id = %user.id, session_id = %session.id, "logged in");
        let principal = principal(&user, session.id);
        Ok(Authenticated { user, principal, refresh_token })
    }

    /// Exchanges a refresh token for a new one (rotation) and re-reads the user,
    /// so a role change or a deletion takes effect here.
    pub async fn refresh(&self, presented: &str) -> Result<Authenticated, AppError> {
        let now = self.clock.now();
        let hash = self.tokens.hash(presented);
        let (token, session) =
            self.sessions.find_refresh_token(&hash).await?.ok_or(AppError::InvalidRefreshToken)?;
        self.limits.check(Limit::RefreshSession, &session.id.to_string()).await?;
        if !session.is_active(now) {
            tracing::info!(event = "session_use_after_expire", session_id = %session.id, user_id = %session.user_id,
                "a refresh token of an ended session was presented");
            return Err(AppError::InvalidRefreshToken);
        }
        if let Some(rotated_at) = token.rotated_at {
            if now - rotated_at > self.policy.reuse_grace {
                self.sessions.revoke(session.id, now).await?;
                tracing::warn!(event = "authn_token_reuse", session_id = %session.id, user_id = %session.user_id,
                    "a rotated refresh token was replayed; session revoked");
            }
            return Err(AppError::InvalidRefreshToken);
        }
        let Some(user) = self.users.get(session.user_id).await? else {
            self.sessions.revoke(session.id, now).await?;
            return Err(AppError::InvalidRefreshToken);
        };
        let refresh_token = self.tokens.generate();
        let next = RefreshToken {
            hash: refresh_token.hash,
            session_id: session.id,
            created_at: now,
            rotated_at: None,
        };
        if !self.sessions.rotate(&hash, &next, now).await? {
            // The checks above were a read; the rotation re-checks them in its
            // one write. Either another request rotated this token a moment
            // ago (inside the grace window: no theft, nothing to revoke), or
            // the session was revoked (a logout, a password reset) or expired
            // in the meantime. No new token either way.
            tracing::info!(event = "session_rotation_refused", session_id = %session.id, user_id = %session.user_id,
                "the refresh token was rotated, or its session ended, since it was read");
            return Err(AppError::InvalidRefreshToken);
        }
        tracing::info!(event = "session_renewed", session_id = %session.id, user_id = %user.id, "refresh token rotated");
        let principal = principal(&user, session.id);
        Ok(Authenticated { user, principal, refresh_token })
    }

    /// The session a refresh token belongs to, if it is still active (for
    /// logging out with only the refresh cookie).
    pub async fn session_of(&self, presented: &str) -> Result<Option<Id>, AppError> {
        let hash = self.tokens.hash(presented);
        let found = self.sessions.find_refresh_token(&hash).await?;
        Ok(found.filter(|(_, s)| s.is_active(self.clock.now())).map(|(_, s)| s.id))
    }

    /// Ends one session. Its refresh token stops working at once; access
    /// tokens already issued live out their short TTL.
    pub async fn logout(&self, session_id: Id) -> Result<(), AppError> {
        self.sessions.revoke(session_id, self.clock.now()).await?;
        tracing::info!(event = "authn_token_revoked", %session_id, reason = "logout", "logged out");
        Ok(())
    }

    /// Ends every session of the caller, this one included.
    pub async fn logout_all(&self, caller: &Principal) -> Result<u64, AppError> {
        let revoked =
            self.sessions.revoke_all_for_user(caller.user_id, None, self.clock.now()).await?;
        tracing::info!(event = "authn_token_revoked", user_id = %caller.user_id, revoked_sessions = revoked,
            reason = "logout_all", "logged out everywhere");
        Ok(revoked)
    }

    /// Checks that the session an access token names is still live and its
    /// account still exists, in one read, and answers the caller with the role
    /// the account holds now. A revoked or expired session or a deleted
    /// account is [`AppError::SessionEnded`].
    pub async fn authority(&self, token: &Principal) -> Result<Caller, AppError> {
        live_caller(&*self.sessions, token, self.clock.now()).await
    }

    /// The caller's own account.
    pub async fn me(&self, caller: &Principal) -> Result<User, AppError> {
        self.users.get(caller.user_id).await?.ok_or(AppError::NotFound("user"))
    }

    /// Sets a new password after checking the current one; every other session
    /// of the user is revoked, the caller's own stays.
    pub async fn change_password(
        &self,
        caller: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), AppError> {
        let user = self.me(caller).await?;
        let current = Password::parse_attempt("currentPassword", current)?;
        if !self
            .hasher
            .verify(&current, Some(&user.password_hash))
            .await
            .map_err(AppError::internal)?
        {
            tracing::warn!(event = "authn_password_change_fail", user_id = %user.id, "wrong current password");
            return Err(FieldError::new(
                "currentPassword",
                "incorrect",
                "is not your current password",
            )
            .into());
        }
        let new = Password::parse_new("newPassword", new, &user.username, &user.email)?;
        let password_hash = self.hasher.hash(&new).await.map_err(AppError::internal)?;
        let patch = UserPatch { password_hash: Some(password_hash), ..UserPatch::default() };
        let now = self.clock.now();
        self.users.update(user.id, &patch, None, now).await?.ok_or(AppError::NotFound("user"))?;
        let revoked =
            self.sessions.revoke_all_for_user(user.id, Some(caller.session_id), now).await?;
        self.mail.invalidate_all(user.id).await?;
        tracing::info!(event = "authn_password_change", user_id = %user.id, revoked_sessions = revoked, "password changed");
        Ok(())
    }
}

impl AuthService {
    /// Records the address the verification link was sent to as proven: a
    /// pending address becomes the account's address, and the account is
    /// verified. One conditional write: if the account's addresses changed
    /// since the link was sent, the link no longer counts; if another account
    /// took the address meanwhile, it is a conflict (`email_taken`).
    pub async fn verify_email(&self, token: &str) -> Result<User, AppError> {
        let token = self
            .mail
            .redeem(token, TokenPurpose::VerifyEmail)
            .await?
            .ok_or(AppError::InvalidEmailToken)?;
        let user = self
            .users
            .confirm_email(token.user_id, &token.email, self.clock.now())
            .await?
            .ok_or(AppError::InvalidEmailToken)?;
        tracing::info!(user_id = %user.id, "e-mail verified");
        Ok(user)
    }

    /// Counts a request for a mail (a verification resend or a reset link)
    /// against `MAIL_IP`, before it is accepted: the mail itself is sent
    /// afterwards, so that the answer does not say whether the address has
    /// an account.
    pub async fn admit_mail_request(&self, client: IpAddr) -> Result<(), AppError> {
        self.limits.check_ip(Limit::MailIp, client).await
    }

    /// Sends a fresh verification link to this address when it is an
    /// unverified account's address or an account's pending one, at most once
    /// per resend interval. Says nothing about whether the account exists:
    /// the caller answers 202 either way.
    pub async fn resend_verification(&self, email: &Email) -> Result<(), AppError> {
        let user = match self.users.find_by_email(email).await? {
            Some(user) if !user.is_verified => Some(user),
            _ => self.users.find_by_pending_email(email).await?,
        };
        let Some(user) = user else {
            return Ok(());
        };
        self.mail.queue_if_slot_free(user.id, self.mail.send_verification(&user, email)).await
    }

    /// Sends a password-reset link to the verified account with this
    /// address, at most once per resend interval; silent about unknown
    /// addresses. A never-verified address gets nothing: whoever typed it at
    /// signup may not own it, and a reset link is the keys to the account.
    pub async fn forgot_password(&self, email: &Email) -> Result<(), AppError> {
        let Some(user) = self.users.find_by_email(email).await? else {
            return Ok(());
        };
        if !user.is_verified {
            tracing::info!(user_id = %user.id, "no reset link for an unverified address");
            return Ok(());
        }
        self.mail.queue_if_slot_free(user.id, self.mail.send_password_reset(&user)).await
    }

    /// Sets a new password with the token from the reset link, and revokes
    /// every session of the account. The password is checked before the
    /// token is used, so a refused password does not burn the link.
    pub async fn reset_password(&self, token: &str, password: &str) -> Result<(), AppError> {
        let found = self
            .mail
            .peek(token, TokenPurpose::ResetPassword)
            .await?
            .ok_or(AppError::InvalidEmailToken)?;
        let user = self.users.get(found.user_id).await?.ok_or(AppError::InvalidEmailToken)?;
        // Defence in depth: an e-mail change invalidates every link, and a
        // link only ever counts for the address it was sent to.
        if user.email != found.email {
            return Err(AppError::InvalidEmailToken);
        }
        let password = Password::parse_new("password", password, &user.username, &user.email)?;
        let password_hash = self.hasher.hash(&password).await.map_err(AppError::internal)?;
        self.mail
            .redeem(token, TokenPurpose::ResetPassword)
            .await?
            .ok_or(AppError::InvalidEmailToken)?;
        let now = self.clock.now();
        let patch = UserPatch { password_hash: Some(password_hash), ..UserPatch::default() };
        self.users.update(user.id, &patch, None, now).await?.ok_or(AppError::InvalidEmailToken)?;
        self.mail.invalidate_all(user.id).await?;
        let revoked = self.sessions.revoke_all_for_user(user.id, None, now).await?;
        tracing::info!(event = "authn_password_change", via = "reset", user_id = %user.id, revoked_sessions = revoked, "password reset");
        Ok(())
    }
}

fn principal(user: &User, session_id: Id) -> Principal {
    Principal { user_id: user.id, role: user.role, session_id }
}

impl From<FieldError> for AppError {
    fn from(error: FieldError) -> Self {
        Self::Validation(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mockall::predicate::eq;
    use tozalash_domain::clock::MockClock;
    use tozalash_domain::mail::MockMailRenderer;
    use tozalash_domain::ports::{MockAuthMetrics, MockEmailTokenRepo, MockOutbox};
    use tozalash_domain::ports::{
        MockPasswordHasher, MockSecretTokens, MockSessionRepo, MockUserRepo,
    };
    use tozalash_domain::{
        EmailToken, MailSlot, PasswordHash, RenderedMail, RepoError, Timestamp, TokenHash,
        UniqueKey, Username,
    };

    const T0: i64 = 1_764_201_600_000;
    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 7));

    use tozalash_domain::clock::at;

    fn policy() -> SessionPolicy {
        SessionPolicy { refresh_ttl: TimeDelta::days(30), reuse_grace: TimeDelta::seconds(30) }
    }

    fn stored_user() -> User {
        User {
            id: Id::generate(),
            username: Username::parse("u", "zarina").expect("valid"),
            email: Email::parse("e", "zarina@example.uz").expect("valid"),
            password_hash: PasswordHash::from_phc("$argon2id$stored".into()),
            role: Role::User,
            pending_email: None,
            is_verified: true,
            locale: None,
            created_at: at(T0),
            updated_at: at(T0),
            version: Version::FIRST,
        }
    }

    struct Mocks {
        users: MockUserRepo,
        sessions: MockSessionRepo,
        hasher: MockPasswordHasher,
        tokens: MockSecretTokens,
        email_tokens: MockEmailTokenRepo,
        outbox: MockOutbox,
        metrics: MockAuthMetrics,
        limits: RateLimits,
        now: i64,
    }

    impl Mocks {
        fn new() -> Self {
            let mut tokens = MockSecretTokens::new();
            tokens.expect_hash().returning(|plain| TokenHash([plain.len() as u8; 32]));
            tokens
                .expect_generate()
                .returning(|| SecretToken { plain: "fresh".into(), hash: TokenHash([0xf; 32]) });
            Self {
                users: MockUserRepo::new(),
                sessions: MockSessionRepo::new(),
                hasher: MockPasswordHasher::new(),
                tokens,
                email_tokens: MockEmailTokenRepo::new(),
                outbox: MockOutbox::new(),
                metrics: MockAuthMetrics::new(),
                limits: RateLimits::off(),
                now: T0,
            }
        }

        /// Expects one verification mail to be issued and queued.
        fn expect_verification_mail(&mut self) {
            self.email_tokens.expect_invalidate().times(1).returning(|_, _, _| Ok(0));
            self.email_tokens
                .expect_insert()
                .withf(|t| t.purpose == TokenPurpose::VerifyEmail)
                .times(1)
                .returning(|_| Ok(()));
            self.outbox.expect_enqueue().times(1).returning(|_| Ok(()));
        }

        fn service(self) -> AuthService {
            let mut clock = MockClock::new();
            let now = self.now;
            clock.expect_now().returning(move || at(now));
            let clock = Arc::new(clock);
            let tokens = Arc::new(self.tokens);
            let mut renderer = MockMailRenderer::new();
            renderer.expect_render().returning(|r| {
                Ok(RenderedMail {
                    to: r.to.clone(),
                    subject: "s".into(),
                    text: r.link.clone(),
                    html: String::new(),
                })
            });
            let users = Arc::new(self.users);
            let mail = MailFlows::new(
                users.clone(),
                Arc::new(self.email_tokens),
                Arc::new(self.outbox),
                Arc::new(renderer),
                tokens.clone(),
                clock.clone(),
                "https://tozalash.uz",
                crate::mail::LinkPolicy::default(),
            );
            AuthService::new(
                users,
                Arc::new(self.sessions),
                Arc::new(self.hasher),
                tokens,
                clock,
                policy(),
                mail,
                Arc::new(self.metrics),
                self.limits,
            )
        }
    }

    fn session(user: &User, revoked: Option<Timestamp>) -> Session {
        Session {
            id: Id::generate(),
            user_id: user.id,
            created_at: at(T0),
            expires_at: at(T0) + TimeDelta::days(30),
            revoked_at: revoked,
        }
    }

    #[tokio::test]
    async fn signup_stores_an_unverified_customer_and_queues_the_verification_mail() {
        let mut m = Mocks::new();
        m.expect_verification_mail();
        m.hasher.expect_hash().returning(|_| Ok(PasswordHash::from_phc("$argon2id$new".into())));
        m.users
            .expect_insert()
            .withf(|u| {
                u.role == Role::User
                    && !u.is_verified
                    && u.password_hash.as_str() == "$argon2id$new"
            })
            .times(1)
            .returning(|_| Ok(()));
        // The new account's mail slot is taken, so a resend waits its interval.
        m.users.expect_claim_mail_slot().times(1).returning(|_, _, _| Ok(MailSlot::Claimed));
        let signup =
            Signup::parse("zarina", "Zarina@Example.uz", "Gilam-yuvish-2026").expect("valid");

        let user = m.service().signup(signup, CLIENT).await.expect("signed up");

        assert_eq!(user.email.as_str(), "zarina@example.uz");
    }

    #[tokio::test]
    async fn signup_with_a_taken_email_is_a_duplicate() {
        let mut m = Mocks::new();
        m.hasher.expect_hash().returning(|_| Ok(PasswordHash::from_phc("$argon2id$new".into())));
        m.users.expect_insert().returning(|_| Err(RepoError::Duplicate(UniqueKey::Email)));
        let signup =
            Signup::parse("zarina", "zarina@example.uz", "Gilam-yuvish-2026").expect("valid");

        let err = m.service().signup(signup, CLIENT).await.expect_err("taken");

        assert!(matches!(err, AppError::Duplicate(UniqueKey::Email)));
    }

    #[tokio::test]
    async fn login_with_an_unknown_email_still_verifies_against_the_dummy_hash() {
        let mut m = Mocks::new();
        m.users.expect_find_by_email().returning(|_| Ok(None));
        m.hasher
            .expect_verify()
            .withf(|_, hash| hash.is_none())
            .times(1)
            .returning(|_, _| Ok(false));
        m.sessions.expect_create().never();
        m.metrics.expect_login_failed().times(1).return_const(());

        let err = m
            .service()
            .login("nobody@example.uz", "Gilam-yuvish-2026", CLIENT)
            .await
            .expect_err("unknown");

        assert!(matches!(err, AppError::InvalidCredentials));
    }

    #[tokio::test]
    async fn login_with_a_malformed_email_or_huge_password_does_the_same_work() {
        for (email, password) in
            [("not-an-email", "whatever-password"), ("zarina@example.uz", &"x".repeat(500)[..])]
        {
            let mut m = Mocks::new();
            let user = stored_user();
            m.users.expect_find_by_email().returning(move |_| Ok(Some(user.clone())));
            m.hasher.expect_verify().times(1).returning(|_, _| Ok(true));
            m.sessions.expect_create().never();
            m.metrics.expect_login_failed().times(1).return_const(());

            let err = m.service().login(email, password, CLIENT).await.expect_err("refused");

            assert!(matches!(err, AppError::InvalidCredentials), "{email}");
        }
    }

    #[tokio::test]
    async fn login_with_a_wrong_password_fails_like_an_unknown_email() {
        let mut m = Mocks::new();
        let user = stored_user();
        m.users.expect_find_by_email().returning(move |_| Ok(Some(user.clone())));
        m.hasher.expect_verify().withf(|_, hash| hash.is_some()).returning(|_, _| Ok(false));
        m.sessions.expect_create().never();
        m.metrics.expect_login_failed().times(1).return_const(());

        let err = m
            .service()
            .login("zarina@example.uz", "wrong-password", CLIENT)
            .await
            .expect_err("wrong");

        assert!(matches!(err, AppError::InvalidCredentials));
    }

    /// A limiter whose every counter is fresh, except the lock of the pair
    /// `lock_of`, which holds.
    fn limiter_locking(lock_of: &'static str) -> tozalash_domain::ports::MockRateLimiter {
        let mut limiter = tozalash_domain::ports::MockRateLimiter::new();
        limiter.expect_hit().returning(move |key, _| {
            Ok(if key == lock_of {
                tozalash_domain::Verdict::Limited { retry_after: std::time::Duration::from_secs(8) }
            } else {
                tozalash_domain::Verdict::Allowed { count: 1 }
            })
        });
        limiter.expect_forget().returning(|_| Ok(()));
        limiter
    }

    fn limits_with(limiter: tozalash_domain::ports::MockRateLimiter) -> RateLimits {
        let mut metrics = tozalash_domain::ports::MockRateLimitMetrics::new();
        metrics.expect_refused().return_const(());
        RateLimits::new(
            Arc::new(limiter),
            crate::limits::Quotas::default(),
            tozalash_domain::LoginSlowdown::default(),
            Arc::new(metrics),
        )
    }

    #[tokio::test]
    async fn a_slowed_down_pair_is_refused_before_any_password_is_checked_account_or_not() {
        for email in ["zarina@example.uz", "nobody@example.uz"] {
            let mut m = Mocks::new();
            let lock: &'static str =
                Box::leak(format!("login-lock:203.0.113.7|{email}").into_boxed_str());
            m.limits = limits_with(limiter_locking(lock));
            m.users.expect_find_by_email().never();
            m.hasher.expect_verify().never();
            m.sessions.expect_create().never();

            let err =
                m.service().login(email, "Gilam-yuvish-2026", CLIENT).await.expect_err("slowed");

            assert!(
                matches!(err, AppError::RateLimited { retry_after_secs: 8 }),
                "{email}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_failed_login_counts_against_its_pair_and_a_success_forgets_it() {
        for right in [false, true] {
            let mut m = Mocks::new();
            let user = stored_user();
            m.users.expect_find_by_email().returning(move |_| Ok(Some(user.clone())));
            m.hasher.expect_verify().returning(move |_, _| Ok(right));
            m.metrics.expect_login_failed().return_const(());
            m.sessions.expect_create().returning(|_, _| Ok(()));
            let mut limiter = tozalash_domain::ports::MockRateLimiter::new();
            limiter
                .expect_hit()
                .withf(|key, _| key.starts_with("login-failures:"))
                .times(usize::from(!right))
                .returning(|_, _| Ok(tozalash_domain::Verdict::Allowed { count: 1 }));
            limiter
                .expect_hit()
                .withf(|key, _| !key.starts_with("login-failures:"))
                .returning(|_, _| Ok(tozalash_domain::Verdict::Allowed { count: 1 }));
            limiter
                .expect_forget()
                .with(eq("login-failures:203.0.113.7|zarina@example.uz"))
                .times(usize::from(right))
                .returning(|_| Ok(()));
            limiter.expect_forget().returning(|_| Ok(()));
            m.limits = limits_with(limiter);

            let outcome = m.service().login("Zarina@example.uz", "password-1", CLIENT).await;

            assert_eq!(outcome.is_ok(), right);
        }
    }

    #[tokio::test]
    async fn login_opens_a_session_with_a_hashed_refresh_token() {
        let mut m = Mocks::new();
        let user = stored_user();
        let id = user.id;
        m.users.expect_find_by_email().returning(move |_| Ok(Some(user.clone())));
        m.hasher.expect_verify().returning(|_, _| Ok(true));
        m.metrics.expect_login_failed().never();
        m.sessions
            .expect_create()
            .withf(move |s, t| {
                s.user_id == id
                    && s.expires_at == at(T0) + TimeDelta::days(30)
                    && t.hash == TokenHash([0xf; 32])
                    && t.rotated_at.is_none()
            })
            .times(1)
            .returning(|_, _| Ok(()));

        let done = m
            .service()
            .login("ZARINA@example.uz", "right-password", CLIENT)
            .await
            .expect("logged in");

        assert_eq!(done.principal.user_id, id);
        assert_eq!(done.refresh_token.plain, "fresh");
    }

    #[tokio::test]
    async fn refresh_rotates_the_current_token_and_rereads_the_user() {
        let mut m = Mocks::new();
        let mut user = stored_user();
        user.role = Role::Admin; // promoted since login
        let s = session(&user, None);
        let sid = s.id;
        let token = RefreshToken {
            hash: TokenHash([3; 32]),
            session_id: s.id,
            created_at: at(T0),
            rotated_at: None,
        };
        m.sessions
            .expect_find_refresh_token()
            .returning(move |_| Ok(Some((token.clone(), s.clone()))));
        let u = user.clone();
        m.users.expect_get().returning(move |_| Ok(Some(u.clone())));
        m.sessions
            .expect_rotate()
            .with(eq(TokenHash([3; 32])), mockall::predicate::always(), eq(at(T0)))
            .times(1)
            .returning(|_, _, _| Ok(true));

        let done = m.service().refresh("old").await.expect("refreshed");

        assert_eq!(done.principal.role, Role::Admin);
        assert_eq!(done.principal.session_id, sid);
        assert_eq!(done.refresh_token.plain, "fresh");
    }

    #[tokio::test]
    async fn a_rotated_token_replayed_within_the_grace_window_is_refused_without_revoking() {
        let mut m = Mocks::new();
        m.now = T0 + 10_000;
        let user = stored_user();
        let s = session(&user, None);
        let token = RefreshToken {
            hash: TokenHash([3; 32]),
            session_id: s.id,
            created_at: at(T0),
            rotated_at: Some(at(T0)),
        };
        m.sessions
            .expect_find_refresh_token()
            .returning(move |_| Ok(Some((token.clone(), s.clone()))));
        m.sessions.expect_revoke().never();
        m.sessions.expect_rotate().never();

        let err = m.service().refresh("old").await.expect_err("refused");

        assert!(matches!(err, AppError::InvalidRefreshToken));
    }

    #[tokio::test]
    async fn a_rotated_token_replayed_after_the_grace_window_revokes_the_session() {
        let mut m = Mocks::new();
        m.now = T0 + 31_000;
        let user = stored_user();
        let s = session(&user, None);
        let sid = s.id;
        let token = RefreshToken {
            hash: TokenHash([3; 32]),
            session_id: s.id,
            created_at: at(T0),
            rotated_at: Some(at(T0)),
        };
        m.sessions
            .expect_find_refresh_token()
            .returning(move |_| Ok(Some((token.clone(), s.clone()))));
        m.sessions
            .expect_revoke()
            .with(eq(sid), eq(at(T0 + 31_000)))
            .times(1)
            .returning(|_, _| Ok(true));

        let err = m.service().refresh("old").await.expect_err("refused");

        assert!(matches!(err, AppError::InvalidRefreshToken));
    }

    #[tokio::test]
    async fn a_revoked_or_expired_session_does_not_refresh() {
        for (revoked, now) in
            [(Some(at(T0)), T0 + 1), (None, T0 + TimeDelta::days(31).num_milliseconds())]
        {
            let mut m = Mocks::new();
            m.now = now;
            let user = stored_user();
            let s = session(&user, revoked);
            let token = RefreshToken {
                hash: TokenHash([3; 32]),
                session_id: s.id,
                created_at: at(T0),
                rotated_at: None,
            };
            m.sessions
                .expect_find_refresh_token()
                .returning(move |_| Ok(Some((token.clone(), s.clone()))));
            m.sessions.expect_rotate().never();

            let err = m.service().refresh("old").await.expect_err("refused");

            assert!(matches!(err, AppError::InvalidRefreshToken));
        }
    }

    #[tokio::test]
    async fn a_rotation_refused_by_storage_is_refused_without_revoking_or_a_new_token() {
        // The session was live when read, then a password reset revoked it (or
        // another tab rotated the token) before the rotation's own write.
        let mut m = Mocks::new();
        let user = stored_user();
        let s = session(&user, None);
        let token = RefreshToken {
            hash: TokenHash([3; 32]),
            session_id: s.id,
            created_at: at(T0),
            rotated_at: None,
        };
        m.sessions
            .expect_find_refresh_token()
            .returning(move |_| Ok(Some((token.clone(), s.clone()))));
        let u = user.clone();
        m.users.expect_get().returning(move |_| Ok(Some(u.clone())));
        m.sessions.expect_rotate().times(1).returning(|_, _, _| Ok(false));
        m.sessions.expect_revoke().never();

        let err = m.service().refresh("old").await.expect_err("refused");

        assert!(matches!(err, AppError::InvalidRefreshToken));
    }

    #[tokio::test]
    async fn a_deleted_user_cannot_refresh() {
        let mut m = Mocks::new();
        let user = stored_user();
        let s = session(&user, None);
        let token = RefreshToken {
            hash: TokenHash([3; 32]),
            session_id: s.id,
            created_at: at(T0),
            rotated_at: None,
        };
        m.sessions
            .expect_find_refresh_token()
            .returning(move |_| Ok(Some((token.clone(), s.clone()))));
        m.users.expect_get().returning(|_| Ok(None));
        m.sessions.expect_revoke().times(1).returning(|_, _| Ok(true));
        m.sessions.expect_rotate().never();

        assert!(matches!(m.service().refresh("old").await, Err(AppError::InvalidRefreshToken)));
    }

    #[tokio::test]
    async fn change_password_checks_the_current_one_and_revokes_other_sessions() {
        let mut m = Mocks::new();
        let user = stored_user();
        let caller = principal(&user, Id::generate());
        let (uid, sid) = (user.id, caller.session_id);
        let u = user.clone();
        m.users.expect_get().returning(move |_| Ok(Some(u.clone())));
        m.hasher.expect_verify().returning(|p, _| Ok(p.expose() == "current-password"));
        m.hasher
            .expect_hash()
            .returning(|_| Ok(PasswordHash::from_phc("$argon2id$changed".into())));
        let u = user.clone();
        m.users
            .expect_update()
            .withf(|_, patch, _, _| {
                patch.password_hash.as_ref().map(PasswordHash::as_str) == Some("$argon2id$changed")
            })
            .times(1)
            .returning(move |_, _, _, _| Ok(Some(u.clone())));
        m.sessions
            .expect_revoke_all_for_user()
            .with(eq(uid), eq(Some(sid)), eq(at(T0)))
            .times(1)
            .returning(|_, _, _| Ok(2));
        // Links mailed for the old password die with it.
        for purpose in [TokenPurpose::VerifyEmail, TokenPurpose::ResetPassword] {
            m.email_tokens
                .expect_invalidate()
                .with(eq(uid), eq(purpose), eq(at(T0)))
                .times(1)
                .returning(|_, _, _| Ok(1));
        }
        let service = m.service();

        let wrong = service
            .change_password(&caller, "not-it", "Gilam-yuvish-2026")
            .await
            .expect_err("wrong");
        assert!(matches!(wrong, AppError::Validation(ref e) if e.errors()[0].code == "incorrect"));
        let weak = service
            .change_password(&caller, "current-password", "password123")
            .await
            .expect_err("weak");
        assert!(matches!(weak, AppError::Validation(ref e) if e.errors()[0].code == "too_common"));
        service
            .change_password(&caller, "current-password", "Gilam-yuvish-2026")
            .await
            .expect("changed");
    }

    fn token_for(user: &User, purpose: TokenPurpose) -> EmailToken {
        EmailToken {
            hash: TokenHash([5; 32]),
            user_id: user.id,
            purpose,
            email: user.email.clone(),
            created_at: at(T0),
            expires_at: at(T0) + TimeDelta::hours(1),
            used_at: None,
        }
    }

    #[tokio::test]
    async fn a_verification_link_verifies_the_address_it_was_sent_to() {
        let mut m = Mocks::new();
        let mut user = stored_user();
        user.is_verified = false;
        let token = token_for(&user, TokenPurpose::VerifyEmail);
        m.email_tokens.expect_consume().times(1).returning(move |_, _, _| Ok(Some(token.clone())));
        let verified = User { is_verified: true, ..user.clone() };
        let (id, email) = (user.id, user.email.clone());
        m.users.expect_update().never();
        m.users
            .expect_confirm_email()
            .withf(move |i, e, _| *i == id && *e == email)
            .times(1)
            .returning(move |_, _, _| Ok(Some(verified.clone())));

        let done = m.service().verify_email("link-token").await.expect("verified");

        assert!(done.is_verified);
    }

    #[tokio::test]
    async fn a_verification_link_for_an_old_address_no_longer_counts() {
        let mut m = Mocks::new();
        let user = stored_user();
        let mut token = token_for(&user, TokenPurpose::VerifyEmail);
        token.email = Email::parse("e", "old@example.uz").expect("valid");
        m.email_tokens.expect_consume().returning(move |_, _, _| Ok(Some(token.clone())));
        // The conditional write finds neither address: it changes nothing.
        m.users.expect_confirm_email().times(1).returning(|_, _, _| Ok(None));
        m.users.expect_update().never();

        let err = m.service().verify_email("link-token").await.expect_err("stale");

        assert!(matches!(err, AppError::InvalidEmailToken));
    }

    #[tokio::test]
    async fn forgot_password_for_an_unknown_address_sends_nothing() {
        let mut m = Mocks::new();
        m.users.expect_find_by_email().returning(|_| Ok(None));
        m.outbox.expect_enqueue().never();
        let email = Email::parse("e", "nobody@example.uz").expect("valid");

        m.service().forgot_password(&email).await.expect("silent");
    }

    #[tokio::test]
    async fn forgot_password_sends_only_when_it_takes_the_accounts_mail_slot() {
        for (slot, mails) in [(MailSlot::Claimed, 1), (MailSlot::Taken { last: at(T0) }, 0)] {
            let mut m = Mocks::new();
            let user = stored_user();
            let uid = user.id;
            m.users.expect_find_by_email().returning(move |_| Ok(Some(user.clone())));
            m.users
                .expect_claim_mail_slot()
                .withf(move |id, _, _| *id == uid)
                .times(1)
                .returning(move |_, _, _| Ok(slot));
            m.email_tokens.expect_invalidate().times(mails).returning(|_, _, _| Ok(0));
            m.email_tokens.expect_insert().times(mails).returning(|_| Ok(()));
            m.outbox.expect_enqueue().times(mails).returning(|_| Ok(()));
            let email = Email::parse("e", "zarina@example.uz").expect("valid");

            m.service().forgot_password(&email).await.expect("silent either way");
        }
    }

    #[tokio::test]
    async fn a_link_mail_that_is_not_queued_gives_the_accounts_mail_slot_back() {
        for flow in ["forgot", "resend", "signup"] {
            let mut m = Mocks::new();
            let mut user = stored_user();
            user.is_verified = flow == "forgot";
            let uid = user.id;
            m.users.expect_find_by_email().returning(move |_| Ok(Some(user.clone())));
            m.users.expect_insert().returning(|_| Ok(()));
            m.hasher
                .expect_hash()
                .returning(|_| Ok(PasswordHash::from_phc("$argon2id$new".into())));
            m.users.expect_claim_mail_slot().times(1).returning(|_, _, _| Ok(MailSlot::Claimed));
            m.email_tokens.expect_invalidate().times(1).returning(|_, _, _| Ok(0));
            m.email_tokens.expect_insert().times(1).returning(|_| Ok(()));
            m.outbox
                .expect_enqueue()
                .times(1)
                .returning(|_| Err(RepoError::Unavailable("connection reset".into())));
            // Given back as the claim of this request (its `now`), so that a
            // later claim is never undone.
            m.users
                .expect_release_mail_slot()
                .withf(move |id, claimed_at| {
                    (flow == "signup" || *id == uid) && *claimed_at == at(T0)
                })
                .times(1)
                .returning(|_, _| Ok(()));
            let email = Email::parse("e", "zarina@example.uz").expect("valid");
            let service = m.service();

            let result = match flow {
                "forgot" => service.forgot_password(&email).await,
                "resend" => service.resend_verification(&email).await,
                _ => {
                    let signup = Signup::parse("zarina", "zarina@example.uz", "Gilam-yuvish-2026")
                        .expect("valid");
                    service.signup(signup, CLIENT).await.map(drop)
                }
            };

            assert!(matches!(result, Err(AppError::Unavailable(_))), "{flow}: {result:?}");
        }
    }

    #[tokio::test]
    async fn a_refused_new_password_does_not_burn_the_reset_link() {
        let mut m = Mocks::new();
        let user = stored_user();
        let token = token_for(&user, TokenPurpose::ResetPassword);
        m.email_tokens.expect_find().returning(move |_, _, _| Ok(Some(token.clone())));
        m.email_tokens.expect_consume().never();
        let u = user.clone();
        m.users.expect_get().returning(move |_| Ok(Some(u.clone())));

        let err = m.service().reset_password("link-token", "password1").await.expect_err("weak");

        assert!(matches!(err, AppError::Validation(_)));
    }

    #[tokio::test]
    async fn a_password_reset_revokes_every_session() {
        let mut m = Mocks::new();
        let user = stored_user();
        let uid = user.id;
        let token = token_for(&user, TokenPurpose::ResetPassword);
        let t = token.clone();
        m.email_tokens.expect_find().returning(move |_, _, _| Ok(Some(t.clone())));
        m.email_tokens.expect_consume().times(1).returning(move |_, _, _| Ok(Some(token.clone())));
        m.email_tokens.expect_invalidate().returning(|_, _, _| Ok(0));
        let u = user.clone();
        m.users.expect_get().returning(move |_| Ok(Some(u.clone())));
        m.hasher.expect_hash().returning(|_| Ok(PasswordHash::from_phc("$argon2id$reset".into())));
        let u = user.clone();
        m.users.expect_update().times(1).returning(move |_, _, _, _| Ok(Some(u.clone())));
        m.sessions
            .expect_revoke_all_for_user()
            .with(eq(uid), eq(None), eq(at(T0)))
            .times(1)
            .returning(|_, _, _| Ok(3));

        m.service().reset_password("link-token", "Yangi-parol-2026").await.expect("reset");
    }
}
