//! Small commands around the server: `tozalash mail latest` (the newest mail
//! of the development mailer, decoded) and `tozalash healthcheck` (a probe of
//! the local server, for container healthchecks in an image without curl).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

/// The newest `.eml` file in `dir`. The development mailer names files
/// `<UTC timestamp>-…`, so the greatest name is the newest mail.
pub fn latest_mail_file(dir: &Path) -> anyhow::Result<PathBuf> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "no development mail: the folder {} cannot be read (is SMTP_URL set, or MAIL_DIR elsewhere?)",
            dir.display()
        )
    })?;
    let mut newest: Option<PathBuf> = None;
    for entry in entries {
        let path = entry?.path();
        let is_eml = path.extension().is_some_and(|e| e == "eml");
        if is_eml && newest.as_ref().is_none_or(|n| path.file_name() > n.file_name()) {
            newest = Some(path);
        }
    }
    newest.with_context(|| format!("no development mail in {}", dir.display()))
}

/// A mail as a person reads it: its file, the headers that matter, then the
/// plain-text body, transfer-decoded (quoted-printable soft breaks and `=3D`
/// undone), so the links in it can be copied as they are.
pub fn render_mail(path: &Path) -> anyhow::Result<String> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let Some(message) = mail_parser::MessageParser::default().parse(&raw) else {
        bail!("{} is not a mail message", path.display());
    };
    let mut out = String::new();
    out.push_str(&format!("File:    {}\n", path.display()));
    out.push_str(&format!("From:    {}\n", addresses(message.from())));
    out.push_str(&format!("To:      {}\n", addresses(message.to())));
    if let Some(date) = message.date() {
        out.push_str(&format!("Date:    {}\n", date.to_rfc3339()));
    }
    out.push_str(&format!("Subject: {}\n\n", message.subject().unwrap_or_default()));
    let body =
        message.body_text(0).with_context(|| format!("{} has no text part", path.display()))?;
    // Lines as a terminal shows them: no CR of the mail's CRLF left to copy.
    out.push_str(body.replace("\r\n", "\n").trim_end());
    out.push('\n');
    Ok(out)
}

/// The bare addresses of a header (`a@x, b@y`), or nothing.
fn addresses(address: Option<&mail_parser::Address<'_>>) -> String {
    address
        .map(|a| a.iter().filter_map(|a| a.address.as_deref()).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// Asks the server on this machine's `host:port` for `path` over plain
/// HTTP/1.1; `Ok` when it answers 200 within `timeout`. A server bound to
/// every address (`0.0.0.0`, `::`) is asked on loopback.
pub fn probe(host: IpAddr, port: u16, path: &str, timeout: Duration) -> anyhow::Result<()> {
    let host = match host {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    let address = SocketAddr::new(host, port);
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("nothing answers on {address}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")?;
    // The status line is all we need; the body (a small JSON) is not read.
    let mut head = [0_u8; 64];
    let mut read = 0;
    while read < 12 {
        let n =
            stream.read(&mut head[read..]).with_context(|| format!("reading from {address}"))?;
        if n == 0 {
            break;
        }
        read += n;
    }
    let status_line = String::from_utf8_lossy(&head[..read]);
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        bail!("GET http://{address}{path} answered {:?}", status_line.lines().next().unwrap_or(""));
    }
    Ok(())
}
