//! `/api/v1/auth`: signing up, logging in (cookies), refreshing, logging out,
//! the caller's own account and changing the password.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Deserialize;
use serde_json::json;
use tozalash_app::{AuthService, Authenticated};
use tozalash_domain::Signup;

use super::method_not_allowed;
use super::users::UserView;
use crate::auth::{require_csrf, AccessTokens, AuthUser, ACCESS_COOKIE};
use crate::cookies::{CookiePolicy, REFRESH_COOKIE};
use crate::error::{problem, ApiError};
use crate::extract::JsonBody;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let post = |path: &'static str, route: actix_web::Route| {
        web::resource(path)
            .route(route)
            .default_service(web::to(method_not_allowed))
    };
    cfg.service(post("/auth/signup", web::post().to(signup)))
        .service(post("/auth/login", web::post().to(login)))
        .service(post("/auth/refresh", web::post().to(refresh)))
        .service(post("/auth/logout", web::post().to(logout)))
        .service(post("/auth/logout-all", web::post().to(logout_all)))
        .service(post(
            "/auth/change-password",
            web::post().to(change_password),
        ))
        .service(
            web::resource("/auth/me")
                .route(web::get().to(me))
                .default_service(web::to(method_not_allowed)),
        );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignupBody {
    username: String,
    email: String,
    password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

async fn signup(
    auth: web::Data<AuthService>,
    JsonBody(body): JsonBody<SignupBody>,
) -> Result<HttpResponse, ApiError> {
    let signup =
        Signup::parse(&body.username, &body.email, &body.password).map_err(ApiError::validation)?;
    let user = auth.signup(signup).await?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/api/v1/users/{}", user.id)))
        .json(UserView::from(&user)))
}

async fn login(
    auth: web::Data<AuthService>,
    tokens: web::Data<AccessTokens>,
    cookies: web::Data<CookiePolicy>,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let session = auth.login(&body.email, &body.password).await?;
    let mut response = HttpResponse::Ok();
    start_session(&mut response, &session, &tokens, &cookies)?;
    Ok(response.json(json!({ "user": UserView::from(&session.user) })))
}

/// Mints the access token and sets the three session cookies.
fn start_session(
    response: &mut HttpResponseBuilder,
    session: &Authenticated,
    tokens: &AccessTokens,
    cookies: &CookiePolicy,
) -> Result<(), ApiError> {
    let access = tokens.issue(&session.principal, chrono::Utc::now())?;
    cookies.set_session(response, &access, &session.refresh_token.plain);
    Ok(())
}

/// Rotates the refresh token (from its cookie) and issues a new access token.
async fn refresh(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    tokens: web::Data<AccessTokens>,
    cookies: web::Data<CookiePolicy>,
) -> Result<HttpResponse, ApiError> {
    require_csrf(&req)?;
    let presented = req
        .cookie(REFRESH_COOKIE)
        .map(|c| c.value().to_owned())
        .ok_or_else(|| {
            ApiError::new(
                &problem::INVALID_REFRESH_TOKEN,
                "There is no refresh_token cookie; log in.",
            )
        })?;
    let session = auth.refresh(&presented).await?;
    let mut response = HttpResponse::Ok();
    start_session(&mut response, &session, &tokens, &cookies)?;
    Ok(response.json(json!({ "user": UserView::from(&session.user) })))
}

/// Revokes the current session (named by the access token, else by the refresh
/// cookie) and clears the cookies. Idempotent: with no session it only clears.
async fn logout(
    req: HttpRequest,
    caller: Option<AuthUser>,
    auth: web::Data<AuthService>,
    cookies: web::Data<CookiePolicy>,
) -> Result<HttpResponse, ApiError> {
    let by_cookie = req.headers().get(header::AUTHORIZATION).is_none()
        && (req.cookie(ACCESS_COOKIE).is_some() || req.cookie(REFRESH_COOKIE).is_some());
    if by_cookie {
        require_csrf(&req)?;
    }
    let session = match (caller, req.cookie(REFRESH_COOKIE)) {
        (Some(AuthUser(principal)), _) => Some(principal.session_id),
        (None, Some(cookie)) => auth.session_of(cookie.value()).await?,
        (None, None) => None,
    };
    if let Some(session) = session {
        auth.logout(session).await?;
    }
    let mut response = HttpResponse::NoContent();
    cookies.clear_session(&mut response);
    Ok(response.finish())
}

async fn logout_all(
    AuthUser(caller): AuthUser,
    auth: web::Data<AuthService>,
    cookies: web::Data<CookiePolicy>,
) -> Result<HttpResponse, ApiError> {
    auth.logout_all(&caller).await?;
    let mut response = HttpResponse::NoContent();
    cookies.clear_session(&mut response);
    Ok(response.finish())
}

async fn me(
    AuthUser(caller): AuthUser,
    auth: web::Data<AuthService>,
) -> Result<HttpResponse, ApiError> {
    let user = auth.me(&caller).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

async fn change_password(
    AuthUser(caller): AuthUser,
    auth: web::Data<AuthService>,
    JsonBody(body): JsonBody<ChangePasswordBody>,
) -> Result<HttpResponse, ApiError> {
    auth.change_password(&caller, &body.current_password, &body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
