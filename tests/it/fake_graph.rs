//! A fake Microsoft Graph and Entra ID token endpoint on 127.0.0.1, for the collector's tests and
//! the 1,000,000-user benchmark (`examples/collect_bench.rs` includes this file).
//!
//! Responses are shaped like Microsoft's documentation: collection pages with `@odata.context`,
//! `value` and an absolute `@odata.nextLink`; Graph errors as
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}` with a
//! `request-id` header; token errors as `{"error","error_description":"AADSTS...",...}`. Pages are
//! generated on the fly, so a tenant of any size costs no memory here either.
//!
//! The token endpoint checks what Entra checks: the `.default` scope of the cloud's Graph resource
//! (not the host the requests go to), the secret, or a client assertion's PS256/RS256 signature
//! (with the test public key, via ring), `x5t#S256`, audience, issuer, subject, lifetime and `jti`
//! reuse. Graph checks the bearer token and its expiry and answers 401 like Graph does.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Form;
use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::IncomingStream;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_ID: &str = "66666666-7777-8888-9999-000000000000";
pub const GROUP_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
/// The tenant's initial domain: the token endpoint accepts it in place of the GUID, as Entra does.
pub const TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";
/// The scope Entra expects for the global cloud's Graph.
pub const GLOBAL_SCOPE: &str = "https://graph.microsoft.com/.default";

/// A fault the fake answers one request of a source with, in order.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 TooManyRequests, with `Retry-After: <s>` when given.
    Throttle(Option<u64>),
    /// Any status with a Graph error body (503, 504, 500, ...).
    Status(u16),
    /// 401 InvalidAuthenticationToken, whatever the token.
    Unauthorized,
    /// 403 Authorization_RequestDenied (a missing permission).
    Forbidden,
    /// 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant (no P1/P2 licence).
    NoPremium,
    /// Headers and part of the body, then the connection is closed.
    Reset,
    /// The accepted connection is reset (TCP RST) before any byte of a response is sent.
    Drop,
    /// Answer normally after this long.
    Delay(Duration),
}

/// How the fake tenant looks and misbehaves. Set it up, then [`FakeGraph::start`].
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The `scope` a client credentials request must carry.
    pub scope: String,
    pub secret: Option<String>,
    /// The certificate's DER (for `x5t#S256`) and its PKCS#1 public key, when a certificate is
    /// registered on the app.
    pub certificate: Option<(Vec<u8>, Vec<u8>)>,
    pub roles: Vec<String>,
    pub users: u64,
    pub registrations: u64,
    pub page_size: u64,
    /// Insert an empty page at this 0-based page index of users and the registration report.
    pub empty_page_at: Option<u64>,
    /// Users' page 2 and later link back to page 1: a paging loop.
    pub users_link_loop: bool,
    /// Users' first page links to this URL instead of page 2.
    pub foreign_next_link: Option<String>,
    pub break_glass_members: u64,
    pub audits: u64,
    pub ca_policies: u64,
    /// `expires_in` of the tokens issued, in order; the last one repeats.
    pub token_lifetimes: Vec<u64>,
    /// Faults by source name (`users`, `userRegistrationDetails`, ...), one per request.
    pub faults: HashMap<String, VecDeque<Fault>>,
    /// Faults answered to every request of a source.
    pub always: HashMap<String, Fault>,
    /// Device code flow: polls answered `authorization_pending` before the outcome, and whether
    /// the user declines.
    pub device_pending_polls: u32,
    pub device_declines: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            scope: GLOBAL_SCOPE.into(),
            secret: Some("fake-secret".into()),
            certificate: None,
            roles: vec![
                "User.Read.All".into(),
                "AuditLog.Read.All".into(),
                "GroupMember.Read.All".into(),
                "Policy.Read.All".into(),
            ],
            users: 5,
            registrations: 5,
            page_size: 999,
            empty_page_at: None,
            users_link_loop: false,
            foreign_next_link: None,
            break_glass_members: 2,
            audits: 3,
            ca_policies: 1,
            token_lifetimes: vec![3599],
            faults: HashMap::new(),
            always: HashMap::new(),
            device_pending_polls: 1,
            device_declines: false,
        }
    }
}

impl Scenario {
    pub fn fault(mut self, source: &str, faults: &[Fault]) -> Self {
        self.faults
            .entry(source.to_string())
            .or_default()
            .extend(faults.iter().cloned());
        self
    }
}

/// One Graph request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub source: String,
    pub path_and_query: String,
    pub consistency_level: Option<String>,
    pub token: String,
    pub status: u16,
    pub at: Instant,
}

pub struct Shared {
    pub url: String,
    scenario: Mutex<Scenario>,
    tokens: Mutex<HashMap<String, Instant>>,
    jtis: Mutex<HashSet<String>>,
    refresh_tokens: Mutex<HashSet<String>>,
    counter: AtomicU64,
    device_polls: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub assertions_verified: AtomicU64,
    /// Every token request's form fields, secrets included (tests look for leaks elsewhere).
    pub token_forms: Mutex<Vec<HashMap<String, String>>>,
    pub seen: Mutex<Vec<Seen>>,
}

pub struct FakeGraph {
    pub url: String,
    pub state: Arc<Shared>,
}

impl FakeGraph {
    pub async fn start(scenario: Scenario) -> FakeGraph {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(Shared {
            url: url.clone(),
            scenario: Mutex::new(scenario),
            tokens: Mutex::default(),
            jtis: Mutex::default(),
            refresh_tokens: Mutex::default(),
            counter: AtomicU64::new(0),
            device_polls: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
            assertions_verified: AtomicU64::new(0),
            token_forms: Mutex::default(),
            seen: Mutex::default(),
        });
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/{tenant}/oauth2/v2.0/devicecode", post(device_code))
            .fallback(graph)
            .with_state(state.clone());
        let listener = ResettableListener(listener);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<ResetSwitch>(),
            )
            .await
            .expect("fake graph server");
        });
        FakeGraph { url, state }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn seen_for(&self, source: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.source == source)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Connections a handler can reset

/// Accepts TCP connections that a handler can reset without answering ([`Fault::Drop`]).
struct ResettableListener(tokio::net::TcpListener);

/// An accepted connection. Once its switch is on, every read or write fails and the socket is
/// closed with `SO_LINGER` 0, so the client gets a TCP RST instead of a response.
struct ResettableConn {
    io: tokio::net::TcpStream,
    reset: Arc<AtomicBool>,
}

/// The handler's side of a connection's reset switch (axum connect info).
#[derive(Clone)]
struct ResetSwitch(Arc<AtomicBool>);

impl ResetSwitch {
    fn reset(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_reset(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Connected<IncomingStream<'_, ResettableListener>> for ResetSwitch {
    fn connect_info(stream: IncomingStream<'_, ResettableListener>) -> Self {
        ResetSwitch(stream.io().reset.clone())
    }
}

impl axum::serve::Listener for ResettableListener {
    type Io = ResettableConn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (ResettableConn, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((io, addr)) => {
                    let reset = Arc::new(AtomicBool::new(false));
                    return (ResettableConn { io, reset }, addr);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl ResettableConn {
    /// Err once the switch is on; the socket then closes with an RST.
    fn check(&self) -> std::io::Result<()> {
        if self.reset.load(Ordering::SeqCst) {
            #[allow(
                deprecated,
                reason = "SO_LINGER 0 is how a server sends an RST; with 0 the drop does not block"
            )]
            let _ = self.io.set_linger(Some(Duration::ZERO));
            return Err(std::io::ErrorKind::ConnectionReset.into());
        }
        Ok(())
    }
}

impl tokio::io::AsyncRead for ResettableConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ResettableConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

fn next_id(state: &Shared) -> String {
    let n = state.counter.fetch_add(1, Ordering::Relaxed);
    format!("7d1c2e4a-0000-4000-8000-{n:012}")
}

#[allow(
    clippy::disallowed_methods,
    reason = "the fake token endpoint issues tokens that expire in real time"
)]
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

fn token_error(status: StatusCode, error: &str, aadsts: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!("{aadsts}\r\nTrace ID: 0f4e9c1a-0000-0000-0000-000000000000\r\nCorrelation ID: 5b2a4c7e-0000-0000-0000-000000000000\r\nTimestamp: 2025-01-01 00:00:00Z"),
        "error_codes": [aadsts.get(5..11).and_then(|c| c.parse::<u64>().ok()).unwrap_or(0)],
        "timestamp": "2025-01-01 00:00:00Z",
        "trace_id": "0f4e9c1a-0000-0000-0000-000000000000",
        "correlation_id": "5b2a4c7e-0000-0000-0000-000000000000",
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn issue(state: &Shared, with_refresh: bool) -> Response {
    let n = state.tokens_issued.fetch_add(1, Ordering::Relaxed);
    let scenario = state.scenario.lock().unwrap();
    let lifetimes = &scenario.token_lifetimes;
    let lifetime = lifetimes
        .get(n as usize)
        .or(lifetimes.last())
        .copied()
        .unwrap_or(3599);
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#);
    let payload = URL_SAFE_NO_PAD.encode(
        json!({
            "aud": state.url, "tid": TENANT, "appid": CLIENT_ID, "roles": scenario.roles,
            "n": n, "iat": now_secs(), "exp": now_secs() + lifetime,
        })
        .to_string(),
    );
    let access_token = format!("{header}.{payload}.fake-signature-{n}");
    state.tokens.lock().unwrap().insert(
        access_token.clone(),
        Instant::now() + Duration::from_secs(lifetime),
    );
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    });
    if with_refresh {
        let refresh = format!("fake-refresh-{n}");
        state.refresh_tokens.lock().unwrap().insert(refresh.clone());
        body["refresh_token"] = json!(refresh);
    }
    Json(body).into_response()
}

struct Json(Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            self.0.to_string(),
        )
            .into_response()
    }
}

async fn token(
    State(state): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    state.token_forms.lock().unwrap().push(form.clone());
    if tenant != TENANT && tenant != TENANT_DOMAIN {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    }
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != CLIENT_ID {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            &format!(
                "AADSTS700016: Application with identifier '{}' was not found in the directory.",
                get("client_id")
            ),
        );
    }
    match get("grant_type") {
        "client_credentials" => {
            // Entra knows the cloud's Graph resource, not the host requests are sent to.
            let scope = state.scenario.lock().unwrap().scope.clone();
            if get("scope") != scope {
                return token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "AADSTS1002012: The provided value for scope is not valid.",
                );
            }
            if let Some(secret) = form.get("client_secret") {
                let expected = state.scenario.lock().unwrap().secret.clone();
                if expected.as_deref() == Some(secret.as_str()) {
                    return issue(&state, false);
                }
                return token_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
                );
            }
            if get("client_assertion_type")
                == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            {
                return match verify_assertion(&state, &tenant, get("client_assertion")) {
                    Ok(()) => {
                        state.assertions_verified.fetch_add(1, Ordering::Relaxed);
                        issue(&state, false)
                    }
                    Err(why) => token_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        &format!(
                            "AADSTS700027: Client assertion failed signature validation. ({why})"
                        ),
                    ),
                };
            }
            token_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        }
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let polls = state.device_polls.fetch_add(1, Ordering::Relaxed);
            let (pending, declines) = {
                let s = state.scenario.lock().unwrap();
                (s.device_pending_polls as u64, s.device_declines)
            };
            if get("device_code") != "fake-device-code" {
                return token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "AADSTS70000: The provided value for the 'device_code' is not valid.",
                );
            }
            if polls < pending {
                return token_error(
                    StatusCode::BAD_REQUEST,
                    "authorization_pending",
                    "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                );
            }
            if declines {
                return token_error(
                    StatusCode::BAD_REQUEST,
                    "authorization_declined",
                    "AADSTS70000: The user declined the sign-in request.",
                );
            }
            issue(&state, true)
        }
        "refresh_token" => {
            if state
                .refresh_tokens
                .lock()
                .unwrap()
                .remove(get("refresh_token"))
            {
                issue(&state, true)
            } else {
                token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "AADSTS9002313: Invalid request. Request is malformed or invalid.",
                )
            }
        }
        other => token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("AADSTS70003: The app requested an unsupported grant type '{other}'."),
        ),
    }
}

fn verify_assertion(state: &Shared, tenant: &str, jwt: &str) -> Result<(), String> {
    let (cert_der, public_key) = state
        .scenario
        .lock()
        .unwrap()
        .certificate
        .clone()
        .ok_or("no certificate is registered on the app")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err("not a JWS".into());
    }
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string());
    let header: Value = serde_json::from_slice(&decode(parts[0])?).map_err(|e| e.to_string())?;
    let claims: Value = serde_json::from_slice(&decode(parts[1])?).map_err(|e| e.to_string())?;
    let signature = decode(parts[2])?;
    let algorithm: &dyn ring::signature::VerificationAlgorithm = match header["alg"].as_str() {
        Some("PS256") => &ring::signature::RSA_PSS_2048_8192_SHA256,
        Some("RS256") => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        other => return Err(format!("unsupported alg {other:?}")),
    };
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(&cert_der));
    if header["x5t#S256"].as_str() != Some(thumbprint.as_str()) {
        return Err("x5t#S256 does not match the registered certificate".into());
    }
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    ring::signature::UnparsedPublicKey::new(algorithm, &public_key)
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| "bad signature".to_string())?;
    let audience = format!("{}/{tenant}/oauth2/v2.0/token", state.url);
    if claims["aud"].as_str() != Some(audience.as_str()) {
        return Err(format!("aud {} is not {audience}", claims["aud"]));
    }
    if claims["iss"].as_str() != Some(CLIENT_ID) || claims["sub"].as_str() != Some(CLIENT_ID) {
        return Err("iss and sub must be the client id".into());
    }
    let now = now_secs();
    let (nbf, exp) = (
        claims["nbf"].as_u64().unwrap_or(u64::MAX),
        claims["exp"].as_u64().unwrap_or(0),
    );
    if nbf > now + 60 || exp <= now || exp.saturating_sub(nbf) > 600 {
        return Err(format!(
            "lifetime nbf={nbf} exp={exp} now={now} is not valid"
        ));
    }
    let jti = claims["jti"].as_str().ok_or("no jti")?.to_string();
    if !state.jtis.lock().unwrap().insert(jti) {
        return Err("jti replayed".into());
    }
    Ok(())
}

async fn device_code(
    State(state): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    state.token_forms.lock().unwrap().push(form.clone());
    if tenant != TENANT && tenant != TENANT_DOMAIN {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS90002: Tenant not found.",
        );
    }
    Json(json!({
        "user_code": "FAKE1234",
        "device_code": "fake-device-code",
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": 900,
        "interval": 0,
        "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code FAKE1234 to authenticate.",
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Graph

fn graph_error(state: &Shared, status: u16, code: &str, message: &str) -> Response {
    let request_id = next_id(state);
    let body = json!({"error": {"code": code, "message": message, "innerError": {
        "date": "2025-01-01T00:00:00", "request-id": request_id, "client-request-id": request_id}}});
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    response
        .headers_mut()
        .insert("request-id", HeaderValue::from_str(&request_id).unwrap());
    response
}

fn source_of(path: &str) -> Option<&'static str> {
    Some(match path {
        "/v1.0/organization" => "organization",
        "/v1.0/users" => "users",
        "/v1.0/reports/authenticationMethods/userRegistrationDetails" => "userRegistrationDetails",
        "/v1.0/auditLogs/directoryAudits" => "directoryAudits",
        "/v1.0/policies/authenticationMethodsPolicy" => "authenticationMethodsPolicy",
        "/v1.0/identity/conditionalAccess/policies" => "conditionalAccessPolicies",
        p if p.starts_with("/v1.0/groups/")
            && p.ends_with("/transitiveMembers/microsoft.graph.user") =>
        {
            "breakGlassMembers"
        }
        _ => return None,
    })
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

async fn graph(
    State(state): State<Arc<Shared>>,
    ConnectInfo(switch): ConnectInfo<ResetSwitch>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_string();
    let consistency_level = headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let source = source_of(&path);
    let response = answer(
        &state,
        &switch,
        source,
        &path,
        &query,
        &token,
        consistency_level.as_deref(),
    )
    .await;
    state.seen.lock().unwrap().push(Seen {
        source: source.unwrap_or("").to_string(),
        path_and_query: if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        },
        consistency_level,
        token,
        // 0: the connection was reset, nothing was answered.
        status: if switch.is_reset() {
            0
        } else {
            response.status().as_u16()
        },
        at: Instant::now(),
    });
    response
}

async fn answer(
    state: &Shared,
    switch: &ResetSwitch,
    source: Option<&'static str>,
    path: &str,
    query: &str,
    token: &str,
    consistency_level: Option<&str>,
) -> Response {
    let Some(source) = source else {
        return graph_error(
            state,
            404,
            "Request_ResourceNotFound",
            &format!("Resource '{path}' does not exist."),
        );
    };
    match state.tokens.lock().unwrap().get(token) {
        None => {
            return graph_error(
                state,
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience.",
            );
        }
        Some(expiry) if Instant::now() >= *expiry => {
            return graph_error(
                state,
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            );
        }
        Some(_) => {}
    }
    let fault = {
        let mut s = state.scenario.lock().unwrap();
        let once = s.faults.get_mut(source).and_then(VecDeque::pop_front);
        once.or_else(|| s.always.get(source).cloned())
    };
    match fault {
        Some(Fault::Throttle(retry_after)) => {
            let mut r = graph_error(state, 429, "TooManyRequests", "Too many requests.");
            if let Some(s) = retry_after {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(s));
            }
            return r;
        }
        Some(Fault::Status(code)) => {
            let c = if code == 503 {
                "serviceNotAvailable"
            } else {
                "UnknownError"
            };
            return graph_error(state, code, c, "The service is temporarily unavailable.");
        }
        Some(Fault::Unauthorized) => {
            return graph_error(
                state,
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
            );
        }
        Some(Fault::Forbidden) => {
            return graph_error(
                state,
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            );
        }
        Some(Fault::NoPremium) => {
            return graph_error(
                state,
                403,
                "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
                "Tenant does not have a SKU required for this feature.",
            );
        }
        Some(Fault::Reset) => {
            // Promise more bytes than are sent: the server closes the connection mid-body.
            let mut r = Response::new(Body::from(
                r#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users","value":[{"id":"#,
            ));
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(100_000u64));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return r;
        }
        Some(Fault::Drop) => {
            // Hyper's write of this response fails, and the connection closes with an RST.
            switch.reset();
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let scenario = state.scenario.lock().unwrap().clone_shape();
    let body = match source {
        "organization" => json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#organization",
            "value": [{"id": TENANT, "displayName": "Contoso", "verifiedDomains": [
                {"name": "contoso.com", "isDefault": true, "isInitial": false, "type": "Managed", "capabilities": "Email, OfficeCommunicationsOnline"}]}],
        })
        .to_string(),
        "users" => {
            if !query.contains("$top=999") {
                return graph_error(state, 400, "Request_BadRequest", "Expected $top=999 in this fake.");
            }
            let select = query_param(query, "$select").map(|s| s.split(',').map(str::to_string).collect::<Vec<_>>());
            let body = page(state, &scenario, path, query, "users", scenario.users, scenario.users_link_loop, |i, out| {
                user(i, select.as_deref(), out)
            });
            match &scenario.foreign_next_link {
                Some(link) if query_param(query, "$skiptoken").is_none() => {
                    let mut v: Value = serde_json::from_str(&body).unwrap();
                    v["@odata.nextLink"] = json!(link);
                    v.to_string()
                }
                _ => body,
            }
        }
        "userRegistrationDetails" => page(
            state,
            &scenario,
            path,
            query,
            "users/$entity",
            scenario.registrations,
            false,
            registration,
        ),
        "breakGlassMembers" => {
            if consistency_level != Some("eventual") {
                return graph_error(state, 400, "Request_BadRequest", "Request with $count or a type cast requires the header ConsistencyLevel: eventual.");
            }
            if !path.contains(GROUP_ID) {
                return graph_error(state, 404, "Request_ResourceNotFound", "Resource does not exist or one of its queried reference-property objects are not present.");
            }
            let members: Vec<Value> = (0..scenario.break_glass_members)
                .map(|i| json!({"@odata.type": "#microsoft.graph.user", "id": user_id(i), "userPrincipalName": format!("breakglass{i}@contoso.com")}))
                .collect();
            json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName)",
                   "@odata.count": members.len(), "value": members}).to_string()
        }
        "directoryAudits" => {
            if !query.contains("loggedByService%20eq%20%27Authentication%20Methods%27") || !query.contains("activityDateTime%20ge%20") {
                return graph_error(state, 400, "BadRequest", "Expected the Authentication Methods filter in this fake.");
            }
            let events: Vec<Value> = (0..scenario.audits).map(|i| json!({
                "id": format!("Auth_{i}"), "category": "UserManagement", "correlationId": next_id(state),
                "result": "success", "resultReason": "", "activityDisplayName": "User registered security info",
                "activityDateTime": "2025-01-02T03:04:05.678Z", "loggedByService": "Authentication Methods",
                "operationType": "Add",
                "initiatedBy": {"user": {"id": user_id(i), "displayName": null, "userPrincipalName": format!("user{i}@contoso.com")}},
                "targetResources": [{"id": user_id(i), "displayName": null, "type": "User", "userPrincipalName": format!("user{i}@contoso.com")}],
                "additionalDetails": [{"key": "Method", "value": "Microsoft Authenticator"}]
            })).collect();
            json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits", "value": events}).to_string()
        }
        "authenticationMethodsPolicy" => json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#authenticationMethodsPolicy",
            "id": "authenticationMethodsPolicy", "displayName": "Authentication Methods Policy",
            "policyVersion": "1.5", "policyMigrationState": "migrationComplete",
            "registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {"state": "enabled", "snoozeDurationInDays": 1}},
            "authenticationMethodConfigurations": [
                {"@odata.type": "#microsoft.graph.fido2AuthenticationMethodConfiguration", "id": "Fido2", "state": "enabled"},
                {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethodConfiguration", "id": "MicrosoftAuthenticator", "state": "enabled"},
                {"@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration", "id": "Sms", "state": "disabled"}
            ]
        })
        .to_string(),
        "conditionalAccessPolicies" => page(
            state,
            &scenario,
            path,
            query,
            "identity/conditionalAccess/policies",
            scenario.ca_policies,
            false,
            |i, out| {
                let policy = json!({
                    "id": format!("5f0e1d2c-0000-4000-8000-{i:012}"), "displayName": format!("Require MFA for all users {i}"),
                    "state": "enabled",
                    "conditions": {"users": {"includeUsers": ["All"], "excludeUsers": [], "excludeGroups": [GROUP_ID]}},
                    "grantControls": {"operator": "OR", "builtInControls": ["mfa"], "authenticationStrength": null}
                });
                out.push_str(&policy.to_string());
            },
        ),
        _ => unreachable!(),
    };
    let request_id = next_id(state);
    let mut response = (
        [(header::CONTENT_TYPE, "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")],
        body,
    )
        .into_response();
    response
        .headers_mut()
        .insert("request-id", HeaderValue::from_str(&request_id).unwrap());
    response
}

/// The paging-relevant part of the scenario, copied out of the lock.
struct Shape {
    page_size: u64,
    empty_page_at: Option<u64>,
    users: u64,
    registrations: u64,
    users_link_loop: bool,
    foreign_next_link: Option<String>,
    break_glass_members: u64,
    audits: u64,
    ca_policies: u64,
}

impl Scenario {
    fn clone_shape(&self) -> Shape {
        Shape {
            page_size: self.page_size.max(1),
            empty_page_at: self.empty_page_at,
            users: self.users,
            registrations: self.registrations,
            users_link_loop: self.users_link_loop,
            foreign_next_link: self.foreign_next_link.clone(),
            break_glass_members: self.break_glass_members,
            audits: self.audits,
            ca_policies: self.ca_policies,
        }
    }
}

/// One page of a generated collection; `$skiptoken` is the 0-based page index.
#[allow(clippy::too_many_arguments)]
fn page(
    state: &Shared,
    shape: &Shape,
    path: &str,
    query: &str,
    context: &str,
    total: u64,
    link_loop: bool,
    item: impl Fn(u64, &mut String),
) -> String {
    let k: u64 = query_param(query, "$skiptoken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let size = shape.page_size;
    let data_pages = total.div_ceil(size).max(1);
    let (pages, range) = match shape.empty_page_at {
        Some(e) if e <= data_pages => {
            let range = if k == e {
                0..0
            } else {
                let d = if k > e { k - 1 } else { k };
                d * size..((d + 1) * size).min(total)
            };
            (data_pages + 1, range)
        }
        _ => (data_pages, k * size..((k + 1) * size).min(total)),
    };
    let mut out = String::with_capacity(400 * size as usize);
    let _ = write!(
        out,
        r#"{{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#{context}","value":["#
    );
    for (n, i) in range.enumerate() {
        if n > 0 {
            out.push(',');
        }
        item(i, &mut out);
    }
    out.push(']');
    let next = if link_loop && k >= 1 {
        Some(1)
    } else {
        (k + 1 < pages).then_some(k + 1)
    };
    if let Some(next) = next {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.starts_with("$skiptoken="))
            .collect();
        let _ = write!(
            out,
            r#","@odata.nextLink":"{}{path}?{}&$skiptoken={next}""#,
            state.url,
            kept.join("&")
        );
    }
    out.push('}');
    out
}

pub fn user_id(i: u64) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn user(i: u64, select: Option<&[String]>, out: &mut String) {
    let guest = i % 50 == 7;
    let upn = if guest {
        format!("guest{i}_fabrikam.com#EXT#@contoso.onmicrosoft.com")
    } else {
        format!("user{i}@contoso.com")
    };
    let fields: [(&str, String); 11] = [
        ("businessPhones", "[]".into()),
        ("displayName", format!("\"User {i}\"")),
        ("givenName", "\"User\"".into()),
        ("jobTitle", "null".into()),
        ("mail", format!("\"user{i}@contoso.com\"")),
        ("id", format!("\"{}\"", user_id(i))),
        ("userPrincipalName", format!("\"{upn}\"")),
        ("accountEnabled", (i % 100 != 3).to_string()),
        (
            "userType",
            if guest {
                "\"Guest\"".into()
            } else {
                "\"Member\"".into()
            },
        ),
        ("createdDateTime", "\"2021-06-01T08:00:00Z\"".into()),
        (
            "onPremisesSyncEnabled",
            if i.is_multiple_of(10) {
                "true".into()
            } else {
                "null".into()
            },
        ),
    ];
    const DEFAULTS: [&str; 7] = [
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "id",
        "userPrincipalName",
    ];
    out.push('{');
    let mut first = true;
    for (name, value) in &fields {
        let wanted = match select {
            Some(list) => list.iter().any(|s| s == name),
            None => DEFAULTS.contains(name),
        };
        if wanted {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "\"{name}\":{value}");
        }
    }
    out.push('}');
}

fn registration(i: u64, out: &mut String) {
    let methods = match i % 4 {
        0 => r#"["microsoftAuthenticatorPush","softwareOneTimePasscode"]"#,
        1 => r#"["fido2"]"#,
        2 => r#"["email"]"#,
        _ => "[]",
    };
    let registered = i % 4 < 2;
    let _ = write!(
        out,
        r#"{{"id":"{}","userPrincipalName":"user{i}@contoso.com","userDisplayName":"User {i}","userType":"member","isAdmin":false,"isSsprRegistered":false,"isSsprEnabled":false,"isSsprCapable":false,"isMfaRegistered":{registered},"isMfaCapable":{registered},"isPasswordlessCapable":false,"lastUpdatedDateTime":"2025-01-01T06:00:00.1234567Z","methodsRegistered":{methods},"isSystemPreferredAuthenticationMethodEnabled":true,"systemPreferredAuthenticationMethods":[],"userPreferredMethodForSecondaryAuthentication":"push"}}"#,
        user_id(i)
    );
}
