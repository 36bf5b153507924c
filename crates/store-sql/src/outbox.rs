//! [`Outbox`] on SQL: the `outbox` table (see
//! `migrations/*/0004_email_tokens_outbox.sql`).
//!
//! Claiming is the one place the backends part ways, because it must hand each
//! due message to exactly one worker, across processes:
//!
//! - Postgres: ONE statement. A CTE picks the due rows `FOR UPDATE SKIP LOCKED`
//!   (rows another claim holds are passed over, not waited for) and the UPDATE
//!   moves them to the lease. A claim that started before another one committed
//!   re-checks a row it then locks against the row's latest version (READ
//!   COMMITTED), finds it leased into the future, and leaves it.
//! - SQLite: a `BEGIN IMMEDIATE` transaction that selects the due rows and moves
//!   them to the lease. SQLite has one writer, and the transaction takes the
//!   write lock before it reads, so claims simply queue.
//!
//! Both answer the claimed messages oldest due first: Postgres's RETURNING has
//! no order and shows only the leased row, so the CTE also hands over each row's
//! due time and the rows are sorted here.
//!
//! Every other statement is a fixed string shared by both backends. Every
//! write that follows a claim (renew, mark sent, retry later, mark dead,
//! release) is ONE UPDATE conditional on `id`, the claim's token and `status =
//! 'PENDING'`, so a worker whose lease ran out and whose message another
//! worker claimed (or sent) since changes nothing; `attempts` is raised in the
//! write itself. Marking a message SENT or DEAD empties its body in the same
//! write: its links carry secret tokens.

use std::str::FromStr;

use async_trait::async_trait;
use tozalash_domain::{
    ClaimToken, ClaimedMessage, Email, Id, MailKind, Outbox, OutboxMessage, OutboxStatus,
    RenderedMail, RepoError, Timestamp,
};

use crate::error::translate;
use crate::sessions::begin_write;
use crate::time::{PgTime, StoredTime, UnixMillis};
use crate::{on_pool, Pool};

/// The columns an [`OutboxRow`] is read from, in every statement that returns messages.
macro_rules! message_columns {
    () => {
        "id, kind, recipient, subject, body_text, body_html, status, attempts, \
         next_attempt_at, created_at, last_error"
    };
}
pub(crate) use message_columns;

pub(crate) const INSERT: &str = concat!(
    "INSERT INTO outbox (",
    message_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);

const GET: &str = concat!("SELECT ", message_columns!(), " FROM outbox WHERE id = $1");

/// Binds `message` as the parameters that follow those `$query` already has,
/// in [`message_columns!`] order, for the backend whose timestamp type is `Time`.
macro_rules! bind_message {
    ($query:expr, $message:expr, $Time:ident) => {{
        let message: &tozalash_domain::OutboxMessage = $message;
        $query
            .bind(message.id.to_hex())
            .bind(message.kind.as_str())
            .bind(message.mail.to.as_str())
            .bind(message.mail.subject.as_str())
            .bind(message.mail.text.as_str())
            .bind(message.mail.html.as_str())
            .bind(message.status.as_str())
            .bind(i64::from(message.attempts))
            .bind($Time::store(message.next_attempt_at))
            .bind($Time::store(message.created_at))
            .bind(message.last_error.as_deref())
    }};
}
pub(crate) use bind_message;

/// The INSERT of `message`, bound, for the backend whose timestamp type is
/// `Time`: ready to run on a pool or inside another write's transaction (an
/// order and its mail, see `orders.rs`).
macro_rules! enqueue_query {
    ($message:expr, $Time:ident) => {
        $crate::outbox::bind_message!(sqlx::query($crate::outbox::INSERT), $message, $Time)
    };
}
pub(crate) use enqueue_query;

/// Postgres: leases up to `$3` PENDING messages due at `$1` until `$2` under
/// the claim token `$4`, in one statement, answering each with the time it was due (`due_at`). The CTE walks
/// the `outbox_pending_due` partial index; `SKIP LOCKED` passes over the rows a
/// concurrent claim holds.
const PG_CLAIM_DUE: &str = concat!(
    "WITH due AS (",
    "SELECT id AS due_id, next_attempt_at AS due_at FROM outbox ",
    "WHERE status = 'PENDING' AND next_attempt_at <= $1 ",
    "ORDER BY next_attempt_at, id LIMIT $3 ",
    "FOR UPDATE SKIP LOCKED",
    ") ",
    "UPDATE outbox SET next_attempt_at = $2, claim_token = $4 FROM due WHERE id = due.due_id ",
    "RETURNING ",
    message_columns!(),
    ", due.due_at"
);

/// The PENDING messages due at `$1`, oldest due first, at most `$2` of them,
/// read from the `outbox_pending_due` partial index. The `status` is a literal
/// so that SQLite sees the query implies the index's WHERE.
macro_rules! due_rows {
    ($columns:expr, $now:literal, $limit:literal) => {
        concat!(
            "SELECT ",
            $columns,
            " FROM outbox WHERE status = 'PENDING' AND next_attempt_at <= ",
            $now,
            " ORDER BY next_attempt_at, id LIMIT ",
            $limit
        )
    };
}

/// SQLite, inside the claiming transaction: the messages to claim.
const SQLITE_SELECT_DUE: &str = due_rows!(message_columns!(), "$1", "$2");

/// SQLite, inside the same transaction: leases the same messages until `$3`
/// under the claim token `$4`.
/// Nothing else writes in between (the transaction holds the write lock), so
/// the subquery picks exactly the rows the SELECT answered.
const SQLITE_LEASE_DUE: &str = concat!(
    "UPDATE outbox SET next_attempt_at = $3, claim_token = $4 WHERE id IN (",
    due_rows!("id", "$1", "$2"),
    ")"
);

/// The condition of every write that follows a claim: the message `$1` is
/// still held by the claim whose token is `$2`, and still PENDING.
macro_rules! held {
    () => {
        " WHERE id = $1 AND claim_token = $2 AND status = 'PENDING'"
    };
}

/// Extends the lease of `$1` (claim `$2`) to `$3`.
const RENEW: &str = concat!("UPDATE outbox SET next_attempt_at = $3", held!());

/// Marks `$1` (claim `$2`) sent at `$3`, drops its body and ends the claim.
const MARK_SENT: &str = concat!(
    "UPDATE outbox SET status = 'SENT', sent_at = $3, body_text = '', body_html = '', \
     claim_token = NULL",
    held!()
);

/// Records a failed attempt of `$1` (claim `$2`): one more attempt, next try
/// at `$3`, error `$4`; ends the claim.
const RETRY_LATER: &str = concat!(
    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $3, last_error = $4, \
     claim_token = NULL",
    held!()
);

/// Gives up on `$1` (claim `$2`) after one more attempt with error `$3`, drops
/// its body and ends the claim.
const MARK_DEAD: &str = concat!(
    "UPDATE outbox SET status = 'DEAD', attempts = attempts + 1, last_error = $3, \
     body_text = '', body_html = '', claim_token = NULL",
    held!()
);

/// Hands `$1` (claim `$2`) back, due at `$3`, and ends the claim.
const RELEASE: &str =
    concat!("UPDATE outbox SET next_attempt_at = $3, claim_token = NULL", held!());

/// How many messages are PENDING and how many DEAD, each counted on its own
/// partial index rather than over every message ever sent.
const BACKLOG: &str = "\
    SELECT (SELECT COUNT(*) FROM outbox WHERE status = 'PENDING') AS pending, \
           (SELECT COUNT(*) FROM outbox WHERE status = 'DEAD') AS dead";

/// An `outbox` row as selected; `T` is the backend's timestamp column type.
#[derive(sqlx::FromRow)]
struct OutboxRow<T> {
    id: String,
    kind: String,
    recipient: String,
    subject: String,
    body_text: String,
    body_html: String,
    status: String,
    attempts: i64,
    next_attempt_at: T,
    created_at: T,
    last_error: Option<String>,
}

/// A message Postgres's claim answered, with the time it was due before the lease.
#[derive(sqlx::FromRow)]
struct ClaimedRow {
    #[sqlx(flatten)]
    message: OutboxRow<PgTime>,
    due_at: PgTime,
}

impl<T: StoredTime> OutboxRow<T> {
    /// The stored row as a domain value. A row that breaks a domain rule, or that
    /// the domain would have normalised differently (which only a hand edit of the
    /// database can make), is a failure, not a panic.
    fn into_message(self) -> Result<OutboxMessage, RepoError> {
        let id = self.id;
        let corrupt = |what: &str| {
            RepoError::Failed(format!("stored outbox message {id:?} has an invalid {what}").into())
        };
        let to = Email::parse("to", &self.recipient)
            .ok()
            .filter(|e| e.as_str() == self.recipient)
            .ok_or_else(|| corrupt("recipient"))?;
        Ok(OutboxMessage {
            id: Id::parse(&id).map_err(|_| corrupt("id"))?,
            kind: MailKind::from_str(&self.kind).map_err(|_| corrupt("kind"))?,
            mail: RenderedMail {
                to,
                subject: self.subject,
                text: self.body_text,
                html: self.body_html,
            },
            status: OutboxStatus::from_str(&self.status).map_err(|_| corrupt("status"))?,
            attempts: u32::try_from(self.attempts).map_err(|_| corrupt("attempt count"))?,
            next_attempt_at: self.next_attempt_at.load()?,
            created_at: self.created_at.load()?,
            last_error: self.last_error,
        })
    }
}

/// The mail outbox in the `outbox` table.
#[derive(Debug)]
pub(crate) struct SqlOutbox {
    pool: Pool,
}

impl SqlOutbox {
    pub(crate) fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Runs a write that follows a claim: `sql` binds the message's id as
    /// `$1`, the claim token as `$2` and `args` after them; answers whether
    /// the claim still held the message (one row changed).
    async fn follow_up(
        &self,
        sql: &'static str,
        id: Id,
        token: &ClaimToken,
        args: &[Arg<'_>],
    ) -> Result<bool, RepoError> {
        let changed = on_pool!(&self.pool, |db, Time| {
            let mut query = sqlx::query(sql).bind(id.to_hex()).bind(token.as_str());
            for arg in args {
                query = match *arg {
                    Arg::At(at) => query.bind(Time::store(at)),
                    Arg::Text(text) => query.bind(text),
                };
            }
            query.execute(db).await.map_err(translate)?.rows_affected()
        });
        Ok(changed == 1)
    }
}

/// A parameter of a follow-up write, after the id and the token.
enum Arg<'a> {
    At(Timestamp),
    Text(&'a str),
}

#[async_trait]
impl Outbox for SqlOutbox {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<(), RepoError> {
        on_pool!(&self.pool, |db, Time| enqueue_query!(message, Time).execute(db).await.map(drop))
            .map_err(translate)
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedMessage>, RepoError> {
        let limit = i64::from(limit);
        let token = ClaimToken::generate();
        let claimed = |message: OutboxMessage| ClaimedMessage { message, token: token.clone() };
        // The claim is committed before the rows become domain values: a row a
        // hand edit broke fails this claim but stays leased, so the next claim
        // passes over it instead of failing on it again.
        match &self.pool {
            Pool::Postgres(db) => {
                let mut rows = sqlx::query_as::<_, ClaimedRow>(PG_CLAIM_DUE)
                    .bind(PgTime::store(now))
                    .bind(PgTime::store(lease_until))
                    .bind(limit)
                    .bind(token.as_str())
                    .fetch_all(db)
                    .await
                    .map_err(translate)?;
                rows.sort_by(|a, b| (a.due_at, &a.message.id).cmp(&(b.due_at, &b.message.id)));
                rows.into_iter().map(|row| row.message.into_message().map(claimed)).collect()
            }
            Pool::Sqlite(db) => {
                let mut tx = begin_write(db).await?;
                let rows = sqlx::query_as::<_, OutboxRow<UnixMillis>>(SQLITE_SELECT_DUE)
                    .bind(UnixMillis::store(now))
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(translate)?;
                let leased = sqlx::query(SQLITE_LEASE_DUE)
                    .bind(UnixMillis::store(now))
                    .bind(limit)
                    .bind(UnixMillis::store(lease_until))
                    .bind(token.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(translate)?
                    .rows_affected();
                if usize::try_from(leased).ok() != Some(rows.len()) {
                    // Cannot happen while the transaction holds the write lock.
                    return Err(RepoError::Failed(
                        format!("claimed {} outbox messages but leased {leased}", rows.len())
                            .into(),
                    ));
                }
                tx.commit().await.map_err(translate)?;
                rows.into_iter()
                    .map(|row| {
                        row.into_message().map(|message| {
                            claimed(OutboxMessage { next_attempt_at: lease_until, ..message })
                        })
                    })
                    .collect()
            }
        }
    }

    async fn renew(
        &self,
        id: Id,
        token: &ClaimToken,
        lease_until: Timestamp,
    ) -> Result<bool, RepoError> {
        self.follow_up(RENEW, id, token, &[Arg::At(lease_until)]).await
    }

    async fn mark_sent(
        &self,
        id: Id,
        token: &ClaimToken,
        now: Timestamp,
    ) -> Result<bool, RepoError> {
        self.follow_up(MARK_SENT, id, token, &[Arg::At(now)]).await
    }

    async fn retry_later(
        &self,
        id: Id,
        token: &ClaimToken,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> Result<bool, RepoError> {
        self.follow_up(RETRY_LATER, id, token, &[Arg::At(next_attempt_at), Arg::Text(error)]).await
    }

    async fn mark_dead(&self, id: Id, token: &ClaimToken, error: &str) -> Result<bool, RepoError> {
        self.follow_up(MARK_DEAD, id, token, &[Arg::Text(error)]).await
    }

    async fn release(&self, id: Id, token: &ClaimToken, now: Timestamp) -> Result<bool, RepoError> {
        self.follow_up(RELEASE, id, token, &[Arg::At(now)]).await
    }

    async fn get(&self, id: Id) -> Result<Option<OutboxMessage>, RepoError> {
        on_pool!(&self.pool, |db, Time| {
            sqlx::query_as::<_, OutboxRow<Time>>(GET)
                .bind(id.to_hex())
                .fetch_optional(db)
                .await
                .map_err(translate)?
                .map(OutboxRow::into_message)
                .transpose()
        })
    }

    async fn backlog(&self) -> Result<(u64, u64), RepoError> {
        let (pending, dead) = on_pool!(&self.pool, |db, _Time| {
            sqlx::query_as::<_, (i64, i64)>(BACKLOG).fetch_one(db).await.map_err(translate)?
        });
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok((count(pending), count(dead)))
    }

    async fn purge_finished(&self, before: Timestamp, limit: u32) -> Result<u64, RepoError> {
        crate::retention::purge(&self.pool, crate::retention::FINISHED_MAIL, before, limit).await
    }
}
