//! The outermost middleware: a request id and a tracing span per request, the
//! security headers on every response (pages, fragments, static files, errors),
//! the origin check for state-changing requests, and error pages rendered in the
//! layout in place of any body that was not meant for the user.
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use askama::Template;
use futures_util::FutureExt;
use tracing::Instrument;

use crate::domain::tokens::random_token;
use crate::state::AppState;
use crate::web::errors::{AppError, ErrorPage};
use crate::web::{KeepBody, Layout};

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'";

#[derive(Clone)]
pub struct RequestId(pub String);

/// Who a request was made with, for the request log: `khp_…abcd` or
/// `hub key #12` — never a secret. Put in the request's extensions by
/// whatever verified the key, through `note_key`.
#[derive(Clone)]
pub struct KeyIdentity(pub String);

fn request_log_on() -> bool {
    tracing::enabled!(target: "keyhub::request", tracing::Level::DEBUG)
}

/// Records the verified key for the request log; with the log off (the
/// default) the identifier is not even formatted.
pub fn note_key(req: &actix_web::HttpRequest, identify: impl FnOnce() -> String) {
    if request_log_on() {
        req.extensions_mut().insert(KeyIdentity(identify()));
    }
}

/// Records the answer in the metrics, adds `Server-Timing` (the server's
/// own time, which pages and the benchmark read) and writes the request log
/// line when `keyhub::request` is enabled at debug level — off by default,
/// and then it costs one cached check.
fn observe(req: &actix_web::HttpRequest, res: &mut HttpResponse, started: std::time::Instant) {
    let took = started.elapsed();
    let status = res.status().as_u16();
    let route = req.match_pattern();
    let route = route.as_deref().unwrap_or("(unmatched)");
    crate::metrics::request(req.method().as_str(), route, status, took);
    count_usage(req, res, route, took);
    let timing = format!("app;dur={:.2}", took.as_secs_f64() * 1000.0);
    if let Ok(v) = header::HeaderValue::from_str(&timing) {
        res.headers_mut().insert(header::HeaderName::from_static("server-timing"), v);
    }
    if request_log_on() {
        let key = req.extensions().get::<KeyIdentity>().map(|k| k.0.clone());
        tracing::debug!(
            target: "keyhub::request",
            method = %req.method(),
            route,
            status,
            duration_ms = took.as_secs_f64() * 1000.0,
            key = key.as_deref().unwrap_or("-"),
            "request"
        );
    }
}

/// A call made with a key: its usage is counted (`usage::Mark`), and a
/// limited key's answer says where it stands (draft-ietf-httpapi-ratelimit-headers).
fn count_usage(req: &actix_web::HttpRequest, res: &mut HttpResponse, route: &str, took: std::time::Duration) {
    let ext = req.extensions();
    if let Some(standing) = ext.get::<crate::domain::limits::Standing>().filter(|s| !s.is_empty()) {
        for (name, value) in [("ratelimit-policy", standing.policy_field()), ("ratelimit", standing.limit_field())] {
            // From the string itself: no second copy.
            if let Ok(v) = header::HeaderValue::try_from(value) {
                res.headers_mut().insert(header::HeaderName::from_static(name), v);
            }
        }
    }
    let (Some(mark), Some(state)) = (ext.get::<crate::usage::Mark>(), req.app_data::<web::Data<AppState>>()) else {
        return;
    };
    let status = res.status().as_u16();
    let outcome = match res.extensions().get::<crate::usage::Outcome>() {
        Some(o) => o.0,
        None if status < 400 => crate::domain::usage::OK,
        None => "error",
    };
    if mark.quota
        && let Some(key) = mark.key
    {
        state.limits.settle(key, outcome == crate::domain::usage::OK, state.clock.now());
    }
    state.usage.record(&crate::usage::Call {
        mark,
        endpoint: mark.endpoint.as_deref().unwrap_or(route),
        outcome,
        method: crate::metrics::method_label(req.method().as_str()),
        status,
        client: crate::auth::client_ip::client_ip(req, &state.settings.trusted_proxies),
        took,
        at_ms: state.clock.now_ms(),
    });
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate {
    layout: Layout,
    status: u16,
    message: String,
    request_id: String,
}

pub async fn frame(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // HEAD is GET without a body (uptime monitors use it): the HTTP layer
    // remembers the request was HEAD and leaves the body out on the wire.
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    let started = std::time::Instant::now();
    let request_id = random_token(16);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let span =
        tracing::info_span!("request", id = %request_id, method = %req.method(), path = %loggable_path(req.path()));
    let kind = Kind::of(req.path());

    if !kind.is_api() && !matches!(*req.method(), Method::GET | Method::POST) {
        // Pages answer GET (and HEAD, turned into GET above) and POST; TRACE and
        // the rest are not a missing page but a method we do not take.
        let mut res = HttpResponse::MethodNotAllowed().finish();
        res.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD, POST"));
        let mut res = finish(res, &request_id, kind);
        observe(req.request(), &mut res, started);
        return Ok(req.into_response(res));
    }
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let cross_site = state.as_ref().is_some_and(|s| {
        !crate::auth::csrf::same_origin(req.request(), s.settings.public_url.as_deref(), &s.settings.trusted_proxies)
    });
    // The API authenticates with keys, not cookies: there is nothing to forge.
    if unsafe_method && !kind.is_api() && cross_site {
        // Refused before any handler runs: state never changes on a cross-site request.
        let mut res = finish(AppError::Csrf.error_response(), &request_id, kind);
        observe(req.request(), &mut res, started);
        return Ok(req.into_response(res));
    }
    // Anonymous visitors' CSRF tokens hang on a cookie, not a session row.
    let https = state.as_ref().is_some_and(|s| s.settings.https());
    let seed = (kind == Kind::Page).then(|| crate::auth::csrf::seed_for(req.request(), https));
    if let Some(seed) = &seed {
        req.extensions_mut().insert(seed.clone());
    }
    // A failed form's input is shown once: the page that reads it drops it.
    let drop_retry = kind == Kind::Page
        && req.method() == Method::GET
        && req.cookie(crate::web::retry::cookie_name(https)).is_some();
    // No clone of the request may live across `call`: routing needs it unshared.
    // A panic anywhere below is caught here, so the client still gets the
    // generic error (with the request id) instead of a closed connection.
    let answer = std::panic::AssertUnwindSafe(next.call(req).instrument(span.clone())).catch_unwind().await;
    let answer = answer.unwrap_or_else(|panic| {
        let _guard = span.enter();
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(panic = %what, "a request handler panicked");
        Err(actix_web::error::ErrorInternalServerError("handler panicked"))
    });
    match answer {
        Ok(res) => {
            let (req, mut res) = res.map_into_boxed_body().into_parts();
            let _guard = span.enter();
            let layout = res.extensions_mut().remove::<ErrorLayout>().map(|l| l.0);
            let mut res = finish_with(res, &request_id, kind, layout);
            if let Some(seed) = seed.filter(|s| s.fresh) {
                let cookie = actix_web::cookie::Cookie::build(crate::auth::csrf::cookie_name(https), seed.value)
                    .path("/")
                    .http_only(true)
                    .secure(https)
                    .same_site(actix_web::cookie::SameSite::Lax)
                    .finish();
                let _ = res.add_cookie(&cookie);
            }
            if drop_retry {
                let mut gone =
                    actix_web::cookie::Cookie::build(crate::web::retry::cookie_name(https), "").path("/").finish();
                gone.make_removal();
                let _ = res.add_cookie(&gone);
            }
            observe(&req, &mut res, started);
            Ok(ServiceResponse::new(req, res))
        }
        Err(e) => {
            let _guard = span.enter();
            // A session write on a locked database: worth a retry, not a 500.
            let busy = format!("{e:?}").contains(crate::auth::session_store::BUSY);
            if busy {
                tracing::warn!(error = ?e, "a session write found the database busy");
            } else {
                tracing::error!(error = ?e, "request failed in a middleware");
            }
            Err(Framed { inner: e, request_id, kind, busy }.into())
        }
    }
}

/// The frame for an error page of a signed-in user, made by `error_frame`
/// (inside the session middleware, where the session can still be read).
struct ErrorLayout(Layout);

/// Runs inside the session middleware: when a page fails for a signed-in
/// user, the error page keeps the navigation, switcher and sign-out.
pub async fn error_frame(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let page = Kind::of(req.path()) == Kind::Page;
    let mut res = next.call(req).await?.map_into_boxed_body();
    if page && res.status().as_u16() >= 400 && res.response().extensions().get::<KeepBody>().is_none() {
        let title = res.response().extensions().get::<ErrorPage>().map(|p| p.title).unwrap_or("Error");
        if let Ok(user) = crate::auth::current_user::load(res.request()).await {
            let needs = res.response().extensions().get::<ErrorPage>().and_then(|p| p.needs);
            if let (Some(_), Some(m), Some(state)) =
                (needs, &user.membership, res.request().app_data::<actix_web::web::Data<AppState>>())
                && let Ok(admins) = crate::web::overview::admins(state, m.workspace_id).await
                && !admins.is_empty()
                && let Some(page) = res.response_mut().extensions_mut().get_mut::<ErrorPage>()
            {
                page.message.push_str(&format!(" Ask an admin of this workspace: {}.", admins.join(", ")));
            }
            let layout = Layout::for_signed_in(&user, title);
            res.response_mut().extensions_mut().insert(ErrorLayout(layout));
        }
    }
    Ok(res)
}

/// An error from an inner middleware, answered with the same page and headers
/// as any other response once actix turns it into one.
struct Framed {
    inner: actix_web::Error,
    request_id: String,
    kind: Kind,
    /// The database was busy: 503 with `Retry-After`.
    busy: bool,
}

impl std::fmt::Debug for Framed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.inner)
    }
}

impl std::fmt::Display for Framed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.inner)
    }
}

impl ResponseError for Framed {
    fn status_code(&self) -> StatusCode {
        if self.busy { StatusCode::SERVICE_UNAVAILABLE } else { self.inner.as_response_error().status_code() }
    }

    fn error_response(&self) -> HttpResponse {
        let res = if self.busy { AppError::Busy.error_response() } else { self.inner.error_response() };
        finish(res, &self.request_id, self.kind)
    }
}

/// The path as logs may show it: invitation and reset tokens are credentials.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    if path.starts_with("/invite/") {
        "/invite/[token]".into()
    } else if path.starts_with("/reset/") {
        "/reset/[token]".into()
    } else {
        path.into()
    }
}

/// What a response is for: it decides the error format and caching.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Page,
    Static,
    Api,
    /// `/hub/…`: JSON errors like the API, and its own caching headers.
    Hub,
}

impl Kind {
    fn is_api(self) -> bool {
        matches!(self, Kind::Api | Kind::Hub)
    }

    fn of(path: &str) -> Kind {
        if path.starts_with("/static/") {
            Kind::Static
        } else if path == "/hub" || path.starts_with("/hub/") {
            Kind::Hub
        } else if path.starts_with("/api/") && path != "/api/docs" {
            // Every /api/... answer is JSON, also for versions that do not exist.
            Kind::Api
        } else {
            Kind::Page
        }
    }
}

/// A JSON refusal for API paths whose error did not come from `ApiError`
/// (an unsupported method, an oversized body): still a stable code.
fn api_error_body(status: StatusCode) -> serde_json::Value {
    let code = match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "too_large",
        503 => "busy",
        s if s >= 500 => "internal",
        _ => "bad_request",
    };
    serde_json::json!({"error": {"code": code, "message": crate::api::errors::message_for(code)}})
}

fn finish(res: HttpResponse, request_id: &str, kind: Kind) -> HttpResponse {
    finish_with(res, request_id, kind, None)
}

/// Replaces bodies not meant for users with an error page (or, for the API,
/// a JSON error), and adds the security headers. `layout` frames the page for
/// a signed-in user.
fn finish_with(res: HttpResponse, request_id: &str, kind: Kind, layout: Option<Layout>) -> HttpResponse {
    let status = res.status();
    let mut res = if status.as_u16() >= 400 && kind.is_api() && res.extensions().get::<KeepBody>().is_none() {
        if let Some(err) = res.error()
            && status.is_server_error()
        {
            tracing::error!(status = status.as_u16(), error = ?err, "API request failed");
        }
        let mut fresh = HttpResponse::build(status);
        for (name, value) in res.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                fresh.append_header((name.clone(), value.clone()));
            }
        }
        fresh.json(api_error_body(status))
    } else if status.as_u16() >= 400 && res.extensions().get::<KeepBody>().is_none() {
        if let Some(err) = res.error()
            && status.is_server_error()
        {
            tracing::error!(status = status.as_u16(), error = ?err, "request failed");
        }
        let page = res.extensions().get::<ErrorPage>().cloned().unwrap_or_else(|| ErrorPage::for_status(status));
        let body = ErrorTemplate {
            layout: layout.unwrap_or_else(|| Layout::bare(page.title)),
            status: status.as_u16(),
            message: page.message,
            request_id: request_id.to_owned(),
        }
        .render()
        .unwrap_or_else(|_| format!("Error {} (request {request_id})", status.as_u16()));
        let mut fresh = HttpResponse::build(status);
        for (name, value) in res.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                fresh.append_header((name.clone(), value.clone()));
            }
        }
        fresh.content_type("text/html; charset=utf-8").body(body)
    } else {
        res
    };

    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    h.insert(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        header::HeaderValue::from_static("same-origin"),
    );
    if let Ok(v) = header::HeaderValue::from_str(request_id) {
        h.insert(header::HeaderName::from_static("x-request-id"), v);
    }
    let own_caching = kind == Kind::Hub && status.as_u16() < 400 && h.contains_key(header::CACHE_CONTROL);
    if (kind != Kind::Static || status.as_u16() >= 400) && !own_caching {
        // Pages may show account data: never keep them in any cache, and do not
        // let the back button bring back a signed-in page after logout.
        h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::from_fn;
    use actix_web::{App, test, web};

    #[allow(clippy::panic)]
    async fn boom() -> &'static str {
        panic!("a bug")
    }

    /// What the client receives: the response, or the error as actix's
    /// dispatcher turns it into one.
    macro_rules! answer {
        ($app:expr, $uri:expr) => {
            match test::try_call_service(&$app, test::TestRequest::get().uri($uri).to_request()).await {
                Ok(res) => res.into_parts().1,
                Err(e) => e.error_response(),
            }
        };
    }

    #[actix_web::test]
    async fn a_panicking_handler_answers_the_generic_error_with_a_request_id() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(super::frame))
                .route("/boom", web::get().to(boom))
                .route("/api/v1/boom", web::get().to(boom)),
        )
        .await;
        let res = answer!(app, "/boom");
        assert_eq!(res.status(), 500);
        let id = res.headers().get("x-request-id").expect("a request id").to_str().unwrap().to_owned();
        let body = String::from_utf8(actix_web::body::to_bytes(res.into_body()).await.unwrap().to_vec()).unwrap();
        assert!(body.contains(&id) && body.contains("keyhub could not complete the request"), "{body}");
        assert!(!body.contains("a bug"), "the panic's words stay in the log");
        let res = answer!(app, "/api/v1/boom");
        assert_eq!(res.status(), 500);
        let body: serde_json::Value =
            serde_json::from_slice(&actix_web::body::to_bytes(res.into_body()).await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "internal");
    }
}
