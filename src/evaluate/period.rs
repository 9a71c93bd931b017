//! Evaluation of ID-01 over an audit period (SOC 2 Type II), fed one snapshot at a time.
//!
//! The analysis keeps state per user (so it grows with the tenant) and a few numbers per snapshot
//! (so a year of daily snapshots is small); it never holds two snapshots at once. Like the
//! point-in-time evaluation it is pure: the caller loads the snapshots, in collection order.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::{ControlResult, Evaluation};
use crate::evidence::{
    ActivityCount, AuditEventSummary, Deviation, FailingRun, Gap, HistoryPoint, LedgerState,
    OpenItem, Period, PopulationChanges, RemediatedUser, RemediationSummary, SAMPLE_CAP,
};
use crate::findings::{counted, thousands};
use crate::snapshot::AuditEvent;

/// Audit activities that show a method being registered (remediation evidence).
pub const REGISTRATION_ACTIVITIES: [&str; 3] = [
    "User registered security info",
    "Admin registered security info",
    "User registered all required security info",
];

fn time_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Hours with two decimals, e.g. `49.50`.
fn hours_text(seconds: i64) -> String {
    let hundredths = seconds.max(0) * 100 / 3600;
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// One snapshot as the period sees it.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    pub sequence: u64,
    pub collected_at: DateTime<Utc>,
    pub sha256: String,
}

/// The full lists behind the period's summary, for the CSVs.
#[derive(Debug, Clone, Default)]
pub struct PeriodTables {
    pub remediated: Vec<RemediatedUser>,
    pub still_unregistered: Vec<OpenItem>,
    /// Deduplicated by id, sorted by time then id, with the first snapshot that saw each.
    pub audit_events: Vec<(AuditEvent, u64)>,
    pub population_changes: Vec<PopulationChange>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PopulationChange {
    pub collected_at: String,
    pub sequence: u64,
    /// `joiner` | `leaver`
    pub change: &'static str,
    pub user_id: String,
    pub user_principal_name: String,
}

struct UserTrack {
    upn: String,
    in_scope: bool,
    /// Since when the user has been in scope and unregistered, without a break.
    open_since: Option<DateTime<Utc>>,
    last_seen: u64,
}

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
    series: Vec<HistoryPoint>,
    times: Vec<DateTime<Utc>>,
    results: Vec<ControlResult>,
    users: HashMap<String, UserTrack>,
    episodes: Vec<Episode>,
    events: BTreeMap<String, (AuditEvent, u64)>,
    changes: Vec<PopulationChange>,
    seen_any: bool,
}

impl PeriodAnalysis {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>, max_gap_hours: u32) -> PeriodAnalysis {
        PeriodAnalysis {
            from,
            to,
            max_gap_hours,
            series: Vec::new(),
            times: Vec::new(),
            results: Vec::new(),
            users: HashMap::new(),
            episodes: Vec::new(),
            events: BTreeMap::new(),
            changes: Vec::new(),
            seen_any: false,
        }
    }

    /// Adds the next snapshot of the period (in collection order) with its evaluation.
    pub fn add(
        &mut self,
        info: &SnapshotInfo,
        evaluation: &Evaluation,
        audit_events: Option<&[AuditEvent]>,
    ) {
        let at = info.collected_at;
        let seq = info.sequence;
        let (mut joiners, mut leavers) = (0u64, 0u64);
        for row in &evaluation.users {
            let in_scope = row.registered.is_some();
            let registered = row.registered == Some(true);
            let track = self
                .users
                .entry(row.user.id.clone())
                .or_insert_with(|| UserTrack {
                    upn: row.user.user_principal_name.clone(),
                    in_scope: false,
                    open_since: None,
                    last_seen: 0,
                });
            track.upn.clone_from(&row.user.user_principal_name);
            if self.seen_any && in_scope != track.in_scope {
                let change = if in_scope { "joiner" } else { "leaver" };
                if in_scope {
                    joiners += 1
                } else {
                    leavers += 1
                }
                self.changes.push(PopulationChange {
                    collected_at: time_text(at),
                    sequence: seq,
                    change,
                    user_id: row.user.id.clone(),
                    user_principal_name: row.user.user_principal_name.clone(),
                });
            }
            track.in_scope = in_scope;
            track.last_seen = seq;
            match (in_scope, registered, track.open_since) {
                (true, false, None) => track.open_since = Some(at),
                (true, true, Some(since)) => {
                    self.episodes.push(Episode {
                        user_id: row.user.id.clone(),
                        upn: row.user.user_principal_name.clone(),
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
                collected_at: time_text(at),
                sequence: seq,
                change: "leaver",
                user_id: id,
                user_principal_name: track.upn,
            });
        }

        for event in audit_events.into_iter().flatten() {
            let in_period =
                parse(&event.activity_date_time).is_some_and(|t| t >= self.from && t <= self.to);
            if in_period && !self.events.contains_key(&event.id) {
                self.events.insert(event.id.clone(), (event.clone(), seq));
            }
        }

        let pit = &evaluation.point_in_time;
        self.series.push(HistoryPoint {
            sequence: seq,
            collected_at: time_text(at),
            in_scope: pit.in_scope,
            registered: pit.registered,
            percent: pit.percent.clone(),
            result: pit.result.clone(),
            sha256: info.sha256.clone(),
            joiners,
            leavers,
        });
        self.times.push(at);
        self.results.push(evaluation.result);
        self.seen_any = true;
    }

    /// Concludes the period. `ledger` says whether the history's chain held.
    pub fn finish(self, ledger: LedgerState) -> (Period, PeriodTables) {
        let mut deviations = Vec::new();
        if let Some(link) = &ledger.broken_link {
            deviations.push(Deviation {
                code: "broken-ledger".into(),
                description: format!("The evidence store's ledger is broken: {link}. History after the break cannot be relied on."),
                from: time_text(self.from),
                to: time_text(self.to),
            });
        }
        for p in &self.series {
            match p.result.as_str() {
                "fail" => deviations.push(Deviation {
                    code: "below-threshold".into(),
                    description: format!(
                        "Snapshot {}: {} % ({} of {} in scope registered), below the threshold.",
                        p.sequence, p.percent, p.registered, p.in_scope
                    ),
                    from: p.collected_at.clone(),
                    to: p.collected_at.clone(),
                }),
                "insufficient-evidence" => deviations.push(Deviation {
                    code: "insufficient-snapshot".into(),
                    description: format!(
                        "Snapshot {}: insufficient evidence for a result.",
                        p.sequence
                    ),
                    from: p.collected_at.clone(),
                    to: p.collected_at.clone(),
                }),
                _ => {}
            }
        }

        // Gaps: between consecutive snapshots, and the uncovered time at the period's edges.
        let limit = i64::from(self.max_gap_hours) * 3600;
        let mut gaps = Vec::new();
        let mut gap =
            |kind: &str, a: DateTime<Utc>, b: DateTime<Utc>, deviations: &mut Vec<Deviation>| {
                let seconds = (b - a).num_seconds();
                let exceeds = seconds > limit;
                // An edge the first or last snapshot sits on is no gap at all.
                let uncovered_edge = kind != "between-snapshots" && seconds > 0;
                if exceeds || uncovered_edge {
                    gaps.push(Gap {
                        kind: kind.to_string(),
                        from: time_text(a),
                        to: time_text(b),
                        hours: hours_text(seconds),
                        exceeds_limit: exceeds,
                    });
                }
                if exceeds {
                    let (code, what) = match kind {
                        "period-start" => (
                            "uncovered-period-start",
                            "No snapshot covers the start of the period",
                        ),
                        "period-end" => (
                            "uncovered-period-end",
                            "No snapshot covers the end of the period",
                        ),
                        _ => ("monitoring-gap", "No snapshot was collected"),
                    };
                    deviations.push(Deviation {
                        code: code.into(),
                        description: format!(
                            "{what} for {} hours, more than the {} hours allowed.",
                            hours_text(seconds),
                            self.max_gap_hours
                        ),
                        from: time_text(a),
                        to: time_text(b),
                    });
                }
            };
        if let (Some(first), Some(last)) = (self.times.first(), self.times.last()) {
            gap("period-start", self.from, *first, &mut deviations);
            for pair in self.times.windows(2) {
                gap("between-snapshots", pair[0], pair[1], &mut deviations);
            }
            gap("period-end", *last, self.to, &mut deviations);
        }
        deviations.sort_by(|a, b| (&a.from, &a.code).cmp(&(&b.from, &b.code)));

        // The longest run of consecutive snapshots that did not pass.
        let mut longest: Option<(usize, usize)> = None;
        let mut start = None;
        for (i, r) in self.results.iter().enumerate() {
            if *r == ControlResult::Pass {
                start = None;
                continue;
            }
            let s = *start.get_or_insert(i);
            if longest.is_none_or(|(a, b)| i - s > b - a) {
                longest = Some((s, i));
            }
        }
        let longest_failing_run = longest.map(|(a, b)| FailingRun {
            from: self.series[a].collected_at.clone(),
            to: self.series[b].collected_at.clone(),
            snapshots: (b - a + 1) as u64,
        });

        // Remediation, matched with the registration events of each user's open time.
        let mut by_user: HashMap<&str, Vec<&AuditEvent>> = HashMap::new();
        for (event, _) in self.events.values() {
            if REGISTRATION_ACTIVITIES.contains(&event.activity.as_str())
                && let Some(id) = event.target_user_id.as_deref()
            {
                by_user.entry(id).or_default().push(event);
            }
        }
        let mut remediated: Vec<RemediatedUser> = self
            .episodes
            .iter()
            .map(|e| {
                let mut ids: Vec<String> = by_user
                    .get(e.user_id.as_str())
                    .into_iter()
                    .flatten()
                    // A day of slack before the first unregistered sighting: the report lags
                    // the audit log by hours.
                    .filter(|ev| {
                        parse(&ev.activity_date_time)
                            .is_some_and(|t| t >= e.from - chrono::Duration::days(1) && t <= e.to)
                    })
                    .map(|ev| ev.id.clone())
                    .collect();
                ids.sort();
                RemediatedUser {
                    user_id: e.user_id.clone(),
                    user_principal_name: e.upn.clone(),
                    first_seen_unregistered: time_text(e.from),
                    first_seen_registered: time_text(e.to),
                    days_open: (e.to - e.from).num_days().max(0) as u64,
                    audit_event_ids: ids,
                }
            })
            .collect();
        remediated.sort_by(|a, b| {
            (&a.first_seen_registered, &a.user_principal_name)
                .cmp(&(&b.first_seen_registered, &b.user_principal_name))
        });
        let end = self.times.last().copied().unwrap_or(self.to);
        let mut still_unregistered: Vec<OpenItem> = self
            .users
            .iter()
            .filter_map(|(id, t)| {
                t.open_since.map(|since| OpenItem {
                    user_id: id.clone(),
                    user_principal_name: t.upn.clone(),
                    first_seen_unregistered: time_text(since),
                    days_open: (end - since).num_days().max(0) as u64,
                })
            })
            .collect();
        still_unregistered.sort_by(|a, b| {
            (b.days_open, &a.user_principal_name).cmp(&(a.days_open, &b.user_principal_name))
        });
        let mut days: Vec<u64> = remediated.iter().map(|r| r.days_open).collect();
        days.sort_unstable();
        let remediation = RemediationSummary {
            remediated_users: remediated.len() as u64,
            with_audit_event: remediated
                .iter()
                .filter(|r| !r.audit_event_ids.is_empty())
                .count() as u64,
            median_days_open: days
                .get(days.len() / 2)
                .copied()
                .filter(|_| !days.is_empty()),
            max_days_open: days.last().copied(),
            still_unregistered: still_unregistered.len() as u64,
            remediated_sample: remediated.iter().take(SAMPLE_CAP).cloned().collect(),
            still_unregistered_sample: still_unregistered
                .iter()
                .take(SAMPLE_CAP)
                .cloned()
                .collect(),
        };

        let mut activity: BTreeMap<&str, u64> = BTreeMap::new();
        for (e, _) in self.events.values() {
            *activity.entry(e.activity.as_str()).or_default() += 1;
        }
        let audit_events = AuditEventSummary {
            total: self.events.len() as u64,
            by_activity: activity
                .into_iter()
                .map(|(activity, count)| ActivityCount {
                    activity: activity.to_string(),
                    count,
                })
                .collect(),
        };
        let population_changes = PopulationChanges {
            joiners: self.series.iter().map(|p| p.joiners).sum(),
            leavers: self.series.iter().map(|p| p.leavers).sum(),
        };

        let snapshots = self.series.len() as u64;
        let (conclusion, conclusion_reason) = if snapshots == 0 {
            (
                "insufficient-evidence",
                "The period holds no snapshot: there is no evidence that the control operated."
                    .to_string(),
            )
        } else if deviations.is_empty() {
            (
                "operated-effectively",
                format!(
                    "{} of the period passed and no interval between collections exceeded {} hours.",
                    if snapshots == 1 {
                        "The one snapshot".to_string()
                    } else {
                        format!("All {} snapshots", thousands(snapshots))
                    },
                    self.max_gap_hours
                ),
            )
        } else {
            let failing = self
                .results
                .iter()
                .filter(|r| **r != ControlResult::Pass)
                .count();
            let gaps_over = gaps.iter().filter(|g| g.exceeds_limit).count();
            (
                "deviations-noted",
                format!(
                    "{} of {} did not pass and {} {} hours{}.",
                    thousands(failing as u64),
                    counted(snapshots, "snapshot", "snapshots"),
                    counted(
                        gaps_over as u64,
                        "monitoring gap exceeded",
                        "monitoring gaps exceeded"
                    ),
                    self.max_gap_hours,
                    if ledger.broken_link.is_some() {
                        "; the ledger is broken"
                    } else {
                        ""
                    }
                ),
            )
        };

        let mut audit_list: Vec<(AuditEvent, u64)> = self.events.into_values().collect();
        audit_list.sort_by(|a, b| {
            (&a.0.activity_date_time, &a.0.id).cmp(&(&b.0.activity_date_time, &b.0.id))
        });
        let period = Period {
            from: time_text(self.from),
            to: time_text(self.to),
            snapshots,
            conclusion: conclusion.to_string(),
            conclusion_reason,
            max_gap_hours: self.max_gap_hours,
            ledger,
            series: self.series,
            deviations,
            longest_failing_run,
            gaps,
            remediation,
            population_changes,
            audit_events,
        };
        let tables = PeriodTables {
            remediated,
            still_unregistered,
            audit_events: audit_list,
            population_changes: self.changes,
        };
        (period, tables)
    }
}
