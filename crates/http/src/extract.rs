//! Request extractors that turn every malformed input into the right problem:
//! a body that is not JSON (415), JSON that does not parse (400), JSON or query
//! fields of the wrong shape, missing or unknown (422, naming the field), and a
//! malformed id in the path (400).

use std::borrow::Cow;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures::future::{ready, LocalBoxFuture, Ready};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tozalash_domain::{FieldError, Fingerprint, Id, IdempotencyKey, TokenHash};

use crate::error::{problem, ApiError};
use crate::limits;

/// The largest body we read; far above any real request. A larger
/// `Content-Length` is refused unread (see `limits`).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON request body deserialized into `T`. Shape errors become 422 with the
/// offending field; `T` should `deny_unknown_fields` so nothing unexpected (a
/// `role`, an `id`) is silently accepted.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = matches!(
            req.mime_type(),
            Ok(Some(mime)) if mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        );
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::new(
                    &problem::UNSUPPORTED_MEDIA_TYPE,
                    "Send the body as application/json.",
                ));
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|error| match error {
                    error if limits::is_timeout(&error) => {
                        ApiError::new(&problem::REQUEST_TIMEOUT, "The body did not arrive in time.")
                    }
                    PayloadError::Overflow => {
                        ApiError::new(&problem::PAYLOAD_TOO_LARGE, limits::TOO_LARGE)
                    }
                    _ => ApiError::new(&problem::MALFORMED_JSON, "The body could not be read."),
                })?;
                // Refused as soon as it crosses the limit; the rest is not
                // read (see `limits`).
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ApiError::new(&problem::PAYLOAD_TOO_LARGE, limits::TOO_LARGE));
                }
                body.extend_from_slice(&chunk);
            }
            parse_json(&body).map(JsonBody)
        })
    }
}

/// A JSON body deserialized into `T` like [`JsonBody`], with the SHA-256 of
/// its JSON text (without the whitespace around it): the fingerprint an
/// `Idempotency-Key` is bound to, so that a retry must send the same request.
#[derive(Debug)]
pub struct Fingerprinted<T>(pub T, pub Fingerprint);

impl<T: DeserializeOwned + 'static> FromRequest for Fingerprinted<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let raw = JsonBody::<Box<RawValue>>::from_request(req, payload);
        Box::pin(async move {
            let JsonBody(raw) = raw.await?;
            let text = raw.get().as_bytes();
            let fingerprint = TokenHash(Sha256::digest(text).into());
            Ok(Fingerprinted(parse_json(text)?, fingerprint))
        })
    }
}

/// The `Idempotency-Key` request header, if the client sent one: a retry
/// with the same key and body then gets the first answer instead of a
/// second effect. A malformed or repeated one is a 422 naming the header.
#[derive(Debug)]
pub struct IdempotencyKeyHeader(pub Option<IdempotencyKey>);

impl FromRequest for IdempotencyKeyHeader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let mut values = req.headers().get_all(IdempotencyKey::HEADER);
        let key = match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(value), None) => value
                .to_str()
                .map_err(|_| {
                    FieldError::new(IdempotencyKey::HEADER, "invalid", "must be visible ASCII")
                })
                .and_then(IdempotencyKey::parse)
                .map(Some),
            (Some(_), Some(_)) => {
                Err(FieldError::new(IdempotencyKey::HEADER, "invalid", "must be sent once"))
            }
        };
        ready(key.map(IdempotencyKeyHeader).map_err(ApiError::field))
    }
}

/// Every request body of this API is a JSON object. (serde would otherwise
/// also fill a struct from an array, by position.)
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') {
        serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map_err(|e| ApiError::new(&problem::MALFORMED_JSON, json_message(&e)))?;
        return Err(ApiError::field(FieldError::new(
            "body",
            "invalid_type",
            "must be a JSON object",
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                ApiError::field(shape_error(&path, &json_message(&inner)))
            }
            // serde_json calls a value of the wrong kind where an enum is
            // expected (`{"status": null}`, `{"role": 5}`) a syntax error;
            // well-formed JSON is a shape error all the same.
            _ if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() => {
                ApiError::field(shape_error(&path, "has the wrong type for this field"))
            }
            _ => ApiError::new(&problem::MALFORMED_JSON, json_message(&inner)),
        }
    })?;
    deserializer.end().map_err(|e| ApiError::new(&problem::MALFORMED_JSON, json_message(&e)))?;
    Ok(value)
}

/// serde_json's message without its "at line 1 column 5" suffix.
fn json_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Turns a serde data error at `path` into a field error with a stable code.
/// serde reports a missing field on the enclosing object, naming the field in
/// its message; an unknown field's path already ends with its name.
fn shape_error(path: &str, message: &str) -> FieldError {
    let named = |prefix: &str| {
        message.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(str::to_owned)
    };
    let at_root = path == ".";
    if let Some(name) = named("missing field `") {
        let field = if at_root { name } else { format!("{path}.{name}") };
        return FieldError::new(field, "required", "is required");
    }
    if let Some(name) = named("unknown field `") {
        let field = if at_root { name } else { path.to_owned() };
        return FieldError::new(field, "unknown_field", "is not a field of this request");
    }
    let field = if at_root { "body".to_owned() } else { path.to_owned() };
    FieldError::new(field, "invalid_type", Cow::Owned(message.to_owned()))
}

/// Query-string parameters deserialized into `T` (which should
/// `deny_unknown_fields`); shape errors become 422 naming the parameter.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned> FromRequest for QueryParams<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pairs = form_urlencoded::parse(req.query_string().as_bytes());
        let deserializer = serde_urlencoded::Deserializer::new(pairs);
        let result = serde_path_to_error::deserialize(deserializer).map(QueryParams).map_err(|e| {
            let path = e.path().to_string();
            ApiError::field(shape_error(&path, &e.into_inner().to_string()))
        });
        ready(result)
    }
}

/// The `{id}` segment of the path, parsed; a malformed id is 400 `invalid_id`.
#[derive(Debug, Clone, Copy)]
pub struct PathId(pub Id);

impl FromRequest for PathId {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.match_info().get("id").unwrap_or_default();
        ready(Id::parse(raw).map(PathId).map_err(|_| {
            ApiError::new(&problem::INVALID_ID, "An id is 24 hexadecimal characters.")
        }))
    }
}

/// For optional fields that, when present, must not be `null`: deserializes the
/// value itself, so `null` is a type error rather than "absent".
pub fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// For optional fields where `null` means "clear it": absent is `None`,
/// `null` is `Some(None)`, a value is `Some(Some(v))`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// An RFC 3339 instant on the wire (`2026-12-01T09:00:00Z`), kept to the
/// millisecond like every stored time. A leap second (`:60`) is refused:
/// stored times count none, so it would read back as the next second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(pub tozalash_domain::Timestamp);

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use chrono::Timelike;
        let text = String::deserialize(deserializer)?;
        let t = chrono::DateTime::parse_from_rfc3339(&text).map_err(|_| {
            serde::de::Error::custom("expected an RFC 3339 date-time such as 2026-12-01T09:00:00Z")
        })?;
        if t.nanosecond() >= 1_000_000_000 {
            return Err(serde::de::Error::custom(
                "a leap second (:60) is not accepted; use the next second",
            ));
        }
        Ok(Instant(tozalash_domain::clock::truncate_to_millis(t.to_utc())))
    }
}

/// A 24-hex id inside a body or query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireId(pub Id);

impl<'de> Deserialize<'de> for WireId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Id::parse(&text)
            .map(WireId)
            .map_err(|_| serde::de::Error::custom("expected an id of 24 hexadecimal characters"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default, deserialize_with = "non_null")]
        price: Option<i64>,
    }

    fn field_error(json: &str) -> (String, &'static str) {
        let err = parse_json::<Body>(json.as_bytes()).expect_err("should fail");
        assert_eq!(err.kind(), &problem::VALIDATION_FAILED, "{err:?}");
        let e = &err.field_errors()[0];
        (e.field.to_string(), e.code)
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        for bad in ["{", "{\"name\": }", "", "{\"name\":\"a\"} trailing", "nul"] {
            let err = parse_json::<Body>(bad.as_bytes()).expect_err(bad);
            assert_eq!(err.kind(), &problem::MALFORMED_JSON, "{bad:?}");
        }
    }

    #[test]
    fn shape_errors_name_the_field() {
        assert_eq!(field_error("{}"), ("name".into(), "required"));
        assert_eq!(field_error(r#"{"name":"a","role":"ADMIN"}"#), ("role".into(), "unknown_field"));
        assert_eq!(field_error(r#"{"name":5}"#), ("name".into(), "invalid_type"));
        assert_eq!(field_error(r#"{"name":"a","price":1.5}"#), ("price".into(), "invalid_type"));
        assert_eq!(field_error(r#"{"name":"a","price":null}"#), ("price".into(), "invalid_type"));
        assert_eq!(field_error(r#"[1,2]"#), ("body".into(), "invalid_type"));
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum Kind {
        A,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct WithEnum {
        #[serde(default, deserialize_with = "non_null")]
        kind: Option<Kind>,
        #[serde(default)]
        at: Option<Instant>,
    }

    #[test]
    fn a_well_formed_value_of_the_wrong_kind_for_an_enum_names_the_field() {
        for body in [r#"{"kind": null}"#, r#"{"kind": 5}"#, r#"{"kind": [1]}"#] {
            let err = parse_json::<WithEnum>(body.as_bytes()).expect_err(body);
            assert_eq!(err.kind(), &problem::VALIDATION_FAILED, "{body}");
            assert_eq!(err.field_errors()[0].field, "kind", "{body}");
            assert_eq!(err.field_errors()[0].code, "invalid_type", "{body}");
        }
        let err = parse_json::<WithEnum>(br#"{"kind": nul}"#).expect_err("syntax");
        assert_eq!(err.kind(), &problem::MALFORMED_JSON);
    }

    #[test]
    fn a_leap_second_is_refused_naming_the_field() {
        let err = parse_json::<WithEnum>(br#"{"at": "2026-12-31T23:59:60Z"}"#).expect_err("leap");
        assert_eq!(err.kind(), &problem::VALIDATION_FAILED);
        assert_eq!(err.field_errors()[0].field, "at");
        let ok: WithEnum = parse_json(br#"{"at": "2026-12-31T23:59:59.999Z"}"#).expect("valid");
        assert!(ok.at.is_some());
    }

    #[test]
    fn absent_optional_fields_are_none() {
        let body: Body = parse_json(br#"{"name":"a"}"#).expect("valid");
        assert_eq!(body.price, None);
    }
}
