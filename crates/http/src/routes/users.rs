//! `/api/v1/users`: administrators manage every account; a customer may read,
//! edit and delete only their own (anyone else's is 404).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tozalash_app::users::{AccountChanges, NewAccount};
use tozalash_app::UserService;
use tozalash_domain::{
    Email, Locale, PageRequest, Role, SearchText, Signup, User, UserQuery, Username,
    ValidationErrors,
};

use utoipa::{OpenApi, ToSchema};

use super::{endpoint, timestamp, Endpoint};
use crate::auth::{AdminUser, AuthUser};
use crate::conditional::{self, IfMatch, IfNoneMatch};
use crate::error::responses::problems;
use crate::error::ApiError;
use crate::extract::{non_null, JsonBody, PathId, QueryParams};
use crate::page::PageView;
use crate::schema::{self, IdParam, SearchParam};

/// The accounts' part of the OpenAPI document, mounted like [`ENDPOINTS`].
#[derive(Debug, OpenApi)]
#[openapi(
    paths(list, create, get, update, delete),
    modifiers(&ListProblems, &CreateProblems, &GetProblems, &UpdateProblems, &DeleteProblems, &CONDITIONAL),
    tags((name = "users", description = "Accounts: administrators manage every account; a customer only their own.")),
)]
pub struct Api;

/// An account's GET and PATCH carry its `ETag` and honour `If-None-Match` / `If-Match`.
const CONDITIONAL: conditional::Documented =
    conditional::Documented { reads: &["getUser"], writes: &["updateUser"] };

/// Mounted at `/api/v1`.
pub const ENDPOINTS: &[Endpoint] = &[
    endpoint!(GET "/users" => list),
    endpoint!(POST "/users" => create),
    endpoint!(GET "/users/{id}" => get),
    endpoint!(PATCH "/users/{id}" => update),
    endpoint!(DELETE "/users/{id}" => delete),
];

/// An account (never its password hash).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "id": "665f1c2e9b1d4a0012345678",
    "username": "dilnoza",
    "email": "dilnoza@example.uz",
    "pendingEmail": null,
    "role": "USER",
    "isVerified": true,
    "locale": "uz",
    "createdAt": "2026-05-01T09:30:00.000Z",
    "updatedAt": "2026-05-02T18:05:12.345Z"
}))]
pub struct UserView<'a> {
    #[schema(schema_with = schema::response_id)]
    id: String,
    /// As given at signup; unique ignoring case.
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]+$")]
    username: &'a str,
    /// In lower case.
    #[schema(format = Email, max_length = 254)]
    email: &'a str,
    /// A new address the owner asked for, not proven yet: it replaces
    /// `email` when its verification link is followed. `null` when none.
    #[schema(format = Email, max_length = 254)]
    pending_email: Option<&'a str>,
    #[schema(value_type = RoleParam)]
    role: &'static str,
    /// Whether the e-mail address is confirmed (needed to order).
    is_verified: bool,
    /// The language of the account's mail; `null` for the service's default
    /// (`MAIL_LOCALE`), as for accounts made before accounts had one.
    #[schema(value_type = Option<LocaleParam>)]
    locale: Option<&'static str>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl<'a> From<&'a User> for UserView<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: u.id.to_hex(),
            username: u.username.as_str(),
            email: u.email.as_str(),
            pending_email: u.pending_email.as_ref().map(Email::as_str),
            role: u.role.as_str(),
            is_verified: u.is_verified,
            locale: u.locale.map(|l| l.as_str()),
            created_at: timestamp(&u.created_at),
            updated_at: timestamp(&u.updated_at),
        }
    }
}

/// The locale a body names, else the one `Accept-Language` prefers among ours,
/// else `None` (the service's default).
pub(crate) fn chosen_locale(given: Option<LocaleParam>, request: &HttpRequest) -> Option<Locale> {
    given.map(Locale::from).or_else(|| {
        request
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .and_then(Locale::from_accept_language)
    })
}

/// A role: `ADMIN` or `USER`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
#[schema(as = Role)]
pub(crate) enum RoleParam {
    Admin,
    User,
}

impl From<RoleParam> for Role {
    fn from(role: RoleParam) -> Self {
        match role {
            RoleParam::Admin => Role::Admin,
            RoleParam::User => Role::User,
        }
    }
}

/// A language: `uz` (Uzbek, Latin script), `ru` (Russian) or `en` (English).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Locale)]
pub(crate) enum LocaleParam {
    Uz,
    Ru,
    En,
}

impl From<LocaleParam> for Locale {
    fn from(locale: LocaleParam) -> Self {
        match locale {
            LocaleParam::Uz => Locale::Uz,
            LocaleParam::Ru => Locale::Ru,
            LocaleParam::En => Locale::En,
        }
    }
}

/// `GET /users?page&limit&role&verified&q`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// The page, from 1.
    #[param(minimum = 1, maximum = 1_000_000, default = 1, example = 1)]
    page: Option<u32>,
    /// Items per page.
    #[param(minimum = 1, maximum = 100, default = 20, example = 20)]
    limit: Option<u32>,
    /// Only accounts with this role.
    #[param(inline)]
    role: Option<RoleParam>,
    /// Only verified (`true`) or unverified (`false`) accounts.
    verified: Option<bool>,
    /// Part of the username or e-mail, ignoring case (trimmed; empty means no filter).
    #[param(value_type = Option<SearchParam>, inline, example = "dilnoza")]
    q: Option<String>,
}

impl TryFrom<ListParams> for UserQuery {
    type Error = ValidationErrors;
    fn try_from(p: ListParams) -> Result<Self, Self::Error> {
        let mut errors = ValidationErrors::new();
        let page = PageRequest::new(p.page, p.limit)
            .map_err(|e| e.errors().iter().cloned().for_each(|e| errors.push(e)))
            .ok();
        let search = errors.check(p.q.as_deref().map_or(Ok(None), |q| SearchText::parse("q", q)));
        match (page, search) {
            (Some(page), Some(search)) => {
                Ok(Self { page, role: p.role.map(Role::from), verified: p.verified, search })
            }
            _ => Err(errors),
        }
    }
}

/// The body of `POST /users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({
    "username": "bobur.admin",
    "email": "bobur@tozalash.uz",
    "password": "Ishonchli-parol-77",
    "role": "ADMIN",
    "isVerified": true
}))]
pub(crate) struct CreateUserBody {
    /// 3 to 32 ASCII letters, digits, `_`, `.` or `-`; unique ignoring case.
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]+$")]
    username: String,
    /// Stored in lower case; unique.
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 8 to 128 characters; not a common password, nor the username or e-mail.
    #[schema(min_length = 8, max_length = 128, format = Password)]
    password: String,
    /// `USER` when omitted.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    role: Option<RoleParam>,
    /// `false` when omitted (a verification mail is then sent).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    is_verified: Option<bool>,
    /// The language of the account's mail; the request's `Accept-Language`
    /// when omitted, else the service's default.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    locale: Option<LocaleParam>,
}

/// The body of `PATCH /users/{id}`: any subset of the fields, none `null`.
/// `role` and `isVerified` are for administrators (403 for anyone else).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"username": "dilnoza_t", "email": "dilnoza.t@example.uz"}))]
pub(crate) struct UpdateUserBody {
    /// 3 to 32 ASCII letters, digits, `_`, `.` or `-`; unique ignoring case.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]+$")]
    username: Option<String>,
    /// A new address. The owner must send `currentPassword` too; the address
    /// is then pending (`pendingEmail`) until the link mailed to it is
    /// followed. An administrator changing someone else's address changes it
    /// at once (unverified). Either way the old address gets a notice.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, format = Email, max_length = 254)]
    email: Option<String>,
    /// The owner's current password: required with a new `email` for one's
    /// own account.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false, max_length = 128)]
    current_password: Option<String>,
    /// Administrators only.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    role: Option<RoleParam>,
    /// Administrators only.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    is_verified: Option<bool>,
    /// The language of the account's mail (the owner may change it).
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    locale: Option<LocaleParam>,
}

impl TryFrom<UpdateUserBody> for AccountChanges {
    type Error = ValidationErrors;
    fn try_from(body: UpdateUserBody) -> Result<Self, Self::Error> {
        let mut errors = ValidationErrors::new();
        let changes = AccountChanges {
            username: body.username.and_then(|u| errors.check(Username::parse("username", &u))),
            email: body.email.and_then(|e| errors.check(Email::parse("email", &e))),
            role: body.role.map(Role::from),
            is_verified: body.is_verified,
            current_password: body.current_password,
            locale: body.locale.map(Locale::from),
        };
        errors.into_result(|| changes)
    }
}

problems!(ListProblems: UNAUTHENTICATED, INVALID_TOKEN, FORBIDDEN, VALIDATION_FAILED, UNAVAILABLE);

/// List accounts
///
/// Administrators only. Newest first; `q` matches part of the username or
/// e-mail, ignoring case.
#[utoipa::path(
    get, path = "/users", tag = "users", operation_id = "listUsers",
    params(ListParams),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "A page of accounts.", body = PageView<UserView>),
        ListProblems,
    ),
)]
pub(crate) async fn list(
    AdminUser(admin): AdminUser,
    users: web::Data<UserService>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = UserQuery::try_from(params).map_err(ApiError::validation)?;
    let page = users.list(&admin, &query).await?;
    let data = page.items.iter().map(UserView::from).collect();
    Ok(HttpResponse::Ok().json(PageView::new(data, page.total, query.page)))
}

problems!(CreateProblems: MALFORMED_JSON, UNAUTHENTICATED, INVALID_TOKEN, FORBIDDEN, CSRF_FAILED, EMAIL_TAKEN, USERNAME_TAKEN, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED, UNAVAILABLE);

/// Create an account
///
/// Administrators only: a customer or another administrator, verified or not.
#[utoipa::path(
    post, path = "/users", tag = "users", operation_id = "createUser",
    request_body = CreateUserBody,
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 201, description = "The new account.", body = UserView,
            headers(("Location" = String, description = "The account's address.")),
            links(
                ("GetUser" = (operation_id = "getUser", parameters(("id" = "$response.body#/id")))),
                ("UpdateUser" = (operation_id = "updateUser", parameters(("id" = "$response.body#/id")))),
                ("DeleteUser" = (operation_id = "deleteUser", parameters(("id" = "$response.body#/id")))),
            ),
        ),
        CreateProblems,
    ),
)]
pub(crate) async fn create(
    AdminUser(admin): AdminUser,
    users: web::Data<UserService>,
    request: HttpRequest,
    JsonBody(body): JsonBody<CreateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let signup = Signup::parse(&body.username, &body.email, &body.password)
        .map_err(ApiError::validation)?
        .with_locale(chosen_locale(body.locale, &request));
    let account = NewAccount {
        signup,
        role: body.role.map_or(Role::User, Role::from),
        is_verified: body.is_verified.unwrap_or(false),
    };
    let user = users.create(&admin, account).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/users/{}", user.id)))
        .json(UserView::from(&user)))
}

problems!(GetProblems: INVALID_ID, UNAUTHENTICATED, INVALID_TOKEN, NOT_FOUND, UNAVAILABLE);

/// Get an account
///
/// An administrator, or the account's owner; anyone else's account is 404.
#[utoipa::path(
    get, path = "/users/{id}", tag = "users", operation_id = "getUser",
    params(("id" = inline(IdParam), Path, description = "The account's id.", example = "665f1c2e9b1d4a0012345678")),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The account.", body = UserView),
        GetProblems,
    ),
)]
pub(crate) async fn get(
    AuthUser(caller): AuthUser,
    PathId(id): PathId,
    users: web::Data<UserService>,
    cached: IfNoneMatch,
) -> Result<HttpResponse, ApiError> {
    let user = users.get(&caller, id).await?;
    Ok(cached.respond(user.version, &UserView::from(&user)))
}

problems!(UpdateProblems: MALFORMED_JSON, INVALID_ID, UNAUTHENTICATED, INVALID_TOKEN, FORBIDDEN, CSRF_FAILED, NOT_FOUND, EMAIL_TAKEN, USERNAME_TAKEN, LAST_ADMIN, PRECONDITION_FAILED, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED, RATE_LIMITED, UNAVAILABLE);

/// Change an account
///
/// An administrator, or the owner (who may change `username` and `email`,
/// never `role` or `isVerified`: 403). The owner's new `email` needs
/// `currentPassword` and stays pending until proven; an administrator's
/// change of someone else's applies at once, unverified unless `isVerified`
/// comes with it. Demoting the last ADMIN is 409 `last_admin`; an address
/// change inside the mail interval is 429. `{}` changes nothing. With the
/// `ETag` you read in `If-Match`, a change made meanwhile is not overwritten
/// (412 `precondition_failed`).
#[utoipa::path(
    patch, path = "/users/{id}", tag = "users", operation_id = "updateUser",
    params(("id" = inline(IdParam), Path, description = "The account's id.", example = "665f1c2e9b1d4a0012345678")),
    request_body = UpdateUserBody,
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The account as it is now.", body = UserView),
        UpdateProblems,
    ),
)]
pub(crate) async fn update(
    AuthUser(caller): AuthUser,
    PathId(id): PathId,
    users: web::Data<UserService>,
    IfMatch(precondition): IfMatch,
    JsonBody(body): JsonBody<UpdateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let changes = AccountChanges::try_from(body).map_err(ApiError::validation)?;
    let user = users.update(&caller, id, changes, precondition).await?;
    Ok(conditional::tagged(user.version, &UserView::from(&user)))
}

problems!(DeleteProblems: INVALID_ID, UNAUTHENTICATED, INVALID_TOKEN, CSRF_FAILED, NOT_FOUND, LAST_ADMIN, UNAVAILABLE);

/// Delete an account
///
/// An administrator, or the owner. Its sessions are revoked and its PENDING
/// orders cancelled; its order history stays for administrators.
#[utoipa::path(
    delete, path = "/users/{id}", tag = "users", operation_id = "deleteUser",
    params(("id" = inline(IdParam), Path, description = "The account's id.", example = "665f1c2e9b1d4a0012345678")),
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 204, description = "Deleted."),
        DeleteProblems,
    ),
)]
pub(crate) async fn delete(
    AuthUser(caller): AuthUser,
    PathId(id): PathId,
    users: web::Data<UserService>,
) -> Result<HttpResponse, ApiError> {
    users.delete(&caller, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
