//! The `tozalash` binary: `serve` (the default), `migrate`, `create-admin`,
//! `seed`, `purge`, `openapi`, `mail latest`, `healthcheck`. Exit codes: 0 success, 1 failure at run time, 2 bad usage or
//! configuration (with a one-line reason on standard error).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tozalash::config::AppEnv;
use tozalash::{Application, Config};
use tozalash_app::users::Bootstrap;
use tracing_subscriber::EnvFilter;

/// Tozalash: the backend of a cleaning-service business.
///
/// Configuration comes from environment variables, a `.env` file in the
/// working directory, and optionally a TOML file (`--config`); the
/// environment wins. Every variable is in docs/configuration.md.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML configuration file; keys are the variable names in lower case.
    #[arg(long, global = true, env = "TOZALASH_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SeedProfile {
    /// A demo catalogue and a demo customer.
    Demo,
    /// The benchmark's data: 1,000 customers, 50 services, 100,000 orders.
    Bench,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API (the default).
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Create a verified administrator, or promote and re-password the
    /// verified account with this e-mail (its sessions are revoked). The password is read from the terminal (or one line of
    /// standard input), never from the command line.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        /// Also promote an account whose address was never verified (someone
        /// may have signed up with it): its password is replaced and its
        /// sessions revoked.
        #[arg(long)]
        take_over: bool,
    },
    /// Add a demo catalogue of cleaning services and a demo customer
    /// (idempotent), or with `--profile bench` fill an empty database with
    /// the load harness's data in bulk (docs/benchmarks.md). Refused when
    /// APP_ENV=production: both make accounts with known passwords.
    Seed {
        #[arg(long, value_enum, default_value_t = SeedProfile::Demo)]
        profile: SeedProfile,
        /// bench: verified customers, bench@example.com included.
        #[arg(long, default_value_t = 1_000, env = "SEED_USERS")]
        users: u32,
        /// bench: services in the catalogue.
        #[arg(long, default_value_t = 50, env = "SEED_SERVICES")]
        services: u32,
        /// bench: orders in all.
        #[arg(long, default_value_t = 100_000, env = "SEED_ORDERS")]
        orders: u32,
        /// bench: how many of the orders bench@example.com owns.
        #[arg(long, default_value_t = 200, env = "SEED_BENCH_ORDERS")]
        bench_orders: u32,
    },
    /// Delete, once, what is past retention (ended sessions and their refresh
    /// tokens, spent e-mail tokens, sent or dead mail after RETENTION_DAYS;
    /// expired idempotency keys) and print how many rows of each kind went.
    /// The server does the same every PURGE_INTERVAL_SECS; running both at
    /// once is safe.
    Purge,
    /// Print the OpenAPI 3.1 document of the HTTP API (JSON) and exit; needs no
    /// database or configuration.
    Openapi,
    /// The development mailer's mail (SMTP_URL unset: .eml files in MAIL_DIR).
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// Ask the server on this machine (HOST, PORT) whether it is ready
    /// (`GET /health/ready`; `--live`: `/health/live`): exit 0 if it answers
    /// 200 within 5 s, else 1. For container healthchecks; needs no curl.
    Healthcheck {
        /// Only check that the process answers, not its database.
        #[arg(long)]
        live: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MailCommand {
    /// Print the newest mail (sender, recipient, subject, then its text with
    /// its links decoded, ready to copy).
    Latest,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::Openapi)) {
        return print_openapi();
    }
    // A missing .env is fine; a broken one is not silently half-read.
    if let Err(error) = dotenvy::dotenv() {
        if !error.not_found() {
            eprintln!("error: reading .env: {error}");
            return ExitCode::from(2);
        }
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Some(Command::Mail { command: MailCommand::Latest }) => return print_latest_mail(&config),
        Some(Command::Healthcheck { live }) => return healthcheck(&config, live),
        _ => {}
    }
    init_logging(config.app_env);
    if matches!(cli.command, Some(Command::Seed { .. })) && config.app_env == AppEnv::Production {
        eprintln!(
            "error: seed adds accounts with known passwords; it is refused when APP_ENV=production"
        );
        return ExitCode::from(2);
    }

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                Application::build(&config).await?.run_until_stopped().await.map_err(Into::into)
            }
            Command::Migrate => {
                tozalash::storage::open(&config.database_url, config.statement_timeout).await.map(
                    |_| {
                        tracing::info!("the database schema is up to date");
                    },
                )
            }
            Command::CreateAdmin { email, username, take_over } => {
                let password = read_password()?;
                let repos =
                    tozalash::storage::open(&config.database_url, config.statement_timeout).await?;
                let services = tozalash::startup::Services::new(
                    &repos,
                    &config,
                    &tozalash_http::Metrics::new(None),
                    // The operator's own commands are not rate-limited.
                    tozalash_app::RateLimits::off(),
                )?;
                let policy = Bootstrap { take_over, reset_password: true };
                services.ensure_admin(&username, &email, &password, policy).await?;
                eprintln!("administrator {email} is ready");
                Ok(())
            }
            Command::Purge => {
                let repos =
                    tozalash::storage::open(&config.database_url, config.statement_timeout).await?;
                let report = tozalash::startup::retention(&repos, &config)?.purge().await?;
                let line = format!(
                    "purged sessions={} email_tokens={} outbox={} idempotency_keys={}\n",
                    report.sessions, report.email_tokens, report.outbox, report.idempotency_keys
                );
                std::io::Write::write_all(&mut std::io::stdout().lock(), line.as_bytes())?;
                Ok(())
            }
            Command::Openapi | Command::Mail { .. } | Command::Healthcheck { .. } => {
                unreachable!("handled before the runtime starts")
            }
            Command::Seed { profile: SeedProfile::Bench, users, services, orders, bench_orders } => {
                let repos =
                    tozalash::storage::open(&config.database_url, config.statement_timeout).await?;
                let hasher = tozalash_security::Argon2Hasher::new()
                    .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
                let size = tozalash::seed::BenchSize { users, services, orders, bench_orders };
                tozalash::seed::seed_bench(&repos, &hasher, size).await?;
                eprintln!(
                    "seeded {users} customers, {services} services and {orders} orders; bench user: {} / {}",
                    tozalash::seed::BENCH_EMAIL,
                    tozalash::seed::BENCH_PASSWORD,
                );
                Ok(())
            }
            Command::Seed { profile: SeedProfile::Demo, .. } => {
                let repos =
                    tozalash::storage::open(&config.database_url, config.statement_timeout).await?;
                let services = tozalash::startup::Services::new(
                    &repos,
                    &config,
                    &tozalash_http::Metrics::new(None),
                    // The operator's own commands are not rate-limited.
                    tozalash_app::RateLimits::off(),
                )?;
                let seeded = tozalash::seed::seed(&repos, &services).await?;
                eprintln!(
                    "seeded {} service(s){}; demo customer: {} / {}",
                    seeded.services,
                    if seeded.customer { " and the demo customer" } else { "" },
                    tozalash::seed::DEMO_CUSTOMER_EMAIL,
                    tozalash::seed::DEMO_CUSTOMER_PASSWORD,
                );
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "stopped");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `tozalash openapi`: the document as pretty JSON on standard output.
fn print_openapi() -> ExitCode {
    use std::io::Write;
    let json = tozalash_http::openapi::openapi_pretty_json();
    match std::io::stdout().lock().write_all(json.as_bytes()) {
        // A reader that stopped early (`| head`) is not a failure of ours.
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: writing the document: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `tozalash mail latest`: the newest development mail on standard output
/// (never in a log: its links are secrets).
fn print_latest_mail(config: &Config) -> ExitCode {
    use std::io::Write;
    let text = tozalash::devtools::latest_mail_file(&config.mail.dir)
        .and_then(|path| tozalash::devtools::render_mail(&path));
    match text {
        Ok(text) => match std::io::stdout().lock().write_all(text.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: writing the mail: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `tozalash healthcheck`: 0 when the local server answers its probe with 200.
fn healthcheck(config: &Config, live: bool) -> ExitCode {
    let path = if live { "/health/live" } else { "/health/ready" };
    let timeout = std::time::Duration::from_secs(5);
    match tozalash::devtools::probe(config.host, config.port, path, timeout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("unhealthy: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The new administrator's password: prompted for (twice) on a terminal, else
/// the first line of standard input (for scripts).
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Password again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ");
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

/// Readable logs in development, JSON lines in production; `RUST_LOG` filters.
fn init_logging(env: AppEnv) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match env {
        AppEnv::Production => builder.json().init(),
        AppEnv::Development => builder.init(),
    }
}
