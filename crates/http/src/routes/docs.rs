//! The API's description: the OpenAPI document at `/api/v1/openapi.json`, and
//! an interactive page on it at `/docs` whose assets are compiled into the
//! binary (nothing is fetched from a CDN).

use std::sync::{Arc, OnceLock};

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use utoipa::OpenApi;

use super::{endpoint, Endpoint};
use crate::error::responses::problems;
use crate::error::{problem, ApiError};

/// Mounted at the root.
pub const ENDPOINTS: &[Endpoint] = &[
    endpoint!(GET "/api/v1/openapi.json" => openapi_json),
    endpoint!(GET "/docs" => docs_redirect),
    endpoint!(GET "/docs/" => docs_index),
    endpoint!(GET "/docs/{file}" => docs_asset),
];

/// The docs' part of the OpenAPI document, mounted like [`ENDPOINTS`].
#[derive(Debug, OpenApi)]
#[openapi(
    paths(openapi_json, docs_redirect, docs_index, docs_asset),
    modifiers(&DocsAssetProblems),
    tags((name = "docs", description = "This description and its interactive page.")),
)]
pub struct Api;

/// The OpenAPI document as served, JSON: built by the application (which
/// knows every route module) when it is first asked for, not at start-up (it
/// is a large document that most instances never serve), then kept.
#[derive(Debug, Clone, Copy)]
pub struct Document(pub fn() -> &'static str);

/// The OpenAPI document
///
/// This very document, as JSON.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "docs", operation_id = "openapiDocument",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object)),
)]
pub(crate) async fn openapi_json(document: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body((document.0)())
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

problems!(DocsAssetProblems: NOT_FOUND);

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
