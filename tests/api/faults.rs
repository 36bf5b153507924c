//! Faults against real servers: the database stopped under a running app and
//! started again, a handler that panics, a request in flight at SIGTERM.
//!
//! These stop and start servers of their own (a private Postgres cluster made
//! with `initdb` on a free port, a private MongoDB emulator process), never the
//! shared ones, and run one at a time: scripts/test.sh runs this module in a
//! pass of its own with `--test-threads=1` (and skips it in the others), and
//! [`one_at_a_time`] holds them apart in any other run too. They do not depend
//! on `TEST_API_DATABASE_URL`.
//!
//! Outside CI, a machine without PostgreSQL's server binaries (or the emulator)
//! skips the test that needs them, saying so; in CI (`CI=true`) that is a failure.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::helpers::{assert_problem, free_port, spawn_app_with, TestApp, JWT_SECRET};

/// Held by each test of this module for its whole run.
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// `what` cannot be provisioned: a failure in CI, a skip (said out loud) elsewhere.
fn skip_or_fail<T>(what: &str) -> Option<T> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and {what}: the fault tests cannot run"
    );
    eprintln!("SKIPPED (not in CI): {what}");
    None
}

/// Runs `program` with `args`, as the `postgres` user when we are root
/// (Postgres refuses to run as root); answers whether it succeeded, with its output.
fn run_as_postgres(program: &Path, args: &[&str]) -> Result<(), String> {
    let as_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n");
    let mut command = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let output = command.args(args).stdin(Stdio::null()).output().map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {args:?}: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The folder of PostgreSQL's server binaries: `$TEST_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`, else wherever `initdb` is on the `PATH`.
fn postgres_bin() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("TEST_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
}

/// A PostgreSQL cluster of this test's own: `initdb` in a temporary folder,
/// served on a free loopback port, stopped and started at will, removed at drop.
struct PrivatePostgres {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
}

impl PrivatePostgres {
    fn provision() -> Option<Self> {
        let Some(bin) = postgres_bin() else {
            return skip_or_fail("no PostgreSQL server binaries (initdb, pg_ctl); set TEST_PG_BIN");
        };
        let dir = tempfile::tempdir().unwrap();
        // The cluster's owner must own its folder.
        let _ = Command::new("chown").arg("postgres:").arg(dir.path()).status();
        let cluster = Self { bin, dir, port: free_port() };
        let data = cluster.data();
        if let Err(error) = run_as_postgres(
            &cluster.bin.join("initdb"),
            &["-D", &data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
        ) {
            return skip_or_fail(&format!("initdb failed: {error}"));
        }
        cluster.start();
        Some(cluster)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_str().unwrap().to_owned()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.data();
        let log = self.dir.path().join("postgres.log");
        let mut all: Vec<&str> = vec!["-D", &data, "-l", log.to_str().unwrap(), "-w", "-t", "60"];
        all.extend_from_slice(args);
        if let Err(error) = run_as_postgres(&self.bin.join("pg_ctl"), &all) {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("{error}\npostgres.log:\n{log}");
        }
    }

    /// Serves on this cluster's port (the same each time).
    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.pg_ctl(&["-o", &options, "start"]);
    }

    /// A clean, fast shutdown: sessions are ended, the port closes.
    fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ =
            run_as_postgres(&self.bin.join("pg_ctl"), &["-D", &data, "-m", "immediate", "stop"]);
    }
}

/// The NX-27017 emulator as a process of this test's own, on a port that stays
/// its own across a kill and a restart.
struct PrivateMongo {
    port: u16,
    child: Option<Child>,
    /// Its data (kept across a kill), log and pid file.
    dir: TempDir,
}

impl PrivateMongo {
    fn python() -> Option<PathBuf> {
        if let Ok(path) = std::env::var("TEST_PYTHON") {
            return Some(PathBuf::from(path));
        }
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/venv/bin/python");
        venv.exists().then_some(venv)
    }

    fn provision() -> Option<Self> {
        if Self::python().is_none() {
            return skip_or_fail("no Python with the emulator's packages: set TEST_PYTHON");
        }
        let mut mongo = Self { port: free_port(), child: None, dir: tempfile::tempdir().unwrap() };
        mongo.start();
        Some(mongo)
    }

    fn url(&self) -> String {
        format!("mongodb://127.0.0.1:{}/faults?directConnection=true", self.port)
    }

    fn start(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nx_27017_faithful.py");
        let dir = self.dir.path();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let out = std::fs::File::create(dir.join("nx.out")).unwrap();
        let child = Command::new(Self::python().unwrap())
            .arg(script)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--log-file")
            .arg(dir.join("nx.log"))
            .arg("--pid-file")
            .arg(dir.join("nx.pid"))
            .args(["--host", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting the emulator");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let log = std::fs::read_to_string(dir.join("nx.out")).unwrap_or_default();
            assert!(Instant::now() < deadline, "the emulator did not start:\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Killed outright, as a crashed server would be.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateMongo {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `path` on `app` until it answers `status` (within `within`).
async fn eventually(app: &TestApp, path: &str, status: u16, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let response = app.get(path).send().await;
        if response.as_ref().is_ok_and(|r| r.status() == status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} did not answer {status} within {within:?}: {response:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How long a catalogue read may be served from the cache (1 s), plus a margin.
const CATALOG_CACHE_BOUND: Duration = Duration::from_millis(1_200);

/// What the app answers while its database is down: 503 problem+json with
/// `Retry-After` on a read and a write, and readiness 503.
async fn assert_unavailable(app: &TestApp) {
    // Readiness first: the probe gives up after 2 s.
    let ready = app.get("/health/ready").send().await.unwrap();
    assert_eq!(ready.headers()["retry-after"], "5");
    assert_problem(ready, 503, "service_unavailable").await;

    // The catalogue list `assert_serving` read may be served from the cache for
    // up to its 1 s bound (docs/operations.md); past it, the read needs storage.
    tokio::time::sleep(CATALOG_CACHE_BOUND).await;
    let read = app.get("/api/v1/services").send().await.unwrap();
    assert_eq!(read.headers()["retry-after"], "5", "a read");
    let body = assert_problem(read, 503, "service_unavailable").await;
    assert!(!body.to_string().contains("127.0.0.1"), "no internals: {body}");

    let write = app
        .post("/api/v1/auth/signup")
        .json(&json!({ "username": "ichkarida", "email": "ichkarida@example.uz",
                       "password": "Gilam-yuvish-2026" }))
        .send()
        .await
        .unwrap();
    assert_eq!(write.headers()["retry-after"], "5", "a write");
    assert_problem(write, 503, "service_unavailable").await;
}

/// Signs up a customer and reads the catalogue: the app serves again.
async fn assert_serving(app: &TestApp, name: &str) {
    app.signup(name, &format!("{name}@example.uz"), "Gilam-yuvish-2026").await;
    let services = app.get("/api/v1/services").send().await.unwrap();
    assert_eq!(services.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_the_app_is_a_503_with_retry_after_and_the_same_process_recovers() {
    let _serial = one_at_a_time().await;
    let Some(postgres) = PrivatePostgres::provision() else { return };
    let url = postgres.url();
    let app = spawn_app_with(&[("DATABASE_URL", url.as_str())]).await;
    assert_serving(&app, "oldin").await;

    postgres.stop();
    assert_unavailable(&app).await;

    postgres.start();
    // Pooled connections died with the server: the pool replaces them.
    eventually(&app, "/health/ready", 200, Duration::from_secs(30)).await;
    assert_serving(&app, "keyin").await;
    let login = app.login_response("oldin@example.uz", "Gilam-yuvish-2026").await;
    assert_eq!(login.status(), 200, "what was written before the outage is there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_killed_under_the_app_is_a_503_with_retry_after_and_the_same_process_recovers() {
    let _serial = one_at_a_time().await;
    let Some(mut mongo) = PrivateMongo::provision() else { return };
    let url = mongo.url();
    let app = spawn_app_with(&[("DATABASE_URL", url.as_str())]).await;
    assert_serving(&app, "oldin").await;

    mongo.kill();
    assert_unavailable(&app).await;

    // On the same port, with its data (kept on disk).
    mongo.start();
    eventually(&app, "/health/ready", 200, Duration::from_secs(30)).await;
    assert_serving(&app, "keyin").await;
    let login = app.login_response("oldin@example.uz", "Gilam-yuvish-2026").await;
    assert_eq!(login.status(), 200, "what was written before the outage is there");
}

/// Reads one HTTP/1.1 response (headers and a `Content-Length` body) from
/// `stream`: its status, headers (lower-case names) and body.
fn read_response(stream: &mut TcpStream) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).unwrap();
        assert_eq!(n, 1, "the connection closed before the end of the headers: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize =
        headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (status, headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_a_generic_500_and_its_connection_and_worker_serve_on() {
    let _serial = one_at_a_time().await;
    let app = spawn_app_with(&[]).await;
    let address = app.base.trim_start_matches("http://").to_owned();

    let answers = tokio::task::spawn_blocking(move || {
        // Both requests on one keep-alive connection: a panic that unwound
        // through the worker would cut it without an answer.
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.write_all(b"GET /__test/panic HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let panicked = read_response(&mut stream);
        stream.write_all(b"GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let next = read_response(&mut stream);
        (panicked, next)
    })
    .await
    .unwrap();

    let ((status, headers, body), (next_status, _, _)) = answers;
    assert_eq!(status, 500);
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(header("content-type"), Some("application/problem+json"));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "internal_error");
    assert_eq!(body["requestId"], header("x-request-id").unwrap());
    assert!(!body.to_string().contains("secret-panic-detail"), "no panic message: {body}");
    assert!(!body.to_string().contains("injected"), "no panic message: {body}");
    assert_eq!(next_status, 200, "the next request on the same connection");

    // And the process goes on serving everything, storage included.
    for _ in 0..4 {
        let response = app.get("/__test/panic").send().await.unwrap();
        assert_problem(response, 500, "internal_error").await;
    }
    assert_serving(&app, "keyingisi").await;
}

/// `tozalash serve` as its own process, on `port`, SQLite in `dir`.
fn serve(dir: &Path, port: u16) -> Child {
    let db = format!("sqlite://{}/tozalash.db?mode=rwc", dir.display());
    Command::new(env!("CARGO_BIN_EXE_tozalash"))
        .arg("serve")
        .env_clear()
        .envs([
            ("DATABASE_URL", db.as_str()),
            ("JWT_SECRET", JWT_SECRET),
            ("PORT", &port.to_string()),
            ("RATE_LIMITS", "false"),
            ("MAIL_DIR", dir.join("mail").to_str().unwrap()),
            ("RUST_LOG", "warn"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_at_sigterm_gets_its_whole_answer_and_the_process_exits_cleanly() {
    let _serial = one_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = serve(dir.path(), port);
    let pid = server.id().to_string();

    let answer = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(stream) => break stream,
                Err(error) => {
                    assert!(Instant::now() < deadline, "the server did not start: {error}")
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // A signup whose body is still on its way when SIGTERM comes.
        let body = json!({ "username": "kechikkan", "email": "kechikkan@example.uz",
                           "password": "Gilam-yuvish-2026" })
        .to_string();
        let (first, rest) = body.as_bytes().split_at(body.len() / 2);
        let head = format!(
            "POST /api/v1/auth/signup HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(first).unwrap();
        std::thread::sleep(Duration::from_millis(500));

        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success(), "sending SIGTERM");
        std::thread::sleep(Duration::from_millis(500));
        let refused = TcpStream::connect(("127.0.0.1", port)).is_err();

        stream.write_all(rest).unwrap();
        (read_response(&mut stream), refused)
    })
    .await
    .unwrap();

    let ((status, _, body), refused) = answer;
    let body: Value = serde_json::from_slice(&body).expect("a whole JSON body");
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["email"], "kechikkan@example.uz");
    assert!(refused, "no new connection is taken once SIGTERM came");

    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = server.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the server did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "a clean exit: {exit:?}");
}
