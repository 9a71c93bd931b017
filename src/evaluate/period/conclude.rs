//! The period's stages, run once every snapshot has been added: deviations, gaps (between
//! snapshots and at the period's uncovered edges), the longest failing run, remediation matched
//! with "registered security info" audit events, and the conclusion.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{
    Episode, LedgerState, PeriodAnalysis, PeriodFacts, REGISTRATION_ACTIVITIES, SeriesPoint,
};
use crate::evaluate::{ControlResult, Figure};
use crate::snapshot::AuditEvent;

crate::vocabulary! {
    /// The period's conclusion (SOC 2 Type II).
    pub enum Conclusion {
        OperatedEffectively => "operated-effectively",
        DeviationsNoted => "deviations-noted",
        InsufficientEvidence => "insufficient-evidence",
    }
}

/// Why the period concluded as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConclusionBasis {
    NoSnapshot,
    /// One snapshot shows a point in time, not operation over a period.
    OneSnapshot,
    /// The period is shorter than a day.
    TooShort {
        seconds: i64,
    },
    /// Every snapshot passed and no gap exceeded the limit.
    NoDeviation {
        snapshots: u64,
    },
    Deviations {
        snapshots: u64,
        not_passing: u64,
        gaps_over_limit: u64,
        broken_ledger: bool,
    },
}

crate::vocabulary! {
    pub enum DeviationCode {
        BelowThreshold => "below-threshold",
        MonitoringGap => "monitoring-gap",
        UncoveredPeriodStart => "uncovered-period-start",
        UncoveredPeriodEnd => "uncovered-period-end",
        InsufficientSnapshot => "insufficient-snapshot",
        BrokenLedger => "broken-ledger",
    }
}

/// What a deviation is about, with the facts its description needs.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviationKind {
    BrokenLedger {
        link: String,
    },
    BelowThreshold {
        sequence: u64,
        figure: Figure,
    },
    InsufficientSnapshot {
        sequence: u64,
    },
    /// A gap longer than the limit, between snapshots or at an edge.
    Gap {
        kind: GapKind,
        seconds: i64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deviation {
    pub kind: DeviationKind,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Deviation {
    pub fn code(&self) -> DeviationCode {
        match &self.kind {
            DeviationKind::BrokenLedger { .. } => DeviationCode::BrokenLedger,
            DeviationKind::BelowThreshold { .. } => DeviationCode::BelowThreshold,
            DeviationKind::InsufficientSnapshot { .. } => DeviationCode::InsufficientSnapshot,
            DeviationKind::Gap { kind, .. } => match kind {
                GapKind::PeriodStart => DeviationCode::UncoveredPeriodStart,
                GapKind::PeriodEnd => DeviationCode::UncoveredPeriodEnd,
                GapKind::BetweenSnapshots => DeviationCode::MonitoringGap,
            },
        }
    }
}

crate::vocabulary! {
    pub enum GapKind {
        BetweenSnapshots => "between-snapshots",
        PeriodStart => "period-start",
        PeriodEnd => "period-end",
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    pub kind: GapKind,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub seconds: i64,
    pub exceeds_limit: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailingRun {
    #[serde(with = "crate::time::secs")]
    pub from: DateTime<Utc>,
    #[serde(with = "crate::time::secs")]
    pub to: DateTime<Utc>,
    pub snapshots: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemediatedUser {
    pub user_id: String,
    pub user_principal_name: String,
    #[serde(with = "crate::time::secs")]
    pub first_seen_unregistered: DateTime<Utc>,
    #[serde(with = "crate::time::secs")]
    pub first_seen_registered: DateTime<Utc>,
    pub days_open: u64,
    pub audit_event_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenItem {
    pub user_id: String,
    pub user_principal_name: String,
    #[serde(with = "crate::time::secs")]
    pub first_seen_unregistered: DateTime<Utc>,
    pub days_open: u64,
}

pub(super) fn conclude(analysis: PeriodAnalysis, ledger: LedgerState) -> PeriodFacts {
    let PeriodAnalysis {
        from,
        to,
        max_gap_hours,
        series,
        users,
        episodes,
        events,
        changes,
    } = analysis;
    let limit = i64::from(max_gap_hours) * 3600;
    let gaps = gaps(&series, from, to, limit);
    let deviations = deviations(&series, &gaps, &ledger, (from, to));
    let longest_failing_run = longest_failing_run(&series);
    let remediated = remediated(&episodes, events.values().map(|(e, _)| e));
    let end = series.last().map_or(to, |p| p.collected_at);
    let mut still_unregistered: Vec<OpenItem> = users
        .iter()
        .filter_map(|(id, t)| {
            t.open_since.map(|since| OpenItem {
                user_id: id.clone(),
                user_principal_name: t.upn.clone(),
                first_seen_unregistered: since,
                days_open: (end - since).num_days().max(0) as u64,
            })
        })
        .collect();
    still_unregistered.sort_by(|a, b| {
        (b.days_open, &a.user_principal_name).cmp(&(a.days_open, &b.user_principal_name))
    });
    let (conclusion, basis) = conclusion(&series, &gaps, &deviations, &ledger, (from, to));
    let mut audit_events: Vec<(AuditEvent, u64)> = events.into_values().collect();
    audit_events.sort_by(|a, b| {
        (a.0.activity_date_time.as_str(), &a.0.id).cmp(&(b.0.activity_date_time.as_str(), &b.0.id))
    });
    PeriodFacts {
        from,
        to,
        max_gap_hours,
        ledger,
        series,
        conclusion,
        basis,
        deviations,
        gaps,
        longest_failing_run,
        remediated,
        still_unregistered,
        audit_events,
        population_changes: changes,
    }
}

/// Between consecutive snapshots, and the uncovered time at the period's edges: every gap over
/// the limit, and every edge the first or last snapshot does not sit on.
fn gaps(series: &[SeriesPoint], from: DateTime<Utc>, to: DateTime<Utc>, limit: i64) -> Vec<Gap> {
    let (Some(first), Some(last)) = (series.first(), series.last()) else {
        return Vec::new();
    };
    let mut spans = vec![(GapKind::PeriodStart, from, first.collected_at)];
    spans.extend(series.windows(2).map(|pair| {
        (
            GapKind::BetweenSnapshots,
            pair[0].collected_at,
            pair[1].collected_at,
        )
    }));
    spans.push((GapKind::PeriodEnd, last.collected_at, to));
    spans
        .into_iter()
        .filter_map(|(kind, a, b)| {
            let seconds = (b - a).num_seconds();
            let exceeds_limit = seconds > limit;
            let uncovered_edge = kind != GapKind::BetweenSnapshots && seconds > 0;
            (exceeds_limit || uncovered_edge).then_some(Gap {
                kind,
                from: a,
                to: b,
                seconds,
                exceeds_limit,
            })
        })
        .collect()
}

/// A broken ledger (over the whole period), every snapshot that did not pass, every gap over the
/// limit; sorted by start, then code.
fn deviations(
    series: &[SeriesPoint],
    gaps: &[Gap],
    ledger: &LedgerState,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Vec<Deviation> {
    let mut out = Vec::new();
    if let Some(link) = &ledger.broken_link {
        out.push(Deviation {
            kind: DeviationKind::BrokenLedger { link: link.clone() },
            from,
            to,
        });
    }
    for p in series {
        let kind = match p.result {
            ControlResult::Fail => DeviationKind::BelowThreshold {
                sequence: p.sequence,
                figure: p.figure,
            },
            ControlResult::InsufficientEvidence => DeviationKind::InsufficientSnapshot {
                sequence: p.sequence,
            },
            ControlResult::Pass => continue,
        };
        out.push(Deviation {
            kind,
            from: p.collected_at,
            to: p.collected_at,
        });
    }
    for g in gaps.iter().filter(|g| g.exceeds_limit) {
        out.push(Deviation {
            kind: DeviationKind::Gap {
                kind: g.kind,
                seconds: g.seconds,
            },
            from: g.from,
            to: g.to,
        });
    }
    // By the start as written (whole seconds), then the code's name, as the document lists them.
    out.sort_by_cached_key(|d| (crate::time::secs_text(d.from), d.code().as_str()));
    out
}

/// The longest run of consecutive snapshots that did not pass.
fn longest_failing_run(series: &[SeriesPoint]) -> Option<FailingRun> {
    let mut longest: Option<(usize, usize)> = None;
    let mut start = None;
    for (i, p) in series.iter().enumerate() {
        if p.result == ControlResult::Pass {
            start = None;
            continue;
        }
        let s = *start.get_or_insert(i);
        if longest.is_none_or(|(a, b)| i - s > b - a) {
            longest = Some((s, i));
        }
    }
    longest.map(|(a, b)| FailingRun {
        from: series[a].collected_at,
        to: series[b].collected_at,
        snapshots: (b - a + 1) as u64,
    })
}

/// Remediated users, each matched with the registration events of their open time.
fn remediated<'e>(
    episodes: &[Episode],
    events: impl Iterator<Item = &'e AuditEvent>,
) -> Vec<RemediatedUser> {
    let mut by_user: HashMap<&str, Vec<&AuditEvent>> = HashMap::new();
    for event in events {
        if REGISTRATION_ACTIVITIES.contains(&event.activity.as_str())
            && let Some(id) = event.target_user_id.as_deref()
        {
            by_user.entry(id).or_default().push(event);
        }
    }
    let mut remediated: Vec<RemediatedUser> = episodes
        .iter()
        .map(|e| {
            let mut ids: Vec<String> = by_user
                .get(e.user_id.as_str())
                .into_iter()
                .flatten()
                // A day of slack before the first unregistered sighting: the report lags the
                // audit log by hours.
                .filter(|ev| {
                    let t = ev.activity_date_time.at();
                    t >= e.from - Duration::days(1) && t <= e.to
                })
                .map(|ev| ev.id.clone())
                .collect();
            ids.sort();
            RemediatedUser {
                user_id: e.user_id.clone(),
                user_principal_name: e.upn.clone(),
                first_seen_unregistered: e.from,
                first_seen_registered: e.to,
                days_open: (e.to - e.from).num_days().max(0) as u64,
                audit_event_ids: ids,
            }
        })
        .collect();
    remediated.sort_by(|a, b| {
        (a.first_seen_registered, &a.user_principal_name)
            .cmp(&(b.first_seen_registered, &b.user_principal_name))
    });
    remediated
}

/// The least a period must span to show that a control operated over time.
const MIN_PERIOD_SECONDS: i64 = 24 * 3600;

/// Insufficient evidence without two snapshots in a period of at least a day; else operated
/// effectively when nothing deviated.
fn conclusion(
    series: &[SeriesPoint],
    gaps: &[Gap],
    deviations: &[Deviation],
    ledger: &LedgerState,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> (Conclusion, ConclusionBasis) {
    let snapshots = series.len() as u64;
    let span = (to - from).num_seconds();
    if snapshots == 0 {
        (
            Conclusion::InsufficientEvidence,
            ConclusionBasis::NoSnapshot,
        )
    } else if snapshots == 1 {
        (
            Conclusion::InsufficientEvidence,
            ConclusionBasis::OneSnapshot,
        )
    } else if span < MIN_PERIOD_SECONDS {
        (
            Conclusion::InsufficientEvidence,
            ConclusionBasis::TooShort { seconds: span },
        )
    } else if deviations.is_empty() {
        (
            Conclusion::OperatedEffectively,
            ConclusionBasis::NoDeviation { snapshots },
        )
    } else {
        (
            Conclusion::DeviationsNoted,
            ConclusionBasis::Deviations {
                snapshots,
                not_passing: series
                    .iter()
                    .filter(|p| p.result != ControlResult::Pass)
                    .count() as u64,
                gaps_over_limit: gaps.iter().filter(|g| g.exceeds_limit).count() as u64,
                broken_ledger: ledger.broken_link.is_some(),
            },
        )
    }
}
