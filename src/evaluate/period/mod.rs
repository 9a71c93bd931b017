//! Evaluation of ID-01 over an audit period (SOC 2 Type II), fed one snapshot at a time.
//!
//! [`PeriodAnalysis`] keeps state per user (so it grows with the tenant) and a few numbers per
//! snapshot (so a year of daily snapshots is small); it never holds two snapshots at once. Like
//! the point-in-time evaluation it is pure: the caller loads the snapshots, in collection order.
//! [`PeriodAnalysis::finish`] then runs the period's stages (in `conclude`): deviations, gaps,
//! the longest failing run, remediation and the conclusion, as typed facts.

mod conclude;
mod point;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::classify::lowercase;
use super::{ControlResult, Figure};
use crate::snapshot::AuditEvent;

pub use self::conclude::{
    Conclusion, ConclusionBasis, Deviation, DeviationCode, DeviationKind, FailingRun, Gap, GapKind,
    OpenItem, RemediatedUser,
};
pub(crate) use self::point::PointBuilder;
pub use self::point::{PointRow, SnapshotPoint};

/// Audit activities that show a method being registered (remediation evidence).
pub const REGISTRATION_ACTIVITIES: [&str; 3] = [
    "User registered security info",
    "Admin registered security info",
    "User registered all required security info",
];

/// One snapshot as the period sees it.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    pub sequence: u64,
    pub collected_at: DateTime<Utc>,
    pub sha256: String,
}

/// Whether the history's chain held, as the store's verify found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerState {
    pub verified: bool,
    /// The first broken link, when `--allow-broken-history` let the report go on.
    pub broken_link: Option<String>,
}

/// One snapshot's figure and result in the period's series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    pub sequence: u64,
    pub collected_at: DateTime<Utc>,
    pub figure: Figure,
    pub result: ControlResult,
    pub sha256: String,
    pub joiners: u64,
    pub leavers: u64,
}

crate::vocabulary! {
    pub enum PopulationChangeKind {
        Joiner => "joiner",
        Leaver => "leaver",
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PopulationChange {
    pub collected_at: DateTime<Utc>,
    pub sequence: u64,
    pub change: PopulationChangeKind,
    pub user_id: String,
    pub user_principal_name: String,
}

/// The period, concluded: what evidence.json's `period` and the period's CSVs are built from.
#[derive(Debug, Clone)]
pub struct PeriodFacts {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub max_gap_hours: u32,
    pub ledger: LedgerState,
    pub series: Vec<SeriesPoint>,
    pub conclusion: Conclusion,
    pub basis: ConclusionBasis,
    /// Sorted by start, then code.
    pub deviations: Vec<Deviation>,
    pub gaps: Vec<Gap>,
    pub longest_failing_run: Option<FailingRun>,
    /// Sorted by the time they were first seen registered, then UPN.
    pub remediated: Vec<RemediatedUser>,
    /// Longest open first, then UPN.
    pub still_unregistered: Vec<OpenItem>,
    /// Deduplicated by id, sorted by time then id, with the first snapshot that saw each.
    pub audit_events: Vec<(AuditEvent, u64)>,
    pub population_changes: Vec<PopulationChange>,
}

struct UserTrack {
    upn: String,
    in_scope: bool,
    /// Since when the user has been in scope and unregistered, without a break.
    open_since: Option<DateTime<Utc>>,
    last_seen: u64,
}

/// A stretch during which one user was in scope and unregistered, ended by a registration.
struct Episode {
    user_id: String,
    upn: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

pub struct PeriodAnalysis {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max_gap_hours: u32,
    series: Vec<SeriesPoint>,
    users: FxHashMap<String, UserTrack>,
    episodes: Vec<Episode>,
    events: BTreeMap<String, (AuditEvent, u64)>,
    changes: Vec<PopulationChange>,
}

impl PeriodAnalysis {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>, max_gap_hours: u32) -> PeriodAnalysis {
        PeriodAnalysis {
            from,
            to,
            max_gap_hours,
            series: Vec::new(),
            users: FxHashMap::default(),
            episodes: Vec::new(),
            events: BTreeMap::new(),
            changes: Vec::new(),
        }
    }

    /// Adds the next snapshot of the period (in collection order) as its point.
    pub fn add(&mut self, info: &SnapshotInfo, point: &SnapshotPoint) {
        let at = info.collected_at;
        let seq = info.sequence;
        let seen_any = !self.series.is_empty();
        let (mut joiners, mut leavers) = (0u64, 0u64);
        // This snapshot's changes and closed episodes, put in the evaluation's user order (UPN
        // case-insensitive, then id) below: the point keeps the snapshot's order.
        let mut changes = Vec::new();
        let mut episodes = Vec::new();
        for row in point.rows() {
            // Looked up by the borrowed id: a key is allocated only for a user new to the period.
            let track = match self.users.get_mut(row.id) {
                Some(track) => track,
                None => self.users.entry(row.id.to_string()).or_insert(UserTrack {
                    upn: String::new(),
                    in_scope: false,
                    open_since: None,
                    last_seen: 0,
                }),
            };
            if track.upn != row.user_principal_name {
                track.upn.clear();
                track.upn.push_str(row.user_principal_name);
            }
            if seen_any && row.in_scope != track.in_scope {
                let change = if row.in_scope {
                    joiners += 1;
                    PopulationChangeKind::Joiner
                } else {
                    leavers += 1;
                    PopulationChangeKind::Leaver
                };
                changes.push(PopulationChange {
                    collected_at: at,
                    sequence: seq,
                    change,
                    user_id: row.id.to_string(),
                    user_principal_name: row.user_principal_name.to_string(),
                });
            }
            track.in_scope = row.in_scope;
            track.last_seen = seq;
            match (row.in_scope, row.registered, track.open_since) {
                (true, false, None) => track.open_since = Some(at),
                (true, true, Some(since)) => {
                    episodes.push(Episode {
                        user_id: row.id.to_string(),
                        upn: row.user_principal_name.to_string(),
                        from: since,
                        to: at,
                    });
                    track.open_since = None;
                }
                // Left the scope (disabled, excepted, ...): the gap closed without a registration.
                (false, _, Some(_)) => track.open_since = None,
                _ => {}
            }
        }
        changes.sort_by(|a, b| {
            user_order(&a.user_principal_name, &a.user_id)
                .cmp(&user_order(&b.user_principal_name, &b.user_id))
        });
        episodes
            .sort_by(|a, b| user_order(&a.upn, &a.user_id).cmp(&user_order(&b.upn, &b.user_id)));
        self.changes.append(&mut changes);
        self.episodes.append(&mut episodes);
        // Users gone from /users altogether leave the population too, and are forgotten (one who
        // comes back is a joiner again). Sorted: HashMap order would change the CSV run to run.
        let mut gone: Vec<(String, UserTrack)> = self
            .users
            .extract_if(|_, track| track.last_seen != seq)
            .collect();
        gone.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (id, track) in gone.into_iter().filter(|(_, track)| track.in_scope) {
            leavers += 1;
            self.changes.push(PopulationChange {
                collected_at: at,
                sequence: seq,
                change: PopulationChangeKind::Leaver,
                user_id: id,
                user_principal_name: track.upn,
            });
        }

        for event in point.audit_events.iter().flatten() {
            let t = event.activity_date_time.at();
            let in_period = t >= self.from && t <= self.to;
            if in_period && !self.events.contains_key(&event.id) {
                self.events.insert(event.id.clone(), (event.clone(), seq));
            }
        }

        self.series.push(SeriesPoint {
            sequence: seq,
            collected_at: at,
            figure: point.figure,
            result: point.result,
            sha256: info.sha256.clone(),
            joiners,
            leavers,
        });
    }

    /// Concludes the period. `ledger` says whether the history's chain held.
    pub fn finish(self, ledger: LedgerState) -> PeriodFacts {
        conclude::conclude(self, ledger)
    }
}

/// The evaluation's order of users: UPN (case-insensitive), then id.
fn user_order<'u>(upn: &'u str, id: &'u str) -> (std::borrow::Cow<'u, str>, &'u str) {
    (lowercase(upn), id)
}
