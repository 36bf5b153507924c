//! The development mailer's log line: recipient and file; never the link
//! (its token is a secret) nor the body.
//!
//! Alone in its own test binary: tracing caches per call site whether anyone
//! listens, so a test in another thread without a subscriber could otherwise
//! turn the event off before this test's thread-local subscriber sees it.

mod common;

use common::{rendered, FROM};
use tozalash_domain::{MailKind, Mailer};
use tozalash_mailer::{FileMailer, Locale};

/// A `MakeWriter` collecting the log output in memory.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_the_recipient_and_the_file_but_not_the_link_nor_the_body() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt().with_writer(logs.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let tmp = tempfile::tempdir().expect("a temp dir");
    let mailer = FileMailer::new(tmp.path().to_owned(), FROM).expect("a file mailer");
    let mail = rendered(Locale::En, MailKind::ResetPassword, "john@example.com", "john");
    mailer.send(&mail).await.expect("written");

    let logged = String::from_utf8(logs.0.lock().expect("not poisoned").clone()).expect("utf-8");
    let file = std::fs::read_dir(tmp.path())
        .expect("the folder")
        .next()
        .expect("one file")
        .expect("an entry")
        .path();
    assert!(logged.contains("john@example.com"), "{logged}");
    assert!(logged.contains(&file.display().to_string()), "{logged}");
    assert!(!logged.contains("Zm9vYmFy-secret"), "the link's token is not logged: {logged}");
    assert!(std::fs::read_to_string(&file).expect("the .eml").contains("Zm9vYmFy-secret"));
    assert!(!logged.contains("valid for 30 minutes"), "the body is not logged: {logged}");
}
