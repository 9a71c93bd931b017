//! The compact record: per snapshot, exactly what evaluation reads, so a period never parses
//! Graph JSON again. Two files, both listed in the folder's `SHA256SUMS` (so hashed when they are
//! written and checked by every `store verify`):
//!
//! - `record.json`, the head: tenant, collection time, the collection record, and every raw page
//!   with its size and the SHA-256 of its uncompressed bytes (what Graph returned, and what a
//!   package's `raw/` holds). Small: `store verify` reads it to check the ledger line.
//! - `record.bin.zst`, the body: users, registration rows, break-glass members, audit events and
//!   policies, in postcard (a compact serde binary form), zstd-compressed.
//!
//! The record is derived from the raw pages by the import at write time; `store verify --deep`
//! derives it again and compares.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::HashingWriter;
use crate::files::create_private_file;
use crate::snapshot::{
    AuditEvent, AuthMethodsPolicy, CollectionRecord, ConditionalAccessPolicy, GroupMember,
    Registration, Snapshot, Tenant, User,
};

pub(super) const HEAD_FILE: &str = "record.json";
pub(super) const BODY_FILE: &str = "record.bin.zst";
/// Bumped whenever the body's encoding changes: postcard carries no field names.
const RECORD_FORMAT: u32 = 1;
/// zstd level of the body and the raw pages: several times smaller than the JSON, and fast.
pub(super) const ZSTD_LEVEL: i32 = 3;

/// One raw page as Graph returned it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawPage {
    /// The page's name in the import layout, e.g. `users-0001.json`.
    pub name: String,
    /// Its uncompressed size and SHA-256.
    pub size: u64,
    pub sha256: String,
}

/// `record.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Head {
    pub record_format: u32,
    pub schema_version: u32,
    pub tenant: Tenant,
    #[serde(with = "crate::time::secs")]
    pub collected_at: DateTime<Utc>,
    pub collection: CollectionRecord,
    /// Sorted by name.
    pub raw: Vec<RawPage>,
    /// SHA-256 of the body's uncompressed bytes: a snapshot derived again from the pages
    /// agrees with the body when its encoding has this hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
}

impl Head {
    /// The head's own fields agree with `snapshot`'s.
    pub fn agrees_with(&self, snapshot: &Snapshot) -> bool {
        self.schema_version == snapshot.schema_version
            && self.tenant == snapshot.tenant
            && self.collected_at == snapshot.collected_at
            && self.collection == snapshot.collection
    }
}

#[derive(Serialize)]
struct BodyRef<'a> {
    users: &'a [User],
    registrations: &'a [Registration],
    break_glass_members: &'a Option<Vec<GroupMember>>,
    audit_events: &'a Option<Vec<AuditEvent>>,
    auth_methods_policy: &'a Option<AuthMethodsPolicy>,
    conditional_access: &'a Option<Vec<ConditionalAccessPolicy>>,
}

#[derive(Deserialize)]
struct Body {
    users: Vec<User>,
    registrations: Vec<Registration>,
    break_glass_members: Option<Vec<GroupMember>>,
    audit_events: Option<Vec<AuditEvent>>,
    auth_methods_policy: Option<AuthMethodsPolicy>,
    conditional_access: Option<Vec<ConditionalAccessPolicy>>,
}

/// Writes `record.json` into `dir`, fsynced; returns its SHA-256.
pub(super) fn write_head(
    dir: &Path,
    snapshot: &Snapshot,
    raw: Vec<RawPage>,
    body_sha256: String,
) -> Result<String> {
    let head = Head {
        record_format: RECORD_FORMAT,
        schema_version: snapshot.schema_version,
        tenant: snapshot.tenant.clone(),
        collected_at: snapshot.collected_at,
        collection: snapshot.collection.clone(),
        raw,
        body_sha256: Some(body_sha256),
    };
    let head_bytes = serde_json::to_vec_pretty(&head)?;
    let head_file = dir.join(HEAD_FILE);
    crate::files::write_private(&head_file, &head_bytes)?;
    File::open(&head_file)?.sync_all()?;
    Ok(crate::digest::sha256_hex(&head_bytes))
}

impl<'a> BodyRef<'a> {
    fn of(snapshot: &'a Snapshot) -> BodyRef<'a> {
        BodyRef {
            users: &snapshot.users,
            registrations: &snapshot.registrations,
            break_glass_members: &snapshot.break_glass_members,
            audit_events: &snapshot.audit_events,
            auth_methods_policy: &snapshot.auth_methods_policy,
            conditional_access: &snapshot.conditional_access,
        }
    }
}

/// Writes `record.bin.zst` into `dir`, streamed and fsynced; returns the SHA-256 of the file
/// and of the uncompressed body.
pub(super) fn write_body(dir: &Path, snapshot: &Snapshot) -> Result<(String, String)> {
    let stored = HashingWriter::new(BufWriter::with_capacity(
        1 << 20,
        create_private_file(&dir.join(BODY_FILE))?,
    ));
    let mut plain = HashingWriter::new(zstd::stream::Encoder::new(stored, ZSTD_LEVEL)?);
    postcard::to_io(&BodyRef::of(snapshot), &mut plain)
        .context("cannot encode the compact record")?;
    let (encoder, body_sha256) = plain.finish();
    let (file, file_sha256) = encoder.finish()?.finish();
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok((file_sha256, body_sha256))
}

/// SHA-256 of the stored body's uncompressed bytes, streamed.
pub(super) fn stored_body_sha256(dir: &Path) -> Result<String> {
    let path = dir.join(BODY_FILE);
    let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut decoder = zstd::stream::Decoder::new(BufReader::with_capacity(1 << 20, file))?;
    let mut out = HashingWriter::new(std::io::sink());
    std::io::copy(&mut decoder, &mut out)
        .with_context(|| format!("{} does not decompress", path.display()))?;
    Ok(out.finish().1)
}

/// SHA-256 of `snapshot`'s body as [`write_body`] encodes it, computed without keeping it.
pub(super) fn body_sha256(snapshot: &Snapshot) -> Result<String> {
    let mut out = HashingWriter::new(std::io::sink());
    postcard::to_io(&BodyRef::of(snapshot), &mut out)
        .context("cannot encode the compact record")?;
    Ok(out.finish().1)
}

/// Reads `record.json` of a snapshot folder.
pub(super) fn read_head(dir: &Path) -> Result<Head> {
    let path = dir.join(HEAD_FILE);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read {}: run `mfa-evidence store verify`",
            path.display()
        )
    })?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a readable record head", path.display()))
}

/// Reads the whole record back into a snapshot.
pub(super) fn read(dir: &Path) -> Result<Snapshot> {
    let head = read_head(dir)?;
    if head.record_format != RECORD_FORMAT {
        anyhow::bail!(
            "{} is of record format {}, which this version does not read: use the version that wrote it",
            dir.join(HEAD_FILE).display(),
            head.record_format
        );
    }
    let path = dir.join(BODY_FILE);
    let mut bytes = Vec::new();
    zstd::stream::Decoder::new(BufReader::with_capacity(
        1 << 20,
        File::open(&path).with_context(|| format!("cannot open {}", path.display()))?,
    ))
    .and_then(|mut d| d.read_to_end(&mut bytes))
    .with_context(|| format!("{} does not decompress", path.display()))?;
    let body: Body = postcard::from_bytes(&bytes)
        .with_context(|| format!("{} is not a readable compact record", path.display()))?;
    drop(bytes);
    Ok(Snapshot {
        schema_version: head.schema_version,
        tenant: head.tenant,
        collected_at: head.collected_at,
        collection: head.collection,
        users: body.users,
        registrations: body.registrations,
        break_glass_members: body.break_glass_members,
        audit_events: body.audit_events,
        auth_methods_policy: body.auth_methods_policy,
        conditional_access: body.conditional_access,
    })
}
