//! The business's rules around a visit, end to end: booking inside the rules
//! (lead, window, working hours in Tashkent time), status moves that respect
//! the visit time, the dispatcher's view by visit time, records that stay,
//! and the HTTP details that come with them (HEAD, wrong types, leap seconds).

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{assert_field_error, assert_problem, spawn_app, spawn_app_with, visit_slot};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(id).collect()
}

fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::TimeDelta::seconds(secs))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Round the clock, with a lead of a second: visits minutes or seconds away.
const ANY_TIME: &[(&str, &str)] = &[("BOOKING_HOURS", "00:00-24:00"), ("BOOKING_MIN_LEAD", "1")];

#[tokio::test]
async fn a_customers_full_booking_inside_the_rules() {
    let app = spawn_app().await;
    let service = app.create_service("Deep clean", 450_000).await;
    let (_, session) = app.verified_customer("zarina").await;
    let admin = app.admin_session().await;
    let (first, last) = (visit_slot(3, 8), visit_slot(4, 19));

    let placed = app
        .post_order(&session.access, json!({ "serviceId": id(&service), "scheduledAt": first }))
        .await;
    assert_eq!(placed.status(), 201);
    let order: Value = placed.json().await.unwrap();
    assert_eq!(order["scheduledAt"], first.as_str(), "08:00 in Tashkent opens the day");

    let moved = app.patch_order(&session.access, &id(&order), json!({ "scheduledAt": last })).await;
    assert_eq!(moved.status(), 200);
    assert_eq!(moved.json::<Value>().await.unwrap()["scheduledAt"], last.as_str());

    let early = app.patch_order(&admin.access, &id(&order), json!({ "status": "COMPLETED" })).await;
    assert_problem(early, 409, "visit_not_due").await;
    let cancel =
        app.patch_order(&session.access, &id(&order), json!({ "status": "CANCELLED" })).await;
    assert_eq!(cancel.status(), 200, "days ahead, the customer may cancel");
}

#[tokio::test]
async fn a_visit_breaking_the_booking_rules_is_422_on_scheduled_at() {
    let app = spawn_app().await;
    let service = app.create_service("Deep clean", 450_000).await;
    let (customer, session) = app.verified_customer("zarina").await;
    let admin = app.admin_session().await;
    let place = |access: String, body: Value| {
        let request = app.post("/api/v1/orders").bearer_auth(access).json(&body);
        async move { request.send().await.unwrap() }
    };
    let svc = id(&service);

    for (at, code) in [
        (in_secs(-60), "in_the_past"),
        (in_secs(600), "too_soon"),
        (visit_slot(100, 10), "too_far"),
        (visit_slot(2, 3), "outside_working_hours"),
        (visit_slot(2, 20), "outside_working_hours"),
        (visit_slot(2, 7), "outside_working_hours"),
    ] {
        let body = json!({ "serviceId": svc, "scheduledAt": at });
        assert_field_error(place(session.access.clone(), body).await, "scheduledAt", code).await;
    }
    // The rules hold for an administrator too, placing for a customer.
    let body = json!({ "serviceId": svc, "userId": customer, "scheduledAt": visit_slot(2, 22) });
    assert_field_error(
        place(admin.access.clone(), body).await,
        "scheduledAt",
        "outside_working_hours",
    )
    .await;

    // And when rescheduling.
    let order = app.order(&session.access, &svc).await;
    for (who, at, code) in [
        (&session.access, in_secs(60), "too_soon"),
        (&admin.access, visit_slot(1, 21), "outside_working_hours"),
        (&admin.access, visit_slot(95, 9), "too_far"),
    ] {
        let patch = app.patch_order(who, &id(&order), json!({ "scheduledAt": at })).await;
        assert_field_error(patch, "scheduledAt", code).await;
    }
    // Without a visit time an order stays valid: the business schedules it.
    let read: Value =
        app.get_json(&session.access, &format!("/api/v1/orders/{}", id(&order))).await;
    assert_eq!(read["scheduledAt"], Value::Null);
}

#[tokio::test]
async fn inside_the_cut_off_only_an_administrator_cancels() {
    let app = spawn_app_with(ANY_TIME).await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, session) = app.verified_customer("alice").await;
    let admin = app.admin_session().await;
    let soon = app
        .post_order(
            &session.access,
            json!({ "serviceId": id(&service), "scheduledAt": in_secs(1_800) }),
        )
        .await;
    assert_eq!(soon.status(), 201);
    let order: Value = soon.json().await.unwrap();

    let late =
        app.patch_order(&session.access, &id(&order), json!({ "status": "CANCELLED" })).await;
    assert_problem(late, 409, "too_late_to_cancel").await;
    let by_admin =
        app.patch_order(&admin.access, &id(&order), json!({ "status": "CANCELLED" })).await;
    assert_eq!(by_admin.status(), 200);
}

#[tokio::test]
async fn a_visit_is_completed_once_its_time_has_come_and_then_is_never_deleted() {
    let app = spawn_app_with(ANY_TIME).await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, session) = app.verified_customer("alice").await;
    let admin = app.admin_session().await;
    let placed = app
        .post_order(
            &session.access,
            json!({ "serviceId": id(&service), "scheduledAt": in_secs(2) }),
        )
        .await;
    assert_eq!(placed.status(), 201);
    let order: Value = placed.json().await.unwrap();
    let order_id = id(&order);
    let complete = || app.patch_order(&admin.access, &order_id, json!({ "status": "COMPLETED" }));

    assert_problem(complete().await, 409, "visit_not_due").await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(complete().await.status(), 200, "the visit's time has come");

    let path = format!("/api/v1/orders/{}", id(&order));
    let delete = app.delete(&path).bearer_auth(&admin.access).send().await.unwrap();
    assert_problem(delete, 409, "order_completed").await;
    let kept = app.get(&path).bearer_auth(&admin.access).send().await.unwrap();
    assert_eq!(kept.json::<Value>().await.unwrap()["status"], "COMPLETED");
    // A cancelled order is no revenue: it may go.
    let other = app.order(&session.access, &id(&service)).await;
    app.patch_order(&admin.access, &id(&other), json!({ "status": "CANCELLED" })).await;
    let other_path = format!("/api/v1/orders/{}", id(&other));
    let gone = app.delete(&other_path).bearer_auth(&admin.access).send().await.unwrap();
    assert_eq!(gone.status(), 204);
}

#[tokio::test]
async fn the_dispatcher_filters_and_sorts_by_visit_time() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, session) = app.verified_customer("alice").await;
    let admin = app.admin_session().await;
    let mut placed = Vec::new();
    for at in [Some(visit_slot(5, 10)), None, Some(visit_slot(2, 10)), Some(visit_slot(3, 10))] {
        let mut body = json!({ "serviceId": id(&service) });
        if let Some(at) = &at {
            body["scheduledAt"] = json!(at);
        }
        let response =
            app.post("/api/v1/orders").bearer_auth(&session.access).json(&body).send().await;
        let order: Value = response.unwrap().json().await.unwrap();
        placed.push(id(&order));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let [day5, unscheduled, day2, day3] = [0, 1, 2, 3].map(|i| placed[i].as_str());
    let list = |query: String| {
        let request = app.get(&format!("/api/v1/orders{query}")).bearer_auth(&admin.access);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "{query}");
            response.json::<Value>().await.unwrap()
        }
    };

    assert_eq!(
        ids(&list("?sort=scheduledAt".into()).await),
        [unscheduled, day2, day3, day5],
        "soonest first; not yet scheduled before all"
    );
    assert_eq!(ids(&list("?sort=-scheduledAt".into()).await), [day5, day3, day2, unscheduled]);
    assert_eq!(ids(&list("?sort=createdAt".into()).await), [day5, unscheduled, day2, day3]);
    assert_eq!(ids(&list(String::new()).await), [day3, day2, unscheduled, day5]);
    let window = format!("?scheduledFrom={}&scheduledTo={}", visit_slot(2, 10), visit_slot(5, 10));
    let page = list(format!("{window}&sort=scheduledAt")).await;
    assert_eq!(ids(&page), [day2, day3], "from inclusive, to exclusive");
    assert_eq!(page["meta"]["total"], 2);
    let from_day3 = list(format!("?scheduledFrom={}", visit_slot(3, 10))).await;
    assert_eq!(ids(&from_day3), [day3, day5]);

    let get = |query: &str| app.get(&format!("/api/v1/orders{query}")).bearer_auth(&admin.access);
    let backwards =
        format!("?scheduledFrom={}&scheduledTo={}", visit_slot(5, 10), visit_slot(2, 10));
    let response = get(&backwards).send().await.unwrap();
    assert_field_error(response, "scheduledFrom", "after_end").await;
    let created = format!("?createdFrom={}&createdTo={}", in_secs(60), in_secs(-60));
    assert_field_error(get(&created).send().await.unwrap(), "createdFrom", "after_end").await;
    assert_field_error(get("?sort=price").send().await.unwrap(), "sort", "invalid").await;
}

#[tokio::test]
async fn the_customers_name_stays_on_their_orders_after_the_account_is_deleted() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (customer, session) = app.verified_customer("alice").await;
    let admin = app.admin_session().await;
    let order = app.order(&session.access, &id(&service)).await;
    assert_eq!(order["customerName"], "alice");

    let path = format!("/api/v1/users/{customer}");
    assert_eq!(app.delete(&path).bearer_auth(&admin.access).send().await.unwrap().status(), 204);

    let read: Value = app.get_json(&admin.access, &format!("/api/v1/orders/{}", id(&order))).await;
    assert_eq!(
        (read["customerName"].as_str(), read["status"].as_str()),
        (Some("alice"), Some("CANCELLED"))
    );
}

#[tokio::test]
async fn a_blank_address_or_notes_is_stored_as_absent() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, session) = app.verified_customer("alice").await;
    let response = app
        .post_order(
            &session.access,
            json!({ "serviceId": id(&service), "address": "   ", "notes": " \n\t " }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let order: Value = response.json().await.unwrap();
    assert_eq!((&order["address"], &order["notes"]), (&Value::Null, &Value::Null));

    let edit = app
        .patch_order(
            &session.access,
            &id(&order),
            json!({ "address": "Chilonzor 9", "notes": "x" }),
        )
        .await;
    assert_eq!(edit.status(), 200);
    let blank = app.patch_order(&session.access, &id(&order), json!({ "address": "  " })).await;
    let blank: Value = blank.json().await.unwrap();
    assert_eq!((&blank["address"], blank["notes"].as_str()), (&Value::Null, Some("x")));
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = spawn_app().await;
    app.create_service("Windows", 100_000).await;
    for path in ["/api/v1/services", "/health/live", "/api/v1/health/live"] {
        let get = app.get(path).send().await.unwrap();
        let head = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "{path}");
        assert_eq!(head.status(), 200, "{path}");
        for name in ["content-type", "content-length", "cache-control"] {
            assert_eq!(head.headers().get(name), get.headers().get(name), "{path}: {name}");
        }
        assert!(head.headers().contains_key("x-request-id"));
        assert!(get.bytes().await.unwrap().len() > 1, "{path}");
        assert!(head.bytes().await.unwrap().is_empty(), "{path}: HEAD has no body");
    }
    // As GET does: an order needs a login.
    let orders = app.client.head(app.url("/api/v1/orders")).send().await.unwrap();
    assert_eq!(orders.status(), 401);
    // A path that takes no GET takes no HEAD either, and says which it takes.
    let login = app.client.head(app.url("/api/v1/auth/login")).send().await.unwrap();
    assert_eq!(login.status(), 405);
    let services = app.client.put(app.url("/api/v1/services")).send().await.unwrap();
    assert_eq!(services.headers()["allow"], "GET, HEAD, POST");
}

#[tokio::test]
async fn a_well_formed_value_of_the_wrong_type_is_422_naming_the_field() {
    let app = spawn_app().await;
    let service = app.create_service("Windows", 100_000).await;
    let (customer, session) = app.verified_customer("alice").await;
    let admin = app.admin_session().await;
    let order = app.order(&session.access, &id(&service)).await;

    for body in
        [json!({ "status": null }), json!({ "status": 5 }), json!({ "status": ["CANCELLED"] })]
    {
        let patch = app.patch_order(&admin.access, &id(&order), body).await;
        assert_field_error(patch, "status", "invalid_type").await;
    }
    let role = app
        .patch(&format!("/api/v1/users/{customer}"))
        .bearer_auth(&admin.access)
        .json(&json!({ "role": 5 }))
        .send()
        .await
        .unwrap();
    assert_field_error(role, "role", "invalid_type").await;
    // JSON that does not parse stays a 400.
    let broken = app
        .patch(&format!("/api/v1/orders/{}", id(&order)))
        .bearer_auth(&admin.access)
        .header("content-type", "application/json")
        .body(r#"{"status": nul}"#)
        .send()
        .await
        .unwrap();
    assert_problem(broken, 400, "malformed_json").await;
}

#[tokio::test]
async fn a_leap_second_is_422_on_its_field() {
    let app = spawn_app_with(ANY_TIME).await;
    let service = app.create_service("Windows", 100_000).await;
    let (_, session) = app.verified_customer("alice").await;
    let admin = app.admin_session().await;

    let leap = app
        .post_order(
            &session.access,
            json!({ "serviceId": id(&service), "scheduledAt": "2026-12-31T23:59:60Z" }),
        )
        .await;
    assert_field_error(leap, "scheduledAt", "invalid_type").await;
    let order = app.order(&session.access, &id(&service)).await;
    let patch = app
        .patch_order(
            &session.access,
            &id(&order),
            json!({ "scheduledAt": "2030-06-30T23:59:60+05:00" }),
        )
        .await;
    assert_field_error(patch, "scheduledAt", "invalid_type").await;
    let query = app
        .get("/api/v1/orders?createdFrom=2026-12-31T23:59:60Z")
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_field_error(query, "createdFrom", "invalid_type").await;
}
