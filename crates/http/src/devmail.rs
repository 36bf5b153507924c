//! The development mailbox: in development without `SMTP_URL`, the mails the
//! development mailer wrote as `.eml` files into `MAIL_DIR`, decoded (MIME,
//! quoted-printable, encoded headers) and listed at `/dev/mail` (a page of
//! the web app) from `/dev/mail/messages` (JSON), so a newcomer can sign up
//! and follow the links without a mail client. Not registered otherwise, so
//! those paths are 404 in production.

use std::path::{Path, PathBuf};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use mail_parser::MessageParser;
use serde::Serialize;

use crate::error::ApiError;

/// The folder the development mailer writes to.
#[derive(Debug, Clone)]
pub struct DevMailbox(pub PathBuf);

/// How many mails the list shows, newest first.
const LIMIT: usize = 50;

/// One mail as the page shows it.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DevMail {
    pub file: String,
    pub date: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub text: String,
    pub links: Vec<String>,
}

/// Registers `/dev/mail` and `/dev/mail/messages` when there is a mailbox.
pub fn configure(cfg: &mut web::ServiceConfig, mailbox: Option<DevMailbox>) {
    if let Some(mailbox) = mailbox {
        cfg.app_data(web::Data::new(mailbox))
            .route("/dev/mail", web::get().to(page))
            .route("/dev/mail/messages", web::get().to(messages));
    }
}

async fn page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    crate::routes::webapp::serve(&req, "devmail.html")
}

async fn messages(mailbox: web::Data<DevMailbox>) -> Result<HttpResponse, ApiError> {
    let dir = mailbox.0.clone();
    let mails = web::block(move || read(&dir)).await.map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(mails))
}

/// The newest [`LIMIT`] mails of `dir` (none when it does not exist yet).
pub fn read(dir: &Path) -> Vec<DevMail> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    // The names start with a UTC timestamp: newest first.
    files.sort();
    files.reverse();
    files.truncate(LIMIT);
    files
        .iter()
        .filter_map(|path| Some(parse(path.file_name()?.to_str()?, &std::fs::read(path).ok()?)))
        .collect()
}

/// Decodes one `.eml` file.
pub fn parse(file: &str, raw: &[u8]) -> DevMail {
    let message = MessageParser::default().parse(raw);
    let message = message.as_ref();
    let text = message.and_then(|m| m.body_text(0)).map(|t| t.into_owned()).unwrap_or_default();
    DevMail {
        file: file.to_owned(),
        date: message.and_then(|m| m.date()).map(|d| d.to_rfc3339()),
        to: message
            .and_then(|m| m.to())
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned),
        subject: message.and_then(|m| m.subject()).map(str::to_owned),
        links: links(&text),
        text,
    }
}

/// The `http(s)://` links of a text, in order, each once.
fn links(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) =
        [rest.find("http://"), rest.find("https://")].into_iter().flatten().min()
    {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | ')' | '\''))
            .unwrap_or(tail.len());
        let link = tail[..end].trim_end_matches(['.', ',', ';']);
        if !found.iter().any(|l| l == link) {
            found.push(link.to_owned());
        }
        rest = &tail[end..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_quoted_printable_and_finds_the_links() {
        let raw = b"From: Tozalash <no-reply@localhost>\r\nTo: ali@example.uz\r\n\
Subject: =?utf-8?q?E-pochtani_tasdiqlang?=\r\nDate: Mon, 30 Nov 2026 19:00:00 +0000\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\n\
Salom! Havola: http://127.0.0.1:8080/#/verify-email?token=3Dabc=\r\ndef.\r\n\
Yana: https://example.uz/x\r\n";
        let mail = parse("a.eml", raw);
        assert_eq!(mail.to.as_deref(), Some("ali@example.uz"));
        assert_eq!(mail.subject.as_deref(), Some("E-pochtani tasdiqlang"));
        assert_eq!(
            mail.links,
            ["http://127.0.0.1:8080/#/verify-email?token=abcdef", "https://example.uz/x"]
        );
    }

    #[test]
    fn a_missing_folder_is_an_empty_mailbox() {
        assert!(read(Path::new("/nonexistent/tozalash-mail")).is_empty());
    }
}
