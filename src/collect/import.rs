//! Offline exports: a folder of Graph response bodies, exactly as Graph returns them, read into a
//! [`Snapshot`]. The live collector writes the same layout, and a stored snapshot's raw/ folder
//! uses it too, so anything stored can be imported again.
//!
//! Layout: `<source>.json`, or `<source>-0001.json`, `<source>-0002.json`, ... for a source of
//! several pages, with the file stems of [`crate::source::Source`], plus an optional
//! `provenance.json` (a [`CollectionRecord`] written by the collector). Without it, the record is
//! what the files show ([`FilesRecord`]), never the collector's requests.
//!
//! Nothing is read as data that is not: a file in a page's place that is not a Graph page, the
//! same id twice with different content, several organizations and empty ids are refused with the
//! file (and item) named. A UTF-8 byte-order mark in front of a file is skipped.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Timelike, Utc};
use serde::Deserialize;
use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;

use super::exports::{self, ExportFile, Rows as ExportRows};
use super::wire::{
    ErrorBody, Page, WireAudit, WireAuthMethodsPolicy, WireConditionalAccessPolicy, WireMember,
    WireOrganization, WireRegistration, WireUser,
};
use crate::snapshot::{
    self, CollectionRecord, ExportRecord, FilesRecord, Imported, Snapshot, SourceRecord, Tenant,
};
use crate::source::{ODataContext, Paging, Source, SourceKind, SourceStatus};
use crate::{cores, order};

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

/// What the operator says about an export folder that its files may not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportOptions {
    /// Required when the folder does not say when it was collected (no provenance.json with
    /// request times).
    pub collected_at: Option<DateTime<Utc>>,
    /// The tenant of exports that name none (the admin center's downloads, PowerShell output):
    /// required when the folder has no organization page, refused when it names another.
    pub tenant_id: Option<String>,
    pub tenant_name: Option<String>,
}

/// Reads an export folder. `collected_at` is required when the folder does not say when it was
/// collected (no provenance.json with request times).
pub fn import_dir(dir: &Path, collected_at: Option<DateTime<Utc>>) -> Result<Imported> {
    import_dir_with(
        dir,
        &ImportOptions {
            collected_at,
            ..ImportOptions::default()
        },
    )
}

/// Reads an export folder of Graph pages, admin center downloads and PowerShell output, each
/// recognised by its content (Graph pages by their names), one kind per source.
pub fn import_dir_with(dir: &Path, options: &ImportOptions) -> Result<Imported> {
    let collected_at = options.collected_at;
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read the export folder {}: check the path given to --dir",
            dir.display()
        )
    })?;
    let mut pages: BTreeMap<Source, Vec<(u32, PathBuf)>> = BTreeMap::new();
    let mut provenance_path = None;
    let mut exported: Vec<ExportFile> = Vec::new();
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
        if let Some((source, page)) = parse_file_name(&name) {
            pages.entry(source).or_default().push((page, entry.path()));
            continue;
        }
        match exports::read_file(&entry.path())? {
            Some(export) => exported.push(export),
            None if name.ends_with(".json") => bail!(
                "{}: unexpected file name {name:?}: name Graph pages after their source ({}), e.g. users.json or users-0001.json (PowerShell output of Get-MgUser or Get-MgReportAuthenticationMethodUserRegistrationDetail saved with ConvertTo-Json is recognised whatever its name)",
                dir.display(),
                Source::ALL.map(Source::stem).join(", ")
            ),
            None => tracing::warn!(
                "ignoring {name} in {}: not a Graph page or an export this tool reads",
                dir.display()
            ),
        }
    }
    if let (Some(path), Some(export)) = (&provenance_path, exported.first()) {
        bail!(
            "{}: {} is a collector's record of Graph pages, and {} is a {} beside it: keep exports in a folder of their own",
            dir.display(),
            path.display(),
            export.name(),
            export.kind
        );
    }
    exported.sort_by(|a, b| a.path.cmp(&b.path));
    let exported = assign_exports(dir, &pages, exported)?;
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
    let operator_tenant = options.tenant_id.is_some()
        && !pages.contains_key(&Source::Organization)
        && !exported.contains_key(&Source::Organization);
    let missing: Vec<String> = Source::ALL
        .into_iter()
        .filter(|s| s.required() && !pages.contains_key(s) && !exported.contains_key(s))
        .filter(|s| !(*s == Source::Organization && operator_tenant))
        .map(|s| match s {
            Source::Organization => format!(
                "{s} ({s}.json from {}, or --tenant-id and --tenant-name for admin center or PowerShell exports, which name no tenant)",
                s.endpoint()
            ),
            Source::Users => format!(
                "{s} ({s}.json or {s}-0001.json from {}, the admin center's Download users CSV, or Get-MgUser output)",
                s.endpoint()
            ),
            Source::Registration => format!(
                "{s} ({s}.json or {s}-0001.json from {}, the admin center's User registration details download, or Get-MgReportAuthenticationMethodUserRegistrationDetail output)",
                s.endpoint()
            ),
            _ => format!("{s} ({s}.json or {s}-0001.json, from {})", s.endpoint()),
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}: required data missing: {}: export each into this folder",
            dir.display(),
            missing.join("; ")
        );
    }

    let provenance: Option<CollectionRecord> = match &provenance_path {
        Some(path) => Some(read_json(path)?),
        None => None,
    };
    // Without a collector's record, the record is what the files show, so they are described.
    let describe = provenance.is_none();
    let mut shown: BTreeMap<Source, FilesRecord> = BTreeMap::new();

    let tenant = if operator_tenant {
        operator_given_tenant(options)?
    } else {
        let tenant = match exported.get(&Source::Organization) {
            Some(export) => export_tenant(dir, export)?,
            None => folder_tenant(dir, &pages, describe, &mut shown)?,
        };
        if let Some(id) = &options.tenant_id
            && !id.trim().eq_ignore_ascii_case(&tenant.id)
        {
            bail!(
                "{}: the folder names tenant {} ({}), not the --tenant-id {id} given: import each tenant's exports into its own folder, or leave --tenant-id out",
                dir.display(),
                tenant.id,
                tenant.name
            );
        }
        if let Some(name) = options.tenant_name.as_deref().map(str::trim)
            && name != tenant.name
        {
            tracing::warn!(
                "--tenant-name {name:?} is not used: the organization page names the tenant {:?}",
                tenant.name
            );
        }
        tenant
    };

    let users = match exported.get(&Source::Users) {
        Some(export) => export_users(export)?,
        None => {
            let users = read_source::<WireUser>(&pages, Source::Users, describe)?;
            shown.extend(users.files.clone().map(|f| (Source::Users, f)));
            unique_by_id(
                Source::Users,
                &pages,
                users.items_as(snapshot::User::from),
                |u| &u.id,
            )?
        }
    };
    let (registrations, matching) = match exported.get(&Source::Registration) {
        Some(export) => export_registrations(export, &users, exported.get(&Source::Users))?,
        None => {
            let registrations =
                read_source::<WireRegistration>(&pages, Source::Registration, describe)?;
            shown.extend(
                registrations
                    .files
                    .clone()
                    .map(|f| (Source::Registration, f)),
            );
            let list = unique_by_id(
                Source::Registration,
                &pages,
                registrations.items_as(snapshot::Registration::from),
                |r| &r.id,
            )?;
            (list, Matching::default())
        }
    };

    let break_glass_members =
        match optional_source::<WireMember>(&pages, Source::BreakGlass, describe)? {
            Some(read) => {
                shown.extend(read.files.clone().map(|f| (Source::BreakGlass, f)));
                Some(unique_by_id(
                    Source::BreakGlass,
                    &pages,
                    read.items_as(snapshot::GroupMember::from),
                    |m| &m.id,
                )?)
            }
            None => None,
        };
    let audit_events = match optional_source::<WireAudit>(&pages, Source::Audits, describe)? {
        Some(read) => {
            shown.extend(read.files.clone().map(|f| (Source::Audits, f)));
            let mut list: Vec<snapshot::AuditEvent> = read
                .items_as(snapshot::AuditEvent::from)
                .map(|(e, _)| e)
                .collect();
            list.sort_by(|a, b| {
                (a.activity_date_time.as_str(), &a.id).cmp(&(b.activity_date_time.as_str(), &b.id))
            });
            list.dedup_by(|a, b| a.id == b.id);
            Some(list)
        }
        None => None,
    };
    let auth_methods_policy = match pages.get(&Source::AuthMethodsPolicy) {
        Some(list) => {
            let (policy, files) = read_object::<WireAuthMethodsPolicy>(
                &list[0].1,
                Source::AuthMethodsPolicy,
                describe,
            )?;
            shown.extend(files.map(|f| (Source::AuthMethodsPolicy, f)));
            Some(policy.into())
        }
        None => None,
    };
    let conditional_access = match optional_source::<WireConditionalAccessPolicy>(
        &pages,
        Source::ConditionalAccess,
        describe,
    )? {
        Some(read) => {
            shown.extend(read.files.clone().map(|f| (Source::ConditionalAccess, f)));
            let mut list: Vec<snapshot::ConditionalAccessPolicy> = read
                .items_as(snapshot::ConditionalAccessPolicy::from)
                .map(|(p, _)| p)
                .collect();
            list.sort_by(|a, b| a.id.cmp(&b.id));
            Some(list)
        }
        None => None,
    };

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
        None => {
            let mut record = record_from_files(&pages, &items, shown);
            record_exports(&mut record, &exported, matching, operator_tenant);
            record
        }
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
    files.extend(exported.values().map(|e| e.path.clone()));
    files.sort();

    Ok(Imported {
        snapshot: Snapshot {
            schema_version: snapshot::SNAPSHOT_SCHEMA_VERSION,
            tenant,
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

/// A file's bytes, without the UTF-8 byte-order mark Windows PowerShell writes in front.
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let mut bytes =
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.starts_with(UTF8_BOM) {
        bytes.drain(..UTF8_BOM.len());
    }
    Ok(bytes)
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = read_bytes(path)?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a valid Graph response body: re-export it from Graph unchanged",
            path.display()
        )
    })
}

/// Where an item was read: its page (an index into the source's page list) and its position in
/// that page's `value`, from 1. Kept for messages that name both places of a conflict.
#[derive(Debug, Clone, Copy)]
struct Place {
    page: u32,
    item: u32,
}

impl Place {
    fn describe(self, list: &[(u32, PathBuf)]) -> String {
        let name = list
            .get(self.page as usize)
            .and_then(|(_, p)| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{name} item {}", self.item)
    }
}

/// Every page of a source, read in order: its items with their places, and, when asked, what
/// the files show.
struct SourceRead<T> {
    items: Vec<(T, Place)>,
    files: Option<FilesRecord>,
}

impl<T> SourceRead<T> {
    /// The items converted, places kept.
    fn items_as<U>(self, f: impl Fn(T) -> U) -> impl Iterator<Item = (U, Place)> {
        self.items.into_iter().map(move |(t, place)| (f(t), place))
    }
}

/// Reads every page of a source, in order. A file that is not a Graph collection page (an error
/// body, `{}`, an object without a `value` array) is refused with what it holds: read as an empty
/// page, it would silently drop users from the population.
fn read_source<T: DeserializeOwned + Send>(
    pages: &BTreeMap<Source, Vec<(u32, PathBuf)>>,
    source: Source,
    describe: bool,
) -> Result<SourceRead<T>> {
    let list = &pages[&source];
    // Pages parse on every core a window at a time (so parsed pages are not all held beside the
    // list they go into); what one page says about the next is checked after, in order.
    let mut items = Vec::new();
    let mut context: Option<(String, &Path)> = None;
    let mut properties = BTreeSet::new();
    let mut pages = list.iter().enumerate();
    cores::in_windows(
        list,
        |(_, path)| read_page::<T>(path, source, describe),
        |page| -> Result<()> {
            let (i, (_, path)) = pages.next().expect("one result a page");
            let page = page?;
            items.extend(page.items.into_iter().enumerate().map(|(n, item)| {
                (
                    item,
                    Place {
                        page: i as u32,
                        item: n as u32 + 1,
                    },
                )
            }));
            // A page that promises more with no page after it is a half-collected source.
            if page.has_next_link && i + 1 == list.len() {
                bail!(
                    "{} has @odata.nextLink but no later {source} page follows: the export is incomplete; export every page",
                    path.display()
                );
            }
            // Graph repeats a request's context on every page; another one is another request,
            // and the record of what the files show would name only the first.
            match (&context, page.context) {
                (Some((first, first_path)), Some(this)) if *first != this => bail!(
                    "{} and {} carry different @odata.context ({first} and {this}): the pages come from different requests; export {source} again in one pass",
                    first_path.display(),
                    path.display()
                ),
                (None, Some(this)) => context = Some((this, path)),
                _ => {}
            }
            if let Some(keys) = page.properties {
                properties.extend(keys?);
            }
            Ok(())
        },
    )?;
    let files = describe.then(|| files_record(context.map(|(c, _)| c), properties));
    Ok(SourceRead { items, files })
}

/// One collection page as read from its file, before it is set among its source's other pages.
struct PageRead<T> {
    items: Vec<T>,
    has_next_link: bool,
    /// Kept only when the files are described.
    context: Option<String>,
    /// The items' property names, when the files are described.
    properties: Option<Result<BTreeSet<String>>>,
}

fn read_page<T: DeserializeOwned>(
    path: &Path,
    source: Source,
    describe: bool,
) -> Result<PageRead<T>> {
    let bytes = read_bytes(path)?;
    let page: Page<T> = match serde_json::from_slice(&bytes) {
        Ok(page) => page,
        Err(e) => bail!(not_a_page::<T>(path, source, &bytes, Some(e))),
    };
    let Some(items) = page.value else {
        bail!(not_a_page::<T>(path, source, &bytes, None));
    };
    let properties = describe.then(|| {
        let keys: PageKeys = serde_json::from_slice(&bytes)
            .with_context(|| format!("cannot read the properties of {}", path.display()))?;
        // Annotations (`@odata.type`) are not properties.
        Ok(keys
            .value
            .0
            .into_iter()
            .filter(|k| !k.starts_with('@'))
            .collect())
    });
    Ok(PageRead {
        items,
        has_next_link: page.next_link.is_some(),
        context: page.context.filter(|_| describe),
        properties,
    })
}

fn optional_source<T: DeserializeOwned + Send>(
    pages: &BTreeMap<Source, Vec<(u32, PathBuf)>>,
    source: Source,
    describe: bool,
) -> Result<Option<SourceRead<T>>> {
    if pages.contains_key(&source) {
        read_source(pages, source, describe).map(Some)
    } else {
        Ok(None)
    }
}

/// A source that is one object (a policy), not a collection: refused when it is a Graph error
/// body or not an object.
fn read_object<T: DeserializeOwned>(
    path: &Path,
    source: Source,
    describe: bool,
) -> Result<(T, Option<FilesRecord>)> {
    let bytes = read_bytes(path)?;
    let mut keys = BTreeSet::new();
    let is_object = ObjectKeys(&mut keys)
        .deserialize(&mut serde_json::Deserializer::from_slice(&bytes))
        .is_ok();
    if !is_object || keys.contains("error") {
        bail!(not_a_page::<T>(path, source, &bytes, None));
    }
    let object: T = read_json(path)?;
    let context: Option<String> = serde_json::from_slice::<ContextOnly>(&bytes)
        .ok()
        .and_then(|c| c.context);
    keys.retain(|k| !k.starts_with('@'));
    Ok((object, describe.then(|| files_record(context, keys))))
}

fn files_record(context: Option<String>, properties: BTreeSet<String>) -> FilesRecord {
    let parsed = context.as_deref().map(ODataContext::parse);
    FilesRecord {
        api_version: parsed.as_ref().and_then(|c| c.api_version.clone()),
        select: parsed.and_then(|c| c.select),
        odata_context: context,
        properties: properties.into_iter().collect(),
    }
}

/// What a file that should be a Graph collection page of `source` holds instead, in a message
/// that names the file and says what to do.
fn not_a_page<T: DeserializeOwned>(
    path: &Path,
    source: Source,
    bytes: &[u8],
    parse_error: Option<serde_json::Error>,
) -> String {
    let file = path.display();
    let again = format!("export {source} again from Graph ({})", source.endpoint());
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return format!("{file} is not a valid JSON document ({e}): {again}, unchanged"),
    };
    if let Ok(body) = serde_json::from_value::<ErrorBody>(value.clone()) {
        return format!(
            "{file} is a Graph error response ({}): {}: the request failed when the export was made; {again} with an account or app that can read it",
            if body.error.code.is_empty() {
                "no code"
            } else {
                &body.error.code
            },
            body.error.message.trim_end_matches('.')
        );
    }
    if source.info().paging == Paging::SingleObject {
        return format!(
            "{file} holds a JSON {}, not a {source} object: {again}",
            json_kind(&value)
        );
    }
    let object = match &value {
        Value::Object(map) => map,
        Value::Array(_) => {
            return format!(
                "{file} is a JSON array, not a Graph collection page (an object with a value array): {again}"
            );
        }
        other => {
            return format!(
                "{file} holds a JSON {}, not a Graph collection page: {again}",
                json_kind(other)
            );
        }
    };
    match object.get("value") {
        None if object.is_empty() => {
            format!("{file} is an empty JSON object, not a Graph collection page: {again}")
        }
        None => format!(
            "{file} is not a Graph collection page: it has no value array (it holds {}): {again}",
            object
                .keys()
                .take(5)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(Value::Array(list)) => {
            // The page is fine; one of its items is not what Graph returns for this source.
            let bad = list.iter().enumerate().find_map(|(i, item)| {
                serde_json::from_value::<T>(item.clone())
                    .err()
                    .map(|e| (i + 1, e))
            });
            match (bad, parse_error) {
                (Some((n, e)), _) => format!(
                    "{file}: item {n} of value is not a {source} item as Graph returns it ({e}): {again}, unchanged"
                ),
                (None, Some(e)) => {
                    format!("{file} is not a valid Graph page ({e}): {again}, unchanged")
                }
                (None, None) => format!("{file} is not a valid Graph page: {again}, unchanged"),
            }
        }
        Some(other) => format!(
            "{file} is not a Graph collection page: its value is a JSON {}, not an array: {again}",
            json_kind(other)
        ),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The items of a source, sorted by id. An empty id is refused, as is an id held by two items
/// that differ (two reads mixed in one folder: which one is the tenant's state?); identical
/// repeats, which Graph's paging can produce, are dropped.
fn unique_by_id<T: PartialEq>(
    source: Source,
    pages: &BTreeMap<Source, Vec<(u32, PathBuf)>>,
    items: impl Iterator<Item = (T, Place)>,
    id: fn(&T) -> &str,
) -> Result<Vec<T>> {
    let list = &pages[&source];
    let mut items: Vec<(T, Place)> = items.collect();
    if let Some((_, place)) = items.iter().find(|(t, _)| id(t).trim().is_empty()) {
        bail!(
            "{} has an empty id: every {source} item needs its object id; export {source} again from Graph",
            place.describe(list)
        );
    }
    // Of equal ids, the one read first stays first: the order keeps reading order among equals.
    let order = order::order_by(
        items.len(),
        |i| order::prefix(id(&items[i].0)),
        |i| id(&items[i].0),
    );
    order::permute(&mut items, order);
    if let Some(pair) = items
        .windows(2)
        .find(|w| id(&w[0].0) == id(&w[1].0) && w[0].0 != w[1].0)
    {
        bail!(
            "{} and {} both hold id {} with different content: the pages mix two reads of {source}; read it again in one pass (export it again, or collect again)",
            pair[0].1.describe(list),
            pair[1].1.describe(list),
            id(&pair[0].0)
        );
    }
    items.dedup_by(|a, b| id(&a.0) == id(&b.0));
    Ok(items.into_iter().map(|(t, _)| t).collect())
}

/// A collection page read for its items' property names only.
#[derive(Deserialize)]
struct PageKeys {
    #[serde(default)]
    value: ItemKeys,
}

/// The union of the top-level property names of a page's items; values are skipped unread.
#[derive(Default)]
struct ItemKeys(BTreeSet<String>);

impl<'de> Deserialize<'de> for ItemKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<ItemKeys, D::Error> {
        struct Items;
        impl<'de> Visitor<'de> for Items {
            type Value = ItemKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<ItemKeys, A::Error> {
                let mut keys = BTreeSet::new();
                while seq.next_element_seed(ObjectKeys(&mut keys))?.is_some() {}
                Ok(ItemKeys(keys))
            }
        }
        d.deserialize_seq(Items)
    }
}

/// Adds an object's property names to the set.
struct ObjectKeys<'a>(&'a mut BTreeSet<String>);

impl<'de> DeserializeSeed<'de> for ObjectKeys<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectKeys<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if !self.0.contains(key.as_ref()) {
                self.0.insert(key.into_owned());
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct ContextOnly {
    #[serde(rename = "@odata.context", default)]
    context: Option<String>,
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

/// The record of a folder without provenance.json: what the files show, and nothing they do not
/// (no request, no collecting tool).
fn record_from_files(
    pages: &BTreeMap<Source, Vec<(u32, PathBuf)>>,
    items: &BTreeMap<Source, u64>,
    mut shown: BTreeMap<Source, FilesRecord>,
) -> CollectionRecord {
    let sources = Source::ALL
        .into_iter()
        .map(|source| {
            let page_count = pages.get(&source).map_or(0, |l| l.len() as u64);
            SourceRecord {
                name: source,
                endpoint: None,
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
                files: shown.remove(&source),
                export: None,
            }
        })
        .collect();
    CollectionRecord {
        source_kind: SourceKind::Import,
        collected_by: None,
        graph_endpoint: None,
        token_roles: Vec::new(),
        sources,
    }
}

/// The tenant the folder's organization pages name.
fn folder_tenant(
    dir: &Path,
    pages: &BTreeMap<Source, Vec<(u32, PathBuf)>>,
    describe: bool,
    shown: &mut BTreeMap<Source, FilesRecord>,
) -> Result<Tenant> {
    let org = read_source::<WireOrganization>(pages, Source::Organization, describe)?;
    shown.extend(org.files.clone().map(|f| (Source::Organization, f)));
    let tenants = unique_by_id(
        Source::Organization,
        pages,
        org.items_as(|o| Tenant {
            id: o.id,
            name: o.display_name,
        }),
        |t| &t.id,
    )?;
    match tenants.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "{}: the organization page lists no organization: re-export {}",
            dir.display(),
            Source::Organization.endpoint()
        ),
        many => bail!(
            "{}: the organization pages list {} organizations ({}): an export folder holds one tenant; export each tenant into its own folder",
            dir.display(),
            many.len(),
            many.iter()
                .map(|t| t.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The tenant `Get-MgOrganization` output names: one, with an id.
fn export_tenant(dir: &Path, export: &ExportFile) -> Result<Tenant> {
    let ExportRows::Organization(rows) = &export.rows else {
        unreachable!("assigned to organization by its rows")
    };
    match rows.as_slice() {
        [one] => Ok(one.item.clone()),
        [] => bail!(
            "{}: {} lists no organization: run Get-MgOrganization again",
            dir.display(),
            export.name()
        ),
        many => bail!(
            "{}: {} lists {} organizations: an export folder holds one tenant",
            dir.display(),
            export.name(),
            many.len()
        ),
    }
}

/// The tenant `--tenant-id` and `--tenant-name` give. The id names the store's folder, so it is
/// held to what a tenant id is: a GUID or a domain name.
fn operator_given_tenant(options: &ImportOptions) -> Result<Tenant> {
    let id = options.tenant_id.as_deref().unwrap_or_default().trim();
    if id.is_empty()
        || id.len() > 253
        || id.starts_with('.')
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        bail!(
            "--tenant-id {id:?} is not a tenant id: give the directory (tenant) id, a GUID such as 9ad8c6d4-c793-4206-b09d-4ed13a9152d1 (Entra admin center › Overview), or the tenant's domain name"
        );
    }
    let id = id.to_ascii_lowercase();
    // Without a name the tenant is named by its id, as a package name falls back to.
    let name = match options.tenant_name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => id.clone(),
    };
    Ok(Tenant { id, name })
}

/// Each export file's source, one file per source and never beside Graph pages of it. An empty
/// file (Windows PowerShell's zero items) says no source: it stands for a registration report
/// of no rows when nothing else provides the report, and is refused otherwise.
fn assign_exports(
    dir: &Path,
    pages: &BTreeMap<Source, Vec<(u32, PathBuf)>>,
    files: Vec<ExportFile>,
) -> Result<BTreeMap<Source, ExportFile>> {
    let mut by_source: BTreeMap<Source, ExportFile> = BTreeMap::new();
    let mut empty = Vec::new();
    for export in files {
        let Some(source) = export.source() else {
            empty.push(export);
            continue;
        };
        if let Some(list) = pages.get(&source) {
            bail!(
                "{}: {source} comes both as Graph pages ({}) and as a {} ({}): one source, one kind of export; remove one",
                dir.display(),
                list.iter()
                    .map(|(_, p)| exports::file_name(p))
                    .collect::<Vec<_>>()
                    .join(", "),
                export.kind,
                export.name()
            );
        }
        if let Some(first) = by_source.get(&source) {
            bail!(
                "{}: {} ({}) and {} ({}) both hold {source}: keep the one export of it to import",
                dir.display(),
                first.name(),
                first.kind,
                export.name(),
                export.kind
            );
        }
        by_source.insert(source, export);
    }
    for mut export in empty {
        // Only the registration report can be empty: a tenant always has users, so an empty
        // users export is a failed one.
        let source = Source::Registration;
        if pages.contains_key(&source) || by_source.contains_key(&source) {
            bail!(
                "{}: {} is empty, so it cannot say what it holds, and the registration report already has its file: an empty file stands only for a registration report of no rows (a users export is never empty); export again, or remove it",
                dir.display(),
                export.name(),
            );
        }
        tracing::warn!(
            "{} is empty: read as a PowerShell export of {source} with no items",
            export.name()
        );
        export.rows = ExportRows::Registrations(Vec::new());
        by_source.insert(source, export);
    }
    Ok(by_source)
}

/// An export's users, refused when an id or a UPN (case-insensitive) comes twice: both rows are
/// named, since an export cannot hold one user twice.
fn export_users(export: &ExportFile) -> Result<Vec<snapshot::User>> {
    let ExportRows::Users(rows) = &export.rows else {
        unreachable!("assigned to users by its rows")
    };
    let mut by_id: BTreeMap<&str, &str> = BTreeMap::new();
    let mut by_upn: BTreeMap<String, &str> = BTreeMap::new();
    for row in rows {
        if let Some(first) = by_id.insert(&row.item.id, &row.place) {
            bail!(
                "{} and {} both hold user id {}: the file mixes two reads or was edited; export it again",
                export.at(first),
                row.place,
                row.item.id
            );
        }
        if let Some(first) = by_upn.insert(row.item.user_principal_name.to_lowercase(), &row.place)
        {
            bail!(
                "{} and {} both hold the userPrincipalName {}: a UPN names one user, and registration rows are matched to users by it; export the users again",
                export.at(first),
                row.place,
                row.item.user_principal_name
            );
        }
    }
    let mut users: Vec<snapshot::User> = rows.iter().map(|r| r.item.clone()).collect();
    users.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(users)
}

/// How registration rows without an id were given one.
#[derive(Debug, Default, Clone, Copy)]
struct Matching {
    by_upn: u64,
    unmatched: u64,
}

/// An export's registration rows, each with its user's id: its own, or, for a row without one
/// (the admin center's download), that of the user with its UPN (case-insensitive). A UPN that
/// two users hold is refused, naming both; a row whose UPN matches no user keeps an empty id and
/// is reported as a row without a user.
fn export_registrations(
    export: &ExportFile,
    users: &[snapshot::User],
    users_export: Option<&ExportFile>,
) -> Result<(Vec<snapshot::Registration>, Matching)> {
    let ExportRows::Registrations(rows) = &export.rows else {
        unreachable!("assigned to registrations by its rows")
    };
    // Where each user was read, for a message naming both holders of a UPN.
    let user_place = |user: &snapshot::User| -> String {
        users_export
            .and_then(|e| match &e.rows {
                ExportRows::Users(rows) => rows
                    .iter()
                    .find(|r| r.item.id == user.id)
                    .map(|r| e.at(&r.place)),
                _ => None,
            })
            .unwrap_or_else(|| format!("the user with id {}", user.id))
    };
    let mut by_upn: BTreeMap<String, Vec<&snapshot::User>> = BTreeMap::new();
    for user in users {
        by_upn
            .entry(user.user_principal_name.to_lowercase())
            .or_default()
            .push(user);
    }
    let mut matching = Matching::default();
    let mut seen_upn: BTreeMap<String, &str> = BTreeMap::new();
    let mut seen_id: BTreeMap<String, &str> = BTreeMap::new();
    let mut list = Vec::with_capacity(rows.len());
    for row in rows {
        let mut registration = row.item.clone();
        let upn = registration.user_principal_name.to_lowercase();
        if registration.id.is_empty() {
            if let Some(first) = seen_upn.insert(upn.clone(), &row.place) {
                bail!(
                    "{} and {} are both rows of {}: which one is the user's registration? export the report again",
                    export.at(first),
                    row.place,
                    registration.user_principal_name
                );
            }
            match by_upn.get(&upn).map(Vec::as_slice) {
                Some([user]) => {
                    registration.id = user.id.clone();
                    matching.by_upn += 1;
                }
                Some([a, b, ..]) => bail!(
                    "{}: its userPrincipalName {} matches two users, {} and {}: a UPN names one user; export the users again",
                    export.at(&row.place),
                    registration.user_principal_name,
                    user_place(a),
                    user_place(b)
                ),
                _ => matching.unmatched += 1,
            }
        }
        if !registration.id.is_empty()
            && let Some(first) = seen_id.insert(registration.id.clone(), &row.place)
        {
            bail!(
                "{} and {} are both the registration row of user {}: export the report again",
                export.at(first),
                row.place,
                registration.id
            );
        }
        list.push(registration);
    }
    list.sort_by(|a, b| (&a.id, &a.user_principal_name).cmp(&(&b.id, &b.user_principal_name)));
    Ok((list, matching))
}

/// The record of the sources read from export files, and of a tenant the operator gave; the
/// snapshot is of the weakest kind among its sources.
fn record_exports(
    record: &mut CollectionRecord,
    exported: &BTreeMap<Source, ExportFile>,
    matching: Matching,
    operator_tenant: bool,
) {
    for source in &mut record.sources {
        if source.name == Source::Organization && operator_tenant {
            source.status = SourceStatus::OperatorGiven;
            source.error = None;
            source.items = 1;
        }
        let Some(export) = exported.get(&source.name) else {
            continue;
        };
        let is_registration = source.name == Source::Registration;
        source.status = SourceStatus::Collected;
        source.error = None;
        source.pages = 1;
        source.files = Some(FilesRecord {
            odata_context: None,
            api_version: None,
            select: None,
            properties: export.properties.clone(),
        });
        source.export = Some(ExportRecord {
            kind: export.kind,
            file: export.name(),
            encoding: export.encoding,
            rows: export.len() as u64,
            matched_by_upn: if is_registration { matching.by_upn } else { 0 },
            unmatched: if is_registration {
                matching.unmatched
            } else {
                0
            },
        });
        record.source_kind = record.source_kind.max(export.kind);
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
