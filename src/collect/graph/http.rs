//! One Graph GET at a time, done right: the token only to the Graph host, throttling and faults
//! retried with the waits Graph asks for (the policy in `retry.rs`), errors turned into messages
//! that say what to do, and a [`RequestRecord`] for every attempt. Also the proxy variables and
//! the host name resolver.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use chrono::{SecondsFormat, Utc};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use tracing::{debug, warn};

use super::auth::TokenSource;
use super::progress::SourceBar;
use super::retry::{
    Attempt, NetworkPolicy, Unresolvable, advice, is_transient, retry, retry_after,
    transport_error, unresolvable,
};
use crate::loopback::is_loopback;
use crate::snapshot::RequestRecord;
use crate::source::Source;

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

/// The proxy settings of the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`,
/// upper case first, as reqwest reads them), applied so that a request to a loopback address never
/// goes through a proxy: a token sent over plain http to a local fake or tunnel must not travel on
/// to a proxy on another host. Every other host honours the variables.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProxyEnv {
    http: Option<Url>,
    https: Option<Url>,
    no_proxy: Option<String>,
}

impl ProxyEnv {
    pub(crate) fn from_process_env() -> Result<ProxyEnv> {
        ProxyEnv::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `var`. A value that is not a URL is an error naming the
    /// variable (never the value, which may hold the proxy's password).
    pub(crate) fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<ProxyEnv> {
        // Behind CGI, HTTP_PROXY can be set by a request header ("httpoxy"): reqwest then ignores
        // every proxy variable, and so do we.
        if var("REQUEST_METHOD").is_some() {
            return Ok(ProxyEnv::default());
        }
        let read = |upper: &str, lower: &str| -> Result<Option<Url>> {
            let (name, value) = match var(upper) {
                Some(v) => (upper, v),
                None => match var(lower) {
                    Some(v) => (lower, v),
                    None => return Ok(None),
                },
            };
            let value = value.trim();
            if value.is_empty() {
                return Ok(None);
            }
            let with_scheme = if value.contains("://") {
                value.to_string()
            } else {
                format!("http://{value}")
            };
            match Url::parse(&with_scheme) {
                Ok(url) if url.host_str().is_some() => Ok(Some(url)),
                _ => {
                    bail!("{name} is set but is not a proxy URL such as http://proxy.example:3128")
                }
            }
        };
        let all = read("ALL_PROXY", "all_proxy")?;
        Ok(ProxyEnv {
            http: read("HTTP_PROXY", "http_proxy")?.or_else(|| all.clone()),
            https: read("HTTPS_PROXY", "https_proxy")?.or(all),
            no_proxy: var("NO_PROXY").or_else(|| var("no_proxy")),
        })
    }

    /// The proxy a request to `url` goes through, before NO_PROXY: none for a loopback address.
    pub(crate) fn target(&self, url: &Url) -> Option<Url> {
        if is_loopback(url) {
            return None;
        }
        match url.scheme() {
            "https" => self.https.clone(),
            "http" => self.http.clone(),
            _ => None,
        }
    }

    /// The proxy for the HTTP client, or None when no variable is set.
    pub(crate) fn into_proxy(self) -> Option<reqwest::Proxy> {
        if self.http.is_none() && self.https.is_none() {
            return None;
        }
        let no_proxy = self
            .no_proxy
            .as_deref()
            .and_then(reqwest::NoProxy::from_string);
        Some(reqwest::Proxy::custom(move |url| self.target(url)).no_proxy(no_proxy))
    }
}

/// The system resolver (getaddrinfo, run off the async threads, as reqwest's own default does),
/// with its failure typed as [`Unresolvable`] so the retry policy can tell a host that does not
/// resolve from a dropped connection. Names under `.invalid` never resolve (RFC 6761) and are
/// answered at once without asking. IP addresses never reach a resolver.
pub(crate) struct Resolver;

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let unresolvable = |reason: String| -> Box<dyn std::error::Error + Send + Sync> {
                Box::new(Unresolvable {
                    host: host.clone(),
                    reason,
                })
            };
            let tld = host.trim_end_matches('.').rsplit('.').next().unwrap_or("");
            if tld.eq_ignore_ascii_case("invalid") {
                return Err(unresolvable("a name under .invalid never resolves".into()));
            }
            let lookup = host.clone();
            let found = tokio::task::spawn_blocking(move || {
                use std::net::ToSocketAddrs;
                (lookup.as_str(), 0).to_socket_addrs().map(Vec::from_iter)
            })
            .await
            .map_err(|e| unresolvable(format!("the lookup stopped: {e}")))?;
            match found {
                Ok(addrs) if !addrs.is_empty() => {
                    Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
                }
                Ok(_) => Err(unresolvable("no address".into())),
                Err(e) => Err(unresolvable(e.to_string())),
            }
        })
    }
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
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
    /// The status, Graph's error code from the body (when it has one) and the request-id.
    Status(StatusCode, Option<String>, Option<String>),
    Transport(String),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status(s, Some(code), _) => write!(f, "HTTP {} {code}", s.as_u16()),
            Fault::Status(s, None, _) => write!(f, "HTTP {}", s.as_u16()),
            Fault::Transport(kind) => f.write_str(kind),
        }
    }
}

/// Graph's error code in an error body, if it is one.
fn error_code(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let code = value.get("error")?.get("code")?.as_str()?;
    (!code.is_empty()).then(|| code.to_string())
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

    /// GETs `url` of `source`, retrying throttling and transient faults. Every attempt is appended
    /// to `requests`; on success the body is returned and the last record is the one that succeeded.
    pub(crate) async fn get(
        &self,
        source: Source,
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
        let mut renewed_after_401 = false;
        retry(
            &self.policy,
            async || {
                self.attempt(source, url, requests, &mut renewed_after_401)
                    .await
            },
            async |fault, delay, failed| {
                warn!(
                    "{}: attempt {failed} failed ({fault}); retrying in {:.1} s (attempt {} of at most {})",
                    url_path(url),
                    delay.as_secs_f64(),
                    failed + 1,
                    self.policy.max_retries + 1
                );
                bar.throttled(delay);
                self.pause(delay).await
            },
            |gave_up| {
                let (rid, what_to_do) = match &gave_up.fault {
                    Fault::Status(status, _, id) => (
                        id.as_ref()
                            .map(|id| format!(", last request-id {id}"))
                            .unwrap_or_default(),
                        advice(*status),
                    ),
                    Fault::Transport(_) => (
                        String::new(),
                        "check the network and the proxy settings, then try again",
                    ),
                };
                anyhow!(
                    "{}: Graph kept failing ({}) {}{rid}: {what_to_do}",
                    url_path(url),
                    gave_up.fault,
                    gave_up.bound_text(&self.policy)
                )
            },
        )
        .await
    }

    /// One attempt, recorded in `requests`. A 401 renews the token and repeats the request once
    /// per GET, within the same attempt: the token may have expired or been revoked between our
    /// check and Graph's.
    async fn attempt(
        &self,
        source: Source,
        url: &Url,
        requests: &mut Vec<RequestRecord>,
        renewed_after_401: &mut bool,
    ) -> Result<Attempt<Vec<u8>, Fault>> {
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
            if source.info().consistency_eventual {
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
                Err(e) => {
                    if let Some(final_error) = unresolvable(
                        &e,
                        url,
                        "the Graph endpoint ([tenant] cloud or graph_endpoint)",
                    ) {
                        return Err(final_error);
                    }
                    (StatusCode::OK, None, Err(transport_error(&e)), None)
                }
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
                source = source.stem(),
                url = %url,
                status = if complete { status.as_u16() } else { 0 },
                request_id = request_id.as_deref().unwrap_or(""),
                duration_ms,
                "graph request"
            );
            return Ok(match body {
                Err(kind) => Attempt::Retry {
                    fault: Fault::Transport(kind),
                    retry_after: None,
                },
                Ok(body) if status.is_success() => Attempt::Done(Vec::from(body)),
                Ok(body) if is_transient(status) => Attempt::Retry {
                    fault: Fault::Status(status, error_code(&body), request_id),
                    retry_after: wait_hint,
                },
                Ok(_) if status == StatusCode::UNAUTHORIZED && !*renewed_after_401 => {
                    *renewed_after_401 = true;
                    self.tokens.renew_after_401(&token).await?;
                    continue;
                }
                Ok(body) => return Err(graph_error(source, status, &body, request_id)),
            });
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
    source: Source,
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
            source.permission()
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
    fn loopback_never_goes_through_a_proxy_and_other_hosts_do() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            ProxyEnv::from_lookup(|name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
        };
        let proxies = env(&[
            ("HTTPS_PROXY", "http://user:pw@proxy.corp:3128"),
            ("http_proxy", "proxy.corp:8080"),
        ])
        .unwrap();
        for local in [
            "http://127.0.0.1:8080/v1.0/users",
            "https://127.0.0.1",
            "http://[::1]:3000",
            "http://localhost:1",
        ] {
            assert_eq!(proxies.target(&url(local)), None, "{local}");
        }
        assert_eq!(
            proxies
                .target(&url("https://graph.microsoft.com/v1.0/users"))
                .map(|u| u.host_str().unwrap().to_string()),
            Some("proxy.corp".to_string())
        );
        assert_eq!(
            proxies
                .target(&url("http://10.0.0.1/"))
                .map(|u| u.port().unwrap()),
            Some(8080)
        );
        // ALL_PROXY fills in; CGI turns every variable off, as in reqwest.
        let all = env(&[("ALL_PROXY", "http://all.corp:1")]).unwrap();
        assert!(
            all.target(&url("https://login.microsoftonline.com"))
                .is_some()
        );
        assert!(all.target(&url("https://localhost")).is_none());
        let cgi = env(&[("REQUEST_METHOD", "GET"), ("HTTPS_PROXY", "http://p:1")]).unwrap();
        assert_eq!(cgi, ProxyEnv::default());
        assert!(env(&[]).unwrap().into_proxy().is_none());
        let err = env(&[("HTTPS_PROXY", "http://user:hunter2@")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("HTTPS_PROXY") && !err.contains("hunter2"),
            "{err}"
        );
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
}
