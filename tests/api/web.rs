//! The booking web app served by the binary (`/`, `/app/{file}`) and the
//! development mailbox (`/dev/mail`).

use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_app_page_is_html_revalidated_by_etag_under_a_strict_csp() {
    let app = spawn_app().await;
    let page = app.get("/").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self';"), "{csp}");
    assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("http"), "nothing external: {csp}");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let body = page.text().await.unwrap();
    assert!(body.contains(r#"<script type="module" src="/app/app.js">"#), "{body}");
    assert!(!body.contains("<script>"), "no inline script");

    let again = app.get("/").header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert_eq!(again.headers()["cache-control"], "no-cache");
    assert!(again.bytes().await.unwrap().is_empty());
    let weak =
        app.get("/").header("If-None-Match", format!("\"x\", W/{etag}")).send().await.unwrap();
    assert_eq!(weak.status(), 304);
    let stale = app.get("/").header("If-None-Match", "\"0123\"").send().await.unwrap();
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn the_app_files_have_their_content_types() {
    let app = spawn_app().await;
    for (file, content_type) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("messages.uz.json", "application/json"),
        ("messages.ru.json", "application/json"),
        ("messages.en.json", "application/json"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let response = app.get(&format!("/app/{file}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{file}");
        assert_eq!(response.headers()["content-type"], content_type, "{file}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{file}");
        assert!(response.headers().contains_key("etag"), "{file}");
        assert!(response.headers().contains_key("content-security-policy"), "{file}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
}

#[tokio::test]
async fn the_three_message_files_have_the_same_keys() {
    let app = spawn_app().await;
    let mut keys = Vec::new();
    for lang in ["uz", "ru", "en"] {
        let messages: Value = app
            .get(&format!("/app/messages.{lang}.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut these: Vec<String> = messages.as_object().unwrap().keys().cloned().collect();
        these.sort();
        assert!(these.len() > 100, "{lang}: {}", these.len());
        keys.push(these);
    }
    assert_eq!(keys[0], keys[1], "uz and ru");
    assert_eq!(keys[0], keys[2], "uz and en");
}

#[tokio::test]
async fn unknown_paths_stay_404_problems() {
    let app = spawn_app().await;
    for path in [
        "/orders",
        "/index.html",
        "/app/nothing.js",
        "/app/",
        "/app/..%2FCargo.toml",
        "/app/README.md",
    ] {
        assert_problem(app.get(path).send().await.unwrap(), 404, "not_found").await;
    }
    let post = app.post("/").send().await.unwrap();
    assert_problem(post, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn the_dev_mailbox_lists_the_mails_decoded_with_their_links() {
    let app = spawn_app().await;
    app.signup("malika", "malika@example.uz", "Toza-uy-parol-77").await;
    let mut mails = Value::Null;
    for _ in 0..100 {
        let response = app.get("/dev/mail/messages").send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        mails = response.json().await.unwrap();
        if !mails.as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mail = &mails[0];
    assert_eq!(mail["to"], "malika@example.uz");
    assert!(mail["subject"].as_str().is_some_and(|s| !s.is_empty()), "{mail}");
    let link = mail["links"][0].as_str().unwrap();
    assert!(link.starts_with("http://127.0.0.1:8080/#/verify-email?token="), "{link}");
    assert!(mail["text"].as_str().unwrap().contains(link), "decoded, the link is whole: {mail}");
    assert!(!mail["text"].as_str().unwrap().contains("=\r\n"), "quoted-printable is decoded");

    let page = app.get("/dev/mail").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.text().await.unwrap().contains("/app/devmail.js"));
}

#[tokio::test]
async fn there_is_no_dev_mailbox_in_production_nor_with_smtp() {
    let production = spawn_app_with(&[
        ("APP_ENV", "production"),
        ("SMTP_URL", "smtp://127.0.0.1:9"),
        ("COOKIE_SECURE", "true"),
    ])
    .await;
    let smtp = spawn_app_with(&[("SMTP_URL", "smtp://127.0.0.1:9")]).await;
    for app in [&production, &smtp] {
        for path in ["/dev/mail", "/dev/mail/messages"] {
            assert_problem(app.get(path).send().await.unwrap(), 404, "not_found").await;
        }
        assert_eq!(app.get("/").send().await.unwrap().status(), 200, "the app itself is served");
    }
}
