//! Access tokens for Graph: client credentials with a secret or a certificate assertion, and the
//! device code flow for admins who sign in interactively.
//!
//! Secrets come only from the environment ([`AuthEnv`]) or the certificate file. They are held in
//! memory for the run, sent only to the token endpoint, and never logged, returned in an error or
//! written anywhere. Tokens are renewed shortly before they expire and after a 401.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{RSA_PSS_SHA256, RsaKeyPair};
use rustls_pki_types::pem::{PemObject, SectionKind};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use super::retry::{
    Attempt, NetworkPolicy, is_transient, retry, retry_after, transport_error, unresolvable,
};

/// Secrets and ids from the environment, under the names Azure tooling already uses.
///
/// Empty variables count as unset. Debug output never shows the secret.
#[derive(Clone, Default)]
pub struct AuthEnv {
    /// `AZURE_TENANT_ID`: used when the config has no `[tenant] id`.
    pub tenant_id: Option<String>,
    /// `AZURE_CLIENT_ID`: used when the config has no `[auth] client_id`.
    pub client_id: Option<String>,
    /// `AZURE_CLIENT_SECRET`: client credentials with a secret (preferred when both are set, as in
    /// Azure Identity's EnvironmentCredential).
    pub client_secret: Option<String>,
    /// `AZURE_CLIENT_CERTIFICATE_PATH`: a PEM file holding the certificate and its unencrypted key.
    pub client_certificate_path: Option<PathBuf>,
    /// `AZURE_AUTHORITY_HOST`: the login root, when the config sets no `login_endpoint`.
    pub authority_host: Option<String>,
}

impl AuthEnv {
    pub fn from_process_env() -> Self {
        fn var(name: &str) -> Option<String> {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        }
        AuthEnv {
            tenant_id: var("AZURE_TENANT_ID"),
            client_id: var("AZURE_CLIENT_ID"),
            client_secret: var("AZURE_CLIENT_SECRET"),
            client_certificate_path: var("AZURE_CLIENT_CERTIFICATE_PATH").map(PathBuf::from),
            authority_host: var("AZURE_AUTHORITY_HOST"),
        }
    }
}

impl fmt::Debug for AuthEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEnv")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("client_certificate_path", &self.client_certificate_path)
            .field("authority_host", &self.authority_host)
            .finish()
    }
}

/// How the application proves who it is.
pub(crate) enum Credential {
    Secret(String),
    Certificate(Box<Certificate>),
    DeviceCode,
}

impl Credential {
    pub(crate) fn from_env(env: &AuthEnv, device_code: bool) -> Result<Credential> {
        if device_code {
            return Ok(Credential::DeviceCode);
        }
        if let Some(secret) = &env.client_secret {
            return Ok(Credential::Secret(secret.clone()));
        }
        if let Some(path) = &env.client_certificate_path {
            return Ok(Credential::Certificate(Box::new(Certificate::load(path)?)));
        }
        bail!(
            "no credential: set AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH (a PEM with the certificate and its key), or sign in with --device-code"
        )
    }

    fn kind(&self) -> &'static str {
        match self {
            Credential::Secret(_) => "client secret",
            Credential::Certificate(_) => "client certificate",
            Credential::DeviceCode => "device code",
        }
    }
}

/// The app's certificate and private key, from a PEM file.
pub(crate) struct Certificate {
    key: RsaKeyPair,
    /// base64url SHA-256 of the certificate's DER: the `x5t#S256` header.
    x5t_s256: String,
}

impl Certificate {
    pub(crate) fn load(path: &Path) -> Result<Certificate> {
        let pem = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the client certificate {} (AZURE_CLIENT_CERTIFICATE_PATH)",
                path.display()
            )
        })?;
        Certificate::from_pem(&pem)
            .with_context(|| format!("invalid client certificate file {}", path.display()))
    }

    pub(crate) fn from_pem(pem: &[u8]) -> Result<Certificate> {
        let mut cert = None;
        let mut key = None;
        for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
            // The parser's error never quotes the file's content.
            let (kind, der) = section.map_err(|e| anyhow!("not a readable PEM file: {e}"))?;
            match kind {
                SectionKind::Certificate if cert.is_none() => cert = Some(der),
                SectionKind::PrivateKey if key.is_none() => {
                    key = Some(RsaKeyPair::from_pkcs8(&der).map_err(|e| {
                        anyhow!("the private key is not a usable RSA key ({e}): Entra ID certificate credentials are RSA")
                    })?)
                }
                SectionKind::RsaPrivateKey if key.is_none() => {
                    key = Some(
                        RsaKeyPair::from_der(&der)
                            .map_err(|e| anyhow!("the RSA private key is not usable ({e})"))?,
                    )
                }
                SectionKind::EcPrivateKey => {
                    bail!("the private key is an EC key: Entra ID certificate credentials need an RSA key")
                }
                _ => {}
            }
        }
        let text = String::from_utf8_lossy(pem);
        let key = match key {
            Some(k) => k,
            None if text.contains("ENCRYPTED PRIVATE KEY") => bail!(
                "the private key is encrypted: export it without a passphrase, e.g. openssl pkcs8 -topk8 -nocrypt -in key.pem -out plain.pem, and keep the file readable only by the collecting account"
            ),
            None => bail!(
                "no private key found: the file must hold the certificate and its key (-----BEGIN PRIVATE KEY-----)"
            ),
        };
        let cert = cert.context(
            "no certificate found: the file must hold the certificate (-----BEGIN CERTIFICATE-----) and its key",
        )?;
        Ok(Certificate {
            key,
            x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&cert)),
        })
    }

    /// A signed client assertion (RFC 7523) for `token_url`, valid for five minutes.
    fn assertion(&self, client_id: &str, token_url: &str) -> Result<String> {
        let rng = SystemRandom::new();
        let mut jti = [0u8; 16];
        rng.fill(&mut jti)
            .map_err(|_| anyhow!("no system randomness for the client assertion"))?;
        #[allow(
            clippy::disallowed_methods,
            reason = "a client assertion is valid from the real time it is signed"
        )]
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let header = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": self.x5t_s256});
        let claims = json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": hex::encode(jti),
            "nbf": now,
            "iat": now,
            "exp": now + 300,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PSS_SHA256,
                &rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| anyhow!("signing the client assertion failed"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// A token in hand. `generation` tells a 401 retry whether someone already renewed it.
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) value: Arc<str>,
    pub(crate) generation: u64,
}

struct Held {
    token: Token,
    renew_at: Instant,
}

#[derive(Default)]
struct State {
    held: Option<Held>,
    generation: u64,
    /// From the device code flow (scope offline_access), to renew without a new sign-in.
    refresh_token: Option<String>,
}

/// Fetches, caches and renews tokens for one tenant and app. Shared by all sources.
pub(crate) struct TokenSource {
    client: reqwest::Client,
    token_url: Url,
    device_code_url: Url,
    client_id: String,
    scope: String,
    credential: Credential,
    policy: NetworkPolicy,
    state: tokio::sync::Mutex<State>,
}

impl TokenSource {
    pub(crate) fn new(
        client: reqwest::Client,
        login_root: &Url,
        tenant: &str,
        client_id: &str,
        scope_root: &str,
        credential: Credential,
        policy: NetworkPolicy,
    ) -> Result<TokenSource> {
        let base = login_root.as_str().trim_end_matches('/');
        let token_url = Url::parse(&format!("{base}/{tenant}/oauth2/v2.0/token"))
            .context("cannot build the token URL from the login endpoint and tenant id")?;
        let device_code_url = Url::parse(&format!("{base}/{tenant}/oauth2/v2.0/devicecode"))
            .context("cannot build the device code URL from the login endpoint and tenant id")?;
        Ok(TokenSource {
            client,
            token_url,
            device_code_url,
            client_id: client_id.to_string(),
            scope: format!("{}/.default", scope_root.trim_end_matches('/')),
            credential,
            policy,
            state: tokio::sync::Mutex::new(State::default()),
        })
    }

    /// A token valid for a while yet, renewed first when it is close to expiry.
    pub(crate) async fn token(&self) -> Result<Token> {
        let mut state = self.state.lock().await;
        if let Some(held) = &state.held
            && Instant::now() < held.renew_at
        {
            return Ok(held.token.clone());
        }
        self.renew(&mut state).await
    }

    /// After a 401 with `used`: renews unless another request already has.
    pub(crate) async fn renew_after_401(&self, used: &Token) -> Result<Token> {
        let mut state = self.state.lock().await;
        if let Some(held) = &state.held
            && held.token.generation != used.generation
        {
            return Ok(held.token.clone());
        }
        self.renew(&mut state).await
    }

    async fn renew(&self, state: &mut State) -> Result<Token> {
        let (response, refresh) = match &self.credential {
            Credential::Secret(secret) => (
                self.request(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", &self.client_id),
                    ("scope", &self.scope),
                    ("client_secret", secret),
                ])
                .await?,
                None,
            ),
            Credential::Certificate(cert) => {
                let assertion = cert.assertion(&self.client_id, self.token_url.as_str())?;
                (
                    self.request(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", &self.client_id),
                        ("scope", &self.scope),
                        (
                            "client_assertion_type",
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                        ),
                        ("client_assertion", &assertion),
                    ])
                    .await?,
                    None,
                )
            }
            Credential::DeviceCode => {
                match state.refresh_token.clone() {
                    Some(refresh_token) => {
                        let scope = format!("{} offline_access", self.scope);
                        let r = self
                        .request(&[
                            ("grant_type", "refresh_token"),
                            ("client_id", &self.client_id),
                            ("scope", &scope),
                            ("refresh_token", &refresh_token),
                        ])
                        .await
                        .context("renewing the device code sign-in failed: run again with --device-code")?;
                        let refresh = r.refresh_token.clone();
                        (r, refresh)
                    }
                    None => {
                        let r = self.device_code_flow().await?;
                        let refresh = r.refresh_token.clone();
                        (r, refresh)
                    }
                }
            }
        };
        if refresh.is_some() {
            state.refresh_token = refresh;
        }
        state.generation += 1;
        let lifetime = Duration::from_secs(response.expires_in);
        // Renew five minutes before expiry, or a tenth of the lifetime for short-lived tokens.
        let margin = (lifetime / 10).min(Duration::from_secs(300));
        let token = Token {
            value: Arc::from(response.access_token),
            generation: state.generation,
        };
        state.held = Some(Held {
            token: token.clone(),
            renew_at: Instant::now() + lifetime.saturating_sub(margin),
        });
        debug!(
            credential = self.credential.kind(),
            generation = state.generation,
            expires_in = response.expires_in,
            "token acquired"
        );
        Ok(token)
    }

    /// One POST to the token endpoint, retried on throttling, 5xx and transport faults.
    async fn request(&self, form: &[(&str, &str)]) -> Result<TokenResponse> {
        match self.post_form(&self.token_url, form).await? {
            Ok(r) => Ok(r),
            Err(e) => Err(anyhow!("{}", e.describe(&self.token_url))),
        }
    }

    async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<std::result::Result<TokenResponse, TokenError>> {
        let body = self.post(url, form).await?;
        match body {
            (status, value) if status.is_success() => {
                let access_token = value
                    .get("access_token")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .with_context(|| {
                        format!("the token endpoint {url} answered without an access_token")
                    })?
                    .to_string();
                Ok(Ok(TokenResponse {
                    access_token,
                    expires_in: number(value.get("expires_in")).unwrap_or(3599),
                    refresh_token: value
                        .get("refresh_token")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                }))
            }
            (status, value) => Ok(Err(TokenError::from_body(status.as_u16(), &value))),
        }
    }

    /// POSTs a form and returns the status with the JSON body (an empty object if not JSON),
    /// with Graph's retry policy: throttling, 503/504 and transport faults are repeated, bounded
    /// in number and in the time since the first attempt.
    async fn post(&self, url: &Url, form: &[(&str, &str)]) -> Result<(reqwest::StatusCode, Value)> {
        retry(
            &self.policy,
            async || {
                let started = Instant::now();
                let sent = self
                    .client
                    .post(url.clone())
                    .timeout(self.policy.request_timeout)
                    .form(form)
                    .send()
                    .await;
                let resp = match sent {
                    Ok(resp) => resp,
                    Err(e) => {
                        if let Some(final_error) = unresolvable(
                            &e,
                            url,
                            "the login endpoint ([tenant] cloud or login_endpoint, or AZURE_AUTHORITY_HOST)",
                        ) {
                            return Err(final_error);
                        }
                        return Ok(Attempt::Retry {
                            fault: transport_error(&e),
                            retry_after: None,
                        });
                    }
                };
                let status = resp.status();
                let header_wait = retry_after(resp.headers());
                Ok(match resp.bytes().await {
                    Ok(bytes) if !is_transient(status) => {
                        debug!(url = %url, status = status.as_u16(), duration_ms = started.elapsed().as_millis() as u64, "token endpoint");
                        let value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
                        Attempt::Done((status, value))
                    }
                    Ok(_) => Attempt::Retry {
                        fault: format!("HTTP {status}"),
                        retry_after: header_wait,
                    },
                    Err(e) => Attempt::Retry {
                        fault: transport_error(&e),
                        retry_after: None,
                    },
                })
            },
            async |fault, delay, failed| {
                warn!(
                    "token endpoint {url}: attempt {failed} failed ({fault}); retrying in {:.1} s (attempt {} of at most {})",
                    delay.as_secs_f64(),
                    failed + 1,
                    self.policy.max_retries + 1
                );
                tokio::time::sleep(delay).await;
                Ok(())
            },
            |gave_up| {
                anyhow!(
                    "the token endpoint {url} kept failing ({}) {}: check the network and the login endpoint",
                    gave_up.fault,
                    gave_up.bound_text(&self.policy)
                )
            },
        )
        .await
    }

    /// RFC 8628: show the user a code, then poll until they have signed in.
    async fn device_code_flow(&self) -> Result<TokenResponse> {
        let scope = format!("{} offline_access", self.scope);
        let (status, value) = self
            .post(
                &self.device_code_url,
                &[("client_id", &self.client_id), ("scope", &scope)],
            )
            .await?;
        if !status.is_success() {
            let e = TokenError::from_body(status.as_u16(), &value);
            bail!("{}", e.describe(&self.device_code_url));
        }
        let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_string);
        let device_code = field("device_code")
            .with_context(|| format!("{} answered without a device_code", self.device_code_url))?;
        let message = field("message").unwrap_or_else(|| {
            format!(
                "To sign in, open {} and enter the code {}",
                field("verification_uri").unwrap_or_default(),
                field("user_code").unwrap_or_default()
            )
        });
        eprintln!("{message}");
        let mut interval = Duration::from_secs(number(value.get("interval")).unwrap_or(5));
        let expires = Duration::from_secs(number(value.get("expires_in")).unwrap_or(900));
        let deadline = Instant::now() + expires;
        loop {
            tokio::time::sleep(interval).await;
            let polled = self
                .post_form(
                    &self.token_url,
                    &[
                        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                        ("client_id", &self.client_id),
                        ("device_code", &device_code),
                    ],
                )
                .await?;
            match polled {
                Ok(r) => return Ok(r),
                Err(e) if e.error == "authorization_pending" => {}
                Err(e) if e.error == "slow_down" => interval += Duration::from_secs(5),
                Err(e) if e.error == "expired_token" || e.error == "code_expired" => bail!(
                    "the device code expired before sign-in completed: run again and sign in within {} minutes",
                    expires.as_secs() / 60
                ),
                Err(e) if e.error == "authorization_declined" => {
                    bail!("the sign-in was declined: run again and approve it")
                }
                Err(e) => bail!("{}", e.describe(&self.token_url)),
            }
            if Instant::now() >= deadline {
                bail!(
                    "the device code expired before sign-in completed: run again and sign in within {} minutes",
                    expires.as_secs() / 60
                );
            }
        }
    }
}

struct TokenResponse {
    access_token: String,
    expires_in: u64,
    refresh_token: Option<String>,
}

/// An OAuth error answer: `{"error", "error_description": "AADSTS...", ...}`.
struct TokenError {
    status: u16,
    error: String,
    description: String,
    correlation_id: Option<String>,
}

impl TokenError {
    fn from_body(status: u16, value: &Value) -> TokenError {
        let s = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
        TokenError {
            status,
            error: s("error").unwrap_or_else(|| "unknown_error".into()),
            description: s("error_description").unwrap_or_default(),
            correlation_id: s("correlation_id"),
        }
    }

    fn describe(&self, url: &Url) -> String {
        let mut out = format!(
            "the token endpoint {url} refused the request (HTTP {}): {}",
            self.status, self.error
        );
        if !self.description.is_empty() {
            // Entra puts trace ids and a timestamp on further lines; the first line is the message.
            let first = self.description.lines().next().unwrap_or_default();
            out.push_str(": ");
            out.push_str(first.trim());
        }
        if let Some(c) = &self.correlation_id {
            out.push_str(&format!(" (correlation id {c})"));
        }
        let hint = match self.error.as_str() {
            "invalid_client" => {
                "; check AZURE_CLIENT_ID, and that AZURE_CLIENT_SECRET or the certificate is the one registered on the app and not expired"
            }
            "unauthorized_client" => {
                "; check AZURE_CLIENT_ID and that the app exists in this tenant (or is consented there)"
            }
            "invalid_request" if self.description.contains("AADSTS90002") => {
                "; check the tenant id ([tenant] id or AZURE_TENANT_ID)"
            }
            _ => "",
        };
        out.push_str(hint);
        out
    }
}

fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The application permissions (`roles`) and delegated scopes (`scp`) a token carries, sorted.
/// The payload is read without verification: this is a record of what was granted, not a check.
pub(crate) fn token_roles(token: &str) -> Vec<String> {
    let mut roles = Vec::new();
    let Some(payload) = token.split('.').nth(1) else {
        return roles;
    };
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')) else {
        return roles;
    };
    let Ok(claims) = serde_json::from_slice::<Value>(&bytes) else {
        return roles;
    };
    if let Some(list) = claims.get("roles").and_then(Value::as_array) {
        roles.extend(list.iter().filter_map(Value::as_str).map(str::to_string));
    }
    if let Some(scp) = claims.get("scp").and_then(Value::as_str) {
        roles.extend(scp.split_whitespace().map(str::to_string));
    }
    roles.sort();
    roles.dedup();
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_read_sorted() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"roles":["User.Read.All","AuditLog.Read.All"]}"#);
        assert_eq!(
            token_roles(&format!("e30.{payload}.sig")),
            vec!["AuditLog.Read.All", "User.Read.All"]
        );
        assert!(token_roles("opaque").is_empty());
    }

    #[test]
    fn an_encrypted_key_is_explained() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = Certificate::from_pem(pem.as_bytes()).err().unwrap();
        assert!(
            err.to_string().contains("the private key is encrypted"),
            "{err}"
        );
    }

    #[test]
    fn the_assertion_is_a_ps256_jwt_with_the_thumbprint() {
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/certs/test-client.pem"
        ))
        .unwrap();
        let cert = Certificate::from_pem(&pem).unwrap();
        let jwt = cert
            .assertion("client", "https://login.example/t/oauth2/v2.0/token")
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "PS256");
        assert_eq!(header["x5t#S256"].as_str().unwrap().len(), 43);
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://login.example/t/oauth2/v2.0/token");
        assert_eq!(claims["iss"], "client");
        assert_eq!(claims["sub"], "client");
        let lifetime = claims["exp"].as_u64().unwrap() - claims["nbf"].as_u64().unwrap();
        assert!(lifetime > 0 && lifetime <= 600);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 256);
    }

    #[test]
    fn debug_hides_the_secret() {
        let env = AuthEnv {
            client_secret: Some("hunter2".into()),
            ..AuthEnv::default()
        };
        assert!(!format!("{env:?}").contains("hunter2"));
    }
}
