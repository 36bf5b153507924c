//! Accounts and authentication end to end: signup, login with cookies,
//! rotating refresh tokens, logout, password change, CSRF.

use std::time::Duration;

use serde_json::{json, Value};
use tozalash_domain::Role;

use crate::helpers::{
    assert_field_error, assert_problem, cookie_value, session_from, set_cookies, spawn_app,
    spawn_app_with, ADMIN_EMAIL, ADMIN_PASSWORD,
};

const PASSWORD: &str = "Gilam-yuvish-2026";

#[tokio::test]
async fn signup_creates_an_unverified_customer_and_shows_no_secret() {
    let app = spawn_app().await;

    let response = app
        .post("/api/v1/auth/signup")
        .json(&json!({ "username": "Zarina_K", "email": " Zarina@Example.UZ ", "password": PASSWORD }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 201);
    let body = response.text().await.unwrap();
    let user: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(user["username"], "Zarina_K");
    assert_eq!(user["email"], "zarina@example.uz");
    assert_eq!(user["role"], "USER");
    assert_eq!(user["isVerified"], false);
    let mut keys: Vec<&str> = user.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "createdAt",
            "email",
            "id",
            "isVerified",
            "locale",
            "pendingEmail",
            "role",
            "updatedAt",
            "username"
        ]
    );
    assert!(!body.contains(PASSWORD) && !body.contains("argon2"), "{body}");
}

#[tokio::test]
async fn signup_with_a_taken_email_or_username_in_any_case_is_a_conflict() {
    let app = spawn_app().await;
    app.signup("zarina", "zarina@example.uz", PASSWORD).await;

    let email = app
        .post("/api/v1/auth/signup")
        .json(&json!({ "username": "other", "email": "ZARINA@example.uz", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_problem(email, 409, "email_taken").await;
    let name = app
        .post("/api/v1/auth/signup")
        .json(&json!({ "username": "ZaRiNa", "email": "other@example.uz", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_problem(name, 409, "username_taken").await;
}

#[tokio::test]
async fn twenty_identical_signups_at_once_create_exactly_one_user() {
    let app = spawn_app().await;
    let attempts = (0..20).map(|_| {
        app.post("/api/v1/auth/signup")
            .json(
                &json!({ "username": "racer", "email": "racer@example.uz", "password": PASSWORD }),
            )
            .send()
    });
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();

    assert_eq!(statuses.iter().filter(|&&s| s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|&s| s == 201 || s == 409), "{statuses:?}");
}

#[tokio::test]
async fn signup_refuses_mass_assignment_of_role_verification_id_or_dates() {
    let app = spawn_app().await;
    for (field, value) in [
        ("role", json!("ADMIN")),
        ("isVerified", json!(true)),
        ("id", json!("65a1b2c3d4e5f60718293a4b")),
        ("createdAt", json!("2020-01-01T00:00:00Z")),
    ] {
        let mut body =
            json!({ "username": "sneaky", "email": "sneaky@example.uz", "password": PASSWORD });
        body[field] = value;
        let response = app.post("/api/v1/auth/signup").json(&body).send().await.unwrap();
        assert_field_error(response, field, "unknown_field").await;
    }
    assert_problem(
        app.login_response("sneaky@example.uz", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn signup_refuses_weak_passwords_and_bad_names() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({ "username": "ali", "email": "ali@example.uz", "password": "short1" }),
            "password",
            "too_short",
        ),
        (
            json!({ "username": "ali", "email": "ali@example.uz", "password": "password123" }),
            "password",
            "too_common",
        ),
        (
            json!({ "username": "ali_valiyev", "email": "ali@example.uz", "password": "ALI_VALIYEV" }),
            "password",
            "too_personal",
        ),
        (
            json!({ "username": "ali", "email": "ali@example.uz", "password": "x".repeat(129) }),
            "password",
            "too_long",
        ),
        (
            json!({ "username": "a", "email": "ali@example.uz", "password": PASSWORD }),
            "username",
            "invalid_length",
        ),
        (
            json!({ "username": "ali vali", "email": "ali@example.uz", "password": PASSWORD }),
            "username",
            "invalid_characters",
        ),
        (
            json!({ "username": "ali", "email": "ali@example", "password": PASSWORD }),
            "email",
            "invalid_email",
        ),
        (
            json!({ "username": "ali", "email": "ali@example.uz\r\nBcc: x@evil.uz", "password": PASSWORD }),
            "email",
            "invalid_email",
        ),
    ];
    for (body, field, code) in cases {
        let response = app.post("/api/v1/auth/signup").json(&body).send().await.unwrap();
        assert_field_error(response, field, code).await;
    }
}

#[tokio::test]
async fn login_sets_three_cookies_with_the_right_attributes_and_no_token_in_the_body() {
    let app = spawn_app().await;
    app.signup("zarina", "zarina@example.uz", PASSWORD).await;

    let response = app.login_response("ZARINA@example.uz", PASSWORD).await;

    assert_eq!(response.status(), 200, "a case variant of the e-mail logs in");
    let cookies = set_cookies(&response);
    let session = session_from(&response);
    let attributes = |name: &str| -> Vec<String> {
        let cookie = cookies.iter().find(|c| c.starts_with(&format!("{name}="))).unwrap();
        let mut parts: Vec<String> =
            cookie.split(';').skip(1).map(|p| p.trim().to_owned()).collect();
        parts.sort();
        parts
    };
    let access = attributes("access_token");
    assert!(
        access.contains(&"HttpOnly".to_owned())
            && access.contains(&"SameSite=Lax".to_owned())
            && access.contains(&"Path=/".to_owned()),
        "{access:?}"
    );
    assert!(access.contains(&"Max-Age=900".to_owned()), "{access:?}");
    let refresh = attributes("refresh_token");
    assert!(
        refresh.contains(&"HttpOnly".to_owned())
            && refresh.contains(&"SameSite=Strict".to_owned())
            && refresh.contains(&"Path=/api/v1/auth".to_owned()),
        "{refresh:?}"
    );
    let csrf = attributes("csrf_token");
    assert!(
        !csrf.contains(&"HttpOnly".to_owned())
            && csrf.contains(&"SameSite=Lax".to_owned())
            && csrf.contains(&"Path=/".to_owned()),
        "{csrf:?}"
    );
    for name in ["access_token", "refresh_token", "csrf_token"] {
        assert!(
            !attributes(name).contains(&"Secure".to_owned()),
            "COOKIE_SECURE is off in development"
        );
    }
    assert!(session.refresh.len() >= 43, "at least 256 bits");

    let body = response.text().await.unwrap();
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["user"]["email"], "zarina@example.uz");
    for secret in [&session.access, &session.refresh, &session.csrf] {
        assert!(!body.contains(secret.as_str()), "no token in the body: {body}");
    }
}

#[tokio::test]
async fn cookies_are_secure_when_configured() {
    let app = spawn_app_with(&[("COOKIE_SECURE", "true")]).await;
    let response = app.login_response(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for cookie in set_cookies(&response) {
        assert!(cookie.split(';').any(|p| p.trim() == "Secure"), "{cookie}");
    }
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_byte_identical_answers() {
    let app = spawn_app().await;
    app.signup("zarina", "zarina@example.uz", PASSWORD).await;
    let attempt = |email: &'static str, password: &'static str| {
        app.post("/api/v1/auth/login")
            .header("x-request-id", "same-id")
            .json(&json!({ "email": email, "password": password }))
            .send()
    };

    let unknown = attempt("nobody@example.uz", PASSWORD).await.unwrap();
    let wrong = attempt("zarina@example.uz", "Wrong-password-99").await.unwrap();

    assert_eq!((unknown.status().as_u16(), wrong.status().as_u16()), (401, 401));
    assert!(set_cookies(&wrong).is_empty());
    assert_eq!(unknown.bytes().await.unwrap(), wrong.bytes().await.unwrap());
}

#[tokio::test]
async fn operator_injection_in_login_is_refused_as_input() {
    let app = spawn_app().await;
    for body in [
        json!({ "email": { "$gt": "" }, "password": PASSWORD }),
        json!({ "email": ADMIN_EMAIL, "password": { "$ne": null } }),
        json!({ "email": [ADMIN_EMAIL], "password": PASSWORD }),
    ] {
        let response = app.post("/api/v1/auth/login").json(&body).send().await.unwrap();
        assert_problem(response, 422, "validation_failed").await;
    }
}

#[tokio::test]
async fn me_answers_the_caller_by_cookie_or_bearer() {
    let app = spawn_app().await;
    let (id, session) = app.customer("zarina").await;

    let by_cookie: Value = app
        .get("/api/v1/auth/me")
        .header("cookie", format!("access_token={}", session.access))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let by_bearer: Value = app.get_json(&session.access, "/api/v1/auth/me").await;

    assert_eq!(by_cookie["id"], id.as_str());
    assert_eq!(by_bearer, by_cookie);
    assert_problem(app.get("/api/v1/auth/me").send().await.unwrap(), 401, "unauthenticated").await;
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_issues_a_new_access_token() {
    let app = spawn_app().await;
    let (_, first) = app.customer("zarina").await;

    let response = app.refresh(&first).await;

    assert_eq!(response.status(), 200);
    let second = session_from(&response);
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(second.csrf, first.csrf, "the CSRF token is the session's, which goes on");
    let me = app.get("/api/v1/auth/me").bearer_auth(&second.access).send().await.unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(app.refresh(&second).await.status(), 200);
}

#[tokio::test]
async fn refresh_needs_the_csrf_header() {
    let app = spawn_app().await;
    let (_, session) = app.customer("zarina").await;
    let response = app
        .post("/api/v1/auth/refresh")
        .header("cookie", session.cookie_header())
        .send()
        .await
        .unwrap();
    assert_problem(response, 403, "csrf_failed").await;
    assert_eq!(app.refresh(&session).await.status(), 200, "the token was not consumed");
}

#[tokio::test]
async fn a_replayed_token_inside_the_grace_window_is_refused_without_logging_out() {
    let app = spawn_app().await;
    let (_, first) = app.customer("zarina").await;
    let second = session_from(&app.refresh(&first).await);

    assert_problem(app.refresh(&first).await, 401, "invalid_refresh_token").await;

    assert_eq!(app.refresh(&second).await.status(), 200, "the session lives on");
}

#[tokio::test]
async fn a_token_replayed_after_the_grace_window_revokes_the_whole_session() {
    let app = spawn_app_with(&[("REFRESH_REUSE_GRACE", "1")]).await;
    let (_, first) = app.customer("zarina").await;
    let second = session_from(&app.refresh(&first).await);
    let third = session_from(&app.refresh(&second).await);
    let fourth = session_from(&app.refresh(&third).await);
    tokio::time::sleep(Duration::from_millis(2_100)).await;

    assert_problem(app.refresh(&first).await, 401, "invalid_refresh_token").await;

    assert_problem(app.refresh(&fourth).await, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn ten_parallel_refreshes_with_one_token_log_nobody_out() {
    let app = spawn_app().await;
    let (_, session) = app.customer("zarina").await;

    let responses = futures::future::join_all((0..10).map(|_| app.refresh(&session))).await;

    let winners: Vec<_> = responses.iter().filter(|r| r.status() == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one rotation wins");
    assert!(responses.iter().all(|r| r.status() == 200 || r.status() == 401));
    let next = session_from(winners[0]);
    assert_eq!(app.refresh(&next).await.status(), 200, "the winner's token still works");
}

#[tokio::test]
async fn access_and_refresh_tokens_cannot_stand_in_for_each_other() {
    let app = spawn_app().await;
    let (_, session) = app.customer("zarina").await;

    let refresh_as_access =
        app.get("/api/v1/auth/me").bearer_auth(&session.refresh).send().await.unwrap();
    assert_problem(refresh_as_access, 401, "invalid_token").await;

    let swapped = crate::helpers::Session { refresh: session.access.clone(), ..session.clone() };
    assert_problem(app.refresh(&swapped).await, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_revokes_the_session_and_expires_every_cookie() {
    let app = spawn_app().await;
    let (_, session) = app.customer("zarina").await;

    let without_csrf = app
        .post("/api/v1/auth/logout")
        .header("cookie", session.cookie_header())
        .send()
        .await
        .unwrap();
    assert_problem(without_csrf, 403, "csrf_failed").await;

    let response = app.logout(&session).await;
    assert_eq!(response.status(), 204);
    let cookies = set_cookies(&response);
    for name in ["access_token", "refresh_token", "csrf_token"] {
        assert_eq!(cookie_value(&cookies, name).as_deref(), Some(""), "{name} emptied");
        let cookie = cookies.iter().find(|c| c.starts_with(&format!("{name}="))).unwrap();
        assert!(cookie.contains("Max-Age=0"), "{cookie}");
    }
    assert_problem(app.refresh(&session).await, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let (_, phone) = app.customer("zarina").await;
    let laptop = app.login("zarina@example.uz", PASSWORD).await;
    let (_, stranger) = app.customer("bobur").await;

    let response =
        app.post("/api/v1/auth/logout-all").bearer_auth(&phone.access).send().await.unwrap();

    assert_eq!(response.status(), 204);
    assert_problem(app.refresh(&phone).await, 401, "invalid_refresh_token").await;
    assert_problem(app.refresh(&laptop).await, 401, "invalid_refresh_token").await;
    assert_eq!(app.refresh(&stranger).await.status(), 200);
}

#[tokio::test]
async fn change_password_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let (_, here) = app.customer("zarina").await;
    let elsewhere = app.login("zarina@example.uz", PASSWORD).await;
    let change = |current: &str, new: &str| {
        app.post("/api/v1/auth/change-password")
            .bearer_auth(&here.access)
            .json(&json!({ "currentPassword": current, "newPassword": new }))
            .send()
    };

    assert_field_error(
        change("not-my-password", "Yangi-parol-2026").await.unwrap(),
        "currentPassword",
        "incorrect",
    )
    .await;
    assert_field_error(change(PASSWORD, "password1").await.unwrap(), "newPassword", "too_common")
        .await;
    assert_eq!(change(PASSWORD, "Yangi-parol-2026").await.unwrap().status(), 204);

    assert_problem(app.refresh(&elsewhere).await, 401, "invalid_refresh_token").await;
    assert_eq!(app.refresh(&here).await.status(), 200);
    assert_problem(
        app.login_response("zarina@example.uz", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(app.login_response("zarina@example.uz", "Yangi-parol-2026").await.status(), 200);
}

#[tokio::test]
async fn a_deleted_user_can_no_longer_refresh() {
    let app = spawn_app().await;
    let (id, session) = app.customer("zarina").await;
    let admin = app.admin_session().await;

    let response =
        app.delete(&format!("/api/v1/users/{id}")).bearer_auth(&admin.access).send().await.unwrap();

    assert_eq!(response.status(), 204);
    assert_problem(app.refresh(&session).await, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn a_role_change_takes_effect_at_once_for_admin_requests() {
    let app = spawn_app().await;
    let (id, session) = app.customer("zarina").await;
    let admin = app.admin_session().await;
    let promote = app
        .patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(&admin.access)
        .json(&json!({ "role": "ADMIN" }))
        .send()
        .await
        .unwrap();
    assert_eq!(promote.status(), 200);
    // The token still says USER; the stored role is what counts.
    let at_once = app.get("/api/v1/users").bearer_auth(&session.access).send().await.unwrap();
    assert_eq!(at_once.status(), 200);

    let demote = app
        .patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(&admin.access)
        .json(&json!({ "role": "USER" }))
        .send()
        .await
        .unwrap();
    assert_eq!(demote.status(), 200);
    let refreshed = session_from(&app.refresh(&session).await);
    let after = app.get("/api/v1/users").bearer_auth(&refreshed.access).send().await.unwrap();
    assert_problem(after, 403, "forbidden").await;
}

#[tokio::test]
async fn cookie_authenticated_writes_need_the_csrf_header_and_bearer_ones_do_not() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let body = json!({ "name": "Windows", "price": 1000 });
    let cookie = format!("access_token={}; csrf_token={}", admin.access, admin.csrf);

    let none =
        app.post("/api/v1/services").header("cookie", &cookie).json(&body).send().await.unwrap();
    assert_problem(none, 403, "csrf_failed").await;
    let wrong = app
        .post("/api/v1/services")
        .header("cookie", &cookie)
        .header("x-csrf-token", "forged")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(wrong, 403, "csrf_failed").await;
    let right = app
        .post("/api/v1/services")
        .header("cookie", &cookie)
        .header("x-csrf-token", &admin.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 201);
    let other = json!({ "name": "Doors", "price": 1000 });
    let bearer =
        app.post("/api/v1/services").bearer_auth(&admin.access).json(&other).send().await.unwrap();
    assert_eq!(bearer.status(), 201);
}

#[tokio::test]
async fn a_session_rotated_on_one_instance_is_revoked_by_a_replay_on_another() {
    // Log in on A, refresh on B, replay the old token on A (after the grace).
    let a = spawn_app_with(&[("REFRESH_REUSE_GRACE", "1")]).await;
    let b = a.another_instance().await;
    let (_, first) = a.customer("zarina").await;
    let second = session_from(&b.refresh(&first).await);
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    assert_problem(a.refresh(&first).await, 401, "invalid_refresh_token").await;

    assert_problem(b.refresh(&second).await, 401, "invalid_refresh_token").await;
    let me = b.get("/api/v1/auth/me").header("cookie", second.cookie_header()).send().await;
    assert_eq!(me.unwrap().status(), 200, "reads with the access token live until it expires");
    let write = a.post("/api/v1/auth/logout-all").bearer_auth(&second.access).send().await;
    assert_problem(write.unwrap(), 401, "invalid_token").await;
}

#[tokio::test]
async fn without_jwt_secret_every_instance_accepts_the_others_tokens() {
    // Development on one database, no JWT_SECRET: the first instance makes the
    // key and keeps it where the others find it (the database, or on SQLite
    // the key file beside it).
    let a = spawn_app_with(&[("JWT_SECRET", "")]).await;
    let b = a.another_instance().await;
    let (_, first) = a.customer("dilnoza").await;

    let me = b.get("/api/v1/auth/me").header("cookie", first.cookie_header()).send().await;
    assert_eq!(me.unwrap().status(), 200, "A's access cookie works on B");
    assert_eq!(b.me(&first.access).await["username"], "dilnoza");
    let refreshed = b.refresh(&first).await;
    assert_eq!(refreshed.status(), 200, "A's refresh cookie and CSRF token work on B");
    let second = session_from(&refreshed);
    assert_eq!(a.me(&second.access).await["username"], "dilnoza", "B's token works on A");

    // It is not the key the tests sign with (so the instances really made one)…
    let foreign = a.get("/api/v1/auth/me").bearer_auth(a.token(Role::User)).send().await;
    assert_problem(foreign.unwrap(), 401, "invalid_token").await;
    // …and it survives a restart.
    let mut a = a;
    a.restart(&[]).await;
    assert_eq!(a.me(&second.access).await["username"], "dilnoza");
}

// --- The CSRF token for pages on another host (issue 15) --------------------

/// The `X-CSRF-Token` response header, if any.
fn csrf_header(response: &reqwest::Response) -> Option<String> {
    response.headers().get("x-csrf-token").map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn login_refresh_and_me_by_cookie_answer_the_sessions_csrf_token_in_a_header() {
    let app = spawn_app().await;
    app.signup("zarina", "zarina@example.uz", PASSWORD).await;

    let login = app.login_response("zarina@example.uz", PASSWORD).await;
    let session = session_from(&login);
    assert_eq!(csrf_header(&login).as_deref(), Some(session.csrf.as_str()), "login");

    let refreshed = app.refresh(&session).await;
    assert_eq!(refreshed.status(), 200);
    assert_eq!(csrf_header(&refreshed).as_deref(), Some(session.csrf.as_str()), "refresh");
    let session = session_from(&refreshed);

    let by_cookie = app
        .get("/api/v1/auth/me")
        .header("cookie", format!("access_token={}", session.access))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);
    assert_eq!(csrf_header(&by_cookie).as_deref(), Some(session.csrf.as_str()), "me by cookie");

    let by_bearer = app.get("/api/v1/auth/me").bearer_auth(&session.access).send().await.unwrap();
    assert_eq!(by_bearer.status(), 200);
    assert_eq!(csrf_header(&by_bearer), None, "a Bearer caller needs no CSRF token");
}

#[tokio::test]
async fn get_csrf_answers_the_token_from_the_refresh_cookie_alone_and_it_works() {
    let app = spawn_app().await;
    let (_, session) = app.customer("zarina").await;
    // A reloaded page whose access cookie expired: the browser sends only
    // the refresh cookie (to /api/v1/auth) and the csrf_token cookie.
    let cookies = format!("refresh_token={}; csrf_token={}", session.refresh, session.csrf);

    let response = app.get("/api/v1/auth/csrf").header("cookie", &cookies).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(csrf_header(&response).as_deref(), Some(session.csrf.as_str()));
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "csrfToken": session.csrf }));
    let token = body["csrfToken"].as_str().unwrap();
    let refreshed = app
        .post("/api/v1/auth/refresh")
        .header("cookie", &cookies)
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200, "the token answered lets the page refresh");
}

#[tokio::test]
async fn get_csrf_answers_the_token_of_the_access_cookie_without_a_refresh_cookie() {
    let app = spawn_app().await;
    let (_, session) = app.customer("zarina").await;

    let response = app
        .get("/api/v1/auth/csrf")
        .header("cookie", format!("access_token={}", session.access))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["csrfToken"], session.csrf.as_str());
}

#[tokio::test]
async fn get_csrf_without_a_live_session_is_401() {
    let app = spawn_app().await;
    let (_, session) = app.customer("zarina").await;

    let none = app.get("/api/v1/auth/csrf").send().await.unwrap();
    assert_problem(none, 401, "unauthenticated").await;

    let logout = app.logout(&session).await;
    assert_eq!(logout.status(), 204);
    let ended = app
        .get("/api/v1/auth/csrf")
        .header("cookie", format!("refresh_token={}", session.refresh))
        .send()
        .await
        .unwrap();
    assert_problem(ended, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn refresh_without_a_refresh_cookie_is_401_not_a_csrf_failure() {
    let app = spawn_app().await;
    let (_, session) = app.customer("zarina").await;

    let nothing = app.post("/api/v1/auth/refresh").send().await.unwrap();
    assert_problem(nothing, 401, "invalid_refresh_token").await;

    let no_refresh_cookie = app
        .post("/api/v1/auth/refresh")
        .header("cookie", format!("access_token={}; csrf_token={}", session.access, session.csrf))
        .send()
        .await
        .unwrap();
    assert_problem(no_refresh_cookie, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_without_a_session_cookie_is_204_and_needs_no_csrf_token() {
    let app = spawn_app().await;

    let nothing = app.post("/api/v1/auth/logout").send().await.unwrap();
    assert_eq!(nothing.status(), 204);

    let csrf_cookie_only =
        app.post("/api/v1/auth/logout").header("cookie", "csrf_token=stale").send().await.unwrap();
    assert_eq!(csrf_cookie_only.status(), 204);
}

#[tokio::test]
async fn cookie_domain_puts_every_session_cookie_on_the_parent_domain() {
    let app = spawn_app_with(&[("COOKIE_DOMAIN", "example.uz")]).await;
    let (_, session) = app.customer("zarina").await;
    let login = app.login_response("zarina@example.uz", PASSWORD).await;
    let logout = app.logout(&session).await;
    assert_eq!(logout.status(), 204);

    for (what, cookies) in [("login", set_cookies(&login)), ("logout", set_cookies(&logout))] {
        assert_eq!(cookies.len(), 3, "{what}: {cookies:?}");
        for cookie in &cookies {
            assert!(cookie.contains("Domain=example.uz"), "{what}: {cookie}");
        }
    }
    let host_only = spawn_app().await;
    let cookies = set_cookies(&host_only.login_response(ADMIN_EMAIL, ADMIN_PASSWORD).await);
    assert!(cookies.iter().all(|c| !c.contains("Domain=")), "host-only by default: {cookies:?}");
}
