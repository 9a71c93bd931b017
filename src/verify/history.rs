//! `verify`'s history step: the SSH signature over SHA256SUMS (by `signing-key.pub`, and by a
//! key of `--allowed-signers` when given), the package's `ledger.jsonl` (chained, signed lines
//! intact, agreeing with the snapshots of manifest.json and the head evidence.json records),
//! and each token of `timestamps/` against its line and `timestamps/tsa-ca.pem`, from which
//! every snapshot's attestation is re-derived and compared with evidence.json.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ssh_key::PublicKey;

use crate::attest::signing::{self, AllowedSigner, PACKAGE_NAMESPACE};
use crate::attest::{Attestation, LineSignatures, proof};
use crate::digest::sha256_hex;
use crate::evidence::Evidence;
use crate::package::{LEDGER_FILE, Manifest, SIGNING_KEY_FILE, SUMS_SIG_FILE, TSA_CA_FILE};
use crate::store::{GENESIS, LedgerEntry};
use crate::time::secs_text;

#[derive(Debug, Default)]
pub struct HistoryCheck {
    pub checked: Vec<String>,
    pub skipped: Vec<String>,
}

/// `read(path)` gives an entry's bytes; `names` every entry's path inside the package.
pub fn check(
    read: &mut dyn FnMut(&str) -> Option<Vec<u8>>,
    names: &[String],
    sums_text: &str,
    evidence: &Evidence,
    manifest: &Manifest,
    allowed: Option<&[AllowedSigner]>,
) -> Result<HistoryCheck, String> {
    let mut out = HistoryCheck::default();
    let Some(proof) = &evidence.history_proof else {
        if allowed.is_some() {
            return Err(
                "evidence.json records no signature (a package of an earlier version), but --allowed-signers asks for one"
                    .into(),
            );
        }
        out.skipped.push(
            "the history: evidence.json records none (a package of an earlier version, without a signature, ledger lines or time-stamps)"
                .into(),
        );
        return Ok(out);
    };

    // The signature over SHA256SUMS.
    let package_key = match read(SIGNING_KEY_FILE) {
        None => None,
        Some(bytes) => Some(
            PublicKey::from_openssh(String::from_utf8_lossy(&bytes).trim())
                .map_err(|e| format!("{SIGNING_KEY_FILE} is not an OpenSSH public key ({e})"))?,
        ),
    };
    match (read(SUMS_SIG_FILE), &package_key) {
        (Some(sig), Some(key)) => {
            let signer = signing::verify_armored(&String::from_utf8_lossy(&sig), PACKAGE_NAMESPACE, sums_text.as_bytes())
                .map_err(|why| format!("{SUMS_SIG_FILE} does not verify: {why}; SHA256SUMS or the signature was changed"))?;
            let fp = signing::fingerprint(&signer);
            if signer.key_data() != key.key_data() {
                return Err(format!(
                    "{SUMS_SIG_FILE} is signed by {fp}, not by the key of {SIGNING_KEY_FILE} ({})",
                    signing::fingerprint(key)
                ));
            }
            if proof.signing.key_fingerprint.as_deref() != Some(fp.as_str()) {
                return Err(format!(
                    "evidence.json names the signing key {}, but the package is signed by {fp}",
                    proof.signing.key_fingerprint.as_deref().unwrap_or("(none)")
                ));
            }
            match allowed {
                Some(list) => match signing::allowed_principals(list, &signer, PACKAGE_NAMESPACE) {
                    Some(who) => out.checked.push(format!(
                        "{SUMS_SIG_FILE}: SHA256SUMS is signed by {fp}, allowed as {who}"
                    )),
                    None => {
                        return Err(format!(
                            "the package is signed by {fp}, which the allowed signers file does not list for namespace {PACKAGE_NAMESPACE}: it was not signed by a key you trust"
                        ));
                    }
                },
                None => out.checked.push(format!(
                    "{SUMS_SIG_FILE}: SHA256SUMS is signed by {fp} (compare the fingerprint with the operator's, or pass --allowed-signers)"
                )),
            }
        }
        (Some(_), None) => {
            return Err(format!(
                "the package has {SUMS_SIG_FILE} but no {SIGNING_KEY_FILE} to check it with"
            ));
        }
        (None, _) if proof.signing.signed => {
            return Err(format!(
                "evidence.json says the package is signed, but it has no {SUMS_SIG_FILE}: the signature was removed"
            ));
        }
        (None, _) if allowed.is_some() => {
            return Err(format!(
                "the package is unsigned (no {SUMS_SIG_FILE}), but --allowed-signers asks for a signature"
            ));
        }
        (None, _) => out.checked.push(
            "the package is unsigned, as evidence.json states (no signing key was configured)"
                .into(),
        ),
    }

    // The ledger lines.
    let ledger = read(LEDGER_FILE).ok_or_else(|| format!("the package has no {LEDGER_FILE}"))?;
    let text = String::from_utf8(ledger).map_err(|_| format!("{LEDGER_FILE} is not UTF-8 text"))?;
    let mut lines: BTreeMap<u64, (String, LedgerEntry)> = BTreeMap::new();
    let mut prev = GENESIS.to_string();
    let mut signatures = LineSignatures::new(package_key.clone());
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        let entry: LedgerEntry = serde_json::from_str(line)
            .map_err(|e| format!("{LEDGER_FILE} line {n} is not a ledger entry ({e})"))?;
        if entry.sequence != n || entry.prev_line_sha256 != prev {
            return Err(format!(
                "{LEDGER_FILE} line {n} does not chain to the line before it: the package's ledger was changed"
            ));
        }
        signatures
            .check(n, line, &entry)
            .map_err(|why| format!("{LEDGER_FILE}: {why}"))?;
        prev = sha256_hex(line.as_bytes());
        lines.insert(n, (prev.clone(), entry));
    }
    let head = &proof.ledger_head;
    match lines.last_key_value() {
        Some((n, (sha, entry)))
            if *n == head.sequence
                && *sha == head.line_sha256
                && entry.signature == head.signature => {}
        _ => {
            return Err(format!(
                "{LEDGER_FILE} does not end with the line evidence.json records (line {}, SHA-256 {})",
                head.sequence, head.line_sha256
            ));
        }
    }
    for s in &manifest.snapshots {
        let agrees = lines.get(&s.sequence).is_some_and(|(_, e)| {
            e.snapshot_sha256 == s.sha256
                && e.folder == s.folder
                && e.collected_at == s.collected_at
        });
        if !agrees {
            return Err(format!(
                "manifest.json's snapshot {} ({}) is not the one {LEDGER_FILE} records at line {}",
                s.sequence, s.folder, s.sequence
            ));
        }
    }
    let as_of = &evidence.provenance.snapshot;
    if lines.get(&as_of.sequence).map(|(sha, _)| sha) != Some(&as_of.ledger_line_sha256) {
        return Err(format!(
            "evidence.json's as-of snapshot {} has ledger line SHA-256 {}, which {LEDGER_FILE} does not hold",
            as_of.sequence, as_of.ledger_line_sha256
        ));
    }
    out.checked.push(format!(
        "{LEDGER_FILE}: {} chained, {} signed{}, ending with the line of snapshot {} that evidence.json records",
        crate::evidence::words::counted(lines.len() as u64, "line", "lines"),
        signatures.signed,
        signatures
            .key()
            .map(|k| format!(" by {}", signing::fingerprint(k)))
            .unwrap_or_default(),
        head.sequence
    ));

    // The time-stamp tokens, and each snapshot's attestation re-derived from them.
    let ts = &proof.timestamping;
    let token_names: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("timestamps/") && n.ends_with(".tsr"))
        .collect();
    let mut times: BTreeMap<u64, DateTime<Utc>> = BTreeMap::new();
    if !token_names.is_empty() {
        let pem = read(TSA_CA_FILE).ok_or_else(|| {
            format!("the package has time-stamp tokens but no {TSA_CA_FILE} to check them with")
        })?;
        let cas = proof::read_ca_pem(&String::from_utf8_lossy(&pem))
            .map_err(|e| format!("{TSA_CA_FILE} cannot be read ({e})"))?;
        for name in token_names {
            let sequence: u64 = name
                .trim_start_matches("timestamps/")
                .trim_end_matches(".tsr")
                .parse()
                .map_err(|_| format!("{name} is not named after a ledger line"))?;
            let (sha, _) = lines
                .get(&sequence)
                .ok_or_else(|| format!("{name} is the token of ledger line {sequence}, which {LEDGER_FILE} does not hold"))?;
            let digest: [u8; 32] = hex::decode(sha)
                .ok()
                .and_then(|d| d.try_into().ok())
                .ok_or_else(|| "a ledger line's SHA-256 is not hex".to_string())?;
            let der = read(name).unwrap_or_default();
            let checked = proof::check_response(&der, &digest, None, &cas)
                .map_err(|e| format!("{name} does not prove ledger line {sequence}: {e}"))?;
            times.insert(sequence, checked.time);
        }
    }
    let series = evidence.period.iter().flat_map(|p| p.series.iter());
    for point in series {
        let (sequence, collected_at) = (&point.sequence, &point.collected_at);
        let (stated, stated_time) = (&point.attestation.state, &point.attestation.token_time);
        let token = times.get(sequence).copied();
        let derived = match ts.max_attestation_delay_hours {
            None => Attestation::Unattested,
            Some(hours) => match token {
                Some(t) if t <= *collected_at + chrono::Duration::hours(i64::from(hours)) => {
                    Attestation::Attested
                }
                _ => Attestation::Asserted,
            },
        };
        let derived_time = if ts.configured { token } else { None };
        if derived != *stated || derived_time != *stated_time {
            return Err(format!(
                "evidence.json states snapshot {sequence} (collected {}) {stated}, but its token gives {derived}{}",
                secs_text(*collected_at),
                token
                    .map(|t| format!(" (token time {})", secs_text(t)))
                    .unwrap_or(" (no token)".into())
            ));
        }
    }
    if let Some(p) = &evidence.period {
        let count = |state: Attestation| {
            p.series
                .iter()
                .filter(|s| s.attestation.state == state)
                .count() as u64
        };
        let counts = (count(Attestation::Attested), count(Attestation::Asserted));
        if counts != (ts.attested, ts.asserted) || ts.snapshots != p.series.len() as u64 {
            return Err(format!(
                "evidence.json counts {} attested and {} asserted of {} snapshots, but its series holds {} and {} of {}",
                ts.attested,
                ts.asserted,
                ts.snapshots,
                counts.0,
                counts.1,
                p.series.len()
            ));
        }
    }
    if ts.configured {
        out.checked.push(format!(
            "{} cover their ledger lines and chain to {TSA_CA_FILE}; {} of {} attested, {} asserted{}",
            crate::evidence::words::counted(times.len() as u64, "time-stamp token", "time-stamp tokens"),
            ts.attested,
            crate::evidence::words::counted(ts.snapshots, "snapshot", "snapshots"),
            ts.asserted,
            if ts.mostly_asserted { " (mostly asserted)" } else { "" }
        ));
    } else {
        out.checked.push(
            "time-stamping was not configured, as evidence.json states: every snapshot is unattested, its collection time on the operator's word"
                .into(),
        );
    }
    Ok(out)
}
