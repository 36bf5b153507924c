//! The routes of the API, mounted under `/api/v1` (health also at `/health`).
//!
//! Every route is one [`Endpoint`] in a module's `ENDPOINTS` table, and each
//! module describes its routes in its own part of the OpenAPI document (its
//! `Api`). The router is built from these tables only ([`configure`]), the
//! document nests the parts at the same [`MOUNTS`], and a test checks that each
//! route is in the document and each documented operation is routed, so a
//! route cannot be added without being documented.

use actix_web::http::header::{HeaderValue, ALLOW};
use actix_web::http::Method;
use actix_web::{guard, web, HttpResponse};

use crate::error::{problem, ApiError};

pub mod auth;
pub mod docs;
pub mod health;
pub mod metrics;
pub mod orders;
pub mod services;
pub mod users;
pub mod webapp;

/// The API's base path.
pub const API: &str = "/api/v1";
/// Where the health probes answer, besides [`API_HEALTH`].
pub const HEALTH: &str = "/health";
/// The health probes under the API's base path.
pub const API_HEALTH: &str = "/api/v1/health";
/// The tables whose paths are already whole (the docs, the metrics).
pub const ROOT: &str = "";

/// One route: a method, a path relative to where its table is mounted, and
/// what handles it. Write one with [`endpoint!`].
#[derive(Debug)]
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    /// Attaches the handler to a route already guarded by `method`.
    pub route: fn(actix_web::Route) -> actix_web::Route,
}

/// `endpoint!(GET "/services/{id}" => get)`.
macro_rules! endpoint {
    ($method:ident $path:literal => $handler:path) => {
        $crate::routes::Endpoint {
            method: ::actix_web::http::Method::$method,
            path: $path,
            route: |route| route.to($handler),
        }
    };
}
pub(crate) use endpoint;

/// Where each table is mounted. The health probes answer at both places.
pub const MOUNTS: &[(&str, &[Endpoint])] = &[
    (API, auth::ENDPOINTS),
    (API, orders::ENDPOINTS),
    (API, services::ENDPOINTS),
    (API, users::ENDPOINTS),
    (API_HEALTH, health::ENDPOINTS),
    (HEALTH, health::ENDPOINTS),
    (ROOT, docs::ENDPOINTS),
    (ROOT, metrics::ENDPOINTS),
    (ROOT, webapp::ENDPOINTS),
];

/// Every route the application serves: its method and full path pattern (as
/// the OpenAPI document spells it).
pub fn endpoints() -> impl Iterator<Item = (Method, String)> {
    MOUNTS.iter().flat_map(|(prefix, endpoints)| {
        endpoints.iter().map(move |e| (e.method.clone(), format!("{prefix}{}", e.path)))
    })
}

/// The guard of an endpoint's route: its method, and for a GET also HEAD
/// (RFC 9110 §9.3.2: the same status and headers, no body). The HTTP/1
/// server leaves out the body of a HEAD response and keeps the
/// `Content-Length` the GET would have sent.
fn route_for(method: &Method) -> actix_web::Route {
    if *method == Method::GET {
        web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
    } else {
        web::route().method(method.clone())
    }
}

/// Registers every endpoint: one resource per path, answering 405 problem+json
/// (with `Allow`) to the methods it does not take. Every GET answers HEAD too.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut resources: Vec<(String, Vec<&Endpoint>)> = Vec::new();
    for (prefix, endpoints) in MOUNTS {
        for endpoint in *endpoints {
            let path = format!("{prefix}{}", endpoint.path);
            match resources.iter_mut().find(|(p, _)| *p == path) {
                Some((_, routes)) => routes.push(endpoint),
                None => resources.push((path, vec![endpoint])),
            }
        }
    }
    for (path, endpoints) in resources {
        let mut allow = endpoints.iter().map(|e| e.method.as_str()).collect::<Vec<_>>();
        if let Some(get) = allow.iter().position(|m| *m == "GET") {
            allow.insert(get + 1, "HEAD");
        }
        let allow = allow.join(", ");
        let resource = endpoints.into_iter().fold(web::resource(path), |resource, e| {
            resource.route((e.route)(route_for(&e.method)))
        });
        let not_allowed = move || not_allowed(allow.clone());
        cfg.service(
            resource
                .default_service(web::to(not_allowed))
                .wrap(actix_web::middleware::from_fn(crate::panics::catch_panics)),
        );
    }
}

/// Any path we do not serve.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(&problem::NOT_FOUND, "There is nothing at this address."))
}

/// A path we serve, with a method it does not take.
pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(&problem::METHOD_NOT_ALLOWED, "This address does not take this method."))
}

/// [`method_not_allowed`] with `Allow` listing the methods the path does take
/// (RFC 9110). The error stays attached to the response, so the problem
/// middleware renders it like any other, keeping the header.
async fn not_allowed(allow: String) -> HttpResponse {
    let error =
        ApiError::new(&problem::METHOD_NOT_ALLOWED, "This address does not take this method.");
    let mut response = HttpResponse::from_error(error);
    if let Ok(allow) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(ALLOW, allow);
    }
    response
}

/// Serializes a domain timestamp as the API shows it: RFC 3339, UTC, milliseconds.
pub(crate) fn timestamp(t: &tozalash_domain::Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use actix_web::test::{call_service, init_service, read_body_json, TestRequest};
    use actix_web::App;

    use super::*;

    #[actix_web::test]
    async fn a_method_a_path_does_not_take_is_405_naming_the_ones_it_does() {
        let app = init_service(App::new().configure(configure)).await;
        let request = TestRequest::put().uri("/api/v1/services/65f1c0ffee0000000000abcd");
        let response = call_service(&app, request.to_request()).await;
        assert_eq!(response.status(), 405);
        assert_eq!(
            response.headers().get(ALLOW).map(HeaderValue::as_bytes),
            Some(&b"GET, HEAD, PATCH, DELETE"[..])
        );
        let body: serde_json::Value = read_body_json(response).await;
        assert_eq!(body["code"], "method_not_allowed");
    }
}
