//! Sending an alert: to a webhook (reqwest, rustls) and by mail over SMTP with STARTTLS (lettre,
//! rustls), each retried a bounded number of times with back-off.
//!
//! The secrets come only from the environment: the webhook URL, which carries its own secret
//! (`MFA_EVIDENCE_WEBHOOK_URL`), and the SMTP password (`MFA_EVIDENCE_SMTP_PASSWORD`). Neither is
//! ever printed: they are kept in types whose `Debug` hides them, no log line names them, and an
//! error names the channel ("the webhook"), never the URL; text a receiver answers is scrubbed of
//! them before it is shown. The URL must be https, or http to a loopback address, as for tokens.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::debug;

use super::{Alert, payload};
use crate::config::{EmailSettings, Mailbox, NotifySettings, WebhookFormat};
use crate::loopback::is_loopback;

pub const WEBHOOK_URL_VAR: &str = "MFA_EVIDENCE_WEBHOOK_URL";
pub const SMTP_PASSWORD_VAR: &str = "MFA_EVIDENCE_SMTP_PASSWORD";

/// How much of a receiver's answer is read, and how much an error quotes.
const ANSWER_READ_MAX: usize = 16 * 1024;
const ANSWER_QUOTE_MAX: usize = 200;

/// Where an alert went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    Webhook,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Email => "email",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Channel::Webhook => "the webhook",
            Channel::Email => "the mail",
        })
    }
}

/// The outcome of sending one alert on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub channel: Channel,
    pub delivered: bool,
    pub attempts: u32,
    /// Why the last attempt failed; never holds a secret.
    pub error: Option<String>,
    /// When the last attempt ended, in whole seconds.
    pub finished_at: DateTime<Utc>,
}

/// Bounds for retrying one delivery: at most `attempts` tries, waiting `first_delay` after the
/// first failure and twice as long after each further one (at most `max_delay`, also for a
/// receiver's `Retry-After`), each try given `attempt_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    /// Three tries within about a minute and a half at worst: a daily job should not hang on
    /// a receiver that is down.
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based).
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let doubled = self
            .first_delay
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        retry_after.unwrap_or(doubled).min(self.max_delay)
    }
}

/// A value that must never be printed.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

/// The notify secrets of the environment, read once.
#[derive(Debug, Clone, Default)]
pub struct NotifyEnv {
    webhook_url: Option<Secret>,
    smtp_password: Option<Secret>,
}

impl NotifyEnv {
    pub fn from_process_env() -> NotifyEnv {
        NotifyEnv::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `var`; an empty value counts as unset.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> NotifyEnv {
        let read = |name: &str| var(name).filter(|v| !v.trim().is_empty()).map(Secret);
        NotifyEnv {
            webhook_url: read(WEBHOOK_URL_VAR),
            smtp_password: read(SMTP_PASSWORD_VAR),
        }
    }
}

/// The configured channels, ready to send.
pub struct Notifier {
    webhook: Option<Webhook>,
    email: Option<Email>,
    policy: RetryPolicy,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("channels", &self.channels())
            .field("policy", &self.policy)
            .finish()
    }
}

impl Notifier {
    /// The channels `settings` configure, with their secrets from `env`; `None` when none is
    /// configured. A channel that cannot work (no URL, a URL that is not https, an unreadable CA
    /// file, a username without its password) is an error here, before anything is collected.
    pub fn new(settings: &NotifySettings, env: &NotifyEnv) -> Result<Option<Notifier>> {
        if !settings.is_configured() {
            return Ok(None);
        }
        let webhook = match settings.webhook {
            None => None,
            Some(format) => {
                let url = env.webhook_url.as_ref().with_context(|| {
                    format!(
                        "notify.format = \"{}\" configures a webhook, but {WEBHOOK_URL_VAR} is not set: set it to the webhook's address (it carries its own secret, so it is never read from the file)",
                        format.as_str()
                    )
                })?;
                Some(Webhook::new(webhook_url(&url.0)?, format)?)
            }
        };
        let email = match &settings.email {
            None => None,
            Some(email) => Some(Email::new(email, env.smtp_password.as_ref())?),
        };
        Ok(Some(Notifier {
            webhook,
            email,
            policy: RetryPolicy::default(),
        }))
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Notifier {
        self.policy = policy;
        self
    }

    pub fn channels(&self) -> Vec<Channel> {
        let mut out = Vec::new();
        if self.webhook.is_some() {
            out.push(Channel::Webhook);
        }
        if self.email.is_some() {
            out.push(Channel::Email);
        }
        out
    }

    /// Sends `alert` on every channel, one after the other; one channel failing does not stop
    /// the others.
    pub async fn send(&self, alert: &Alert) -> Vec<Delivery> {
        let mut out = Vec::new();
        if let Some(webhook) = &self.webhook {
            out.push(webhook.send(alert, &self.policy).await);
        }
        if let Some(email) = &self.email {
            out.push(email.send(alert, &self.policy).await);
        }
        out
    }
}

/// `MFA_EVIDENCE_WEBHOOK_URL`, checked: a URL, https or http to a loopback address. Messages
/// never repeat the value.
fn webhook_url(text: &str) -> Result<Url> {
    let url = Url::parse(text.trim()).map_err(|_| {
        anyhow!(
            "{WEBHOOK_URL_VAR} is not a URL: set it to the webhook's address as the receiver shows it (https://...)"
        )
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        bail!("{WEBHOOK_URL_VAR} names no host: set it to the webhook's address (https://...)");
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => bail!(
            "refusing to send alerts over plain http: the webhook URL carries its own secret, so {WEBHOOK_URL_VAR} must use https (http is allowed only to a loopback address)"
        ),
        other => bail!("{WEBHOOK_URL_VAR} has the scheme {other:?}: use https"),
    }
}

/// The parts of a secret that could be quoted back by a receiver: the whole, its path and
/// query, and each path segment and query value long enough to be a key.
fn secret_parts(url: &Url) -> Vec<String> {
    let mut parts = vec![url.as_str().to_string()];
    if url.path().len() > 1 {
        parts.push(url.path().to_string());
    }
    if let Some(q) = url.query() {
        parts.push(q.to_string());
    }
    parts.extend(
        url.path_segments()
            .into_iter()
            .flatten()
            .map(str::to_string)
            .chain(url.query_pairs().map(|(_, v)| v.into_owned()))
            .filter(|p| p.len() >= 8),
    );
    parts
}

/// `text` with every secret part replaced.
fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    // Longest first, so a part inside a longer one does not leave the rest behind.
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        out = out.replace(s.as_str(), "[hidden]");
    }
    out
}

#[allow(
    clippy::disallowed_methods,
    reason = "when an alert was delivered: kept in the store's notification record, never in a package"
)]
fn now() -> DateTime<Utc> {
    // Whole seconds, as every time the store writes.
    chrono::SubsecRound::trunc_subsecs(Utc::now(), 0)
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// Worth another try, after the receiver's `Retry-After` when it gave one.
    Retry(String, Option<Duration>),
    /// Another try would fail the same way.
    Permanent(String),
}

/// Runs `attempt` until it delivers, fails for good, or the policy's tries are used up.
async fn with_retries<F, Fut>(channel: Channel, policy: &RetryPolicy, mut attempt: F) -> Delivery
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = attempt().await;
        let error = match outcome {
            Attempt::Delivered => None,
            Attempt::Permanent(why) => Some(why),
            Attempt::Retry(why, retry_after) if attempts < policy.attempts.max(1) => {
                let wait = policy.delay(attempts, retry_after);
                debug!(
                    channel = channel.as_str(),
                    attempt = attempts,
                    wait_ms = wait.as_millis() as u64,
                    "alert not delivered, trying again: {why}"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            Attempt::Retry(why, _) => Some(why),
        };
        debug!(
            channel = channel.as_str(),
            attempts,
            delivered = error.is_none(),
            "alert delivery finished"
        );
        return Delivery {
            channel,
            delivered: error.is_none(),
            attempts,
            error,
            finished_at: now(),
        };
    }
}

struct Webhook {
    url: Url,
    format: WebhookFormat,
    client: reqwest::Client,
    secrets: Vec<String>,
}

impl Webhook {
    fn new(url: Url, format: WebhookFormat) -> Result<Webhook> {
        // Redirects are not followed: the secret URL's request would go on to wherever the
        // answer points. A loopback receiver is never reached through a proxy, so a secret sent
        // over plain http stays on this host; other hosts honour HTTPS_PROXY as the collector does.
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(crate::tool_id());
        if is_loopback(&url) {
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| anyhow!("cannot set up the HTTP client for the webhook: {e}"))?;
        Ok(Webhook {
            secrets: secret_parts(&url),
            url,
            format,
            client,
        })
    }

    fn payload(&self, alert: &Alert) -> Value {
        match self.format {
            WebhookFormat::Teams => payload::teams(alert),
            WebhookFormat::Slack => payload::slack(alert),
            WebhookFormat::Json => payload::json(alert),
        }
    }

    async fn send(&self, alert: &Alert, policy: &RetryPolicy) -> Delivery {
        let body = match serde_json::to_vec(&self.payload(alert)) {
            Ok(b) => b,
            Err(e) => {
                return Delivery {
                    channel: Channel::Webhook,
                    delivered: false,
                    attempts: 0,
                    error: Some(format!("cannot encode the alert: {e}")),
                    finished_at: now(),
                };
            }
        };
        with_retries(Channel::Webhook, policy, || self.attempt(&body, policy)).await
    }

    async fn attempt(&self, body: &[u8], policy: &RetryPolicy) -> Attempt {
        let sent = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(policy.attempt_timeout)
            .body(body.to_vec())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                if let Some(tls) = tls_failure(&e) {
                    return Attempt::Permanent(scrub(
                        &format!("the TLS handshake with the webhook failed ({tls})"),
                        &self.secrets,
                    ));
                }
                return Attempt::Retry(self.transport_error(&e, policy), None);
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // The answer is read within the attempt's time as well, and only its start: it is
        // quoted, or searched for a Teams connector's throttling notice.
        let answer = match read_start(response).await {
            Ok(t) => t,
            Err(e) if status.is_success() => {
                return Attempt::Retry(self.transport_error(&e, policy), None);
            }
            Err(_) => String::new(),
        };
        debug!(
            channel = "webhook",
            status = status.as_u16(),
            "webhook answered"
        );
        self.judge(status, &answer, retry_after)
    }

    fn judge(&self, status: StatusCode, answer: &str, retry_after: Option<Duration>) -> Attempt {
        let quoted = self.quote(answer);
        let answered = |hint: &str| {
            let mut text = format!("the webhook answered HTTP {}", status.as_u16());
            if !quoted.is_empty() {
                text.push_str(&format!(" ({quoted})"));
            }
            if !hint.is_empty() {
                text.push_str(": ");
                text.push_str(hint);
            }
            text
        };
        match status.as_u16() {
            // A Teams connector reports its own throttling inside a success answer.
            200..=299 if answer.contains("HTTP error 429") => Attempt::Retry(
                answered("the receiver is throttling; try fewer alerts per minute"),
                retry_after,
            ),
            200..=299 => Attempt::Delivered,
            429 => Attempt::Retry(answered("the receiver is throttling"), retry_after),
            408 | 500..=599 => Attempt::Retry(answered(""), retry_after),
            300..=399 => Attempt::Permanent(answered(&format!(
                "redirects are not followed; set {WEBHOOK_URL_VAR} to the address the receiver gives now"
            ))),
            400 | 422 => Attempt::Permanent(answered(&format!(
                "the receiver refused the message; check that notify.format = \"{}\" is what it expects",
                self.format.as_str()
            ))),
            401 | 403 => Attempt::Permanent(answered(
                "the receiver refused the request; check who may post to the webhook (for a Workflows flow: who can trigger it)",
            )),
            404 | 410 => Attempt::Permanent(answered(&format!(
                "the webhook does not exist (any more); create one and set {WEBHOOK_URL_VAR} to its address"
            ))),
            _ => Attempt::Permanent(answered("")),
        }
    }

    /// The start of a receiver's answer, on one line, without secrets.
    fn quote(&self, answer: &str) -> String {
        let one_line: String = answer.split_whitespace().collect::<Vec<_>>().join(" ");
        let cut: String = one_line.chars().take(ANSWER_QUOTE_MAX).collect();
        scrub(&cut, &self.secrets)
    }

    /// A transport error in words, naming the webhook and never its URL.
    fn transport_error(&self, e: &reqwest::Error, policy: &RetryPolicy) -> String {
        let cause = innermost(e);
        let text = if e.is_timeout() {
            format!(
                "the webhook did not answer within {} s",
                policy.attempt_timeout.as_secs_f64()
            )
        } else if e.is_connect() {
            format!("cannot connect to the webhook ({cause})")
        } else {
            format!("the request to the webhook failed ({cause})")
        };
        scrub(&text, &self.secrets)
    }
}

/// The first [`ANSWER_READ_MAX`] bytes of an answer, as text.
async fn read_start(mut response: reqwest::Response) -> reqwest::Result<String> {
    let mut bytes = Vec::new();
    while bytes.len() < ANSWER_READ_MAX {
        match response.chunk().await? {
            Some(chunk) => bytes.extend_from_slice(&chunk),
            None => break,
        }
    }
    bytes.truncate(ANSWER_READ_MAX);
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The TLS failure behind an error, when there is one: an untrusted or mismatched certificate
/// stays so, and another try would only repeat it. (An `io::Error` hides its inner error from
/// `source()`, so each level is looked into.)
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(tls) = c.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(tls) = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls.to_string());
        }
        cause = c.source();
    }
    None
}

/// The deepest cause of an error: the one that says what happened (connection refused, an
/// unknown certificate issuer), without reqwest's outer text, which names the URL.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    host: String,
    port: u16,
    secrets: Vec<String>,
}

impl Email {
    fn new(settings: &EmailSettings, password: Option<&Secret>) -> Result<Email> {
        let mut tls = TlsParameters::builder(settings.host.clone());
        if let Some(path) = &settings.ca_file {
            tls = tls.add_root_certificate(read_ca(path)?);
        }
        let tls = tls.build_rustls().map_err(|e| {
            anyhow!(
                "cannot set up TLS for the SMTP relay {}: {e}",
                settings.host
            )
        })?;
        // STARTTLS is required: without it nothing is sent, neither the login nor the mail.
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(Tls::Required(tls));
        let mut secrets = Vec::new();
        match (&settings.username, password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user.clone(), password.0.clone()));
                secrets.push(password.0.clone());
            }
            (Some(_), None) => bail!(
                "notify.email.username is set but {SMTP_PASSWORD_VAR} is not: set the password in the environment, or remove username to send without logging in"
            ),
            (None, Some(_)) => bail!(
                "{SMTP_PASSWORD_VAR} is set but notify.email.username is not: name the SMTP user in the config file, or unset the variable"
            ),
            (None, None) => {}
        }
        Ok(Email {
            transport: builder.build(),
            from: settings.from.clone(),
            to: settings.to.clone(),
            host: settings.host.clone(),
            port: settings.port,
            secrets,
        })
    }

    async fn send(&self, alert: &Alert, policy: &RetryPolicy) -> Delivery {
        let (subject, body) = payload::email(alert);
        let mut message = Message::builder().from(self.from.clone());
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = match message
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
        {
            Ok(m) => m,
            Err(e) => {
                return Delivery {
                    channel: Channel::Email,
                    delivered: false,
                    attempts: 0,
                    error: Some(format!("cannot build the mail: {e}")),
                    finished_at: now(),
                };
            }
        };
        with_retries(Channel::Email, policy, || self.attempt(&message, policy)).await
    }

    async fn attempt(&self, message: &Message, policy: &RetryPolicy) -> Attempt {
        let relay = format!("the SMTP relay {}:{}", self.host, self.port);
        let sent =
            tokio::time::timeout(policy.attempt_timeout, self.transport.send(message.clone()))
                .await;
        let e = match sent {
            Ok(Ok(_)) => return Attempt::Delivered,
            Ok(Err(e)) => e,
            Err(_) => {
                return Attempt::Retry(
                    format!(
                        "{relay} did not finish within {} s",
                        policy.attempt_timeout.as_secs_f64()
                    ),
                    None,
                );
            }
        };
        let text = scrub(&e.to_string(), &self.secrets);
        debug!(channel = "email", "smtp error: {text}");
        if e.is_tls() || tls_failure(&e).is_some() {
            let why = tls_failure(&e).unwrap_or_else(|| text.clone());
            Attempt::Permanent(format!(
                "the TLS handshake with {relay} failed ({why}): if a private CA signed the relay's certificate, give its PEM file as notify.email.ca_file"
            ))
        } else if text.contains("STARTTLS") {
            Attempt::Permanent(format!(
                "{relay} does not offer STARTTLS ({text}): alerts are only mailed encrypted; use the relay's submission port (587)"
            ))
        } else if e.status().is_some_and(|c| c.to_string().starts_with("535")) {
            Attempt::Permanent(format!(
                "{relay} refused the login ({text}): check notify.email.username and {SMTP_PASSWORD_VAR}"
            ))
        } else if e.is_permanent() {
            Attempt::Permanent(format!("{relay} refused the mail ({text})"))
        } else if e.is_transient() {
            Attempt::Retry(format!("{relay} deferred the mail ({text})"), None)
        } else if e.is_timeout() {
            Attempt::Retry(format!("{relay} timed out ({text})"), None)
        } else {
            Attempt::Retry(
                format!("cannot deliver the mail through {relay} ({text})"),
                None,
            )
        }
    }
}

/// The PEM certificates of `ca_file` (at least one).
fn read_ca(path: &std::path::Path) -> Result<Certificate> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(path).with_context(|| {
        format!(
            "cannot read notify.email.ca_file {}: check the path (relative to the config file's folder)",
            path.display()
        )
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            anyhow!(
                "notify.email.ca_file {} is not valid PEM: {e}",
                path.display()
            )
        })?;
    if certs.is_empty() {
        bail!(
            "notify.email.ca_file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Certificate::from_pem(&pem).map_err(|e| {
        anyhow!(
            "notify.email.ca_file {} cannot be used: {e}",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_url_is_https_or_loopback_and_never_echoed() {
        for ok in [
            "https://example.webhook.office.com/webhookb2/abc",
            "http://127.0.0.1:8080/hook",
            "http://[::1]:9/x",
            "http://localhost:1/x",
        ] {
            assert!(webhook_url(ok).is_ok(), "{ok}");
        }
        for (bad, needle) in [
            (
                "http://hooks.example.com/services/T0/B0/SECRETSECRET",
                "must use https",
            ),
            ("ftp://127.0.0.1/SECRETSECRET", "scheme \"ftp\""),
            ("not a url SECRETSECRET", "is not a URL"),
            ("file:///SECRETSECRET", "names no host"),
        ] {
            let err = format!("{:#}", webhook_url(bad).unwrap_err());
            assert!(err.contains(needle), "{bad}: {err}");
            assert!(!err.contains("SECRETSECRET"), "{bad}: {err}");
            assert!(!err.contains("hooks.example.com"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_receivers_answer_is_scrubbed_of_the_secret() {
        let url = Url::parse(
            "https://prod.example.logic.azure.com/workflows/0123456789abcdef/triggers/manual/paths/invoke?api-version=2016-06-01&sig=S1gn4tur3Value",
        )
        .unwrap();
        let parts = secret_parts(&url);
        let text = format!(
            "bad request to {} (sig S1gn4tur3Value, flow 0123456789abcdef)",
            url.as_str()
        );
        let clean = scrub(&text, &parts);
        assert!(!clean.contains("S1gn4tur3Value"), "{clean}");
        assert!(!clean.contains("0123456789abcdef"), "{clean}");
        assert!(clean.starts_with("bad request to [hidden]"), "{clean}");
    }

    #[test]
    fn back_off_doubles_and_is_capped() {
        let p = RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            attempt_timeout: Duration::from_secs(1),
        };
        assert_eq!(p.delay(1, None), Duration::from_millis(100));
        assert_eq!(p.delay(2, None), Duration::from_millis(200));
        assert_eq!(p.delay(3, None), Duration::from_millis(350));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(60))),
            Duration::from_millis(350)
        );
        assert_eq!(p.delay(40, None), Duration::from_millis(350));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let env = NotifyEnv::from_lookup(|name| match name {
            WEBHOOK_URL_VAR => Some("https://hooks.example.com/services/T0/B0/XyZsecret".into()),
            SMTP_PASSWORD_VAR => Some("pa55word-secret".into()),
            _ => None,
        });
        let text = format!("{env:?}");
        assert!(
            !text.contains("XyZsecret") && !text.contains("pa55word"),
            "{text}"
        );
    }
}
