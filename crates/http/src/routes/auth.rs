//! `/api/v1/auth`: signing up, logging in (cookies), refreshing, logging out,
//! the caller's own account and changing the password.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::{Deserialize, Serialize};
use tozalash_app::{AuthService, Authenticated};
use tozalash_domain::{Email, Signup};
use tracing::Instrument;
use utoipa::{OpenApi, ToSchema};

use super::users::{chosen_locale, LocaleParam, UserView};
use super::{endpoint, Endpoint};
use crate::auth::{require_csrf, token_session, AccessTokens, AuthUser, Carrier, CSRF_HEADER};
use crate::client_ip::ClientIp;
use crate::conditional::{self, IfNoneMatch};
use crate::cookies::{CookiePolicy, REFRESH_COOKIE};
use crate::error::responses::problems;
use crate::error::{problem, ApiError};
use crate::extract::{non_null, JsonBody, QueryParams};

/// The sessions' and accounts' part of the OpenAPI document, mounted like
/// [`ENDPOINTS`].
#[derive(Debug, OpenApi)]
#[openapi(
    paths(
        signup,
        login,
        refresh,
        logout,
        logout_all,
        me,
        csrf,
        verify_email,
        verify_email_page,
        resend_verification,
        forgot_password,
        reset_password,
        reset_password_page,
        change_password,
    ),
    modifiers(
        &SignupProblems, &LoginProblems, &RefreshProblems, &LogoutProblems, &LogoutAllProblems,
        &MeProblems, &CsrfProblems, &ChangePasswordProblems, &VerifyEmailProblems, &VerifyEmailPageProblems,
        &EmailProblems, &ResetPasswordProblems, &CONDITIONAL,
    ),
    tags((name = "auth", description = "Signing up, logging in and out, sessions, e-mail verification and passwords.")),
)]
pub struct Api;

/// `/auth/me` carries the caller's `ETag` (the one of `/users/{id}`) and honours `If-None-Match`.
const CONDITIONAL: conditional::Documented =
    conditional::Documented { reads: &["me"], writes: &[] };

/// Mounted at `/api/v1`.
pub const ENDPOINTS: &[Endpoint] = &[
    endpoint!(POST "/auth/signup" => signup),
    endpoint!(POST "/auth/login" => login),
    endpoint!(POST "/auth/refresh" => refresh),
    endpoint!(POST "/auth/logout" => logout),
    endpoint!(POST "/auth/logout-all" => logout_all),
    endpoint!(POST "/auth/change-password" => change_password),
    endpoint!(GET "/auth/me" => me),
    endpoint!(GET "/auth/csrf" => csrf),
    endpoint!(POST "/auth/verify-email" => verify_email),
    endpoint!(GET "/auth/verify-email" => verify_email_page),
    endpoint!(POST "/auth/resend-verification" => resend_verification),
    endpoint!(POST "/auth/forgot-password" => forgot_password),
    endpoint!(POST "/auth/reset-password" => reset_password),
    endpoint!(GET "/auth/reset-password" => reset_password_page),
];

/// The body of `POST /auth/signup`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "dilnoza", "email": "dilnoza@example.uz", "password": "Toza-uy-2026!"}))]
pub(crate) struct SignupBody {
    /// 3 to 32 ASCII letters, digits, `_`, `.` or `-`; unique ignoring case.
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]+$")]
    username: String,
    /// Stored in lower case; unique.
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 8 to 128 characters; not a common password, nor the username or e-mail.
    #[schema(min_length = 8, max_length = 128, format = Password)]
    password: String,
    /// The language of the account's mail; the request's `Accept-Language`
    /// when omitted, else the service's default.
    #[serde(default, deserialize_with = "non_null")]
    #[schema(nullable = false)]
    locale: Option<LocaleParam>,
}

/// The body of `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "dilnoza@example.uz", "password": "Toza-uy-2026!"}))]
pub(crate) struct LoginBody {
    /// Any text: an unknown or malformed address gets the same 401 as a wrong password.
    email: String,
    #[schema(format = Password)]
    password: String,
}

/// The body of `POST /auth/change-password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"currentPassword": "Toza-uy-2026!", "newPassword": "Yangi-parol-2027?"}))]
pub(crate) struct ChangePasswordBody {
    /// The password now (422 `incorrect` when wrong).
    #[schema(format = Password)]
    current_password: String,
    /// 8 to 128 characters; not a common password, nor the username or e-mail.
    #[schema(min_length = 8, max_length = 128, format = Password)]
    new_password: String,
}

/// What login and refresh answer (the tokens travel only in cookies).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionView<'a> {
    user: UserView<'a>,
}

/// What `GET /auth/csrf` answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"csrfToken": "Jq1bX0v8mWc3Ys5tLr7Nk2Pd9Hf4Ga6Ue8Zo1Ai3Qw"}))]
pub(crate) struct CsrfView {
    /// The session's CSRF token: send it in `X-CSRF-Token` with every
    /// cookie-authenticated POST, PATCH or DELETE.
    csrf_token: String,
}

/// What resend-verification and forgot-password answer, whatever the address.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "accepted", "detail": "If an account has this address, a mail is on its way."}))]
pub(crate) struct AcceptedView {
    /// Always `accepted`.
    #[schema(value_type = String, pattern = "^accepted$")]
    status: &'static str,
    #[schema(value_type = String)]
    detail: &'static str,
}

problems!(SignupProblems: MALFORMED_JSON, EMAIL_TAKEN, USERNAME_TAKEN, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED, UNAVAILABLE);

/// Sign up
///
/// Creates an unverified `USER` account and mails a verification link to the
/// address. Taken e-mail addresses and usernames (ignoring case) are refused
/// with 409.
#[utoipa::path(
    post, path = "/auth/signup", tag = "auth", operation_id = "signup",
    request_body = SignupBody,
    responses(
        (status = 201, description = "The new account.", body = UserView,
            headers(("Location" = String, description = "The account's address."))),
        SignupProblems,
    ),
)]
pub(crate) async fn signup(
    auth: web::Data<AuthService>,
    ClientIp(client): ClientIp,
    request: HttpRequest,
    JsonBody(body): JsonBody<SignupBody>,
) -> Result<HttpResponse, ApiError> {
    let signup = Signup::parse(&body.username, &body.email, &body.password)
        .map_err(ApiError::validation)?
        .with_locale(chosen_locale(body.locale, &request));
    let user = auth.signup(signup, client).await?;
    Ok(HttpResponse::Created()
        .insert_header(("location", format!("/api/v1/users/{}", user.id)))
        .json(UserView::from(&user)))
}

problems!(LoginProblems: MALFORMED_JSON, INVALID_CREDENTIALS, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED, UNAVAILABLE);

/// Log in
///
/// Opens a session and sets three cookies: `access_token` (the JWT; HttpOnly,
/// SameSite=Lax, Path=/), `refresh_token` (HttpOnly, SameSite=Strict,
/// Path=/api/v1/auth) and `csrf_token` (readable, for `X-CSRF-Token`); the
/// CSRF token also comes in the `X-CSRF-Token` response header, for a page on
/// another host that cannot read the cookie. API clients may take the access
/// token from its `Set-Cookie` and send it as `Authorization: Bearer`. An
/// unknown e-mail and a wrong password get the same 401.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth", operation_id = "login",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in.", body = SessionView,
            headers(
                ("Set-Cookie" = String, description = "`access_token`, `refresh_token` and `csrf_token` (three headers)."),
                ("X-CSRF-Token" = String, description = "The session's CSRF token (the value of the `csrf_token` cookie)."),
            )),
        LoginProblems,
    ),
)]
pub(crate) async fn login(
    auth: web::Data<AuthService>,
    tokens: web::Data<AccessTokens>,
    cookies: web::Data<CookiePolicy>,
    ClientIp(client): ClientIp,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let session = auth.login(&body.email, &body.password, client).await?;
    let mut response = HttpResponse::Ok();
    start_session(&mut response, &session, &tokens, &cookies)?;
    Ok(response.json(SessionView { user: UserView::from(&session.user) }))
}

/// Mints the access token and sets the three session cookies, and answers
/// the CSRF token in `X-CSRF-Token` too.
fn start_session(
    response: &mut HttpResponseBuilder,
    session: &Authenticated,
    tokens: &AccessTokens,
    cookies: &CookiePolicy,
) -> Result<(), ApiError> {
    let access = tokens.issue(&session.principal, chrono::Utc::now())?;
    let csrf = tokens.csrf_token(session.principal.session_id);
    cookies.set_session(response, &access, &session.refresh_token.plain, &csrf);
    response.insert_header((CSRF_HEADER, csrf));
    Ok(())
}

problems!(RefreshProblems: INVALID_REFRESH_TOKEN, CSRF_FAILED, UNAVAILABLE);

/// Refresh the session
///
/// Rotates the refresh token (from its cookie) and issues a new access token,
/// in new cookies. Needs the `csrf_token` cookie echoed in `X-CSRF-Token`. A
/// rotated refresh token presented again after a short grace window ends the
/// whole session.
#[utoipa::path(
    post, path = "/auth/refresh", tag = "auth", operation_id = "refresh",
    params(("X-CSRF-Token" = String, Header, description = "The value of the `csrf_token` cookie.")),
    security(("refreshCookie" = [])),
    responses(
        (status = 200, description = "Refreshed; the user is read anew.", body = SessionView,
            headers(
                ("Set-Cookie" = String, description = "New `access_token`, `refresh_token` and `csrf_token`."),
                ("X-CSRF-Token" = String, description = "The session's CSRF token (unchanged by a refresh)."),
            )),
        RefreshProblems,
    ),
)]
pub(crate) async fn refresh(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    tokens: web::Data<AccessTokens>,
    cookies: web::Data<CookiePolicy>,
) -> Result<HttpResponse, ApiError> {
    let presented = req.cookie(REFRESH_COOKIE).map(|c| c.value().to_owned()).ok_or_else(|| {
        ApiError::new(&problem::INVALID_REFRESH_TOKEN, "There is no refresh_token cookie; log in.")
    })?;
    // The CSRF token is the session's, and the session is the refresh
    // token's: the access cookie may have expired already.
    let session_id = auth.session_of(&presented).await?.ok_or_else(|| {
        ApiError::new(&problem::INVALID_REFRESH_TOKEN, "The session has ended; log in.")
    })?;
    require_csrf(&req, session_id)?;
    let session = auth.refresh(&presented).await?;
    let mut response = HttpResponse::Ok();
    start_session(&mut response, &session, &tokens, &cookies)?;
    Ok(response.json(SessionView { user: UserView::from(&session.user) }))
}

problems!(LogoutProblems: INVALID_TOKEN, CSRF_FAILED, UNAVAILABLE);

/// Log out
///
/// Revokes the current session (named by the access token, else by the
/// refresh cookie) and expires the three cookies. Idempotent: with no session
/// it only expires the cookies. A cookie-borne session needs its
/// `X-CSRF-Token`; an `Authorization` header that is not a valid token is 401
/// and ends nothing.
#[utoipa::path(
    post, path = "/auth/logout", tag = "auth", operation_id = "logout",
    security((), ("bearerAuth" = []), ("cookieAuth" = []), ("refreshCookie" = [])),
    responses(
        (status = 204, description = "Logged out; the cookies are expired.",
            headers(("Set-Cookie" = String, description = "The three cookies, expired."))),
        LogoutProblems,
    ),
)]
pub(crate) async fn logout(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    cookies: web::Data<CookiePolicy>,
) -> Result<HttpResponse, ApiError> {
    // The same rule as every other write: a token that was sent must be
    // valid (a junk `Authorization` header is 401, never a fall-back to the
    // cookies), and a cookie-borne session needs its CSRF token.
    let session = match token_session(&req)? {
        Some((session, Carrier::Bearer)) => Some(session),
        Some((session, Carrier::Cookie)) => {
            require_csrf(&req, session)?;
            Some(session)
        }
        None => match req.cookie(REFRESH_COOKIE) {
            Some(cookie) => {
                let session = auth.session_of(cookie.value()).await?;
                if let Some(session) = session {
                    require_csrf(&req, session)?;
                }
                session
            }
            None => None,
        },
    };
    if let Some(session) = session {
        auth.logout(session).await?;
    }
    let mut response = HttpResponse::NoContent();
    cookies.clear_session(&mut response);
    Ok(response.finish())
}

problems!(LogoutAllProblems: UNAUTHENTICATED, INVALID_TOKEN, CSRF_FAILED, UNAVAILABLE);

/// Log out everywhere
///
/// Revokes every session of the caller and expires this client's cookies.
/// Access tokens already issued live out their short lifetime.
#[utoipa::path(
    post, path = "/auth/logout-all", tag = "auth", operation_id = "logoutAll",
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 204, description = "Every session is revoked.",
            headers(("Set-Cookie" = String, description = "The three cookies, expired."))),
        LogoutAllProblems,
    ),
)]
pub(crate) async fn logout_all(
    AuthUser(caller): AuthUser,
    auth: web::Data<AuthService>,
    cookies: web::Data<CookiePolicy>,
) -> Result<HttpResponse, ApiError> {
    auth.logout_all(&caller).await?;
    let mut response = HttpResponse::NoContent();
    cookies.clear_session(&mut response);
    Ok(response.finish())
}

problems!(MeProblems: UNAUTHENTICATED, INVALID_TOKEN, NOT_FOUND, UNAVAILABLE);

/// The caller's account
///
/// The same representation as `GET /users/{id}` of the caller, with the same
/// `ETag`: a tag read here may be sent in `If-Match` to `PATCH /users/{id}`.
/// Under a cookie session the `X-CSRF-Token` header carries the session's
/// CSRF token.
#[utoipa::path(
    get, path = "/auth/me", tag = "auth", operation_id = "me",
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 200, description = "The caller.", body = UserView,
            headers(("X-CSRF-Token" = String, description = "The session's CSRF token, when the caller came by the `access_token` cookie."))),
        MeProblems,
    ),
)]
pub(crate) async fn me(
    req: HttpRequest,
    AuthUser(caller): AuthUser,
    auth: web::Data<AuthService>,
    tokens: web::Data<AccessTokens>,
    cached: IfNoneMatch,
) -> Result<HttpResponse, ApiError> {
    let user = auth.me(&caller).await?;
    let mut response = cached.respond(user.version, &UserView::from(&user));
    if let Some((session, Carrier::Cookie)) = token_session(&req)? {
        let csrf = header::HeaderValue::try_from(tokens.csrf_token(session))
            .map_err(|_| ApiError::internal("a CSRF token is not a header value"))?;
        response.headers_mut().insert(header::HeaderName::from_static(CSRF_HEADER), csrf);
    }
    Ok(response)
}

problems!(CsrfProblems: UNAUTHENTICATED, INVALID_TOKEN, INVALID_REFRESH_TOKEN, UNAVAILABLE);

/// The session's CSRF token
///
/// For a page that cannot read the `csrf_token` cookie (served from another
/// host) and has lost the token (a reload): answers the CSRF token of the
/// session the `refresh_token` cookie belongs to, else of the access token's
/// (cookie or Bearer). It works after the access cookie expired. The token is
/// no credential: a write still needs the session's cookies, and CORS hands
/// this answer only to the origins of `CORS_ORIGINS`.
#[utoipa::path(
    get, path = "/auth/csrf", tag = "auth", operation_id = "csrfToken",
    security(("refreshCookie" = []), ("cookieAuth" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The session's CSRF token.", body = CsrfView,
            headers(("X-CSRF-Token" = String, description = "The same token."))),
        CsrfProblems,
    ),
)]
pub(crate) async fn csrf(
    req: HttpRequest,
    auth: web::Data<AuthService>,
    tokens: web::Data<AccessTokens>,
) -> Result<HttpResponse, ApiError> {
    let by_refresh = match req.cookie(REFRESH_COOKIE) {
        Some(cookie) => Some(auth.session_of(cookie.value()).await?),
        None => None,
    };
    let session = match by_refresh {
        Some(Some(session)) => session,
        // A dead refresh cookie: the access token may still name the session.
        Some(None) => match token_session(&req) {
            Ok(Some((session, _))) => session,
            _ => {
                return Err(ApiError::new(
                    &problem::INVALID_REFRESH_TOKEN,
                    "The session has ended; log in.",
                ))
            }
        },
        None => token_session(&req)?.map(|(session, _)| session).ok_or_else(|| {
            ApiError::new(&problem::UNAUTHENTICATED, "There is no session cookie; log in.")
        })?,
    };
    let csrf = tokens.csrf_token(session);
    Ok(HttpResponse::Ok()
        .insert_header((CSRF_HEADER, csrf.clone()))
        .json(CsrfView { csrf_token: csrf }))
}

problems!(ChangePasswordProblems: MALFORMED_JSON, UNAUTHENTICATED, INVALID_TOKEN, CSRF_FAILED, NOT_FOUND, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED, UNAVAILABLE);

/// Change the password
///
/// The caller's other sessions are revoked. A wrong current password is 422
/// with `currentPassword` `incorrect` (not 401).
#[utoipa::path(
    post, path = "/auth/change-password", tag = "auth", operation_id = "changePassword",
    request_body = ChangePasswordBody,
    security(("bearerAuth" = []), ("cookieAuth" = [])),
    responses(
        (status = 204, description = "Changed."),
        ChangePasswordProblems,
    ),
)]
pub(crate) async fn change_password(
    AuthUser(caller): AuthUser,
    auth: web::Data<AuthService>,
    JsonBody(body): JsonBody<ChangePasswordBody>,
) -> Result<HttpResponse, ApiError> {
    auth.change_password(&caller, &body.current_password, &body.new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The body of `POST /auth/verify-email`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "q0pX3k9mT2c8Yb1sVw7nRz4eLh6uAj5dGf0iKo2xCyE"}))]
pub(crate) struct TokenBody {
    /// The `token` of the link in the mail.
    token: String,
}

/// The query of `GET /auth/verify-email`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TokenParams {
    /// The token from the mail.
    #[param(example = "q0pX3k9mT2c8Yb1sVw7nRz4eLh6uAj5dGf0iKo2xCyE")]
    token: Option<String>,
}

/// The body of `POST /auth/resend-verification` and `POST /auth/forgot-password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "dilnoza@example.uz"}))]
pub(crate) struct EmailBody {
    /// A syntactically valid e-mail address (else 422).
    #[schema(format = Email, max_length = 254)]
    email: String,
}

/// The body of `POST /auth/reset-password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "q0pX3k9mT2c8Yb1sVw7nRz4eLh6uAj5dGf0iKo2xCyE", "password": "Yangi-parol-2027?"}))]
pub(crate) struct ResetPasswordBody {
    /// The `token` of the link in the mail.
    token: String,
    /// The new password: 8 to 128 characters; not a common password, nor the username or e-mail.
    #[schema(min_length = 8, max_length = 128, format = Password)]
    password: String,
}

problems!(VerifyEmailProblems: MALFORMED_JSON, INVALID_EMAIL_TOKEN, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED, UNAVAILABLE);

/// Verify the e-mail address
///
/// Redeems the token of the link in the verification mail (single use,
/// expiring) and answers the account, now verified.
#[utoipa::path(
    post, path = "/auth/verify-email", tag = "auth", operation_id = "verifyEmail",
    request_body = TokenBody,
    responses(
        (status = 200, description = "The account, now verified.", body = UserView),
        VerifyEmailProblems,
    ),
)]
pub(crate) async fn verify_email(
    auth: web::Data<AuthService>,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<HttpResponse, ApiError> {
    let user = auth.verify_email(&body.token).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

problems!(VerifyEmailPageProblems: VALIDATION_FAILED, UNAVAILABLE);

/// The verification link (HTML)
///
/// The link in the verification mail: verifies the address and answers a
/// short HTML page.
#[utoipa::path(
    get, path = "/auth/verify-email", tag = "auth", operation_id = "verifyEmailPage",
    params(TokenParams),
    responses(
        (status = 200, description = "Verified: a page that says so.", content_type = "text/html", body = String),
        (status = 400, description = "The link is invalid, used, superseded or expired: a page that says so.", content_type = "text/html", body = String),
        VerifyEmailPageProblems,
    ),
)]
pub(crate) async fn verify_email_page(
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

problems!(EmailProblems: MALFORMED_JSON, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED);

/// Send the verification mail again
///
/// 202 whether or not an account has this address (and in the same time);
/// a new link invalidates the earlier ones. At most one mail per address in
/// `MAIL_RESEND_INTERVAL` seconds; requests per client IP are limited
/// (`MAIL_IP`, shared with forgot-password).
#[utoipa::path(
    post, path = "/auth/resend-verification", tag = "auth", operation_id = "resendVerification",
    request_body = EmailBody,
    responses(
        (status = 202, description = "Accepted, whatever the address.", body = AcceptedView),
        EmailProblems,
    ),
)]
pub(crate) async fn resend_verification(
    auth: web::Data<AuthService>,
    ClientIp(client): ClientIp,
    JsonBody(body): JsonBody<EmailBody>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse("email", &body.email).map_err(ApiError::field)?;
    auth.admit_mail_request(client).await?;
    let auth = auth.into_inner();
    Ok(accept_then("resending a verification mail", async move {
        auth.resend_verification(&email).await
    }))
}

/// Ask for a password-reset link
///
/// 202 whether or not an account has this address (and in the same time).
#[utoipa::path(
    post, path = "/auth/forgot-password", tag = "auth", operation_id = "forgotPassword",
    request_body = EmailBody,
    responses(
        (status = 202, description = "Accepted, whatever the address.", body = AcceptedView),
        EmailProblems,
    ),
)]
pub(crate) async fn forgot_password(
    auth: web::Data<AuthService>,
    ClientIp(client): ClientIp,
    JsonBody(body): JsonBody<EmailBody>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse("email", &body.email).map_err(ApiError::field)?;
    auth.admit_mail_request(client).await?;
    let auth = auth.into_inner();
    Ok(accept_then(
        "queueing a password-reset mail",
        async move { auth.forgot_password(&email).await },
    ))
}

/// Answers 202 at once and does `work` afterwards, so a known and an unknown
/// address take the same time to answer; a failure is logged, under the
/// request's id (the span goes with the work).
fn accept_then(
    what: &'static str,
    work: impl std::future::Future<Output = Result<(), tozalash_app::AppError>> + 'static,
) -> HttpResponse {
    let work = async move {
        if let Err(error) = work.await {
            tracing::error!(error = ?error, "{what} failed");
        }
    };
    actix_web::rt::spawn(work.in_current_span());
    accepted()
}

fn accepted() -> HttpResponse {
    HttpResponse::Accepted().json(AcceptedView {
        status: "accepted",
        detail: "If an account has this address, a mail is on its way.",
    })
}

problems!(ResetPasswordProblems: MALFORMED_JSON, INVALID_EMAIL_TOKEN, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED, UNAVAILABLE);

/// Reset the password
///
/// Redeems the token of the link in the reset mail, sets the new password and
/// ends every session of the account.
#[utoipa::path(
    post, path = "/auth/reset-password", tag = "auth", operation_id = "resetPassword",
    request_body = ResetPasswordBody,
    responses(
        (status = 204, description = "The password is set; every session is revoked."),
        ResetPasswordProblems,
    ),
)]
pub(crate) async fn reset_password(
    auth: web::Data<AuthService>,
    JsonBody(body): JsonBody<ResetPasswordBody>,
) -> Result<HttpResponse, ApiError> {
    auth.reset_password(&body.token, &body.password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The password-reset link (HTML)
///
/// The link in the reset mail: a minimal HTML form that posts the new
/// password, with the link's token, to `POST /api/v1/auth/reset-password`.
/// The token is read by the page's script; this request does not check it.
#[utoipa::path(
    get, path = "/auth/reset-password", tag = "auth", operation_id = "resetPasswordPage",
    params(("token" = Option<String>, Query, description = "The token from the mail (read by the page's script).")),
    responses(
        (status = 200, description = "The form.", content_type = "text/html", body = String),
    ),
)]
pub(crate) async fn reset_password_page() -> HttpResponse {
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
