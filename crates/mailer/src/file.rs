//! The development mailer: each message becomes an `.eml` file.

use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::message::Mailbox;
use tozalash_domain::error::BoxError;
use tozalash_domain::{Mailer, RenderedMail, SendError};

use crate::message;

/// Writes every message as an RFC 5322 `.eml` file into a folder instead of
/// sending it; used when `SMTP_URL` is unset. Files are named
/// `<UTC timestamp>-<subject slug>-<random>.eml` and open in any mail client.
#[derive(Clone)]
pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl FileMailer {
    /// A mailer writing into `dir` (created if missing) as `from`
    /// (`MAIL_FROM`).
    pub fn new(dir: PathBuf, from: &str) -> Result<Self, BoxError> {
        let from = message::parse_from(from)?;
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the mail folder {}: {e}", dir.display()))?;
        Ok(Self { dir, from })
    }

    /// The folder the `.eml` files go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file_name(mail: &RenderedMail) -> String {
        let timestamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let random: u32 = rand::random();
        format!("{timestamp}-{}-{random:08x}.eml", slug(&mail.subject))
    }
}

impl fmt::Debug for FileMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileMailer")
            .field("dir", &self.dir)
            .field("from", &self.from.to_string())
            .finish()
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: &RenderedMail) -> Result<(), SendError> {
        let eml = message::build(&self.from, mail).map_err(SendError::Permanent)?.formatted();
        let path = self.dir.join(Self::file_name(mail));
        let io_error = |e: std::io::Error| {
            SendError::Transient(format!("cannot write {}: {e}", path.display()).into())
        };
        // The folder may have been removed since start-up.
        tokio::fs::create_dir_all(&self.dir).await.map_err(io_error)?;
        tokio::fs::write(&path, eml).await.map_err(io_error)?;
        // The link is a secret (it verifies an address or sets a password) and
        // no secret goes into a log: whoever runs the server locally opens the
        // file, whose name is logged, and follows the link from there.
        tracing::info!(
            to = mail.to.as_str(),
            path = %path.display(),
            "development mailer wrote a message"
        );
        Ok(())
    }
}

/// The subject as a short file-name-safe slug: lowercase ASCII letters and
/// digits, other runs as `-`, at most 40 characters; `mail` if nothing is left.
fn slug(subject: &str) -> String {
    let mut slug = String::new();
    for c in subject.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "mail".to_owned()
    } else {
        slug.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_is_file_name_safe() {
        assert_eq!(
            slug("Tozalash: please confirm your email address"),
            "tozalash-please-confirm-your-email-addre"
        );
        assert_eq!(slug("Tozalash: parolni tiklash"), "tozalash-parolni-tiklash");
        assert_eq!(slug("../../etc/passwd"), "etc-passwd");
        assert_eq!(slug("ʻʼ — !"), "mail");
        assert_eq!(slug(""), "mail");
    }
}
