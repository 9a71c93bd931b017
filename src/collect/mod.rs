//! Where snapshots come from: live Microsoft Graph (`graph`), which writes the import layout, and
//! `import`, the one parser of that layout (offline exports, live collections, stored raw/
//! folders). Graph's wire types (`wire`) stay inside this module.
//!
//! [`run`] is the `collect` job: a live collection into the store. [`run_import`] is the `import`
//! job: an export folder into the store, its collection time on the operator's word, checked
//! against this machine's clock and against the data itself.

mod exports;
pub mod graph;
pub mod import;
mod wire;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Duration, Utc};

use self::graph::{AuthEnv, CollectOptions};
use crate::attest::{self, Attestor, StampOutcome};
use crate::config::Config;
use crate::snapshot::{Imported, Snapshot, Tenant};
use crate::source::{Source, SourceKind, SourceStatus};
use crate::store::{Store, StoredSnapshot};
use crate::time::secs_text;

/// How far a collection time may lie ahead of this machine's clock: two machines' clocks (the
/// one that exported, this one) differ by seconds, rarely by minutes; more is a wrong time.
pub const CLOCK_TOLERANCE: Duration = Duration::minutes(5);

/// One `collect` run.
#[derive(Debug, Clone)]
pub struct CollectRequest {
    /// The run's time, read from the clock by the caller: the default audit window ends here.
    pub now: DateTime<Utc>,
    /// Sign in interactively with the device code flow instead of client credentials.
    pub device_code: bool,
    /// Show progress at a terminal (only when stderr is one).
    pub progress: bool,
    /// Secrets and ids from the environment.
    pub env: AuthEnv,
}

/// A stored collection, and what the operator must hear about it.
#[derive(Debug)]
pub struct Collected {
    pub stored: StoredSnapshot,
    /// The snapshot as stored: what the caller evaluates and alerts on (a store on object
    /// storage removes its working copy when the job ends).
    pub snapshot: Snapshot,
    /// One per optional source that was not collected, in display order.
    pub warnings: Vec<SourceWarning>,
    /// The time-stamp tokens asked for after storing (none without `[timestamping]`).
    pub stamps: StampOutcome,
}

/// An optional source that was not collected.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceWarning {
    pub source: Source,
    /// What happened, what it means and what to grant.
    pub text: String,
    /// Every report on this snapshot will be insufficient-evidence (the source decides the
    /// population).
    pub insufficient: bool,
}

impl Collected {
    /// 0 when the snapshot can be evidence, 1 when every report on it will be
    /// insufficient-evidence.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.warnings.iter().any(|w| w.insufficient) || self.stamps.failure.is_some())
    }
}

/// The `collect` job: collects every source from Graph into a folder inside the store (same file
/// system, removed whatever happens), then stores it like an import, so a collection that fails
/// stores nothing. Audit events are read from the previous snapshot of the tenant on. Builds its
/// own async runtime: call it from synchronous code.
pub fn run(config: &Config, request: &CollectRequest) -> Result<Collected> {
    // A key that cannot sign or a CA file that cannot be read stops the run before Graph is
    // asked for anything.
    let attestor = Attestor::from_config(config)?;
    let store = Store::open(&config.store)?;
    let created_root = !store.root().exists();
    crate::files::create_private_dir_all(store.root()).with_context(|| {
        format!(
            "cannot create the store {}: check [store] path",
            store.root().display()
        )
    })?;
    let mut options = CollectOptions::new(request.now);
    options.device_code = request.device_code;
    options.progress = request.progress;
    options.audit_since = audit_since(&store, config, &request.env)?;
    let folder = tempfile::Builder::new()
        .prefix(".collect-")
        .tempdir_in(store.root())
        .context("cannot create a collection folder in the store")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for the collection")?;
    let collected = runtime.block_on(graph::collect(
        config,
        &request.env,
        &options,
        folder.path(),
    ));
    if let Err(e) = collected {
        drop(folder);
        if created_root {
            // A failed first collection leaves no empty store behind.
            let _ = std::fs::remove_dir(store.root());
        }
        return Err(e);
    }
    let imported = import::import_dir(folder.path(), None)?;
    check_store_not_ahead(&store, &imported.snapshot.tenant.id, request.now)?;
    let stored = {
        let _step = crate::steps::Step::new("store the snapshot");
        store.add_signed(&imported, attestor.signer.as_ref())?
    };
    let stamps = stamp(&store, &stored, &attestor)?;
    Ok(Collected {
        stored,
        warnings: warnings(&imported.snapshot),
        snapshot: imported.snapshot,
        stamps,
    })
}

/// The optional sources a collection lacks, each in words. The break-glass group's members
/// decide who is excluded from the population: without them every report is
/// insufficient-evidence, which the operator must hear now, not at audit time.
fn warnings(snapshot: &Snapshot) -> Vec<SourceWarning> {
    snapshot
        .collection
        .sources
        .iter()
        .filter(|s| !s.required && s.status == SourceStatus::Missing)
        .map(|s| {
            let why = s.error.as_deref().unwrap_or("no error recorded");
            let insufficient = s.name == Source::BreakGlass;
            let text = if insufficient {
                format!(
                    "{} was not collected ({why}): break_glass.group_id decides who is excluded from the population, so every report on this snapshot is insufficient-evidence; grant {} with admin consent and collect again, or list the accounts in break_glass.user_ids",
                    s.name,
                    s.name.permission()
                )
            } else {
                format!(
                    "{} was not collected ({why}): the figure does not depend on it; grant {} with admin consent to include it",
                    s.name,
                    s.name.permission()
                )
            };
            SourceWarning {
                source: s.name,
                text,
                insufficient,
            }
        })
        .collect()
}

/// One `import` run.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub dir: PathBuf,
    /// When the data was collected, on the operator's word (`--collected-at`).
    pub collected_at: Option<DateTime<Utc>>,
    /// The tenant, on the operator's word (`--tenant-id`, `--tenant-name`), for exports that name
    /// none.
    pub tenant_id: Option<String>,
    pub tenant_name: Option<String>,
    /// This machine's clock, read by the caller: no collection lies in its future.
    pub now: DateTime<Utc>,
}

/// A stored import.
#[derive(Debug)]
pub struct ImportOutcome {
    pub stored: StoredSnapshot,
    /// The snapshot as stored, as [`Collected::snapshot`].
    pub snapshot: Snapshot,
    pub tenant: Tenant,
    pub users: usize,
    pub registrations: usize,
    /// What the snapshot came from (the weakest kind among its sources).
    pub source_kind: SourceKind,
    /// Registration rows without an object id matched to users by UPN, and those that matched
    /// no user: what the operator should hear about an admin center download.
    pub matched_by_upn: u64,
    pub unmatched: u64,
    /// The time-stamp tokens asked for after storing (none without `[timestamping]`).
    pub stamps: StampOutcome,
}

/// After a snapshot is stored: a token for its line, and for every earlier line still without
/// one. A TSA that fails costs no snapshot; the outcome says which lines wait.
fn stamp(store: &Store, stored: &StoredSnapshot, attestor: &Attestor) -> Result<StampOutcome> {
    match &attestor.stamping {
        None => Ok(StampOutcome::default()),
        Some(stamping) => attest::stamp_pending(store, &stored.entry.tenant_id, stamping),
    }
}

/// The `import` job: reads the folder, checks that its collection time is plausible (not ahead
/// of this machine's clock; a time given by the operator not before the registration report's
/// newest row), and stores it. A future-dated snapshot would shut every later snapshot out of
/// an append-only history.
pub fn run_import(config: &Config, request: &ImportRequest) -> Result<ImportOutcome> {
    let attestor = Attestor::from_config(config)?;
    let imported = {
        let _step = crate::steps::Step::new(format!("read the export {}", request.dir.display()));
        import::import_dir_with(
            &request.dir,
            &import::ImportOptions {
                collected_at: request.collected_at,
                tenant_id: request.tenant_id.clone(),
                tenant_name: request.tenant_name.clone(),
            },
        )?
    };
    check_collection_time(&imported, request.collected_at.is_some(), request.now)?;
    let tenant = &imported.snapshot.tenant;
    if !config.tenants.is_empty() && config.tenant_entry(&tenant.id).is_none() {
        bail!(
            "the export is of tenant {} ({}), which [[tenants]] of the config does not list: add it there, or import it with its own config",
            tenant.id,
            tenant.name
        );
    }
    let store = Store::open(&config.store)?;
    check_store_not_ahead(&store, &imported.snapshot.tenant.id, request.now)?;
    let stored = {
        let _step = crate::steps::Step::new("store the snapshot");
        store.add_signed(&imported, attestor.signer.as_ref())?
    };
    let stamps = stamp(&store, &stored, &attestor)?;
    let snapshot = imported.snapshot;
    let matching = snapshot
        .collection
        .sources
        .iter()
        .filter_map(|s| s.export.as_ref())
        .fold((0, 0), |(m, u), e| (m + e.matched_by_upn, u + e.unmatched));
    Ok(ImportOutcome {
        stored,
        users: snapshot.users.len(),
        registrations: snapshot.registrations.len(),
        source_kind: snapshot.collection.source_kind,
        matched_by_upn: matching.0,
        unmatched: matching.1,
        tenant: snapshot.tenant.clone(),
        snapshot,
        stamps,
    })
}

fn check_collection_time(imported: &Imported, given: bool, now: DateTime<Utc>) -> Result<()> {
    let at = imported.snapshot.collected_at;
    if at > now + CLOCK_TOLERANCE {
        let (whose, fix) = if given {
            (
                "--collected-at",
                "give the time the export was made, with its offset (e.g. 2026-10-31T06:00:00Z), or correct this machine's clock",
            )
        } else {
            (
                "provenance.json's last request time",
                "check the clock of the machine that collected it, or pass --collected-at with the time the export was made",
            )
        };
        bail!(
            "{whose} {} is {} ahead of this machine's clock ({}): a collection cannot lie in the future, and a snapshot dated there would refuse every later one; {fix}",
            secs_text(at),
            span(at - now),
            secs_text(now)
        );
    }
    if given
        && let Some(newest) = imported
            .snapshot
            .registrations
            .iter()
            .filter_map(|r| Some((r.last_updated.as_ref()?.at(), r)))
            .max_by_key(|(t, _)| *t)
        && newest.0 > at
    {
        bail!(
            "--collected-at {} is earlier than the newest lastUpdatedDateTime of the registration report ({}, the row of {}): the data cannot predate itself; give the time the export was made",
            secs_text(at),
            newest
                .1
                .last_updated
                .as_ref()
                .map(|t| t.as_str())
                .unwrap_or_default(),
            newest.1.user_principal_name
        );
    }
    Ok(())
}

/// A store whose newest snapshot lies ahead of the clock takes no new snapshot until then (the
/// history is append-only); say why and what to do rather than "collected before".
fn check_store_not_ahead(store: &Store, tenant_id: &str, now: DateTime<Utc>) -> Result<()> {
    let Some(last) = store.ledger(tenant_id)?.pop() else {
        return Ok(());
    };
    let at = last.entry.collected_at;
    if at > now + CLOCK_TOLERANCE {
        bail!(
            "the store's newest snapshot of {tenant_id} (No. {}, {}) is dated {}, {} ahead of this machine's clock ({}): the history is append-only, so no snapshot of now can follow it. If the clock is right, that snapshot was stored with a wrong time: keep this store as it is (report still reads it, and its ledger shows the time as given) and store new snapshots in a new store ([store] path); if the clock is wrong, correct it",
            last.entry.sequence,
            last.entry.folder,
            secs_text(at),
            span(at - now),
            secs_text(now)
        );
    }
    Ok(())
}

/// A length of time, rounded, in the largest unit of which it holds two: `3 days`, `5 hours`,
/// `17 minutes`.
fn span(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    let (unit, one, many) = if secs >= 2 * 86_400 {
        (86_400, "day", "days")
    } else if secs >= 2 * 3_600 {
        (3_600, "hour", "hours")
    } else {
        (60, "minute", "minutes")
    };
    let n = (secs + unit / 2) / unit;
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Audit events since the previous snapshot of the same tenant, overlapping by a day, so none
/// falls between runs. The store keys tenants by the GUID Graph returns; the tenant collected is
/// [tenant] id, else AZURE_TENANT_ID (as in `graph::collect`). Only a GUID can be matched before
/// collecting: a domain name, or a GUID with no history, gets None (the full 30 days, Graph's
/// retention, so nothing is lost), never another tenant's time, which could skip events.
fn audit_since(store: &Store, config: &Config, env: &AuthEnv) -> Result<Option<DateTime<Utc>>> {
    let tenant = config.tenant.id.as_deref().or(env.tenant_id.as_deref());
    let previous = match tenant.filter(|t| crate::config::is_guid(t)) {
        Some(id) => store
            .tenants()?
            .into_iter()
            .find(|t| t.eq_ignore_ascii_case(id)),
        None => None,
    };
    if let Some(tenant) = previous
        && let Some(last) = store.ledger(&tenant)?.last()
    {
        return Ok(Some(last.entry.collected_at - chrono::Duration::days(1)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_rounded_to_their_largest_unit() {
        let cases = [
            (Duration::seconds(3 * 86_400 - 1), "3 days"),
            (Duration::hours(49), "2 days"),
            (Duration::hours(47), "47 hours"),
            (Duration::minutes(119), "119 minutes"),
            (Duration::seconds(61), "1 minute"),
        ];
        for (d, text) in cases {
            assert_eq!(span(d), text);
        }
    }

    #[test]
    fn tenant_guids_and_domains() {
        use crate::config::is_guid;
        assert!(is_guid("11111111-2222-3333-4444-555555555555"));
        assert!(is_guid("AbCdEf01-2222-3333-4444-555555555555"));
        for not in [
            "contoso.onmicrosoft.com",
            "11111111-2222-3333-4444-55555555555",
            "11111111-2222-3333-4444-555555555555-6",
            "1111111g-2222-3333-4444-555555555555",
            "",
        ] {
            assert!(!is_guid(not), "{not}");
        }
    }
}
