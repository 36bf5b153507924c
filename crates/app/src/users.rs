//! Managing accounts: administrators manage everyone; a customer sees and edits
//! only their own account, and may never change their role or verification.

use std::sync::Arc;

use tozalash_domain::{
    Admin, Clock, Email, Id, OrderRepo, Page, PasswordHasher, Principal, Role, SessionRepo, Signup,
    User, UserPatch, UserQuery, UserRepo, Username,
};

use crate::error::AppError;
use crate::mail::MailFlows;

const USER: &str = "user";

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
            password_hash,
            role: account.role,
            is_verified: account.is_verified,
            created_at: now,
            updated_at: now,
        })
    }

    /// Changes an account. A new e-mail makes the account unverified again
    /// (unless an admin sets `isVerified` in the same change).
    pub async fn update(
        &self,
        caller: &Principal,
        id: Id,
        changes: AccountChanges,
    ) -> Result<User, AppError> {
        let current = self.get(caller, id).await?;
        let privileged = changes.role.is_some() || changes.is_verified.is_some();
        if privileged && caller.role != Role::Admin {
            tracing::warn!(event = "authz_fail", user_id = %caller.user_id, "a customer tried to change a role or verification");
            return Err(AppError::Forbidden);
        }
        let email_changes = changes.email.as_ref().is_some_and(|e| *e != current.email);
        let patch = UserPatch {
            username: changes.username,
            email: changes.email,
            password_hash: None,
            role: changes.role,
            is_verified: changes.is_verified.or(email_changes.then_some(false)),
        };
        if patch.is_empty() {
            return Ok(current);
        }
        let user = self
            .users
            .update(id, &patch, self.clock.now())
            .await?
            .ok_or(AppError::NotFound(USER))?;
        tracing::info!(event = "user_updated", user_id = %id, by = %caller.user_id, "user updated");
        if let Some(role) = patch.role {
            tracing::warn!(event = "authz_change", user_id = %id, by = %caller.user_id, %role, "a user's role changed");
        }
        if email_changes && !user.is_verified {
            self.mail.send_verification(&user).await?;
        }
        Ok(user)
    }

    /// Deletes an account: its sessions are revoked and its PENDING orders
    /// cancelled first; its order history stays readable to administrators.
    pub async fn delete(&self, caller: &Principal, id: Id) -> Result<(), AppError> {
        if !may_manage(caller, id) {
            return Err(AppError::NotFound(USER));
        }
        let now = self.clock.now();
        self.sessions.revoke_all_for_user(id, None, now).await?;
        self.orders.cancel_pending_of_user(id, now).await?;
        if !self.users.delete(id).await? {
            return Err(AppError::NotFound(USER));
        }
        tracing::info!(event = "user_deleted", user_id = %id, by = %caller.user_id, "user deleted");
        Ok(())
    }

    /// Makes sure a verified ADMIN with these credentials exists: creates it,
    /// or promotes, verifies and re-passwords the account with this e-mail.
    /// Running it again changes nothing.
    pub async fn ensure_admin(&self, signup: Signup) -> Result<User, AppError> {
        self.ensure_account(signup, Role::Admin).await
    }

    /// Makes sure a verified account with this role and these credentials
    /// exists (the operator vouches for the address: no mail is sent).
    pub async fn ensure_account(&self, signup: Signup, role: Role) -> Result<User, AppError> {
        let Some(existing) = self.users.find_by_email(&signup.email).await? else {
            let account = NewAccount { signup, role, is_verified: true };
            let user = self.new_user(account).await?;
            self.users.insert(&user).await?;
            tracing::info!(user_id = %user.id, %role, "account created by the operator");
            return Ok(user);
        };
        let same_password = self
            .hasher
            .verify(&signup.password, Some(&existing.password_hash))
            .await
            .map_err(AppError::internal)?;
        let password_hash = match same_password {
            true => None,
            false => Some(self.hasher.hash(&signup.password).await.map_err(AppError::internal)?),
        };
        let patch = UserPatch {
            password_hash,
            role: (existing.role != role).then_some(role),
            is_verified: (!existing.is_verified).then_some(true),
            ..UserPatch::default()
        };
        if patch.is_empty() {
            return Ok(existing);
        }
        let user = self
            .users
            .update(existing.id, &patch, self.clock.now())
            .await?
            .ok_or(AppError::NotFound(USER))?;
        tracing::info!(user_id = %user.id, %role, "account brought up to date by the operator");
        Ok(user)
    }
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
    use tozalash_domain::{PasswordHash, RenderedMail, SecretToken, Timestamp, TokenHash};

    fn at(millis: i64) -> Timestamp {
        chrono::DateTime::from_timestamp_millis(millis).expect("valid instant")
    }

    fn user(role: Role) -> User {
        User {
            id: Id::generate(),
            username: Username::parse("u", "zarina").expect("valid"),
            email: Email::parse("e", "zarina@example.uz").expect("valid"),
            password_hash: PasswordHash::from_phc("$argon2id$x".into()),
            role,
            is_verified: true,
            created_at: at(0),
            updated_at: at(0),
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
        let mail = MailFlows::new(
            Arc::new(email_tokens),
            Arc::new(outbox),
            Arc::new(renderer),
            Arc::new(secrets),
            clock.clone(),
            "http://127.0.0.1:8080",
            crate::mail::LinkPolicy::default(),
        );
        UserService::new(
            Arc::new(users),
            Arc::new(sessions),
            Arc::new(orders),
            Arc::new(MockPasswordHasher::new()),
            clock,
            mail,
        )
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
            let err = service.update(&caller(&me), me.id, changes).await.expect_err("refused");
            assert!(matches!(err, AppError::Forbidden));
        }
    }

    #[tokio::test]
    async fn a_new_email_makes_the_account_unverified_and_sends_a_verification_there() {
        let me = user(Role::User);
        let stored = me.clone();
        let mut users = MockUserRepo::new();
        users.expect_get().returning(move |_| Ok(Some(stored.clone())));
        let new_email = Email::parse("e", "new@example.uz").expect("valid");
        let updated = User { email: new_email.clone(), is_verified: false, ..me.clone() };
        users
            .expect_update()
            .withf(|_, patch, _| patch.is_verified == Some(false) && patch.email.is_some())
            .times(1)
            .returning(move |_, _, _| Ok(Some(updated.clone())));
        let mut email_tokens = MockEmailTokenRepo::new();
        email_tokens.expect_invalidate().returning(|_, _, _| Ok(0));
        let to = new_email.clone();
        email_tokens.expect_insert().withf(move |t| t.email == to).times(1).returning(|_| Ok(()));
        let mut outbox = MockOutbox::new();
        let to = new_email.clone();
        outbox.expect_enqueue().withf(move |m| m.mail.to == to).times(1).returning(|_| Ok(()));
        let changes = AccountChanges { email: Some(new_email), ..AccountChanges::default() };

        let service = service_with_mail(
            users,
            MockSessionRepo::new(),
            MockOrderRepo::new(),
            email_tokens,
            outbox,
        );
        service.update(&caller(&me), me.id, changes).await.expect("updated");
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
            .withf(|_, patch, _| patch.role == Some(Role::Admin) && patch.is_verified == Some(true))
            .returning(move |_, _, _| Ok(Some(promoted.clone())));
        let changes = AccountChanges {
            role: Some(Role::Admin),
            is_verified: Some(true),
            ..AccountChanges::default()
        };

        let done = service(users, MockSessionRepo::new())
            .update(&caller(&admin), other.id, changes)
            .await
            .expect("ok");

        assert_eq!(done.role, Role::Admin);
    }

    #[tokio::test]
    async fn deleting_an_account_revokes_its_sessions_and_cancels_its_pending_orders_first() {
        let me = user(Role::User);
        let id = me.id;
        let mut seq = mockall::Sequence::new();
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
        let mut users = MockUserRepo::new();
        users.expect_delete().times(1).in_sequence(&mut seq).returning(|_| Ok(true));

        let service = service_with_orders(users, sessions, orders);
        service.delete(&caller(&me), id).await.expect("deleted");
    }
}
