//! Conditional requests (RFC 9110 §13) on one service, user or order.
//!
//! - **`ETag`**: every GET and PATCH answer of a single resource carries a
//!   strong entity tag made of the record's version, `"3"` (with the
//!   quotes). The version rises with every write, so the tag changes exactly
//!   when what the API shows of the record does.
//! - **`If-Match`** on PATCH: the change applies only while the record still
//!   has one of the listed tags, decided by the storage's conditional write
//!   (the use case's `Precondition`); otherwise 412 `precondition_failed`.
//!   Tags this server never made (weak ones, made-up ones, a malformed
//!   header) match nothing. `If-Match: *` matches any record that exists.
//!   Without `If-Match`, PATCH applies unconditionally, as it always has.
//! - **`If-None-Match`** on GET: when the current tag is listed (weak
//!   comparison, `W/"3"` counts) or the header is `*`, the answer is 304 Not
//!   Modified with the `ETag` and no body. A malformed header is ignored.
//!
//! A missing record is 404 and a forbidden one 403/404 whatever the headers
//! say: preconditions are evaluated only where the answer would otherwise
//! be a success (RFC 9110 §13.2.1).

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use futures::future::{ready, Ready};
use serde::Serialize;
use serde_json::json;
use tozalash_domain::{Precondition, Version};
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr, Required};

/// The entity tag of a record at `version`: strong, the decimal version in quotes.
pub fn etag(version: Version) -> String {
    format!("\"{version}\"")
}

/// One entity tag of a list: whether it is weak, and its opaque text (without quotes).
type Tag<'a> = (bool, &'a str);

/// The entity tags of a header's values (`#entity-tag`, comma-separated,
/// over any number of header lines), or `None` when a value is not such a list.
fn entity_tags<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> Option<Vec<Tag<'a>>> {
    let mut tags = Vec::new();
    for value in values {
        let mut rest = value.to_str().ok()?;
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                break;
            }
            let (weak, quoted) = match rest.strip_prefix("W/") {
                Some(quoted) => (true, quoted),
                None => (false, rest),
            };
            let opaque = quoted.strip_prefix('"')?;
            let end = opaque.find('"')?;
            tags.push((weak, &opaque[..end]));
            rest = &opaque[end + 1..];
            if !(rest.is_empty() || rest.starts_with([' ', '\t', ','])) {
                return None;
            }
        }
    }
    Some(tags)
}

/// Whether the header is the single value `*`.
fn is_any(headers: &HeaderMap, name: &HeaderName) -> bool {
    let mut values = headers.get_all(name);
    matches!((values.next(), values.next()), (Some(v), None) if v.as_bytes().trim_ascii() == b"*")
}

/// The precondition of a request's `If-Match`, for the use case: `None` when
/// there is none or it is `*`. Strong comparison: only a strong tag holding a
/// version in its one spelling can match; everything else matches nothing.
pub fn precondition(headers: &HeaderMap) -> Option<Precondition> {
    if !headers.contains_key(header::IF_MATCH) || is_any(headers, &header::IF_MATCH) {
        return None;
    }
    let tags = entity_tags(headers.get_all(header::IF_MATCH)).unwrap_or_default();
    let versions =
        tags.into_iter().filter(|(weak, _)| !weak).filter_map(|(_, v)| Version::parse(v));
    Some(Precondition::one_of(versions))
}

/// Whether the request's `If-None-Match` names the record at `version` (weak
/// comparison), so that a GET answers 304.
pub fn not_modified(headers: &HeaderMap, version: Version) -> bool {
    if is_any(headers, &header::IF_NONE_MATCH) {
        return true;
    }
    let current = version.to_string();
    entity_tags(headers.get_all(header::IF_NONE_MATCH))
        .is_some_and(|tags| tags.iter().any(|(_, opaque)| *opaque == current))
}

/// A request's `If-Match`, read for a PATCH; never refuses a request.
#[derive(Debug, Clone, Default)]
pub struct IfMatch(pub Option<Precondition>);

impl FromRequest for IfMatch {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(precondition(req.headers()))))
    }
}

/// A request's `If-None-Match`, read for a GET; never refuses a request.
#[derive(Debug, Clone)]
pub struct IfNoneMatch(HeaderMap);

impl FromRequest for IfNoneMatch {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let mut headers = HeaderMap::new();
        for value in req.headers().get_all(header::IF_NONE_MATCH) {
            headers.append(header::IF_NONE_MATCH, value.clone());
        }
        ready(Ok(Self(headers)))
    }
}

impl IfNoneMatch {
    /// The answer to a GET of the record at `version` showing as `body`: 304
    /// with the `ETag` when the client has it already, else 200 with both.
    pub fn respond(&self, version: Version, body: &impl Serialize) -> HttpResponse {
        if not_modified(&self.0, version) {
            return HttpResponse::NotModified()
                .insert_header((header::ETAG, etag(version)))
                .finish();
        }
        tagged(version, body)
    }
}

/// 200 with the record's JSON and its `ETag`.
pub fn tagged(version: Version, body: &impl Serialize) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::ETAG, etag(version))).json(body)
}

// --- The OpenAPI description ----------------------------------------------------

const ETAG: &str = "ETag";
const IF_MATCH: &str = "If-Match";
const IF_NONE_MATCH: &str = "If-None-Match";

/// Documents a route module's conditional operations (name it in the
/// module's `modifiers(...)`): `reads` (GETs, by operation id) take
/// `If-None-Match`, answer 304 and tag their 200; `writes` (PATCHes) take
/// `If-Match` and tag their 200. The shared parameters and header they
/// refer to are defined by [`define`], at the document's root (nesting keeps
/// a part's responses and schemas, not its parameters and headers).
#[derive(Debug)]
pub struct Documented {
    pub reads: &'static [&'static str],
    pub writes: &'static [&'static str],
}

impl utoipa::Modify for Documented {
    fn modify(&self, doc: &mut OpenApi) {
        for item in doc.paths.paths.values_mut() {
            if let Some(get) = item.get.as_mut().filter(|op| named(op, self.reads)) {
                add_parameter(get, IF_NONE_MATCH);
                tag_success(get);
                let not_modified = ResponseBuilder::new()
                    .description("Not modified: `If-None-Match` names the current `ETag`. No body.")
                    .header_ref(ETAG, Ref::new(format!("#/components/headers/{ETAG}")))
                    .build();
                get.responses.responses.insert("304".to_owned(), RefOr::T(not_modified));
            }
            if let Some(patch) = item.patch.as_mut().filter(|op| named(op, self.writes)) {
                add_parameter(patch, IF_MATCH);
                tag_success(patch);
            }
        }
    }
}

/// Adds the `ETag` header and the `If-Match` / `If-None-Match` parameters
/// that [`Documented`] operations refer to.
pub fn define(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.headers.insert(ETAG.to_owned(), RefOr::T(etag_header()));
    components.parameters.insert(IF_MATCH.to_owned(), RefOr::T(if_match()));
    components.parameters.insert(IF_NONE_MATCH.to_owned(), RefOr::T(if_none_match()));
}

fn named(operation: &Operation, ids: &[&str]) -> bool {
    operation.operation_id.as_deref().is_some_and(|id| ids.contains(&id))
}

fn add_parameter(operation: &mut Operation, name: &str) {
    let location = format!("#/components/parameters/{name}");
    operation.parameters.get_or_insert_with(Vec::new).push(RefOr::Ref(Ref::new(location)));
}

fn tag_success(operation: &mut Operation) {
    if let Some(RefOr::T(ok)) = operation.responses.responses.get_mut("200") {
        let location = format!("#/components/headers/{ETAG}");
        ok.headers.insert(ETAG.to_owned(), RefOr::Ref(Ref::new(location)));
    }
}

fn etag_header() -> Header {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new().schema_type(Type::String).pattern(Some("^\"[1-9][0-9]*\"$")),
        ))
        .description(Some(
            "The version of the record as a strong entity tag: a decimal number in quotes, \
             raised by every change. Send it back in `If-Match` to change the record only if \
             nobody changed it since, or in `If-None-Match` to skip reading it again.",
        ))
        .example(Some(json!("\"3\"")))
        .build()
}

fn if_match() -> Parameter {
    ParameterBuilder::new()
        .name(IF_MATCH)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Change the record only if its `ETag` is still one of these (strong comparison); \
             otherwise 412 `precondition_failed` and nothing changes. A tag this server never \
             sent (weak, made up, malformed) never matches; `*` matches any existing record. \
             Without it the change applies whatever happened since you read the record.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .example(Some(json!("\"3\"")))
        .build()
}

fn if_none_match() -> Parameter {
    ParameterBuilder::new()
        .name(IF_NONE_MATCH)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "The `ETag`s you hold: when the record's current one is among them (weak \
             comparison), or with `*`, the answer is 304 Not Modified without a body.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .example(Some(json!("\"3\"")))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: HeaderName, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name.clone(), HeaderValue::from_str(value).expect("valid header"));
        }
        map
    }

    fn v(n: i64) -> Version {
        Version::from_stored(n).expect("positive")
    }

    #[test]
    fn the_tag_is_the_version_in_quotes() {
        assert_eq!(etag(v(1)), "\"1\"");
        assert_eq!(etag(v(42)), "\"42\"");
    }

    #[test]
    fn if_match_lists_the_strong_tags_that_are_versions() {
        let check = |values: &[&str]| precondition(&headers(header::IF_MATCH, values));
        assert_eq!(check(&[]), None, "no header, no precondition");
        assert_eq!(check(&["*"]), None, "* matches any existing record");
        assert_eq!(check(&[" * "]), None);
        assert_eq!(check(&["\"3\""]), Some(Precondition::version(v(3))));
        assert_eq!(check(&["\"1\", \"2\""]), Some(Precondition::one_of([v(1), v(2)])));
        assert_eq!(check(&["\"1\"", "\"2\""]), Some(Precondition::one_of([v(1), v(2)])));
        for matching_nothing in [
            &["W/\"3\""][..],
            &["\"03\""],
            &["\"abc\""],
            &["3"],
            &["\"3"],
            &["\"3\"x"],
            &["*, \"3\""],
            &[""],
        ] {
            let got = check(matching_nothing);
            assert!(
                got.as_ref().is_some_and(|p| !p.matches(v(3))),
                "{matching_nothing:?}: {got:?}"
            );
        }
        // A well-formed list keeps its versions, even beside tags of others.
        assert_eq!(check(&["\"x\", W/\"2\", \"5\""]), Some(Precondition::version(v(5))));
    }

    #[test]
    fn if_none_match_compares_weakly_and_ignores_garbage() {
        let check = |values: &[&str]| not_modified(&headers(header::IF_NONE_MATCH, values), v(3));
        assert!(check(&["\"3\""]));
        assert!(check(&["W/\"3\""]));
        assert!(check(&["\"1\", \"3\""]));
        assert!(check(&["*"]));
        assert!(!check(&[]));
        assert!(!check(&["\"4\""]));
        assert!(!check(&["\"03\""]));
        assert!(!check(&["3"]));
        assert!(!check(&["\"3"]));
    }
}
