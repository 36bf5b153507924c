//! Mail that must never get lost: verification and password-reset links are
//! issued as single-use tokens and queued in the outbox in the same step as
//! the change that causes them; the [`OutboxWorker`] delivers them at least
//! once, with capped exponential backoff and jitter, across restarts.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use tozalash_domain::{
    ClaimedMessage, Clock, Email, EmailToken, EmailTokenRepo, Id, Locale, MailKind, MailRenderer,
    MailRequest, MailSlot, Mailer, OrderFacts, Outbox, OutboxMessage, OutboxStatus, RepoError,
    SecretTokens, SendError, Timestamp, TokenPurpose, User, UserRepo, Username, Version,
};

use crate::error::AppError;

/// What an order and its mails need of the customer's account, as read at
/// `version`: whom to write to, by which name, in which language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: Id,
    pub username: Username,
    pub email: Email,
    pub locale: Option<Locale>,
    pub is_verified: bool,
    pub version: Version,
}

impl From<&User> for Customer {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            locale: user.locale,
            is_verified: user.is_verified,
            version: user.version,
        }
    }
}

/// Issues e-mailed tokens and queues the mails that carry them.
#[derive(Clone)]
pub struct MailFlows {
    users: Arc<dyn UserRepo>,
    tokens: Arc<dyn EmailTokenRepo>,
    outbox: Arc<dyn Outbox>,
    renderer: Arc<dyn MailRenderer>,
    secrets: Arc<dyn SecretTokens>,
    clock: Arc<dyn Clock>,
    /// `PUBLIC_URL`: links are built from it, never from a request's Host.
    public_url: Arc<str>,
    policy: LinkPolicy,
}

/// What [`MailFlows::claim_slot`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotClaim {
    /// The slot is this request's, taken at `at`: queue the mail, or give the
    /// slot back ([`MailFlows::release_slot`]) if none is queued.
    Claimed { at: Timestamp },
    /// A link mail went less than an interval ago: none may go for this many
    /// whole seconds.
    Wait { seconds: u64 },
}

/// How long e-mailed links live, and how often one may be re-sent.
#[derive(Debug, Clone, Copy)]
pub struct LinkPolicy {
    pub verify_ttl: TimeDelta,
    pub reset_ttl: TimeDelta,
    /// At most one mail of a kind per address in this window.
    pub resend_interval: TimeDelta,
}

impl Default for LinkPolicy {
    fn default() -> Self {
        Self {
            verify_ttl: TokenPurpose::VerifyEmail.lifetime(),
            reset_ttl: TokenPurpose::ResetPassword.lifetime(),
            resend_interval: TimeDelta::seconds(60),
        }
    }
}

impl std::fmt::Debug for MailFlows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailFlows").field("public_url", &self.public_url).finish_non_exhaustive()
    }
}

impl MailFlows {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        users: Arc<dyn UserRepo>,
        tokens: Arc<dyn EmailTokenRepo>,
        outbox: Arc<dyn Outbox>,
        renderer: Arc<dyn MailRenderer>,
        secrets: Arc<dyn SecretTokens>,
        clock: Arc<dyn Clock>,
        public_url: &str,
        policy: LinkPolicy,
    ) -> Self {
        let public_url = public_url.trim_end_matches('/').into();
        Self { users, tokens, outbox, renderer, secrets, clock, public_url, policy }
    }

    /// Sends a link proving the user reads mail at `address` (their current
    /// or their pending one); links sent earlier stop working.
    pub async fn send_verification(&self, user: &User, address: &Email) -> Result<(), AppError> {
        self.issue(user, address, TokenPurpose::VerifyEmail, MailKind::VerifyEmail, "verify-email")
            .await
    }

    /// Sends a link to set a new password to the account's address; earlier
    /// reset links stop working.
    pub async fn send_password_reset(&self, user: &User) -> Result<(), AppError> {
        let purpose = TokenPurpose::ResetPassword;
        self.issue(user, &user.email, purpose, MailKind::ResetPassword, "reset-password").await
    }

    /// Tells the account's old address that the address is now `new`, so the
    /// owner hears of a change they did not make. It carries no token.
    pub async fn send_email_changed_notice(
        &self,
        user: &User,
        old: &Email,
        new: &Email,
    ) -> Result<(), AppError> {
        let request = MailRequest {
            kind: MailKind::EmailChanged,
            to: old.clone(),
            username: user.username.as_str().to_owned(),
            link: self.public_url.to_string(),
            detail: new.as_str().to_owned(),
            locale: user.locale,
            order: None,
        };
        self.enqueue(user, request).await
    }

    /// Makes every unused verification and reset link of the account stop
    /// working: they were issued for credentials that just changed.
    pub async fn invalidate_all(&self, user: Id) -> Result<(), AppError> {
        let now = self.clock.now();
        for purpose in [TokenPurpose::VerifyEmail, TokenPurpose::ResetPassword] {
            self.tokens.invalidate(user, purpose, now).await?;
        }
        Ok(())
    }

    /// The unused, unexpired token a link carries, without using it.
    pub async fn peek(
        &self,
        plain: &str,
        purpose: TokenPurpose,
    ) -> Result<Option<EmailToken>, AppError> {
        let hash = self.secrets.hash(plain);
        Ok(self.tokens.find(&hash, purpose, self.clock.now()).await?)
    }

    /// Uses the token a link carries, once: `None` if it is unknown, used,
    /// superseded or expired.
    pub async fn redeem(
        &self,
        plain: &str,
        purpose: TokenPurpose,
    ) -> Result<Option<EmailToken>, AppError> {
        let hash = self.secrets.hash(plain);
        Ok(self.tokens.consume(&hash, purpose, self.clock.now()).await?)
    }

    /// Makes every unused link of this purpose stop working.
    pub async fn invalidate(&self, user: Id, purpose: TokenPurpose) -> Result<(), AppError> {
        self.tokens.invalidate(user, purpose, self.clock.now()).await?;
        Ok(())
    }

    /// Takes the account's mail slot: at most one mail carrying a link
    /// (verification or reset) goes to an account per resend interval,
    /// whichever requests and instances ask, decided by one conditional write
    /// in storage. A request that then queues no mail gives the slot back
    /// ([`release_slot`](Self::release_slot)). `NotFound` without an account.
    pub async fn claim_slot(&self, user: Id) -> Result<SlotClaim, AppError> {
        let now = self.clock.now();
        let free_since = now - self.policy.resend_interval;
        match self.users.claim_mail_slot(user, now, free_since).await? {
            MailSlot::Claimed => Ok(SlotClaim::Claimed { at: now }),
            MailSlot::Taken { last } => {
                let left = self.policy.resend_interval - (now - last);
                // Rounded up: a client that waits exactly this long is let through.
                let seconds = (left.num_milliseconds() + 999) / 1000;
                Ok(SlotClaim::Wait { seconds: seconds.max(1).unsigned_abs() })
            }
            MailSlot::NoUser => Err(AppError::NotFound("user")),
        }
    }

    /// Gives back the slot claimed at `at` because no mail was queued in
    /// it, so that the user may ask again at once rather than after the
    /// interval; a later claim is left alone. Best effort: if storage fails
    /// here too, the slot frees itself when the interval ends.
    pub async fn release_slot(&self, user: Id, at: Timestamp) {
        if let Err(e) = self.users.release_mail_slot(user, at).await {
            tracing::warn!(user_id = %user, error = %e,
                "could not give an account's mail slot back; it is free again after the resend interval");
        }
    }

    /// Queues a link mail in the account's mail slot: `queue` (a
    /// `send_*` of this type, not started until the slot is taken) runs only
    /// if the slot is free, and the slot is given back if it fails. `None`:
    /// queued; `Some(seconds)`: the slot is taken, nothing was queued.
    pub async fn queue_in_slot(
        &self,
        user: Id,
        queue: impl Future<Output = Result<(), AppError>>,
    ) -> Result<Option<u64>, AppError> {
        match self.claim_slot(user).await? {
            SlotClaim::Claimed { at } => {
                self.queued_or_released(user, at, queue).await.map(|()| None)
            }
            SlotClaim::Wait { seconds } => Ok(Some(seconds)),
        }
    }

    /// [`queue_in_slot`](Self::queue_in_slot) for the flows that answer the
    /// same whatever happens (resend, forgot): nothing is queued while the
    /// slot is taken, nor for an account deleted meanwhile.
    pub async fn queue_if_slot_free(
        &self,
        user: Id,
        queue: impl Future<Output = Result<(), AppError>>,
    ) -> Result<(), AppError> {
        match self.claim_slot(user).await {
            Ok(SlotClaim::Claimed { at }) => self.queued_or_released(user, at, queue).await,
            Ok(SlotClaim::Wait { .. }) | Err(AppError::NotFound(_)) => Ok(()),
            Err(other) => Err(other),
        }
    }

    async fn queued_or_released(
        &self,
        user: Id,
        at: Timestamp,
        queue: impl Future<Output = Result<(), AppError>>,
    ) -> Result<(), AppError> {
        let queued = queue.await;
        if queued.is_err() {
            self.release_slot(user, at).await;
        }
        queued
    }

    async fn issue(
        &self,
        user: &User,
        address: &Email,
        purpose: TokenPurpose,
        kind: MailKind,
        path: &str,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        self.tokens.invalidate(user.id, purpose, now).await?;
        let secret = self.secrets.generate();
        let token = EmailToken {
            hash: secret.hash,
            user_id: user.id,
            purpose,
            email: address.clone(),
            created_at: now,
            expires_at: now
                + match purpose {
                    TokenPurpose::VerifyEmail => self.policy.verify_ttl,
                    TokenPurpose::ResetPassword => self.policy.reset_ttl,
                },
            used_at: None,
        };
        self.tokens.insert(&token).await?;
        let request = MailRequest {
            kind,
            to: address.clone(),
            username: user.username.as_str().to_owned(),
            // The web app's landing (`/#/verify-email`, `/#/reset-password`), which
            // calls the API; the token stays in the fragment, never sent to a server.
            link: format!("{}/#/{path}?token={}", self.public_url, secret.plain),
            detail: String::new(),
            locale: user.locale,
            order: None,
        };
        self.enqueue(user, request).await
    }

    /// The outbox message of an order mail (`OrderPlaced`, `OrderCompleted`,
    /// `OrderCancelled`) to its customer, rendered in their language, for the
    /// order's repository to queue in the same write as the change it tells
    /// of. Its link opens the customer's orders in the web app.
    pub fn order_mail(
        &self,
        kind: MailKind,
        customer: &Customer,
        facts: OrderFacts,
    ) -> Result<OutboxMessage, AppError> {
        let request = MailRequest {
            kind,
            to: customer.email.clone(),
            username: customer.username.as_str().to_owned(),
            link: format!("{}/#/orders", self.public_url),
            detail: String::new(),
            locale: customer.locale,
            order: Some(facts),
        };
        self.message(&request)
    }

    /// `request` rendered into a PENDING message, due now.
    fn message(&self, request: &MailRequest) -> Result<OutboxMessage, AppError> {
        let now = self.clock.now();
        let mail = self.renderer.render(request).map_err(AppError::internal)?;
        Ok(OutboxMessage {
            id: Id::generate(),
            kind: request.kind,
            mail,
            status: OutboxStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            last_error: None,
        })
    }

    async fn enqueue(&self, user: &User, request: MailRequest) -> Result<(), AppError> {
        let message = self.message(&request)?;
        self.outbox.enqueue(&message).await?;
        tracing::info!(user_id = %user.id, mail = request.kind.as_str(), outbox_id = %message.id, "mail queued");
        Ok(())
    }
}

/// How the outbox worker retries, and how it claims.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// The first retry's delay; each further one doubles it…
    pub base: Duration,
    /// …up to this cap.
    pub cap: Duration,
    /// A message still undelivered this long after it was queued is given up (DEAD).
    pub give_up_after: Duration,
    /// How long a claimed message is reserved for the worker that claimed it.
    /// The worker renews it right before each send, so it must exceed the
    /// longest send (the mailer's timeout), not the whole batch.
    pub lease: Duration,
    /// How many messages one round claims.
    pub batch: u32,
}

impl RetryPolicy {
    /// The delay before attempt number `attempts + 1`: `base · 2^(attempts-1)`,
    /// capped, plus up to 50 % random jitter so that many instances recovering
    /// from the same outage do not hammer the server in step.
    pub fn delay(&self, attempts: u32, jitter: f64) -> Duration {
        let exponential = self.base.saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1)));
        let capped = exponential.min(self.cap);
        capped + capped.mul_f64(jitter.clamp(0.0, 1.0) * 0.5)
    }
}

/// Delivers what the outbox holds, safely with any number of workers in any
/// number of instances:
///
/// - a round claims up to `batch` due messages under one lease and one claim
///   token, then sends them one by one;
/// - right before each send it renews that message's lease (`Outbox::renew`,
///   now + `lease`), so the lease covers the send however long the batch has
///   taken so far; if the renewal fails, another worker claimed the message
///   after this claim's lease ran out, and this worker skips it;
/// - every write after the send carries the claim token, so a worker that lost
///   its claim changes nothing (and logs it);
/// - when asked to stop, it finishes the message in hand and releases the
///   claimed messages it has not attempted (`Outbox::release`), so another
///   instance sends them at once instead of after the lease.
#[derive(Clone)]
pub struct OutboxWorker {
    outbox: Arc<dyn Outbox>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
}

impl std::fmt::Debug for OutboxWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxWorker").field("policy", &self.policy).finish_non_exhaustive()
    }
}

/// What one round of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundReport {
    pub sent: u32,
    pub retried: u32,
    pub dead: u32,
    /// Claimed, but another worker took them over before this one got to them
    /// (its lease ran out), or this worker's follow-up found the claim lost.
    pub lost: u32,
    /// Claimed but not attempted because the worker was stopping; handed back.
    pub released: u32,
}

impl OutboxWorker {
    pub fn new(
        outbox: Arc<dyn Outbox>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
    ) -> Self {
        Self { outbox, mailer, clock, policy }
    }

    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Claims the messages that are due and tries each once.
    pub async fn run_once(&self) -> Result<RoundReport, AppError> {
        self.run_round(&|| false).await
    }

    /// [`run_once`](Self::run_once) that checks `stopping` before each
    /// message: once it answers true, the claimed messages not yet attempted
    /// are released (due again now) and the round ends.
    pub async fn run_round(
        &self,
        stopping: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<RoundReport, AppError> {
        if stopping() {
            return Ok(RoundReport::default());
        }
        let now = self.clock.now();
        let lease = to_delta(self.policy.lease);
        let claimed = self.outbox.claim_due(now, now + lease, self.policy.batch).await?;
        let mut report = RoundReport::default();
        let mut queue = claimed.into_iter();
        while let Some(claim) = queue.next() {
            if stopping() {
                self.release(std::iter::once(claim).chain(queue), &mut report).await?;
                break;
            }
            let ClaimedMessage { message, token } = claim;
            let id = message.id;
            // The lease must cover this send, not only the start of the batch.
            if !settle(|| self.outbox.renew(id, &token, self.clock.now() + lease)).await? {
                tracing::warn!(outbox_id = %id, "outbox claim lost before sending; another worker has it");
                report.lost += 1;
                continue;
            }
            let attempts = message.attempts + 1;
            let held = match self.mailer.send(&message.mail).await {
                Ok(()) => {
                    let held =
                        settle(|| self.outbox.mark_sent(id, &token, self.clock.now())).await?;
                    tracing::info!(outbox_id = %id, mail = message.kind.as_str(), attempts, "mail sent");
                    report.sent += 1;
                    held
                }
                Err(SendError::Transient(cause)) => {
                    let now = self.clock.now();
                    let error = cause.to_string();
                    if now - message.created_at >= to_delta(self.policy.give_up_after) {
                        let held = settle(|| self.outbox.mark_dead(id, &token, &error)).await?;
                        tracing::error!(outbox_id = %id, attempts, error, "mail given up after the retry window");
                        report.dead += 1;
                        held
                    } else {
                        let next =
                            now + to_delta(self.policy.delay(attempts, rand::random::<f64>()));
                        let held =
                            settle(|| self.outbox.retry_later(id, &token, next, &error)).await?;
                        tracing::warn!(outbox_id = %id, attempts, error, "mail delivery failed; will retry");
                        report.retried += 1;
                        held
                    }
                }
                Err(SendError::Permanent(cause)) => {
                    let error = cause.to_string();
                    let held = settle(|| self.outbox.mark_dead(id, &token, &error)).await?;
                    tracing::error!(outbox_id = %id, attempts, error, "mail refused for good");
                    report.dead += 1;
                    held
                }
            };
            if !held {
                // Cannot happen while the lease exceeds the longest send.
                tracing::error!(outbox_id = %id, "outbox claim lost during the send; its outcome was not recorded");
                report.lost += 1;
            }
        }
        Ok(report)
    }

    /// Hands back claimed messages this worker will not attempt.
    async fn release(
        &self,
        rest: impl Iterator<Item = ClaimedMessage>,
        report: &mut RoundReport,
    ) -> Result<(), AppError> {
        for ClaimedMessage { message, token } in rest {
            if settle(|| self.outbox.release(message.id, &token, self.clock.now())).await? {
                report.released += 1;
            }
        }
        if report.released > 0 {
            tracing::info!(released = report.released, "stopping: outbox messages handed back");
        }
        Ok(())
    }
}

/// How often a claim's follow-up write is tried when storage is unavailable.
const SETTLE_TRIES: usize = 12;

/// A follow-up write of a claim (renew, the outcome of a send, release),
/// tried again at once when storage answers "unavailable", up to
/// [`SETTLE_TRIES`] times. A pooled connection can die under a write: at
/// shutdown, connections opened on the HTTP server's worker threads end with
/// those threads, and each failed try discards one, so the next gets a live
/// connection. Without this, the outcome of a mail just sent would be lost
/// (and the mail sent again after its lease).
async fn settle<T, Write, Done>(mut write: Write) -> Result<T, RepoError>
where
    Write: FnMut() -> Done,
    Done: Future<Output = Result<T, RepoError>>,
{
    let mut tries = 1;
    loop {
        match write().await {
            Err(RepoError::Unavailable(cause)) if tries < SETTLE_TRIES => {
                tracing::debug!(error = %cause, tries, "an outbox write failed; trying again");
                tries += 1;
            }
            done => return done,
        }
    }
}

fn to_delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tozalash_domain::clock::MockClock;
    use tozalash_domain::mail::{MockMailRenderer, MockMailer};
    use tozalash_domain::ports::{MockEmailTokenRepo, MockOutbox, MockSecretTokens, MockUserRepo};
    use tozalash_domain::{
        ClaimToken, Email, PasswordHash, RenderedMail, Role, SecretToken, TokenHash, Username,
    };

    const T0: i64 = 1_764_201_600_000;

    use tozalash_domain::clock::at;

    fn clock(millis: i64) -> Arc<MockClock> {
        let mut clock = MockClock::new();
        clock.expect_now().returning(move || at(millis));
        Arc::new(clock)
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(600),
            give_up_after: Duration::from_secs(86_400),
            lease: Duration::from_secs(60),
            batch: 10,
        }
    }

    fn user() -> User {
        User {
            id: Id::generate(),
            username: Username::parse("u", "zarina").expect("valid"),
            email: Email::parse("e", "zarina@example.uz").expect("valid"),
            password_hash: PasswordHash::from_phc("x".into()),
            role: Role::User,
            pending_email: None,
            is_verified: false,
            locale: None,
            created_at: at(T0),
            updated_at: at(T0),
            version: Version::FIRST,
        }
    }

    fn rendered() -> RenderedMail {
        RenderedMail { to: user().email, subject: "s".into(), text: "t".into(), html: "h".into() }
    }

    fn pending(created: i64) -> OutboxMessage {
        OutboxMessage {
            id: Id::generate(),
            kind: MailKind::VerifyEmail,
            mail: rendered(),
            status: OutboxStatus::Pending,
            attempts: 2,
            next_attempt_at: at(created),
            created_at: at(created),
            last_error: None,
        }
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap_plus_jitter() {
        let p = policy();
        assert_eq!(p.delay(1, 0.0), Duration::from_secs(5));
        assert_eq!(p.delay(2, 0.0), Duration::from_secs(10));
        assert_eq!(p.delay(4, 0.0), Duration::from_secs(40));
        assert_eq!(p.delay(30, 0.0), Duration::from_secs(600));
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(7_500));
        assert_eq!(p.delay(30, 1.0), Duration::from_secs(900));
    }

    #[tokio::test]
    async fn verification_invalidates_old_links_stores_a_hash_and_queues_a_link_from_the_public_url(
    ) {
        let u = user();
        let uid = u.id;
        let mut tokens = MockEmailTokenRepo::new();
        tokens
            .expect_invalidate()
            .withf(move |id, p, _| *id == uid && *p == TokenPurpose::VerifyEmail)
            .times(1)
            .returning(|_, _, _| Ok(1));
        tokens
            .expect_insert()
            .withf(move |t| {
                t.hash == TokenHash([7; 32]) && t.expires_at == at(T0) + TimeDelta::hours(24)
            })
            .times(1)
            .returning(|_| Ok(()));
        let mut secrets = MockSecretTokens::new();
        secrets
            .expect_generate()
            .returning(|| SecretToken { plain: "s3cr3t".into(), hash: TokenHash([7; 32]) });
        let mut renderer = MockMailRenderer::new();
        renderer
            .expect_render()
            .withf(|r| {
                r.link == "https://tozalash.uz/#/verify-email?token=s3cr3t"
                    && r.kind == MailKind::VerifyEmail
            })
            .times(1)
            .returning(|_| Ok(rendered()));
        let mut outbox = MockOutbox::new();
        outbox
            .expect_enqueue()
            .withf(|m| m.status == OutboxStatus::Pending && m.attempts == 0)
            .times(1)
            .returning(|_| Ok(()));
        let flows = MailFlows::new(
            Arc::new(MockUserRepo::new()),
            Arc::new(tokens),
            Arc::new(outbox),
            Arc::new(renderer),
            Arc::new(secrets),
            clock(T0),
            "https://tozalash.uz/",
            LinkPolicy::default(),
        );

        flows.send_verification(&u, &u.email).await.expect("queued");
    }

    fn claimed(m: OutboxMessage) -> ClaimedMessage {
        ClaimedMessage { message: m, token: ClaimToken::from_stored("ab".repeat(16)) }
    }

    /// An outbox whose claim answers `messages` (once) and whose renewals succeed.
    fn claiming(messages: Vec<OutboxMessage>) -> MockOutbox {
        let mut outbox = MockOutbox::new();
        let batch = std::sync::Mutex::new(Some(messages.into_iter().map(claimed).collect()));
        outbox
            .expect_claim_due()
            .times(1)
            .returning(move |_, _, _| Ok(batch.lock().expect("lock").take().unwrap_or_default()));
        outbox.expect_renew().returning(|_, _, _| Ok(true));
        outbox
    }

    #[tokio::test]
    async fn the_outcome_of_a_send_survives_dead_pooled_connections() {
        // At shutdown, connections opened on the server's threads fail once each.
        let m = pending(T0);
        let mut outbox = claiming(vec![m]);
        let failures = std::sync::atomic::AtomicUsize::new(0);
        outbox.expect_mark_sent().times(3).returning(move |_, _, _| {
            if failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
                Err(RepoError::Unavailable("the runtime is being shut down".into()))
            } else {
                Ok(true)
            }
        });
        let mut mailer = MockMailer::new();
        mailer.expect_send().times(1).returning(|_| Ok(()));
        let worker = OutboxWorker::new(Arc::new(outbox), Arc::new(mailer), clock(T0 + 1), policy());

        assert_eq!(
            worker.run_once().await.expect("ran"),
            RoundReport { sent: 1, ..RoundReport::default() }
        );
    }

    #[tokio::test]
    async fn a_delivered_mail_is_marked_sent_with_its_claim_token() {
        let m = pending(T0);
        let id = m.id;
        let mut outbox = claiming(vec![m]);
        outbox
            .expect_mark_sent()
            .withf(move |i, token, _| *i == id && token.as_str() == "ab".repeat(16))
            .times(1)
            .returning(|_, _, _| Ok(true));
        let mut mailer = MockMailer::new();
        mailer.expect_send().times(1).returning(|_| Ok(()));
        let worker = OutboxWorker::new(Arc::new(outbox), Arc::new(mailer), clock(T0 + 1), policy());

        assert_eq!(
            worker.run_once().await.expect("ran"),
            RoundReport { sent: 1, ..RoundReport::default() }
        );
    }

    #[tokio::test]
    async fn each_message_has_its_lease_renewed_right_before_it_is_sent() {
        let (first, second) = (pending(T0), pending(T0));
        let mut outbox = MockOutbox::new();
        let mut order = mockall::Sequence::new();
        let batch = vec![claimed(first.clone()), claimed(second.clone())];
        outbox
            .expect_claim_due()
            .withf(|now, lease, batch| {
                *now == at(T0 + 5) && *lease == at(T0 + 5 + 60_000) && *batch == 10
            })
            .times(1)
            .in_sequence(&mut order)
            .returning(move |_, _, _| Ok(batch.clone()));
        let mut mailer = MockMailer::new();
        for m in [first, second] {
            let id = m.id;
            outbox
                .expect_renew()
                .withf(move |i, _, lease| *i == id && *lease == at(T0 + 5 + 60_000))
                .times(1)
                .in_sequence(&mut order)
                .returning(|_, _, _| Ok(true));
            mailer.expect_send().times(1).in_sequence(&mut order).returning(|_| Ok(()));
            outbox
                .expect_mark_sent()
                .withf(move |i, _, _| *i == id)
                .times(1)
                .in_sequence(&mut order)
                .returning(|_, _, _| Ok(true));
        }
        let worker = OutboxWorker::new(Arc::new(outbox), Arc::new(mailer), clock(T0 + 5), policy());

        assert_eq!(worker.run_once().await.expect("ran").sent, 2);
    }

    #[tokio::test]
    async fn a_message_whose_claim_was_lost_is_not_sent() {
        let (lost, kept) = (pending(T0), pending(T0));
        let (lost_id, kept_id) = (lost.id, kept.id);
        let mut outbox = MockOutbox::new();
        let batch = vec![claimed(lost), claimed(kept)];
        outbox.expect_claim_due().times(1).returning(move |_, _, _| Ok(batch.clone()));
        outbox.expect_renew().returning(move |id, _, _| Ok(id != lost_id));
        outbox
            .expect_mark_sent()
            .withf(move |i, _, _| *i == kept_id)
            .times(1)
            .returning(|_, _, _| Ok(true));
        let mut mailer = MockMailer::new();
        mailer.expect_send().times(1).returning(|_| Ok(()));
        let worker = OutboxWorker::new(Arc::new(outbox), Arc::new(mailer), clock(T0), policy());

        assert_eq!(
            worker.run_once().await.expect("ran"),
            RoundReport { sent: 1, lost: 1, ..RoundReport::default() }
        );
    }

    #[tokio::test]
    async fn stopping_finishes_the_message_in_hand_and_releases_the_rest() {
        let batch: Vec<OutboxMessage> = (0..3).map(|_| pending(T0)).collect();
        let first = batch[0].id;
        let rest: Vec<Id> = batch[1..].iter().map(|m| m.id).collect();
        let mut outbox = claiming(batch);
        outbox
            .expect_mark_sent()
            .withf(move |i, _, _| *i == first)
            .times(1)
            .returning(|_, _, _| Ok(true));
        let released = rest.clone();
        outbox
            .expect_release()
            .withf(move |i, token, now| {
                released.contains(i) && token.as_str() == "ab".repeat(16) && *now == at(T0)
            })
            .times(2)
            .returning(|_, _, _| Ok(true));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut mailer = MockMailer::new();
        let signal = Arc::clone(&stop);
        mailer.expect_send().times(1).returning(move |_| {
            // SIGTERM arrives while the first message is being sent.
            signal.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        });
        let worker = OutboxWorker::new(Arc::new(outbox), Arc::new(mailer), clock(T0), policy());

        let report = worker
            .run_round(&move || stop.load(std::sync::atomic::Ordering::SeqCst))
            .await
            .expect("ran");

        assert_eq!(report, RoundReport { sent: 1, released: 2, ..RoundReport::default() });
    }

    #[tokio::test]
    async fn a_stopping_worker_claims_nothing() {
        let mut outbox = MockOutbox::new();
        outbox.expect_claim_due().never();
        let worker =
            OutboxWorker::new(Arc::new(outbox), Arc::new(MockMailer::new()), clock(T0), policy());

        assert_eq!(worker.run_round(&|| true).await.expect("ran"), RoundReport::default());
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_later_with_backoff() {
        let m = pending(T0);
        let mut outbox = claiming(vec![m]);
        outbox
            .expect_retry_later()
            .withf(|_, _, next, error| {
                *next >= at(T0 + 20_000) && *next <= at(T0 + 30_000) && error.contains("refused")
            })
            .times(1)
            .returning(|_, _, _, _| Ok(true));
        let mut mailer = MockMailer::new();
        mailer.expect_send().returning(|_| Err(SendError::Transient("connection refused".into())));
        let worker = OutboxWorker::new(Arc::new(outbox), Arc::new(mailer), clock(T0), policy());

        assert_eq!(worker.run_once().await.expect("ran").retried, 1);
    }

    #[tokio::test]
    async fn a_mail_is_given_up_after_the_retry_window_or_on_a_permanent_refusal() {
        for (created, failure) in [
            (T0 - 86_400_000, SendError::Transient("timeout".into())),
            (T0, SendError::Permanent("550 no such mailbox".into())),
        ] {
            let m = pending(created);
            let mut outbox = claiming(vec![m]);
            outbox.expect_mark_dead().times(1).returning(|_, _, _| Ok(true));
            outbox.expect_retry_later().never();
            let mut mailer = MockMailer::new();
            let failure = std::sync::Mutex::new(Some(failure));
            mailer
                .expect_send()
                .returning(move |_| Err(failure.lock().expect("lock").take().expect("once")));
            let worker = OutboxWorker::new(Arc::new(outbox), Arc::new(mailer), clock(T0), policy());

            assert_eq!(worker.run_once().await.expect("ran").dead, 1);
        }
    }
}
