//! Configuration (DESIGN §8): environment variables, plus a `.env` file read by
//! `main`. Every value is checked at start; a bad one stops the process with a
//! message naming the variable.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use figment::providers::{Env, Serialized};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The variables this build reads.
const VARIABLES: &[&str] = &[
    "APP_ENV",
    "HOST",
    "PORT",
    "DATABASE_URL",
    "JWT_SECRET",
    "ACCESS_TOKEN_TTL",
    "REFRESH_TOKEN_TTL",
    "REFRESH_REUSE_GRACE",
    "COOKIE_SECURE",
    "PUBLIC_URL",
    "ADMIN_EMAIL",
    "ADMIN_USERNAME",
    "ADMIN_PASSWORD",
    "SMTP_URL",
    "MAIL_FROM",
    "MAIL_LOCALE",
    "MAIL_DIR",
    "EMAIL_VERIFICATION_TTL",
    "PASSWORD_RESET_TTL",
    "MAIL_RESEND_INTERVAL",
    "MAIL_RETRY_BASE_MS",
    "MAIL_RETRY_MAX_MS",
    "MAIL_GIVE_UP_AFTER",
    "OUTBOX_POLL_MS",
    "CORS_ORIGINS",
];

pub const DEFAULT_DATABASE_URL: &str = "sqlite://tozalash.db?mode=rwc";
/// The shortest `JWT_SECRET` accepted: 256 bits for HS256.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppEnv {
    Development,
    Production,
}

/// The raw values, as read; checked by [`Config::from_figment`].
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    app_env: AppEnv,
    host: IpAddr,
    port: u16,
    database_url: String,
    jwt_secret: Option<String>,
    access_token_ttl: u64,
    refresh_token_ttl: u64,
    refresh_reuse_grace: u64,
    cookie_secure: Option<bool>,
    public_url: String,
    admin_email: Option<String>,
    admin_username: Option<String>,
    admin_password: Option<String>,
    smtp_url: Option<String>,
    mail_from: String,
    mail_locale: String,
    mail_dir: Option<PathBuf>,
    email_verification_ttl: u64,
    password_reset_ttl: u64,
    mail_resend_interval: u64,
    mail_retry_base_ms: u64,
    mail_retry_max_ms: u64,
    mail_give_up_after: u64,
    outbox_poll_ms: u64,
    cors_origins: String,
}

impl Default for Raw {
    fn default() -> Self {
        Self {
            app_env: AppEnv::Development,
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            jwt_secret: None,
            access_token_ttl: 900,
            refresh_token_ttl: 2_592_000,
            refresh_reuse_grace: 30,
            cookie_secure: None,
            public_url: "http://127.0.0.1:8080".to_owned(),
            admin_email: None,
            admin_username: None,
            admin_password: None,
            smtp_url: None,
            mail_from: "Tozalash <no-reply@localhost>".to_owned(),
            mail_locale: "uz".to_owned(),
            mail_dir: None,
            email_verification_ttl: 86_400,
            password_reset_ttl: 1_800,
            mail_resend_interval: 60,
            mail_retry_base_ms: 5_000,
            mail_retry_max_ms: 600_000,
            mail_give_up_after: 86_400,
            outbox_poll_ms: 1_000,
            cors_origins: String::new(),
        }
    }
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: AppEnv,
    pub host: IpAddr,
    /// 0 picks a free port (logged at start).
    pub port: u16,
    pub database_url: String,
    pub jwt_secret: JwtSecret,
    pub access_token_ttl: Duration,
    /// The absolute lifetime of a login session.
    pub refresh_token_ttl: Duration,
    /// How long a rotated refresh token is refused without revoking its session.
    pub refresh_reuse_grace: Duration,
    /// The cookies' `Secure` attribute.
    pub cookie_secure: bool,
    pub public_url: String,
    /// `ADMIN_EMAIL`, `ADMIN_USERNAME`, `ADMIN_PASSWORD`: an administrator to
    /// make sure of at start.
    pub admin: Option<AdminAccount>,
    pub mail: MailConfig,
    /// `CORS_ORIGINS`: the origins (`scheme://host[:port]`, normalised the way
    /// browsers send them) allowed to call with credentials; empty: none.
    pub cors_origins: Vec<String>,
}

/// Where and how mail goes.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `SMTP_URL`; `None` writes each mail as an .eml file into `dir` instead.
    pub smtp_url: Option<SecretString>,
    pub from: String,
    pub locale: tozalash_mailer::Locale,
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
}

/// The credentials of the administrator the environment asks for.
#[derive(Debug, Clone)]
pub struct AdminAccount {
    pub email: String,
    pub username: String,
    pub password: SecretString,
}

/// Where the access-token key comes from.
#[derive(Debug, Clone)]
pub enum JwtSecret {
    /// `JWT_SECRET`, at least 32 bytes.
    Given(SecretString),
    /// Development without `JWT_SECRET`: a key generated once and kept in this
    /// file beside the SQLite database, so logins survive restarts.
    KeptIn(PathBuf),
    /// Development on a server database without `JWT_SECRET`: a key for this
    /// process only (tokens die with it).
    Ephemeral,
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
            .map_err(|e| anyhow::anyhow!("invalid configuration: {}", describe(&e)))?;
        Self::check(raw)
    }

    fn check(raw: Raw) -> anyhow::Result<Self> {
        let production = raw.app_env == AppEnv::Production;
        let jwt_secret = match raw.jwt_secret.filter(|s| !s.is_empty()) {
            Some(secret) if secret.len() < MIN_SECRET_BYTES => {
                bail!("JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long")
            }
            Some(secret) => JwtSecret::Given(SecretString::from(secret)),
            None if production => bail!("JWT_SECRET is required when APP_ENV=production"),
            None => match sqlite_file(&raw.database_url) {
                Some(db) => {
                    JwtSecret::KeptIn(PathBuf::from(format!("{}.jwt-secret", db.display())))
                }
                None => JwtSecret::Ephemeral,
            },
        };
        if !(60..=86_400).contains(&raw.access_token_ttl) {
            bail!("ACCESS_TOKEN_TTL must be between 60 and 86400 seconds");
        }
        if !(3600..=31_536_000).contains(&raw.refresh_token_ttl) {
            bail!("REFRESH_TOKEN_TTL must be between 3600 and 31536000 seconds");
        }
        if raw.refresh_reuse_grace > 300 {
            bail!("REFRESH_REUSE_GRACE must be at most 300 seconds");
        }
        let cookie_secure = raw.cookie_secure.unwrap_or(production);
        if production && !cookie_secure {
            bail!("COOKIE_SECURE=false is refused when APP_ENV=production");
        }
        let admin = match (raw.admin_email, raw.admin_username, raw.admin_password) {
            (None, None, None) => None,
            (Some(email), Some(username), Some(password)) => {
                Some(AdminAccount { email, username, password: SecretString::from(password) })
            }
            _ => bail!("ADMIN_EMAIL, ADMIN_USERNAME and ADMIN_PASSWORD must be set together"),
        };
        let smtp_url = raw.smtp_url.filter(|u| !u.is_empty());
        if production && smtp_url.is_none() {
            bail!("SMTP_URL is required when APP_ENV=production");
        }
        if let Some(url) = &smtp_url {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                bail!("SMTP_URL must start with smtp:// or smtps://");
            }
        }
        let locale =
            raw.mail_locale.parse().map_err(|_| anyhow::anyhow!("MAIL_LOCALE must be uz or en"))?;
        if raw.mail_from.contains(['\r', '\n']) || !raw.mail_from.contains('@') {
            bail!("MAIL_FROM must be an address like 'Tozalash <no-reply@example.uz>'");
        }
        if raw.mail_retry_base_ms == 0 || raw.mail_retry_max_ms < raw.mail_retry_base_ms {
            bail!("MAIL_RETRY_BASE_MS must be positive and at most MAIL_RETRY_MAX_MS");
        }
        if raw.outbox_poll_ms < 10 {
            bail!("OUTBOX_POLL_MS must be at least 10");
        }
        let mail_dir = raw.mail_dir.unwrap_or_else(|| match sqlite_file(&raw.database_url) {
            Some(db) => db.parent().map_or_else(|| PathBuf::from("mail"), |p| p.join("mail")),
            None => PathBuf::from("mail"),
        });
        let mail = MailConfig {
            smtp_url: smtp_url.map(SecretString::from),
            from: raw.mail_from,
            locale,
            dir: mail_dir,
            verification_ttl: Duration::from_secs(raw.email_verification_ttl),
            reset_ttl: Duration::from_secs(raw.password_reset_ttl),
            resend_interval: Duration::from_secs(raw.mail_resend_interval),
            retry_base: Duration::from_millis(raw.mail_retry_base_ms),
            retry_max: Duration::from_millis(raw.mail_retry_max_ms),
            give_up_after: Duration::from_secs(raw.mail_give_up_after),
            poll_interval: Duration::from_millis(raw.outbox_poll_ms),
        };
        if !(raw.public_url.starts_with("http://") || raw.public_url.starts_with("https://")) {
            bail!("PUBLIC_URL must start with http:// or https://");
        }
        crate::storage::Backend::of(&raw.database_url).context("DATABASE_URL")?;
        Ok(Self {
            app_env: raw.app_env,
            host: raw.host,
            port: raw.port,
            database_url: raw.database_url,
            jwt_secret,
            access_token_ttl: Duration::from_secs(raw.access_token_ttl),
            refresh_token_ttl: Duration::from_secs(raw.refresh_token_ttl),
            refresh_reuse_grace: Duration::from_secs(raw.refresh_reuse_grace),
            cookie_secure,
            admin,
            mail,
            cors_origins: cors_origins(&raw.cors_origins)?,
            public_url: raw.public_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The key that signs access tokens, creating the development key file
    /// on first use.
    pub fn jwt_key(&self) -> anyhow::Result<Vec<u8>> {
        match &self.jwt_secret {
            JwtSecret::Given(secret) => Ok(secret.expose_secret().as_bytes().to_vec()),
            JwtSecret::Ephemeral => {
                tracing::warn!("JWT_SECRET is not set: access tokens will not survive a restart");
                Ok(random_hex_key().into_bytes())
            }
            JwtSecret::KeptIn(path) => {
                if let Ok(existing) = std::fs::read_to_string(path) {
                    let existing = existing.trim();
                    if existing.len() >= MIN_SECRET_BYTES {
                        return Ok(existing.as_bytes().to_vec());
                    }
                }
                let key = random_hex_key();
                write_private(path, &key).with_context(|| {
                    format!("writing the development JWT key to {}", path.display())
                })?;
                tracing::info!(path = %path.display(), "generated a development JWT key");
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

/// `CORS_ORIGINS`: comma-separated origins, each `http(s)://host[:port]`.
fn cors_origins(list: &str) -> anyhow::Result<Vec<String>> {
    let mut origins = Vec::new();
    for item in list.split(',').map(str::trim).filter(|item| !item.is_empty()) {
        let origin = origin(item).ok_or_else(|| {
            anyhow::anyhow!(
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
    let lower = item.to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://")?;
    let default_port = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (host, after) = match rest.strip_prefix('[') {
        Some(v6) => {
            let (address, after) = v6.split_once(']')?;
            let valid =
                !address.is_empty() && address.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
            (valid.then(|| &rest[..address.len() + 2])?, after)
        }
        None => {
            let (host, after) = rest.split_at(rest.find(':').unwrap_or(rest.len()));
            let label = |l: &str| {
                (1..=63).contains(&l.len())
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            };
            (host.split('.').all(label).then_some(host)?, after)
        }
    };
    let port = match after {
        "" => default_port,
        after => {
            let digits = after.strip_prefix(':')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse::<u16>().ok().filter(|p| *p != 0)?
        }
    };
    Some(if port == default_port {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}:{port}")
    })
}

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

fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
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
    fn production_refuses_to_start_without_smtp() {
        let secret = "0123456789abcdef0123456789abcdef";
        let err = Config::from_pairs([("APP_ENV", "production"), ("JWT_SECRET", secret)])
            .expect_err("no smtp")
            .to_string();
        assert!(err.contains("SMTP_URL"), "{err}");
    }

    #[test]
    fn the_dev_mailer_writes_beside_the_sqlite_file() {
        let config =
            Config::from_pairs([("DATABASE_URL", "sqlite://data/t.db?mode=rwc")]).expect("valid");
        assert_eq!(config.mail.dir, PathBuf::from("data/mail"));
        assert!(config.mail.smtp_url.is_none());
        let err = Config::from_pairs([("MAIL_LOCALE", "ru")]).expect_err("locale").to_string();
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
    fn sqlite_file_is_found_in_the_url() {
        assert_eq!(sqlite_file("sqlite://data/t.db?mode=rwc"), Some(PathBuf::from("data/t.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }
}
