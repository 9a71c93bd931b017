//! Offline exports: a folder of Graph response bodies, exactly as Graph returns them, read into a
//! [`Snapshot`]. The live collector writes the same layout, and a stored snapshot's raw/ folder
//! uses it too, so anything stored can be imported again.
//!
//! Layout: `<source>.json`, or `<source>-0001.json`, `<source>-0002.json`, ... for a source of
//! several pages, with the file stems of [`crate::source::Source`], plus an optional
//! `provenance.json` (a [`CollectionRecord`] written by the collector).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Timelike, Utc};
use serde::de::DeserializeOwned;

use super::wire::{
    Page, WireAudit, WireAuthMethodsPolicy, WireConditionalAccessPolicy, WireMember,
    WireOrganization, WireRegistration, WireUser,
};
use crate::snapshot::{self, CollectionRecord, Imported, Snapshot, SourceRecord, Tenant};
use crate::source::{Source, SourceKind, SourceStatus};

/// The collector's record beside the pages.
pub(crate) const PROVENANCE_FILE: &str = "provenance.json";

/// Which source and page a file name stands for.
fn parse_file_name(name: &str) -> Option<(Source, u32)> {
    let stem = name.strip_suffix(".json")?;
    Source::ALL.into_iter().find_map(|source| {
        if stem == source.stem() {
            return Some((source, 0));
        }
        let page = stem.strip_prefix(source.stem())?.strip_prefix('-')?;
        if page.is_empty() || !page.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        page.parse().ok().map(|n| (source, n))
    })
}

fn page_name(source: Source, page: u32) -> String {
    format!("{source}-{page:04}.json")
}

/// Reads an export folder. `collected_at` is required when the folder does not say when it was
/// collected (no provenance.json with request times).
pub fn import_dir(dir: &Path, collected_at: Option<DateTime<Utc>>) -> Result<Imported> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the export folder {}: check the path given to --dir",
            dir.display()
        )
    })?;
    let mut pages: BTreeMap<Source, Vec<(u32, PathBuf)>> = BTreeMap::new();
    let mut provenance_path = None;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        if name == PROVENANCE_FILE {
            provenance_path = Some(entry.path());
            continue;
        }
        match parse_file_name(&name) {
            Some((source, page)) => pages.entry(source).or_default().push((page, entry.path())),
            None if name.ends_with(".json") => bail!(
                "{}: unexpected file name {name:?}: name Graph pages after their source ({}), e.g. users.json or users-0001.json",
                dir.display(),
                Source::ALL.map(Source::stem).join(", ")
            ),
            None => tracing::warn!("ignoring {name} in {}: not a Graph page", dir.display()),
        }
    }
    for (source, list) in pages.iter_mut() {
        list.sort();
        if list.len() > 1 && list[0].0 == 0 {
            bail!(
                "{}: both {source}.json and numbered {source}-NNNN.json pages: keep one layout",
                dir.display()
            );
        }
        // Numbered pages run 1, 2, 3, ...: a gap is a page lost from the export, which the
        // nextLink check cannot see when a later page ends the source.
        if list[0].0 != 0
            && let Some((i, _)) = list
                .iter()
                .enumerate()
                .find(|(i, (page, _))| *page != *i as u32 + 1)
        {
            bail!(
                "{}: {} is missing (the pages go on to {}): the export is incomplete; export every page",
                dir.display(),
                page_name(*source, i as u32 + 1),
                list.last()
                    .map(|(p, _)| page_name(*source, *p))
                    .unwrap_or_default()
            );
        }
    }
    // Every missing required source at once, so one re-export fixes them all.
    let missing: Vec<String> = Source::ALL
        .into_iter()
        .filter(|s| s.required() && !pages.contains_key(s))
        .map(|s| format!("{s} ({s}.json or {s}-0001.json, from {})", s.endpoint()))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}: required data missing: {}: export each from Graph into this folder",
            dir.display(),
            missing.join("; ")
        );
    }

    let provenance: Option<CollectionRecord> = match &provenance_path {
        Some(path) => Some(read_json(path)?),
        None => None,
    };

    let org: Vec<WireOrganization> = read_pages(dir, &pages, Source::Organization)?;
    let org = org.into_iter().next().with_context(|| {
        format!(
            "{}: the organization page lists no organization: re-export {}",
            dir.display(),
            Source::Organization.endpoint()
        )
    })?;
    let users = read_pages::<WireUser>(dir, &pages, Source::Users)?;
    let mut users: Vec<snapshot::User> = users.into_iter().map(Into::into).collect();
    users.sort_by(|a, b| a.id.cmp(&b.id));
    users.dedup_by(|a, b| a.id == b.id);
    let registrations = read_pages::<WireRegistration>(dir, &pages, Source::Registration)?;
    let mut registrations: Vec<snapshot::Registration> =
        registrations.into_iter().map(Into::into).collect();
    registrations.sort_by(|a, b| a.id.cmp(&b.id));
    registrations.dedup_by(|a, b| a.id == b.id);

    let break_glass_members =
        optional_pages::<WireMember>(dir, &pages, Source::BreakGlass)?.map(|list| {
            let mut list: Vec<snapshot::GroupMember> = list.into_iter().map(Into::into).collect();
            list.sort_by(|a, b| a.id.cmp(&b.id));
            list.dedup_by(|a, b| a.id == b.id);
            list
        });
    let audit_events = optional_pages::<WireAudit>(dir, &pages, Source::Audits)?.map(|list| {
        let mut list: Vec<snapshot::AuditEvent> = list.into_iter().map(Into::into).collect();
        list.sort_by(|a, b| {
            (a.activity_date_time.as_str(), &a.id).cmp(&(b.activity_date_time.as_str(), &b.id))
        });
        list.dedup_by(|a, b| a.id == b.id);
        list
    });
    let auth_methods_policy = match pages.get(&Source::AuthMethodsPolicy) {
        Some(list) => {
            let policy: WireAuthMethodsPolicy = read_json(&list[0].1)?;
            Some(policy.into())
        }
        None => None,
    };
    let conditional_access =
        optional_pages::<WireConditionalAccessPolicy>(dir, &pages, Source::ConditionalAccess)?.map(
            |list| {
                let mut list: Vec<snapshot::ConditionalAccessPolicy> =
                    list.into_iter().map(Into::into).collect();
                list.sort_by(|a, b| a.id.cmp(&b.id));
                list
            },
        );

    // Items per source present, duplicates across pages dropped; one object counts one.
    let items: BTreeMap<Source, u64> = [
        (Source::Organization, Some(1)),
        (Source::Users, Some(users.len())),
        (Source::Registration, Some(registrations.len())),
        (
            Source::BreakGlass,
            break_glass_members.as_ref().map(Vec::len),
        ),
        (Source::Audits, audit_events.as_ref().map(Vec::len)),
        (
            Source::AuthMethodsPolicy,
            auth_methods_policy.as_ref().map(|_| 1),
        ),
        (
            Source::ConditionalAccess,
            conditional_access.as_ref().map(Vec::len),
        ),
    ]
    .into_iter()
    .filter_map(|(source, n)| Some((source, n? as u64)))
    .collect();
    let collection = match provenance {
        Some(record) => {
            check_provenance(dir, &record, &items)?;
            record
        }
        None => record_from_files(&pages, &items),
    };

    let collected_at = match collected_at {
        Some(t) => t,
        None => latest_request_time(&collection).with_context(|| {
            format!(
                "{}: the files do not say when they were collected: pass --collected-at (RFC 3339, e.g. 2026-11-25T06:00:00Z)",
                dir.display()
            )
        })?,
    };

    let mut files: Vec<PathBuf> = pages.values().flatten().map(|(_, p)| p.clone()).collect();
    files.extend(provenance_path);
    files.sort();

    Ok(Imported {
        snapshot: Snapshot {
            schema_version: snapshot::SNAPSHOT_SCHEMA_VERSION,
            tenant: Tenant {
                id: org.id,
                name: org.display_name,
            },
            // Whole seconds, as the ledger and the package write it.
            collected_at: collected_at.with_nanosecond(0).unwrap_or(collected_at),
            collection,
            users,
            registrations,
            break_glass_members,
            audit_events,
            auth_methods_policy,
            conditional_access,
        },
        files,
    })
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a valid Graph response body: re-export it from Graph unchanged",
            path.display()
        )
    })
}

/// Reads every page of a source, in order.
fn read_pages<T: DeserializeOwned>(
    dir: &Path,
    pages: &BTreeMap<Source, Vec<(u32, PathBuf)>>,
    source: Source,
) -> Result<Vec<T>> {
    let list = &pages[&source];
    let mut items = Vec::new();
    for (i, (_, path)) in list.iter().enumerate() {
        let page: Page<T> = read_json(path)?;
        items.extend(page.value);
        // A page that promises more with no page after it is a half-collected source.
        if page.next_link.is_some() && i + 1 == list.len() {
            bail!(
                "{}: {} has @odata.nextLink but no later {source} page follows: the export is incomplete; export every page",
                dir.display(),
                path.file_name().unwrap_or_default().to_string_lossy()
            );
        }
    }
    Ok(items)
}

fn optional_pages<T: DeserializeOwned>(
    dir: &Path,
    pages: &BTreeMap<Source, Vec<(u32, PathBuf)>>,
    source: Source,
) -> Result<Option<Vec<T>>> {
    if pages.contains_key(&source) {
        read_pages(dir, pages, source).map(Some)
    } else {
        Ok(None)
    }
}

/// A collector's record must agree with the files beside it.
fn check_provenance(
    dir: &Path,
    record: &CollectionRecord,
    items: &BTreeMap<Source, u64>,
) -> Result<()> {
    for source in Source::ALL {
        let entry = record.sources.iter().find(|s| s.name == source);
        if source.required() && entry.is_none_or(|s| s.status != SourceStatus::Collected) {
            bail!(
                "{}: provenance.json does not record {source} as collected: this collection is incomplete and cannot be stored",
                dir.display()
            );
        }
    }
    // The population's sources. Duplicates across pages are dropped, so only more items than
    // recorded is wrong.
    for source in [Source::Users, Source::Registration] {
        if let Some(entry) = record.sources.iter().find(|s| s.name == source)
            && let Some(&items) = items.get(&source)
            && items > entry.items
        {
            bail!(
                "{}: provenance.json records {} {source} items but the pages hold {items}: the folder was changed after collection",
                dir.display(),
                entry.items
            );
        }
    }
    Ok(())
}

/// The record of a folder without provenance.json: what the files hold.
fn record_from_files(
    pages: &BTreeMap<Source, Vec<(u32, PathBuf)>>,
    items: &BTreeMap<Source, u64>,
) -> CollectionRecord {
    let sources = Source::ALL
        .into_iter()
        .map(|source| {
            let page_count = pages.get(&source).map_or(0, |l| l.len() as u64);
            SourceRecord {
                name: source,
                endpoint: source.endpoint(),
                required: source.required(),
                status: if page_count > 0 {
                    SourceStatus::Collected
                } else {
                    SourceStatus::Missing
                },
                error: (page_count == 0).then(|| "not present in the export folder".to_string()),
                pages: page_count,
                items: items.get(&source).copied().unwrap_or(0),
                requests: Vec::new(),
            }
        })
        .collect();
    CollectionRecord {
        source_kind: SourceKind::Import,
        collected_by: crate::tool_id(),
        graph_endpoint: None,
        token_roles: Vec::new(),
        sources,
    }
}

fn latest_request_time(record: &CollectionRecord) -> Option<DateTime<Utc>> {
    record
        .sources
        .iter()
        .flat_map(|s| &s.requests)
        .filter_map(|r| DateTime::parse_from_rfc3339(&r.time).ok())
        .map(|t| t.with_timezone(&Utc))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(parse_file_name("users.json"), Some((Source::Users, 0)));
        assert_eq!(parse_file_name("users-0002.json"), Some((Source::Users, 2)));
        assert_eq!(
            parse_file_name("userRegistrationDetails-0001.json"),
            Some((Source::Registration, 1))
        );
        assert_eq!(parse_file_name("user.json"), None);
        assert_eq!(parse_file_name("users-x.json"), None);
    }
}
