//! The catalogue's happy paths, end to end.

use serde_json::{json, Value};

use crate::helpers::{assert_problem, spawn_app};

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
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 6, "exactly id,name,description,price,createdAt,updatedAt: {created}");

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
    assert_eq!(page["meta"], json!({ "page": 1, "limit": 3, "total": 4, "totalPages": 2 }));
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
        json!({ "data": [], "meta": { "page": 1, "limit": 20, "total": 0, "totalPages": 0 } })
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
