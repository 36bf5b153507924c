//! The API's OpenAPI 3.1 description, generated from the code: the
//! `#[utoipa::path]` annotations beside each handler, the `ToSchema` DTOs, and
//! the conventions every operation shares, added here (problem+json errors,
//! `X-Request-Id`, the CSRF header, the security schemes). Served at
//! `/api/v1/openapi.json`, with an interactive page at `/docs` whose assets are
//! compiled into the binary (nothing is fetched from a CDN).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    Content, OpenApi as Document, Ref, RefOr, Required, Response, Schema, ServerBuilder,
};
use utoipa::{Modify, OpenApi};

use crate::error::{problem, ApiError, ProblemKind};
use crate::routes::{self, Endpoint};

pub const BEARER_AUTH: &str = "bearerAuth";
pub const COOKIE_AUTH: &str = "cookieAuth";
pub const REFRESH_COOKIE_AUTH: &str = "refreshCookie";
const REQUEST_ID: &str = "X-Request-Id";
const CSRF_PARAMETER: &str = "X-CSRF-Token";

const DESCRIPTION: &str = "\
The backend of Tozalash, a cleaning-service business: customers sign up, confirm their e-mail, \
browse the catalogue of cleaning services and place orders; administrators run the catalogue and \
the orders.

**Conventions.** JSON in camelCase; request bodies must be `application/json` and unknown fields \
are refused (422 `unknown_field`), in query strings too. Ids are 24 hexadecimal characters. Times \
are RFC 3339 in UTC with milliseconds. Money (`price`) is a whole number in the currency's \
smallest unit, from 0 to 10^12. Lists take `page` (1…1000000) and `limit` (1…100, default 20) and \
answer `{data, meta: {page, limit, total, totalPages}}`.

**Authentication.** `POST /api/v1/auth/login` sets three cookies: `access_token` (a JWT, \
HttpOnly), `refresh_token` (HttpOnly, sent only to `/api/v1/auth`) and the readable `csrf_token`. \
The access token is accepted from `Authorization: Bearer …` or the `access_token` cookie. A \
cookie-authenticated POST, PATCH or DELETE must echo the `csrf_token` cookie in the \
`X-CSRF-Token` header (403 `csrf_failed` otherwise); Bearer requests are exempt.

**Errors** are `application/problem+json` (RFC 9457) with a stable `code`; each operation lists \
the codes it can answer. Every response carries an `X-Request-Id` header, repeated in problem \
bodies as `requestId`.";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tozalash API",
        description = DESCRIPTION,
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    paths(
        routes::auth::signup,
        routes::auth::login,
        routes::auth::refresh,
        routes::auth::logout,
        routes::auth::logout_all,
        routes::auth::me,
        routes::auth::verify_email,
        routes::auth::verify_email_page,
        routes::auth::resend_verification,
        routes::auth::forgot_password,
        routes::auth::reset_password,
        routes::auth::reset_password_page,
        routes::auth::change_password,
        routes::users::list,
        routes::users::create,
        routes::users::get,
        routes::users::update,
        routes::users::delete,
        routes::services::list,
        routes::services::create,
        routes::services::get,
        routes::services::update,
        routes::services::delete,
        routes::orders::place,
        routes::orders::list,
        routes::orders::get,
        routes::orders::change,
        routes::orders::delete,
        routes::health::live,
        routes::health::ready,
        openapi_json,
        docs_redirect,
        docs_index,
        docs_asset,
        crate::metrics::scrape,
    ),
    components(schemas(crate::error::ProblemBody)),
    modifiers(&Conventions),
    tags(
        (name = "auth", description = "Signing up, logging in and out, sessions, e-mail verification and passwords."),
        (name = "users", description = "Accounts: administrators manage every account; a customer only their own."),
        (name = "services", description = "The catalogue of cleaning services: anyone browses, administrators edit."),
        (name = "orders", description = "Orders: customers book cleanings; administrators complete, cancel and delete them."),
        (name = "health", description = "Liveness and readiness probes (also under `/api/v1/health`)."),
        (name = "docs", description = "This description and its interactive page."),
    ),
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

/// What every operation shares, added after the annotations are collected.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc.servers =
            Some(vec![ServerBuilder::new().url("/").description(Some("This server")).build()]);
        mirror_health_paths(doc);

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
        if let Some(RefOr::T(Schema::Object(body))) = components.schemas.get_mut("ChangeOrderBody")
        {
            routes::orders::change_order_body_rules(body);
        }
        components.parameters.insert(REQUEST_ID.to_owned(), RefOr::T(request_id_parameter()));
        components.parameters.insert(CSRF_PARAMETER.to_owned(), RefOr::T(csrf_parameter()));
        components.headers.insert(REQUEST_ID.to_owned(), RefOr::T(request_id_header()));
        for kind in problem::ALL {
            let example =
                ExampleBuilder::new().summary(kind.title).value(Some(example_problem(kind)));
            components.examples.insert(kind.code.to_owned(), RefOr::T(example.build()));
        }

        for item in doc.paths.paths.values_mut() {
            for (method, operation) in operations_mut(item) {
                add_conventions(method, operation);
                for response in operation.responses.responses.values() {
                    let name = match response {
                        RefOr::Ref(r) => r.ref_location.strip_prefix(RESPONSES),
                        RefOr::T(_) => None,
                    };
                    if let Some(name) = name.filter(|n| !components.responses.contains_key(*n)) {
                        let response = problem_response(name)
                            .unwrap_or_else(|| panic!("no such problem response: {name}"));
                        components.responses.insert(name.to_owned(), RefOr::T(response));
                    }
                }
            }
        }
    }
}

/// The health probes answer at `/health/…` and, under the API's base path, at
/// `/api/v1/health/…`; the second copy gets its own operation ids.
fn mirror_health_paths(doc: &mut Document) {
    let mirrored: Vec<_> = doc
        .paths
        .paths
        .iter()
        .filter(|(path, _)| path.starts_with("/health/"))
        .map(|(path, item)| {
            let mut item = item.clone();
            for (_, operation) in operations_mut(&mut item) {
                operation.operation_id =
                    operation.operation_id.take().map(|id| format!("{id}UnderApi"));
            }
            (format!("{}{path}", routes::API), item)
        })
        .collect();
    doc.paths.paths.extend(mirrored);
}

fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, item.get.as_mut()),
        (HttpMethod::Post, item.post.as_mut()),
        (HttpMethod::Put, item.put.as_mut()),
        (HttpMethod::Patch, item.patch.as_mut()),
        (HttpMethod::Delete, item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|o| (method, o)))
}

fn add_conventions(method: HttpMethod, operation: &mut Operation) {
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    let cookie_authenticated = operation.security.iter().flatten().any(|requirement| {
        serde_json::to_value(requirement)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.contains_key(COOKIE_AUTH)))
            .unwrap_or(false)
    });
    let unsafe_method = !matches!(method, HttpMethod::Get | HttpMethod::Head | HttpMethod::Options);
    let has_csrf = parameters.iter().any(|p| match p {
        RefOr::T(p) => p.name == CSRF_PARAMETER,
        RefOr::Ref(r) => r.ref_location.ends_with(CSRF_PARAMETER),
    });
    if cookie_authenticated && unsafe_method && !has_csrf {
        parameters.push(RefOr::Ref(Ref::new(format!("#/components/parameters/{CSRF_PARAMETER}"))));
    }
    parameters.push(RefOr::Ref(Ref::new(format!("#/components/parameters/{REQUEST_ID}"))));

    let responses = &mut operation.responses.responses;
    if !responses.contains_key("500") {
        responses.extend(problem_responses(&[&problem::INTERNAL]));
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

fn request_id_parameter() -> utoipa::openapi::path::Parameter {
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
        .example(Some(json!("4c0d6e0a9f2b4e7c8d1a2b3c4d5e6f70")))
        .build()
}

fn csrf_parameter() -> utoipa::openapi::path::Parameter {
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

fn request_id_header() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1))))
        .description(Some(
            "The id of this request: the caller's `X-Request-Id` when it was sane, else a \
             fresh one. Problem bodies repeat it as `requestId`; logs carry it.",
        ))
        .example(Some(json!("4c0d6e0a9f2b4e7c8d1a2b3c4d5e6f70")))
        .build()
}

/// The problem+json responses for `kinds`: one per status, each a reference
/// to a shared response named by its codes (`#/components/responses/a.b`),
/// which [`Conventions`] then defines.
pub fn problem_responses(kinds: &[&ProblemKind]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for kind in kinds {
        by_status.entry(kind.status.as_u16()).or_default().push(kind.code);
    }
    by_status
        .into_iter()
        .map(|(status, mut codes)| {
            codes.sort_unstable();
            let name = format!("{RESPONSES}{}", codes.join("."));
            (status.to_string(), RefOr::Ref(Ref::new(name)))
        })
        .collect()
}

const RESPONSES: &str = "#/components/responses/";

/// The shared response `name` (codes joined by `.`, all of one status): its
/// schema narrows `Problem` to that status and those codes.
fn problem_response(name: &str) -> Option<Response> {
    let kinds: Vec<&ProblemKind> = name
        .split('.')
        .map(|code| problem::ALL.iter().copied().find(|k| k.code == code))
        .collect::<Option<_>>()?;
    let status = kinds.first()?.status.as_u16();
    let description =
        kinds.iter().map(|k| format!("`{}`: {}.", k.code, k.title)).collect::<Vec<_>>().join(" ");
    let schema: Schema = AllOfBuilder::new()
        .item(Ref::from_schema_name("Problem"))
        .item(
            ObjectBuilder::new()
                .property(
                    "status",
                    ObjectBuilder::new().schema_type(Type::Integer).enum_values(Some([status])),
                )
                .property(
                    "code",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some(kinds.iter().map(|k| k.code))),
                ),
        )
        .into();
    let examples = kinds
        .iter()
        .map(|k| (k.code, RefOr::Ref(Ref::new(format!("#/components/examples/{}", k.code)))));
    let content = Content::builder().schema(Some(schema)).examples_from_iter(examples).build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .header_ref(REQUEST_ID, Ref::new(format!("#/components/headers/{REQUEST_ID}")))
        .content("application/problem+json", content);
    if status == 401 {
        response = response.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["Bearer"])),
                ))
                .description(Some("Always `Bearer`."))
                .build(),
        );
    }
    Some(response.build())
}

fn example_problem(kind: &ProblemKind) -> serde_json::Value {
    let mut body = json!({
        "type": format!("urn:tozalash:problem:{}", kind.code),
        "title": kind.title,
        "status": kind.status.as_u16(),
        "detail": kind.title,
        "code": kind.code,
        "requestId": "4c0d6e0a9f2b4e7c8d1a2b3c4d5e6f70",
    });
    if kind.code == problem::VALIDATION_FAILED.code {
        body["detail"] = json!("One or more fields are invalid.");
        body["errors"] = json!([{
            "field": "price",
            "code": "out_of_range",
            "message": "must be a whole number from 0 to 1000000000000"
        }]);
    }
    body
}

/// Declares a type listing the problems an operation can answer, for its
/// `#[utoipa::path(responses(...))]` (500 `internal_error` is added to every
/// operation anyway).
macro_rules! problems {
    ($(#[$meta:meta])* $name:ident: $($kind:ident),+ $(,)?) => {
        $(#[$meta])*
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::openapi::problem_responses(&[$(&$crate::error::problem::$kind),+])
            }
        }
    };
}
pub(crate) use problems;

// ---------------------------------------------------------------------------
// Serving the document and the docs page.

/// The routes of this module, mounted at the root (see `routes::MOUNTS`).
pub const ENDPOINTS: &[Endpoint] = &[
    routes::endpoint!(GET "/api/v1/openapi.json" => openapi_json),
    routes::endpoint!(GET "/docs" => docs_redirect),
    routes::endpoint!(GET "/docs/" => docs_index),
    routes::endpoint!(GET "/docs/{file}" => docs_asset),
];

/// The OpenAPI document
///
/// This very document, as JSON.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "docs", operation_id = "openapiDocument",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object)),
)]
pub(crate) async fn openapi_json() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| serde_json::to_string(&openapi()).unwrap_or_default());
    HttpResponse::Ok().content_type("application/json").body(json.as_str())
}

/// The interactive documentation (redirect)
///
/// Redirects to `/docs/`.
#[utoipa::path(
    get, path = "/docs", tag = "docs", operation_id = "docsRedirect",
    responses((status = 308, description = "The docs page is at `/docs/`.",
        headers(("Location" = String, description = "`/docs/`")))),
)]
pub(crate) async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/docs/")).finish()
}

/// The interactive documentation
///
/// Swagger UI on this document, served from assets compiled into the server.
#[utoipa::path(
    get, path = "/docs/", tag = "docs", operation_id = "docsPage",
    responses((status = 200, description = "The Swagger UI page.", content_type = "text/html", body = String)),
)]
pub(crate) async fn docs_index() -> Result<HttpResponse, ApiError> {
    swagger_file("index.html")
}

/// An asset of the interactive documentation
///
/// A script, style sheet or image of the Swagger UI page.
#[utoipa::path(
    get, path = "/docs/{file}", tag = "docs", operation_id = "docsAsset",
    params(("file" = String, Path, description = "The asset's file name.", example = "swagger-ui.css")),
    responses(
        (status = 200, description = "The asset.", content_type = "*/*", body = String),
        DocsAssetProblems,
    ),
)]
pub(crate) async fn docs_asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    swagger_file(&file)
}

problems!(DocsAssetProblems: NOT_FOUND);

fn swagger_file(file: &str) -> Result<HttpResponse, ApiError> {
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        Arc::new(
            utoipa_swagger_ui::Config::new(["/api/v1/openapi.json"])
                .try_it_out_enabled(true)
                .persist_authorization(false)
                .with_credentials(true),
        )
    });
    let not_found = || ApiError::new(&problem::NOT_FOUND, "There is nothing at this address.");
    let file = utoipa_swagger_ui::serve(file, Arc::clone(config))
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(not_found)?;
    let mut response = HttpResponse::Ok();
    response.content_type(file.content_type);
    if file.gzpipped {
        response.insert_header((header::CONTENT_ENCODING, "gzip"));
    }
    Ok(response.body(file.bytes.into_owned()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use actix_web::test::{call_service, init_service, TestRequest};
    use actix_web::App;

    use super::*;

    fn documented() -> BTreeSet<(String, String)> {
        let doc = serde_json::to_value(openapi()).expect("serializes");
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
        let doc = serde_json::to_value(openapi()).expect("serializes");
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

    /// Each code of the table is answered by some operation, except the
    /// router's 405 and the generic `conflict` no use case raises today.
    #[test]
    fn every_problem_code_is_documented_by_some_operation() {
        let doc = serde_json::to_value(openapi()).expect("serializes");
        let answered: BTreeSet<&str> = doc["components"]["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .flat_map(|name| name.split('.'))
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
