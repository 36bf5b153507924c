//! Optimistic concurrency: `ETag` on single services, users and orders,
//! `If-Match` as a conditional write (412 `precondition_failed`), and
//! `If-None-Match` (304). Storage decides who wins, so this runs on every backend.

use futures::future::join_all;
use reqwest::Response;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app, TestApp};

fn etag(response: &Response) -> String {
    let value = response.headers().get("etag").unwrap_or_else(|| panic!("no ETag: {response:?}"));
    value.to_str().unwrap().to_owned()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

impl TestApp {
    async fn read(&self, path: &str, access: Option<&str>) -> Response {
        let request = self.get(path);
        let request = match access {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        request.send().await.unwrap()
    }

    async fn patch_if(
        &self,
        path: &str,
        access: &str,
        if_match: Option<&str>,
        body: Value,
    ) -> Response {
        let request = self.patch(path).bearer_auth(access).json(&body);
        let request = match if_match {
            Some(tag) => request.header("if-match", tag),
            None => request,
        };
        request.send().await.unwrap()
    }

    /// The current tag of `path`.
    async fn tag_of(&self, path: &str, access: Option<&str>) -> String {
        let response = self.read(path, access).await;
        assert_eq!(response.status(), 200, "reading {path}");
        etag(&response)
    }
}

/// Sends the same PATCH with the same `If-Match` from `n` clients at once;
/// answers the statuses sorted.
async fn race(app: &TestApp, path: &str, access: &str, tag: &str, bodies: Vec<Value>) -> Vec<u16> {
    let requests = bodies.into_iter().map(|body| async move {
        app.patch_if(path, access, Some(tag), body).await.status().as_u16()
    });
    let mut statuses = join_all(requests).await;
    statuses.sort_unstable();
    statuses
}

#[tokio::test]
async fn reads_and_writes_of_a_service_carry_its_etag_and_a_matching_read_is_304() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 1_000).await;
    let path = format!("/api/v1/services/{}", id(&service));
    let admin = app.admin_token().await;

    let first = app.read(&path, None).await;
    assert_eq!(first.status(), 200);
    assert_eq!(etag(&first), "\"1\"");
    let body: Value = first.json().await.unwrap();
    assert!(body.get("version").is_none(), "the tag is the contract: {body}");

    for held in ["\"1\"", "W/\"1\"", "\"7\", \"1\"", "*"] {
        let response = app.get(&path).header("if-none-match", held).send().await.unwrap();
        assert_eq!(response.status(), 304, "{held}");
        assert_eq!(etag(&response), "\"1\"");
        assert!(response.bytes().await.unwrap().is_empty(), "a 304 has no body");
    }
    for other in ["\"2\"", "\"01\"", "nonsense"] {
        let response = app.get(&path).header("if-none-match", other).send().await.unwrap();
        assert_eq!(response.status(), 200, "{other}");
    }

    // A PATCH without If-Match works as it always did, and moves the tag on.
    let patched = app.patch_if(&path, &admin, None, json!({ "price": 2_000 })).await;
    assert_eq!(patched.status(), 200);
    assert_eq!(etag(&patched), "\"2\"");
    let stale = app.get(&path).header("if-none-match", "\"1\"").send().await.unwrap();
    assert_eq!(stale.status(), 200, "the old tag no longer matches");
    assert_eq!(etag(&stale), "\"2\"");
    // `{}` changes nothing, not even the tag.
    let empty = app.patch_if(&path, &admin, Some("\"2\""), json!({})).await;
    assert_eq!((empty.status().as_u16(), etag(&empty)), (200, "\"2\"".to_owned()));
}

#[tokio::test]
async fn two_admins_holding_one_service_tag_one_wins_and_the_other_gets_412() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 1_000).await;
    let path = format!("/api/v1/services/{}", id(&service));
    let admin = app.admin_token().await;
    let tag = app.tag_of(&path, None).await;

    let alice = app.patch_if(&path, &admin, Some(&tag), json!({ "price": 2_000 })).await;
    assert_eq!(alice.status(), 200);
    let new_tag = etag(&alice);
    assert_ne!(new_tag, tag);
    let bob = app.patch_if(&path, &admin, Some(&tag), json!({ "price": 3_000 })).await;
    assert_problem(bob, 412, "precondition_failed").await;
    let now: Value = app.read(&path, None).await.json().await.unwrap();
    assert_eq!(now["price"], 2_000, "the loser changed nothing");

    // Tags we never sent match nothing; `*` matches any existing service.
    for made_up in ["\"abc\"", "W/\"2\"", "\"02\"", "2", "\"2", "\"0\"", "\"-1\"", ""] {
        let response = app.patch_if(&path, &admin, Some(made_up), json!({ "price": 9 })).await;
        assert_problem(response, 412, "precondition_failed").await;
    }
    let listed = app
        .patch_if(&path, &admin, Some(&format!("\"9\", {new_tag}")), json!({ "price": 4_000 }))
        .await;
    assert_eq!(listed.status(), 200, "one of several tags matches");
    let any = app.patch_if(&path, &admin, Some("*"), json!({ "price": 5_000 })).await;
    assert_eq!((any.status().as_u16(), etag(&any)), (200, "\"4\"".to_owned()));
    // A missing service is 404 whatever the precondition says.
    let missing = "/api/v1/services/0123456789abcdef01234567";
    assert_problem(
        app.patch_if(missing, &admin, Some("\"1\""), json!({ "price": 1 })).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.patch_if(missing, &admin, Some("*"), json!({ "price": 1 })).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn concurrent_writers_holding_one_tag_have_exactly_one_winner_on_each_resource() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    const WRITERS: i64 = 8;

    let service = app.create_service("Windows", 1_000).await;
    let path = format!("/api/v1/services/{}", id(&service));
    let tag = app.tag_of(&path, None).await;
    let bodies = (0..WRITERS).map(|i| json!({ "price": 2_000 + i })).collect();
    let statuses = race(&app, &path, &admin, &tag, bodies).await;
    assert_eq!(statuses, [&[200][..], &[412; 7]].concat(), "services");
    assert_eq!(app.tag_of(&path, None).await, "\"2\"");

    let (customer, _) = app.customer("racer").await;
    let path = format!("/api/v1/users/{customer}");
    let tag = app.tag_of(&path, Some(&admin)).await;
    let bodies = (0..WRITERS).map(|i| json!({ "isVerified": i % 2 == 0 })).collect();
    let statuses = race(&app, &path, &admin, &tag, bodies).await;
    assert_eq!(statuses, [&[200][..], &[412; 7]].concat(), "users");
    assert_eq!(app.tag_of(&path, Some(&admin)).await, "\"2\"");

    let (_, session) = app.verified_customer("orderer").await;
    let order = app.order(&session.access, &id(&service)).await;
    let path = format!("/api/v1/orders/{}", id(&order));
    let tag = app.tag_of(&path, Some(&admin)).await;
    let bodies = (0..WRITERS)
        .map(|i| match i % 2 {
            0 => json!({ "notes": format!("writer {i}") }),
            _ => json!({ "status": "COMPLETED" }),
        })
        .collect();
    let statuses = race(&app, &path, &admin, &tag, bodies).await;
    assert_eq!(statuses, [&[200][..], &[412; 7]].concat(), "orders");
    assert_eq!(app.tag_of(&path, Some(&admin)).await, "\"2\"");
}

#[tokio::test]
async fn a_users_tag_is_the_same_on_users_and_me_and_every_change_moves_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (me, session) = app.customer("dilnoza").await;
    let path = format!("/api/v1/users/{me}");

    let tag = app.tag_of(&path, Some(&session.access)).await;
    assert_eq!(tag, "\"1\"");
    assert_eq!(app.tag_of("/api/v1/auth/me", Some(&session.access)).await, tag);
    assert_eq!(app.tag_of(&path, Some(&admin)).await, tag, "the same for an administrator");
    let cached = app
        .get("/api/v1/auth/me")
        .bearer_auth(&session.access)
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    let cached = app
        .get(&path)
        .bearer_auth(&session.access)
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    // The owner renames themselves; the administrator, holding the old tag, loses.
    let own =
        app.patch_if(&path, &session.access, Some(&tag), json!({ "username": "dilnoza_t" })).await;
    assert_eq!((own.status().as_u16(), etag(&own)), (200, "\"2\"".to_owned()));
    let late = app.patch_if(&path, &admin, Some(&tag), json!({ "isVerified": true })).await;
    assert_problem(late, 412, "precondition_failed").await;
    let read: Value = app.read(&path, Some(&admin)).await.json().await.unwrap();
    assert_eq!(
        (read["username"].as_str(), read["isVerified"].as_bool()),
        (Some("dilnoza_t"), Some(false))
    );

    // A password change is a change of the account too.
    let response = app
        .post("/api/v1/auth/change-password")
        .bearer_auth(&session.access)
        .json(
            &json!({ "currentPassword": "Gilam-yuvish-2026", "newPassword": "Yangi-parol-2026!" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(app.tag_of(&path, Some(&admin)).await, "\"3\"");
    // Someone else's account stays 404 to a customer, whatever the precondition.
    let (_, other) = app.customer("someone").await;
    let response =
        app.patch_if(&path, &other.access, Some("\"3\""), json!({ "username": "x_y_z" })).await;
    assert_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn an_orders_tag_moves_with_its_status_and_details_and_guards_them() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let service = app.create_service("Deep clean", 450_000).await;
    let (_, session) = app.verified_customer("zarina").await;
    let order = app.order(&session.access, &id(&service)).await;
    let path = format!("/api/v1/orders/{}", id(&order));

    let tag = app.tag_of(&path, Some(&session.access)).await;
    assert_eq!(tag, "\"1\"");
    let edited =
        app.patch_if(&path, &session.access, Some(&tag), json!({ "notes": "Ring twice" })).await;
    assert_eq!((edited.status().as_u16(), etag(&edited)), (200, "\"2\"".to_owned()));

    // The administrator completes the order while the customer still holds "2" …
    let completed = app.patch_if(&path, &admin, None, json!({ "status": "COMPLETED" })).await;
    assert_eq!((completed.status().as_u16(), etag(&completed)), (200, "\"3\"".to_owned()));
    // … so the customer's cancel on "2" is a failed precondition, not a silent overwrite.
    let cancel =
        app.patch_if(&path, &session.access, Some("\"2\""), json!({ "status": "CANCELLED" })).await;
    assert_problem(cancel, 412, "precondition_failed").await;
    let notes =
        app.patch_if(&path, &session.access, Some("\"2\""), json!({ "notes": "Knock" })).await;
    assert_problem(notes, 412, "precondition_failed").await;
    // With the current tag the status machine has its say as before.
    let cancel =
        app.patch_if(&path, &session.access, Some("\"3\""), json!({ "status": "CANCELLED" })).await;
    assert_problem(cancel, 409, "invalid_status_transition").await;
    let read = app.read(&path, Some(&session.access)).await;
    assert_eq!(etag(&read), "\"3\"");
    let read: Value = read.json().await.unwrap();
    assert_eq!(
        (read["status"].as_str(), read["notes"].as_str()),
        (Some("COMPLETED"), Some("Ring twice"))
    );

    // Deleting a customer cancels their PENDING orders, which moves those tags too.
    let (customer, other) = app.verified_customer("malika").await;
    let pending = app.order(&other.access, &id(&service)).await;
    let pending_path = format!("/api/v1/orders/{}", id(&pending));
    assert_eq!(app.tag_of(&pending_path, Some(&admin)).await, "\"1\"");
    let deleted =
        app.delete(&format!("/api/v1/users/{customer}")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.tag_of(&pending_path, Some(&admin)).await, "\"2\"");
}
