//! Account takeover, replayed: each test is an attack that once worked
//! against a running server (issue 11), and now must fail.

use serde_json::{json, Value};

use crate::helpers::{assert_field_error, assert_problem, spawn_app, TestApp, ADMIN_EMAIL};

const PASSWORD: &str = "Gilam-yuvish-2026";

/// A second administrator, created by the first; its id and session.
async fn second_admin(app: &TestApp) -> (String, crate::helpers::Session) {
    let created = app
        .post("/api/v1/users")
        .bearer_auth(app.admin_token().await)
        .json(&json!({
            "username": "ikkinchi", "email": "second@tozalash.uz", "password": PASSWORD,
            "role": "ADMIN", "isVerified": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    (id, app.login("second@tozalash.uz", PASSWORD).await)
}

async fn admin_count(app: &TestApp) -> u64 {
    let admins: Value =
        app.get_json(&app.admin_session().await.access, "/api/v1/users?role=ADMIN").await;
    admins["meta"]["total"].as_u64().unwrap()
}

fn new_service() -> Value {
    json!({ "name": "Deraza yuvish", "price": 50000 })
}

#[tokio::test]
async fn a_demoted_admins_old_token_cannot_promote_itself_back_or_write() {
    let app = spawn_app().await;
    let (id, second) = second_admin(&app).await;
    let demoted = app
        .patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(app.admin_token().await)
        .json(&json!({ "role": "USER" }))
        .send()
        .await
        .unwrap();
    assert_eq!(demoted.status(), 200);

    // The old access token still says ADMIN; storage says otherwise.
    let back = app
        .patch(&format!("/api/v1/users/{id}"))
        .bearer_auth(&second.access)
        .json(&json!({ "role": "ADMIN" }))
        .send()
        .await
        .unwrap();
    assert_problem(back, 403, "forbidden").await;
    let write =
        app.post("/api/v1/services").bearer_auth(&second.access).json(&new_service()).send();
    assert_problem(write.await.unwrap(), 403, "forbidden").await;
    let admin_read = app.get("/api/v1/users").bearer_auth(&second.access).send().await.unwrap();
    assert_problem(admin_read, 403, "forbidden").await;
}

#[tokio::test]
async fn a_deleted_admins_old_token_cannot_create_a_backdoor_admin() {
    let app = spawn_app().await;
    let (id, second) = second_admin(&app).await;
    let deleted = app
        .delete(&format!("/api/v1/users/{id}"))
        .bearer_auth(app.admin_token().await)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    let backdoor = app
        .post("/api/v1/users")
        .bearer_auth(&second.access)
        .json(&json!({
            "username": "backdoor", "email": "backdoor@evil.test", "password": PASSWORD,
            "role": "ADMIN", "isVerified": true,
        }))
        .send()
        .await
        .unwrap();
    assert_problem(backdoor, 401, "invalid_token").await;
    assert_eq!(admin_count(&app).await, 1);
}

#[tokio::test]
async fn a_logged_out_session_cannot_write_with_its_old_access_token() {
    let app = spawn_app().await;
    let session = app.admin_session().await;
    let logout = app.post("/api/v1/auth/logout").bearer_auth(&session.access).send().await.unwrap();
    assert_eq!(logout.status(), 204);

    let write =
        app.post("/api/v1/services").bearer_auth(&session.access).json(&new_service()).send();
    assert_problem(write.await.unwrap(), 401, "invalid_token").await;
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_exactly_one_and_the_last_stays() {
    let app = spawn_app().await;
    let first = app.admin_session().await;
    let first_id = app.me(&first.access).await["id"].as_str().unwrap().to_owned();
    let (second_id, second) = second_admin(&app).await;
    let demote = |token: &str, id: &str| {
        app.patch(&format!("/api/v1/users/{id}"))
            .bearer_auth(token)
            .json(&json!({ "role": "USER" }))
            .send()
    };

    let (a, b) = tokio::join!(demote(&first.access, &second_id), demote(&second.access, &first_id));
    let statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    // The loser was the last one (409), or found itself demoted already: a
    // customer may not touch another account (403 for the role, 404 for
    // someone else's account).
    assert!(statuses.iter().all(|s| [200, 403, 404, 409].contains(s)), "{statuses:?}");

    // Whoever is left is the last administrator: neither demotion nor deletion.
    let (survivor, survivor_id) =
        if statuses[0] == 200 { (&first, &first_id) } else { (&second, &second_id) };
    let demote_self = demote(&survivor.access, survivor_id).await.unwrap();
    assert_problem(demote_self, 409, "last_admin").await;
    let delete_self = app
        .delete(&format!("/api/v1/users/{survivor_id}"))
        .bearer_auth(&survivor.access)
        .send()
        .await
        .unwrap();
    assert_problem(delete_self, 409, "last_admin").await;
    let left: Value = app.get_json(&survivor.access, "/api/v1/users?role=ADMIN").await;
    assert_eq!(left["meta"]["total"], 1);
}

#[tokio::test]
async fn logout_with_a_junk_authorization_header_is_401_and_keeps_the_session() {
    let app = spawn_app().await;
    let session = app.admin_session().await;

    let logout = app
        .post("/api/v1/auth/logout")
        .header("authorization", "Bearer junk")
        .header("cookie", session.cookie_header())
        .send()
        .await
        .unwrap();

    assert_problem(logout, 401, "invalid_token").await;
    assert_eq!(app.refresh(&session).await.status(), 200, "the session is still alive");
}

#[tokio::test]
async fn invisible_characters_that_disguise_text_are_refused() {
    let app = spawn_app().await;
    for name in ["Gilam\u{202E}yuvish", "Gilam\u{200B}yuvish", "\u{FEFF}Gilam", "a\u{2066}b"] {
        let response = app
            .post("/api/v1/services")
            .bearer_auth(app.admin_token().await)
            .json(&json!({ "name": name, "price": 100 }))
            .send()
            .await
            .unwrap();
        assert_field_error(response, "name", "invalid_characters").await;
    }
    let joined = app
        .post("/api/v1/services")
        .bearer_auth(app.admin_token().await)
        .json(&json!({ "name": "Tozalash 👩\u{200D}🔧", "price": 100 }))
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), 201, "ZWJ stays allowed");
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let app = spawn_app().await;
    let mut claims = app.admin_claims();
    claims.nbf = Some(claims.iat + 3600);
    let token = app.tokens.sign(&claims).unwrap();

    let me = app.get("/api/v1/auth/me").bearer_auth(&token).send().await.unwrap();
    assert_problem(me, 401, "invalid_token").await;
}

/// The configuration of `app`'s database with `ADMIN_*` for another address.
fn bootstrap_config(app: &TestApp, extra: &[(&str, &str)]) -> tozalash::Config {
    let mut pairs = vec![
        ("PORT", "0"),
        ("DATABASE_URL", app.database_url.as_str()),
        ("JWT_SECRET", crate::helpers::JWT_SECRET),
        ("ADMIN_EMAIL", "boss@tozalash.uz"),
        ("ADMIN_USERNAME", "boss"),
        ("ADMIN_PASSWORD", "Operator-parol-2026"),
    ];
    pairs.extend_from_slice(extra);
    tozalash::Config::from_pairs(pairs).unwrap()
}

#[tokio::test]
async fn the_bootstrap_never_hands_a_strangers_session_admin_rights() {
    let app = spawn_app().await;
    // A stranger registers the address the operator will choose, and logs in.
    app.signup("stranger", "boss@tozalash.uz", PASSWORD).await;
    let stranger = app.login("boss@tozalash.uz", PASSWORD).await;

    let refused = tozalash::Application::build(&bootstrap_config(&app, &[])).await;
    let Err(error) = refused else { panic!("an unverified account was promoted") };
    let error = format!("{error:#}");
    assert!(error.contains("never verified"), "{error}");
    let refreshed = app.refresh(&stranger).await;
    assert_eq!(refreshed.status(), 200);
    let user: Value = refreshed.json().await.unwrap();
    assert_eq!(user["user"]["role"], "USER");

    // The operator takes it over explicitly: the stranger loses every way in.
    let taken =
        tozalash::Application::build(&bootstrap_config(&app, &[("ADMIN_TAKE_OVER", "true")])).await;
    assert!(taken.is_ok(), "{:?}", taken.err());
    assert_problem(app.refresh(&stranger).await, 401, "invalid_refresh_token").await;
    let write =
        app.post("/api/v1/services").bearer_auth(&stranger.access).json(&new_service()).send();
    assert_problem(write.await.unwrap(), 401, "invalid_token").await;
    assert_problem(
        app.login_response("boss@tozalash.uz", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    let operator = app.login("boss@tozalash.uz", "Operator-parol-2026").await;
    let me = app.me(&operator.access).await;
    assert_eq!(me["role"], "ADMIN");
    assert_eq!(me["isVerified"], true);
}

#[tokio::test]
async fn the_bootstrap_keeps_a_password_changed_through_the_api() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let changed = app
        .post("/api/v1/auth/change-password")
        .bearer_auth(&admin.access)
        .json(&json!({ "currentPassword": crate::helpers::ADMIN_PASSWORD, "newPassword": "Yangi-admin-parol-2026" }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);

    let config = tozalash::Config::from_pairs([
        ("PORT", "0"),
        ("DATABASE_URL", app.database_url.as_str()),
        ("JWT_SECRET", crate::helpers::JWT_SECRET),
        ("ADMIN_EMAIL", ADMIN_EMAIL),
        ("ADMIN_USERNAME", "bosh_admin"),
        ("ADMIN_PASSWORD", crate::helpers::ADMIN_PASSWORD),
    ])
    .unwrap();
    let again = tozalash::Application::build(&config).await;
    assert!(again.is_ok(), "{:?}", again.err());

    assert_eq!(app.login_response(ADMIN_EMAIL, "Yangi-admin-parol-2026").await.status(), 200);
}

#[tokio::test]
async fn concurrent_bootstraps_of_one_admin_converge() {
    let app = spawn_app().await;
    let config = bootstrap_config(&app, &[]);
    let (a, b) =
        tokio::join!(tozalash::Application::build(&config), tozalash::Application::build(&config));
    assert!(a.is_ok() && b.is_ok(), "{:?} / {:?}", a.err(), b.err());
    let operator = app.login("boss@tozalash.uz", "Operator-parol-2026").await;
    assert_eq!(app.me(&operator.access).await["role"], "ADMIN");
}

/// A page of the same site on another host, allowed by `CORS_ORIGINS`.
const APP_ORIGIN: &str = "https://app.example.uz";

#[tokio::test]
async fn only_an_allowed_origin_may_read_the_csrf_token_header() {
    let app = crate::helpers::spawn_app_with(&[("CORS_ORIGINS", APP_ORIGIN)]).await;
    let (_, session) = app.customer("zarina").await;
    let cookies = format!("refresh_token={}; csrf_token={}", session.refresh, session.csrf);

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/refresh"))
        .header("origin", APP_ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-csrf-token")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], APP_ORIGIN);
    let allowed = preflight.headers()["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.to_ascii_lowercase().contains("x-csrf-token"), "{allowed}");

    for origin in [APP_ORIGIN, "https://evil.example.uz"] {
        let response = app
            .get("/api/v1/auth/csrf")
            .header("origin", origin)
            .header("cookie", &cookies)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{origin}");
        let h = response.headers();
        if origin == APP_ORIGIN {
            assert_eq!(h["access-control-allow-origin"], APP_ORIGIN);
            assert_eq!(h["access-control-allow-credentials"], "true");
            let exposed = h["access-control-expose-headers"].to_str().unwrap();
            assert!(exposed.to_ascii_lowercase().contains("x-csrf-token"), "{exposed}");
        } else {
            for name in [
                "access-control-allow-origin",
                "access-control-allow-credentials",
                "access-control-expose-headers",
            ] {
                assert!(h.get(name).is_none(), "{origin} hears {name}: {h:?}");
            }
        }
    }

    let hostile = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/refresh"))
        .header("origin", "https://evil.example.uz")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-csrf-token")
        .send()
        .await
        .unwrap();
    assert!(hostile.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_session_cookie_with_a_wrong_or_missing_csrf_header_is_still_refused() {
    let app = spawn_app().await;
    let (_, session) = app.customer("zarina").await;

    let refresh = app
        .post("/api/v1/auth/refresh")
        .header("cookie", session.cookie_header())
        .header("x-csrf-token", "made-up")
        .send()
        .await
        .unwrap();
    assert_problem(refresh, 403, "csrf_failed").await;
    let logout = app
        .post("/api/v1/auth/logout")
        .header("cookie", session.cookie_header())
        .send()
        .await
        .unwrap();
    assert_problem(logout, 403, "csrf_failed").await;
}
