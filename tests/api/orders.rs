//! Orders end to end: the customer's and the admin's journeys, owner scoping,
//! the status machine and its race-free writes.

use serde_json::{json, Value};

use crate::helpers::{assert_field_error, assert_problem, spawn_app, visit_slot, TestApp};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn list(app: &TestApp, access: &str, query: &str) -> Value {
    let response =
        app.get(&format!("/api/v1/orders{query}")).bearer_auth(access).send().await.unwrap();
    assert_eq!(response.status(), 200, "listing {query}");
    response.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(id).collect()
}

#[tokio::test]
async fn the_customer_journey_signup_verified_order_list_cancel() {
    let app = spawn_app().await;
    let service = app.create_service("Deep clean", 450_000).await;
    let (me, session) = app.verified_customer("zarina").await;
    let tomorrow = visit_slot(1, 10);

    let response = app.post_order(&session.access, json!({ "serviceId": id(&service), "scheduledAt": tomorrow, "address": "Chilonzor 9", "notes": "Ring twice" })).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/orders/{}", id(&order)));
    assert_eq!(order["userId"], me.as_str());
    assert_eq!(order["customerName"], "zarina");
    assert_eq!(order["serviceId"], id(&service).as_str());
    assert_eq!(
        (order["serviceName"].as_str(), order["price"].as_i64()),
        (Some("Deep clean"), Some(450_000))
    );
    assert_eq!(order["status"], "PENDING");
    assert_eq!(order["scheduledAt"], tomorrow.as_str());
    assert_eq!(
        (order["address"].as_str(), order["notes"].as_str()),
        (Some("Chilonzor 9"), Some("Ring twice"))
    );
    let mut keys: Vec<&str> = order.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "address",
            "createdAt",
            "customerName",
            "id",
            "notes",
            "price",
            "scheduledAt",
            "serviceId",
            "serviceName",
            "status",
            "updatedAt",
            "userId"
        ]
    );

    let mine = list(&app, &session.access, "").await;
    assert_eq!(ids(&mine), [id(&order)]);
    assert_eq!(mine["meta"]["total"], 1);
    let read: Value =
        app.get(&location).bearer_auth(&session.access).send().await.unwrap().json().await.unwrap();
    assert_eq!(read, order);

    let cancel =
        app.patch_order(&session.access, &id(&order), json!({ "status": "CANCELLED" })).await;
    assert_eq!(cancel.status(), 200);
    assert_eq!(cancel.json::<Value>().await.unwrap()["status"], "CANCELLED");
    let again =
        app.patch_order(&session.access, &id(&order), json!({ "status": "CANCELLED" })).await;
    assert_problem(again, 409, "invalid_status_transition").await;
}

#[tokio::test]
async fn the_admin_journey_list_all_filter_complete() {
    let app = spawn_app().await;
    let windows = app.create_service("Windows", 100_000).await;
    let carpets = app.create_service("Carpets", 200_000).await;
    let (alice, a) = app.verified_customer("alice").await;
    let (_, b) = app.verified_customer("bobur").await;
    // Timestamps have millisecond precision: keep the three orders apart in
    // time so the createdAt window below is meaningful.
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(5));
    let first = app.order(&a.access, &id(&windows)).await;
    pause().await;
    let second = app.order(&b.access, &id(&carpets)).await;
    pause().await;
    let third = app.order(&a.access, &id(&carpets)).await;
    let admin = app.admin_session().await;

    assert_eq!(
        ids(&list(&app, &admin.access, "").await),
        [id(&third), id(&second), id(&first)],
        "all, newest first"
    );
    assert_eq!(
        ids(&list(&app, &admin.access, &format!("?userId={alice}")).await),
        [id(&third), id(&first)]
    );
    assert_eq!(
        ids(&list(&app, &admin.access, &format!("?serviceId={}", id(&carpets))).await),
        [id(&third), id(&second)]
    );
    let from = second["createdAt"].as_str().unwrap();
    let window = list(
        &app,
        &admin.access,
        &format!("?createdFrom={from}&createdTo={}", third["createdAt"].as_str().unwrap()),
    )
    .await;
    assert_eq!(ids(&window), [id(&second)]);

    let done = app.patch_order(&admin.access, &id(&second), json!({ "status": "COMPLETED" })).await;
    assert_eq!(done.status(), 200);
    assert_eq!(ids(&list(&app, &admin.access, "?status=COMPLETED").await), [id(&second)]);
    assert_eq!(
        list(&app, &admin.access, "?status=PENDING&limit=1").await["meta"],
        json!({ "page": 1, "limit": 1, "total": 2, "totalPages": 2, "totalCapped": false })
    );
}

#[tokio::test]
async fn customers_cannot_see_or_touch_each_others_orders() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, a) = app.verified_customer("alice").await;
    let (bob, b) = app.verified_customer("bobur").await;
    let hers = app.order(&a.access, &id(&service)).await;
    let path = format!("/api/v1/orders/{}", id(&hers));

    assert_problem(app.get(&path).bearer_auth(&b.access).send().await.unwrap(), 404, "not_found")
        .await;
    assert_problem(
        app.patch_order(&b.access, &id(&hers), json!({ "status": "CANCELLED" })).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.patch_order(&b.access, &id(&hers), json!({ "notes": "mine now" })).await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.delete(&path).bearer_auth(&b.access).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert!(ids(&list(&app, &b.access, "").await).is_empty(), "never in another customer's list");
    let spying = app
        .get(&format!("/api/v1/orders?userId={}", "a".repeat(24)))
        .bearer_auth(&b.access)
        .send()
        .await
        .unwrap();
    assert_problem(spying, 403, "forbidden").await;
    assert_eq!(list(&app, &b.access, &format!("?userId={bob}")).await["meta"]["total"], 0);

    let unchanged: Value =
        app.get(&path).bearer_auth(&a.access).send().await.unwrap().json().await.unwrap();
    assert_eq!(unchanged, hers);
}

#[tokio::test]
async fn finished_orders_never_move_again() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, customer) = app.verified_customer("alice").await;
    let admin = app.admin_session().await;
    let completed = app.order(&customer.access, &id(&service)).await;
    let cancelled = app.order(&customer.access, &id(&service)).await;
    assert_eq!(
        app.patch_order(&admin.access, &id(&completed), json!({ "status": "COMPLETED" }))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.patch_order(&admin.access, &id(&cancelled), json!({ "status": "CANCELLED" }))
            .await
            .status(),
        200
    );

    for (order, to) in [
        (&completed, "PENDING"),
        (&completed, "COMPLETED"),
        (&completed, "CANCELLED"),
        (&cancelled, "COMPLETED"),
        (&cancelled, "PENDING"),
    ] {
        let response = app.patch_order(&admin.access, &id(order), json!({ "status": to })).await;
        assert_problem(response, 409, "invalid_status_transition").await;
    }
    let edit =
        app.patch_order(&customer.access, &id(&cancelled), json!({ "notes": "too late" })).await;
    assert_problem(edit, 409, "order_not_pending").await;
}

#[tokio::test]
async fn a_customer_may_cancel_and_edit_but_not_complete() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, customer) = app.verified_customer("alice").await;
    let order = app.order(&customer.access, &id(&service)).await;

    let complete =
        app.patch_order(&customer.access, &id(&order), json!({ "status": "COMPLETED" })).await;
    assert_problem(complete, 403, "forbidden").await;

    let edited: Value = app
        .patch_order(
            &customer.access,
            &id(&order),
            json!({ "notes": "Key under the mat", "address": "Yunusobod 4" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (edited["notes"].as_str(), edited["address"].as_str()),
        (Some("Key under the mat"), Some("Yunusobod 4"))
    );
    let cleared: Value = app
        .patch_order(&customer.access, &id(&order), json!({ "address": null }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["address"], Value::Null);
    assert_eq!(cleared["notes"], "Key under the mat");
    let mixed = app
        .patch_order(&customer.access, &id(&order), json!({ "status": "CANCELLED", "notes": "x" }))
        .await;
    assert_field_error(mixed, "status", "not_combinable").await;
}

#[tokio::test]
async fn an_unverified_customer_cannot_order() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, customer) = app.customer("alice").await;

    let response = app.post_order(&customer.access, json!({ "serviceId": id(&service) })).await;

    assert_problem(response, 403, "email_not_verified").await;
}

#[tokio::test]
async fn orders_for_unknown_services_past_visits_or_with_forbidden_fields_are_refused() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, c) = app.verified_customer("alice").await;
    let post = |body: Value| app.post("/api/v1/orders").bearer_auth(&c.access).json(&body).send();

    let unknown = post(json!({ "serviceId": "65a1b2c3d4e5f60718293a4b" })).await.unwrap();
    let body = assert_problem(unknown, 422, "service_not_found").await;
    assert_eq!(body["errors"][0]["field"], "serviceId");
    assert_field_error(
        post(json!({ "serviceId": "nope" })).await.unwrap(),
        "serviceId",
        "invalid_type",
    )
    .await;
    assert_field_error(post(json!({})).await.unwrap(), "serviceId", "required").await;
    let yesterday = (chrono::Utc::now() - chrono::TimeDelta::days(1)).to_rfc3339();
    assert_field_error(
        post(json!({ "serviceId": id(&service), "scheduledAt": yesterday })).await.unwrap(),
        "scheduledAt",
        "in_the_past",
    )
    .await;
    assert_field_error(
        post(json!({ "serviceId": id(&service), "scheduledAt": "tomorrow" })).await.unwrap(),
        "scheduledAt",
        "invalid_type",
    )
    .await;
    assert_field_error(
        post(json!({ "serviceId": id(&service), "status": "COMPLETED" })).await.unwrap(),
        "status",
        "unknown_field",
    )
    .await;
    assert_field_error(
        post(json!({ "serviceId": id(&service), "price": 1 })).await.unwrap(),
        "price",
        "unknown_field",
    )
    .await;
    assert_field_error(
        post(json!({ "serviceId": id(&service), "notes": "n".repeat(1001) })).await.unwrap(),
        "notes",
        "too_long",
    )
    .await;
    let for_someone =
        post(json!({ "serviceId": id(&service), "userId": "65a1b2c3d4e5f60718293a4b" }))
            .await
            .unwrap();
    assert_problem(for_someone, 403, "forbidden").await;
    assert_eq!(list(&app, &c.access, "").await["meta"]["total"], 0, "nothing was stored");
}

#[tokio::test]
async fn an_admin_may_order_for_a_customer() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (customer, session) = app.customer("alice").await;
    let admin = app.admin_session().await;

    let response = app
        .post_order(&admin.access, json!({ "serviceId": id(&service), "userId": customer }))
        .await;

    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().await.unwrap()["userId"], customer.as_str());
    assert_eq!(list(&app, &session.access, "").await["meta"]["total"], 1);
    let nobody = app
        .post_order(
            &admin.access,
            json!({ "serviceId": id(&service), "userId": "65a1b2c3d4e5f60718293a4b" }),
        )
        .await;
    assert_problem(nobody, 422, "user_not_found").await;
}

#[tokio::test]
async fn twenty_racing_completes_and_cancels_have_exactly_one_winner() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, customer) = app.verified_customer("alice").await;
    let order = app.order(&customer.access, &id(&service)).await;
    let admin = app.admin_session().await;

    let order_id = id(&order);
    let attempts = (0..20).map(|i| {
        let status = if i % 2 == 0 { "COMPLETED" } else { "CANCELLED" };
        let request = app.patch_order(&admin.access, &order_id, json!({ "status": status }));
        async move { (status, request.await) }
    });
    let results = futures::future::join_all(attempts).await;

    let winners: Vec<&str> =
        results.iter().filter(|(_, r)| r.status() == 200).map(|(s, _)| *s).collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert!(results.iter().all(|(_, r)| r.status() == 200 || r.status() == 409));
    let stored: Value =
        app.get_json(&admin.access, &format!("/api/v1/orders/{}", id(&order))).await;
    assert_eq!(stored["status"], winners[0]);
}

#[tokio::test]
async fn deleting_a_customer_cancels_their_pending_orders_and_keeps_the_history() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (customer, session) = app.verified_customer("alice").await;
    let admin = app.admin_session().await;
    let pending = app.order(&session.access, &id(&service)).await;
    let done = app.order(&session.access, &id(&service)).await;
    app.patch_order(&admin.access, &id(&done), json!({ "status": "COMPLETED" })).await;

    let delete = app
        .delete(&format!("/api/v1/users/{customer}"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);

    let history = list(&app, &admin.access, &format!("?userId={customer}")).await;
    let statuses: Vec<&str> =
        history["data"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["COMPLETED", "CANCELLED"]);
    assert_eq!(history["data"][1]["id"], id(&pending).as_str());
}

#[tokio::test]
async fn catalogue_edits_and_deletes_never_rewrite_an_order() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, customer) = app.verified_customer("alice").await;
    let order = app.order(&customer.access, &id(&service)).await;
    let admin = app.admin_session().await;
    let service_path = format!("/api/v1/services/{}", id(&service));

    app.patch(&service_path)
        .bearer_auth(&admin.access)
        .json(&json!({ "name": "Windows v2", "price": 1 }))
        .send()
        .await
        .unwrap();
    app.delete(&service_path).bearer_auth(&admin.access).send().await.unwrap();

    let read: Value =
        app.get_json(&customer.access, &format!("/api/v1/orders/{}", id(&order))).await;
    assert_eq!(read, order);
}

#[tokio::test]
async fn only_an_admin_deletes_an_order() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, customer) = app.verified_customer("alice").await;
    let order = app.order(&customer.access, &id(&service)).await;
    let path = format!("/api/v1/orders/{}", id(&order));
    let admin = app.admin_session().await;

    assert_problem(
        app.delete(&path).bearer_auth(&customer.access).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    assert_eq!(app.delete(&path).bearer_auth(&admin.access).send().await.unwrap().status(), 204);
    assert_problem(
        app.get(&path).bearer_auth(&admin.access).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get("/api/v1/orders/xyz").bearer_auth(&admin.access).send().await.unwrap(),
        400,
        "invalid_id",
    )
    .await;
    assert_problem(app.get("/api/v1/orders").send().await.unwrap(), 401, "unauthenticated").await;
}

/// Placing an order checks the caller's session and account in its own write,
/// not through what an instance read before: a name changed, or a session
/// ended, on another instance counts at once on this one, which has the
/// account from its last order.
#[tokio::test]
async fn an_order_checks_the_session_in_its_own_write_on_every_instance() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let service_id = id(&app.create_service("Windows", 2000).await);
    let (user_id, customer) = app.verified_customer("zarina").await;
    let first = other.order(&customer.access, &service_id).await;
    assert_eq!(first["customerName"], "zarina");

    let renamed = app
        .patch(&format!("/api/v1/users/{user_id}"))
        .bearer_auth(&customer.access)
        .json(&json!({ "username": "zarina_b" }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let second = other.order(&customer.access, &service_id).await;
    assert_eq!(second["customerName"], "zarina_b", "the account as it is now");

    assert_eq!(app.logout(&customer).await.status(), 204);
    let refused = other.post_order(&customer.access, json!({ "serviceId": service_id })).await;
    assert_problem(refused, 401, "invalid_token").await;
    let admin = app.admin_token().await;
    let stored = list(&app, &admin, &format!("?userId={user_id}")).await;
    assert_eq!(stored["meta"]["total"], 2, "nothing stored in the ended session");
}
