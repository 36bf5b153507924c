//! The OpenAPI document: the checked-in `openapi.json` is what the code
//! generates, the server serves it and its docs page, and the router and the
//! document name the same operations.

use std::collections::BTreeSet;

use serde_json::Value;
use tozalash_http::openapi::{openapi, openapi_pretty_json};

use crate::helpers::spawn_app;

fn document() -> Value {
    serde_json::to_value(openapi()).unwrap()
}

/// `(METHOD, path)` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
                .contains(&method.as_str())
            {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[test]
fn the_checked_in_openapi_json_is_what_the_code_generates() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    let generated = openapi_pretty_json();
    if checked_in != generated {
        let line = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the end".to_owned(), |n| format!("line {}", n + 1));
        panic!(
            "openapi.json differs from the document the code generates (first at {line}).\n\
             Regenerate it with:  cargo run -- openapi > openapi.json"
        );
    }
}

/// `tozalash openapi` prints the same document, and needs no configuration
/// or database (here a broken one).
#[test]
fn the_openapi_command_prints_the_document_without_any_configuration() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tozalash"))
        .arg("openapi")
        .env("APP_ENV", "production")
        .env("DATABASE_URL", "nowhere://at-all")
        .env("PORT", "not-a-port")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), openapi_pretty_json());
}

#[test]
fn every_route_of_the_router_is_documented() {
    let documented = operations(&document());
    for (method, path) in tozalash_http::routes::endpoints() {
        assert!(
            documented.contains(&(method.to_string(), path.clone())),
            "{method} {path} is routed but missing from the OpenAPI document: add a \
             #[utoipa::path] to its handler and list it in the `paths(...)` of its route \
             module's `Api`"
        );
    }
}

/// Every documented operation, called on the running server, reaches a
/// handler: never the router's 404 (no such path) or 405 (no such method).
/// Ids are sent malformed so that no handler answers a 404 of its own.
#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let doc = document();
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (method, path) in operations(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        let mut uri = path.clone();
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] == "path" {
                let name = parameter["name"].as_str().unwrap();
                let value = if name == "id" {
                    "not-an-id".to_owned()
                } else {
                    parameter["example"].as_str().unwrap().to_owned()
                };
                uri = uri.replace(&format!("{{{name}}}"), &value);
            }
        }
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = client.request(method.clone(), app.url(&uri)).send().await.unwrap();
        let status = response.status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{method} {uri} is documented but not served: {status} {}",
            response.text().await.unwrap_or_default()
        );
    }
}

#[tokio::test]
async fn the_server_serves_the_document_and_the_docs_page() {
    let app = spawn_app().await;

    let response = app.get("/api/v1/openapi.json").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served: Value = response.json().await.unwrap();
    assert_eq!(served, document());
    assert_eq!(served["openapi"], "3.1.0");

    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let redirect = client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/docs/");

    let page = app.get("/docs/").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("://"), "the page loads nothing from elsewhere: {html}");

    let initializer = app.get("/docs/swagger-initializer.js").send().await.unwrap();
    assert_eq!(initializer.status(), 200);
    assert!(initializer.text().await.unwrap().contains("/api/v1/openapi.json"));
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"] {
        let response = app.get(&format!("/docs/{asset}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
    }

    let missing = app.get("/docs/nothing.js").send().await.unwrap();
    crate::helpers::assert_problem(missing, 404, "not_found").await;
}
