//! The `tozalash` binary's subcommands, run as a script would run them.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::helpers::{assert_problem, free_port, session_from, spawn_app_with, JWT_SECRET};

fn tozalash(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tozalash"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// [`tozalash`] while an app spawned in this test serves: the app runs on this test's runtime,
/// so waiting for the child on it would freeze the app mid-transaction, holding SQLite's write
/// lock until the child gives up with "database is locked".
async fn tozalash_beside_the_app(args: &[&str], env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> =
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        tozalash(&args, &env, "")
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn create_admin_reads_the_password_from_stdin_and_the_admin_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/cli.db?mode=rwc", dir.path().display());
    let env = [("DATABASE_URL", db.as_str()), ("JWT_SECRET", JWT_SECRET)];

    let output = tozalash(
        &["create-admin", "--email", "boss@tozalash.uz", "--username", "boss"],
        &env,
        "Katta-boshliq-2026\n",
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let again = tozalash(
        &["create-admin", "--email", "boss@tozalash.uz", "--username", "boss"],
        &env,
        "Katta-boshliq-2026\n",
    );
    assert!(again.status.success(), "idempotent: {}", String::from_utf8_lossy(&again.stderr));

    let app = spawn_app_with(&[("DATABASE_URL", &db)]).await;
    let boss = app.login("boss@tozalash.uz", "Katta-boshliq-2026").await;
    let users =
        app.get("/api/v1/users?role=ADMIN&q=boss").bearer_auth(&boss.access).send().await.unwrap();
    assert_eq!(users.status(), 200, "the new admin is an admin");
}

#[test]
fn create_admin_refuses_a_weak_password_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/cli.db?mode=rwc", dir.path().display());
    let output = tozalash(
        &["create-admin", "--email", "boss@tozalash.uz", "--username", "boss"],
        &[("DATABASE_URL", db.as_str()), ("JWT_SECRET", JWT_SECRET)],
        "password123\n",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("password"), "{stderr}");
}

#[test]
fn bad_configuration_exits_2_naming_the_variable() {
    let output = tozalash(&["migrate"], &[("PORT", "eighty")], "");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PORT"), "{stderr}");
}

#[tokio::test]
async fn seed_twice_adds_the_demo_data_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/seed.db?mode=rwc", dir.path().display());
    let mail_dir = dir.path().join("mail");
    let env = [
        ("DATABASE_URL", db.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("MAIL_DIR", mail_dir.to_str().unwrap()),
    ];

    let first = tozalash(&["seed"], &env, "");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let second = tozalash(&["seed"], &env, "");
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("seeded 0 service(s);"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    let app = spawn_app_with(&[("DATABASE_URL", &db)]).await;
    let page: serde_json::Value =
        app.get("/api/v1/services?limit=100").send().await.unwrap().json().await.unwrap();
    assert_eq!(page["meta"]["total"], tozalash::seed::DEMO_CATALOGUE.len());
    let customer = app
        .login(tozalash::seed::DEMO_CUSTOMER_EMAIL, tozalash::seed::DEMO_CUSTOMER_PASSWORD)
        .await;
    let service = page["data"][0]["id"].as_str().unwrap();
    app.order(&customer.access, service).await;
}

#[tokio::test]
async fn seed_profile_bench_fills_an_empty_database_in_the_harness_shape_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
    let env = [("DATABASE_URL", db.as_str()), ("JWT_SECRET", JWT_SECRET)];
    let args = ["seed", "--profile", "bench", "--users", "7", "--services", "3", "--orders", "40"];
    let args: Vec<&str> = args.into_iter().chain(["--bench-orders", "12"]).collect();

    let seeded = tozalash(&args, &env, "");
    assert!(seeded.status.success(), "{}", String::from_utf8_lossy(&seeded.stderr));
    // Bulk data on a database that has some is refused: it is for empty ones.
    let again = tozalash(&args, &env, "");
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("empty database"));

    let app = spawn_app_with(&[("DATABASE_URL", &db)]).await;
    let catalogue: serde_json::Value =
        app.get("/api/v1/services").send().await.unwrap().json().await.unwrap();
    assert_eq!(catalogue["meta"]["total"], 3);
    let bench = app.login(tozalash::seed::BENCH_EMAIL, tozalash::seed::BENCH_PASSWORD).await;
    let mine = app.get_json(&bench.access, "/api/v1/orders").await;
    assert_eq!(mine["meta"]["total"], 12, "the bench user's orders");
    let other = app.login("user0006@example.com", tozalash::seed::BENCH_USERS_PASSWORD).await;
    let theirs = app.get_json(&other.access, "/api/v1/orders").await;
    assert!(theirs["meta"]["total"].as_u64().unwrap() > 0, "{theirs}");
    let service = catalogue["data"][0]["id"].as_str().unwrap();
    app.order(&bench.access, service).await;
}

#[test]
fn seed_is_refused_in_production() {
    let output = tozalash(
        &["seed"],
        &[
            ("APP_ENV", "production"),
            ("JWT_SECRET", JWT_SECRET),
            ("SMTP_URL", "smtp://127.0.0.1:25"),
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("production"));
}

#[tokio::test]
async fn migrate_on_an_up_to_date_database_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/m.db?mode=rwc", dir.path().display());
    let env = [("DATABASE_URL", db.as_str()), ("JWT_SECRET", JWT_SECRET)];
    let applied = || async {
        let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT version, CAST(installed_on AS TEXT) FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        rows
    };

    assert!(tozalash(&["migrate"], &env, "").status.success());
    let before = applied().await;
    let again = tozalash(&["migrate"], &env, "");

    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(!before.is_empty());
    assert_eq!(applied().await, before, "no migration ran again");
}

#[test]
fn help_explains_every_subcommand() {
    let output = tozalash(&["--help"], &[], "");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in
        ["serve", "migrate", "create-admin", "seed", "purge", "openapi", "mail", "healthcheck"]
    {
        assert!(help.contains(command), "{command} in {help}");
    }
}

#[tokio::test]
async fn purge_deletes_what_is_past_retention_and_a_replayed_token_is_then_a_plain_401() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/purge.db?mode=rwc", dir.path().display());
    let mail_dir = dir.path().join("mail");
    let env = [
        ("DATABASE_URL", db.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("MAIL_DIR", mail_dir.to_str().unwrap()),
        ("RETENTION_DAYS", "30"),
    ];
    let app = spawn_app_with(&[("DATABASE_URL", &db)]).await;
    let (_, ended) = app.customer("zarina").await;
    let live = app.login("zarina@example.uz", "Gilam-yuvish-2026").await;
    let rotated = app.refresh(&ended).await;
    assert_eq!(rotated.status(), 200, "a refresh adds a token row");
    let current = session_from(&rotated);

    let nothing_yet = tozalash_beside_the_app(&["purge"], &env).await;
    assert!(nothing_yet.status.success(), "{}", String::from_utf8_lossy(&nothing_yet.stderr));
    assert_eq!(
        String::from_utf8_lossy(&nothing_yet.stdout).trim(),
        "purged sessions=0 email_tokens=0 outbox=0 idempotency_keys=0",
        "nothing has ended 30 days ago"
    );

    // 31 days pass for the first session: it was revoked (logged out) then.
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    let long_ago = chrono::Utc::now().timestamp_millis() - 31 * 86_400_000;
    let revoked = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE id = \
         (SELECT session_id FROM refresh_tokens ORDER BY created_at LIMIT 1)",
    )
    .bind(long_ago)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(revoked.rows_affected(), 1);
    pool.close().await;

    let purged = tozalash_beside_the_app(&["purge"], &env).await;
    assert!(purged.status.success(), "{}", String::from_utf8_lossy(&purged.stderr));
    assert_eq!(
        String::from_utf8_lossy(&purged.stdout).trim(),
        "purged sessions=1 email_tokens=0 outbox=0 idempotency_keys=0"
    );

    // The purged session's tokens, replayed: unknown, never a server error.
    assert_problem(app.refresh(&ended).await, 401, "invalid_refresh_token").await;
    assert_problem(app.refresh(&current).await, 401, "invalid_refresh_token").await;
    assert_eq!(app.refresh(&live).await.status(), 200, "the live session stays");
    let again = tozalash_beside_the_app(&["purge"], &env).await;
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "purged sessions=0 email_tokens=0 outbox=0 idempotency_keys=0",
        "idempotent"
    );
}

/// A free loopback port (bound, then released for the child to take).
/// `tozalash` with `args` in `dir`, with only `env` (no JWT_SECRET, no
/// DATABASE_URL: the development defaults unless given).
fn tozalash_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tozalash"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The server, started in `dir` with the default configuration on `port`;
/// its log goes to `log`.
fn serve_in(dir: &std::path::Path, port: u16, log: &std::path::Path) -> std::process::Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_tozalash"))
        .current_dir(dir)
        .env_clear()
        .env("PORT", port.to_string())
        .env("RUST_LOG", "debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

async fn wait_until_ready(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(response) = client.get(format!("{base}/health/ready")).send().await {
            if response.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the server at {base} never became ready");
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let output = Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// A newcomer's first hour in a fresh clone: the server with the default
/// configuration (SQLite in the working directory, the development key and
/// mailer), a signup, `tozalash mail latest` to get the link, and
/// `tozalash healthcheck`. The link works, it is in no log line, and
/// `git status` shows nothing the run wrote (the database and its WAL files,
/// the key, the mail).
#[tokio::test]
async fn a_development_run_in_a_fresh_clone_leaves_git_status_clean() {
    let scratch = tempfile::tempdir().unwrap();
    let clone = scratch.path().join("tozalash");
    let source = env!("CARGO_MANIFEST_DIR");
    git(scratch.path(), &["clone", "--quiet", source, clone.to_str().unwrap()]);
    // The ignore files of the working tree under test, committed or not.
    for file in [".gitignore", ".dockerignore"] {
        std::fs::copy(std::path::Path::new(source).join(file), clone.join(file)).unwrap();
    }
    let before = git(&clone, &["status", "--porcelain", "--untracked-files=all"]);

    let port = free_port();
    let log = scratch.path().join("server.log");
    let mut server = serve_in(&clone, port, &log);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_ready(&base).await;
    let env = [("PORT", port.to_string())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let healthy = tozalash_in(&clone, &["healthcheck"], &env);
    assert_eq!(healthy.status.code(), Some(0), "{}", String::from_utf8_lossy(&healthy.stderr));
    let live = tozalash_in(&clone, &["healthcheck", "--live"], &env);
    assert_eq!(live.status.code(), Some(0), "{}", String::from_utf8_lossy(&live.stderr));

    let client = reqwest::Client::new();
    let signup = client
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&serde_json::json!({
            "username": "nodira", "email": "nodira@example.uz", "password": "Gilam-yuvish-2026"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);

    // The outbox delivers in the background: wait for the .eml file.
    let mut latest = tozalash_in(&clone, &["mail", "latest"], &[]);
    for _ in 0..300 {
        // A file still being written may parse without its whole text yet.
        if latest.status.success() && String::from_utf8_lossy(&latest.stdout).contains("token=") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        latest = tozalash_in(&clone, &["mail", "latest"], &[]);
    }
    let text = String::from_utf8(latest.stdout.clone()).unwrap();
    assert!(latest.status.success(), "{}", String::from_utf8_lossy(&latest.stderr));
    assert!(text.contains("To:      nodira@example.uz"), "{text}");
    assert!(!text.contains('\r'), "plain lines, ready to copy: {text:?}");
    let start = text.find("http").expect("a link in the mail");
    let link = text[start..].split_whitespace().next().unwrap();
    assert!(link.contains("/#/verify-email?token="), "the web app's landing: {text}");
    assert!(!link.contains("=3D"), "quoted-printable is decoded: {link}");
    let eml = std::fs::read_dir(clone.join("mail")).unwrap().next().unwrap().unwrap().path();
    let raw = std::fs::read_to_string(eml).unwrap();
    assert!(!raw.contains(link), "the file itself is encoded; the command decodes it");

    let token = link.split("token=").nth(1).unwrap();
    let verified = client
        .post(format!("{base}/api/v1/auth/verify-email"))
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert!(verified.status().is_success(), "the decoded link is whole: {}", verified.status());

    server.kill().unwrap();
    server.wait().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("development mailer wrote a message"), "{logged}");
    assert!(!logged.contains(token), "the link is never logged");

    // The run wrote its files; none of them shows.
    for written in ["tozalash.db", "tozalash.db.jwt-secret", "mail"] {
        assert!(clone.join(written).exists(), "{written} was written");
    }
    let after = git(&clone, &["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(after, before, "the development run left files git would show");
}

#[test]
fn healthcheck_fails_when_nothing_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let output = tozalash_in(dir.path(), &["healthcheck"], &[("PORT", port.as_str())]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unhealthy"), "{stderr}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "it writes nothing");
}

#[test]
fn mail_latest_without_mail_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let output = tozalash_in(dir.path(), &["mail", "latest"], &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("mail"), "{stderr}");
    assert!(output.stdout.is_empty());
}
