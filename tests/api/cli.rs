//! The `tozalash` binary's subcommands, run as a script would run them.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::helpers::{spawn_app_with, JWT_SECRET};

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
