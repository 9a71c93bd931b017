//! What the package proves about the history behind it, in evidence.json's `history_proof`: the
//! ledger line of the newest snapshot it uses (so `store verify --against` can show the store
//! still holds it), whether the package is signed and by which key, and how many of its
//! snapshots an independent time-stamp attests. Every sentence about it is written here.

use serde::{Deserialize, Serialize};

use crate::attest::{Attestation, SnapshotAttestation};
use crate::evidence::words::{counted, thousands};
use crate::store::StoredSnapshot;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryProof {
    pub ledger_head: LedgerHead,
    pub signing: SigningInfo,
    pub timestamping: TimestampingInfo,
    /// One sentence each, in the order the PDF prints them.
    pub statements: Vec<String>,
}

/// The ledger line of the newest snapshot the package uses (not the store's head at the time of
/// the run, so a rebuilt package is byte-identical).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerHead {
    pub sequence: u64,
    pub line_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningInfo {
    pub signed: bool,
    /// `SHA256:...`, as `ssh-keygen -lf signing-key.pub` prints it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimestampingInfo {
    pub configured: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attestation_delay_hours: Option<u32>,
    /// The snapshots the package uses (the period's, or the as-of one alone).
    pub snapshots: u64,
    pub attested: u64,
    pub asserted: u64,
    pub unattested: u64,
    /// More than half of the snapshots are asserted.
    pub mostly_asserted: bool,
}

/// Whether a history is mostly asserted: more than half of its snapshots have no timely token.
pub fn mostly_asserted(asserted: u64, snapshots: u64) -> bool {
    asserted * 2 > snapshots
}

/// The section, from the newest snapshot used, the signing key's fingerprint (if the package
/// is signed), the delay allowed (if a TSA is configured) and each snapshot's attestation.
pub fn history_proof(
    head: &StoredSnapshot,
    key_fingerprint: Option<String>,
    max_attestation_delay_hours: Option<u32>,
    attestations: &[SnapshotAttestation],
) -> HistoryProof {
    let count =
        |state: Attestation| attestations.iter().filter(|a| a.state == state).count() as u64;
    let (attested, asserted, unattested) = (
        count(Attestation::Attested),
        count(Attestation::Asserted),
        count(Attestation::Unattested),
    );
    let snapshots = attestations.len() as u64;
    let timestamping = TimestampingInfo {
        configured: max_attestation_delay_hours.is_some(),
        max_attestation_delay_hours,
        snapshots,
        attested,
        asserted,
        unattested,
        mostly_asserted: mostly_asserted(asserted, snapshots),
    };
    let signing = SigningInfo {
        signed: key_fingerprint.is_some(),
        key_fingerprint,
    };
    HistoryProof {
        ledger_head: LedgerHead {
            sequence: head.entry.sequence,
            line_sha256: head.line_sha256.clone(),
            signature: head.entry.signature.clone(),
        },
        statements: statements(&signing, &timestamping),
        signing,
        timestamping,
    }
}

fn statements(signing: &SigningInfo, ts: &TimestampingInfo) -> Vec<String> {
    if !ts.configured && !signing.signed {
        return vec![
            "Time-stamping is not configured and the package is unsigned: the snapshots' collection times and this history rest on the operator's word.".into(),
        ];
    }
    let mut out = Vec::new();
    out.push(match &signing.key_fingerprint {
        Some(fp) => format!(
            "The package is signed: SHA256SUMS.sig is an SSH signature (namespace mfa-evidence) over SHA256SUMS by the ed25519 key {fp} (signing-key.pub); compare this fingerprint with one obtained from the operator out of band."
        ),
        None => "The package is unsigned: no signing key is configured.".into(),
    });
    out.push(match ts.max_attestation_delay_hours {
        None => "Time-stamping is not configured: the snapshots' collection times rest on the operator's word.".into(),
        Some(hours) => {
            let mut s = format!(
                "{} of {} independently attested by an RFC 3161 time-stamp at most {} after collection; {} asserted: {} collection {} on the operator's word.",
                thousands(ts.attested),
                counted(ts.snapshots, "snapshot is", "snapshots are"),
                counted(hours, "hour", "hours"),
                thousands(ts.asserted),
                if ts.asserted == 1 { "its" } else { "their" },
                if ts.asserted == 1 { "time rests" } else { "times rest" },
            );
            if ts.mostly_asserted {
                s.push_str(" More than half of the snapshots are asserted: this history is mostly asserted.");
            }
            s
        }
    });
    out
}
