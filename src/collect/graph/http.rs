//! One Graph GET at a time, done right: the token only to the Graph host, throttling and faults
//! retried with the waits Graph asks for, errors turned into messages that say what to do, and a
//! [`RequestRecord`] for every attempt.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use chrono::{SecondsFormat, Utc};
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};
use serde_json::Value;
use tracing::debug;

use super::NetworkPolicy;
use super::auth::{TokenSource, transport_error};
use super::progress::SourceBar;
use super::sources::SourceSpec;
use crate::snapshot::RequestRecord;

/// Refuses to send credentials anywhere but https, or http to a loopback address (tests, proxies
/// on the same host). Checked before any request, for the login and Graph roots and every nextLink.
pub(crate) fn check_token_url(url: &Url, what: &str) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => bail!(
            "refusing to send credentials over plain http to {}: {what} must use https (http is allowed only to a loopback address)",
            url.host_str().unwrap_or("")
        ),
        other => bail!("{what} {url} has the unsupported scheme {other:?}: use https"),
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Exponential back-off with equal jitter: attempt 1 waits about `base`, doubling up to `max_delay`.
pub(crate) fn backoff_delay(policy: &NetworkPolicy, attempt: u32) -> Duration {
    let exp = policy
        .base_delay
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let full = exp.min(policy.max_delay);
    let half = full / 2;
    half + half.mul_f64(fastrand::f64())
}

/// `Retry-After: <seconds>`; the HTTP-date form is not used by Graph and falls back to back-off.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The Graph client shared by every source.
pub(crate) struct Graph {
    pub(crate) client: reqwest::Client,
    pub(crate) root: Url,
    pub(crate) tokens: TokenSource,
    pub(crate) policy: NetworkPolicy,
    /// Set when a required source has failed: the others stop at their next request or wait.
    pub(crate) cancelled: AtomicBool,
    pub(crate) cancel_notify: tokio::sync::Notify,
}

/// Why an attempt is worth repeating.
enum Fault {
    Status(StatusCode, Option<String>),
    Transport(String),
}

impl Graph {
    /// Stops every other source: a required source has failed, so the collection is void.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
        self.cancel_notify.notify_waiters();
    }

    /// Waits `delay`, or less when the collection is cancelled meanwhile.
    async fn pause(&self, delay: Duration) -> Result<()> {
        let notified = self.cancel_notify.notified();
        if self.cancelled.load(Ordering::Relaxed) {
            bail!("stopped: a required source failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => Ok(()),
            _ = notified => bail!("stopped: a required source failed"),
        }
    }

    /// GETs `url` for `spec`, retrying throttling and transient faults. Every attempt is appended
    /// to `requests`; on success the body is returned and the last record is the one that succeeded.
    pub(crate) async fn get(
        &self,
        spec: &SourceSpec,
        url: &Url,
        requests: &mut Vec<RequestRecord>,
        bar: &SourceBar,
    ) -> Result<Vec<u8>> {
        if !same_origin(url, &self.root) {
            bail!(
                "refusing to follow a link to {}: it is not the Graph endpoint {} and would receive the token",
                url.origin().ascii_serialization(),
                self.root.origin().ascii_serialization()
            );
        }
        check_token_url(url, "the Graph endpoint")?;
        let mut attempt = 0u32;
        let mut waited = Duration::ZERO;
        let mut renewed_after_401 = false;
        loop {
            if self.cancelled.load(Ordering::Relaxed) {
                bail!("stopped: a required source failed");
            }
            // Fetched per attempt: a long throttling wait may outlast the token.
            let token = self.tokens.token().await?;
            #[allow(
                clippy::disallowed_methods,
                reason = "provenance records when each request was made"
            )]
            let time = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
            let started = Instant::now();
            let mut request = self
                .client
                .get(url.clone())
                .bearer_auth(&*token.value)
                .timeout(self.policy.request_timeout);
            if spec.consistency_eventual {
                request = request.header("ConsistencyLevel", "eventual");
            }
            let sent = request.send().await;
            let (status, request_id, body, wait_hint) = match sent {
                Ok(resp) => {
                    let status = resp.status();
                    let request_id = resp
                        .headers()
                        .get("request-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let wait = retry_after(resp.headers());
                    match resp.bytes().await {
                        Ok(b) => (status, request_id, Ok(b), wait),
                        Err(e) => (status, request_id, Err(transport_error(&e)), None),
                    }
                }
                Err(e) => (StatusCode::OK, None, Err(transport_error(&e)), None),
            };
            let duration_ms = started.elapsed().as_millis() as u64;
            let complete = body.is_ok();
            requests.push(RequestRecord {
                url: url.to_string(),
                time,
                // 0: no complete response (connection dropped, reset or timed out).
                status: if complete { status.as_u16() } else { 0 },
                request_id: request_id.clone(),
                duration_ms,
                items: 0,
                file: None,
            });
            debug!(
                source = spec.name,
                url = %url,
                status = if complete { status.as_u16() } else { 0 },
                request_id = request_id.as_deref().unwrap_or(""),
                duration_ms,
                "graph request"
            );
            let fault = match body {
                Err(kind) => Fault::Transport(kind),
                Ok(body) if status.is_success() => return Ok(Vec::from(body)),
                Ok(_)
                    if status == StatusCode::TOO_MANY_REQUESTS
                        || status == StatusCode::SERVICE_UNAVAILABLE
                        || status == StatusCode::GATEWAY_TIMEOUT =>
                {
                    Fault::Status(status, request_id)
                }
                Ok(_) if status == StatusCode::UNAUTHORIZED && !renewed_after_401 => {
                    // The token may have expired or been revoked between our check and Graph's:
                    // renew once and repeat the request.
                    renewed_after_401 = true;
                    self.tokens.renew_after_401(&token).await?;
                    continue;
                }
                Ok(body) => return Err(graph_error(spec, status, &body, request_id)),
            };
            attempt += 1;
            let delay = wait_hint.unwrap_or_else(|| backoff_delay(&self.policy, attempt));
            let what = match &fault {
                Fault::Status(s, _) => format!("HTTP {}", s.as_u16()),
                Fault::Transport(kind) => kind.clone(),
            };
            if attempt > self.policy.max_retries || waited + delay > self.policy.max_wait {
                let rid = match &fault {
                    Fault::Status(_, Some(id)) => format!(", last request-id {id}"),
                    _ => String::new(),
                };
                bail!(
                    "{}: Graph kept failing ({what}) after {attempt} attempts over {}s{rid}: try again later",
                    url_path(url),
                    waited.as_secs()
                );
            }
            debug!(source = spec.name, fault = %what, delay_ms = delay.as_millis() as u64, "retrying");
            bar.throttled(delay);
            self.pause(delay).await?;
            waited += delay;
        }
    }
}

/// The path and query, for messages (the host is in the provenance).
fn url_path(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// Graph's error body: `{"error":{"code","message","innerError":{"request-id","date"}}}`.
fn graph_error(
    spec: &SourceSpec,
    status: StatusCode,
    body: &[u8],
    header_request_id: Option<String>,
) -> anyhow::Error {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = value.get("error");
    let field = |k: &str| {
        error
            .and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let code = field("code").unwrap_or_default();
    let message = field("message").unwrap_or_default();
    let inner = error.and_then(|e| e.get("innerError").or_else(|| e.get("innererror")));
    let request_id = inner
        .and_then(|i| i.get("request-id"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or(header_request_id);
    let mut out = format!("Graph answered HTTP {}", status.as_u16());
    if !code.is_empty() {
        out.push_str(&format!(" {code}"));
    }
    if !message.is_empty() {
        out.push_str(&format!(": {}", message.trim_end_matches('.')));
    }
    if let Some(id) = request_id {
        out.push_str(&format!(" (request-id {id})"));
    }
    if code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant" {
        out.push_str(": Entra ID P1 or P2 is needed for this data; license the tenant, or import an export instead");
    } else if status == StatusCode::FORBIDDEN {
        out.push_str(&format!(
            ": grant the application permission {} and admin consent",
            spec.permission
        ));
    } else if status == StatusCode::UNAUTHORIZED {
        out.push_str(": the token was refused twice; check the app registration and the tenant id");
    }
    anyhow!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn tokens_go_over_https_or_to_loopback_only() {
        for ok in [
            "https://graph.microsoft.com",
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://[::1]:3000",
            "http://localhost:1",
            "http://LOCALHOST",
        ] {
            assert!(check_token_url(&url(ok), "x").is_ok(), "{ok}");
        }
        for bad in [
            "http://graph.microsoft.com",
            "http://10.0.0.1",
            "http://[::2]",
            "ftp://localhost",
        ] {
            assert!(check_token_url(&url(bad), "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let root = url("https://graph.microsoft.com");
        assert!(same_origin(
            &url("https://GRAPH.microsoft.com:443/v1.0/users?$skiptoken=x"),
            &root
        ));
        assert!(!same_origin(
            &url("http://graph.microsoft.com/v1.0/users"),
            &root
        ));
        assert!(!same_origin(
            &url("https://graph.microsoft.com:8443/v1.0/users"),
            &root
        ));
        assert!(!same_origin(
            &url("https://graph.microsoft.com.evil.example/v1.0"),
            &root
        ));
    }

    #[test]
    fn back_off_doubles_with_jitter_up_to_the_cap() {
        let policy = NetworkPolicy::default();
        for attempt in 1..=12 {
            let full = (policy.base_delay * 2u32.pow(attempt - 1)).min(policy.max_delay);
            let d = backoff_delay(&policy, attempt);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
