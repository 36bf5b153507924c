//! `/api/v1/users`: administrators manage every account; a customer may read,
//! edit and delete only their own (anyone else's is 404).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tozalash_app::users::{AccountChanges, NewAccount};
use tozalash_app::UserService;
use tozalash_domain::{
    Email, PageRequest, Role, SearchText, Signup, User, UserQuery, Username, ValidationErrors,
};

use super::{method_not_allowed, timestamp};
use crate::auth::{AdminUser, AuthUser};
use crate::error::ApiError;
use crate::extract::{non_null, JsonBody, PathId, QueryParams};
use crate::routes::services::PageView;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/users/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete))
            .default_service(web::to(method_not_allowed)),
    );
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView<'a> {
    id: String,
    username: &'a str,
    email: &'a str,
    role: &'static str,
    is_verified: bool,
    created_at: String,
    updated_at: String,
}

impl<'a> From<&'a User> for UserView<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            id: u.id.to_hex(),
            username: u.username.as_str(),
            email: u.email.as_str(),
            role: u.role.as_str(),
            is_verified: u.is_verified,
            created_at: timestamp(&u.created_at),
            updated_at: timestamp(&u.updated_at),
        }
    }
}

/// `ADMIN` or `USER` on the wire.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
enum RoleParam {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    page: Option<u32>,
    limit: Option<u32>,
    role: Option<RoleParam>,
    verified: Option<bool>,
    /// Part of the username or e-mail.
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateUserBody {
    username: String,
    email: String,
    password: String,
    #[serde(default, deserialize_with = "non_null")]
    role: Option<RoleParam>,
    #[serde(default, deserialize_with = "non_null")]
    is_verified: Option<bool>,
}

/// The body of `PATCH /users/{id}`; `role` and `isVerified` are for admins.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UpdateUserBody {
    #[serde(default, deserialize_with = "non_null")]
    username: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    email: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    role: Option<RoleParam>,
    #[serde(default, deserialize_with = "non_null")]
    is_verified: Option<bool>,
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
        };
        errors.into_result(|| changes)
    }
}

async fn list(
    AdminUser(admin): AdminUser,
    users: web::Data<UserService>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = UserQuery::try_from(params).map_err(ApiError::validation)?;
    let page = users.list(&admin, &query).await?;
    let data = page.items.iter().map(UserView::from).collect();
    Ok(HttpResponse::Ok().json(PageView::new(data, page.total, query.page)))
}

async fn create(
    AdminUser(admin): AdminUser,
    users: web::Data<UserService>,
    JsonBody(body): JsonBody<CreateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let signup =
        Signup::parse(&body.username, &body.email, &body.password).map_err(ApiError::validation)?;
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

async fn get(
    AuthUser(caller): AuthUser,
    PathId(id): PathId,
    users: web::Data<UserService>,
) -> Result<HttpResponse, ApiError> {
    let user = users.get(&caller, id).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

async fn update(
    AuthUser(caller): AuthUser,
    PathId(id): PathId,
    users: web::Data<UserService>,
    JsonBody(body): JsonBody<UpdateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let changes = AccountChanges::try_from(body).map_err(ApiError::validation)?;
    let user = users.update(&caller, id, changes).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

async fn delete(
    AuthUser(caller): AuthUser,
    PathId(id): PathId,
    users: web::Data<UserService>,
) -> Result<HttpResponse, ApiError> {
    users.delete(&caller, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
