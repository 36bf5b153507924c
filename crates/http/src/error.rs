//! The edge's one error type and its table of problems: every error a client can
//! see is an RFC 9457 `application/problem+json` body with a stable `code`.
//! Causes of server faults are logged here and never sent.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use tozalash_app::AppError;
use tozalash_domain::{FieldError, Money, Reference, StoredResponse, UniqueKey, ValidationErrors};

pub mod responses;

/// One kind of problem: its HTTP status, stable machine code and title.
#[derive(Debug, PartialEq, Eq)]
pub struct ProblemKind {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
}

macro_rules! problem_table {
    ($($name:ident = $status:ident, $code:literal, $title:literal;)*) => {
        $(pub const $name: ProblemKind =
            ProblemKind { status: StatusCode::$status, code: $code, title: $title };)*
        /// Every problem the API can answer, for the documentation and its tests.
        pub const ALL: &[&ProblemKind] = &[$(&$name),*];
    };
}

/// The table of problems. Codes are part of the API contract: never rename one.
pub mod problem {
    use super::*;
    problem_table! {
        MALFORMED_JSON = BAD_REQUEST, "malformed_json", "The body is not well-formed JSON";
        INVALID_ID = BAD_REQUEST, "invalid_id", "The id is malformed";
        INVALID_EMAIL_TOKEN = BAD_REQUEST, "invalid_email_token", "The link is invalid, used or expired";
        UNAUTHENTICATED = UNAUTHORIZED, "unauthenticated", "Authentication is required";
        INVALID_TOKEN = UNAUTHORIZED, "invalid_token", "The access token is invalid or expired";
        FORBIDDEN = FORBIDDEN, "forbidden", "You may not do this";
        CSRF_FAILED = FORBIDDEN, "csrf_failed", "The CSRF token is missing or wrong";
        NOT_FOUND = NOT_FOUND, "not_found", "Not found";
        METHOD_NOT_ALLOWED = METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed";
        INVALID_CREDENTIALS = UNAUTHORIZED, "invalid_credentials", "The e-mail or password is wrong";
        INVALID_REFRESH_TOKEN = UNAUTHORIZED, "invalid_refresh_token", "The session has ended";
        EMAIL_NOT_VERIFIED = FORBIDDEN, "email_not_verified", "Verify your e-mail address first";
        CONFLICT = CONFLICT, "conflict", "The request conflicts with the current state";
        INVALID_STATUS_TRANSITION = CONFLICT, "invalid_status_transition", "The order cannot move to this status";
        ORDER_NOT_PENDING = CONFLICT, "order_not_pending", "The order is no longer pending";
        VISIT_NOT_DUE = CONFLICT, "visit_not_due", "The visit has not taken place yet";
        TOO_LATE_TO_CANCEL = CONFLICT, "too_late_to_cancel", "It is too late to cancel this visit";
        ORDER_COMPLETED = CONFLICT, "order_completed", "A completed order cannot be deleted";
        EMAIL_TAKEN = CONFLICT, "email_taken", "The e-mail address is already registered";
        USERNAME_TAKEN = CONFLICT, "username_taken", "The username is already taken";
        SERVICE_NAME_TAKEN = CONFLICT, "service_name_taken", "Another service has this name";
        LAST_ADMIN = CONFLICT, "last_admin", "The last administrator cannot be demoted or deleted";
        IDEMPOTENCY_IN_PROGRESS = CONFLICT, "idempotency_in_progress", "A request with this Idempotency-Key is still running";
        PRECONDITION_FAILED = PRECONDITION_FAILED, "precondition_failed", "The resource changed since you read it";
        REQUEST_TIMEOUT = REQUEST_TIMEOUT, "request_timeout", "The body did not arrive in time";
        PAYLOAD_TOO_LARGE = PAYLOAD_TOO_LARGE, "payload_too_large", "The body is too large";
        UNSUPPORTED_MEDIA_TYPE = UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "The body must be application/json";
        VALIDATION_FAILED = UNPROCESSABLE_ENTITY, "validation_failed", "The request has invalid fields";
        IDEMPOTENCY_KEY_REUSED = UNPROCESSABLE_ENTITY, "idempotency_key_reused", "The Idempotency-Key was used for another request";
        RATE_LIMITED = TOO_MANY_REQUESTS, "rate_limited", "Too many requests; try again later";
        SERVICE_NOT_FOUND = UNPROCESSABLE_ENTITY, "service_not_found", "No catalogue service has this id";
        USER_NOT_FOUND = UNPROCESSABLE_ENTITY, "user_not_found", "No user has this id";
        INTERNAL = INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side";
        UNAVAILABLE = SERVICE_UNAVAILABLE, "service_unavailable", "The service is temporarily unavailable";
    }
}

/// A problem on its way to the client.
pub struct ApiError {
    kind: &'static ProblemKind,
    detail: Cow<'static, str>,
    errors: Vec<FieldError>,
    /// What really went wrong, for the log only.
    cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// `Retry-After`, in seconds, for a 429 and a 503.
    retry_after: Option<u64>,
}

/// The `Retry-After` of a 503: storage that stopped answering is usually back
/// (restarted, failed over) within seconds, and a client that waits this long
/// does not pile onto it meanwhile.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

impl ApiError {
    pub fn new(kind: &'static ProblemKind, detail: impl Into<Cow<'static, str>>) -> Self {
        Self { kind, detail: detail.into(), errors: Vec::new(), cause: None, retry_after: None }
    }

    pub fn validation(errors: ValidationErrors) -> Self {
        let mut error = Self::new(&problem::VALIDATION_FAILED, "One or more fields are invalid.");
        error.errors = errors.errors().to_vec();
        error
    }

    pub fn field(error: FieldError) -> Self {
        Self::validation(error.into())
    }

    /// A fault of ours; `cause` goes to the log, the client sees a generic body.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut error = Self::new(&problem::INTERNAL, "The request could not be completed.");
        error.cause = Some(cause.into());
        error
    }

    /// 503 `service_unavailable`, with `Retry-After`: storage does not answer.
    pub fn unavailable(detail: impl Into<Cow<'static, str>>) -> Self {
        let mut error = Self::new(&problem::UNAVAILABLE, detail);
        error.retry_after = Some(UNAVAILABLE_RETRY_AFTER_SECS);
        error
    }

    pub fn kind(&self) -> &'static ProblemKind {
        self.kind
    }

    pub fn field_errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The problem body, tagged with the request it answers.
    pub fn to_response(&self, request_id: Option<&str>) -> HttpResponse {
        let body = self.body(request_id);
        let mut response = HttpResponse::build(self.kind.status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if self.kind.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        match serde_json::to_vec(&body) {
            Ok(json) => response.body(json),
            Err(_) => HttpResponse::InternalServerError().finish(),
        }
    }

    /// The answer as an idempotent request keeps it to replay: the body
    /// [`ApiError::to_response`] sends, without a request id (a replay
    /// carries its own).
    pub fn to_stored(&self) -> StoredResponse {
        StoredResponse {
            status: self.kind.status.as_u16(),
            content_type: "application/problem+json".to_owned(),
            body: serde_json::to_string(&self.body(None)).unwrap_or_default(),
        }
    }

    /// What the API sends for `kind`, as the documentation shows it: the
    /// validation problem carries the domain's own complaint about a price.
    pub fn example(kind: &'static ProblemKind) -> serde_json::Value {
        let error = match Money::parse("price", Money::MAX + 1) {
            Err(field) if kind == &problem::VALIDATION_FAILED => Self::field(field),
            _ => Self::new(kind, kind.title),
        };
        serde_json::to_value(error.body(Some(EXAMPLE_REQUEST_ID))).unwrap_or_default()
    }

    /// What [`ApiError::to_response`] sends.
    fn body<'a>(&'a self, request_id: Option<&'a str>) -> ProblemBody<'a> {
        ProblemBody {
            type_: format!("urn:tozalash:problem:{}", self.kind.code),
            title: self.kind.title,
            status: self.kind.status.as_u16(),
            detail: &self.detail,
            code: self.kind.code,
            errors: self
                .errors
                .iter()
                .map(|e| FieldErrorBody { field: &e.field, code: e.code, message: &e.message })
                .collect(),
            request_id,
        }
    }
}

/// An error (RFC 9457 problem details), sent as `application/problem+json`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Problem, example = validation_example)]
pub(crate) struct ProblemBody<'a> {
    /// `urn:tozalash:problem:` followed by the code.
    #[serde(rename = "type")]
    #[schema(pattern = "^urn:tozalash:problem:[a-z_]+$")]
    type_: String,
    /// A short summary of the kind of problem; the same for every instance of a code.
    title: &'static str,
    /// The HTTP status.
    #[schema(minimum = 400, maximum = 599)]
    status: u16,
    /// What went wrong in this instance, for people.
    detail: &'a str,
    /// The stable machine-readable code (see the table in the API's description).
    #[schema(schema_with = problem_code_schema)]
    code: &'static str,
    /// For `validation_failed` (and the 422 reference problems): each field at fault.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldErrorBody<'a>>,
    /// The request's id, as in the `X-Request-Id` response header.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    request_id: Option<&'a str>,
}

/// The request id of every example.
pub const EXAMPLE_REQUEST_ID: &str = "4c0d6e0a9f2b4e7c8d1a2b3c4d5e6f70";

fn validation_example() -> serde_json::Value {
    ApiError::example(&problem::VALIDATION_FAILED)
}

/// One field at fault in a 422 problem.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = FieldError, example = json!({"field": "name", "code": "too_long", "message": "must be at most 100 characters"}))]
struct FieldErrorBody<'a> {
    /// The field as the request names it (`camelCase`; a query parameter's name;
    /// `body` for the body as a whole).
    field: &'a str,
    /// What is wrong: `required`, `unknown_field`, `invalid_type`, `too_long`,
    /// `too_short`, `out_of_range`, `invalid_characters`, `invalid_choice`,
    /// `invalid_email`, `invalid_length`, `too_common`, `too_personal`,
    /// `incorrect`, `in_the_past`, `not_combinable` or `not_found`.
    #[schema(pattern = "^[a-z_]+$")]
    code: &'static str,
    /// The rule, for people.
    message: &'a str,
}

/// Every code of the table.
fn problem_code_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(problem::ALL.iter().map(|p| p.code)))
        .build()
}

impl fmt::Debug for ApiError {
    /// The whole cause chain, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.kind.code, self.kind.status, self.detail)?;
        let mut cause = self.cause.as_deref().map(|c| c as &dyn std::error::Error);
        while let Some(c) = cause {
            write!(f, "\n  caused by: {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind.status
    }

    /// Rendered without a request id; the problem middleware renders it again
    /// with one (see `problem_json.rs`).
    fn error_response(&self) -> HttpResponse {
        self.to_response(None)
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Validation(errors) => Self::validation(errors),
            AppError::NotFound(what) => Self::new(&problem::NOT_FOUND, format!("No such {what}.")),
            AppError::Forbidden => Self::new(&problem::FORBIDDEN, "Your role does not allow this."),
            AppError::Duplicate(UniqueKey::Email) => {
                Self::new(&problem::EMAIL_TAKEN, "An account with this e-mail already exists.")
            }
            AppError::Duplicate(UniqueKey::Username) => {
                Self::new(&problem::USERNAME_TAKEN, "Choose another username.")
            }
            AppError::Duplicate(UniqueKey::ServiceName) => Self::new(
                &problem::SERVICE_NAME_TAKEN,
                "Another service, perhaps an archived one, has this name ignoring case and spaces.",
            ),
            AppError::Duplicate(UniqueKey::Id) => {
                Self::new(&problem::CONFLICT, "A record with this id already exists.")
            }
            AppError::EmailNotVerified => Self::new(
                &problem::EMAIL_NOT_VERIFIED,
                "Confirm your e-mail address before ordering.",
            ),
            AppError::InvalidTransition(e) => Self::new(
                &problem::INVALID_STATUS_TRANSITION,
                format!("The order is {}; it cannot become {}.", e.from, e.to),
            ),
            AppError::VisitNotDue => Self::new(
                &problem::VISIT_NOT_DUE,
                "The visit is scheduled in the future; complete it once it has taken place.",
            ),
            AppError::TooLateToCancel => Self::new(
                &problem::TOO_LATE_TO_CANCEL,
                "The visit is too close (or past) to cancel; contact the business.",
            ),
            AppError::OrderCompleted => Self::new(
                &problem::ORDER_COMPLETED,
                "A completed order is a record of revenue and stays.",
            ),
            AppError::OrderNotPending => {
                Self::new(&problem::ORDER_NOT_PENDING, "Only a PENDING order can be edited.")
            }
            AppError::UnknownReference(reference) => {
                let kind = match reference {
                    Reference::User => &problem::USER_NOT_FOUND,
                    Reference::Service => &problem::SERVICE_NOT_FOUND,
                };
                let mut error = Self::new(kind, kind.title);
                error.errors =
                    vec![FieldError::new(reference.field(), "not_found", "names nothing")];
                error
            }
            AppError::InvalidEmailToken => Self::new(
                &problem::INVALID_EMAIL_TOKEN,
                "This link is invalid, was already used, or has expired; ask for a new one.",
            ),
            AppError::InvalidCredentials => {
                Self::new(&problem::INVALID_CREDENTIALS, "The e-mail or password is wrong.")
            }
            AppError::InvalidRefreshToken => {
                Self::new(&problem::INVALID_REFRESH_TOKEN, "Log in again.")
            }
            AppError::PreconditionFailed => Self::new(
                &problem::PRECONDITION_FAILED,
                "If-Match names no current version of this resource: it was changed since you read \
                 it (or the tag is not one of ours). Read it again, then reapply your change.",
            ),
            AppError::LastAdmin => Self::new(
                &problem::LAST_ADMIN,
                "The business needs at least one administrator; promote another first.",
            ),
            AppError::SessionEnded => Self::new(
                &problem::INVALID_TOKEN,
                "This session has ended or its account is gone; log in again.",
            ),
            AppError::IdempotencyKeyReused => Self::new(
                &problem::IDEMPOTENCY_KEY_REUSED,
                "This Idempotency-Key was sent before with another body; use a new key for a new request.",
            ),
            AppError::IdempotencyInProgress => Self::new(
                &problem::IDEMPOTENCY_IN_PROGRESS,
                "The first request with this Idempotency-Key has not finished; retry in a moment.",
            ),
            AppError::RateLimited { retry_after_secs } => {
                let mut error = Self::new(
                    &problem::RATE_LIMITED,
                    format!("Too many requests; try again in {retry_after_secs} s."),
                );
                error.retry_after = Some(retry_after_secs);
                error
            }
            AppError::UnverifiedAccount => {
                Self::new(&problem::CONFLICT, "The account's address was never verified.")
            }
            AppError::Unavailable(cause) => {
                let mut e = Self::unavailable("Please try again shortly.");
                e.cause = Some(Box::new(cause));
                e
            }
            AppError::Internal(cause) => Self::internal(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_problem_code_is_unique_snake_case() {
        let codes: HashSet<_> = problem::ALL.iter().map(|p| p.code).collect();
        assert_eq!(codes.len(), problem::ALL.len());
        for code in codes {
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
        }
    }

    #[test]
    fn internal_errors_keep_their_cause_out_of_the_body() {
        let error = ApiError::internal("password=hunter2 at db.internal:5432");
        let response = error.to_response(Some("req-1"));
        let body = actix_web::body::to_bytes(response.into_body());
        let body = futures::executor::block_on(body).unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("\"code\":\"internal_error\""));
        assert!(text.contains("\"requestId\":\"req-1\""));
        assert!(format!("{error:?}").contains("hunter2"), "the log still sees the cause");
    }
}
