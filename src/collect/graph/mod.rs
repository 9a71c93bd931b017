//! Live collection from Microsoft Graph.
//!
//! [`collect`] reads every source of a snapshot into a folder in the import layout, one file per
//! page exactly as Graph returned it (`users-0001.json`, ...), plus `provenance.json` (a
//! [`CollectionRecord`]). The store then imports that folder like any offline export, so live and
//! offline snapshots go through the same parser.
//!
//! Invariants: a token is only sent over https or to a loopback address, and only to the Graph
//! host (every `@odata.nextLink` is checked); secrets never reach a log, an error or a file;
//! pages go to disk as they arrive, so memory stays flat whatever the tenant's size.

mod auth;
mod http;
mod progress;
mod retry;
mod sources;

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use reqwest::Url;
use tracing::debug;

pub use auth::AuthEnv;
pub use retry::NetworkPolicy;

use self::auth::{Credential, TokenSource, token_roles};
use self::http::{Graph, ProxyEnv, Resolver, check_token_url};
use self::progress::{Progress, SourceBar};
use self::sources::{collect_source, not_configured};
use super::import::PROVENANCE_FILE;
use crate::config::Config;
use crate::snapshot::{CollectionRecord, SourceRecord};
use crate::source::{Pacing, Source, SourceKind, SourceStatus};

/// How a collection runs.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// Sign in interactively with the device code flow instead of client credentials.
    pub device_code: bool,
    /// Audit events since (previous snapshot's time minus one day); None = last 30 days.
    pub audit_since: Option<DateTime<Utc>>,
    /// The run's time, for the default audit window.
    pub now: DateTime<Utc>,
    /// Show progress at a terminal (only when stderr is one).
    pub progress: bool,
    /// Retries, back-off and timeouts; the defaults follow Microsoft's guidance.
    pub network: NetworkPolicy,
}

impl CollectOptions {
    /// Client credentials, the last 30 days of audit events, progress at a terminal.
    pub fn new(now: DateTime<Utc>) -> CollectOptions {
        CollectOptions {
            device_code: false,
            audit_since: None,
            now,
            progress: true,
            network: NetworkPolicy::default(),
        }
    }
}

/// Collects every source into `dest` (an empty folder) in the import layout and writes
/// `dest/provenance.json` (a serialised CollectionRecord with source_kind "graph"). Returns the
/// record. A failing required source returns Err (the caller discards `dest`); a failing optional
/// source is recorded with status "missing" and its error.
pub async fn collect(
    config: &Config,
    env: &AuthEnv,
    options: &CollectOptions,
    dest: &Path,
) -> Result<CollectionRecord> {
    let (login_default, graph_default) = config.tenant.cloud.endpoints();
    let login_text = config
        .tenant
        .login_endpoint
        .clone()
        .or_else(|| env.authority_host.clone())
        .unwrap_or_else(|| login_default.to_string());
    let graph_text = config
        .tenant
        .graph_endpoint
        .clone()
        .unwrap_or_else(|| graph_default.to_string());
    let login_root = root_url(
        &login_text,
        "the login endpoint (tenant.login_endpoint or AZURE_AUTHORITY_HOST)",
    )?;
    let graph_root = root_url(&graph_text, "the Graph endpoint (tenant.graph_endpoint)")?;
    check_token_url(&login_root, "the login endpoint")?;
    check_token_url(&graph_root, "the Graph endpoint")?;

    let tenant = config
        .tenant
        .id
        .clone()
        .or_else(|| env.tenant_id.clone())
        .context("no tenant id: set [tenant] id in the config or AZURE_TENANT_ID")?;
    if tenant.is_empty()
        || !tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        bail!(
            "the tenant id {tenant:?} is not a tenant GUID or domain name: check [tenant] id or AZURE_TENANT_ID"
        );
    }
    let client_id = config
        .tenant
        .client_id
        .clone()
        .or_else(|| env.client_id.clone())
        .context("no client id: set [auth] client_id in the config or AZURE_CLIENT_ID")?;
    let credential = Credential::from_env(env, options.device_code)?;

    check_empty_dir(dest)?;

    // HTTPS_PROXY and the like are honoured, except for a loopback address: a token sent over
    // plain http to a local endpoint must never travel on to a proxy on another host. reqwest's
    // own reading of the variables is replaced by ours, which adds that rule per request.
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(30))
        .user_agent(concat!("mfa-evidence/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(std::sync::Arc::new(Resolver))
        .no_proxy();
    if let Some(proxy) = ProxyEnv::from_process_env()?.into_proxy() {
        builder = builder.proxy(proxy);
    }
    let client = builder.build().context("cannot set up the HTTP client")?;
    // The `.default` scope names the cloud's Graph resource, whatever host requests go to: an
    // overridden graph_endpoint (a proxy, a test server) is not a resource Entra knows.
    let tokens = TokenSource::new(
        client.clone(),
        &login_root,
        &tenant,
        &client_id,
        graph_default,
        credential,
        options.network.clone(),
    )?;
    let graph = Graph {
        client,
        root: graph_root.clone(),
        tokens,
        policy: options.network.clone(),
        cancelled: Default::default(),
        cancel_notify: Default::default(),
    };

    let first = graph
        .tokens
        .token()
        .await
        .context("cannot get a token for Microsoft Graph")?;
    let token_roles = token_roles(&first.value);
    drop(first);
    debug!(roles = ?token_roles, "token permissions");

    let base = graph_root.as_str().trim_end_matches('/').to_string();
    let since = options
        .audit_since
        .unwrap_or(options.now - chrono::Duration::days(30))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let group = config
        .control
        .break_glass
        .group_id
        .as_deref()
        .map(percent_encode_segment);
    let first_url = |source: Source| -> Result<Url> {
        let path = source.first_request(group.as_deref().unwrap_or_default(), &since);
        Url::parse(&format!("{base}{path}"))
            .with_context(|| format!("cannot build the URL {base}{path}"))
    };
    let progress = Progress::new(options.progress && std::io::stderr().is_terminal());
    // One progress line per source read, in display order, whatever order they start in.
    // Break-glass members are read only when the config names the group.
    let mut planned: Vec<(Source, Url, SourceBar)> = Vec::with_capacity(Source::ALL.len());
    for source in Source::ALL {
        if source != Source::BreakGlass || group.is_some() {
            planned.push((source, first_url(source)?, progress.bar(source.stem())));
        }
    }
    let run = |source: Source| {
        let graph = &graph;
        let planned = planned.iter().find(|(s, _, _)| *s == source);
        let min_interval = match source.info().pacing {
            Pacing::Free => Duration::ZERO,
            Pacing::OnePerSecond => options.network.conditional_access_interval,
        };
        async move {
            let Some((_, url, bar)) = planned else {
                return not_configured(source);
            };
            let record = collect_source(graph, source, min_interval, url.clone(), dest, bar).await;
            if record.required && record.status != SourceStatus::Collected {
                graph.cancel();
            }
            record
        }
    };

    // Directory reads, the policies and the reports draw on separate throttling budgets, so they
    // run side by side; the registration report and the audit log share the reports budget
    // (about 5 requests per 10 s), so they run one after the other.
    let reports = async {
        let reg = run(Source::Registration).await;
        let audits = run(Source::Audits).await;
        (reg, audits)
    };
    let (org, users, bg, policy, ca, (reg, audits)) = tokio::join!(
        run(Source::Organization),
        run(Source::Users),
        run(Source::BreakGlass),
        run(Source::AuthMethodsPolicy),
        run(Source::ConditionalAccess),
        reports,
    );
    // In display order.
    let sources: Vec<SourceRecord> = vec![org, users, reg, bg, audits, policy, ca];

    // Report the required source that failed first-hand, not one stopped because of it.
    let failed = sources
        .iter()
        .filter(|s| s.required && s.status != SourceStatus::Collected)
        .min_by_key(|s| s.error.as_deref().is_some_and(|e| e.starts_with("stopped")));
    if let Some(s) = failed {
        bail!(
            "cannot collect {}: {}",
            s.name,
            s.error.as_deref().unwrap_or("unknown error")
        );
    }

    let record = CollectionRecord {
        source_kind: SourceKind::Graph,
        collected_by: Some(concat!("mfa-evidence ", env!("CARGO_PKG_VERSION")).into()),
        graph_endpoint: Some(graph_root.as_str().trim_end_matches('/').to_string()),
        token_roles,
        sources,
    };
    let path = dest.join(PROVENANCE_FILE);
    let mut json = serde_json::to_vec_pretty(&record).context("cannot serialise the provenance")?;
    json.push(b'\n');
    write_private(&path, &json)
        .await
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(record)
}

fn root_url(text: &str, what: &str) -> Result<Url> {
    let trimmed = text.trim().trim_end_matches('/');
    let url = Url::parse(trimmed).with_context(|| format!("{what} {trimmed:?} is not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        // Shown without the user information, which may hold a password.
        bail!(
            "{what} {} carries a user name or password (user:pass@host): remove it; credentials come only from AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH",
            url.origin().ascii_serialization()
        );
    }
    let path = url.path().trim_end_matches('/');
    if url.query().is_some()
        || url.fragment().is_some()
        || url.host_str().is_none()
        || path.ends_with("/v1.0")
        || path.ends_with("/beta")
        || path.ends_with("/oauth2/v2.0/token")
    {
        bail!(
            "{what} {trimmed:?} must be a root such as https://graph.microsoft.com or https://login.microsoftonline.com, without a version or tenant path"
        );
    }
    Ok(url)
}

fn check_empty_dir(dest: &Path) -> Result<()> {
    let mut entries = std::fs::read_dir(dest)
        .with_context(|| format!("cannot open the collection folder {}", dest.display()))?;
    if entries.next().is_some() {
        bail!(
            "the collection folder {} is not empty: collect into a new folder",
            dest.display()
        );
    }
    Ok(())
}

/// Group ids are GUIDs; anything else is encoded so it cannot change the path.
fn percent_encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Writes a whole file owner-only (0600 on unix): pages hold personal data.
pub(crate) async fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    file.write_all(bytes).await?;
    file.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_roots_with_user_information_are_refused() {
        for bad in [
            "https://user:hunter2@graph.microsoft.com",
            "https://user@login.microsoftonline.com/",
            "http://:hunter2@127.0.0.1:8080",
        ] {
            let err = root_url(bad, "the Graph endpoint").unwrap_err().to_string();
            assert!(err.contains("carries a user name or password"), "{err}");
            assert!(!err.contains("hunter2") && !err.contains("user@"), "{err}");
        }
        for ok in [
            "https://graph.microsoft.com",
            "https://login.microsoftonline.us/",
            "http://127.0.0.1:8080",
        ] {
            assert!(root_url(ok, "x").is_ok(), "{ok}");
        }
        for versioned in [
            "https://graph.microsoft.com/v1.0",
            "https://graph.microsoft.com/beta/",
            "https://login.microsoftonline.com/t/oauth2/v2.0/token",
        ] {
            assert!(root_url(versioned, "x").is_err(), "{versioned}");
        }
    }
}
