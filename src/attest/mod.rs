//! Provable history: what makes the store's record more than the operator's word.
//!
//! - `signing`: the operator's ed25519 key signs every new ledger line and every package's
//!   `SHA256SUMS` (OpenSSH `sshsig`, checked with `ssh-keygen -Y verify`).
//! - `tsa` and `proof`: an RFC 3161 time-stamp authority signs the SHA-256 of every new ledger
//!   line; the token (`timestamps/<sequence>.tsr` beside the ledger) proves the line, and so
//!   the snapshot it records, existed at the token's time. A TSA that cannot be reached never
//!   costs a collection: the line waits without a token and the next run asks again.
//! - here: the [`Attestor`] built once from the config (key decrypted, CA file read, both
//!   before anything is written), the stamping of lines still without a token, and each
//!   snapshot's [`Attestation`] for the period.

pub mod proof;
pub mod signing;
pub mod tsa;

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;

use crate::config::{Config, TimestampSettings};
use crate::store::{LedgerEntry, Store, StoredSnapshot};

pub use self::signing::Signer;

crate::vocabulary! {
    /// Whether an independent time backs a snapshot's collection time.
    pub enum Attestation {
        /// A valid token no later than `max_attestation_delay_hours` after the collection time.
        Attested => "attested",
        /// No token, or a later one: the collection time rests on the operator's word.
        Asserted => "asserted",
        /// No TSA is configured: time-stamping is not in use.
        Unattested => "unattested",
    }
}

/// One snapshot's attestation in evidence.json (`period.series[].attestation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotAttestation {
    pub state: Attestation,
    /// The token's time, when there is a valid token (also for a late one).
    #[serde(
        default,
        with = "crate::time::secs_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_time: Option<DateTime<Utc>>,
}

/// The time-stamping of `[timestamping]`, with its CA certificates read.
pub struct Stamping {
    pub settings: TimestampSettings,
    pub cas: Vec<Certificate>,
    /// The CA file's bytes, copied into packages as `timestamps/tsa-ca.pem`.
    pub ca_pem: Vec<u8>,
}

/// What the config asks of signing and time-stamping, ready to use.
#[derive(Default)]
pub struct Attestor {
    pub signer: Option<Signer>,
    pub stamping: Option<Stamping>,
}

impl Attestor {
    /// Reads the signing key (its passphrase from the environment) and the TSA's CA file. Every
    /// failure is a configuration error, found before anything is collected or written.
    pub fn from_config(config: &Config) -> Result<Attestor> {
        let signer = config
            .signing
            .as_ref()
            .map(Signer::from_settings)
            .transpose()?;
        let stamping = config
            .timestamping
            .as_ref()
            .map(|settings| Stamping::new(settings.clone()))
            .transpose()?;
        Ok(Attestor { signer, stamping })
    }
}

impl Stamping {
    pub fn new(settings: TimestampSettings) -> Result<Stamping> {
        let path = &settings.ca_file;
        let ca_pem = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the TSA's CA file {}: check [timestamping] ca_file",
                path.display()
            )
        })?;
        let cas = proof::read_ca_pem(&String::from_utf8_lossy(&ca_pem)).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a PEM file of CA certificates ({e}): check [timestamping] ca_file",
                path.display()
            )
        })?;
        Ok(Stamping {
            settings,
            cas,
            ca_pem,
        })
    }

    /// Checks a stored token against its line.
    pub fn check(
        &self,
        der: &[u8],
        line_sha256: &str,
    ) -> Result<proof::CheckedToken, proof::TokenError> {
        let digest = digest_bytes(line_sha256)
            .ok_or_else(|| proof::TokenError::Malformed("the line's SHA-256 is not hex".into()))?;
        proof::check_response(der, &digest, None, &self.cas)
    }

    /// A snapshot's attestation from its token (none yet: asserted).
    pub fn attestation(
        &self,
        stored: &StoredSnapshot,
        token: Option<&[u8]>,
    ) -> Result<SnapshotAttestation> {
        let Some(der) = token else {
            return Ok(SnapshotAttestation {
                state: Attestation::Asserted,
                token_time: None,
            });
        };
        let checked = self.check(der, &stored.line_sha256).map_err(|e| {
            anyhow::anyhow!(
                "the time-stamp token of ledger line {} does not hold: {e}; run `mfa-evidence store verify`",
                stored.entry.sequence
            )
        })?;
        let limit = stored.entry.collected_at
            + chrono::Duration::hours(i64::from(self.settings.max_attestation_delay_hours));
        Ok(SnapshotAttestation {
            state: if checked.time <= limit {
                Attestation::Attested
            } else {
                Attestation::Asserted
            },
            token_time: Some(checked.time),
        })
    }
}

/// `Unattested`: no TSA is configured.
pub fn unattested() -> SnapshotAttestation {
    SnapshotAttestation::default()
}

impl Default for SnapshotAttestation {
    fn default() -> Self {
        SnapshotAttestation {
            state: Attestation::Unattested,
            token_time: None,
        }
    }
}

fn digest_bytes(hex_text: &str) -> Option<[u8; 32]> {
    hex::decode(hex_text).ok()?.try_into().ok()
}

/// What asking for tokens did.
#[derive(Debug, Default)]
pub struct StampOutcome {
    /// Ledger sequences that got a token in this run, with its time.
    pub stamped: Vec<(u64, DateTime<Utc>)>,
    /// Lines still without a token, and why no TSA gave one.
    pub failure: Option<(Vec<u64>, tsa::TsaFailure)>,
}

impl StampOutcome {
    /// The lines left without a token, in words naming the TSAs: the run exits 1 with it.
    pub fn failure_text(&self) -> Option<String> {
        let (waiting, why) = self.failure.as_ref()?;
        Some(format!(
            "no time-stamp token for ledger {} {}: {why}; the snapshot is stored, and the next run asks again (a later token proves only the later time)",
            if waiting.len() == 1 { "line" } else { "lines" },
            waiting
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Asks the TSAs for a token over every ledger line of `tenant` that has none, oldest first,
/// and stores each token that holds. Stops at the first line no TSA stamps: the rest wait for
/// the next run.
pub fn stamp_pending(store: &Store, tenant: &str, stamping: &Stamping) -> Result<StampOutcome> {
    let ledger = store.ledger(tenant)?;
    let mut pending = Vec::new();
    for stored in &ledger {
        if !store.token_path(tenant, stored.entry.sequence)?.is_file() {
            pending.push(stored);
        }
    }
    let mut outcome = StampOutcome::default();
    if pending.is_empty() {
        return Ok(outcome);
    }
    let _step = crate::steps::Step::new(format!("time-stamp {} ledger lines", pending.len()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for the time-stamp requests")?;
    for (i, stored) in pending.iter().enumerate() {
        let digest =
            digest_bytes(&stored.line_sha256).context("a ledger line's SHA-256 is not hex")?;
        match runtime.block_on(tsa::request_token(
            &stamping.settings.urls,
            &digest,
            &stamping.cas,
        )) {
            Ok(token) => {
                store.write_token(tenant, stored.entry.sequence, &token.der)?;
                outcome
                    .stamped
                    .push((stored.entry.sequence, token.checked.time));
            }
            Err(failure) => {
                let waiting = pending[i..].iter().map(|s| s.entry.sequence).collect();
                outcome.failure = Some((waiting, failure));
                break;
            }
        }
    }
    Ok(outcome)
}

/// A token file's bytes, or `None` when there is none yet.
pub fn read_token(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Checks the signatures of ledger lines, in order: a signed line must be exactly as the tool
/// writes it and signed by the expected key (the configured one, the package's, or else the
/// key of the first signed line), and once a line is signed every later one must be too, so a
/// signature cannot be dropped to edit a line.
#[derive(Debug, Default)]
pub struct LineSignatures {
    expected: Option<ssh_key::PublicKey>,
    first_signed: Option<u64>,
    pub signed: u64,
}

impl LineSignatures {
    pub fn new(expected: Option<ssh_key::PublicKey>) -> LineSignatures {
        LineSignatures {
            expected,
            ..LineSignatures::default()
        }
    }

    /// The key the signed lines must carry, once known.
    pub fn key(&self) -> Option<&ssh_key::PublicKey> {
        self.expected.as_ref()
    }

    /// Line `n` (its bytes without the newline) and its entry; the error names the line.
    pub fn check(&mut self, n: u64, line: &str, entry: &LedgerEntry) -> Result<(), String> {
        let Some(sig) = &entry.signature else {
            return match self.first_signed {
                Some(first) => Err(format!(
                    "ledger line {n} has no signature though line {first} before it is signed: its signature was removed (or [signing] was turned off)"
                )),
                None => Ok(()),
            };
        };
        let canonical = serde_json::to_string(entry).map_err(|e| e.to_string())?;
        if canonical != line {
            return Err(format!(
                "ledger line {n} is not as mfa-evidence wrote it: the line was edited"
            ));
        }
        let unsigned = serde_json::to_string(&LedgerEntry {
            signature: None,
            ..entry.clone()
        })
        .map_err(|e| e.to_string())?;
        let key = signing::verify_line(sig, unsigned.as_bytes()).map_err(|why| {
            format!("ledger line {n}'s signature does not hold ({why}): the line was edited")
        })?;
        match &self.expected {
            Some(expected) if expected.key_data() != key.key_data() => {
                return Err(format!(
                    "ledger line {n} is signed by the key {}, not {}: it was re-signed by another key",
                    signing::fingerprint(&key),
                    signing::fingerprint(expected)
                ));
            }
            Some(_) => {}
            None => self.expected = Some(key),
        }
        self.first_signed.get_or_insert(n);
        self.signed += 1;
        Ok(())
    }
}

/// The public key of `[signing]` key_file, read without its passphrase (an OpenSSH private key
/// keeps its public half in clear), for checking signatures.
pub fn configured_public_key(config: &Config) -> Result<Option<ssh_key::PublicKey>> {
    let Some(settings) = &config.signing else {
        return Ok(None);
    };
    let path = &settings.key_file;
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the signing key {}: check [signing] key_file",
            path.display()
        )
    })?;
    let key = ssh_key::PrivateKey::from_openssh(text.trim_start())
        .map_err(|e| anyhow::anyhow!("{} is not an OpenSSH private key ({e})", path.display()))?;
    Ok(Some(key.public_key().clone()))
}

/// What `store verify --against OLD.zip` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Against {
    /// The package is of another tenant of the store: nothing to compare.
    OtherTenant(String),
    /// The store still holds every line the package carries, unchanged.
    Held(String),
    /// The first line that no longer matches, in words.
    Broken(String),
}

/// Compares the ledger lines a package carries (`ledger.jsonl`, checked against the package's
/// SHA256SUMS) with the store's: each must still be there, byte for byte, at its place.
pub fn check_against(store: &Store, tenant: &str, package: &Path) -> Result<Against> {
    use crate::package::{LEDGER_FILE, MANIFEST_FILE, Manifest, SUMS_FILE, read_entry};
    let file = std::fs::File::open(package).with_context(|| {
        format!(
            "cannot open {}: check the path of the package",
            package.display()
        )
    })?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not a readable package zip", package.display()))?;
    let top = zip
        .file_names()
        .next()
        .and_then(|n| n.ok())
        .and_then(|n| n.split('/').next().map(str::to_string))
        .with_context(|| format!("{} is empty", package.display()))?;
    let manifest: Manifest =
        serde_json::from_slice(&read_entry(&mut zip, &format!("{top}/{MANIFEST_FILE}"))?)
            .with_context(|| format!("{} has no readable manifest.json", package.display()))?;
    if manifest.tenant_id != tenant {
        return Ok(Against::OtherTenant(manifest.tenant_id));
    }
    let ledger = read_entry(&mut zip, &format!("{top}/{LEDGER_FILE}")).with_context(|| {
        format!(
            "{} carries no {LEDGER_FILE}: it was made by an earlier version, which did not record the history",
            package.display()
        )
    })?;
    let sums = String::from_utf8(read_entry(&mut zip, &format!("{top}/{SUMS_FILE}"))?)
        .context("the package's SHA256SUMS is not text")?;
    let listed = crate::digest::Sha256Sums::parse(&sums).ok().and_then(|s| {
        s.entries()
            .iter()
            .find(|(p, _)| p == LEDGER_FILE)
            .map(|(_, h)| h.clone())
    });
    if listed.as_deref() != Some(crate::digest::sha256_hex(&ledger).as_str()) {
        anyhow::bail!(
            "{}'s {LEDGER_FILE} does not match its SHA256SUMS: the package was changed; run `mfa-evidence verify` on it",
            package.display()
        );
    }
    let ledger = String::from_utf8(ledger).context("the package's ledger is not text")?;
    let held = store.ledger_lines(tenant)?;
    let mut count = 0;
    for (i, line) in ledger.lines().enumerate() {
        let n = i + 1;
        count = n;
        match held.get(i) {
            None => {
                return Ok(Against::Broken(format!(
                    "ledger line {n} of the package is no longer in the store, which ends at line {}: its newest lines were cut after the package was made",
                    held.len()
                )));
            }
            Some(now) if now != line => {
                return Ok(Against::Broken(format!(
                    "ledger line {n} no longer matches the package's (SHA-256 {} in the store, {} in the package): it was rewritten after the package was made",
                    crate::digest::sha256_hex(now.as_bytes()),
                    crate::digest::sha256_hex(line.as_bytes())
                )));
            }
            Some(_) => {}
        }
    }
    Ok(Against::Held(format!(
        "the store still holds the {} of {}, unchanged",
        crate::evidence::words::counted(count as u64, "ledger line", "ledger lines"),
        package.display()
    )))
}
