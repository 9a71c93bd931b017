//! The evidence store: append-only, tamper-evident history, in a folder on this machine or on
//! object storage (`remote`).
//!
//! ```text
//! <store>/<tenant-id>/
//!   ledger.jsonl                      one line per snapshot, chained by SHA-256
//!   .lock                             held by the one writer at a time
//!   snapshots/000001-20261031T060000Z/
//!     raw/*.zst                       the Graph response bodies, zstd (import layout inside)
//!     record.json, record.bin.zst     the compact record: what evaluation reads
//!     SHA256SUMS                      every other file; its SHA-256 is the snapshot's hash
//! ```
//! Folders of the first format (`raw/*.json`, `snapshot.json`) are read as they are, in the same
//! ledger as new ones (`layout`).
//! A snapshot is written aside (`.tmp-*`), fsynced, renamed into place, and only then recorded in
//! the ledger: the ledger is the only thing that makes a snapshot count, so a crash at any point
//! leaves the history as it was. Folders the ledger does not name are leftovers of such crashes.

use std::fs::{self, File};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::config::{ControlSettings, StoreLocation};
use crate::digest::{SUMS_FILE, Sha256Sums, hash_file, sha256_hex};
use crate::evaluate::period::SnapshotPoint;
use crate::files::{create_private_dir_all, create_private_file, list_files, sync_dir};
use crate::objects::StorageEnv;
use crate::snapshot::{Imported, Snapshot};
use crate::time::secs_text;

mod deep;
mod layout;
mod ledger;
mod record;
mod remote;

pub use layout::{Format, PageFile, RawPages};
use layout::{RAW_DIR, SNAPSHOT_FILE};
use ledger::LEDGER_FILE;
pub use ledger::{GENESIS, LedgerEntry};
pub use record::{RawPage, ZSTD_LEVEL};

const LOCK_FILE: &str = ".lock";
const SNAPSHOTS_DIR: &str = "snapshots";
const TIMESTAMPS_DIR: &str = "timestamps";
/// A snapshot as the ledger records it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSnapshot {
    pub entry: LedgerEntry,
    /// SHA-256 of this ledger line (without its newline); the next line chains to it.
    pub line_sha256: String,
    pub dir: PathBuf,
}

impl StoredSnapshot {
    /// The folder of the raw pages as stored (compressed in a compact folder).
    pub fn raw_dir(&self) -> PathBuf {
        self.dir.join(RAW_DIR)
    }

    pub fn format(&self) -> Format {
        Format::of(&self.dir)
    }

    /// Reads the snapshot in our own types: the compact record, or a plain folder's
    /// `snapshot.json`.
    pub fn load(&self) -> Result<Snapshot> {
        load_dir(&self.dir)
    }

    /// The snapshot as a period reads it: from a record of the current format straight from its
    /// columns, from any other form through the whole snapshot.
    pub fn load_point(&self, settings: &ControlSettings) -> Result<SnapshotPoint> {
        match Format::of(&self.dir) {
            Format::Compact => record::read_point(&self.dir, settings),
            Format::Plain => Ok(SnapshotPoint::of(&layout::read_plain(&self.dir)?, settings)),
        }
    }

    /// The raw pages as Graph returned them, each checked against its recorded hash.
    pub fn raw_pages(&self) -> Result<RawPages> {
        layout::raw_pages(&self.dir)
    }

    /// The snapshot derived again from its raw pages, and those pages: what a package's
    /// point-in-time figure rests on. Its comparison with the stored form runs on another core
    /// meanwhile; the pages come out of [`Derived::confirm`] only when the two agree, so no
    /// package is written from a snapshot that disagrees.
    pub fn derive_from_raw(&self) -> Result<Derived> {
        let in_folder = || format!("snapshot {}", self.entry.folder);
        let dir = self.dir.clone();
        let (snapshot, raw, basis) = derive(&dir).with_context(in_folder)?;
        let snapshot = std::sync::Arc::new(snapshot);
        let compared = std::sync::Arc::clone(&snapshot);
        let comparison = std::thread::spawn(move || difference(&dir, &basis, &compared));
        Ok(Derived {
            snapshot,
            raw,
            comparison,
            folder: self.entry.folder.clone(),
            format: self.format(),
        })
    }
}

/// A snapshot derived again from its raw pages, being compared with its stored form.
pub struct Derived {
    snapshot: std::sync::Arc<Snapshot>,
    raw: RawPages,
    comparison: std::thread::JoinHandle<Result<Option<&'static str>>>,
    folder: String,
    format: Format,
}

impl Derived {
    /// The snapshot, to evaluate while the comparison runs.
    pub fn snapshot(&self) -> std::sync::Arc<Snapshot> {
        std::sync::Arc::clone(&self.snapshot)
    }

    /// Waits for the comparison: the raw pages when the stored form agrees with them.
    pub fn confirm(self) -> Result<RawPages> {
        let difference = self
            .comparison
            .join()
            .expect("the comparison with the stored form panicked")
            .with_context(|| format!("snapshot {}", self.folder))?;
        if let Some(part) = difference {
            bail!(
                "snapshot {}: its {} disagrees with its raw pages ({part}): run `mfa-evidence store verify --deep`",
                self.folder,
                stored_form(self.format)
            );
        }
        Ok(self.raw)
    }
}

/// A folder's snapshot derived again from its raw pages, the pages, and what its stored form
/// says that the pages may not.
fn derive(dir: &Path) -> Result<(Snapshot, RawPages, deep::Basis)> {
    let basis = match Format::of(dir) {
        Format::Compact => deep::Basis::from(record::read_head(dir)?),
        Format::Plain => layout::read_plain_basis(dir)?,
    };
    let pages = layout::raw_pages(dir)?;
    let derived = deep::derive(&basis, &pages)?;
    Ok((derived, pages, basis))
}

/// The first part in which a folder's stored form differs from `derived`, if any. The stored
/// form is compared by the hash of its encoding (the record body's, or `snapshot.json`'s), so
/// only one snapshot is held; only when the hashes differ is it read whole, to compare values
/// and name the part (the same values in other bytes, as another version may have serialised
/// them, agree).
fn difference(dir: &Path, basis: &deep::Basis, derived: &Snapshot) -> Result<Option<&'static str>> {
    let same_bytes = match &basis.head {
        Some(head) => match &head.body_sha256 {
            // The body as stored, and as derived again, both encode to the recorded bytes.
            Some(recorded) => {
                head.agrees_with(derived)
                    && record::body_sha256(head, derived)? == *recorded
                    && record::stored_body_sha256(dir)? == *recorded
            }
            None => false,
        },
        None => {
            let mut out = crate::digest::HashingWriter::new(std::io::sink());
            serde_json::to_writer(&mut out, derived)?;
            Some(out.finish().1) == hash_file(&dir.join(SNAPSHOT_FILE)).ok()
        }
    };
    Ok(if same_bytes {
        None
    } else {
        deep::first_difference(&load_dir(dir)?, derived)
    })
}

/// What a folder of `format` stores beside its raw pages, in words.
fn stored_form(format: Format) -> &'static str {
    match format {
        Format::Compact => "compact record",
        Format::Plain => "snapshot.json",
    }
}

fn load_dir(dir: &Path) -> Result<Snapshot> {
    match Format::of(dir) {
        Format::Compact => record::read(dir),
        Format::Plain => layout::read_plain(dir),
    }
}

/// How much `store verify` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// Every stored file against its hash, and each ledger line against its snapshot.
    #[default]
    Stored,
    /// And every snapshot derived again from its raw pages and compared with its stored form.
    Deep,
}

/// The outcome of recomputing a tenant's chain.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChainReport {
    pub verified: u64,
    /// The first broken link, in words: which line or snapshot, and what is wrong with it.
    pub broken: Option<String>,
    /// Leftovers of interrupted writes: they never counted.
    pub notes: Vec<String>,
    /// Lines whose signature holds, and the key's `SHA256:` fingerprint.
    pub signed: u64,
    pub signer: Option<String>,
    /// Time-stamp tokens checked against their lines (only with `[timestamping]`).
    pub tokens: u64,
}

/// The history of every tenant. A store on object storage reads and writes through a working
/// copy (`root`), a temporary folder laid out as a local store and filled as commands need it.
pub struct Store {
    root: PathBuf,
    remote: Option<remote::Remote>,
}

impl Store {
    /// A store in a folder on this machine.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store {
            root: root.into(),
            remote: None,
        }
    }

    /// The store a config names: its folder, or its container or bucket, reached with the
    /// storage variables of the environment.
    pub fn open(location: &StoreLocation) -> Result<Store> {
        match location {
            StoreLocation::Path(path) => Ok(Store::new(path)),
            StoreLocation::Url(url) => {
                let remote = remote::Remote::open(url, StorageEnv::from_process_env())?;
                Ok(Store {
                    root: remote.work_dir().to_path_buf(),
                    remote: Some(remote),
                })
            }
        }
    }

    /// The folder of a local store, or the working copy of one on object storage.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the store is, for messages: its folder or its URL.
    pub fn place(&self) -> String {
        match &self.remote {
            Some(remote) => remote.url().to_string(),
            None => self.root.display().to_string(),
        }
    }

    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// Brings the folders of `snapshots` into the working copy of a store on object storage
    /// (a local store holds them already).
    pub fn fetch(&self, snapshots: &[&StoredSnapshot]) -> Result<()> {
        match &self.remote {
            Some(remote) => {
                remote.fetch_snapshots(snapshots.iter().map(|s| (&s.entry, s.dir.as_path())))
            }
            None => Ok(()),
        }
    }

    /// Brings a notification record (`record`, a file of the working copy) up to date from
    /// object storage; a local store's is in place.
    pub fn fetch_notifications(&self, tenant: Option<&str>, record: &Path) -> Result<()> {
        match &self.remote {
            Some(remote) => remote.fetch_notifications(tenant, record),
            None => Ok(()),
        }
    }

    /// Shares the record lines a run appended locally: on object storage, as an object of
    /// their own (no object is ever appended to); a local store's file holds them already.
    pub fn publish_notifications(&self, tenant: Option<&str>, lines: &[u8]) -> Result<()> {
        match &self.remote {
            Some(remote) => remote.put_notifications(tenant, lines),
            None => Ok(()),
        }
    }

    /// The tenants with a ledger, sorted.
    pub fn tenants(&self) -> Result<Vec<String>> {
        if let Some(remote) = &self.remote {
            return remote.tenants();
        }
        if !self.root.exists() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root)
            .with_context(|| format!("cannot read the store {}", self.root.display()))?
        {
            let entry = entry?;
            if entry.path().join(LEDGER_FILE).is_file() {
                out.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        out.sort();
        Ok(out)
    }

    /// The one tenant of the store, or the one asked for.
    pub fn pick_tenant(&self, wanted: Option<&str>) -> Result<String> {
        let tenants = self.tenants()?;
        match wanted {
            Some(id) if tenants.iter().any(|t| t == id) => Ok(id.to_string()),
            Some(id) => bail!(
                "the evidence store {} holds no snapshot of tenant {id}: it holds {}",
                self.place(),
                if tenants.is_empty() {
                    "none".to_string()
                } else {
                    tenants.join(", ")
                }
            ),
            None => match tenants.as_slice() {
                [] => bail!(
                    "no snapshot is stored in {} yet: run `mfa-evidence collect` or `mfa-evidence import --dir D` first, or point [store] path (or url) at your store",
                    self.place()
                ),
                [one] => Ok(one.clone()),
                many => bail!(
                    "the evidence store {} holds several tenants ({}): choose one with --tenant",
                    self.place(),
                    many.join(", ")
                ),
            },
        }
    }

    fn tenant_dir(&self, tenant_id: &str) -> Result<PathBuf> {
        let safe = !tenant_id.is_empty()
            && tenant_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            && !tenant_id.starts_with('.');
        if !safe {
            bail!(
                "tenant id {tenant_id:?} cannot name a store folder: expected a GUID or a domain name"
            );
        }
        Ok(self.root.join(tenant_id))
    }

    /// The ledger of a tenant, parsed but not verified.
    pub fn ledger(&self, tenant_id: &str) -> Result<Vec<StoredSnapshot>> {
        let dir = self.tenant_dir(tenant_id)?;
        if let Some(remote) = &self.remote {
            remote.sync_ledger(tenant_id)?;
        }
        read_ledger(&dir)
    }

    /// Adds a snapshot, its ledger line unsigned.
    pub fn add(&self, imported: &Imported) -> Result<StoredSnapshot> {
        self.add_signed(imported, None)
    }

    /// Adds a snapshot, its ledger line signed by `signer` when given. Only one writer holds a
    /// tenant's lock at a time; others wait.
    pub fn add_signed(
        &self,
        imported: &Imported,
        signer: Option<&crate::attest::Signer>,
    ) -> Result<StoredSnapshot> {
        let snapshot = &imported.snapshot;
        let tenant_dir = self.tenant_dir(&snapshot.tenant.id)?;
        if let Some(remote) = &self.remote {
            return remote.add(imported, signer);
        }
        create_private_dir_all(&tenant_dir.join(SNAPSHOTS_DIR)).with_context(|| {
            format!(
                "cannot create the store folder {}: check [store] path and its permissions",
                tenant_dir.display()
            )
        })?;
        let lock = create_private_file(&tenant_dir.join(LOCK_FILE))
            .with_context(|| format!("cannot create the lock file in {}", tenant_dir.display()))?;
        lock.lock()
            .with_context(|| format!("cannot lock {}", tenant_dir.display()))?;

        remove_leftovers(&tenant_dir)?;
        ledger::repair_tail(&tenant_dir)?;
        let ledger = read_ledger(&tenant_dir)?;
        let collected_at = snapshot.collected_at;
        if let Some(last) = ledger.last() {
            refuse_not_later(&last.entry, snapshot)?;
        }
        let sequence = ledger.last().map_or(1, |l| l.entry.sequence + 1);
        let folder = format!("{sequence:06}-{}", collected_at.format("%Y%m%dT%H%M%SZ"));
        let final_dir = tenant_dir.join(SNAPSHOTS_DIR).join(&folder);
        // A folder of this sequence was renamed into place by a write that died before its ledger
        // line: it never counted. (Unlisted folders of earlier sequences are left for `store
        // verify` to report: they are not crash leftovers.)
        let prefix = format!("{sequence:06}-");
        for entry in fs::read_dir(tenant_dir.join(SNAPSHOTS_DIR))? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                fs::remove_dir_all(entry.path()).with_context(|| {
                    format!("cannot remove the leftover {}", entry.path().display())
                })?;
            }
        }

        let tmp = tenant_dir.join(format!(".tmp-{folder}"));
        let snapshot_sha256 = write_snapshot_dir(&tmp, imported)
            .with_context(|| format!("cannot write the snapshot into {}", tmp.display()))?;
        fs::rename(&tmp, &final_dir)
            .with_context(|| format!("cannot move the snapshot into {}", final_dir.display()))?;
        sync_dir(&tenant_dir.join(SNAPSHOTS_DIR))?;

        let mut entry = LedgerEntry {
            sequence,
            folder,
            tenant_id: snapshot.tenant.id.clone(),
            collected_at: snapshot.collected_at,
            snapshot_sha256,
            prev_line_sha256: ledger
                .last()
                .map_or(GENESIS.to_string(), |l| l.line_sha256.clone()),
            recorded_by: crate::tool_id(),
            signature: None,
        };
        ledger::sign(&mut entry, signer)?;
        let line_sha256 = ledger::append(&tenant_dir, &entry)?;
        sync_dir(&tenant_dir)?;
        drop(lock);
        Ok(StoredSnapshot {
            line_sha256,
            dir: final_dir,
            entry,
        })
    }

    /// Recomputes one stored snapshot's hash against its ledger line.
    pub fn check_snapshot(&self, stored: &StoredSnapshot) -> std::result::Result<(), String> {
        check_snapshot_dir(&stored.dir, &stored.entry.snapshot_sha256)
    }

    /// Recomputes a tenant's chain and every snapshot's hash, and names the first broken link.
    pub fn verify(&self, tenant_id: &str) -> Result<ChainReport> {
        self.verify_with(tenant_id, Depth::Stored, None, None)
    }

    /// [`Store::verify`] to the depth asked for, and every line's signature (by `expected`, or
    /// else by the key of the first signed line) and, with `stamping`, every time-stamp token
    /// against its line.
    pub fn verify_with(
        &self,
        tenant_id: &str,
        depth: Depth,
        expected: Option<ssh_key::PublicKey>,
        stamping: Option<&crate::attest::Stamping>,
    ) -> Result<ChainReport> {
        let dir = self.tenant_dir(tenant_id)?;
        let mut report = ChainReport::default();
        if let Some(remote) = &self.remote {
            remote.sync_ledger(tenant_id)?;
        }
        let chain_step = crate::steps::Step::new(format!("verify the ledger chain of {tenant_id}"));
        // 1. The chain itself, line by line: cheap, and in order. It stops at the first line
        //    that does not hold; the snapshots of the lines before it are checked next.
        let ledger::Chain {
            entries,
            line_sha256,
            signatures,
            listed,
            broken: chain_break,
            torn,
            unterminated,
        } = ledger::walk_chain(&dir, tenant_id, expected)?;
        if torn {
            report.notes.push(
                "the ledger ends with part of a line: an interrupted write, never counted (removed by the next write)"
                    .into(),
            );
        }
        drop(chain_step);
        if let Some(remote) = &self.remote {
            let _step = crate::steps::Step::new(format!("download the history of {tenant_id}"));
            let dirs: Vec<PathBuf> = entries
                .iter()
                .map(|e| dir.join(SNAPSHOTS_DIR).join(&e.folder))
                .collect();
            remote.fetch_snapshots(entries.iter().zip(dirs.iter().map(PathBuf::as_path)))?;
            for folder in remote.unlisted_snapshots(tenant_id, &entries)? {
                report.notes.push(format!(
                    "snapshots/{folder} on {} is not in the ledger: a run that stopped before its ledger line, never counted (the tool never deletes it)",
                    self.place()
                ));
            }
        }
        // 2. Every snapshot those lines record, against its line: every file is hashed, so this
        //    is the long part, spread over the cores. The first broken link is the earliest
        //    failing snapshot, or else the chain's own break.
        let _hash_step = crate::steps::Step::new(format!("hash {} snapshots", entries.len()));
        if let Some((index, why)) = first_failing_snapshot(&dir, &entries, depth) {
            report.verified = index as u64;
            report.broken = Some(why);
            return Ok(report);
        }
        report.verified = entries.len() as u64;
        report.signed = signatures.signed;
        report.signer = signatures.key().map(crate::attest::signing::fingerprint);
        if chain_break.is_some() {
            report.broken = chain_break;
            return Ok(report);
        }
        // 3. Each token against its line: it must cover the line's SHA-256 and chain to the CA.
        if let Some(stamping) = stamping {
            for (entry, sha256) in entries.iter().zip(&line_sha256) {
                let path = self.token_path(tenant_id, entry.sequence)?;
                let Some(der) = crate::attest::read_token(&path)? else {
                    continue;
                };
                if let Err(why) = stamping.check(&der, sha256) {
                    report.broken = Some(format!(
                        "timestamps/{:06}.tsr does not prove ledger line {}: {why}",
                        entry.sequence, entry.sequence
                    ));
                    return Ok(report);
                }
                report.tokens += 1;
            }
        }
        if unterminated {
            report
                .notes
                .push("the ledger's last line has no newline: a write was interrupted".into());
        }
        for entry in fs::read_dir(&dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                report.notes.push(format!(
                    "{name}: an interrupted write, never counted (removed by the next write)"
                ));
            }
        }
        for entry in fs::read_dir(dir.join(SNAPSHOTS_DIR))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !listed.contains(&name) {
                report.notes.push(format!(
                    "snapshots/{name} is not in the ledger: an interrupted write, never counted"
                ));
            }
        }
        Ok(report)
    }
}

/// The earliest of `entries` (ledger lines 1, 2, ...) whose snapshot fails its hashes or
/// disagrees with its line, with why. Snapshots are checked on every core; indices are handed out
/// in order, so once a failure is found, a worker past it stops: nothing later can be the first.
fn first_failing_snapshot(
    tenant_dir: &Path,
    entries: &[LedgerEntry],
    depth: Depth,
) -> Option<(usize, String)> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let check = |i: usize| {
        let (entry, n) = (&entries[i], i as u64 + 1);
        check_snapshot_dir(
            &tenant_dir.join(SNAPSHOTS_DIR).join(&entry.folder),
            &entry.snapshot_sha256,
        )
        .err()
        .map(|why| format!("snapshot {} (ledger line {n}): {why}", entry.folder))
        .or_else(|| line_disagrees(tenant_dir, entry, n))
        .or_else(|| {
            let dir = tenant_dir.join(SNAPSHOTS_DIR).join(&entry.folder);
            (depth == Depth::Deep)
                .then(|| deep_disagreement(&dir))
                .flatten()
                .map(|why| format!("snapshot {} (ledger line {n}): {why}", entry.folder))
        })
    };
    let bar = crate::steps::progress(entries.len() as u64, "hashing snapshots");
    let next = AtomicUsize::new(0);
    let first: Mutex<Option<(usize, String)>> = Mutex::new(None);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(entries.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let found_before = |first: &Option<(usize, String)>| {
                        first.as_ref().is_some_and(|(at, _)| *at < i)
                    };
                    if i >= entries.len() || found_before(&first.lock().unwrap()) {
                        break;
                    }
                    let failed = check(i);
                    bar.inc(1);
                    if let Some(why) = failed {
                        let mut first = first.lock().unwrap();
                        if !found_before(&first) {
                            *first = Some((i, why));
                        }
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    first.into_inner().unwrap()
}

/// What a snapshot says of itself, read to check the ledger line that records it.
#[derive(Deserialize)]
struct SnapshotHead {
    tenant: TenantHead,
    #[serde(with = "crate::time::secs")]
    collected_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct TenantHead {
    id: String,
}

/// A ledger line's own fields must agree with the (verified) snapshot it records: no later line
/// chains to the last one, so an edit of it is only visible here.
fn line_disagrees(tenant_dir: &Path, entry: &LedgerEntry, n: u64) -> Option<String> {
    let dir = tenant_dir.join(SNAPSHOTS_DIR).join(&entry.folder);
    let head = match Format::of(&dir) {
        Format::Compact => record::read_head(&dir).map(|h| SnapshotHead {
            tenant: TenantHead { id: h.tenant.id },
            collected_at: h.collected_at,
        }),
        Format::Plain => File::open(dir.join(SNAPSHOT_FILE))
            .map_err(anyhow::Error::from)
            .and_then(|f| {
                Ok(serde_json::from_reader(BufReader::with_capacity(
                    1 << 20,
                    f,
                ))?)
            }),
    };
    let head: SnapshotHead = match head {
        Ok(h) => h,
        Err(e) => return Some(format!("snapshot {} (ledger line {n}): {e}", entry.folder)),
    };
    if head.collected_at != entry.collected_at || head.tenant.id != entry.tenant_id {
        return Some(format!(
            "ledger line {n} records {} at {} but its snapshot {} holds {} at {}: the line was edited",
            entry.tenant_id,
            secs_text(entry.collected_at),
            entry.folder,
            head.tenant.id,
            secs_text(head.collected_at)
        ));
    }
    None
}

fn read_ledger(tenant_dir: &Path) -> Result<Vec<StoredSnapshot>> {
    Ok(ledger::read_lines(tenant_dir)?
        .into_iter()
        .map(|line| StoredSnapshot {
            dir: tenant_dir.join(SNAPSHOTS_DIR).join(&line.entry.folder),
            line_sha256: line.sha256,
            entry: line.entry,
        })
        .collect())
}

/// History is append-only and in collection order: a snapshot not later than the newest stored
/// one is refused.
fn refuse_not_later(head: &LedgerEntry, snapshot: &Snapshot) -> Result<()> {
    if head.collected_at >= snapshot.collected_at {
        bail!(
            "the store already holds a snapshot of {} collected at {}, not before this one ({}): history is append-only, so import exports oldest first",
            snapshot.tenant.id,
            secs_text(head.collected_at),
            secs_text(snapshot.collected_at)
        );
    }
    Ok(())
}

/// Removes `.tmp-*` folders left by interrupted writes (called under the lock).
fn remove_leftovers(tenant_dir: &Path) -> Result<()> {
    for entry in fs::read_dir(tenant_dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            fs::remove_dir_all(entry.path()).with_context(|| {
                format!("cannot remove the leftover {}", entry.path().display())
            })?;
        }
    }
    Ok(())
}

/// Writes a compact folder into `dir` (raw/*.zst, the record, SHA256SUMS), fsynced. Returns
/// the snapshot's hash.
fn write_snapshot_dir(dir: &Path, imported: &Imported) -> Result<String> {
    let raw = dir.join(RAW_DIR);
    create_private_dir_all(&raw)?;
    let mut pages = Vec::new();
    let mut sums: Vec<(String, String)> = Vec::new();
    // The record's body is encoded on one core while the pages are compressed on the others;
    // the head, which lists the pages, is written once they are.
    let (written, body) = std::thread::scope(|scope| {
        let body = scope.spawn(|| record::write_body(dir, &imported.snapshot));
        let written = layout::write_raw(&raw, &imported.files);
        (written, body.join().expect("the encoder panicked"))
    });
    for (page, stored_sha256) in written? {
        sums.push((format!("{RAW_DIR}/{}.zst", page.name), stored_sha256));
        pages.push(page);
    }
    sync_dir(&raw)?;
    pages.sort_by(|a, b| a.name.cmp(&b.name));
    let (body, body_sha256) = body?;
    let head = record::write_head(dir, &imported.snapshot, pages, body_sha256)?;
    sums.push((record::HEAD_FILE.to_string(), head));
    sums.push((record::BODY_FILE.to_string(), body));
    let text = Sha256Sums::new(sums).to_text();
    let mut f = create_private_file(&dir.join(SUMS_FILE))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    sync_dir(dir)?;
    Ok(sha256_hex(text.as_bytes()))
}

/// Why a verified folder's stored form disagrees with its raw pages, if it does.
fn deep_disagreement(dir: &Path) -> Option<String> {
    let compared = derive(dir).and_then(|(derived, _, basis)| difference(dir, &basis, &derived));
    match compared {
        Ok(None) => None,
        Ok(Some(part)) => Some(format!(
            "its {} disagrees with its raw pages ({part})",
            stored_form(Format::of(dir))
        )),
        Err(e) => Some(format!("{e:#}")),
    }
}

/// Checks a stored snapshot folder against its ledger hash; says which file differs.
fn check_snapshot_dir(dir: &Path, expected: &str) -> std::result::Result<(), String> {
    let sums = fs::read_to_string(dir.join(SUMS_FILE)).map_err(|_| {
        "the snapshot folder or its SHA256SUMS is missing: it was deleted".to_string()
    })?;
    let mut listed = std::collections::BTreeSet::new();
    let parsed = Sha256Sums::parse(&sums).map_err(|_| "SHA256SUMS is malformed".to_string())?;
    for (path, hash) in parsed.entries() {
        listed.insert(path.clone());
        let actual = hash_file(&dir.join(path)).map_err(|_| format!("{path} is missing"))?;
        if actual != *hash {
            return Err(format!(
                "{path} was changed (SHA-256 {actual}, recorded {hash})"
            ));
        }
    }
    let mut present = Vec::new();
    list_files(dir, dir, &mut present).map_err(|e| e.to_string())?;
    for path in present {
        if path != SUMS_FILE && !listed.contains(&path) {
            return Err(format!("{path} was added after the snapshot was stored"));
        }
    }
    if sha256_hex(sums.as_bytes()) != expected {
        return Err("SHA256SUMS differs from the hash the ledger recorded".into());
    }
    Ok(())
}

impl Store {
    /// `<tenant>/timestamps/<sequence>.tsr`: the RFC 3161 token of a ledger line, when it has one.
    pub fn token_path(&self, tenant_id: &str, sequence: u64) -> Result<PathBuf> {
        Ok(self
            .tenant_dir(tenant_id)?
            .join(TIMESTAMPS_DIR)
            .join(format!("{sequence:06}.tsr")))
    }

    /// Stores a line's token, written aside and renamed: a token file is whole or absent.
    pub fn write_token(&self, tenant_id: &str, sequence: u64, der: &[u8]) -> Result<()> {
        let path = self.token_path(tenant_id, sequence)?;
        let dir = path.parent().context("a token path has a folder")?;
        create_private_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = dir.join(format!(".tmp-{sequence:06}.tsr"));
        let mut f =
            create_private_file(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(der)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
            .with_context(|| format!("cannot move the token into {}", path.display()))?;
        sync_dir(dir)?;
        match &self.remote {
            Some(remote) => remote.put_token(tenant_id, sequence, der),
            None => Ok(()),
        }
    }

    /// The ledger's complete lines, as stored (without their newlines).
    pub fn ledger_lines(&self, tenant_id: &str) -> Result<Vec<String>> {
        if let Some(remote) = &self.remote {
            remote.sync_ledger(tenant_id)?;
        }
        ledger::lines(&self.tenant_dir(tenant_id)?)
    }

    /// The ledger's first `through` lines, byte for byte, each with its newline: what a package
    /// carries of the history.
    pub fn ledger_bytes(&self, tenant_id: &str, through: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for line in self.ledger_lines(tenant_id)?.iter().take(through as usize) {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        Ok(out)
    }
}
