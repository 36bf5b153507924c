//! The API's OpenAPI 3.1 description, generated from the code. Each route
//! module describes its operations (`routes::*::Api`); this root nests them at
//! the places the router mounts them and adds what every operation shares:
//! the `X-Request-Id` header, the CSRF header of cookie-authenticated writes,
//! the 500 problem, and the security schemes. Served by `routes::docs`.

use std::sync::OnceLock;

use serde_json::json;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Required, ServerBuilder};
use utoipa::{Modify, OpenApi as _};

use crate::error::responses::{self, REQUEST_ID};
use crate::error::{problem, EXAMPLE_REQUEST_ID};
use crate::routes::{self, API, API_HEALTH, HEALTH, ROOT};

pub const BEARER_AUTH: &str = "bearerAuth";
pub const COOKIE_AUTH: &str = "cookieAuth";
pub const REFRESH_COOKIE_AUTH: &str = "refreshCookie";
const CSRF_PARAMETER: &str = "X-CSRF-Token";

const DESCRIPTION: &str = "\
The backend of Tozalash, a cleaning-service business: customers sign up, confirm their e-mail, \
browse the catalogue of cleaning services and place orders; administrators run the catalogue and \
the orders.

**Conventions.** JSON in camelCase; request bodies must be `application/json` and unknown fields \
are refused (422 `unknown_field`), in query strings too. Ids are 24 hexadecimal characters. Times \
are RFC 3339 in UTC with milliseconds. Money (`price`) is a whole number in the currency's \
smallest unit, from 0 to 10^12. Lists take `page` (1…1000000) and `limit` (1…100, default 20) and \
answer `{data, meta: {page, limit, total, totalPages, totalCapped}}`; totals stop counting at \
10,000 (`totalCapped: true`) and a page past the first 10,000 items is 422 `page_too_deep`.

**Authentication.** `POST /api/v1/auth/login` sets three cookies: `access_token` (a JWT, \
HttpOnly), `refresh_token` (HttpOnly, sent only to `/api/v1/auth`) and the readable `csrf_token`. \
The access token is accepted from `Authorization: Bearer …` or the `access_token` cookie. A \
cookie-authenticated POST, PATCH or DELETE must echo the `csrf_token` cookie in the \
`X-CSRF-Token` header (403 `csrf_failed` otherwise); Bearer requests are exempt. A page on another host, which cannot read the cookie, gets the token in the `X-CSRF-Token` response header of login, refresh and `GET /auth/me`, and from `GET /api/v1/auth/csrf` after a reload.

**Concurrency.** A single service, user or order is answered with a strong `ETag` (its version, \
raised by every change). Send it in `If-Match` with a PATCH to change the record only if nobody \
changed it since (else 412 `precondition_failed`; without `If-Match` the PATCH applies \
unconditionally), or in `If-None-Match` with a GET to get 304 when it is unchanged.

**Errors** are `application/problem+json` (RFC 9457) with a stable `code`; each operation lists \
the codes it can answer. Every response carries an `X-Request-Id` header, repeated in problem \
bodies as `requestId`.";

/// The parts, in the order the document lists them, each where
/// `routes::MOUNTS` mounts its routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Tozalash API",
        description = DESCRIPTION,
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    nest(
        (path = API, api = routes::auth::Api),
        (path = API, api = routes::users::Api),
        (path = API, api = routes::services::Api),
        (path = API, api = routes::orders::Api),
        (path = HEALTH, api = routes::health::Api),
        (path = ROOT, api = routes::docs::Api),
        (path = ROOT, api = routes::metrics::Api),
        (path = ROOT, api = routes::webapp::Api),
        (path = API_HEALTH, api = routes::health::UnderApi),
    ),
    modifiers(&Conventions),
)]
struct ApiDoc;

/// The whole OpenAPI document of the API.
pub fn openapi() -> Document {
    ApiDoc::openapi()
}

/// The document as pretty JSON, as `tozalash openapi` prints it and as the
/// checked-in `openapi.json` holds it (with a final newline).
pub fn openapi_pretty_json() -> String {
    let mut json = serde_json::to_string_pretty(&openapi()).unwrap_or_default();
    json.push('\n');
    json
}

/// The document as the server sends it: compact JSON, built on the first call.
pub fn compact_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| serde_json::to_string(&openapi()).unwrap_or_default())
}

/// What every operation shares, added once the parts are nested.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.servers =
            Some(vec![ServerBuilder::new().url("/").description(Some("This server")).build()]);
        responses::define(doc, &[&problem::INTERNAL, &problem::RATE_LIMITED]);
        crate::conditional::define(doc);

        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_AUTH,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access token (JWT, HS256, ~15 minutes) in `Authorization: Bearer …`. \
                         Take it from the `access_token` cookie that login and refresh set.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            COOKIE_AUTH,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "access_token",
                "The `access_token` cookie that login and refresh set. Unsafe requests \
                 (POST, PATCH, DELETE) must also send `X-CSRF-Token`.",
            ))),
        );
        components.add_security_scheme(
            REFRESH_COOKIE_AUTH,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "refresh_token",
                "The opaque `refresh_token` cookie (HttpOnly, SameSite=Strict, \
                 Path=/api/v1/auth) that login and refresh set; rotated on every refresh.",
            ))),
        );
        components.parameters.insert(REQUEST_ID.to_owned(), RefOr::T(request_id_parameter()));
        components.parameters.insert(CSRF_PARAMETER.to_owned(), RefOr::T(csrf_parameter()));
        components.headers.insert(REQUEST_ID.to_owned(), RefOr::T(request_id_header()));
        components
            .examples
            .extend(responses::examples().map(|(code, example)| (code, RefOr::T(example))));

        for item in doc.paths.paths.values_mut() {
            add_csrf_parameter(item);
            for operation in operations_mut(item) {
                add_conventions(operation);
            }
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete]
        .into_iter()
        .filter_map(Option::as_mut)
}

/// A cookie-authenticated POST, PATCH or DELETE needs `X-CSRF-Token`, which
/// an operation may already declare (refresh does, being cookie-only).
fn add_csrf_parameter(item: &mut PathItem) {
    let cookie_auth = SecurityRequirement::new(COOKIE_AUTH, [] as [&str; 0]);
    for operation in [&mut item.post, &mut item.put, &mut item.patch, &mut item.delete]
        .into_iter()
        .filter_map(Option::as_mut)
    {
        let cookie_authenticated = operation.security.iter().flatten().any(|r| *r == cookie_auth);
        let parameters = operation.parameters.get_or_insert_with(Vec::new);
        let has_csrf = parameters.iter().any(|p| match p {
            RefOr::T(p) => p.name == CSRF_PARAMETER,
            RefOr::Ref(_) => false,
        });
        if cookie_authenticated && !has_csrf {
            let location = format!("#/components/parameters/{CSRF_PARAMETER}");
            parameters.push(RefOr::Ref(Ref::new(location)));
        }
    }
}

/// Every operation takes `X-Request-Id`, may answer 500 and 429 (every
/// request counts against `ANY_IP`), and every answer carries
/// `X-Request-Id`.
fn add_conventions(operation: &mut Operation) {
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    parameters.push(RefOr::Ref(Ref::new(format!("#/components/parameters/{REQUEST_ID}"))));

    let responses = &mut operation.responses.responses;
    if !responses.contains_key("500") {
        responses.extend(responses::references(&[&problem::INTERNAL]));
    }
    if !responses.contains_key("429") {
        responses.extend(responses::references(&[&problem::RATE_LIMITED]));
    }
    for response in responses.values_mut() {
        if let RefOr::T(response) = response {
            response.headers.insert(
                REQUEST_ID.to_owned(),
                RefOr::Ref(Ref::new(format!("#/components/headers/{REQUEST_ID}"))),
            );
        }
    }
}

fn request_id_parameter() -> Parameter {
    ParameterBuilder::new()
        .name(REQUEST_ID)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Your id for this request. It is reused (in the response header, problem bodies \
             and logs) when it is 1 to 64 letters, digits, `-`, `_` or `.`; otherwise a fresh \
             one is made.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .example(Some(json!(EXAMPLE_REQUEST_ID)))
        .build()
}

fn csrf_parameter() -> Parameter {
    ParameterBuilder::new()
        .name(CSRF_PARAMETER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The value of the readable `csrf_token` cookie. Required when the request is \
             authenticated by the `access_token` cookie (else 403 `csrf_failed`); not needed \
             with `Authorization: Bearer`.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

fn request_id_header() -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1))))
        .description(Some(
            "The id of this request: the caller's `X-Request-Id` when it was sane, else a \
             fresh one. Problem bodies repeat it as `requestId`; logs carry it.",
        ))
        .example(Some(json!(EXAMPLE_REQUEST_ID)))
        .build()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use actix_web::test::{call_service, init_service, TestRequest};
    use actix_web::{web, App, HttpResponse};
    use serde_json::Value;

    use super::*;

    fn document() -> Value {
        serde_json::to_value(openapi()).expect("serializes")
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc = document();
        let mut set = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    set.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        set
    }

    #[test]
    fn every_route_is_documented_and_every_documented_operation_is_routed() {
        let routed: BTreeSet<(String, String)> =
            routes::endpoints().map(|(m, p)| (m.to_string(), p)).collect();
        let documented = documented();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from the OpenAPI document: {undocumented:?}"
        );
        assert!(unrouted.is_empty(), "documented operations with no route: {unrouted:?}");
    }

    /// Drives the real router (without state, so handlers may fail): every
    /// documented operation must reach a handler, never the router's "no
    /// such path" (here a 418) nor a resource's "no such method" (405).
    #[actix_web::test]
    async fn every_documented_operation_reaches_a_handler() {
        let app = init_service(
            App::new()
                .configure(routes::configure)
                .default_service(web::to(HttpResponse::ImATeapot)),
        )
        .await;
        for (method, path) in documented() {
            let uri =
                path.replace("{id}", "65f1c0ffee0000000000abcd").replace("{file}", "index.css");
            let method = actix_web::http::Method::from_bytes(method.as_bytes()).expect("method");
            let request = TestRequest::default().method(method.clone()).uri(&uri).to_request();
            let response = call_service(&app, request).await;
            let status = response.status().as_u16();
            assert!(status != 418 && status != 405, "{method} {uri} is not routed: {status}");
        }
    }

    #[test]
    fn every_operation_has_an_id_a_tag_and_documents_its_problems() {
        let doc = document();
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("item") {
                let id = operation["operationId"].as_str().expect("operationId");
                assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
                assert!(
                    operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                    "{method} {path}"
                );
                assert!(operation["responses"]["500"].is_object(), "{method} {path}");
            }
        }
    }

    /// A problem set named in a `#[utoipa::path]` but left out of its module's
    /// `modifiers(...)` would leave a reference to nothing.
    #[test]
    fn every_reference_names_a_component() {
        fn walk(value: &Value, doc: &Value, dangling: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(location)) = map.get("$ref") {
                        let target = location
                            .strip_prefix('#')
                            .and_then(|pointer| doc.pointer(pointer))
                            .filter(|target| !target.is_null());
                        if target.is_none() {
                            dangling.push(location.clone());
                        }
                    }
                    map.values().for_each(|v| walk(v, doc, dangling));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, doc, dangling)),
                _ => {}
            }
        }
        let doc = document();
        let mut dangling = Vec::new();
        walk(&doc, &doc, &mut dangling);
        assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
    }

    /// Each code of the table is answered by some operation, except the
    /// router's 405 and the generic `conflict` no use case raises today.
    #[test]
    fn every_problem_code_is_documented_by_some_operation() {
        let doc = document();
        let answered: BTreeSet<&str> = doc["components"]["responses"]
            .as_object()
            .expect("responses")
            .values()
            .filter_map(|response| {
                response["content"]["application/problem+json"]["examples"].as_object()
            })
            .flat_map(|examples| examples.keys().map(String::as_str))
            .collect();
        for kind in problem::ALL {
            let exempt = [problem::METHOD_NOT_ALLOWED.code, problem::CONFLICT.code];
            assert!(
                answered.contains(kind.code) || exempt.contains(&kind.code),
                "{} is never documented",
                kind.code
            );
        }
    }
}
