//! A real SMTP server for the tests: aiosmtpd (from the test venv) started as a
//! child process on a loopback port, storing what it receives in a Maildir the
//! tests read back. It can be started late, stopped and started again, and it
//! can answer slowly ([`SmtpServer::start_slow`]: it holds each message's
//! DATA that long before it stores and accepts it).

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mail_parser::MessageParser;
use tempfile::TempDir;

/// One delivered mail, decoded.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Delivered {
    /// The first link in the text part.
    pub fn link(&self) -> String {
        let start = self.text.find("http").expect("a link in the mail");
        self.text[start..].split_whitespace().next().unwrap().to_owned()
    }

    /// The token the link carries.
    pub fn token(&self) -> String {
        self.link().split("token=").nth(1).expect("a token in the link").to_owned()
    }
}

pub struct SmtpServer {
    pub port: u16,
    maildir: TempDir,
    child: Option<Child>,
    /// How long each DATA takes before it is stored and answered (zero: at once).
    delay: Duration,
}

/// aiosmtpd's Maildir handler, slowed down: `python -c SLOW_SERVER host port
/// maildir delay_ms`. Connections are served concurrently (the sleep is async).
const SLOW_SERVER: &str = r#"
import asyncio, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

class Slow(Mailbox):
    def __init__(self, path, delay):
        super().__init__(path)
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)

host, port, maildir, delay_ms = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
Controller(Slow(maildir, delay_ms / 1000), hostname=host, port=port).start()
threading.Event().wait()
"#;

fn python() -> PathBuf {
    if let Ok(path) = std::env::var("TEST_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/venv/bin/python");
    assert!(venv.exists(), "no Python with aiosmtpd: set TEST_PYTHON or run scripts/test.sh");
    venv
}

impl SmtpServer {
    /// A free port with nothing listening on it yet.
    pub fn reserve() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let maildir = tempfile::tempdir().unwrap();
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.path().join(sub)).unwrap();
        }
        Self { port, maildir, child: None, delay: Duration::ZERO }
    }

    /// A running server.
    pub fn start_new() -> Self {
        let mut server = Self::reserve();
        server.start();
        server
    }

    /// A running server that takes `delay` over each message (a slow relay).
    pub fn start_slow(delay: Duration) -> Self {
        let mut server = Self::reserve();
        server.delay = delay;
        server.start();
        server
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn start(&mut self) {
        let mut command = Command::new(python());
        if self.delay.is_zero() {
            command
                .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port)])
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(self.maildir.path());
        } else {
            command
                .args(["-c", SLOW_SERVER, "127.0.0.1", &self.port.to_string()])
                .arg(self.maildir.path())
                .arg(self.delay.as_millis().to_string());
        }
        let mut child =
            command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("starting aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(20);
        // Listening, and it is ours: another process may have taken the port
        // between `reserve` and now (then aiosmtpd exits, and whatever answers
        // there is no SMTP server).
        while !greets_with_smtp(self.port) {
            let exited = child.try_wait().expect("aiosmtpd's status").is_some();
            assert!(!exited, "aiosmtpd could not listen on port {}: it is taken", self.port);
            assert!(Instant::now() < deadline, "aiosmtpd did not start on port {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every mail delivered so far.
    pub fn delivered(&self) -> Vec<Delivered> {
        read_in_order(
            std::fs::read_dir(self.maildir.path().join("new")).unwrap().map(|e| e.unwrap().path()),
        )
    }

    /// Waits until at least `count` mails were delivered, and answers them.
    pub async fn wait_for(&self, count: usize) -> Vec<Delivered> {
        wait_for(count, || self.delivered()).await
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Parses an RFC 5322 message.
pub fn parse(raw: &[u8]) -> Delivered {
    let message = MessageParser::default().parse(raw).expect("a parseable mail");
    Delivered {
        to: message
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned(),
        subject: message.subject().unwrap_or_default().to_owned(),
        text: message.body_text(0).unwrap_or_default().into_owned(),
        html: message.body_html(0).unwrap_or_default().into_owned(),
    }
}

/// The mails the development mailer wrote into `dir`.
pub fn mail_files(dir: &Path) -> Vec<Delivered> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    read_in_order(
        entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "eml")),
    )
}

/// Parses mail files in the order they were written (file names do not sort
/// by time: Maildir names hold unpadded microseconds).
fn read_in_order(files: impl Iterator<Item = PathBuf>) -> Vec<Delivered> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> =
        files.map(|f| (std::fs::metadata(&f).unwrap().modified().unwrap(), f)).collect();
    files.sort();
    files.iter().map(|(_, f)| parse(&std::fs::read(f).unwrap())).collect()
}

/// Whether an SMTP server answers on `port` (its greeting starts with 220).
fn greets_with_smtp(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut greeting = [0u8; 3];
    std::io::Read::read_exact(&mut stream, &mut greeting).is_ok() && &greeting == b"220"
}

/// Polls `read` until it yields at least `count` mails (30 s at most: a
/// loaded machine retries a first failed delivery after backoff).
pub async fn wait_for(count: usize, read: impl Fn() -> Vec<Delivered>) -> Vec<Delivered> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mails = read();
        if mails.len() >= count {
            return mails;
        }
        assert!(Instant::now() < deadline, "expected {count} mail(s), got {}", mails.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
