//! `/api/v1/users`: administrators manage accounts; customers only their own.

use serde_json::{json, Value};

use crate::helpers::{assert_field_error, assert_problem, spawn_app, ADMIN_EMAIL, ADMIN_PASSWORD};

#[tokio::test]
async fn an_admin_lists_users_with_filters_and_pages() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    app.customer("zarina").await;
    let (bobur, _) = app.customer("bobur").await;
    let verify = app
        .patch(&format!("/api/v1/users/{bobur}"))
        .bearer_auth(&admin.access)
        .json(&json!({ "isVerified": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), 200);

    let list = |query: &'static str| {
        let request = app.get(&format!("/api/v1/users{query}")).bearer_auth(&admin.access);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let names = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };

    let all = list("").await;
    assert_eq!(all["meta"]["total"], 3);
    assert_eq!(names(&all), ["bobur", "zarina", "bosh_admin"], "newest first");
    assert_eq!(names(&list("?role=ADMIN").await), ["bosh_admin"]);
    assert_eq!(names(&list("?role=USER&verified=true").await), ["bobur"]);
    assert_eq!(names(&list("?verified=false").await), ["zarina"]);
    assert_eq!(names(&list("?q=ZAR").await), ["zarina"]);
    assert_eq!(
        list("?limit=1&page=2").await["meta"],
        json!({ "page": 2, "limit": 1, "total": 3, "totalPages": 3, "totalCapped": false })
    );
    assert!(!all.to_string().contains("argon2"), "no password hashes in lists");

    let bad = app.get("/api/v1/users?role=ROOT").bearer_auth(&admin.access).send().await.unwrap();
    assert_field_error(bad, "role", "invalid_type").await;
}

#[tokio::test]
async fn customers_and_strangers_may_not_list_or_create_users() {
    let app = spawn_app().await;
    let (_, customer) = app.customer("zarina").await;

    assert_problem(app.get("/api/v1/users").send().await.unwrap(), 401, "unauthenticated").await;
    assert_problem(
        app.get("/api/v1/users").bearer_auth(&customer.access).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    let create = app
        .post("/api/v1/users")
        .bearer_auth(&customer.access)
        .json(&json!({ "username": "x_admin", "email": "x@example.uz", "password": "Gilam-yuvish-2026", "role": "ADMIN" }))
        .send()
        .await
        .unwrap();
    assert_problem(create, 403, "forbidden").await;
}

#[tokio::test]
async fn an_admin_creates_another_admin_who_can_log_in() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;

    let response = app
        .post("/api/v1/users")
        .bearer_auth(&admin.access)
        .json(&json!({ "username": "ikkinchi", "email": "second@tozalash.uz", "password": "Ikkinchi-admin-2026", "role": "ADMIN", "isVerified": true }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    assert_eq!((user["role"].as_str(), user["isVerified"].as_bool()), (Some("ADMIN"), Some(true)));
    let second = app.login("second@tozalash.uz", "Ikkinchi-admin-2026").await;
    assert_eq!(
        app.get("/api/v1/users").bearer_auth(&second.access).send().await.unwrap().status(),
        200
    );

    let duplicate = app
        .post("/api/v1/users")
        .bearer_auth(&admin.access)
        .json(&json!({ "username": "third", "email": "SECOND@tozalash.uz", "password": "Ikkinchi-admin-2026" }))
        .send()
        .await
        .unwrap();
    assert_problem(duplicate, 409, "email_taken").await;
}

#[tokio::test]
async fn a_customer_reads_and_edits_only_their_own_account() {
    let app = spawn_app().await;
    let (me, session) = app.customer("zarina").await;
    let (other, _) = app.customer("bobur").await;
    let own = format!("/api/v1/users/{me}");
    let theirs = format!("/api/v1/users/{other}");

    assert_eq!(app.get(&own).bearer_auth(&session.access).send().await.unwrap().status(), 200);
    assert_problem(
        app.get(&theirs).bearer_auth(&session.access).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    let patch_theirs = app
        .patch(&theirs)
        .bearer_auth(&session.access)
        .json(&json!({ "username": "hijacked" }))
        .send()
        .await
        .unwrap();
    assert_problem(patch_theirs, 404, "not_found").await;
    let delete_theirs = app.delete(&theirs).bearer_auth(&session.access).send().await.unwrap();
    assert_problem(delete_theirs, 404, "not_found").await;

    let renamed: Value = app
        .patch(&own)
        .bearer_auth(&session.access)
        .json(&json!({ "username": "zarina_k" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["username"], "zarina_k");

    let admin = app.admin_session().await;
    let theirs_now: Value =
        app.get(&theirs).bearer_auth(&admin.access).send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs_now["username"], "bobur", "nothing changed on the other account");
}

#[tokio::test]
async fn a_customer_may_not_change_their_own_role_or_verification() {
    let app = spawn_app().await;
    let (me, session) = app.customer("zarina").await;
    let own = format!("/api/v1/users/{me}");
    for body in [json!({ "role": "ADMIN" }), json!({ "isVerified": true })] {
        let response =
            app.patch(&own).bearer_auth(&session.access).json(&body).send().await.unwrap();
        assert_problem(response, 403, "forbidden").await;
    }
    for field in ["id", "createdAt", "password", "passwordHash"] {
        let response = app
            .patch(&own)
            .bearer_auth(&session.access)
            .json(&json!({ field: "x" }))
            .send()
            .await
            .unwrap();
        assert_field_error(response, field, "unknown_field").await;
    }
    let me_now: Value =
        app.get(&own).bearer_auth(&session.access).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (me_now["role"].as_str(), me_now["isVerified"].as_bool()),
        (Some("USER"), Some(false))
    );
}

#[tokio::test]
async fn an_admin_changes_someones_email_at_once_and_it_is_unverified_again() {
    let app = spawn_app().await;
    let admin = app.admin_session().await;
    let (me, _) = app.customer("zarina").await;
    let own = format!("/api/v1/users/{me}");
    app.patch(&own)
        .bearer_auth(&admin.access)
        .json(&json!({ "isVerified": true }))
        .send()
        .await
        .unwrap();

    let changed: Value = app
        .patch(&own)
        .bearer_auth(&admin.access)
        .json(&json!({ "email": "New@Example.uz" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(changed["email"], "new@example.uz");
    assert_eq!(changed["isVerified"], false);
}

#[tokio::test]
async fn a_customer_may_delete_their_own_account() {
    let app = spawn_app().await;
    let (me, session) = app.customer("zarina").await;

    let response = app
        .delete(&format!("/api/v1/users/{me}"))
        .bearer_auth(&session.access)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 204);
    assert_problem(
        app.login_response("zarina@example.uz", "Gilam-yuvish-2026").await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn the_admin_from_the_environment_exists_once_however_often_the_app_starts() {
    let app = spawn_app().await;
    let config = tozalash::Config::from_pairs([
        ("PORT", "0"),
        ("DATABASE_URL", app.database_url.as_str()),
        ("JWT_SECRET", crate::helpers::JWT_SECRET),
        ("ADMIN_EMAIL", ADMIN_EMAIL),
        ("ADMIN_USERNAME", "bosh_admin"),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
    ])
    .unwrap();

    let again = tozalash::Application::build(&config).await;

    assert!(again.is_ok(), "{:?}", again.err());
    let admin = app.admin_session().await;
    let admins: Value = app.get_json(&admin.access, "/api/v1/users?role=ADMIN").await;
    assert_eq!(admins["meta"]["total"], 1);
}
