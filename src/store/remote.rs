//! The store on object storage (`[store] url = "az://..."` or `"s3://..."`): the same history as
//! a folder, for runners that share no disk and hold no lock.
//!
//! ```text
//! <prefix>/<tenant-id>/
//!   ledger/000001.jsonl               one ledger line each, written create-only
//!   snapshots/<time>-<sha16>/...      a snapshot folder's files, named by collection time and hash
//!   timestamps/000001.tsr             a line's RFC 3161 token, create-only
//!   notifications/<sha16>.jsonl       the alerts one run delivered
//! ```
//! Every object is written create-only (`If-None-Match: *`) and never deleted or replaced. A
//! snapshot's files go up first, under a name no racing runner can take from it (its collection
//! time and the SHA-256 its ledger line records); the ledger line that makes it count goes last,
//! as an object of its own named by its sequence. When two runners append at once, one line
//! object wins; the other reads the new head and chains after it when its collection is the
//! later one (re-signed), and is refused otherwise, so the history stays in collection order and
//! no sequence is repeated or skipped. Snapshot files without a line (a run that stopped between
//! the two) never count; `store verify` lists them.
//!
//! Everything else reads a working copy: a temporary folder laid out as a local store, filled
//! from the objects as a command needs them, so the chain, hashes and records are checked by the
//! same code for both.

use std::path::Path;

use anyhow::{Context, Result, bail};
use futures_util::{StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::ledger::{self, LEDGER_FILE, LedgerEntry};
use super::{SNAPSHOTS_DIR, StoredSnapshot, TIMESTAMPS_DIR, write_snapshot_dir};
use crate::config::ObjectUrl;
use crate::digest::{SUMS_FILE, sha256_hex};
use crate::files::{create_private_dir_all, list_files, write_private};
use crate::objects::{self, StorageEnv, create_only, object_path};
use crate::snapshot::Imported;
use crate::time::secs_text;

const LEDGER_OBJECTS: &str = "ledger";
const NOTIFICATIONS_OBJECTS: &str = "notifications";
/// Transfers in flight at once: enough to hide the round trips, few enough for a small runner.
const IN_FLIGHT: usize = 8;
/// How often an append re-reads the head after losing a race before it gives up: each loss
/// means another runner's line was appended, so this bounds a burst, not a normal run.
const MAX_RACES: usize = 50;

/// What a create-only put found.
enum Put {
    Created,
    /// The same bytes were already there (a retried request that had gone through, or a rerun).
    Same,
    /// Other bytes are there: another runner wrote the object first.
    Taken,
}

/// A store on object storage and its working copy.
pub(super) struct Remote {
    url: ObjectUrl,
    env: StorageEnv,
    client: Box<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    work: tempfile::TempDir,
}

impl Remote {
    pub fn open(url: &ObjectUrl, env: StorageEnv) -> Result<Remote> {
        let client = objects::open(url, &env)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime for the object store")?;
        let work = tempfile::Builder::new()
            .prefix("mfa-evidence-store-")
            .tempdir()
            .context("cannot create the store's working folder in the temporary folder")?;
        Ok(Remote {
            url: url.clone(),
            env,
            client,
            runtime,
            work,
        })
    }

    /// The working copy's root: the tenant folders of a local store.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    pub fn url(&self) -> &ObjectUrl {
        &self.url
    }

    fn location(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }

    fn fail(&self, what: &str, rel: &str, e: object_store::Error) -> anyhow::Error {
        objects::fail(what, &self.location(rel), &self.url, &self.env, e)
    }

    /// The names directly under `rel/` (objects, and folders with a trailing `/`), relative to
    /// the URL's prefix.
    async fn list(&self, rel: &str) -> Result<(Vec<String>, Vec<String>)> {
        let prefix = object_path(&self.url.object_name(rel))?;
        let listed = self
            .client
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(|e| self.fail("cannot list", rel, e))?;
        let name =
            |p: &object_store::path::Path| p.filename().map(str::to_string).unwrap_or_default();
        Ok((
            listed.objects.iter().map(|o| name(&o.location)).collect(),
            listed.common_prefixes.iter().map(name).collect(),
        ))
    }

    /// Every object under `rel/`, at any depth, relative to `rel`.
    async fn list_all(&self, rel: &str) -> Result<Vec<String>> {
        let prefix = object_path(&self.url.object_name(rel))?;
        let base = format!("{}/", prefix.as_ref());
        let metas: Vec<object_store::ObjectMeta> = self
            .client
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.fail("cannot list", rel, e))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| m.location.as_ref().strip_prefix(&base).map(str::to_string))
            .collect())
    }

    async fn get(&self, rel: &str) -> Result<Vec<u8>> {
        let path = object_path(&self.url.object_name(rel))?;
        let fail = |e| self.fail("cannot read", rel, e);
        let bytes = self.client.get(&path).await.map_err(fail)?.bytes().await;
        Ok(bytes.map_err(fail)?.to_vec())
    }

    async fn put_create(&self, rel: &str, bytes: Vec<u8>) -> Result<Put> {
        let path = object_path(&self.url.object_name(rel))?;
        let ours = sha256_hex(&bytes);
        match self
            .client
            .put_opts(&path, PutPayload::from(bytes), create_only())
            .await
        {
            Ok(_) => Ok(Put::Created),
            Err(object_store::Error::AlreadyExists { .. }) => {
                let theirs = sha256_hex(&self.get(rel).await?);
                Ok(if theirs == ours {
                    Put::Same
                } else {
                    Put::Taken
                })
            }
            Err(e) => Err(self.fail(crate::objects::UPLOAD, rel, e)),
        }
    }

    /// The tenants with a ledger line, sorted.
    pub fn tenants(&self) -> Result<Vec<String>> {
        self.runtime.block_on(async {
            let (_, folders) = self.list("").await?;
            let mut out = Vec::new();
            for tenant in folders {
                let (lines, _) = self.list(&format!("{tenant}/{LEDGER_OBJECTS}")).await?;
                if lines.iter().any(|l| line_number(l).is_some()) {
                    out.push(tenant);
                }
            }
            out.sort();
            Ok(out)
        })
    }

    /// Brings the tenant's ledger lines and tokens into the working copy (lines are immutable,
    /// so those already there are not read again). The ledger file is the lines in sequence
    /// order: a missing or extra line object shows as a break when the chain is walked.
    pub fn sync_ledger(&self, tenant: &str) -> Result<()> {
        let dir = self.work_dir().join(tenant);
        create_private_dir_all(&dir.join(SNAPSHOTS_DIR))?;
        self.runtime.block_on(async {
            let (names, _) = self.list(&format!("{tenant}/{LEDGER_OBJECTS}")).await?;
            let mut numbered: Vec<(u64, String)> = names
                .into_iter()
                .filter_map(|n| line_number(&n).map(|k| (k, n)))
                .collect();
            numbered.sort();
            let held = std::fs::read(dir.join(LEDGER_FILE)).unwrap_or_default();
            let held_lines = held.iter().filter(|&&b| b == b'\n').count();
            let missing: Vec<String> = numbered
                .iter()
                .skip(held_lines)
                .map(|(_, n)| format!("{tenant}/{LEDGER_OBJECTS}/{n}"))
                .collect();
            let fetched: Vec<Vec<u8>> = futures_util::stream::iter(missing.iter())
                .map(|rel| self.get(rel))
                .buffered(IN_FLIGHT)
                .try_collect()
                .await?;
            let mut text = held;
            for line in fetched {
                text.extend_from_slice(&line);
            }
            write_private(&dir.join(LEDGER_FILE), &text)
                .with_context(|| format!("cannot write the working copy in {}", dir.display()))?;
            self.fetch_folder(
                &format!("{tenant}/{TIMESTAMPS_DIR}"),
                &dir.join(TIMESTAMPS_DIR),
            )
            .await
        })
    }

    /// Downloads every object under `rel/` into `local`, skipping files already there.
    async fn fetch_folder(&self, rel: &str, local: &Path) -> Result<()> {
        let names = self.list_all(rel).await?;
        futures_util::stream::iter(names.iter())
            .map(|name| async move {
                let file = local.join(name);
                if file.is_file() {
                    return Ok(());
                }
                let bytes = self.get(&format!("{rel}/{name}")).await?;
                if let Some(parent) = file.parent() {
                    create_private_dir_all(parent)?;
                }
                write_private(&file, &bytes)
                    .with_context(|| format!("cannot write {}", file.display()))
            })
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Downloads the folders of the lines' snapshots into the working copy, each into the
    /// folder given (those already there are not read again).
    pub fn fetch_snapshots<'a>(
        &self,
        snapshots: impl IntoIterator<Item = (&'a LedgerEntry, &'a Path)>,
    ) -> Result<()> {
        self.runtime.block_on(async {
            for (entry, dir) in snapshots {
                if dir.join(SUMS_FILE).is_file() {
                    continue;
                }
                self.fetch_folder(&snapshot_objects(entry), dir).await?;
            }
            Ok(())
        })
    }

    /// Downloads the tenant's notification records into the working copy's record file.
    pub fn fetch_notifications(&self, tenant: Option<&str>, record: &Path) -> Result<()> {
        let rel = match tenant {
            Some(t) => format!("{t}/{NOTIFICATIONS_OBJECTS}"),
            None => NOTIFICATIONS_OBJECTS.to_string(),
        };
        self.runtime.block_on(async {
            let (mut names, _) = self.list(&rel).await?;
            names.sort();
            let mut text = Vec::new();
            for name in names {
                text.extend(self.get(&format!("{rel}/{name}")).await?);
            }
            if let Some(parent) = record.parent() {
                create_private_dir_all(parent)?;
            }
            write_private(record, &text)
                .with_context(|| format!("cannot write {}", record.display()))
        })
    }

    /// The snapshot folders on the object store that no ledger line names: uploads of runs that
    /// stopped before their line, which never counted. Listed, never deleted.
    pub fn unlisted_snapshots(&self, tenant: &str, entries: &[LedgerEntry]) -> Result<Vec<String>> {
        let named: std::collections::BTreeSet<String> =
            entries.iter().map(snapshot_folder).collect();
        self.runtime.block_on(async {
            let (_, folders) = self.list(&format!("{tenant}/{SNAPSHOTS_DIR}")).await?;
            Ok(folders.into_iter().filter(|f| !named.contains(f)).collect())
        })
    }

    /// Stores a snapshot: its files create-only under their content name, then its ledger line
    /// as the next line object, re-chained when another runner appended first.
    pub fn add(
        &self,
        imported: &Imported,
        signer: Option<&crate::attest::Signer>,
    ) -> Result<StoredSnapshot> {
        let snapshot = &imported.snapshot;
        let tenant = snapshot.tenant.id.as_str();
        let tenant_dir = self.work_dir().join(tenant);
        self.sync_ledger(tenant)?;
        let mut lines = ledger::read_lines(&tenant_dir)?;
        if let Some(head) = lines.last() {
            super::refuse_not_later(&head.entry, snapshot)?;
        }

        let time = snapshot.collected_at.format("%Y%m%dT%H%M%SZ");
        let staged = tenant_dir.join(format!(".tmp-{time}"));
        let snapshot_sha256 = write_snapshot_dir(&staged, imported)
            .with_context(|| format!("cannot write the snapshot into {}", staged.display()))?;
        let mut entry = LedgerEntry {
            sequence: 0,
            folder: String::new(),
            tenant_id: tenant.to_string(),
            collected_at: snapshot.collected_at,
            snapshot_sha256,
            prev_line_sha256: String::new(),
            recorded_by: crate::tool_id(),
            signature: None,
        };
        let objects_rel = snapshot_objects(&entry);
        self.runtime
            .block_on(self.upload_folder(&staged, &objects_rel))?;

        for _ in 0..MAX_RACES {
            entry.sequence = lines.last().map_or(1, |l| l.entry.sequence + 1);
            entry.folder = format!("{:06}-{time}", entry.sequence);
            entry.prev_line_sha256 = lines
                .last()
                .map_or(super::GENESIS.to_string(), |l| l.sha256.clone());
            ledger::sign(&mut entry, signer)?;
            let line = serde_json::to_string(&entry)?;
            let rel = line_object(tenant, entry.sequence);
            let put = self
                .runtime
                .block_on(self.put_create(&rel, format!("{line}\n").into_bytes()))
                .map_err(|e| {
                    e.context(format!(
                        "the snapshot's files are at {} but its ledger line could not be written, so it does not count; run again",
                        self.location(&objects_rel)
                    ))
                })?;
            match put {
                Put::Created | Put::Same => {
                    let dir = tenant_dir.join(SNAPSHOTS_DIR).join(&entry.folder);
                    std::fs::rename(&staged, &dir).with_context(|| {
                        format!("cannot move the snapshot into {}", dir.display())
                    })?;
                    let mut text = std::fs::read(tenant_dir.join(LEDGER_FILE)).unwrap_or_default();
                    text.extend_from_slice(format!("{line}\n").as_bytes());
                    write_private(&tenant_dir.join(LEDGER_FILE), &text)?;
                    return Ok(StoredSnapshot {
                        line_sha256: sha256_hex(line.as_bytes()),
                        dir,
                        entry,
                    });
                }
                Put::Taken => {
                    // Another runner's line took this sequence: read what it appended.
                    tracing::info!(
                        "ledger line {} of {tenant} was written by another run first: reading the new head",
                        entry.sequence
                    );
                    self.sync_ledger(tenant)?;
                    lines = ledger::read_lines(&tenant_dir)?;
                    let head = &lines.last().context("the ledger lost its lines")?.entry;
                    if head.collected_at >= snapshot.collected_at {
                        bail!(
                            "another run stored a snapshot of {tenant} collected at {} (ledger line {}) while this one stored its own, collected at {}: history stays in collection order, so this later-arriving, earlier snapshot is refused. Its files at {} never count (store verify lists them)",
                            secs_text(head.collected_at),
                            head.sequence,
                            secs_text(snapshot.collected_at),
                            self.location(&objects_rel)
                        );
                    }
                }
            }
        }
        bail!(
            "{} was appended to by other runs {MAX_RACES} times while this one tried: its snapshot files at {} do not count; run again",
            self.location(tenant),
            self.location(&objects_rel)
        )
    }

    /// Uploads a written snapshot folder, its `SHA256SUMS` last: files already there with the
    /// same bytes are fine (a rerun of the same snapshot), other bytes are refused.
    async fn upload_folder(&self, dir: &Path, rel: &str) -> Result<()> {
        let mut files = Vec::new();
        list_files(dir, dir, &mut files)?;
        files.retain(|f| f != SUMS_FILE);
        files.push(SUMS_FILE.to_string());
        let (sums, pages) = files.split_last().expect("SHA256SUMS is listed");
        futures_util::stream::iter(pages.iter())
            .map(|name| self.upload_file(dir, rel, name))
            .buffer_unordered(IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        self.upload_file(dir, rel, sums).await
    }

    async fn upload_file(&self, dir: &Path, rel: &str, name: &str) -> Result<()> {
        let path = dir.join(name);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let object = format!("{rel}/{name}");
        match self.put_create(&object, bytes).await? {
            Put::Created | Put::Same => Ok(()),
            Put::Taken => bail!(
                "{} already holds other bytes: an object of the store is never overwritten; run `mfa-evidence store verify`",
                self.location(&object)
            ),
        }
    }

    /// A line's token, create-only: a token another run stored first for the same line is kept.
    pub fn put_token(&self, tenant: &str, sequence: u64, der: &[u8]) -> Result<()> {
        let rel = format!("{tenant}/{TIMESTAMPS_DIR}/{sequence:06}.tsr");
        self.runtime.block_on(self.put_create(&rel, der.to_vec()))?;
        Ok(())
    }

    /// The lines one run added to a notification record, as an object of their own.
    pub fn put_notifications(&self, tenant: Option<&str>, lines: &[u8]) -> Result<()> {
        let name = format!("{}.jsonl", &sha256_hex(lines)[..16]);
        let rel = match tenant {
            Some(t) => format!("{t}/{NOTIFICATIONS_OBJECTS}/{name}"),
            None => format!("{NOTIFICATIONS_OBJECTS}/{name}"),
        };
        self.runtime
            .block_on(self.put_create(&rel, lines.to_vec()))?;
        Ok(())
    }
}

/// A ledger line object's number: `000042.jsonl` is line 42.
fn line_number(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".jsonl")?;
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

fn line_object(tenant: &str, sequence: u64) -> String {
    format!("{tenant}/{LEDGER_OBJECTS}/{sequence:06}.jsonl")
}

/// The folder name of a line's snapshot on object storage: its collection time and the first
/// 16 hex digits of its hash, neither of which depends on the sequence a race may change.
fn snapshot_folder(entry: &LedgerEntry) -> String {
    format!(
        "{}-{}",
        entry.collected_at.format("%Y%m%dT%H%M%SZ"),
        &entry.snapshot_sha256[..16.min(entry.snapshot_sha256.len())]
    )
}

fn snapshot_objects(entry: &LedgerEntry) -> String {
    format!(
        "{}/{SNAPSHOTS_DIR}/{}",
        entry.tenant_id,
        snapshot_folder(entry)
    )
}
