//! The three cookies of a browser session (DESIGN §5): `access_token`
//! (HttpOnly, Lax, Path=/), `refresh_token` (HttpOnly, Strict, only sent to
//! /api/v1/auth) and the readable `csrf_token` (Lax, Path=/) that scripts echo in
//! `X-CSRF-Token`. Tokens travel only in these cookies, never in a body.

use std::time::Duration;

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::HttpResponseBuilder;

use crate::auth::{ACCESS_COOKIE, CSRF_COOKIE};

pub const REFRESH_COOKIE: &str = "refresh_token";
pub const REFRESH_PATH: &str = "/api/v1/auth";

/// How the session cookies are set.
#[derive(Debug, Clone)]
pub struct CookiePolicy {
    /// The `Secure` attribute; off only for plain-http local development.
    pub secure: bool,
    /// `COOKIE_DOMAIN`: the `Domain` attribute of all three cookies, so that
    /// every host under it receives them; `None` (the default) keeps them
    /// host-only, on the API's host.
    pub domain: Option<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl CookiePolicy {
    /// Sets all three cookies for a fresh access and refresh token, and the
    /// session's CSRF token (`AccessTokens::csrf_token`).
    pub fn set_session(
        &self,
        response: &mut HttpResponseBuilder,
        access: &str,
        refresh: &str,
        csrf: &str,
    ) {
        let csrf = csrf.to_owned();
        for cookie in [
            self.cookie(
                ACCESS_COOKIE,
                access.to_owned(),
                "/",
                SameSite::Lax,
                true,
                self.access_ttl,
            ),
            self.cookie(
                REFRESH_COOKIE,
                refresh.to_owned(),
                REFRESH_PATH,
                SameSite::Strict,
                true,
                self.refresh_ttl,
            ),
            self.cookie(CSRF_COOKIE, csrf, "/", SameSite::Lax, false, self.refresh_ttl),
        ] {
            response.cookie(cookie);
        }
    }

    /// Expires all three cookies (each at the path it was set with).
    pub fn clear_session(&self, response: &mut HttpResponseBuilder) {
        for (name, path, same_site, http_only) in [
            (ACCESS_COOKIE, "/", SameSite::Lax, true),
            (REFRESH_COOKIE, REFRESH_PATH, SameSite::Strict, true),
            (CSRF_COOKIE, "/", SameSite::Lax, false),
        ] {
            let mut cookie =
                self.cookie(name, String::new(), path, same_site, http_only, Duration::ZERO);
            cookie.make_removal();
            response.cookie(cookie);
        }
    }

    fn cookie(
        &self,
        name: &'static str,
        value: String,
        path: &'static str,
        same_site: SameSite,
        http_only: bool,
        ttl: Duration,
    ) -> Cookie<'static> {
        let mut cookie = Cookie::build(name, value)
            .path(path)
            .same_site(same_site)
            .http_only(http_only)
            .secure(self.secure)
            .max_age(time::Duration::seconds(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)))
            .finish();
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }
}
