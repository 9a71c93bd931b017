//! The seven sources: where each is read from, what permission it needs, and the paging loop that
//! writes every page to disk as it arrives, byte for byte.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::Url;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::http::Graph;
use super::progress::SourceBar;
use crate::snapshot::{self, SourceRecord};

/// How to read one source.
pub(crate) struct SourceSpec {
    pub(crate) name: &'static str,
    pub(crate) required: bool,
    /// What a 403 asks the admin to grant.
    pub(crate) permission: &'static str,
    /// Advanced queries (`$count`, casts) need `ConsistencyLevel: eventual`.
    pub(crate) consistency_eventual: bool,
    /// The answer is one object, not a collection page.
    pub(crate) single_object: bool,
    /// Least time between two requests of this source (conditional access: 1 request/s).
    pub(crate) min_interval: Duration,
}

pub(crate) fn spec(name: &'static str) -> SourceSpec {
    let required = snapshot::SOURCES
        .iter()
        .any(|(n, required)| *n == name && *required);
    let permission = match name {
        snapshot::SOURCE_ORGANIZATION => "Organization.Read.All (or Directory.Read.All)",
        snapshot::SOURCE_USERS => "User.Read.All",
        snapshot::SOURCE_REGISTRATION => "AuditLog.Read.All",
        snapshot::SOURCE_BREAK_GLASS => "GroupMember.Read.All",
        snapshot::SOURCE_AUDITS => "AuditLog.Read.All and Directory.Read.All",
        snapshot::SOURCE_AUTH_METHODS_POLICY => {
            "Policy.Read.AuthenticationMethod (or Policy.Read.All)"
        }
        snapshot::SOURCE_CONDITIONAL_ACCESS => "Policy.Read.All",
        _ => "the permission this endpoint documents",
    };
    SourceSpec {
        name,
        required,
        permission,
        consistency_eventual: name == snapshot::SOURCE_BREAK_GLASS,
        single_object: name == snapshot::SOURCE_AUTH_METHODS_POLICY,
        min_interval: Duration::ZERO,
    }
}

/// A collection page, reduced to what paging needs; the items are counted, not kept.
#[derive(Deserialize)]
struct Page {
    value: Option<Vec<IgnoredAny>>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// A record for a source that was not asked for.
pub(crate) fn not_configured(spec: &SourceSpec, endpoint: &str) -> SourceRecord {
    SourceRecord {
        name: spec.name.to_string(),
        endpoint: endpoint.to_string(),
        required: spec.required,
        status: "not-configured".into(),
        error: None,
        pages: 0,
        items: 0,
        requests: Vec::new(),
    }
}

/// Reads every page of a source into `dest/<source>-NNNN.json`. Never fails: a failure is the
/// record's status `missing` with its error, and the caller decides what that means.
pub(crate) async fn collect_source(
    graph: &Graph,
    spec: &SourceSpec,
    first: Url,
    dest: &Path,
    bar: &SourceBar,
) -> SourceRecord {
    let mut record = SourceRecord {
        name: spec.name.to_string(),
        endpoint: relative(&first),
        required: spec.required,
        status: "collected".into(),
        error: None,
        pages: 0,
        items: 0,
        requests: Vec::new(),
    };
    match page_through(graph, spec, first, dest, bar, &mut record).await {
        Ok(()) => bar.finish(&format!("{} pages, {} items", record.pages, record.items)),
        Err(e) => {
            record.status = "missing".into();
            record.error = Some(format!("{e:#}"));
            bar.finish("failed");
        }
    }
    record
}

async fn page_through(
    graph: &Graph,
    spec: &SourceSpec,
    first: Url,
    dest: &Path,
    bar: &SourceBar,
    record: &mut SourceRecord,
) -> Result<()> {
    let mut seen = HashSet::new();
    let mut url = first;
    let mut last_start: Option<tokio::time::Instant> = None;
    loop {
        if !seen.insert(url.as_str().to_string()) {
            bail!(
                "Graph's @odata.nextLink repeats a link already followed after {} pages ({url}): paging stopped so the data is not counted twice; try again later",
                record.pages
            );
        }
        if let Some(last) = last_start {
            tokio::time::sleep_until(last + spec.min_interval).await;
        }
        last_start = Some(tokio::time::Instant::now());
        let body = graph.get(spec, &url, &mut record.requests, bar).await?;
        let page_no = record.pages + 1;
        let (items, next) = if spec.single_object {
            serde_json::from_slice::<IgnoredAny>(&body)
                .map_err(|e| anyhow!("the answer from {} is not JSON: {e}", relative(&url)))?;
            (1, None)
        } else {
            let page: Page = serde_json::from_slice(&body).map_err(|e| {
                anyhow!(
                    "page {page_no} from {} is not a Graph collection page: {e}",
                    relative(&url)
                )
            })?;
            let value = page.value.with_context(|| {
                format!("page {page_no} from {} has no value array", relative(&url))
            })?;
            (value.len() as u64, page.next_link)
        };
        let file = format!("{}-{page_no:04}.json", spec.name);
        let path = dest.join(&file);
        tokio::fs::write(&path, &body)
            .await
            .with_context(|| format!("cannot write {}", path.display()))?;
        drop(body);
        if let Some(last) = record.requests.last_mut() {
            last.items = items;
            last.file = Some(file);
        }
        record.pages = page_no;
        record.items += items;
        bar.page(items);
        match next {
            Some(link) => {
                url = Url::parse(&link).map_err(|e| {
                    anyhow!("page {page_no} carries an @odata.nextLink that is not a URL ({e})")
                })?;
            }
            None => return Ok(()),
        }
    }
}

/// Path and query of a Graph URL, as in [`snapshot::source_endpoint`].
pub(crate) fn relative(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}
