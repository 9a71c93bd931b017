//! Reading one source: the paging loop that writes every page to disk as it arrives, byte for
//! byte, and the source's record. Where a source is read from and how it pages is the table in
//! [`crate::source`].

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::Url;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::http::Graph;
use super::progress::SourceBar;
use crate::snapshot::SourceRecord;
use crate::source::{Paging, Source, SourceStatus};

/// A collection page, reduced to what paging needs; the items are counted, not kept.
#[derive(Deserialize)]
struct Page {
    value: Option<Vec<IgnoredAny>>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// A record for a source that was not asked for.
pub(crate) fn not_configured(source: Source) -> SourceRecord {
    SourceRecord {
        name: source,
        endpoint: Some(source.endpoint()),
        required: source.required(),
        status: SourceStatus::NotConfigured,
        error: None,
        pages: 0,
        items: 0,
        requests: Vec::new(),
        files: None,
        export: None,
    }
}

/// Reads every page of a source into `dest/<source>-NNNN.json`, starting at `first`, at most one
/// request per `min_interval`. Never fails: a failure is the record's status `missing` with its
/// error, and the caller decides what that means.
pub(crate) async fn collect_source(
    graph: &Graph,
    source: Source,
    min_interval: Duration,
    first: Url,
    dest: &Path,
    bar: &SourceBar,
) -> SourceRecord {
    let mut record = SourceRecord {
        name: source,
        endpoint: Some(relative(&first)),
        required: source.required(),
        status: SourceStatus::Collected,
        error: None,
        pages: 0,
        items: 0,
        requests: Vec::new(),
        files: None,
        export: None,
    };
    match page_through(graph, source, min_interval, first, dest, bar, &mut record).await {
        Ok(()) => bar.finish(&format!("{} pages, {} items", record.pages, record.items)),
        Err(e) => {
            record.status = SourceStatus::Missing;
            record.error = Some(format!("{e:#}"));
            bar.finish("failed");
        }
    }
    record
}

async fn page_through(
    graph: &Graph,
    source: Source,
    min_interval: Duration,
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
            tokio::time::sleep_until(last + min_interval).await;
        }
        last_start = Some(tokio::time::Instant::now());
        let body = graph.get(source, &url, &mut record.requests, bar).await?;
        let page_no = record.pages + 1;
        let (items, next) = if source.info().paging == Paging::SingleObject {
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
        let file = format!("{source}-{page_no:04}.json");
        let path = dest.join(&file);
        super::write_private(&path, &body)
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

/// Path and query of a Graph URL, as in [`Source::endpoint`].
pub(crate) fn relative(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}
