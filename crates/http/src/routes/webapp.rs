//! The booking web app: the plain files of `web/` (HTML, CSS, JavaScript
//! modules and the three message files), compiled into the binary with
//! `rust-embed` (debug builds included) and served at `/` and `/app/{file}`.
//!
//! Every file answers `Cache-Control: no-cache` with a strong `ETag` (its
//! SHA-256, computed at build time), so a browser revalidates and gets 304
//! when nothing changed; and a Content-Security-Policy that lets the page load
//! and call only its own origin (no inline script or style, nothing external).
//! The app routes inside the URL fragment (`/#/orders`), so every other path
//! stays 404 problem+json.

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;
use utoipa::OpenApi;

use super::{endpoint, Endpoint};
use crate::error::responses::problems;
use crate::error::{problem, ApiError};

/// Mounted at the root.
pub const ENDPOINTS: &[Endpoint] =
    &[endpoint!(GET "/" => index), endpoint!(GET "/app/{file}" => asset)];

/// The app's part of the OpenAPI document, mounted like [`ENDPOINTS`].
#[derive(Debug, OpenApi)]
#[openapi(
    paths(index, asset),
    modifiers(&AssetProblems),
    tags((name = "app", description = "The booking web app served by the binary.")),
)]
pub struct Api;

/// The policy of the app's files: its own origin only.
pub const APP_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// The files of `web/`.
#[derive(Debug, RustEmbed)]
#[folder = "../../web/"]
pub struct Assets;

/// The web app
///
/// The booking app's page; its screens live in the URL fragment (`/#/orders`).
#[utoipa::path(
    get, path = "/", tag = "app", operation_id = "appPage",
    responses(
        (status = 200, description = "The app's HTML page.", content_type = "text/html", body = String,
            headers(("ETag" = String, description = "The file's strong entity tag."))),
        (status = 304, description = "`If-None-Match` names the current tag."),
    ),
)]
pub(crate) async fn index(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&req, "index.html")
}

problems!(AssetProblems: NOT_FOUND);

/// A file of the web app
///
/// A script module, style sheet or message file of the app.
#[utoipa::path(
    get, path = "/app/{file}", tag = "app", operation_id = "appAsset",
    params(("file" = String, Path, description = "The file's name.", example = "app.js")),
    responses(
        (status = 200, description = "The file.", content_type = "*/*", body = String,
            headers(("ETag" = String, description = "The file's strong entity tag."))),
        (status = 304, description = "`If-None-Match` names the current tag."),
        AssetProblems,
    ),
)]
pub(crate) async fn asset(
    req: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&req, &format!("app/{file}"))
}

/// Answers the embedded file at `path` (relative to `web/`), or 404.
pub fn serve(req: &HttpRequest, path: &str) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::new(&problem::NOT_FOUND, "There is nothing at this address.");
    if path.contains("..") || path.contains('\\') {
        return Err(not_found());
    }
    let file = Assets::get(path).ok_or_else(not_found)?;
    let content_type = content_type(path).ok_or_else(not_found)?;
    let hash = file.metadata.sha256_hash();
    let etag = format!("\"{}\"", hex(&hash[..16]));
    let unchanged = matches_none(req.headers(), &etag);
    let mut response = if unchanged { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, APP_CSP));
    if unchanged {
        return Ok(response.finish());
    }
    Ok(response.insert_header((header::CONTENT_TYPE, content_type)).body(file.data.into_owned()))
}

/// The content type of the kinds of file the app has; any other is not served.
fn content_type(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// Whether `If-None-Match` names `etag` (weak comparison) or is `*`.
fn matches_none(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).filter_map(|v| v.to_str().ok()).any(|value| {
        value
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    #[test]
    fn every_embedded_file_has_a_content_type() {
        let files: Vec<_> = Assets::iter().collect();
        assert!(files.iter().any(|f| f == "index.html"), "{files:?}");
        for file in files {
            assert!(content_type(&file).is_some(), "{file} has no content type");
        }
    }

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_star() {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"a\", W/\"b\""));
        assert!(matches_none(&headers, "\"b\""));
        assert!(matches_none(&headers, "\"a\""));
        assert!(!matches_none(&headers, "\"c\""));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(matches_none(&headers, "\"c\""));
    }
}
