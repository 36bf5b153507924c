//! Managing accounts: administrators manage everyone; a customer sees and edits
//! only their own account, and may never change their role or verification.

use std::sync::Arc;

use tozalash_domain::{
    Admin, Clock, Email, FieldError, Id, Locale, OrderRepo, Page, Password, PasswordHasher,
    Precondition, Principal, RepoError, Role, SessionRepo, Signup, Timestamp, UniqueKey, User,
    UserPatch, UserQuery, UserRepo, Username, Version,
};

use crate::catalog::check;
use crate::error::AppError;
use crate::mail::{MailFlows, SlotClaim};

const USER: &str = "user";
const CURRENT_PASSWORD: &str = "currentPassword";

/// An account an administrator creates.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub signup: Signup,
    pub role: Role,
    pub is_verified: bool,
}

/// A change to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    pub username: Option<Username>,
    pub email: Option<Email>,
    /// Administrators only.
    pub role: Option<Role>,
    /// Administrators only.
    pub is_verified: Option<bool>,
    /// The owner's current password: required when they change their own
    /// e-mail address.
    pub current_password: Option<String>,
    /// The language of the account's mail: the owner's or an administrator's choice.
    pub locale: Option<Locale>,
}

#[derive(Clone)]
pub struct UserService {
    users: Arc<dyn UserRepo>,
    sessions: Arc<dyn SessionRepo>,
    orders: Arc<dyn OrderRepo>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    mail: MailFlows,
}

impl std::fmt::Debug for UserService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserService").finish_non_exhaustive()
    }
}

/// Whether `caller` may see and manage the account `id`: its owner or an admin.
fn may_manage(caller: &Principal, id: Id) -> bool {
    caller.role == Role::Admin || caller.user_id == id
}

impl UserService {
    pub fn new(
        users: Arc<dyn UserRepo>,
        sessions: Arc<dyn SessionRepo>,
        orders: Arc<dyn OrderRepo>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        mail: MailFlows,
    ) -> Self {
        Self { users, sessions, orders, hasher, clock, mail }
    }

    pub async fn list(&self, _by: &Admin, query: &UserQuery) -> Result<Page<User>, AppError> {
        Ok(self.users.list(query).await?)
    }

    /// An account its owner or an admin may see; to anyone else it does not exist.
    pub async fn get(&self, caller: &Principal, id: Id) -> Result<User, AppError> {
        if !may_manage(caller, id) {
            return Err(AppError::NotFound(USER));
        }
        self.users.get(id).await?.ok_or(AppError::NotFound(USER))
    }

    pub async fn create(&self, by: &Admin, account: NewAccount) -> Result<User, AppError> {
        let user = self.new_user(account).await?;
        self.users.insert(&user).await?;
        tracing::info!(event = "user_created", user_id = %user.id, admin_id = %by.principal().user_id, role = %user.role, "user created");
        Ok(user)
    }

    async fn new_user(&self, account: NewAccount) -> Result<User, AppError> {
        let password_hash =
            self.hasher.hash(&account.signup.password).await.map_err(AppError::internal)?;
        let now = self.clock.now();
        Ok(User {
            id: Id::generate(),
            username: account.signup.username,
            email: account.signup.email,
            pending_email: None,
            password_hash,
            role: account.role,
            is_verified: account.is_verified,
            locale: account.signup.locale,
            created_at: now,
            updated_at: now,
            version: Version::FIRST,
        })
    }

    /// Changes an account.
    ///
    /// A new e-mail address is handled so that a stolen access token cannot
    /// take the account over: the owner must give their current password,
    /// the address only becomes pending until its verification link is
    /// followed, and the old address hears of the change. An administrator
    /// changing someone else's address needs no password and the change
    /// applies at once (unverified, unless `isVerified` comes with it); the
    /// old address still hears of it. Either way every outstanding
    /// verification and reset link of the account stops working.
    ///
    /// With a `precondition` (HTTP `If-Match`), nothing changes unless the
    /// account is at one of its versions: checked on the account as read,
    /// before anything else, and again by the conditional write itself, so a
    /// change made in between is `PreconditionFailed` too.
    pub async fn update(
        &self,
        caller: &Principal,
        id: Id,
        changes: AccountChanges,
        precondition: Option<Precondition>,
    ) -> Result<User, AppError> {
        let current = self.get(caller, id).await?;
        check(precondition.as_ref(), current.version)?;
        let expected = precondition.map(|_| current.version);
        let privileged = changes.role.is_some() || changes.is_verified.is_some();
        if privileged && caller.role != Role::Admin {
            tracing::warn!(event = "authz_fail", user_id = %caller.user_id, "a customer tried to change a role or verification");
            return Err(AppError::Forbidden);
        }
        let new_email = changes.email.filter(|e| *e != current.email);
        let own_account = caller.user_id == id;
        // An address change takes the account's mail slot; the slot's claim
        // time, to give it back if the change is not stored.
        let mut slot = None;
        if let Some(new_email) = &new_email {
            if own_account {
                self.check_current_password(&current, changes.current_password.as_deref()).await?;
            }
            slot = Some(self.check_email_change_allowed(&current, new_email).await?);
        }
        let mut patch = UserPatch {
            username: changes.username,
            role: changes.role,
            is_verified: changes.is_verified,
            locale: changes.locale.filter(|l| current.locale != Some(*l)),
            ..UserPatch::default()
        };
        match &new_email {
            Some(new_email) if own_account => patch.pending_email = Some(Some(new_email.clone())),
            Some(new_email) => {
                patch.email = Some(new_email.clone());
                patch.pending_email = Some(None);
                patch.is_verified = changes.is_verified.or(Some(false));
            }
            None => {}
        }
        if patch.is_empty() {
            return Ok(current);
        }
        let stored = match self.users.update(id, &patch, expected, self.clock.now()).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(AppError::NotFound(USER)),
            Err(e) => Err(e.into()),
        };
        let user = match (stored, slot) {
            (Ok(user), _) => user,
            (Err(e), Some(claimed_at)) => {
                // No mail goes for a change that was not stored (a lost
                // race on the version or the address, or storage failing).
                self.mail.release_slot(id, claimed_at).await;
                return Err(e);
            }
            (Err(e), None) => return Err(e),
        };
        tracing::info!(event = "user_updated", user_id = %id, by = %caller.user_id, "user updated");
        if let Some(role) = patch.role {
            tracing::warn!(event = "authz_change", user_id = %id, by = %caller.user_id, %role, "a user's role changed");
        }
        if let Some(new_email) = &new_email {
            tracing::warn!(event = "user_email_change", user_id = %id, by = %caller.user_id, pending = own_account,
                "an account's e-mail address changed");
            self.mail.invalidate_all(id).await?;
            self.mail.send_email_changed_notice(&user, &current.email, new_email).await?;
            if own_account || !user.is_verified {
                self.mail.send_verification(&user, new_email).await?;
            }
        }
        Ok(user)
    }

    /// The owner's proof for a change of address: their current password.
    async fn check_current_password(
        &self,
        user: &User,
        given: Option<&str>,
    ) -> Result<(), AppError> {
        let Some(given) = given else {
            return Err(FieldError::new(
                CURRENT_PASSWORD,
                "required",
                "is required to change your e-mail address",
            )
            .into());
        };
        let attempt = Password::parse_attempt(CURRENT_PASSWORD, given)?;
        let matches = self
            .hasher
            .verify(&attempt, Some(&user.password_hash))
            .await
            .map_err(AppError::internal)?;
        if !matches {
            tracing::warn!(event = "authn_email_change_fail", user_id = %user.id, "wrong current password for an e-mail change");
            return Err(FieldError::new(
                CURRENT_PASSWORD,
                "incorrect",
                "is not your current password",
            )
            .into());
        }
        Ok(())
    }

    /// An address change mails both addresses, so it obeys the per-address
    /// mail interval; and an address another account has is refused now
    /// (and again, atomically, when the new address is confirmed).
    /// Answers when the account's mail slot was claimed.
    async fn check_email_change_allowed(
        &self,
        user: &User,
        new_email: &Email,
    ) -> Result<Timestamp, AppError> {
        if self.users.find_by_email(new_email).await?.is_some_and(|other| other.id != user.id) {
            return Err(AppError::Duplicate(UniqueKey::Email));
        }
        match self.mail.claim_slot(user.id).await? {
            SlotClaim::Claimed { at } => Ok(at),
            SlotClaim::Wait { seconds } => Err(AppError::RateLimited { retry_after_secs: seconds }),
        }
    }

    /// Deletes an account: the account goes first (so the last administrator
    /// is refused before anything changes), then its sessions are revoked and
    /// its PENDING orders cancelled; its order history stays readable to
    /// administrators.
    pub async fn delete(&self, caller: &Principal, id: Id) -> Result<(), AppError> {
        if !may_manage(caller, id) {
            return Err(AppError::NotFound(USER));
        }
        if !self.users.delete(id).await? {
            return Err(AppError::NotFound(USER));
        }
        let now = self.clock.now();
        self.sessions.revoke_all_for_user(id, None, now).await?;
        self.orders.cancel_pending_of_user(id, now).await?;
        tracing::info!(event = "user_deleted", user_id = %id, by = %caller.user_id, "user deleted");
        Ok(())
    }

    /// The `ADMIN_*` bootstrap: makes sure a verified ADMIN with this e-mail
    /// exists, creating it with these credentials when missing. An existing
    /// verified administrator is left as it is (a password changed through
    /// the API survives a restart); see [`Bootstrap`] for the rest.
    pub async fn ensure_admin(&self, signup: Signup, take_over: bool) -> Result<User, AppError> {
        let policy = Bootstrap { take_over, reset_password: false };
        self.ensure_account(signup, Role::Admin, policy).await
    }

    /// Makes sure a verified account with this role exists for the operator's
    /// address (the operator vouches for it: no mail is sent).
    ///
    /// - Missing: it is created with these credentials. Two instances doing
    ///   this at once converge on one account.
    /// - Present but never verified: someone may have signed up with the
    ///   address before the operator chose it, so it is refused unless
    ///   `policy.take_over` says the operator means it (then it is logged).
    /// - Present and verified: given the role; its password is set when it
    ///   was promoted, taken over, or `policy.reset_password` asks.
    ///
    /// Whenever the role, verification or password changes, every session
    /// and every e-mailed link of the account is revoked, so nobody who held
    /// the account before keeps a way in.
    pub async fn ensure_account(
        &self,
        signup: Signup,
        role: Role,
        policy: Bootstrap,
    ) -> Result<User, AppError> {
        // A concurrent bootstrap may create the account between our read and
        // our insert; the insert then fails on a unique index (e-mail or
        // username, whichever the database checks first) and the next round
        // finds it. A username that stays taken by another account is a
        // genuine conflict.
        let mut conflict = AppError::internal("the bootstrap kept losing races");
        for _ in 0..3 {
            let Some(existing) = self.users.find_by_email(&signup.email).await? else {
                let account = NewAccount { signup: signup.clone(), role, is_verified: true };
                let user = self.new_user(account).await?;
                match self.users.insert(&user).await {
                    Ok(()) => {
                        tracing::info!(event = "user_created", user_id = %user.id, %role, "account created by the operator");
                        return Ok(user);
                    }
                    Err(error @ RepoError::Duplicate(UniqueKey::Email | UniqueKey::Username)) => {
                        conflict = error.into();
                        continue;
                    }
                    Err(error) => return Err(error.into()),
                }
            };
            return self.bring_up_to_date(existing, &signup, role, policy).await;
        }
        Err(conflict)
    }

    async fn bring_up_to_date(
        &self,
        existing: User,
        signup: &Signup,
        role: Role,
        policy: Bootstrap,
    ) -> Result<User, AppError> {
        if existing.username != signup.username {
            tracing::warn!(user_id = %existing.id, existing = existing.username.as_str(), configured = signup.username.as_str(),
                "the operator's account keeps its own username, not the configured one");
        }
        if !existing.is_verified && !policy.take_over {
            return Err(AppError::UnverifiedAccount);
        }
        if !existing.is_verified {
            tracing::warn!(event = "authz_take_over", user_id = %existing.id, %role,
                "the operator took over an account whose address was never verified");
        }
        let promoted = existing.role != role;
        let set_password = promoted || !existing.is_verified || policy.reset_password;
        let password_hash = match set_password {
            true => Some(self.hasher.hash(&signup.password).await.map_err(AppError::internal)?),
            false => None,
        };
        let patch = UserPatch {
            password_hash,
            role: promoted.then_some(role),
            is_verified: (!existing.is_verified).then_some(true),
            pending_email: existing.pending_email.is_some().then_some(None),
            ..UserPatch::default()
        };
        if patch.is_empty() {
            return Ok(existing);
        }
        let now = self.clock.now();
        let user = self
            .users
            .update(existing.id, &patch, None, now)
            .await?
            .ok_or(AppError::NotFound(USER))?;
        let revoked = self.sessions.revoke_all_for_user(user.id, None, now).await?;
        self.mail.invalidate_all(user.id).await?;
        tracing::warn!(event = "authz_change", user_id = %user.id, %role, revoked_sessions = revoked,
            "account brought up to date by the operator; its sessions and links were revoked");
        Ok(user)
    }
}

/// What the operator's bootstrap may do to an existing account.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bootstrap {
    /// Promote an account whose address was never verified (`ADMIN_TAKE_OVER`,
    /// `create-admin --take-over`): someone else may have signed up with it.
    pub take_over: bool,
    /// Set the password of an account that already has the role
    /// (`create-admin` is the tool to reset one; `ADMIN_*` never does).
    pub reset_password: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tozalash_domain::clock::MockClock;
    use tozalash_domain::mail::MockMailRenderer;
    use tozalash_domain::ports::{
        MockEmailTokenRepo, MockOrderRepo, MockOutbox, MockPasswordHasher, MockSecretTokens,
        MockSessionRepo, MockUserRepo,
    };
    use tozalash_domain::{
        MailKind, MailSlot, PasswordHash, RenderedMail, SecretToken, TokenHash, TokenPurpose,
    };

    use tozalash_domain::clock::at;

    fn user(role: Role) -> User {
        User {
            id: Id::generate(),
            username: Username::parse("u", "zarina").expect("valid"),
            email: Email::parse("e", "zarina@example.uz").expect("valid"),
            password_hash: PasswordHash::from_phc("$argon2id$x".into()),
            role,
            pending_email: None,
            is_verified: true,
            locale: None,
            created_at: at(0),
            updated_at: at(0),
            version: Version::FIRST,
        }
    }

    fn caller(of: &User) -> Principal {
        Principal { user_id: of.id, role: of.role, session_id: Id::generate() }
    }

    fn service(users: MockUserRepo, sessions: MockSessionRepo) -> UserService {
        service_with_orders(users, sessions, MockOrderRepo::new())
    }

    fn service_with_orders(
        users: MockUserRepo,
        sessions: MockSessionRepo,
        orders: MockOrderRepo,
    ) -> UserService {
        service_with_mail(users, sessions, orders, MockEmailTokenRepo::new(), MockOutbox::new())
    }

    fn service_with_mail(
        users: MockUserRepo,
        sessions: MockSessionRepo,
        orders: MockOrderRepo,
        email_tokens: MockEmailTokenRepo,
        outbox: MockOutbox,
    ) -> UserService {
        let hasher = MockPasswordHasher::new();
        service_full(users, sessions, orders, email_tokens, outbox, hasher)
    }

    /// A service that sends nothing and whose only right password is
    /// `right-password`.
    fn service_checking_passwords(users: MockUserRepo) -> UserService {
        let (sessions, orders) = (MockSessionRepo::new(), MockOrderRepo::new());
        service_full(
            users,
            sessions,
            orders,
            MockEmailTokenRepo::new(),
            MockOutbox::new(),
            hasher(),
        )
    }

    /// A hasher whose only right password is `right-password`, and whose
    /// hashes are `$argon2id$new`.
    fn hasher() -> MockPasswordHasher {
        let mut hasher = MockPasswordHasher::new();
        hasher.expect_verify().returning(|p, _| Ok(p.expose() == "right-password"));
        hasher.expect_hash().returning(|_| Ok(PasswordHash::from_phc("$argon2id$new".into())));
        hasher
    }

    /// Expects every verification and reset link of `id` to be invalidated.
    fn expect_links_invalidated(email_tokens: &mut MockEmailTokenRepo, id: Id) {
        for purpose in [TokenPurpose::VerifyEmail, TokenPurpose::ResetPassword] {
            email_tokens
                .expect_invalidate()
                .withf(move |u, p, _| *u == id && *p == purpose)
                .times(1..)
                .returning(|_, _, _| Ok(0));
        }
    }

    fn service_full(
        users: MockUserRepo,
        sessions: MockSessionRepo,
        orders: MockOrderRepo,
        email_tokens: MockEmailTokenRepo,
        outbox: MockOutbox,
        hasher: MockPasswordHasher,
    ) -> UserService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| at(5));
        let clock = Arc::new(clock);
        let mut renderer = MockMailRenderer::new();
        renderer.expect_render().returning(|r| {
            Ok(RenderedMail {
                to: r.to.clone(),
                subject: "s".into(),
                text: r.link.clone(),
                html: String::new(),
            })
        });
        let mut secrets = MockSecretTokens::new();
        secrets
            .expect_generate()
            .returning(|| SecretToken { plain: "p".into(), hash: TokenHash([1; 32]) });
        let users = Arc::new(users);
        let mail = MailFlows::new(
            users.clone(),
            Arc::new(email_tokens),
            Arc::new(outbox),
            Arc::new(renderer),
            Arc::new(secrets),
            clock.clone(),
            "http://127.0.0.1:8080",
            crate::mail::LinkPolicy::default(),
        );
        UserService::new(users, Arc::new(sessions), Arc::new(orders), Arc::new(hasher), clock, mail)
    }

    #[tokio::test]
    async fn a_customer_asking_for_another_account_finds_nothing() {
        let mut users = MockUserRepo::new();
        users.expect_get().never();
        let me = user(Role::User);

        let err = service(users, MockSessionRepo::new())
            .get(&caller(&me), Id::generate())
            .await
            .expect_err("hidden");

        assert!(matches!(err, AppError::NotFound("user")));
    }

    #[tokio::test]
    async fn a_customer_may_not_change_their_role_or_verification() {
        let me = user(Role::User);
        let stored = me.clone();
        let mut users = MockUserRepo::new();
        users.expect_get().returning(move |_| Ok(Some(stored.clone())));
        users.expect_update().never();
        let service = service(users, MockSessionRepo::new());

        for changes in [
            AccountChanges { role: Some(Role::Admin), ..AccountChanges::default() },
            AccountChanges { is_verified: Some(true), ..AccountChanges::default() },
        ] {
            let err =
                service.update(&caller(&me), me.id, changes, None).await.expect_err("refused");
            assert!(matches!(err, AppError::Forbidden));
        }
    }

    fn own_email_change(password: Option<&str>) -> AccountChanges {
        AccountChanges {
            email: Some(Email::parse("e", "new@example.uz").expect("valid")),
            current_password: password.map(str::to_owned),
            ..AccountChanges::default()
        }
    }

    #[tokio::test]
    async fn changing_ones_own_email_needs_the_current_password() {
        let me = user(Role::User);
        let stored = me.clone();
        let mut users = MockUserRepo::new();
        users.expect_get().returning(move |_| Ok(Some(stored.clone())));
        users.expect_update().never();
        let service = service_checking_passwords(users);

        for (password, code) in [(None, "required"), (Some("wrong-password"), "incorrect")] {
            let err = service
                .update(&caller(&me), me.id, own_email_change(password), None)
                .await
                .expect_err("refused");
            let AppError::Validation(errors) = err else { panic!("{err:?}") };
            assert_eq!(errors.errors()[0].field, "currentPassword");
            assert_eq!(errors.errors()[0].code, code);
        }
    }

    #[tokio::test]
    async fn ones_own_new_email_stays_pending_and_both_addresses_hear_of_it() {
        let me = user(Role::User);
        let stored = me.clone();
        let new_email = Email::parse("e", "new@example.uz").expect("valid");
        let mut users = MockUserRepo::new();
        users.expect_get().returning(move |_| Ok(Some(stored.clone())));
        users.expect_find_by_email().returning(|_| Ok(None));
        let pending = Some(Some(new_email.clone()));
        let updated = User { pending_email: Some(new_email.clone()), ..me.clone() };
        users
            .expect_update()
            .withf(move |_, patch, _, _| {
                patch.email.is_none()
                    && patch.pending_email == pending
                    && patch.is_verified.is_none()
            })
            .times(1)
            .returning(move |_, _, _, _| Ok(Some(updated.clone())));
        let mut email_tokens = MockEmailTokenRepo::new();
        users.expect_claim_mail_slot().times(1).returning(|_, _, _| Ok(MailSlot::Claimed));
        expect_links_invalidated(&mut email_tokens, me.id);
        let to = new_email.clone();
        email_tokens.expect_insert().withf(move |t| t.email == to).times(1).returning(|_| Ok(()));
        let mut outbox = MockOutbox::new();
        let (old, new) = (me.email.clone(), new_email.clone());
        outbox
            .expect_enqueue()
            .withf(move |m| m.kind == MailKind::EmailChanged && m.mail.to == old)
            .times(1)
            .returning(|_| Ok(()));
        outbox
            .expect_enqueue()
            .withf(move |m| m.kind == MailKind::VerifyEmail && m.mail.to == new)
            .times(1)
            .returning(|_| Ok(()));

        let service = service_full(
            users,
            MockSessionRepo::new(),
            MockOrderRepo::new(),
            email_tokens,
            outbox,
            hasher(),
        );
        let user = service
            .update(&caller(&me), me.id, own_email_change(Some("right-password")), None)
            .await
            .expect("updated");
        assert_eq!(user.email, me.email, "the old address stays until the new one is proven");
    }

    #[tokio::test]
    async fn an_email_change_that_is_not_stored_gives_the_mail_slot_back_and_mails_nothing() {
        // What the conditional write answers: a lost version race, an
        // address another account took meanwhile, an account deleted meanwhile.
        type Refusal = fn() -> Result<Option<User>, RepoError>;
        let refusals: [Refusal; 3] = [
            || Err(RepoError::VersionMismatch),
            || Err(RepoError::Duplicate(UniqueKey::Email)),
            || Ok(None),
        ];
        for refusal in refusals {
            let me = user(Role::User);
            let (stored, uid) = (me.clone(), me.id);
            let mut users = MockUserRepo::new();
            users.expect_get().returning(move |_| Ok(Some(stored.clone())));
            users.expect_find_by_email().returning(|_| Ok(None));
            users.expect_claim_mail_slot().times(1).returning(|_, _, _| Ok(MailSlot::Claimed));
            users.expect_update().times(1).returning(move |_, _, _, _| refusal());
            // The claim made at this request's `now` (5 ms), and only it.
            users
                .expect_release_mail_slot()
                .withf(move |id, claimed_at| *id == uid && *claimed_at == at(5))
                .times(1)
                .returning(|_, _| Ok(()));
            let service = service_checking_passwords(users);

            let err = service
                .update(&caller(&me), me.id, own_email_change(Some("right-password")), None)
                .await
                .expect_err("not stored");
            assert!(
                matches!(
                    err,
                    AppError::PreconditionFailed | AppError::Duplicate(_) | AppError::NotFound(_)
                ),
                "{err:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_email_change_within_the_mail_interval_is_rate_limited() {
        let me = user(Role::User);
        let stored = me.clone();
        let mut users = MockUserRepo::new();
        users.expect_get().returning(move |_| Ok(Some(stored.clone())));
        users.expect_update().never();
        users.expect_find_by_email().returning(|_| Ok(None));
        // A verification went out 5 ms ago; the interval is 60 s.
        users.expect_claim_mail_slot().returning(|_, _, _| Ok(MailSlot::Taken { last: at(0) }));
        let service = service_checking_passwords(users);

        let err = service
            .update(&caller(&me), me.id, own_email_change(Some("right-password")), None)
            .await
            .expect_err("throttled");
        assert!(matches!(err, AppError::RateLimited { retry_after_secs: 60 }), "{err:?}");
    }

    #[tokio::test]
    async fn an_admin_changes_someone_elses_email_at_once_without_a_password() {
        let admin = user(Role::Admin);
        let customer = user(Role::User);
        let stored = customer.clone();
        let new_email = Email::parse("e", "new@example.uz").expect("valid");
        let mut users = MockUserRepo::new();
        users.expect_get().returning(move |_| Ok(Some(stored.clone())));
        users.expect_find_by_email().returning(|_| Ok(None));
        let to = Some(new_email.clone());
        let updated = User { email: new_email.clone(), is_verified: false, ..customer.clone() };
        users
            .expect_update()
            .withf(move |_, patch, _, _| {
                patch.email == to
                    && patch.pending_email == Some(None)
                    && patch.is_verified == Some(false)
            })
            .times(1)
            .returning(move |_, _, _, _| Ok(Some(updated.clone())));
        let mut email_tokens = MockEmailTokenRepo::new();
        users.expect_claim_mail_slot().times(1).returning(|_, _, _| Ok(MailSlot::Claimed));
        expect_links_invalidated(&mut email_tokens, customer.id);
        email_tokens.expect_insert().times(1).returning(|_| Ok(()));
        let mut outbox = MockOutbox::new();
        let old = customer.email.clone();
        outbox
            .expect_enqueue()
            .withf(move |m| m.kind == MailKind::EmailChanged && m.mail.to == old)
            .times(1)
            .returning(|_| Ok(()));
        outbox
            .expect_enqueue()
            .withf(|m| m.kind == MailKind::VerifyEmail)
            .times(1)
            .returning(|_| Ok(()));
        let changes = AccountChanges { email: Some(new_email), ..AccountChanges::default() };

        let service = service_full(
            users,
            MockSessionRepo::new(),
            MockOrderRepo::new(),
            email_tokens,
            outbox,
            MockPasswordHasher::new(),
        );
        service.update(&caller(&admin), customer.id, changes, None).await.expect("updated");
    }

    #[tokio::test]
    async fn an_admin_may_verify_and_promote_someone_else() {
        let admin = user(Role::Admin);
        let other = user(Role::User);
        let stored = other.clone();
        let mut users = MockUserRepo::new();
        users.expect_get().returning(move |_| Ok(Some(stored.clone())));
        let promoted = User { role: Role::Admin, ..other.clone() };
        users
            .expect_update()
            .withf(|_, patch, _, _| {
                patch.role == Some(Role::Admin) && patch.is_verified == Some(true)
            })
            .returning(move |_, _, _, _| Ok(Some(promoted.clone())));
        let changes = AccountChanges {
            role: Some(Role::Admin),
            is_verified: Some(true),
            ..AccountChanges::default()
        };

        let done = service(users, MockSessionRepo::new())
            .update(&caller(&admin), other.id, changes, None)
            .await
            .expect("ok");

        assert_eq!(done.role, Role::Admin);
    }

    #[tokio::test]
    async fn deleting_an_account_deletes_it_first_then_revokes_sessions_and_cancels_orders() {
        let me = user(Role::User);
        let id = me.id;
        let mut seq = mockall::Sequence::new();
        let mut users = MockUserRepo::new();
        users.expect_delete().times(1).in_sequence(&mut seq).returning(|_| Ok(true));
        let mut sessions = MockSessionRepo::new();
        sessions
            .expect_revoke_all_for_user()
            .withf(move |u, keep, _| *u == id && keep.is_none())
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Ok(1));
        let mut orders = MockOrderRepo::new();
        orders
            .expect_cancel_pending_of_user()
            .withf(move |u, _| *u == id)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(2));

        let service = service_with_orders(users, sessions, orders);
        service.delete(&caller(&me), id).await.expect("deleted");
    }

    #[tokio::test]
    async fn the_last_admin_is_refused_before_anything_changes() {
        let admin = user(Role::Admin);
        let mut users = MockUserRepo::new();
        users.expect_delete().times(1).returning(|_| Err(RepoError::LastAdmin));
        let mut sessions = MockSessionRepo::new();
        sessions.expect_revoke_all_for_user().never();
        let mut orders = MockOrderRepo::new();
        orders.expect_cancel_pending_of_user().never();

        let service = service_with_orders(users, sessions, orders);
        let err = service.delete(&caller(&admin), admin.id).await.expect_err("last admin");
        assert!(matches!(err, AppError::LastAdmin));
    }

    fn operator() -> Signup {
        Signup::parse("boss", "zarina@example.uz", "Gilam-yuvish-2026").expect("valid")
    }

    #[tokio::test]
    async fn the_bootstrap_never_promotes_an_unverified_self_registered_account() {
        let stranger = User { is_verified: false, ..user(Role::User) };
        let mut users = MockUserRepo::new();
        users.expect_find_by_email().returning(move |_| Ok(Some(stranger.clone())));
        users.expect_update().never();
        users.expect_insert().never();
        let service = service(users, MockSessionRepo::new());

        let err = service.ensure_admin(operator(), false).await.expect_err("refused");
        assert!(matches!(err, AppError::UnverifiedAccount), "{err:?}");
    }

    #[tokio::test]
    async fn a_take_over_promotes_re_passwords_and_revokes_everything_the_stranger_held() {
        let stranger = User { is_verified: false, ..user(Role::User) };
        let id = stranger.id;
        let promoted = User { role: Role::Admin, is_verified: true, ..stranger.clone() };
        let mut users = MockUserRepo::new();
        users.expect_find_by_email().returning(move |_| Ok(Some(stranger.clone())));
        users
            .expect_update()
            .withf(|_, patch, _, _| {
                patch.role == Some(Role::Admin)
                    && patch.is_verified == Some(true)
                    && patch.password_hash.as_ref().map(PasswordHash::as_str)
                        == Some("$argon2id$new")
            })
            .times(1)
            .returning(move |_, _, _, _| Ok(Some(promoted.clone())));
        let mut sessions = MockSessionRepo::new();
        sessions
            .expect_revoke_all_for_user()
            .withf(move |u, keep, _| *u == id && keep.is_none())
            .times(1)
            .returning(|_, _, _| Ok(1));
        let mut email_tokens = MockEmailTokenRepo::new();
        expect_links_invalidated(&mut email_tokens, id);
        let service = service_full(
            users,
            sessions,
            MockOrderRepo::new(),
            email_tokens,
            MockOutbox::new(),
            hasher(),
        );

        let admin = service.ensure_admin(operator(), true).await.expect("taken over");
        assert_eq!(admin.role, Role::Admin);
    }

    #[tokio::test]
    async fn the_bootstrap_leaves_an_existing_verified_admin_and_its_password_alone() {
        let admin = user(Role::Admin);
        let mut users = MockUserRepo::new();
        users.expect_find_by_email().returning(move |_| Ok(Some(admin.clone())));
        users.expect_update().never();
        let mut sessions = MockSessionRepo::new();
        sessions.expect_revoke_all_for_user().never();
        let service = service(users, sessions);

        service.ensure_admin(operator(), false).await.expect("unchanged");
    }

    #[tokio::test]
    async fn concurrent_bootstraps_converge_on_one_account() {
        let mut seq = mockall::Sequence::new();
        let mut users = MockUserRepo::new();
        users.expect_find_by_email().times(1).in_sequence(&mut seq).returning(|_| Ok(None));
        // Another instance inserted the account meanwhile.
        users
            .expect_insert()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Err(RepoError::Duplicate(UniqueKey::Email)));
        let theirs = user(Role::Admin);
        users
            .expect_find_by_email()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(Some(theirs.clone())));
        users.expect_update().never();
        let service = service_checking_passwords(users);

        let admin = service.ensure_admin(operator(), false).await.expect("converged");
        assert_eq!(admin.role, Role::Admin);
    }

    fn version(n: i64) -> Version {
        Version::from_stored(n).expect("positive")
    }

    #[tokio::test]
    async fn a_stale_precondition_changes_nothing_and_fails() {
        let admin = user(Role::Admin);
        let other = User { version: version(4), ..user(Role::User) };
        let stored = other.clone();
        let mut users = MockUserRepo::new();
        users.expect_get().returning(move |_| Ok(Some(stored.clone())));
        users.expect_update().never();
        let service = service(users, MockSessionRepo::new());
        let rename = || AccountChanges {
            username: Some(Username::parse("u", "renamed").expect("valid")),
            ..AccountChanges::default()
        };

        for stale in [Precondition::version(version(3)), Precondition::default()] {
            let err = service
                .update(&caller(&admin), other.id, rename(), Some(stale))
                .await
                .expect_err("stale");
            assert!(matches!(err, AppError::PreconditionFailed), "{err:?}");
        }
        let err = service
            .update(
                &caller(&admin),
                other.id,
                AccountChanges::default(),
                Some(Precondition::default()),
            )
            .await
            .expect_err("even an empty change");
        assert!(matches!(err, AppError::PreconditionFailed), "{err:?}");
    }

    #[tokio::test]
    async fn a_holding_precondition_makes_the_write_conditional_on_the_version_read() {
        let admin = user(Role::Admin);
        let other = User { version: version(4), ..user(Role::User) };
        let stored = other.clone();
        let mut users = MockUserRepo::new();
        users.expect_get().returning(move |_| Ok(Some(stored.clone())));
        // Someone else wrote between the read and the write.
        users
            .expect_update()
            .withf(|_, _, expected, _| *expected == Some(version(4)))
            .times(1)
            .returning(|_, _, _, _| Err(RepoError::VersionMismatch));
        let changes = AccountChanges { is_verified: Some(false), ..AccountChanges::default() };
        let either = Precondition::one_of([version(3), version(4)]);

        let err = service(users, MockSessionRepo::new())
            .update(&caller(&admin), other.id, changes, Some(either))
            .await
            .expect_err("lost the race");

        assert!(matches!(err, AppError::PreconditionFailed), "{err:?}");
    }
}
