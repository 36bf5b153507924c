//! `/api/v1/auth`: signing up, logging in (cookies), refreshing, logging out,
//! the caller's own account and changing the password.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Deserialize;
use serde_json::json;
use tozalash_app::{AuthService, Authenticated};
use tozalash_domain::{Email, Signup};

use super::method_not_allowed;
use super::users::UserView;
use crate::auth::{require_csrf, AccessTokens, AuthUser, ACCESS_COOKIE};
use crate::cookies::{CookiePolicy, REFRESH_COOKIE};
use crate::error::{problem, ApiError};
use crate::extract::{JsonBody, QueryParams};

pub fn configure(cfg: &mut web::ServiceConfig) {
    let post = |path: &'static str, route: actix_web::Route| {
        web::resource(path).route(route).default_service(web::to(method_not_allowed))
    };
    cfg.service(post("/auth/signup", web::post().to(signup)))
        .service(post("/auth/login", web::post().to(login)))
        .service(post("/auth/refresh", web::post().to(refresh)))
        .service(post("/auth/logout", web::post().to(logout)))
        .service(post("/auth/logout-all", web::post().to(logout_all)))
        .service(post("/auth/change-password", web::post().to(change_password)))
        .service(
            web::resource("/auth/me")
                .route(web::get().to(me))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/auth/verify-email")
                .route(web::post().to(verify_email))
                .route(web::get().to(verify_email_page))
                .default_service(web::to(method_not_allowed)),
        )
        .service(post("/auth/resend-verification", web::post().to(resend_verification)))
        .service(post("/auth/forgot-password", web::post().to(forgot_password)))
        .service(
            web::resource("/auth/reset-password")
                .route(web::post().to(reset_password))
                .route(web::get().to(reset_password_page))
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
    let presented = req.cookie(REFRESH_COOKIE).map(|c| c.value().to_owned()).ok_or_else(|| {
        ApiError::new(&problem::INVALID_REFRESH_TOKEN, "There is no refresh_token cookie; log in.")
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
    auth.change_password(&caller, &body.current_password, &body.new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenParams {
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    email: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetPasswordBody {
    token: String,
    password: String,
}

/// `POST /auth/verify-email {token}`: marks the account verified.
async fn verify_email(
    auth: web::Data<AuthService>,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let user = auth.verify_email(&body.token).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

/// `GET /auth/verify-email?token=…`: the link in the e-mail; answers a short page.
async fn verify_email_page(
    auth: web::Data<AuthService>,
    QueryParams(params): QueryParams<TokenParams>,
) -> Result<HttpResponse, ApiError> {
    let outcome = match params.token {
        Some(token) => auth.verify_email(&token).await,
        None => Err(tozalash_app::AppError::InvalidEmailToken),
    };
    Ok(match outcome {
        Ok(_) => page(HttpResponse::Ok(), include_str!("../pages/verified.html")),
        Err(tozalash_app::AppError::InvalidEmailToken) => {
            page(HttpResponse::BadRequest(), include_str!("../pages/link_invalid.html"))
        }
        Err(other) => return Err(other.into()),
    })
}

/// `POST /auth/resend-verification {email}`: 202 whether or not the account
/// exists. The work happens after the answer, so both cases take the same time.
async fn resend_verification(
    auth: web::Data<AuthService>,
    JsonBody(body): JsonBody<EmailBody>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse("email", &body.email).map_err(ApiError::field)?;
    let auth = auth.into_inner();
    actix_web::rt::spawn(async move {
        if let Err(error) = auth.resend_verification(&email).await {
            tracing::error!(error = ?error, "resending a verification mail failed");
        }
    });
    Ok(accepted())
}

/// `POST /auth/forgot-password {email}`: 202 whether or not the account exists.
async fn forgot_password(
    auth: web::Data<AuthService>,
    JsonBody(body): JsonBody<EmailBody>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse("email", &body.email).map_err(ApiError::field)?;
    let auth = auth.into_inner();
    actix_web::rt::spawn(async move {
        if let Err(error) = auth.forgot_password(&email).await {
            tracing::error!(error = ?error, "queueing a password-reset mail failed");
        }
    });
    Ok(accepted())
}

fn accepted() -> HttpResponse {
    HttpResponse::Accepted().json(json!({
        "status": "accepted",
        "detail": "If an account has this address, a mail is on its way."
    }))
}

/// `POST /auth/reset-password {token,password}`: sets the password and ends
/// every session of the account.
async fn reset_password(
    auth: web::Data<AuthService>,
    JsonBody(body): JsonBody<ResetPasswordBody>,
) -> Result<HttpResponse, ApiError> {
    auth.reset_password(&body.token, &body.password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /auth/reset-password?token=…`: the link in the e-mail; a minimal form
/// that posts the new password to the endpoint above.
async fn reset_password_page() -> HttpResponse {
    page(HttpResponse::Ok(), include_str!("../pages/reset_password.html"))
}

/// A small HTML page: never cached, never leaking its URL (with the token) as
/// a referrer, and allowed to talk only to this server.
fn page(mut response: HttpResponseBuilder, html: &'static str) -> HttpResponse {
    response
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ))
        .body(html)
}
