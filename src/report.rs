//! The `report` job: picks the snapshots from the store, evaluates them, generates evidence.json
//! and writes the package. It only joins the stages; each stage stays ignorant of the others.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};

use crate::attest::{self, Attestor, SnapshotAttestation};
use crate::config::Config;
use crate::evaluate::period::{Conclusion, LedgerState, PeriodAnalysis, PeriodFacts, SnapshotInfo};
use crate::evaluate::{self, ControlResult};
use crate::evidence::{self, Evidence};
use crate::notify;
use crate::package::{self, HistoryFiles, ManifestSnapshot, PackageInputs};
use crate::steps::Step;
use crate::store::{Store, StoredSnapshot};

/// What the user asked of `report`, validated.
#[derive(Debug, Clone, Default)]
pub struct ReportRequest {
    pub out_dir: PathBuf,
    pub tenant: Option<String>,
    pub as_of: Option<DateTime<Utc>>,
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub allow_broken_history: bool,
}

pub struct ReportOutcome {
    pub zip: PathBuf,
    pub evidence: Evidence,
}

impl ReportOutcome {
    /// 0 when the control passed (and the period, if any, operated effectively); 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        let point_ok = self.evidence.point_in_time.result == ControlResult::Pass;
        let period_ok = self
            .evidence
            .period
            .as_ref()
            .is_none_or(|p| p.conclusion == Conclusion::OperatedEffectively);
        if point_ok && period_ok { 0 } else { 1 }
    }
}

pub fn run(config: &Config, request: &ReportRequest) -> Result<ReportOutcome> {
    // The key is decrypted and the CA file read first: a wrong passphrase writes nothing.
    let attestor = Attestor::from_config(config)?;
    let store = Store::open(&config.store)?;
    let tenant = store.pick_tenant(request.tenant.as_deref())?;
    let ledger = {
        let _step = Step::new("read the ledger");
        store.ledger(&tenant)?
    };
    if let (Some(at), Some((from, to))) = (request.as_of, request.period)
        && (at < from || at > to)
    {
        bail!(
            "--as-of {} lies outside the period {} .. {}: give a time inside the period, or leave --as-of out to use the period's end",
            at.to_rfc3339(),
            from.to_rfc3339(),
            to.to_rfc3339()
        );
    }
    // `--as-of T` alone asks for the point in time only; so does a default report over a store
    // of one snapshot, which holds no period to speak of. Anything else covers a period too.
    let point_only = request.period.is_none() && (request.as_of.is_some() || ledger.len() == 1);
    let period = if point_only {
        None
    } else {
        Some(analyse_period(&store, &tenant, &ledger, config, request)?)
    };
    let limit = request.as_of.or(period.as_ref().map(|p| p.to));
    let mut stored = pick_as_of(&ledger, limit)?;
    // On object storage, a period's verify has brought every snapshot here; the point in time
    // alone needs only its own.
    store.fetch(&[stored])?;
    // A period report has just hashed every snapshot of an intact chain, the as-of one included.
    let verified = period.as_ref().is_some_and(|p| p.chain_intact);
    let check_step = Step::new("verify the as-of snapshot");
    if !verified && let Err(why) = store.check_snapshot(stored) {
        // Over a history reported as broken, the as-of snapshot is the newest one that still
        // holds; otherwise a snapshot that fails its hashes is never evidence.
        let intact = (request.allow_broken_history && !point_only)
            .then(|| {
                ledger
                    .iter()
                    .rev()
                    .filter(|s| s.entry.sequence < stored.entry.sequence)
                    .find(|s| store.check_snapshot(s).is_ok())
            })
            .flatten();
        match intact {
            Some(older) => stored = older,
            None => bail!(
                "snapshot {} failed its integrity check: {why}; run `mfa-evidence store verify`",
                stored.entry.folder
            ),
        }
    }
    drop(check_step);
    // The point in time is computed from the raw pages the package ships, derived again, and
    // evaluated while the derived snapshot is compared with the stored one.
    let derived = {
        let _step = Step::new("derive the as-of snapshot from its raw pages");
        stored.derive_from_raw()?
    };
    let snapshot = derived.snapshot();
    let evaluation = {
        let _step = Step::new("evaluate the as-of snapshot");
        evaluate::evaluate(&snapshot, &config.control)
    };
    let raw = {
        let _step = Step::new("compare it with the stored snapshot");
        derived.confirm()?
    };
    let (facts, snapshots) = match period {
        Some(p) => (Some(p.facts), p.snapshots),
        None => (None, vec![manifest_snapshot(stored)]),
    };
    let evidence_step = Step::new("generate evidence.json");
    let mut period = facts.as_ref().map(evidence::period);
    if let Some(p) = &mut period {
        p.deviations_signalled = notify::job::deviations_signalled(&store, &tenant, &p.series)?;
    }
    // The history behind the package: its newest snapshot's ledger line, each snapshot's
    // attestation from the store's tokens, the lines and tokens an auditor checks.
    let head_sequence = snapshots
        .iter()
        .map(|s| s.sequence)
        .chain([stored.entry.sequence])
        .max()
        .unwrap_or(stored.entry.sequence);
    let by_sequence: std::collections::HashMap<u64, &StoredSnapshot> =
        ledger.iter().map(|s| (s.entry.sequence, s)).collect();
    let head = by_sequence
        .get(&head_sequence)
        .copied()
        .context("the newest snapshot used is not in the ledger")?;
    let attestation_of = |s: &StoredSnapshot| -> Result<SnapshotAttestation> {
        match &attestor.stamping {
            None => Ok(attest::unattested()),
            Some(stamping) => {
                let token = attest::read_token(&store.token_path(&tenant, s.entry.sequence)?)?;
                stamping.attestation(s, token.as_deref())
            }
        }
    };
    let mut attestations = Vec::new();
    match &mut period {
        Some(p) => {
            for point in &mut p.series {
                let s = by_sequence
                    .get(&point.sequence)
                    .copied()
                    .context("a snapshot of the period is not in the ledger")?;
                point.attestation = attestation_of(s)?;
                attestations.push(point.attestation.clone());
            }
        }
        None => attestations.push(attestation_of(stored)?),
    }
    let history_proof = evidence::history_proof::history_proof(
        head,
        attestor.signer.as_ref().map(|s| s.fingerprint()),
        config
            .timestamping
            .as_ref()
            .map(|t| t.max_attestation_delay_hours),
        &attestations,
    );
    let mut history = HistoryFiles {
        ledger: store.ledger_bytes(&tenant, head_sequence)?,
        tokens: Vec::new(),
        tsa_ca_pem: attestor.stamping.as_ref().map(|s| s.ca_pem.clone()),
    };
    // Tokens only with their CA file: without [timestamping] the snapshots are unattested.
    let stamped = ledger
        .iter()
        .filter(|s| attestor.stamping.is_some() && s.entry.sequence <= head_sequence);
    for s in stamped {
        let path = store.token_path(&tenant, s.entry.sequence)?;
        if path.is_file() {
            history.tokens.push((s.entry.sequence, path));
        }
    }
    let evidence = evidence::generate(
        &snapshot,
        stored,
        &evaluation,
        config,
        period,
        history_proof,
    );
    drop(evidence_step);
    let staged = package::stage_lists(&request.out_dir, &evidence, &evaluation, facts.as_ref())?;
    // Nothing after the CSVs reads the snapshot: a large tenant's is let go before the zip, on
    // a thread of its own, as freeing a million users' strings takes a second or more.
    drop(evaluation);
    let letting_go = std::thread::spawn(move || drop(snapshot));
    drop(facts);
    let zip = package::write_package(
        staged,
        PackageInputs {
            raw: &raw,
            snapshots,
            history,
            signer: attestor.signer.as_ref(),
        },
    )?;
    letting_go.join().expect("freeing the snapshot panicked");
    Ok(ReportOutcome { zip, evidence })
}

struct PeriodOutcome {
    to: DateTime<Utc>,
    facts: PeriodFacts,
    snapshots: Vec<ManifestSnapshot>,
    /// Every snapshot's files were hashed and the chain holds.
    chain_intact: bool,
}

/// Verifies the whole history, then evaluates every snapshot of the period, one at a time.
fn analyse_period(
    store: &Store,
    tenant: &str,
    ledger: &[StoredSnapshot],
    config: &Config,
    request: &ReportRequest,
) -> Result<PeriodOutcome> {
    let chain = {
        let _step = Step::new("verify the history");
        store.verify(tenant)?
    };
    if let Some(why) = &chain.broken
        && !request.allow_broken_history
    {
        bail!(
            "the evidence store's history is broken: {why}. A period cannot be reported on a broken history: \
             investigate with `mfa-evidence store verify`, or pass --allow-broken-history to report with the break stated as a deviation"
        );
    }
    let (from, to) = match request.period {
        Some(range) => range,
        None => {
            let first = ledger
                .first()
                .context("the store holds no snapshot of this tenant")?;
            let last = ledger
                .last()
                .context("the store holds no snapshot of this tenant")?;
            (first.entry.collected_at, last.entry.collected_at)
        }
    };
    if from > to {
        bail!(
            "the period starts after it ends ({} .. {}): give FROM..TO in order",
            from.to_rfc3339(),
            to.to_rfc3339()
        );
    }
    let mut analysis = PeriodAnalysis::new(from, to, config.max_gap_hours);
    let mut snapshots = Vec::new();
    let in_period: Vec<&StoredSnapshot> = ledger
        .iter()
        .filter(|s| (from..=to).contains(&s.entry.collected_at))
        .collect();
    let step = Step::new(format!(
        "evaluate {} snapshots of the period",
        in_period.len()
    ));
    let bar = crate::steps::progress(in_period.len() as u64, "evaluating the period");
    // One worker per core reads and classifies every n-th snapshot while this thread adds them
    // in order: each worker holds at most the point it is building and the one waiting in its
    // channel (bound 1), so memory stays flat however long the period.
    let broken = chain.broken.is_some();
    let readers = crate::cores::available().clamp(1, in_period.len().max(1));
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..readers)
            .map(|first| {
                let (send, receive) = std::sync::mpsc::sync_channel(1);
                let in_period = &in_period;
                let settings = &config.control;
                scope.spawn(move || {
                    for stored in in_period.iter().skip(first).step_by(readers) {
                        // Past a break, a snapshot whose own hashes fail is left out; the break
                        // is a deviation.
                        let loaded = if broken && store.check_snapshot(stored).is_err() {
                            Ok(None)
                        } else {
                            stored.load_point(settings).map(Some)
                        };
                        let failed = loaded.is_err();
                        if send.send(loaded).is_err() || failed {
                            break;
                        }
                    }
                });
                receive
            })
            .collect();
        for (i, stored) in in_period.iter().enumerate() {
            bar.inc(1);
            let loaded = workers[i % readers]
                .recv()
                .context("a snapshot reader stopped")?;
            let Some(point) = loaded? else { continue };
            let info = SnapshotInfo {
                sequence: stored.entry.sequence,
                collected_at: stored.entry.collected_at,
                sha256: stored.entry.snapshot_sha256.clone(),
            };
            analysis.add(&info, &point);
            snapshots.push(manifest_snapshot(stored));
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    drop(step);
    let chain_intact = chain.broken.is_none();
    let facts = analysis.finish(LedgerState {
        verified: chain_intact,
        broken_link: chain.broken,
    });
    Ok(PeriodOutcome {
        to,
        facts,
        snapshots,
        chain_intact,
    })
}

fn manifest_snapshot(stored: &StoredSnapshot) -> ManifestSnapshot {
    ManifestSnapshot {
        sequence: stored.entry.sequence,
        folder: stored.entry.folder.clone(),
        collected_at: stored.entry.collected_at,
        sha256: stored.entry.snapshot_sha256.clone(),
    }
}

/// The newest snapshot collected at or before `limit` (or the newest of all).
fn pick_as_of(ledger: &[StoredSnapshot], limit: Option<DateTime<Utc>>) -> Result<&StoredSnapshot> {
    let mut best = None;
    for s in ledger {
        if limit.is_none_or(|l| s.entry.collected_at <= l) {
            best = Some(s);
        }
    }
    best.with_context(|| match (limit, ledger.first()) {
        (Some(l), Some(first)) => format!(
            "the store holds no snapshot collected at or before {}: the first is from {}",
            l.to_rfc3339(),
            crate::time::secs_text(first.entry.collected_at)
        ),
        _ => "the store holds no snapshot of this tenant".to_string(),
    })
}
