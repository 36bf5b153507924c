//! Configuration (DESIGN §8): environment variables, plus a `.env` file read by
//! `main` and an optional TOML file. Each setting is declared once, in the
//! `settings!` list below: its variable, type, default, rule and meaning. The
//! variables read, their defaults and checks, the tables of
//! `docs/configuration.md` and `.env.example` all come from that list. Every
//! value is checked at start; a bad one stops the process with a message
//! naming the variable.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use figment::providers::{Env, Serialized};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tozalash_app::{Limit, Quotas};
use tozalash_domain::{BookingConfigError, BookingRules, Quota, SecretStore};
use tozalash_http::TrustedProxies;
use tozalash_mailer::Locale;
use url::{Host, Url};

use crate::storage::Backend;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://tozalash.db?mode=rwc";
/// The shortest `JWT_SECRET` accepted: 256 bits for HS256.
pub const MIN_SECRET_BYTES: usize = 32;

/// Turns the one list of settings below into everything derived from it.
macro_rules! settings {
    (@shown $ty:ty, $default:expr, $shown:literal) => { Shown::Prose($shown) };
    (@shown $ty:ty, $default:expr) => { Shown::of::<$ty>(&$default) };
    (@accepts $ty:ty, $rule:expr) => { Rule::<$ty>::accepts(&$rule) };
    (@accepts $ty:ty) => { <$ty as Kind>::ACCEPTS.to_owned() };
    ($(
        group $group:literal;
        $(
            $(#[doc = $doc:literal])+
            $key:ident: $ty:ty = $default:expr $(, shown $shown:literal)? $(, rule $rule:expr)?;
        )+
    )+) => {
        /// The keys of the settings: the TOML file's, and the variables' in
        /// lower case (the environment provider compares them ignoring case).
        const VARIABLES: &[&str] = &[$($(stringify!($key)),+),+];

        /// The raw values, as read; checked by [`Config::check`].
        #[derive(Debug, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            $($( $(#[doc = $doc])+ $key: $ty, )+)+
        }

        impl Default for Raw {
            fn default() -> Self {
                Self { $($( $key: $default, )+)+ }
            }
        }

        impl Raw {
            /// Each setting's own rule, in the order of the list.
            fn check_each(&self) -> anyhow::Result<()> {
                $($($(
                    let name = stringify!($key).to_ascii_uppercase();
                    Rule::<$ty>::check(&$rule, &name, &self.$key)?;
                )?)+)+
                Ok(())
            }
        }

        /// Every setting [`Config`] reads, as the generated reference shows it.
        fn declared() -> Vec<Setting> {
            vec![$($(
                Setting {
                    name: stringify!($key).to_ascii_uppercase(),
                    group: $group,
                    doc: &[$($doc),+],
                    default: settings!(@shown $ty, $default $(, $shown)?),
                    accepts: settings!(@accepts $ty $(, $rule)?),
                },
            )+)+]
        }
    };
}

// Every setting, once: its key (the variable in lower case, as the TOML file
// spells it), type and default. The doc comment is its meaning in the
// reference; a `shown` text stands for a default that is no single value; a
// `rule` is checked at start and says in the reference what it accepts (else
// the type does). Rules between settings are in `Config::check`. After a
// change, `UPDATE_GENERATED=1 cargo test -p tozalash --lib config` regenerates
// `docs/configuration.md` and `.env.example`.
settings! {
    group "Server";

    /// `production` refuses to start without a `JWT_SECRET`, without an
    /// `SMTP_URL` or with `COOKIE_SECURE=false`, and logs JSON lines.
    app_env: AppEnv = AppEnv::Development;
    /// The address to listen on.
    host: IpAddr = IpAddr::from([127, 0, 0, 1]);
    /// The port to listen on; `0` picks a free port and logs it.
    port: u16 = 8080;
    /// The base of the links the server sends out (never taken from a request's
    /// `Host`).
    public_url: String = "http://127.0.0.1:8080".to_owned(),
        rule parsed(public_url, "an `http://` or `https://` URL, without a query or fragment");
    /// The origins allowed to call from a browser with credentials (cookies),
    /// comma-separated, e.g. `https://app.example.uz,http://localhost:5173`;
    /// empty: no cross-origin access.
    cors_origins: String = String::new(),
        rule parsed(cors_origins, "origins `http(s)://host[:port]`: no path, no `*`");
    /// How long a client has to send a whole request body, from the end of its
    /// headers; a body still arriving then is answered 408 `request_timeout`
    /// and its connection closed.
    body_read_timeout_ms: u64 = 10_000, rule between(100, 600_000, "milliseconds");

    group "Storage";

    /// The storage backend, chosen by the scheme. The schema is created and
    /// migrated at start.
    database_url: String = DEFAULT_DATABASE_URL.to_owned(),
        rule parsed(database_url, "`sqlite:…`, `postgres://…`, `mongodb://…` or `mongodb+srv://…`");
    /// The longest a single database statement may run: Postgres's
    /// `statement_timeout` on every pooled connection, MongoDB's `maxTimeMS` on
    /// the list and search reads; such a query fails as unavailable (503). `0`
    /// sets none. SQLite has no statement timeout; this does not apply to it
    /// (see `docs/security.md`).
    db_statement_timeout_ms: u64 = 5_000, rule at_most(3_600_000, "milliseconds");

    group "Sessions";

    /// The HS256 key that signs access tokens.
    jwt_secret: Option<String> = None,
        shown "development: generated once into `<sqlite file>.jwt-secret` (on a server \
               database, into its `secrets` table, shared by every instance); required in \
               production",
        rule MinBytes(MIN_SECRET_BYTES);
    /// The lifetime of an access token. Below 60 only in development (the
    /// browser tests expire sessions in seconds); production refuses it.
    access_token_ttl: u64 = 900, rule between(1, 86_400, "seconds");
    /// The absolute lifetime of a login session, however often it refreshes.
    refresh_token_ttl: u64 = 2_592_000, rule between(3600, 31_536_000, "seconds");
    /// How long a rotated refresh token is refused without revoking its session
    /// (two tabs refreshing at once).
    refresh_reuse_grace: u64 = 30, rule at_most(300, "seconds");
    /// The cookies' `Secure` attribute; production refuses `false`.
    cookie_secure: Option<bool> = None, shown "`false` in development, `true` in production";
    /// A parent domain for the session cookies, e.g. `example.uz`, so that
    /// every host under it (`app.example.uz`, `api.example.uz`) receives them;
    /// empty: host-only cookies on the API's host. Then every sibling
    /// subdomain can read `csrf_token` and send the cookies (see
    /// `docs/security.md`); a page on another host can instead get the token
    /// from `X-CSRF-Token` and `GET /auth/csrf`.
    cookie_domain: Option<String> = None,
        rule parsed(cookie_domain, "a domain name such as `example.uz` (no scheme, port or IP address)");

    group "First administrator";

    /// With `ADMIN_USERNAME` and `ADMIN_PASSWORD` (all three or none): a
    /// verified ADMIN with this address exists after start. Created when
    /// missing; an existing verified administrator keeps its password; an
    /// account whose address was never verified is refused (see
    /// `ADMIN_TAKE_OVER`).
    admin_email: Option<String> = None;
    /// See `ADMIN_EMAIL`.
    admin_username: Option<String> = None;
    /// See `ADMIN_EMAIL`; a weak password is refused.
    admin_password: Option<String> = None;
    /// Lets the bootstrap promote an account whose address was never
    /// verified (someone may have signed up with it first): its password is
    /// replaced and its sessions revoked, and the take-over is logged.
    admin_take_over: bool = false;

    group "Mail";

    /// The SMTP server: `smtp://host:port` (plain), `smtp://host:port?tls=required`
    /// (STARTTLS), `smtps://host:port` (TLS); credentials as
    /// `smtp://user:pass@host`.
    smtp_url: Option<String> = None,
        shown "unset: the development mailer (`.eml` files in `MAIL_DIR`); required in production",
        rule parsed(smtp_url, "an `smtp://` or `smtps://` URL");
    /// The sender.
    mail_from: String = "Tozalash <no-reply@localhost>".to_owned(),
        rule parsed(mail_from, "an address, e.g. `Tozalash <no-reply@example.uz>`");
    /// The language of the mails of accounts that chose none.
    mail_locale: String = "uz".to_owned(), rule MailLocale;
    /// Where the development mailer writes each mail as an `.eml` file (it logs
    /// the file's path; the link is only in the file).
    mail_dir: Option<PathBuf> = None, shown "`mail/` beside the SQLite file, else `./mail`";
    /// The lifetime of an e-mail verification link, in seconds.
    email_verification_ttl: u64 = 86_400;
    /// The lifetime of a password-reset link, in seconds.
    password_reset_ttl: u64 = 1_800;
    /// At most one mail carrying a link (verification or reset) per account
    /// in this many seconds, whichever instances are asked (one conditional
    /// write on the account).
    mail_resend_interval: u64 = 60;
    /// The outbox's first retry delay, in milliseconds: positive, and at most
    /// `MAIL_RETRY_MAX_MS`.
    mail_retry_base_ms: u64 = 5_000;
    /// The cap of the outbox's doubling retry delay (plus up to 50 % jitter), in
    /// milliseconds.
    mail_retry_max_ms: u64 = 600_000;
    /// After how many seconds an undelivered mail is given up (marked DEAD,
    /// logged).
    mail_give_up_after: u64 = 86_400;
    /// How often the outbox worker looks for due mail.
    outbox_poll_ms: u64 = 1_000, rule at_least(10, "milliseconds");
    /// How long a message the outbox worker claimed is reserved for it, in
    /// milliseconds. The worker renews a message's lease right before it
    /// sends it, so the lease must exceed ONE delivery, not a whole batch: the
    /// SMTP mailer gives up on a delivery after 30 s or after three quarters
    /// of this lease, whichever comes first. A worker that dies mid-send
    /// delays its messages by up to this long; one that stops (SIGTERM) hands
    /// back those it has not attempted at once.
    outbox_lease_ms: u64 = 60_000, rule at_least(1_000, "milliseconds");
    /// How many due messages one round of the outbox worker claims (under one
    /// claim; each is renewed before its send).
    outbox_batch: u64 = 20, rule between(1, 1_000, "messages");

    group "Rate limits";

    /// `false` switches every rate limit and the login slowdown off
    /// (benchmarks, tests); the per-address `MAIL_RESEND_INTERVAL` stays. Over
    /// a limit: 429 `rate_limited` with `Retry-After`. See docs/security.md.
    rate_limits: bool = true;
    /// Logins per client IP: `N/SECONDS`, at most N in a window of SECONDS.
    rate_limit_login_ip: String = default_quota(Limit::LoginIp), rule QuotaRule;
    /// Logins per (normalised e-mail, client IP).
    rate_limit_login_account: String = default_quota(Limit::LoginAccount), rule QuotaRule;
    /// Logins per normalised e-mail, from any IP.
    rate_limit_login_email: String = default_quota(Limit::LoginEmail), rule QuotaRule;
    /// Signups per client IP.
    rate_limit_signup_ip: String = default_quota(Limit::SignupIp), rule QuotaRule;
    /// Verification resends and password-reset requests together, per client
    /// IP.
    rate_limit_mail_ip: String = default_quota(Limit::MailIp), rule QuotaRule;
    /// Refreshes per session.
    rate_limit_refresh_session: String = default_quota(Limit::RefreshSession), rule QuotaRule;
    /// Orders placed per user.
    rate_limit_orders_user: String = default_quota(Limit::OrdersUser), rule QuotaRule;
    /// Requests of any kind per client IP.
    rate_limit_any_ip: String = default_quota(Limit::AnyIp), rule QuotaRule;
    /// The proxies and load balancers in front of the server, comma-separated
    /// addresses or networks (`10.0.0.0/8,::1`): only a peer among them is
    /// believed when its `X-Forwarded-For` (or `Forwarded`) names the client.
    /// Empty: the client is the socket peer. Behind a proxy, set it, or every
    /// client shares the proxy's limits.
    trusted_proxies: String = String::new(),
        rule parsed(trusted_proxies, "addresses or networks (CIDR), comma-separated");
    /// Where the rate-limit counters live when several instances must share
    /// them: `redis://[:password@]host:port[/db]`. Unset: in each process's
    /// memory, right for one instance.
    redis_url: Option<String> = None,
        shown "unset: counters in the process's memory",
        rule parsed(redis_url, "a `redis://` URL");
    /// What every rate-limit key in Redis starts with (to share a Redis with
    /// other uses, or keep apart several deployments).
    rate_limit_key_prefix: String = "tozalash:rl:".to_owned();

    group "Booking";

    /// The business's time zone (IANA name), in which `BOOKING_HOURS` are read.
    business_timezone: String = "Asia/Tashkent".to_owned(),
        rule parsed(business_timezone, "an IANA time zone name, e.g. `Asia/Tashkent`");
    /// When visits may start, local time, every day: `HH:MM-HH:MM`, from the
    /// first minute up to (not including) the second; `24:00` is midnight,
    /// and hours may run across midnight (`22:00-06:00`). Else 422
    /// `outside_working_hours`.
    booking_hours: String = "08:00-20:00".to_owned(),
        rule parsed(booking_hours, "`HH:MM-HH:MM`, two different times");
    /// How long before its start a visit may be booked at the latest (placed
    /// or rescheduled), in seconds. Else 422 `too_soon`.
    booking_min_lead: u64 = 7_200, rule at_most(31_536_000, "seconds");
    /// How far ahead a visit may be booked, in seconds (90 days); more than
    /// `BOOKING_MIN_LEAD`. Else 422 `too_far`.
    booking_max_ahead: u64 = 7_776_000, rule between(60, 94_608_000, "seconds");
    /// Up to how many seconds before the visit a customer may cancel; later,
    /// only an administrator may (409 `too_late_to_cancel`).
    cancel_cutoff: u64 = 7_200, rule at_most(31_536_000, "seconds");

    group "Retention";

    /// How many days ended sessions (with their refresh tokens), used or
    /// expired e-mail tokens and SENT or DEAD mail are kept before the purge
    /// deletes them. Expired idempotency keys go at the first purge after
    /// they expire. See docs/data-model.md, "Retention".
    retention_days: u64 = 30, rule between(1, 3_650, "days");
    /// How often each instance purges what is past retention (in batches;
    /// safe with several instances). `tozalash purge` purges once.
    purge_interval_secs: u64 = 3_600, rule between(1, 604_800, "seconds");
}

/// Variables read elsewhere than [`Config`], listed with the others.
fn read_elsewhere() -> Vec<Setting> {
    vec![Setting {
        name: "RUST_LOG".to_owned(),
        group: "Logging",
        doc: &["The log filter, e.g. `tozalash=debug,info`. Read by the logger from the \
                environment or `.env`, not from the TOML file."],
        default: Shown::Value("info".to_owned()),
        accepts: "`tracing` filter directives".to_owned(),
    }]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppEnv {
    Development,
    Production,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: AppEnv,
    pub host: IpAddr,
    /// 0 picks a free port (logged at start).
    pub port: u16,
    pub database_url: String,
    /// `DB_STATEMENT_TIMEOUT_MS`; `None` for `0`.
    pub statement_timeout: Option<Duration>,
    pub jwt_secret: JwtSecret,
    pub access_token_ttl: Duration,
    /// The absolute lifetime of a login session.
    pub refresh_token_ttl: Duration,
    /// How long a rotated refresh token is refused without revoking its session.
    pub refresh_reuse_grace: Duration,
    /// The cookies' `Secure` attribute.
    pub cookie_secure: bool,
    /// `COOKIE_DOMAIN`: the cookies' `Domain` attribute; `None`: host-only.
    pub cookie_domain: Option<String>,
    /// `PUBLIC_URL`, as `url::Url` writes it, without a trailing `/`.
    pub public_url: String,
    /// `ADMIN_EMAIL`, `ADMIN_USERNAME`, `ADMIN_PASSWORD`: an administrator to
    /// make sure of at start.
    pub admin: Option<AdminAccount>,
    pub mail: MailConfig,
    /// `CORS_ORIGINS`: the origins (`scheme://host[:port]`, normalised the way
    /// browsers send them) allowed to call with credentials; empty: none.
    pub cors_origins: Vec<String>,
    /// `BODY_READ_TIMEOUT_MS`: the deadline for a whole request body.
    pub body_read_timeout: Duration,
    pub rate_limits: RateLimitConfig,
    pub retention: RetentionConfig,
    /// `BUSINESS_TIMEZONE`, `BOOKING_HOURS`, `BOOKING_MIN_LEAD`,
    /// `BOOKING_MAX_AHEAD`, `CANCEL_CUTOFF`.
    pub booking: BookingRules,
}

/// What the purge deletes, and how often it runs.
#[derive(Debug, Clone, Copy)]
pub struct RetentionConfig {
    /// `RETENTION_DAYS`: how long ended rows are kept.
    pub keep: Duration,
    /// `PURGE_INTERVAL_SECS`.
    pub purge_interval: Duration,
}

/// The rate limits and where their counters live.
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// `RATE_LIMITS`.
    pub enabled: bool,
    /// `RATE_LIMIT_<NAME>`.
    pub quotas: Quotas,
    pub trusted_proxies: TrustedProxies,
    /// `REDIS_URL`; `None` keeps the counters in memory.
    pub redis_url: Option<SecretString>,
    /// `RATE_LIMIT_KEY_PREFIX`.
    pub key_prefix: String,
}

/// Where and how mail goes.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `SMTP_URL`; `None` writes each mail as an .eml file into `dir` instead.
    pub smtp_url: Option<SecretString>,
    pub from: String,
    pub locale: Locale,
    /// The development mailer's folder (`MAIL_DIR`; default beside the SQLite
    /// file, else `./mail`).
    pub dir: PathBuf,
    pub verification_ttl: Duration,
    pub reset_ttl: Duration,
    pub resend_interval: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub give_up_after: Duration,
    pub poll_interval: Duration,
    /// `OUTBOX_LEASE_MS`: a claimed message's lease, renewed before its send.
    pub lease: Duration,
    /// `OUTBOX_BATCH`: how many messages one round claims.
    pub batch: u32,
}

/// The credentials of the administrator the environment asks for.
#[derive(Debug, Clone)]
pub struct AdminAccount {
    pub email: String,
    pub username: String,
    pub password: SecretString,
    /// `ADMIN_TAKE_OVER`: promote an unverified account with this address too.
    pub take_over: bool,
}

/// Where the access-token key comes from.
#[derive(Debug, Clone)]
pub enum JwtSecret {
    /// `JWT_SECRET`, at least 32 bytes.
    Given(SecretString),
    /// Development without `JWT_SECRET`: a key generated once and kept in this
    /// file beside the SQLite database, so logins survive restarts.
    KeptIn(PathBuf),
    /// Development on a server database (or an in-memory SQLite) without
    /// `JWT_SECRET`: a key generated by the first instance and kept in the
    /// database (`SecretStore`), so every instance on it accepts the others'
    /// tokens, across restarts too.
    KeptInDatabase,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::load(None)
    }

    /// Reads an optional TOML file whose keys are the variable names in lower
    /// case (`database_url = "postgres://…"`; an unknown key is an error), then
    /// the environment, which wins over the file.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            anyhow::ensure!(file.is_file(), "the config file {} does not exist", file.display());
            figment =
                figment.merge(<figment::providers::Toml as figment::providers::Format>::file(file));
        }
        Self::from_figment(figment.merge(Env::raw().only(VARIABLES)))
    }

    /// Reads the given variables only (tests use this; the environment is ignored).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<Self> {
        // Parsed the way the environment provider parses variables ("0" is a number).
        let map: std::collections::BTreeMap<String, figment::value::Value> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.parse().unwrap_or_else(|e| match e {})))
            .collect();
        Self::from_figment(Figment::new().merge(Serialized::defaults(map)))
    }

    fn from_figment(source: Figment) -> anyhow::Result<Self> {
        let raw: Raw = Figment::from(Serialized::defaults(Raw::default()))
            .merge(source)
            .extract()
            .map_err(|e| anyhow!("invalid configuration: {}", describe(&e)))?;
        Self::check(raw)
    }

    /// Each setting's rule, then the rules between settings.
    fn check(raw: Raw) -> anyhow::Result<Self> {
        raw.check_each()?;
        let production = raw.app_env == AppEnv::Production;
        let jwt_secret = match raw.jwt_secret.filter(|s| !s.is_empty()) {
            Some(secret) => JwtSecret::Given(SecretString::from(secret)),
            None if production => bail!("JWT_SECRET is required when APP_ENV=production"),
            None => match sqlite_file(&raw.database_url) {
                Some(db) => {
                    JwtSecret::KeptIn(PathBuf::from(format!("{}.jwt-secret", db.display())))
                }
                None => JwtSecret::KeptInDatabase,
            },
        };
        if production && raw.access_token_ttl < 60 {
            bail!("ACCESS_TOKEN_TTL below 60 seconds is refused when APP_ENV=production");
        }
        let cookie_secure = raw.cookie_secure.unwrap_or(production);
        if production && !cookie_secure {
            bail!("COOKIE_SECURE=false is refused when APP_ENV=production");
        }
        let admin = match (raw.admin_email, raw.admin_username, raw.admin_password) {
            (None, None, None) => None,
            (Some(email), Some(username), Some(password)) => Some(AdminAccount {
                email,
                username,
                password: SecretString::from(password),
                take_over: raw.admin_take_over,
            }),
            _ => bail!("ADMIN_EMAIL, ADMIN_USERNAME and ADMIN_PASSWORD must be set together"),
        };
        let smtp_url = raw.smtp_url.filter(|u| !u.is_empty());
        if production && smtp_url.is_none() {
            bail!("SMTP_URL is required when APP_ENV=production");
        }
        if raw.mail_retry_base_ms == 0 || raw.mail_retry_max_ms < raw.mail_retry_base_ms {
            bail!("MAIL_RETRY_BASE_MS must be positive and at most MAIL_RETRY_MAX_MS");
        }
        let mail_dir = raw.mail_dir.unwrap_or_else(|| match sqlite_file(&raw.database_url) {
            Some(db) => db.parent().map_or_else(|| PathBuf::from("mail"), |p| p.join("mail")),
            None => PathBuf::from("mail"),
        });
        let mail = MailConfig {
            smtp_url: smtp_url.map(SecretString::from),
            locale: mail_locale(&raw.mail_locale)?,
            from: raw.mail_from,
            dir: mail_dir,
            verification_ttl: Duration::from_secs(raw.email_verification_ttl),
            reset_ttl: Duration::from_secs(raw.password_reset_ttl),
            resend_interval: Duration::from_secs(raw.mail_resend_interval),
            retry_base: Duration::from_millis(raw.mail_retry_base_ms),
            retry_max: Duration::from_millis(raw.mail_retry_max_ms),
            give_up_after: Duration::from_secs(raw.mail_give_up_after),
            poll_interval: Duration::from_millis(raw.outbox_poll_ms),
            lease: Duration::from_millis(raw.outbox_lease_ms),
            batch: u32::try_from(raw.outbox_batch).unwrap_or(u32::MAX),
        };
        let mut quotas = Quotas::default();
        for (limit, text) in [
            (Limit::LoginIp, &raw.rate_limit_login_ip),
            (Limit::LoginAccount, &raw.rate_limit_login_account),
            (Limit::LoginEmail, &raw.rate_limit_login_email),
            (Limit::SignupIp, &raw.rate_limit_signup_ip),
            (Limit::MailIp, &raw.rate_limit_mail_ip),
            (Limit::RefreshSession, &raw.rate_limit_refresh_session),
            (Limit::OrdersUser, &raw.rate_limit_orders_user),
            (Limit::AnyIp, &raw.rate_limit_any_ip),
        ] {
            quotas.set(limit, quota(&format!("RATE_LIMIT_{}", limit.name()), text)?);
        }
        let rate_limits = RateLimitConfig {
            enabled: raw.rate_limits,
            quotas,
            trusted_proxies: trusted_proxies(&raw.trusted_proxies)?,
            redis_url: raw.redis_url.filter(|u| !u.is_empty()).map(SecretString::from),
            key_prefix: raw.rate_limit_key_prefix,
        };
        let retention = RetentionConfig {
            keep: Duration::from_secs(raw.retention_days * 86_400),
            purge_interval: Duration::from_secs(raw.purge_interval_secs),
        };
        let seconds = |secs: u64| u32::try_from(secs).unwrap_or(u32::MAX);
        let booking = BookingRules::new(
            &raw.business_timezone,
            &raw.booking_hours,
            seconds(raw.booking_min_lead),
            seconds(raw.booking_max_ahead),
            seconds(raw.cancel_cutoff),
        )
        .map_err(|e| match e {
            BookingConfigError::Window => {
                anyhow!("BOOKING_MAX_AHEAD must be more than BOOKING_MIN_LEAD")
            }
            other => anyhow!("invalid booking settings: {other}"),
        })?;
        Ok(Self {
            booking,
            rate_limits,
            retention,
            app_env: raw.app_env,
            host: raw.host,
            port: raw.port,
            database_url: raw.database_url,
            statement_timeout: (raw.db_statement_timeout_ms > 0)
                .then(|| Duration::from_millis(raw.db_statement_timeout_ms)),
            jwt_secret,
            access_token_ttl: Duration::from_secs(raw.access_token_ttl),
            refresh_token_ttl: Duration::from_secs(raw.refresh_token_ttl),
            refresh_reuse_grace: Duration::from_secs(raw.refresh_reuse_grace),
            cookie_secure,
            cookie_domain: match raw.cookie_domain.as_deref() {
                Some(domain) if !domain.is_empty() => Some(cookie_domain(domain)?),
                _ => None,
            },
            admin,
            mail,
            cors_origins: cors_origins(&raw.cors_origins)?,
            body_read_timeout: Duration::from_millis(raw.body_read_timeout_ms),
            public_url: public_url(&raw.public_url)?,
        })
    }

    /// The key that signs access tokens: `JWT_SECRET`, or in development the
    /// key kept beside the SQLite file or in the database (`secrets`), made
    /// by whichever instance asks first.
    pub async fn jwt_key(&self, secrets: &dyn SecretStore) -> anyhow::Result<Vec<u8>> {
        match &self.jwt_secret {
            JwtSecret::Given(secret) => Ok(secret.expose_secret().as_bytes().to_vec()),
            JwtSecret::KeptInDatabase => {
                let key = secrets
                    .get_or_insert(DEV_JWT_KEY, &random_hex_key())
                    .await
                    .context("keeping the development JWT key in the database")?;
                anyhow::ensure!(
                    key.len() >= MIN_SECRET_BYTES,
                    "the development JWT key stored in the database is shorter than {MIN_SECRET_BYTES} bytes"
                );
                tracing::info!(
                    "JWT_SECRET is not set: using the development key kept in the database"
                );
                Ok(key.into_bytes())
            }
            JwtSecret::KeptIn(path) => {
                let key = keep_key_file(path).with_context(|| {
                    format!("keeping the development JWT key in {}", path.display())
                })?;
                Ok(key.into_bytes())
            }
        }
    }
}

/// Figment's error, naming the variable in its environment spelling.
fn describe(error: &figment::Error) -> String {
    let key = error.path.last().map(|k| k.to_ascii_uppercase());
    match key {
        Some(key) => format!("{key}: {}", error.kind),
        None => error.kind.to_string(),
    }
}

// ---- The rules of single settings ----

/// What one setting accepts beyond its type: checked at start, and said in the
/// reference.
trait Rule<T> {
    /// `Err` with a one-line message naming the variable.
    fn check(&self, name: &str, value: &T) -> anyhow::Result<()>;
    /// What is accepted, in a few words of Markdown.
    fn accepts(&self) -> String;
}

/// A whole number from `min` to `max`, in `unit`.
#[derive(Debug, Clone, Copy)]
struct Between {
    min: u64,
    max: u64,
    unit: &'static str,
}

const fn between(min: u64, max: u64, unit: &'static str) -> Between {
    Between { min, max, unit }
}

const fn at_most(max: u64, unit: &'static str) -> Between {
    Between { min: 0, max, unit }
}

const fn at_least(min: u64, unit: &'static str) -> Between {
    Between { min, max: u64::MAX, unit }
}

impl Rule<u64> for Between {
    fn check(&self, name: &str, value: &u64) -> anyhow::Result<()> {
        if (self.min..=self.max).contains(value) {
            return Ok(());
        }
        match (self.min, self.max) {
            (0, max) => bail!("{name} must be at most {max} {}", self.unit),
            // The message has always said the number alone.
            (min, u64::MAX) => bail!("{name} must be at least {min}"),
            (min, max) => bail!("{name} must be between {min} and {max} {}", self.unit),
        }
    }

    fn accepts(&self) -> String {
        let unit = self.unit;
        match (self.min, self.max) {
            (min, u64::MAX) => format!("at least {min} {unit}"),
            (min, max) => format!("{min} to {max} {unit}"),
        }
    }
}

/// Text of at least this many bytes; empty counts as unset.
#[derive(Debug, Clone, Copy)]
struct MinBytes(usize);

impl Rule<Option<String>> for MinBytes {
    fn check(&self, name: &str, value: &Option<String>) -> anyhow::Result<()> {
        match value {
            Some(text) if !text.is_empty() && text.len() < self.0 => {
                bail!("{name} must be at least {} bytes long", self.0)
            }
            _ => Ok(()),
        }
    }

    fn accepts(&self) -> String {
        format!("at least {} bytes", self.0)
    }
}

/// A value `parse` reads; its error names the variable itself. `Config::check`
/// calls the same function for the value it keeps.
#[derive(Debug, Clone, Copy)]
struct Parsed<T> {
    parse: fn(&str) -> anyhow::Result<T>,
    accepts: &'static str,
}

const fn parsed<T>(parse: fn(&str) -> anyhow::Result<T>, accepts: &'static str) -> Parsed<T> {
    Parsed { parse, accepts }
}

impl<T> Rule<String> for Parsed<T> {
    fn check(&self, _: &str, value: &String) -> anyhow::Result<()> {
        (self.parse)(value).map(drop)
    }

    fn accepts(&self) -> String {
        self.accepts.to_owned()
    }
}

/// Empty counts as unset.
impl<T> Rule<Option<String>> for Parsed<T> {
    fn check(&self, _: &str, value: &Option<String>) -> anyhow::Result<()> {
        match value {
            Some(text) if !text.is_empty() => (self.parse)(text).map(drop),
            _ => Ok(()),
        }
    }

    fn accepts(&self) -> String {
        self.accepts.to_owned()
    }
}

/// `RATE_LIMIT_<NAME>`: `N/SECONDS`.
#[derive(Debug, Clone, Copy)]
struct QuotaRule;

impl Rule<String> for QuotaRule {
    fn check(&self, name: &str, value: &String) -> anyhow::Result<()> {
        quota(name, value).map(drop)
    }

    fn accepts(&self) -> String {
        "`N/SECONDS`: at most N requests in SECONDS (both at least 1)".to_owned()
    }
}

fn quota(name: &str, text: &str) -> anyhow::Result<Quota> {
    Quota::parse(text).ok_or_else(|| {
        anyhow!("{name} must be N/SECONDS, e.g. 30/60 (both whole numbers of at least 1)")
    })
}

/// A limit's default quota, as its variable spells it.
fn default_quota(limit: Limit) -> String {
    let (hits, seconds) = limit.default_quota();
    format!("{hits}/{seconds}")
}

fn business_timezone(name: &str) -> anyhow::Result<()> {
    BookingRules::new(name, "08:00-20:00", 0, 60, 0)
        .map(drop)
        .map_err(|e| anyhow!("BUSINESS_TIMEZONE: {e}"))
}

fn booking_hours(hours: &str) -> anyhow::Result<()> {
    tozalash_domain::WorkingHours::parse(hours).map(drop).map_err(|e| anyhow!("BOOKING_HOURS: {e}"))
}

fn trusted_proxies(list: &str) -> anyhow::Result<TrustedProxies> {
    TrustedProxies::parse(list).map_err(|e| anyhow!("TRUSTED_PROXIES: {e}"))
}

fn redis_url(url: &str) -> anyhow::Result<()> {
    let parsed = Url::parse(url).ok().filter(|u| u.scheme() == "redis" && u.has_host());
    if parsed.is_none() {
        bail!("REDIS_URL must be a URL like redis://127.0.0.1:6379/0");
    }
    Ok(())
}

/// `MAIL_LOCALE`: a locale the mail templates exist in.
#[derive(Debug, Clone, Copy)]
struct MailLocale;

impl Rule<String> for MailLocale {
    fn check(&self, _: &str, value: &String) -> anyhow::Result<()> {
        mail_locale(value).map(drop)
    }

    fn accepts(&self) -> String {
        either(Locale::ALL.iter().map(|locale| format!("`{locale}`")))
    }
}

fn mail_locale(code: &str) -> anyhow::Result<Locale> {
    code.parse().map_err(|_| anyhow!("MAIL_LOCALE must be {}", either(Locale::ALL.iter())))
}

/// "a", "a or b", "a, b or c".
fn either<T: std::fmt::Display>(words: impl IntoIterator<Item = T>) -> String {
    let words: Vec<String> = words.into_iter().map(|w| w.to_string()).collect();
    match words.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

fn database_url(url: &str) -> anyhow::Result<Backend> {
    Backend::of(url).context("DATABASE_URL")
}

fn smtp_url(url: &str) -> anyhow::Result<()> {
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        bail!("SMTP_URL must start with smtp:// or smtps://");
    }
    Ok(())
}

fn mail_from(from: &str) -> anyhow::Result<()> {
    if from.contains(['\r', '\n']) || !from.contains('@') {
        bail!("MAIL_FROM must be an address like 'Tozalash <no-reply@example.uz>'");
    }
    Ok(())
}

/// `PUBLIC_URL`, which links are appended to: as `url::Url` writes it (lower
/// case host, no default port), without the trailing `/`.
fn public_url(value: &str) -> anyhow::Result<String> {
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        bail!("PUBLIC_URL must start with http:// or https://");
    }
    let url = Url::parse(value)
        .map_err(|e| anyhow!("PUBLIC_URL must be a URL like https://tozalash.example.uz: {e}"))?;
    if url.query().is_some() || url.fragment().is_some() {
        bail!("PUBLIC_URL must have no query or fragment: links are appended to it");
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `COOKIE_DOMAIN`: a DNS name, in lower case and without a leading dot.
fn cookie_domain(value: &str) -> anyhow::Result<String> {
    let domain = value.trim().trim_start_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let dns_name = domain.len() <= 253
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    // An address is no domain: a browser refuses `Domain=` with one.
    let address = labels.last().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()));
    if !dns_name || address {
        bail!(
            "COOKIE_DOMAIN must be a domain name such as example.uz (no scheme, port, path or IP \
             address), not {value:?}"
        );
    }
    Ok(domain)
}

/// `CORS_ORIGINS`: comma-separated origins, each `http(s)://host[:port]`.
fn cors_origins(list: &str) -> anyhow::Result<Vec<String>> {
    let mut origins = Vec::new();
    for item in list.split(',').map(str::trim).filter(|item| !item.is_empty()) {
        let origin = origin(item).ok_or_else(|| {
            anyhow!(
                "CORS_ORIGINS: {item:?} is not an origin like https://app.example.uz or \
                 http://localhost:5173 (scheme, host and port only: no path, no '*')"
            )
        })?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// An origin as a browser sends it in `Origin`: lower case, without the
/// scheme's default port; `None` unless it is `http(s)://host[:port]`.
fn origin(item: &str) -> Option<String> {
    // `Url` forgives what an origin must not have: it reads a lone "/" as the
    // empty path, drops tabs and newlines, and takes user names and an empty
    // port; so what follows the scheme is looked at as written first.
    let (_, authority) = item.split_once("://")?;
    if authority.contains(['/', '\\', '?', '#', '@'])
        || authority.contains(|c: char| c.is_whitespace() || c.is_control())
        || authority.ends_with(':')
    {
        return None;
    }
    let url = Url::parse(item).ok()?;
    let host = match url.host()? {
        // `Url` lets through characters no DNS name has, such as `*` and `_`.
        Host::Domain(domain) => domain.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        }),
        Host::Ipv4(_) | Host::Ipv6(_) => true,
    };
    (host && matches!(url.scheme(), "http" | "https") && url.port() != Some(0))
        .then(|| url.origin().ascii_serialization())
}

// ---- The reference generated from the list ----

/// The first line of the generated part of `docs/configuration.md`.
const GENERATED_BEGIN: &str = "<!-- Generated from the settings in src/config.rs: edit them, \
                               not these tables, then run UPDATE_GENERATED=1 cargo test -p \
                               tozalash --lib config -->";
/// Its last line.
const GENERATED_END: &str = "<!-- End of the generated tables. -->";

/// One setting as the reference shows it.
#[derive(Debug)]
struct Setting {
    /// The variable.
    name: String,
    group: &'static str,
    /// The lines of its doc comment.
    doc: &'static [&'static str],
    default: Shown,
    accepts: String,
}

impl Setting {
    fn meaning(&self) -> String {
        self.doc.iter().flat_map(|line| line.split_whitespace()).collect::<Vec<_>>().join(" ")
    }
}

/// A setting's default, as the reference shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shown {
    /// A value, spelt as the variable would be.
    Value(String),
    /// No value, and nothing happens without one.
    Unset,
    /// No value, and what happens then.
    Prose(&'static str),
}

impl Shown {
    /// The default as serde spells it, which is how the variable is read back.
    fn of<T: Serialize>(default: &T) -> Self {
        use figment::value::Value;
        match Value::serialize(default) {
            Ok(Value::String(_, text)) => Self::Value(text),
            Ok(Value::Bool(_, flag)) => Self::Value(flag.to_string()),
            Ok(Value::Num(_, number)) => Self::Value(
                number
                    .to_u128()
                    .map(|n| n.to_string())
                    .or_else(|| number.to_i128().map(|n| n.to_string()))
                    .unwrap_or_else(|| number.to_f64().unwrap_or_default().to_string()),
            ),
            Ok(Value::Empty(..)) => Self::Unset,
            other => panic!("a setting's default must be one plain value, not {other:?}"),
        }
    }
}

/// What the values of a setting's type look like, when no rule says more.
trait Kind {
    const ACCEPTS: &'static str;
}

impl Kind for AppEnv {
    const ACCEPTS: &'static str = "`development` or `production`";
}

impl Kind for IpAddr {
    const ACCEPTS: &'static str = "an IPv4 or IPv6 address";
}

impl Kind for u16 {
    const ACCEPTS: &'static str = "0 to 65535";
}

impl Kind for u64 {
    const ACCEPTS: &'static str = "a whole number";
}

impl Kind for bool {
    const ACCEPTS: &'static str = "`true` or `false`";
}

impl Kind for String {
    const ACCEPTS: &'static str = "text";
}

impl Kind for PathBuf {
    const ACCEPTS: &'static str = "a path";
}

impl<T: Kind> Kind for Option<T> {
    const ACCEPTS: &'static str = T::ACCEPTS;
}

/// Every documented setting, by group, in the order of the list.
fn grouped() -> Vec<(&'static str, Vec<Setting>)> {
    let mut groups: Vec<(&'static str, Vec<Setting>)> = Vec::new();
    for setting in declared().into_iter().chain(read_elsewhere()) {
        match groups.last_mut() {
            Some((group, settings)) if *group == setting.group => settings.push(setting),
            _ => groups.push((setting.group, vec![setting])),
        }
    }
    groups
}

/// The generated part of `docs/configuration.md`: a table of every setting
/// per group, between two marker comments.
pub fn reference_tables() -> String {
    let cell = |text: &str| text.replace('|', "\\|");
    let mut out = format!("{GENERATED_BEGIN}\n");
    for (group, settings) in grouped() {
        out.push_str(&format!(
            "\n### {group}\n\n| Variable | Default | Accepts | Meaning |\n|---|---|---|---|\n"
        ));
        for setting in settings {
            let default = match &setting.default {
                Shown::Value(value) if value.is_empty() => "empty".to_owned(),
                Shown::Value(value) => format!("`{value}`"),
                Shown::Unset => "unset".to_owned(),
                Shown::Prose(text) => (*text).to_owned(),
            };
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                setting.name,
                cell(&default),
                cell(&setting.accepts),
                cell(&setting.meaning())
            ));
        }
    }
    out.push_str(&format!("\n{GENERATED_END}\n"));
    out
}

/// `.env.example`: every setting commented out, with its default and meaning.
pub fn env_example() -> String {
    let mut out = String::new();
    comment(
        &mut out,
        "Tozalash: every configuration variable, commented out, with its default. Copy this \
         file to .env (read from the working directory at start) and uncomment what you \
         change; the process environment wins over .env. More in docs/configuration.md.",
    );
    comment(
        &mut out,
        "Generated from the settings in src/config.rs: edit them, not this file, then run \
         UPDATE_GENERATED=1 cargo test -p tozalash --lib config",
    );
    for (group, settings) in grouped() {
        out.push_str(&format!("\n# ---- {group} ----\n"));
        for setting in settings {
            out.push('\n');
            comment(&mut out, &setting.meaning());
            let default = match &setting.default {
                Shown::Value(_) => String::new(),
                Shown::Unset => " Default: unset.".to_owned(),
                Shown::Prose(text) => format!(" Default: {text}."),
            };
            comment(&mut out, &format!("Accepts: {}.{default}", setting.accepts));
            let value = match &setting.default {
                Shown::Value(value) => env_value(value),
                Shown::Unset | Shown::Prose(_) => String::new(),
            };
            out.push_str(&format!("#{}={value}\n", setting.name));
        }
    }
    out
}

/// `text`, without Markdown's backquotes, as `#` comment lines of at most 100
/// characters.
fn comment(out: &mut String, text: &str) {
    let text = text.replace('`', "");
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.chars().count() + 1 + word.chars().count() > 100 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

/// A value as a `.env` line reads it back (dotenvy's syntax): double-quoted
/// unless it is plain.
fn env_value(value: &str) -> String {
    if value.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:/?=@,+".contains(c)) {
        return value.to_owned();
    }
    let mut quoted = String::from('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '$') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

// ---- Helpers ----

/// The database file of a `sqlite:` URL, unless it is in memory.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:") && !url.contains("mode=memory"))
        .then(|| PathBuf::from(path))
}

fn random_hex_key() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The name of the development access-token key in the `secrets` store.
const DEV_JWT_KEY: &str = "jwt_key";

/// A usable key in the file at `path`; `None` if there is no file, or it
/// holds something too short to be a key.
fn read_key_file(path: &std::path::Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = text.trim();
            Ok((text.len() >= MIN_SECRET_BYTES).then(|| text.to_owned()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// The development key in the file at `path`, made on first use, atomically:
/// a new key is written in full to a private (0600) temporary file in the same
/// folder, then linked to `path`, which fails if `path` exists. So a reader
/// never sees a half-written key, and of several processes starting at once the
/// first link wins and every one of them reads the winner's key back. A file
/// that holds no usable key is replaced (renamed over).
fn keep_key_file(path: &std::path::Path) -> std::io::Result<String> {
    if let Some(key) = read_key_file(path)? {
        return Ok(key);
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => std::path::Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
    write_private_new(&temp, &random_hex_key())?;
    let placed = match std::fs::hard_link(&temp, path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a development JWT key");
            Ok(())
        }
        // Another process was first, or the file holds no key: keep a key,
        // replace anything else.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => match read_key_file(path) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => std::fs::rename(&temp, path),
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    };
    // Gone already if it was renamed into place.
    let _ = std::fs::remove_file(&temp);
    placed?;
    read_key_file(path)?.ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "the key file holds no usable key")
    })
}

/// Writes `contents` to a new file at `path`, readable by its owner only, and
/// flushes it to disk; fails if `path` exists.
fn write_private_new(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_sqlite_on_localhost_8080() {
        let config = Config::from_pairs([]).expect("defaults are valid");
        assert_eq!(config.port, 8080);
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert!(
            matches!(config.jwt_secret, JwtSecret::KeptIn(ref p) if p.ends_with("tozalash.db.jwt-secret"))
        );
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = Config::from_pairs([("PORT", "eighty")]).expect_err("bad port").to_string();
        assert!(err.contains("PORT"), "{err}");
        let err = Config::from_pairs([("JWT_SECRET", "short")]).expect_err("weak").to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
        let err =
            Config::from_pairs([("DATABASE_URL", "mysql://x")]).expect_err("scheme").to_string();
        assert!(err.contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn cookies_are_secure_by_default_only_in_production() {
        assert!(!Config::from_pairs([]).expect("valid").cookie_secure);
        let secret = "0123456789abcdef0123456789abcdef";
        let smtp = "smtp://127.0.0.1:2525";
        let prod = Config::from_pairs([
            ("APP_ENV", "production"),
            ("JWT_SECRET", secret),
            ("SMTP_URL", smtp),
        ])
        .expect("valid");
        assert!(prod.cookie_secure);
        let err = Config::from_pairs([
            ("APP_ENV", "production"),
            ("JWT_SECRET", secret),
            ("SMTP_URL", smtp),
            ("COOKIE_SECURE", "false"),
        ])
        .expect_err("insecure cookies")
        .to_string();
        assert!(err.contains("COOKIE_SECURE"), "{err}");
    }

    #[test]
    fn a_config_file_is_read_and_its_unknown_keys_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("tozalash.toml");
        std::fs::write(&file, "port = 9999\nmail_locale = \"en\"\n").expect("written");
        let config = Config::load(Some(&file)).expect("valid");
        assert_eq!(config.port, 9999);
        std::fs::write(&file, "prot = 9999\n").expect("written");
        let err = Config::load(Some(&file)).expect_err("typo").to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn access_tokens_shorter_than_a_minute_are_for_development_only() {
        let dev = Config::from_pairs([("ACCESS_TOKEN_TTL", "2")]).expect("valid in development");
        assert_eq!(dev.access_token_ttl, Duration::from_secs(2));
        let err = Config::from_pairs([
            ("APP_ENV", "production"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("SMTP_URL", "smtp://127.0.0.1:2525"),
            ("ACCESS_TOKEN_TTL", "59"),
        ])
        .expect_err("too short in production")
        .to_string();
        assert!(err.contains("ACCESS_TOKEN_TTL"), "{err}");
    }

    #[test]
    fn production_refuses_to_start_without_smtp() {
        let secret = "0123456789abcdef0123456789abcdef";
        let err = Config::from_pairs([("APP_ENV", "production"), ("JWT_SECRET", secret)])
            .expect_err("no smtp")
            .to_string();
        assert!(err.contains("SMTP_URL"), "{err}");
    }

    #[test]
    fn the_outbox_lease_and_batch_are_configurable_within_bounds() {
        let defaults = Config::from_pairs([("PORT", "0")]).expect("valid");
        assert_eq!((defaults.mail.lease, defaults.mail.batch), (Duration::from_secs(60), 20));
        let config = Config::from_pairs([("OUTBOX_LEASE_MS", "2000"), ("OUTBOX_BATCH", "5")])
            .expect("valid");
        assert_eq!((config.mail.lease, config.mail.batch), (Duration::from_millis(2000), 5));
        for (key, value) in [("OUTBOX_LEASE_MS", "999"), ("OUTBOX_BATCH", "0")] {
            let err = Config::from_pairs([(key, value)]).expect_err(key).to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn the_dev_mailer_writes_beside_the_sqlite_file() {
        let config =
            Config::from_pairs([("DATABASE_URL", "sqlite://data/t.db?mode=rwc")]).expect("valid");
        assert_eq!(config.mail.dir, PathBuf::from("data/mail"));
        assert!(config.mail.smtp_url.is_none());
        let ru = Config::from_pairs([("MAIL_LOCALE", "ru")]).expect("Russian mail");
        assert_eq!(ru.mail.locale, Locale::Ru);
        let err = Config::from_pairs([("MAIL_LOCALE", "kk")]).expect_err("locale").to_string();
        assert!(err.contains("MAIL_LOCALE"), "{err}");
    }

    #[test]
    fn the_admin_variables_come_together_or_not_at_all() {
        let err = Config::from_pairs([("ADMIN_EMAIL", "a@b.uz")]).expect_err("partial").to_string();
        assert!(err.contains("ADMIN_PASSWORD"), "{err}");
    }

    #[test]
    fn production_refuses_to_start_without_a_secret() {
        let err =
            Config::from_pairs([("APP_ENV", "production")]).expect_err("no secret").to_string();
        assert!(err.contains("JWT_SECRET"), "{err}");
    }

    #[test]
    fn cors_origins_are_checked_and_normalised() {
        let config = Config::from_pairs([(
            "CORS_ORIGINS",
            "https://App.example.uz, http://localhost:5173,https://app.example.uz:443,http://[::1]:3000",
        )])
        .expect("valid");
        assert_eq!(
            config.cors_origins,
            ["https://app.example.uz", "http://localhost:5173", "http://[::1]:3000"]
        );
        assert!(Config::from_pairs([]).expect("valid").cors_origins.is_empty());
        for bad in [
            "*",
            "app.example.uz",
            "https://app.example.uz/",
            "https://app.example.uz/path",
            "ftp://app.example.uz",
            "https://user@app.example.uz",
            "https://app.example.uz:0",
            "https://app.example.uz:+80",
            "https://app.example.uz:99999",
            "https://*.example.uz",
            "https://app.example.uz?x=1",
        ] {
            let err = Config::from_pairs([("CORS_ORIGINS", bad)]).expect_err(bad).to_string();
            assert!(err.starts_with("CORS_ORIGINS: "), "{bad}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn origins_are_written_as_browsers_send_them() {
        let config = Config::from_pairs([(
            "CORS_ORIGINS",
            "https://Тозалаш.uz,http://[0:0::1]:8080,HTTP://LOCALHOST:80,http://127.0.0.1:5173",
        )])
        .expect("valid");
        assert_eq!(
            config.cors_origins,
            [
                "https://xn--80aatrmx1c.uz",
                "http://[::1]:8080",
                "http://localhost",
                "http://127.0.0.1:5173"
            ]
        );
        for bad in ["https://app.example.uz:", "https://app_1.example.uz", "https://app..uz"] {
            Config::from_pairs([("CORS_ORIGINS", bad)]).expect_err(bad);
        }
    }

    #[test]
    fn cookie_domain_is_a_domain_name_or_unset() {
        assert_eq!(Config::from_pairs([]).expect("valid").cookie_domain, None);
        assert_eq!(Config::from_pairs([("COOKIE_DOMAIN", "")]).expect("valid").cookie_domain, None);
        let config = Config::from_pairs([("COOKIE_DOMAIN", ".Example.UZ")]).expect("valid");
        assert_eq!(config.cookie_domain.as_deref(), Some("example.uz"));
        for bad in
            ["https://example.uz", "example.uz:443", "example.uz/", "127.0.0.1", "a..uz", "*.uz"]
        {
            let err = Config::from_pairs([("COOKIE_DOMAIN", bad)]).expect_err(bad).to_string();
            assert!(err.starts_with("COOKIE_DOMAIN "), "{bad}: {err}");
        }
    }

    #[test]
    fn booking_rules_default_to_tashkent_and_bad_ones_stop_the_start() {
        let config = Config::from_pairs([]).expect("valid");
        assert_eq!(config.booking, BookingRules::default());
        let custom = Config::from_pairs([
            ("BUSINESS_TIMEZONE", "Europe/Berlin"),
            ("BOOKING_HOURS", "22:00-06:00"),
            ("BOOKING_MIN_LEAD", "0"),
        ])
        .expect("valid");
        assert_eq!(custom.booking.zone().name(), "Europe/Berlin");
        assert_eq!(custom.booking.hours().to_string(), "22:00-06:00");
        for (name, bad, says) in [
            ("BUSINESS_TIMEZONE", "Tashkent/Asia", "BUSINESS_TIMEZONE"),
            ("BOOKING_HOURS", "8-20", "BOOKING_HOURS"),
            ("BOOKING_HOURS", "20:00-20:00", "BOOKING_HOURS"),
            ("BOOKING_MAX_AHEAD", "3600", "BOOKING_MAX_AHEAD"),
        ] {
            let err = Config::from_pairs([(name, bad), ("BOOKING_MIN_LEAD", "7200")])
                .expect_err(bad)
                .to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn public_url_is_read_as_a_url() {
        let config = Config::from_pairs([("PUBLIC_URL", "https://Tozalash.example.uz:443/app/")])
            .expect("valid");
        assert_eq!(config.public_url, "https://tozalash.example.uz/app");
        assert_eq!(Config::from_pairs([]).expect("valid").public_url, "http://127.0.0.1:8080");
        for bad in [
            "tozalash.example.uz",
            "ftp://tozalash.example.uz",
            "http://",
            "https://exa mple.uz",
            "https://tozalash.example.uz:99999",
            "https://tozalash.example.uz/?a=1",
            "https://tozalash.example.uz/#top",
        ] {
            let err = Config::from_pairs([("PUBLIC_URL", bad)]).expect_err(bad).to_string();
            assert!(err.starts_with("PUBLIC_URL "), "{bad}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    /// `docs/configuration.md`'s tables and `.env.example` are generated from
    /// the settings, as `openapi.json` is from the routes: this fails while
    /// they differ, and rewrites them when `UPDATE_GENERATED=1`.
    #[test]
    fn the_checked_in_reference_is_what_the_settings_generate() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let docs_path = root.join("docs/configuration.md");
        let docs = std::fs::read_to_string(&docs_path).expect("docs/configuration.md is readable");
        let start = docs
            .find(GENERATED_BEGIN)
            .expect("docs/configuration.md has the first line of the generated part");
        let end = start
            + docs[start..]
                .find(GENERATED_END)
                .expect("docs/configuration.md has the last line of the generated part")
            + GENERATED_END.len();
        let rest = docs[end..].strip_prefix('\n').unwrap_or(&docs[end..]);
        let docs_generated = format!("{}{}{rest}", &docs[..start], reference_tables());
        let env_path = root.join(".env.example");
        let env = std::fs::read_to_string(&env_path).unwrap_or_default();

        let update = std::env::var("UPDATE_GENERATED").is_ok_and(|v| v == "1");
        let mut stale = Vec::new();
        for (path, checked_in, generated) in
            [(docs_path, docs, docs_generated), (env_path, env, env_example())]
        {
            if checked_in == generated {
                continue;
            }
            if update {
                std::fs::write(&path, generated).expect("the generated file is written");
                continue;
            }
            let line = checked_in
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "the end".to_owned(), |n| format!("line {}", n + 1));
            let name = path.strip_prefix(root).unwrap_or(&path).display().to_string();
            stale.push(format!("{name} (first difference at {line})"));
        }
        assert!(
            stale.is_empty(),
            "out of date: {}; it is generated from the settings in src/config.rs.\n\
             Regenerate with:  UPDATE_GENERATED=1 cargo test -p tozalash --lib config",
            stale.join(", ")
        );
    }

    /// Every value `.env.example` shows is read back, by dotenvy and the
    /// checks, as the default it stands for.
    #[test]
    fn the_env_example_uncommented_is_the_defaults() {
        let uncommented: String = env_example()
            .lines()
            .filter_map(|line| line.strip_prefix('#'))
            .filter(|line| {
                line.split_once('=').is_some_and(|(name, value)| {
                    !value.is_empty()
                        && name != "RUST_LOG"
                        && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                })
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let pairs: Vec<(String, String)> = dotenvy::from_read_iter(uncommented.as_bytes())
            .collect::<Result<_, _>>()
            .expect("dotenvy reads every line");
        assert!(pairs.iter().any(|(name, _)| name == "MAIL_FROM"), "{uncommented}");
        let read = Config::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("the defaults are valid");
        let defaults = Config::from_pairs([]).expect("the defaults are valid");
        assert_eq!(format!("{read:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn rate_limits_are_on_with_the_documented_defaults_and_each_can_be_set() {
        let config = Config::from_pairs([]).expect("valid");
        assert!(config.rate_limits.enabled);
        assert_eq!(config.rate_limits.quotas, Quotas::default());
        assert!(config.rate_limits.trusted_proxies.is_empty());
        assert!(config.rate_limits.redis_url.is_none());
        let config = Config::from_pairs([
            ("RATE_LIMITS", "false"),
            ("RATE_LIMIT_LOGIN_EMAIL", "3/7"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
            ("REDIS_URL", "redis://127.0.0.1:6390/2"),
        ])
        .expect("valid");
        assert!(!config.rate_limits.enabled);
        assert_eq!(config.rate_limits.quotas.get(Limit::LoginEmail).to_string(), "3/7");
        assert_eq!(config.rate_limits.quotas.get(Limit::LoginIp).to_string(), "30/60");
        assert!(config.rate_limits.trusted_proxies.contains("10.1.1.1".parse().expect("ip")));
        for (name, bad) in [
            ("RATE_LIMIT_ANY_IP", "600"),
            ("RATE_LIMIT_LOGIN_IP", "thirty/60"),
            ("RATE_LIMIT_ORDERS_USER", "0/60"),
            ("RATE_LIMIT_SIGNUP_IP", "10/0"),
            ("TRUSTED_PROXIES", "proxy.internal"),
            ("REDIS_URL", "http://127.0.0.1:6379"),
        ] {
            let err = Config::from_pairs([(name, bad)]).expect_err(bad).to_string();
            assert!(err.contains(name), "{bad}: {err}");
        }
    }

    #[test]
    fn the_development_key_file_is_made_once_privately_and_read_back_by_everyone() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("tozalash.db.jwt-secret");
        let keys: Vec<String> = std::thread::scope(|scope| {
            let starters: Vec<_> =
                (0..8).map(|_| scope.spawn(|| keep_key_file(&path).expect("a key"))).collect();
            starters.into_iter().map(|s| s.join().expect("no panic")).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]), "one winner: {keys:?}");
        assert_eq!(keys[0].len(), 64);
        assert_eq!(std::fs::read_to_string(&path).expect("the file"), keys[0]);
        assert_eq!(keep_key_file(&path).expect("read back"), keys[0], "kept across restarts");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("the folder")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("tozalash.db.jwt-secret")], "no temp files");
    }

    #[test]
    fn a_key_file_without_a_usable_key_is_replaced() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("t.db.jwt-secret");
        std::fs::write(&path, "short").expect("written");
        let key = keep_key_file(&path).expect("a key");
        assert_eq!(key.len(), 64);
        assert_eq!(std::fs::read_to_string(&path).expect("the file"), key);
    }

    #[tokio::test]
    async fn on_a_server_database_the_development_key_is_the_one_in_the_database() {
        let config = Config::from_pairs([("DATABASE_URL", "postgres://db.example/tozalash")])
            .expect("valid");
        assert!(matches!(config.jwt_secret, JwtSecret::KeptInDatabase));
        // Any store of the port will do; a SQLite file is the one at hand.
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}/s.db?mode=rwc", dir.path().display());
        let store = tozalash_store_sql::SqlStore::open(&url).await.expect("opens");
        store.migrate().await.expect("migrates");
        let secrets = store.repositories().secrets;

        let first = config.jwt_key(secrets.as_ref()).await.expect("a key");
        let second = config.jwt_key(secrets.as_ref()).await.expect("a key");
        assert_eq!(first.len(), 64);
        assert_eq!(first, second, "another instance gets the same key");

        let given = "g".repeat(MIN_SECRET_BYTES);
        let config = Config::from_pairs([("JWT_SECRET", given.as_str())]).expect("valid");
        assert_eq!(config.jwt_key(secrets.as_ref()).await.expect("a key"), given.as_bytes());
        store.close().await;
    }

    #[test]
    fn sqlite_file_is_found_in_the_url() {
        assert_eq!(sqlite_file("sqlite://data/t.db?mode=rwc"), Some(PathBuf::from("data/t.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }
}
