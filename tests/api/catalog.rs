//! The catalogue's happy paths, end to end.

use serde_json::{json, Value};

use crate::helpers::{assert_field_error, assert_problem, spawn_app, TestApp};

#[tokio::test]
async fn an_admin_creates_a_service_and_anyone_reads_it_back() {
    let app = spawn_app().await;

    let response = app
        .post("/api/v1/services")
        .bearer_auth(app.admin_token().await)
        .json(&json!({ "name": "  Deep clean  ", "description": "Whole flat", "price": 450000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();

    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 24);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(location, format!("/api/v1/services/{id}"));
    assert_eq!(created["name"], "Deep clean", "the name is trimmed");
    assert_eq!(created["description"], "Whole flat");
    assert_eq!(created["price"], 450000);
    assert_eq!(created["createdAt"], created["updatedAt"]);
    assert_eq!((&created["archived"], &created["archivedAt"]), (&json!(false), &Value::Null));
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        8,
        "exactly id,name,description,price,createdAt,updatedAt,archived,archivedAt: {created}"
    );

    let read: Value = app.get(&location).send().await.unwrap().json().await.unwrap();
    assert_eq!(read, created);
}

#[tokio::test]
async fn timestamps_are_rfc3339_utc_with_milliseconds() {
    let app = spawn_app().await;
    let created = app.create_service("Windows", 1000).await;
    let created_at = created["createdAt"].as_str().unwrap();
    // 2026-11-27T03:02:09.123Z
    assert_eq!(created_at.len(), 24, "{created_at}");
    assert!(created_at.ends_with('Z'));
    assert!(chrono::DateTime::parse_from_rfc3339(created_at).is_ok());
}

#[tokio::test]
async fn the_list_pages_searches_and_sorts() {
    let app = spawn_app().await;
    for (name, price) in
        [("Windows", 300), ("deep clean", 100), ("Carpets", 200), ("Deep fridge", 400)]
    {
        app.create_service(name, price).await;
    }

    let page: Value =
        app.get("/api/v1/services?page=1&limit=3").send().await.unwrap().json().await.unwrap();
    assert_eq!(
        page["meta"],
        json!({ "page": 1, "limit": 3, "total": 4, "totalPages": 2, "totalCapped": false })
    );
    let names: Vec<&str> =
        page["data"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Carpets", "deep clean", "Deep fridge"],
        "default order is by name, case-insensitively"
    );

    let page: Value =
        app.get("/api/v1/services?page=2&limit=3").send().await.unwrap().json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);

    let found: Value =
        app.get("/api/v1/services?q=DEEP&sort=-price").send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> =
        found["data"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Deep fridge", "deep clean"]);
    assert_eq!(found["meta"]["total"], 2);

    let cheapest: Value =
        app.get("/api/v1/services?sort=price&limit=1").send().await.unwrap().json().await.unwrap();
    assert_eq!(cheapest["data"][0]["name"], "deep clean");
    let newest: Value = app
        .get("/api/v1/services?sort=-createdAt&limit=1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(newest["data"][0]["name"], "Deep fridge");
}

#[tokio::test]
async fn an_empty_catalogue_lists_no_pages() {
    let app = spawn_app().await;
    let page: Value = app.get("/api/v1/services").send().await.unwrap().json().await.unwrap();
    assert_eq!(
        page,
        json!({
            "data": [],
            "meta": { "page": 1, "limit": 20, "total": 0, "totalPages": 0, "totalCapped": false }
        })
    );
}

#[tokio::test]
async fn an_admin_patches_only_the_given_fields() {
    let app = spawn_app().await;
    let created = app.create_service("Windows", 1000).await;
    let path = format!("/api/v1/services/{}", created["id"].as_str().unwrap());

    let response = app
        .patch(&path)
        .bearer_auth(app.admin_token().await)
        .json(&json!({ "price": 1500 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();

    assert_eq!(patched["price"], 1500);
    assert_eq!(patched["name"], "Windows");
    assert_eq!(patched["description"], created["description"]);
    assert_eq!(patched["createdAt"], created["createdAt"]);
    assert!(patched["updatedAt"].as_str() >= created["updatedAt"].as_str());
    let read: Value = app.get(&path).send().await.unwrap().json().await.unwrap();
    assert_eq!(read, patched);
}

#[tokio::test]
async fn an_empty_patch_changes_nothing() {
    let app = spawn_app().await;
    let created = app.create_service("Windows", 1000).await;
    let path = format!("/api/v1/services/{}", created["id"].as_str().unwrap());

    let response = app
        .patch(&path)
        .bearer_auth(app.admin_token().await)
        .json(&json!({}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), created);
}

#[tokio::test]
async fn an_admin_deletes_a_service_and_it_is_gone() {
    let app = spawn_app().await;
    let created = app.create_service("Windows", 1000).await;
    let path = format!("/api/v1/services/{}", created["id"].as_str().unwrap());

    let response = app.delete(&path).bearer_auth(app.admin_token().await).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());

    assert_problem(app.get(&path).send().await.unwrap(), 404, "not_found").await;
    let again = app.delete(&path).bearer_auth(app.admin_token().await).send().await.unwrap();
    assert_problem(again, 404, "not_found").await;
}

#[tokio::test]
async fn a_well_formed_id_that_names_nothing_is_not_found() {
    let app = spawn_app().await;
    let path = "/api/v1/services/65a1b2c3d4e5f60718293a4b";
    assert_problem(app.get(path).send().await.unwrap(), 404, "not_found").await;
    let patch = app
        .patch(path)
        .bearer_auth(app.admin_token().await)
        .json(&json!({ "price": 1 }))
        .send()
        .await
        .unwrap();
    assert_problem(patch, 404, "not_found").await;
}

async fn create_raw(app: &TestApp, name: &str) -> reqwest::Response {
    app.post("/api/v1/services")
        .bearer_auth(app.admin_token().await)
        .json(&json!({ "name": name, "price": 1000 }))
        .send()
        .await
        .unwrap()
}

async fn rename(app: &TestApp, id: &str, name: &str) -> reqwest::Response {
    app.patch(&format!("/api/v1/services/{id}"))
        .bearer_auth(app.admin_token().await)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap()
}

fn names(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_name_taken_in_another_case_or_spacing_is_a_conflict_on_create() {
    let app = spawn_app().await;
    app.create_service("Umumiy tozalash", 1000).await;

    for taken in ["Umumiy tozalash", "UMUMIY TOZALASH", "  umumiy   tozalash  "] {
        let body = assert_problem(create_raw(&app, taken).await, 409, "service_name_taken").await;
        assert!(body["detail"].as_str().unwrap().contains("name"), "{body}");
    }
    let page: Value = app.get("/api/v1/services").send().await.unwrap().json().await.unwrap();
    assert_eq!(page["meta"]["total"], 1);
}

#[tokio::test]
async fn a_rename_onto_a_taken_name_is_a_conflict_and_changes_nothing() {
    let app = spawn_app().await;
    app.create_service("Umumiy tozalash", 1000).await;
    let other = app.create_service("Deraza yuvish", 2000).await;
    let id = other["id"].as_str().unwrap();

    for taken in ["umumiy TOZALASH", " Umumiy tozalash "] {
        assert_problem(rename(&app, id, taken).await, 409, "service_name_taken").await;
    }
    let read: Value =
        app.get(&format!("/api/v1/services/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(read, other);
    // Its own name in another case is no conflict.
    let response = rename(&app, id, "DERAZA YUVISH").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_name_of_only_invisible_characters_is_refused() {
    let app = spawn_app().await;
    for blank in ["\u{200C}\u{200D}", " \u{3164} ", "\u{2800}"] {
        assert_field_error(create_raw(&app, blank).await, "name", "required").await;
    }
    assert_field_error(create_raw(&app, "\u{200B}").await, "name", "invalid_characters").await;
    let created = app.create_service("Windows", 1000).await;
    let id = created["id"].as_str().unwrap();
    assert_field_error(rename(&app, id, "\u{200D}").await, "name", "required").await;
}

#[tokio::test]
async fn delete_archives_and_an_admin_lists_and_restores_the_service() {
    let app = spawn_app().await;
    let kept = app.create_service("Deraza yuvish", 2000).await;
    let created = app.create_service("Gilam yuvish", 1000).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/services/{id}");
    let admin = app.admin_token().await;

    let response = app.delete(&path).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status(), 204);

    // Gone from the public catalogue, exactly as a deletion was.
    assert_problem(app.get(&path).send().await.unwrap(), 404, "not_found").await;
    let public: Value = app.get("/api/v1/services").send().await.unwrap().json().await.unwrap();
    assert_eq!(names(&public), ["Deraza yuvish"]);
    let again = app.delete(&path).bearer_auth(&admin).send().await.unwrap();
    assert_problem(again, 404, "not_found").await;

    // An administrator lists the archive.
    let archive: Value = app.get_json(&admin, "/api/v1/services?archived=true&q=gilam").await;
    assert_eq!(names(&archive), ["Gilam yuvish"]);
    assert_eq!(archive["meta"]["total"], 1);
    assert_eq!(archive["data"][0]["archived"], true);
    assert!(archive["data"][0]["archivedAt"].is_string());

    // The archived name stays taken.
    assert_problem(create_raw(&app, "GILAM YUVISH").await, 409, "service_name_taken").await;

    // And restores it.
    let response = app
        .patch(&path)
        .bearer_auth(&admin)
        .json(&json!({ "archived": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let restored: Value = response.json().await.unwrap();
    assert_eq!((&restored["archived"], &restored["archivedAt"]), (&json!(false), &Value::Null));
    let read: Value = app.get(&path).send().await.unwrap().json().await.unwrap();
    assert_eq!(read, restored);
    let public: Value = app.get("/api/v1/services").send().await.unwrap().json().await.unwrap();
    assert_eq!(names(&public), ["Deraza yuvish", "Gilam yuvish"]);
    let archive: Value = app.get_json(&admin, "/api/v1/services?archived=true").await;
    assert_eq!(archive["meta"]["total"], 0);
    assert_eq!(kept["archived"], false);
}

#[tokio::test]
async fn only_an_admin_lists_the_archive() {
    let app = spawn_app().await;
    let anonymous = app.get("/api/v1/services?archived=true").send().await.unwrap();
    assert_problem(anonymous, 401, "unauthenticated").await;
    let customer = app
        .get("/api/v1/services?archived=true")
        .bearer_auth(app.user_token().await)
        .send()
        .await
        .unwrap();
    assert_problem(customer, 403, "forbidden").await;
    // `archived=false` is the public catalogue, for anyone.
    let public = app.get("/api/v1/services?archived=false").send().await.unwrap();
    assert_eq!(public.status(), 200);
}

#[tokio::test]
async fn an_archived_service_cannot_be_ordered_and_orders_keep_their_snapshot() {
    let app = spawn_app().await;
    let service = app.create_service("Gilam yuvish", 1000).await;
    let id = service["id"].as_str().unwrap();
    let (_, customer) = app.verified_customer("dilnoza").await;
    let order = app.order(&customer.access, id).await;

    let admin = app.admin_token().await;
    let response =
        app.delete(&format!("/api/v1/services/{id}")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(response.status(), 204);

    let refused = app.post_order(&customer.access, json!({ "serviceId": id })).await;
    assert_problem(refused, 422, "service_not_found").await;
    let kept: Value = app
        .get_json(&customer.access, &format!("/api/v1/orders/{}", order["id"].as_str().unwrap()))
        .await;
    assert_eq!(kept["serviceName"], "Gilam yuvish");
    assert_eq!(kept["price"], 1000);
}

#[tokio::test]
async fn search_finds_names_across_alphabets_and_apostrophes() {
    let app = spawn_app().await;
    for (name, price) in [
        ("Taʼmirdan keyingi tozalash", 1),
        ("Gʻisht devorlarni yuvish", 2),
        ("Gilam yuvish", 3),
        ("Шкаф ичини тозалаш", 4),
        ("Deraza yuvish", 5),
    ] {
        app.create_service(name, price).await;
    }

    let finds = [
        ("ta'mir", vec!["Taʼmirdan keyingi tozalash"]),
        ("ta%E2%80%99mir", vec!["Taʼmirdan keyingi tozalash"]), // ta’mir
        ("ta%E2%80%98mir", vec!["Taʼmirdan keyingi tozalash"]), // ta‘mir
        ("g'isht", vec!["Gʻisht devorlarni yuvish"]),
        ("%D0%B3%D0%B8%D0%BB%D0%B0%D0%BC", vec!["Gilam yuvish"]), // гилам
        ("shkaf", vec!["Шкаф ичини тозалаш"]),
        ("SHKAF", vec!["Шкаф ичини тозалаш"]),
    ];
    for (q, expected) in finds {
        let page: Value =
            app.get(&format!("/api/v1/services?q={q}")).send().await.unwrap().json().await.unwrap();
        assert_eq!(names(&page), expected, "q={q}");
        assert_eq!(page["meta"]["total"], expected.len(), "q={q}");
    }
}

#[tokio::test]
async fn no_list_pages_past_the_first_ten_thousand_items() {
    let app = spawn_app().await;
    let last = app.get("/api/v1/services?page=500&limit=20").send().await.unwrap();
    assert_eq!(last.status(), 200, "items 9,981 to 10,000 may still be asked for");
    for path in ["/api/v1/services?page=501&limit=20", "/api/v1/services?page=101&limit=100"] {
        let response = app.get(path).send().await.unwrap();
        assert_field_error(response, "page", "page_too_deep").await;
    }
    let admin = app.admin_token().await;
    let deep = |path: &'static str| app.get(path).bearer_auth(&admin).send();
    let response = deep("/api/v1/orders?page=10001&limit=1").await.unwrap();
    assert_field_error(response, "page", "page_too_deep").await;
    assert_eq!(deep("/api/v1/users?page=1000&limit=10").await.unwrap().status(), 200);
    let response = deep("/api/v1/users?page=1001&limit=10").await.unwrap();
    assert_field_error(response, "page", "page_too_deep").await;
}

/// The catalogue cache's bound (docs/operations.md): a change shows at once on
/// the instance that made it, and within one second on any other.
#[tokio::test]
async fn a_catalogue_change_shows_at_once_here_and_within_a_second_on_another_instance() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let created = app.create_service("Windows", 1000).await;
    let path = format!("/api/v1/services/{}", created["id"].as_str().unwrap());
    let read = |app: &TestApp, path: String| {
        let request = app.get(&path);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // Both instances have read (and cached) the service and the list.
    for instance in [&app, &other] {
        assert_eq!(read(instance, path.clone()).await["price"], 1000);
        assert_eq!(read(instance, "/api/v1/services".into()).await["data"][0]["price"], 1000);
    }

    let response = app
        .patch(&path)
        .bearer_auth(app.admin_token().await)
        .json(&json!({ "price": 2000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let changed_at = std::time::Instant::now();

    assert_eq!(read(&app, path.clone()).await["price"], 2000, "at once where it was made");
    assert_eq!(read(&app, "/api/v1/services".into()).await["data"][0]["price"], 2000);
    loop {
        let one = read(&other, path.clone()).await["price"].clone();
        let list = read(&other, "/api/v1/services".into()).await["data"][0]["price"].clone();
        if one == 2000 && list == 2000 {
            break;
        }
        // One second, plus what a loaded test machine may take to answer.
        assert!(changed_at.elapsed() < std::time::Duration::from_millis(2000), "still stale");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Orders read the catalogue through the same cache, yet never store a stale
/// price or order an archived service: on an instance whose cached service is
/// a change behind, the write finds the snapshot outdated and the order takes
/// the name and price again from storage. Each round changes the price on one
/// instance and orders at once on the other; the round counts once the other
/// still serves the old price after the order (so its cache was stale when
/// the order read it).
#[tokio::test]
async fn an_order_on_an_instance_with_a_stale_catalogue_is_at_the_current_price() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let admin = app.admin_token().await;
    let service = app.create_service("Windows", 2000).await;
    let service_id = service["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/services/{service_id}");
    let (_, customer) = other.verified_customer("zarina").await;
    let price_on = |instance: &TestApp| {
        let request = instance.get(&path);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap()["price"].clone() }
    };
    let change = |body: Value| app.patch(&path).bearer_auth(&admin).json(&body).send();

    let mut stale_rounds = 0;
    for price in 2001..2011 {
        assert_eq!(price_on(&other).await, price - 1, "cached at the price before");
        assert_eq!(change(json!({ "price": price })).await.unwrap().status(), 200);
        let order = other.order(&customer.access, &service_id).await;
        assert_eq!(order["price"], price, "never the cached price");
        if price_on(&other).await == price - 1 {
            stale_rounds += 1;
            break;
        }
        // The cache's bound passed before the order (a slow machine): again.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    assert_eq!(stale_rounds, 1, "no round ordered while the catalogue was stale");

    // Archived on one instance while the other still has it cached (read
    // just now): not orderable there.
    assert!(price_on(&other).await.is_number());
    let archived = app.delete(&path).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(archived.status(), 204);
    let refused = other.post_order(&customer.access, json!({ "serviceId": service_id })).await;
    let body = assert_problem(refused, 422, "service_not_found").await;
    assert_eq!(body["errors"][0]["field"], "serviceId");
    let orders: Value = other.get_json(&customer.access, "/api/v1/orders").await;
    assert_eq!(orders["meta"]["total"], 1, "the archived service was not ordered");
}
