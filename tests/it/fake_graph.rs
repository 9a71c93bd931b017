//! A fake Microsoft Graph and Entra ID token endpoint on 127.0.0.1, for the collector's tests.
//!
//! The tenant's pages are not built here: [`FakeGraph::start`] writes the scenario's tenant into
//! a temporary folder with the generator's own Graph shapes (`demo::synth::graph`: items, pages,
//! `$top`-sized paging), and Graph requests are answered from that folder by
//! `demo::synth::serve::FolderGraph`, with `@odata.nextLink` pointed at this server. What stays
//! here is what a test needs from a misbehaving Graph: faults, an inserted empty page, link loops
//! and foreign links, and checks of the requests the collector sends. Graph errors are shaped as
//! `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}` with a
//! `request-id` header; token errors as `{"error","error_description":"AADSTS...",...}`.
//!
//! The token endpoint checks what Entra checks: the `.default` scope of the cloud's Graph resource
//! (not the host the requests go to), the secret, or a client assertion's PS256/RS256 signature
//! (with the test public key, via ring), `x5t#S256`, audience, issuer, subject, lifetime and `jti`
//! reuse. Graph checks the bearer token and its expiry and answers 401 like Graph does.
//!
//! Besides its own tenant ([`TENANT`]), the fake serves the scenario's `other_tenants`, as one
//! multi-tenant app registration would see them: each has its own directory id, name and client
//! secret, its token carries its `tid`, and Graph answers a token with its tenant's pages.

use std::collections::{HashMap, HashSet, VecDeque};
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
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use mfa_evidence::demo::synth::graph::{
    self, Activity, Audit, Member, PageWriter, Person, Registration, Source, User, page_file,
};
use mfa_evidence::demo::synth::serve::{FolderGraph, next_link, query_param, with_next_link};
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

/// Another tenant the fake serves: the same users and pages as the scenario's own, under its
/// own directory id and organization name, reached with its own client secret.
#[derive(Debug, Clone)]
pub struct FakeTenant {
    pub id: String,
    pub name: String,
    pub secret: String,
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
    /// `/users`: user `i` is `user<i>@contoso.com`, a guest when `i % 50 == 7`, disabled when
    /// `i % 100 == 3`.
    pub users: u64,
    /// Rows of the registration report, for users `0..registrations`.
    pub registrations: u64,
    /// Items per page of `/users`, the report and the Conditional Access policies.
    pub page_size: u64,
    /// Insert an empty page at this 0-based page index of users and the registration report.
    pub empty_page_at: Option<u64>,
    /// Users' page 2 and later link back to page 1: a paging loop.
    pub users_link_loop: bool,
    /// Users' first page links to this URL instead of page 2.
    pub foreign_next_link: Option<String>,
    /// Members of the break-glass group: users `0..break_glass_members`.
    pub break_glass_members: u64,
    /// Authentication Methods audit events, on one page.
    pub audits: u64,
    /// Conditional Access policies, at most the generator's five.
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
    /// Tenants served besides [`TENANT`] (client credentials with a secret only).
    pub other_tenants: Vec<FakeTenant>,
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
            other_tenants: Vec::new(),
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
    /// The scenario's tenant in the import layout, and its number of page files per source.
    folder: FolderGraph,
    pages: HashMap<Source, u64>,
    /// The other tenants' pages and secrets, by directory id.
    others: HashMap<String, (FolderGraph, HashMap<Source, u64>, String)>,
    /// Each token's expiry and tenant.
    tokens: Mutex<HashMap<String, (Instant, String)>>,
    jtis: Mutex<HashSet<String>>,
    refresh_tokens: Mutex<HashSet<String>>,
    counter: AtomicU64,
    device_polls: AtomicU64,
    pub tokens_issued: AtomicU64,
    pub assertions_verified: AtomicU64,
    /// Every token request's form fields, secrets included (tests look for leaks elsewhere).
    pub token_forms: Mutex<Vec<HashMap<String, String>>>,
    pub seen: Mutex<Vec<Seen>>,
    /// `/users` requests being answered now, and the most there ever were at once: with one
    /// page each, how many tenants were being collected at once.
    users_in_flight: AtomicU64,
    pub peak_users_in_flight: AtomicU64,
}

pub struct FakeGraph {
    pub url: String,
    pub state: Arc<Shared>,
    /// Removed when the test drops the fake.
    _tenants: Vec<tempfile::TempDir>,
}

impl FakeGraph {
    pub async fn start(scenario: Scenario) -> FakeGraph {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let tenant = tempfile::tempdir().expect("a folder for the fake tenant");
        let pages = write_tenant(&scenario, tenant.path(), TENANT, "Contoso")
            .expect("the fake tenant is written");
        let mut folders = vec![];
        let mut others = HashMap::new();
        for other in &scenario.other_tenants {
            let dir = tempfile::tempdir().expect("a folder for another fake tenant");
            let pages = write_tenant(&scenario, dir.path(), &other.id, &other.name)
                .expect("the other fake tenant is written");
            others.insert(
                other.id.clone(),
                (FolderGraph::new(dir.path()), pages, other.secret.clone()),
            );
            folders.push(dir);
        }
        let state = Arc::new(Shared {
            url: url.clone(),
            scenario: Mutex::new(scenario),
            folder: FolderGraph::new(tenant.path()),
            pages,
            others,
            tokens: Mutex::default(),
            jtis: Mutex::default(),
            refresh_tokens: Mutex::default(),
            counter: AtomicU64::new(0),
            device_polls: AtomicU64::new(0),
            tokens_issued: AtomicU64::new(0),
            assertions_verified: AtomicU64::new(0),
            token_forms: Mutex::default(),
            seen: Mutex::default(),
            users_in_flight: AtomicU64::new(0),
            peak_users_in_flight: AtomicU64::new(0),
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
        FakeGraph {
            url,
            state,
            _tenants: std::iter::once(tenant).chain(folders).collect(),
        }
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

fn issue(state: &Shared, with_refresh: bool, tenant: &str) -> Response {
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
            "aud": state.url, "tid": tenant, "appid": CLIENT_ID, "roles": scenario.roles,
            "n": n, "iat": now_secs(), "exp": now_secs() + lifetime,
        })
        .to_string(),
    );
    let access_token = format!("{header}.{payload}.fake-signature-{n}");
    state.tokens.lock().unwrap().insert(
        access_token.clone(),
        (
            Instant::now() + Duration::from_secs(lifetime),
            tenant.to_string(),
        ),
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
    if let Some((_, _, secret)) = state.others.get(&tenant) {
        return other_tenant_token(&state, &tenant, secret, &form);
    }
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
                    return issue(&state, false, TENANT);
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
                        issue(&state, false, TENANT)
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
            issue(&state, true, TENANT)
        }
        "refresh_token" => {
            if state
                .refresh_tokens
                .lock()
                .unwrap()
                .remove(get("refresh_token"))
            {
                issue(&state, true, TENANT)
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

/// Client credentials with a secret for one of the scenario's other tenants.
fn other_tenant_token(
    state: &Shared,
    tenant: &str,
    secret: &str,
    form: &HashMap<String, String>,
) -> Response {
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != CLIENT_ID || get("grant_type") != "client_credentials" {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016: Application was not found in the directory.",
        );
    }
    if get("client_secret") != secret {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    issue(state, false, tenant)
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
    let source = FolderGraph::source_of(&path);
    let users = source == Some(Source::Users);
    if users {
        let now = state.users_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.peak_users_in_flight.fetch_max(now, Ordering::SeqCst);
    }
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
    if users {
        state.users_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
    state.seen.lock().unwrap().push(Seen {
        source: source.map_or("", Source::stem).to_string(),
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
    source: Option<Source>,
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
    let tokens = state.tokens.lock().unwrap().get(token).cloned();
    let tenant = tokens.as_ref().map_or(TENANT, |(_, t)| t.as_str());
    match tokens.as_ref().map(|(expiry, _)| expiry) {
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
        let once = s
            .faults
            .get_mut(source.stem())
            .and_then(VecDeque::pop_front);
        once.or_else(|| s.always.get(source.stem()).cloned())
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
            // Promise the whole page and send half of it: the connection closes mid-body.
            let Some(body) = page_body(state, tenant, source, path, query) else {
                return unknown_token(state);
            };
            let mut r = Response::new(Body::from(body[..body.len() / 2].to_vec()));
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
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
    if let Some(refused) = refusal(state, source, path, query, consistency_level) {
        return refused;
    }
    let Some(body) = page_body(state, tenant, source, path, query) else {
        return unknown_token(state);
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

fn unknown_token(state: &Shared) -> Response {
    graph_error(
        state,
        400,
        "Request_BadRequest",
        "The $skiptoken is not one this fake issued.",
    )
}

/// The fields `/users` items carry: the collector must ask for exactly these.
const USER_SELECT: [&str; 7] = [
    "id",
    "userPrincipalName",
    "displayName",
    "accountEnabled",
    "userType",
    "createdDateTime",
    "onPremisesSyncEnabled",
];

/// Graph's refusal of a request the collector should not send, if it is one.
fn refusal(
    state: &Shared,
    source: Source,
    path: &str,
    query: &str,
    consistency_level: Option<&str>,
) -> Option<Response> {
    let selected = || {
        let mut select: Vec<&str> = query_param(query, "$select")
            .unwrap_or("")
            .split(',')
            .collect();
        select.sort_unstable();
        let mut expected = USER_SELECT;
        expected.sort_unstable();
        select == expected
    };
    let (status, code, message) = match source {
        Source::Users if !query.contains("$top=999") => {
            (400, "Request_BadRequest", "Expected $top=999 in this fake.")
        }
        Source::Users if !selected() => (
            400,
            "Request_BadRequest",
            "Expected the $select of the collector's fields in this fake.",
        ),
        Source::BreakGlass if consistency_level != Some("eventual") => (
            400,
            "Request_BadRequest",
            "Request with $count or a type cast requires the header ConsistencyLevel: eventual.",
        ),
        Source::BreakGlass if !path.contains(GROUP_ID) => (
            404,
            "Request_ResourceNotFound",
            "Resource does not exist or one of its queried reference-property objects are not present.",
        ),
        Source::Audits
            if !query.contains("loggedByService%20eq%20%27Authentication%20Methods%27")
                || !query.contains("activityDateTime%20ge%20") =>
        {
            (
                400,
                "BadRequest",
                "Expected the Authentication Methods filter in this fake.",
            )
        }
        _ => return None,
    };
    Some(graph_error(state, status, code, message))
}

/// The page a request asks for, or `None` for a `$skiptoken` this fake did not issue.
/// `$skiptoken` is the 0-based index of the page served, counting an inserted empty page.
fn page_body(
    state: &Shared,
    tenant: &str,
    source: Source,
    path: &str,
    query: &str,
) -> Option<Vec<u8>> {
    let (folder, pages) = match state.others.get(tenant) {
        Some((folder, pages, _)) => (folder, pages),
        None => (&state.folder, &state.pages),
    };
    let (empty_page_at, link_loop, foreign_next_link) = {
        let s = state.scenario.lock().unwrap();
        (
            s.empty_page_at,
            s.users_link_loop,
            s.foreign_next_link.clone(),
        )
    };
    let files = pages.get(&source).copied().unwrap_or(0);
    let empty_at = empty_page_at
        .filter(|e| matches!(source, Source::Users | Source::Registration) && *e <= files);
    let served = files + u64::from(empty_at.is_some());
    let token = query_param(query, "$skiptoken");
    let k: u64 = match token.map(str::parse) {
        None => 0,
        Some(Ok(k)) if k < served => k,
        Some(_) => return None,
    };
    let body = if empty_at == Some(k) {
        graph::page::<Value>(source, None, None, &[])
    } else {
        // File numbers start at 1; past an inserted empty page they lag the index by one.
        let file = if empty_at.is_some_and(|e| k > e) {
            k
        } else {
            k + 1
        };
        folder
            .page(source, file)
            .expect("the fake tenant's pages are readable")
            .expect("every page counted is there")
            .body
    };
    let next = if link_loop && source == Source::Users && k >= 1 {
        Some(1)
    } else {
        (k + 1 < served).then_some(k + 1)
    };
    let link = match foreign_next_link {
        Some(link) if source == Source::Users && token.is_none() => Some(link),
        _ => next.map(|n| next_link(&state.url, path, query, n)),
    };
    Some(with_next_link(&body, link.as_deref()).expect("the fake tenant's pages are Graph pages"))
}

// ---------------------------------------------------------------------------------------------
// The scenario's tenant

pub fn user_id(i: u64) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn person(i: u64) -> Person {
    let upn = if is_guest(i) {
        format!("guest{i}_fabrikam.com#EXT#@{TENANT_DOMAIN}")
    } else {
        format!("user{i}@contoso.com")
    };
    Person {
        id: user_id(i),
        upn,
        name: format!("User {i}"),
    }
}

fn is_guest(i: u64) -> bool {
    i % 50 == 7
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + TimeDelta::milliseconds(ms.into())
}

/// Writes the scenario's tenant in the import layout with the generator's Graph shapes;
/// returns the number of page files per source.
fn write_tenant(
    s: &Scenario,
    dir: &std::path::Path,
    tenant: &str,
    name: &str,
) -> anyhow::Result<HashMap<Source, u64>> {
    let page_size = s.page_size.max(1) as usize;
    // Any fixed seed: it only makes the folder's own `$skiptoken`s, which are never served.
    let tokens = 7;
    let mut pages = HashMap::new();
    let mut single = |source: Source, body: Vec<u8>| -> anyhow::Result<()> {
        std::fs::write(dir.join(page_file(source, 1)), body)?;
        pages.insert(source, 1);
        Ok(())
    };
    single(
        Source::Organization,
        graph::organization_page(tenant, name, "contoso.com", at(2017, 3, 1, 9, 0, 0, 0)),
    )?;
    let members: Vec<Member> = (0..s.break_glass_members)
        .map(|i| {
            let p = person(i);
            Member::new(&p.id, &p.upn)
        })
        .collect();
    single(Source::BreakGlass, graph::break_glass_page(&members))?;
    single(
        Source::AuthMethodsPolicy,
        graph::methods_policy_page(at(2025, 1, 1, 0, 0, 0, 0)),
    )?;

    let mut users = PageWriter::new(dir, Source::Users, page_size, tokens);
    for i in 0..s.users {
        let synced = i.is_multiple_of(10);
        users.push(User::new(
            person(i),
            i % 100 != 3,
            is_guest(i),
            at(2021, 6, 1, 8, 0, 0, 0),
            synced,
        ))?;
    }
    pages.insert(Source::Users, users.finish()?.0);

    const METHODS: [&[&str]; 4] = [
        &["microsoftAuthenticatorPush", "softwareOneTimePasscode"],
        &["fido2"],
        &["email"],
        &[],
    ];
    let mut rows = PageWriter::new(dir, Source::Registration, page_size, tokens);
    for i in 0..s.registrations {
        let updated = at(2025, 1, 1, 6, 0, 0, 0) + TimeDelta::nanoseconds(123_456_700);
        rows.push(Registration::new(
            person(i),
            is_guest(i),
            false,
            updated,
            METHODS[(i % 4) as usize],
        ))?;
    }
    pages.insert(Source::Registration, rows.finish()?.0);

    let mut audits = PageWriter::new(dir, Source::Audits, (s.audits as usize).max(1), tokens);
    for i in 0..s.audits {
        let p = person(i);
        let time = at(2025, 1, 2, 3, 4, 5, 678);
        audits.push(Audit::new(
            i,
            time,
            Activity::UserRegistered,
            &p,
            &p,
            Some("microsoftAuthenticatorPush"),
        ))?;
    }
    pages.insert(Source::Audits, audits.finish()?.0);

    let policies = graph::conditional_access_policies(7, GROUP_ID, at(2019, 4, 1, 12, 0, 0, 0));
    assert!(
        s.ca_policies as usize <= policies.len(),
        "the fake has {} Conditional Access policies",
        policies.len()
    );
    let mut ca = PageWriter::new(dir, Source::ConditionalAccess, page_size, tokens);
    for policy in policies.into_iter().take(s.ca_policies as usize) {
        ca.push(policy)?;
    }
    pages.insert(Source::ConditionalAccess, ca.finish()?.0);
    Ok(pages)
}
