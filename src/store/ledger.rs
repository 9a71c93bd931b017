//! The ledger: `ledger.jsonl`, one JSON line per snapshot, each chained to the line before it
//! by that line's SHA-256 (the first to [`GENESIS`]). This module owns the line format, reading
//! and appending lines, walking the chain, and the repair of a line an interrupted append left
//! torn. What a line records (a snapshot folder and its hash) is checked by the store itself.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::sha256_hex;
use crate::files::private_options;

pub(super) const LEDGER_FILE: &str = "ledger.jsonl";
/// The `prev_line_sha256` of the first ledger line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One ledger line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub sequence: u64,
    pub folder: String,
    pub tenant_id: String,
    #[serde(with = "crate::time::secs")]
    pub collected_at: DateTime<Utc>,
    pub snapshot_sha256: String,
    pub prev_line_sha256: String,
    pub recorded_by: String,
    /// An SSH signature (one line, `attest::signing`) over this line's bytes without this
    /// field, when a signing key was configured; absent lines are byte-identical to before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A parsed ledger line and the SHA-256 of its bytes (without the newline).
pub(super) struct Line {
    pub entry: LedgerEntry,
    pub sha256: String,
}

/// The ledger's lines, parsed but not verified; none when there is no ledger yet.
pub(super) fn read_lines(tenant_dir: &Path) -> Result<Vec<Line>> {
    let path = tenant_dir.join(LEDGER_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read the ledger {}", path.display()));
        }
    };
    let mut out = Vec::new();
    for (i, line) in complete_lines(&text).into_iter().enumerate() {
        let entry: LedgerEntry = serde_json::from_str(line).with_context(|| {
            format!(
                "ledger {} line {} is damaged: run `mfa-evidence store verify`",
                path.display(),
                i + 1
            )
        })?;
        out.push(Line {
            sha256: sha256_hex(line.as_bytes()),
            entry,
        });
    }
    Ok(out)
}

/// Signs a new line with `signer` when given: the signature covers the line's bytes without it.
pub(super) fn sign(entry: &mut LedgerEntry, signer: Option<&crate::attest::Signer>) -> Result<()> {
    if let Some(signer) = signer {
        entry.signature = None;
        let unsigned = serde_json::to_string(&*entry)?;
        entry.signature = Some(signer.sign_line(unsigned.as_bytes())?);
    }
    Ok(())
}

/// The ledger's complete lines, as stored (without their newlines).
pub(super) fn lines(tenant_dir: &Path) -> Result<Vec<String>> {
    let path = tenant_dir.join(LEDGER_FILE);
    let text = fs::read_to_string(&path)
        .with_context(|| format!("cannot read the ledger {}", path.display()))?;
    Ok(complete_lines(&text)
        .into_iter()
        .map(str::to_string)
        .collect())
}

/// Appends one line, fsynced (under the tenant's lock). Returns the line's SHA-256.
pub(super) fn append(tenant_dir: &Path, entry: &LedgerEntry) -> Result<String> {
    let line = serde_json::to_string(entry)?;
    let mut ledger_file = private_options()
        .create(true)
        .append(true)
        .open(tenant_dir.join(LEDGER_FILE))
        .with_context(|| format!("cannot open the ledger in {}", tenant_dir.display()))?;
    ledger_file.write_all(format!("{line}\n").as_bytes())?;
    ledger_file.sync_all()?;
    Ok(sha256_hex(line.as_bytes()))
}

/// The ledger read for `store verify`: the lines that chain, and the first that does not.
pub(super) struct Chain {
    /// The lines 1, 2, ... up to the first break, each chaining to the one before.
    pub entries: Vec<LedgerEntry>,
    /// The SHA-256 of each of those lines.
    pub line_sha256: Vec<String>,
    /// The signed lines among them, and the key that signed them.
    pub signatures: crate::attest::LineSignatures,
    /// Every folder a line names (the breaking line's included).
    pub listed: BTreeSet<String>,
    /// The first line that does not hold, in words.
    pub broken: Option<String>,
    /// The ledger ends with part of a line (an interrupted append).
    pub torn: bool,
    /// The ledger's last line is whole but has no newline.
    pub unterminated: bool,
}

/// Reads and walks a tenant's chain, line by line, in order, each signature checked (by
/// `expected`, or else by the key of the first signed line). It stops at the first line that
/// does not hold.
pub(super) fn walk_chain(
    tenant_dir: &Path,
    tenant_id: &str,
    expected: Option<ssh_key::PublicKey>,
) -> Result<Chain> {
    let ledger_path = tenant_dir.join(LEDGER_FILE);
    let text = fs::read_to_string(&ledger_path)
        .with_context(|| format!("cannot read the ledger {}", ledger_path.display()))?;
    let torn = torn_tail(&text).is_some();
    let mut chain = Chain {
        entries: Vec::new(),
        line_sha256: Vec::new(),
        signatures: crate::attest::LineSignatures::new(expected),
        listed: BTreeSet::new(),
        broken: None,
        torn,
        unterminated: !text.is_empty() && !text.ends_with('\n') && !torn,
    };
    let mut prev = GENESIS.to_string();
    for (i, line) in complete_lines(&text).into_iter().enumerate() {
        let n = i as u64 + 1;
        let entry: LedgerEntry = match serde_json::from_str(line) {
            Ok(e) => e,
            Err(e) => {
                chain.broken = Some(format!("ledger line {n} is not a valid ledger entry ({e})"));
                break;
            }
        };
        chain.listed.insert(entry.folder.clone());
        chain.broken = if entry.sequence != n {
            Some(format!(
                "ledger line {n} carries sequence {}: a line was removed or reordered",
                entry.sequence
            ))
        } else if entry.prev_line_sha256 != prev {
            Some(format!(
                "ledger line {n} does not chain to line {}: an earlier line was changed or removed",
                n - 1
            ))
        } else if entry.tenant_id != tenant_id {
            Some(format!("ledger line {n} names tenant {}", entry.tenant_id))
        } else {
            chain.signatures.check(n, line, &entry).err()
        };
        if chain.broken.is_some() {
            break;
        }
        prev = sha256_hex(line.as_bytes());
        chain.line_sha256.push(prev.clone());
        chain.entries.push(entry);
    }
    Ok(chain)
}

/// The part of an unterminated last line that is not a whole ledger entry: an append cut short
/// by a crash. It never counted.
fn torn_tail(text: &str) -> Option<&str> {
    if text.is_empty() || text.ends_with('\n') {
        return None;
    }
    let tail = text.rsplit('\n').next().unwrap_or(text);
    serde_json::from_str::<LedgerEntry>(tail)
        .is_err()
        .then_some(tail)
}

/// The ledger's lines without a torn tail.
fn complete_lines(text: &str) -> Vec<&str> {
    let body = match torn_tail(text) {
        Some(tail) => &text[..text.len() - tail.len()],
        None => text,
    };
    body.lines().collect()
}

/// Under the lock, before an append: drops a torn tail, or ends a whole last line that lacks its
/// newline, so the new line starts a line of its own.
pub(super) fn repair_tail(tenant_dir: &Path) -> Result<()> {
    let path = tenant_dir.join(LEDGER_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read the ledger {}", path.display()));
        }
    };
    if text.is_empty() || text.ends_with('\n') {
        return Ok(());
    }
    let file = OpenOptions::new()
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot repair the ledger {}", path.display()))?;
    match torn_tail(&text) {
        Some(tail) => file.set_len((text.len() - tail.len()) as u64)?,
        None => (&file).write_all(b"\n")?,
    }
    file.sync_all()?;
    Ok(())
}
