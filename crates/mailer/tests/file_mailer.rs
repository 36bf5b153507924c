//! The development mailer writes real, parseable `.eml` files.

mod common;

use common::{assert_same_mail, parse, rendered, FROM};
use tozalash_domain::{MailKind, Mailer};
use tozalash_mailer::{FileMailer, Locale};

fn eml_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the folder exists")
        .map(|entry| entry.expect("a readable entry").path())
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn writes_a_parseable_eml_with_both_parts() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    // A folder that does not exist yet: the mailer creates it.
    let dir = tmp.path().join("mail-outbox").join("dev");
    let mailer = FileMailer::new(dir.clone(), FROM).expect("a file mailer");
    assert!(dir.is_dir());

    let mail = rendered(Locale::Uz, MailKind::VerifyEmail, "aziza@example.uz", "aziza_90");
    mailer.send(&mail).await.expect("written");

    let files = eml_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with(".eml"), "{name}");
    assert!(
        name.contains("-tozalash-elektron-pochtangizni-tasdiq"),
        "the subject slug is in {name}"
    );
    assert!(name.starts_with("20"), "a timestamp starts {name}");

    let raw = std::fs::read(&files[0]).expect("readable");
    let parsed = parse(&raw);
    assert_same_mail(&parsed, &mail);
    // Uzbek letters (ʻ) survive the transfer encoding.
    assert!(parsed.text.contains("roʻyxatdan oʻtganingiz"));
}

#[tokio::test]
async fn every_message_gets_its_own_file_even_if_the_folder_vanished() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let dir = tmp.path().join("outbox");
    let mailer = FileMailer::new(dir.clone(), FROM).expect("a file mailer");
    std::fs::remove_dir(&dir).expect("removed");

    for locale in [Locale::Uz, Locale::En] {
        for kind in [MailKind::VerifyEmail, MailKind::ResetPassword] {
            let mail = rendered(locale, kind, "bobur@example.uz", "bobur");
            mailer.send(&mail).await.expect("written");
        }
    }
    let files = eml_files(&dir);
    assert_eq!(files.len(), 4, "{files:?}");
    for file in files {
        let parsed = parse(&std::fs::read(&file).expect("readable"));
        assert_eq!(parsed.to, "bobur@example.uz");
        assert!(parsed.text.contains(common::LINK));
    }
}

#[test]
fn rejects_a_bad_sender() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    assert!(FileMailer::new(tmp.path().to_owned(), "no address here").is_err());
}
