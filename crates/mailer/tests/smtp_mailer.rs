//! `SmtpMailer` against real SMTP servers over TCP: aiosmtpd (Python) storing
//! into a Maildir, and tiny scripted servers for the failure replies.
//!
//! The Python interpreter comes from `TEST_PYTHON`, else the repository's
//! `.cache/venv/bin/python`; it must have aiosmtpd installed. Without one the
//! tests fail: they are never skipped.

mod common;

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_same_mail, parse, rendered, FROM};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tozalash_domain::{MailKind, Mailer, SendError};
use tozalash_mailer::{Locale, SmtpMailer};

const DEFAULT_PYTHON: &str = "/work/main/.cache/venv/bin/python";

fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("TEST_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let default = Path::new(DEFAULT_PYTHON);
    if default.is_file() {
        return default.to_owned();
    }
    panic!(
        "no Python for the SMTP test server: set TEST_PYTHON to a python with aiosmtpd \
         installed (pip install aiosmtpd), or create {DEFAULT_PYTHON}"
    );
}

/// A port nobody listens on (bound, then released).
fn free_port() -> u16 {
    StdListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// aiosmtpd on 127.0.0.1, storing every message into a Maildir; killed on drop.
struct Aiosmtpd {
    child: Child,
    port: u16,
    maildir: PathBuf,
    stderr: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Aiosmtpd {
    fn start() -> Self {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let maildir = tmp.path().join("Maildir");
        // A complete Maildir: Python's mailbox only creates one in a missing folder.
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).expect("the maildir");
        }
        let stderr = tmp.path().join("aiosmtpd.log");
        let port = free_port();
        let python = python();
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).expect("the log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let mut server = Self { child, port, maildir, stderr, _tmp: tmp };
        server.wait_until_listening();
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn wait_until_listening(&mut self) {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("aiosmtpd exited with {status}:\n{}", self.log());
            }
            if StdStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {address} within 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The messages delivered so far (`Maildir/new`), waiting up to 5 s for `count`.
    fn delivered(&self, count: usize) -> Vec<Vec<u8>> {
        let new = self.maildir.join("new");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&new)
                .map(|dir| dir.map(|e| e.expect("a readable entry").path()).collect())
                .unwrap_or_default();
            if files.len() >= count || Instant::now() >= deadline {
                files.sort();
                return files
                    .iter()
                    .map(|f| std::fs::read(f).expect("a readable message"))
                    .collect();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn delivers_a_multipart_message_to_a_real_smtp_server() {
    let server = Aiosmtpd::start();
    let mailer = SmtpMailer::new(&format!("smtp://127.0.0.1:{}", server.port), FROM)
        .expect("an SMTP mailer");

    let verify = rendered(Locale::Uz, MailKind::VerifyEmail, "aziza@example.uz", "aziza_90");
    let reset = rendered(Locale::En, MailKind::ResetPassword, "john@example.com", "john");
    mailer.send(&verify).await.expect("delivered");
    mailer.send(&reset).await.expect("delivered");

    let messages = server.delivered(2);
    assert_eq!(messages.len(), 2, "aiosmtpd log:\n{}", server.log());
    let mut parsed: Vec<_> = messages.iter().map(|raw| parse(raw)).collect();
    parsed.sort_by(|a, b| a.to.cmp(&b.to));
    assert_same_mail(&parsed[0], &verify);
    assert_same_mail(&parsed[1], &reset);
    assert_eq!(parsed[0].subject, "Tozalash: elektron pochtangizni tasdiqlang");
    assert_eq!(parsed[1].subject, "Tozalash: reset your password");
    assert!(parsed[0].text.contains("roʻyxatdan oʻtganingiz"));
    assert!(parsed[1].text.contains("30 minutes"));

    // The envelope matches the headers (aiosmtpd records it as X-RcptTo).
    let raw =
        String::from_utf8_lossy(&messages[0]).into_owned() + &String::from_utf8_lossy(&messages[1]);
    assert!(raw.contains("X-RcptTo: aziza@example.uz"), "{raw}");
    assert!(raw.contains("X-MailFrom: no-reply@localhost"), "{raw}");
}

#[tokio::test]
async fn a_closed_port_is_a_transient_failure() {
    let port = free_port();
    let mailer =
        SmtpMailer::new(&format!("smtp://127.0.0.1:{port}"), FROM).expect("an SMTP mailer");
    let mail = rendered(Locale::En, MailKind::VerifyEmail, "john@example.com", "john");
    let error = mailer.send(&mail).await.expect_err("nobody listens");
    assert!(matches!(error, SendError::Transient(_)), "{error:?}");
}

#[tokio::test]
async fn a_silent_server_is_a_transient_failure_within_the_deadline() {
    // Accepts the connection and never says a word.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bound");
    let port = listener.local_addr().expect("an address").port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });

    let mailer = SmtpMailer::with_timeout(
        &format!("smtp://127.0.0.1:{port}"),
        FROM,
        Duration::from_millis(300),
    )
    .expect("an SMTP mailer");
    let mail = rendered(Locale::En, MailKind::VerifyEmail, "john@example.com", "john");
    let started = Instant::now();
    let error = mailer.send(&mail).await.expect_err("no greeting");
    assert!(matches!(error, SendError::Transient(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    holder.abort();
}

/// A one-connection SMTP server that answers `rcpt_reply` to RCPT TO and a
/// plain success to everything else.
async fn scripted_server(rcpt_reply: &'static str) -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bound");
    let port = listener.local_addr().expect("an address").port();
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        if write.write_all(b"220 scripted ESMTP\r\n").await.is_err() {
            return;
        }
        while let Ok(Some(line)) = lines.next_line().await {
            let command = line.to_ascii_uppercase();
            let reply = if command.starts_with("EHLO") {
                "250 scripted"
            } else if command.starts_with("RCPT") {
                rcpt_reply
            } else if command.starts_with("QUIT") {
                "221 bye"
            } else {
                "250 ok"
            };
            if write.write_all(format!("{reply}\r\n").as_bytes()).await.is_err() {
                return;
            }
            if command.starts_with("QUIT") {
                return;
            }
        }
    });
    port
}

#[tokio::test]
async fn a_5xx_reply_is_a_permanent_failure() {
    let port = scripted_server("550 5.1.1 no such user").await;
    let mailer =
        SmtpMailer::new(&format!("smtp://127.0.0.1:{port}"), FROM).expect("an SMTP mailer");
    let mail = rendered(Locale::En, MailKind::VerifyEmail, "nobody@example.com", "x");
    let error = mailer.send(&mail).await.expect_err("refused");
    assert!(matches!(error, SendError::Permanent(_)), "{error:?}");
}

#[tokio::test]
async fn a_4xx_reply_is_a_transient_failure() {
    let port = scripted_server("451 4.7.1 greylisted, try again later").await;
    let mailer =
        SmtpMailer::new(&format!("smtp://127.0.0.1:{port}"), FROM).expect("an SMTP mailer");
    let mail = rendered(Locale::En, MailKind::VerifyEmail, "john@example.com", "john");
    let error = mailer.send(&mail).await.expect_err("deferred");
    assert!(matches!(error, SendError::Transient(_)), "{error:?}");
}
