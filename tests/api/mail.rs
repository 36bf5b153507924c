//! E-mail that never gets lost: verification and password reset over a real
//! SMTP server, the outbox surviving an SMTP outage and a restart, and the
//! development mailer's .eml files.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    assert_field_error, assert_problem, session_from, spawn_app, spawn_app_with, TestApp,
    ADMIN_EMAIL,
};
use crate::smtp::{mail_files, wait_for, SmtpServer};

const PASSWORD: &str = "Gilam-yuvish-2026";
const PUBLIC_URL: &str = "https://tozalash.example.uz";

async fn app_with_smtp(smtp: &SmtpServer, extra: &[(&str, &str)]) -> TestApp {
    let url = smtp.url();
    let mut config = vec![("SMTP_URL", url.as_str()), ("PUBLIC_URL", PUBLIC_URL)];
    config.extend_from_slice(extra);
    spawn_app_with(&config).await
}

/// The link from a mail, pointed at the test server instead of PUBLIC_URL.
/// The link of a mail, which opens the web app's landing (`/#/…`), as the
/// server page that does the same without the app (`/api/v1/auth/…`).
fn local(app: &TestApp, link: &str) -> String {
    assert!(link.starts_with(PUBLIC_URL), "links are built from PUBLIC_URL: {link}");
    assert!(link.contains("/#/"), "links open the web app: {link}");
    link.replacen(PUBLIC_URL, &app.base, 1).replacen("/#/", "/api/v1/auth/", 1)
}

/// Signs `name@example.uz` up and follows the verification link it gets.
async fn verified_signup(app: &TestApp, smtp: &SmtpServer, name: &str) -> String {
    let before = smtp.delivered().len();
    let user = app.signup(name, &format!("{name}@example.uz"), PASSWORD).await;
    let token = smtp.wait_for(before + 1).await[before].token();
    let verify = app
        .post("/api/v1/auth/verify-email")
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 200, "verifying {name}");
    user["id"].as_str().unwrap().to_owned()
}

async fn is_verified(app: &TestApp, email: &str) -> bool {
    let session = app.login(email, PASSWORD).await;
    let me: Value = app.get_json(&session.access, "/api/v1/auth/me").await;
    me["isVerified"].as_bool().unwrap()
}

#[tokio::test]
async fn the_verification_mail_arrives_over_smtp_and_its_link_verifies_once() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[]).await;

    app.signup("zarina", "zarina@example.uz", PASSWORD).await;

    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.to, "zarina@example.uz");
    assert!(!mail.subject.is_empty());
    let link = mail.link();
    assert!(link.starts_with(&format!("{PUBLIC_URL}/#/verify-email?token=")), "{link}");
    assert!(mail.html.contains(&link.replace('&', "&amp;")), "the HTML part carries the link too");
    assert!(mail.text.contains("zarina") && mail.html.contains("zarina"));
    assert!(!is_verified(&app, "zarina@example.uz").await);

    let page = app.client.get(local(&app, &link)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(is_verified(&app, "zarina@example.uz").await);

    let again = app.client.get(local(&app, &link)).send().await.unwrap();
    assert_eq!(again.status(), 400, "a second use of the link is refused");
    let post = app
        .post("/api/v1/auth/verify-email")
        .json(&json!({ "token": mail.token() }))
        .send()
        .await
        .unwrap();
    assert_problem(post, 400, "invalid_email_token").await;
}

#[tokio::test]
async fn verify_email_by_post_answers_the_user() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[]).await;
    app.signup("zarina", "zarina@example.uz", PASSWORD).await;
    let token = smtp.wait_for(1).await[0].token();

    let response = app
        .post("/api/v1/auth/verify-email")
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["isVerified"], true);
}

#[tokio::test]
async fn an_expired_verification_link_is_refused() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[("EMAIL_VERIFICATION_TTL", "1")]).await;
    app.signup("zarina", "zarina@example.uz", PASSWORD).await;
    let token = smtp.wait_for(1).await[0].token();
    tokio::time::sleep(Duration::from_millis(1_200)).await;

    let response = app
        .post("/api/v1/auth/verify-email")
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();

    assert_problem(response, 400, "invalid_email_token").await;
    assert!(!is_verified(&app, "zarina@example.uz").await);
}

#[tokio::test]
async fn a_resend_invalidates_the_earlier_link() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[]).await;
    app.signup("zarina", "zarina@example.uz", PASSWORD).await;
    let first = smtp.wait_for(1).await[0].token();

    let resend = app
        .post("/api/v1/auth/resend-verification")
        .json(&json!({ "email": "ZARINA@example.uz" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resend.status(), 202);
    let mails = smtp.wait_for(2).await;
    let second = mails.iter().map(|m| m.token()).find(|t| *t != first).expect("a second link");

    let old = app
        .post("/api/v1/auth/verify-email")
        .json(&json!({ "token": first }))
        .send()
        .await
        .unwrap();
    assert_problem(old, 400, "invalid_email_token").await;
    let new = app
        .post("/api/v1/auth/verify-email")
        .json(&json!({ "token": second }))
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200);
}

#[tokio::test]
async fn resends_are_throttled_per_address() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[("MAIL_RESEND_INTERVAL", "60")]).await;
    app.signup("zarina", "zarina@example.uz", PASSWORD).await;
    smtp.wait_for(1).await;

    for _ in 0..3 {
        let resend = app
            .post("/api/v1/auth/resend-verification")
            .json(&json!({ "email": "zarina@example.uz" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resend.status(), 202);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(smtp.delivered().len(), 1, "no new mail inside the interval");
}

#[tokio::test]
async fn fifty_parallel_forgot_password_requests_on_two_instances_send_one_mail() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[("MAIL_RESEND_INTERVAL", "60")]).await;
    let other = app.another_instance().await;
    // The administrator from the environment: verified, and never mailed yet.
    let forgot = |instance: &TestApp| {
        instance.post("/api/v1/auth/forgot-password").json(&json!({ "email": ADMIN_EMAIL })).send()
    };

    let requests = (0..50).map(|n| forgot(if n % 2 == 0 { &app } else { &other }));
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.unwrap().status(), 202);
    }

    let delivered = smtp.wait_for(1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.delivered().len(), 1, "one mail, however many asked: {delivered:?}");
    assert_eq!(delivered[0].to, ADMIN_EMAIL);
}

#[tokio::test]
async fn resend_and_forgot_answer_the_same_for_known_and_unknown_addresses() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[]).await;
    app.signup("zarina", "zarina@example.uz", PASSWORD).await;
    smtp.wait_for(1).await;
    // Unverified, the account gets a resend but no reset link; both answer
    // exactly like an unknown address does.

    for path in ["/api/v1/auth/resend-verification", "/api/v1/auth/forgot-password"] {
        let ask = |email: &'static str| {
            app.post(path).header("x-request-id", "same").json(&json!({ "email": email })).send()
        };
        let known = ask("zarina@example.uz").await.unwrap();
        let unknown = ask("nobody@example.uz").await.unwrap();
        assert_eq!((known.status().as_u16(), unknown.status().as_u16()), (202, 202), "{path}");
        assert_eq!(known.bytes().await.unwrap(), unknown.bytes().await.unwrap(), "{path}");

        for bad in ["not-an-email", "zarina@example.uz\r\nBcc: x@evil.uz", "a\nb@example.uz"] {
            let response = app.post(path).json(&json!({ "email": bad })).send().await.unwrap();
            assert_field_error(response, "email", "invalid_email").await;
        }
    }
    let mails = smtp.wait_for(2).await;
    assert!(
        mails.iter().all(|m| m.to == "zarina@example.uz"),
        "nothing went to an unknown address"
    );
}

#[tokio::test]
async fn the_password_reset_mail_sets_a_new_password_once_and_ends_every_session() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[]).await;
    verified_signup(&app, &smtp, "zarina").await;
    let phone = app.login("zarina@example.uz", PASSWORD).await;
    let laptop = app.login("zarina@example.uz", PASSWORD).await;

    let forgot = app
        .post("/api/v1/auth/forgot-password")
        .json(&json!({ "email": "zarina@example.uz" }))
        .send()
        .await
        .unwrap();
    assert_eq!(forgot.status(), 202);
    let mails = smtp.wait_for(2).await;
    let mail = mails
        .iter()
        .find(|m| m.link().contains("/reset-password?"))
        .expect("the reset mail")
        .clone();
    assert_eq!(mail.to, "zarina@example.uz");
    assert!(mail.link().starts_with(&format!("{PUBLIC_URL}/#/reset-password?token=")));
    let form = app.client.get(local(&app, &mail.link())).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert!(form.text().await.unwrap().contains("<form"));

    let weak = app
        .post("/api/v1/auth/reset-password")
        .json(&json!({ "token": mail.token(), "password": "password1" }))
        .send()
        .await
        .unwrap();
    assert_field_error(weak, "password", "too_common").await;
    let reset = app
        .post("/api/v1/auth/reset-password")
        .json(&json!({ "token": mail.token(), "password": "Yangi-parol-2026" }))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204, "a refused password did not burn the link");
    let again = app
        .post("/api/v1/auth/reset-password")
        .json(&json!({ "token": mail.token(), "password": "Boshqa-parol-2026" }))
        .send()
        .await
        .unwrap();
    assert_problem(again, 400, "invalid_email_token").await;

    assert_problem(app.refresh(&phone).await, 401, "invalid_refresh_token").await;
    assert_problem(app.refresh(&laptop).await, 401, "invalid_refresh_token").await;
    assert_problem(
        app.login_response("zarina@example.uz", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(app.login_response("zarina@example.uz", "Yangi-parol-2026").await.status(), 200);
}

#[tokio::test]
async fn a_hostile_host_header_does_not_change_the_link() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[]).await;

    let response = app
        .post("/api/v1/auth/signup")
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .json(&json!({ "username": "zarina", "email": "zarina@example.uz", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let mail = smtp.wait_for(1).await.remove(0);
    assert!(mail.link().starts_with(PUBLIC_URL), "{}", mail.link());
    assert!(!mail.text.contains("evil") && !mail.html.contains("evil"));
}

#[tokio::test]
async fn a_signup_while_smtp_is_down_succeeds_and_its_mail_arrives_when_smtp_comes_up() {
    let mut smtp = SmtpServer::reserve();
    let app = app_with_smtp(&smtp, &[]).await;

    app.signup("zarina", "zarina@example.uz", PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    smtp.start();

    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.to, "zarina@example.uz");
}

#[tokio::test]
async fn a_queued_mail_survives_a_restart_and_arrives_exactly_once() {
    let mut smtp = SmtpServer::reserve();
    let mut app = app_with_smtp(&smtp, &[]).await;
    app.signup("zarina", "zarina@example.uz", PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    smtp.start();
    app.restart(&[]).await;

    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.to, "zarina@example.uz");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.delivered().len(), 1, "delivered once");
    let verify = app
        .post("/api/v1/auth/verify-email")
        .json(&json!({ "token": mail.token() }))
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 200);
}

#[tokio::test]
async fn an_email_change_needs_the_password_stays_pending_until_proven_and_tells_the_old_address() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[]).await;
    let id = verified_signup(&app, &smtp, "zarina").await;
    let session = app.login("zarina@example.uz", PASSWORD).await;
    let own = format!("/api/v1/users/{id}");
    let change = |body: Value| app.patch(&own).bearer_auth(&session.access).json(&body).send();

    // A stolen access token alone cannot change the address.
    let bare = change(json!({ "email": "thief@example.uz" })).await.unwrap();
    assert_field_error(bare, "currentPassword", "required").await;
    let wrong = change(json!({ "email": "thief@example.uz", "currentPassword": "guess-guess" }));
    assert_field_error(wrong.await.unwrap(), "currentPassword", "incorrect").await;

    let changed = change(json!({ "email": "zarina.new@example.uz", "currentPassword": PASSWORD }))
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["email"], "zarina@example.uz", "the old address stays until proven");
    assert_eq!(changed["pendingEmail"], "zarina.new@example.uz");

    // The old address hears of it; the new one gets the link (after the signup's mail).
    let mails = smtp.wait_for(3).await;
    let notice = mails
        .iter()
        .find(|m| m.to == "zarina@example.uz" && m.text.contains("zarina.new@example.uz"));
    assert!(notice.is_some(), "a notice to the old address: {mails:?}");
    let link =
        mails.iter().find(|m| m.to == "zarina.new@example.uz").expect("a link to the new address");
    // Until then, login and reset keep using the old address.
    assert_eq!(app.login_response("zarina@example.uz", PASSWORD).await.status(), 200);
    assert_problem(
        app.login_response("zarina.new@example.uz", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;

    let verified = app
        .post("/api/v1/auth/verify-email")
        .json(&json!({ "token": link.token() }))
        .send()
        .await
        .unwrap();
    let verified: Value = verified.json().await.unwrap();
    assert_eq!(verified["email"], "zarina.new@example.uz");
    assert_eq!(verified["pendingEmail"], Value::Null);
    assert_eq!(verified["isVerified"], true);
    assert_eq!(app.login_response("zarina.new@example.uz", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn a_pending_address_taken_meanwhile_is_a_conflict_when_confirmed() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[]).await;
    let id = verified_signup(&app, &smtp, "zarina").await;
    let session = app.login("zarina@example.uz", PASSWORD).await;
    let changed = app
        .patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(&session.access)
        .json(&json!({ "email": "shared@example.uz", "currentPassword": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let mails = smtp.wait_for(3).await;
    let link = mails.iter().find(|m| m.to == "shared@example.uz").expect("a link").clone();
    app.signup("sardor", "shared@example.uz", PASSWORD).await;

    let confirm = app
        .post("/api/v1/auth/verify-email")
        .json(&json!({ "token": link.token() }))
        .send()
        .await
        .unwrap();
    assert_problem(confirm, 409, "email_taken").await;
}

/// Asks for a reset link for `zarina@example.uz` and answers its token.
async fn reset_link(app: &TestApp, smtp: &SmtpServer) -> String {
    let before = smtp.delivered().len();
    let forgot = app
        .post("/api/v1/auth/forgot-password")
        .json(&json!({ "email": "zarina@example.uz" }))
        .send()
        .await
        .unwrap();
    assert_eq!(forgot.status(), 202);
    let mails = smtp.wait_for(before + 1).await;
    mails[before..]
        .iter()
        .find(|m| m.link().contains("/reset-password?"))
        .expect("a reset mail")
        .token()
}

#[tokio::test]
async fn reset_links_die_with_an_email_change_and_with_a_password_change() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[]).await;
    let id = verified_signup(&app, &smtp, "zarina").await;
    let session = app.login("zarina@example.uz", PASSWORD).await;
    let reset = |token: String| {
        app.post("/api/v1/auth/reset-password")
            .json(&json!({ "token": token, "password": "Attacker-parol-2026" }))
            .send()
    };

    let before_password_change = reset_link(&app, &smtp).await;
    let changed = app
        .post("/api/v1/auth/change-password")
        .bearer_auth(&session.access)
        .json(&json!({ "currentPassword": PASSWORD, "newPassword": "Yangi-parol-2026" }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    assert_problem(reset(before_password_change).await.unwrap(), 400, "invalid_email_token").await;

    let before_email_change = reset_link(&app, &smtp).await;
    let changed = app
        .patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(&session.access)
        .json(&json!({ "email": "zarina.new@example.uz", "currentPassword": "Yangi-parol-2026" }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_problem(reset(before_email_change).await.unwrap(), 400, "invalid_email_token").await;
    assert_eq!(app.login_response("zarina@example.uz", "Yangi-parol-2026").await.status(), 200);
}

#[tokio::test]
async fn a_never_verified_address_gets_no_reset_link() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[]).await;
    app.signup("zarina", "zarina@example.uz", PASSWORD).await;
    smtp.wait_for(1).await;

    let forgot = app
        .post("/api/v1/auth/forgot-password")
        .json(&json!({ "email": "zarina@example.uz" }))
        .send()
        .await
        .unwrap();
    assert_eq!(forgot.status(), 202);
    // A resend after it is delivered, so the outbox has had its chance at both.
    let resend = app
        .post("/api/v1/auth/resend-verification")
        .json(&json!({ "email": "zarina@example.uz" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resend.status(), 202);
    let mails = smtp.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = if smtp.delivered().len() > mails.len() { smtp.delivered() } else { mails };
    assert!(mails.iter().all(|m| !m.link().contains("/reset-password?")), "{mails:?}");
}

#[tokio::test]
async fn without_smtp_the_development_mailer_writes_an_eml_whose_link_verifies() {
    let app = spawn_app().await;

    app.signup("zarina", "zarina@example.uz", PASSWORD).await;

    let mails = wait_for(1, || mail_files(&app.mail_dir)).await;
    let mail = &mails[0];
    assert_eq!(mail.to, "zarina@example.uz");
    assert!(!mail.html.is_empty() && !mail.text.is_empty(), "both parts");
    let link =
        mail.link().replacen("http://127.0.0.1:8080/#/", &format!("{}/api/v1/auth/", app.base), 1);
    assert_eq!(app.client.get(link).send().await.unwrap().status(), 200);
    let session = session_from(&app.login_response("zarina@example.uz", PASSWORD).await);
    let me: Value = app.get_json(&session.access, "/api/v1/auth/me").await;
    assert_eq!(me["isVerified"], true);
}

/// Issue 15: each account's mail is in its own language. Signup takes `locale`
/// from the body, else from `Accept-Language`, else none (the service's
/// `MAIL_LOCALE`); the owner changes it, and the next mail follows.
#[tokio::test]
async fn each_account_gets_its_mail_in_its_own_language() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[("MAIL_LOCALE", "uz")]).await;
    let signup = |name: &str, locale: Option<&str>, accept: Option<&str>| {
        let mut body = json!({ "username": name, "email": format!("{name}@example.uz"),
                               "password": PASSWORD });
        if let Some(locale) = locale {
            body["locale"] = json!(locale);
        }
        let mut request = app.post("/api/v1/auth/signup").json(&body);
        if let Some(accept) = accept {
            request = request.header("accept-language", accept);
        }
        request.send()
    };
    let mail_to = |name: &str| {
        let to = format!("{name}@example.uz");
        smtp.delivered().into_iter().filter(move |m| m.to == to).collect::<Vec<_>>()
    };

    let russian = signup("rustili", None, Some("ru-RU,ru;q=0.9,en;q=0.8")).await.unwrap();
    assert_eq!(russian.status(), 201);
    assert_eq!(russian.json::<Value>().await.unwrap()["locale"], "ru", "from Accept-Language");
    let english = signup("inglizcha", Some("en"), Some("ru")).await.unwrap();
    assert_eq!(english.json::<Value>().await.unwrap()["locale"], "en", "the body wins");
    let unset = signup("tanlamagan", None, Some("de-DE")).await.unwrap();
    assert_eq!(unset.json::<Value>().await.unwrap()["locale"], Value::Null, "none of ours");
    let unknown = signup("qozoqcha", Some("kk"), None).await.unwrap();
    assert_field_error(unknown, "locale", "invalid_type").await;

    smtp.wait_for(3).await;
    assert_eq!(mail_to("rustili")[0].subject, "Tozalash: подтвердите адрес электронной почты");
    assert_eq!(mail_to("inglizcha")[0].subject, "Tozalash: please confirm your email address");
    let default = &mail_to("tanlamagan")[0].subject;
    assert!(default.contains("tasdiqlang") || default.contains("Tozalash:"), "{default}");
    assert_ne!(default, &mail_to("inglizcha")[0].subject);
    assert_ne!(default, &mail_to("rustili")[0].subject);

    // The owner switches to English: the next mail is in English.
    let session = app.login("rustili@example.uz", PASSWORD).await;
    let me: Value = app.get_json(&session.access, "/api/v1/auth/me").await;
    let id = me["id"].as_str().unwrap();
    let switched = app
        .patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(&session.access)
        .json(&json!({ "locale": "en" }))
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), 200);
    assert_eq!(switched.json::<Value>().await.unwrap()["locale"], "en");
    let resend = app
        .post("/api/v1/auth/resend-verification")
        .json(&json!({ "email": "rustili@example.uz" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resend.status(), 202);
    smtp.wait_for(4).await;
    assert_eq!(mail_to("rustili")[1].subject, "Tozalash: please confirm your email address");
}

/// Issue 15: the customer hears about their booking, over a real SMTP server:
/// a confirmation when it is placed, a notice when it is completed or
/// cancelled, saying by whom; in their language. Orders cancelled because the
/// account was deleted send nothing.
#[tokio::test]
async fn the_customer_hears_when_an_order_is_placed_completed_or_cancelled_and_by_whom() {
    let smtp = SmtpServer::start_new();
    let app = app_with_smtp(&smtp, &[("MAIL_LOCALE", "uz")]).await;
    let service = app.create_service("Gilam yuvish", 4_000_000).await;
    let service_id = service["id"].as_str().unwrap();
    let id = verified_signup(&app, &smtp, "buyurtmachi").await;
    let customer = app.login("buyurtmachi@example.uz", PASSWORD).await;
    let admin = app.admin_session().await;
    let english = app
        .patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(&customer.access)
        .json(&json!({ "locale": "en" }))
        .send()
        .await
        .unwrap();
    assert_eq!(english.status(), 200);
    let to_customer = || {
        smtp.delivered()
            .into_iter()
            .filter(|m| m.to == "buyurtmachi@example.uz")
            .skip(1) // the verification
            .collect::<Vec<_>>()
    };
    let next_mail = |count: usize| async move {
        wait_for(count, &to_customer).await;
        to_customer().pop().unwrap()
    };

    // Places an order as the customer and moves it to `status` as `by` (the
    // customer or the admin): answers the two mails the customer then has.
    let book_then = |mails_before: usize, by: &'static str, status: &'static str| {
        let (app, next_mail) = (&app, &next_mail);
        let customer = customer.access.clone();
        let mover = if by == "admin" { admin.access.clone() } else { customer.clone() };
        async move {
            let order = app.order(&customer, service_id).await;
            let placed = next_mail(mails_before + 1).await;
            let id = order["id"].as_str().unwrap();
            let moved = app.patch_order(&mover, id, json!({ "status": status })).await;
            assert_eq!(moved.status(), 200, "{by}: {status}");
            (placed, next_mail(mails_before + 2).await)
        }
    };

    let (placed, by_customer) = book_then(0, "customer", "CANCELLED").await;
    assert_eq!(placed.subject, "Tozalash: your order is placed — Gilam yuvish");
    assert!(placed.text.contains("40 000 UZS"), "{}", placed.text);
    assert!(placed.text.contains(&format!("{PUBLIC_URL}/#/orders")), "{}", placed.text);
    assert_eq!(by_customer.subject, "Tozalash: your order is cancelled — Gilam yuvish");
    assert!(by_customer.text.contains("You cancelled your order"), "{}", by_customer.text);

    let (_, by_team) = book_then(2, "admin", "CANCELLED").await;
    assert!(by_team.text.contains("cancelled by our team"), "{}", by_team.text);

    // A visit still to be agreed can be completed now.
    let (_, done) = book_then(4, "admin", "COMPLETED").await;
    assert_eq!(done.subject, "Tozalash: your cleaning is done — Gilam yuvish");

    // The account is deleted with a PENDING order: it is cancelled, silently.
    app.order(&customer.access, service_id).await;
    next_mail(7).await;
    let deleted =
        app.delete(&format!("/api/v1/users/{id}")).bearer_auth(&admin.access).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(to_customer().len(), 7, "no mail for an order cancelled with its account");
}
