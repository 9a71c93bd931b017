//! Alerts: telling people the day the control slips, when it recovers, and when a collection
//! breaks, rather than at the next audit.
//!
//! This module is the pure part: [`decide`] whether a stored snapshot is news, the [`Alert`] that
//! says so (the figure, what changed since the previous snapshot, what to do next) and its text.
//! `payload` shapes an alert for each receiver, `deliver` sends it (the one part that touches the
//! network), `record` keeps what was sent beside the tenant's ledger, and `job` is the step
//! `collect` and `import` run once the snapshot is stored. Nothing here reaches a
//! package: a package stays a function of the snapshots and the config, and only the period's
//! count of deviations signalled is read back from the record.

pub mod deliver;
pub mod job;
pub mod payload;
pub mod record;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::evaluate::{ControlResult, Evaluation};
use chrono::{DateTime, Utc};

use crate::evidence::words::{counted, thousands};
use crate::snapshot::Tenant;
use crate::time::secs_text;

/// How many UPNs an alert names for each kind of change; the counts are always complete.
pub const CHANGE_SAMPLE: usize = 5;

/// Error text longer than this is cut in a message (receivers limit a message's size).
const ERROR_TEXT_CAP: usize = 1500;

/// Why an alert is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    /// The point-in-time result is `fail` or `insufficient-evidence`.
    NotPassing,
    /// The result is `pass` again after a snapshot that did not pass.
    Recovered,
    /// A collection failed, so nothing was stored.
    CollectionFailed,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::NotPassing => "not-passing",
            AlertKind::Recovered => "recovered",
            AlertKind::CollectionFailed => "collection-failed",
        }
    }
}

impl std::fmt::Display for AlertKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a stored snapshot is news: a result that is not `pass` always is (every day it lasts,
/// so a failing control is never silent), and so is a change to `pass` (a recovery). A `pass`
/// after a `pass`, or a first snapshot that passes, is not. A failed collection is always news and
/// does not come through here.
pub fn decide(previous: Option<ControlResult>, current: ControlResult) -> Option<AlertKind> {
    use ControlResult::{Fail, InsufficientEvidence, Pass};
    match (previous, current) {
        (_, Fail | InsufficientEvidence) => Some(AlertKind::NotPassing),
        (Some(Fail | InsufficientEvidence), Pass) => Some(AlertKind::Recovered),
        (None | Some(Pass), Pass) => None,
    }
}

/// What an alert says.
#[derive(Debug, Clone, PartialEq)]
pub enum Alert {
    /// About a stored snapshot's point-in-time result.
    Control(ControlAlert),
    /// A collection that failed: nothing was stored.
    CollectionFailed(CollectionFailure),
}

/// A stored snapshot's result, with the figure and what changed since the previous snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlAlert {
    pub tenant_id: String,
    pub tenant_name: String,
    /// The snapshot's ledger sequence.
    pub sequence: u64,
    /// The snapshot's collection time.
    pub as_of: DateTime<Utc>,
    pub result: ControlResult,
    /// The previous snapshot's result; `None` for the tenant's first snapshot.
    pub previous: Option<ControlResult>,
    /// Why the result is what it is, in one sentence (the evaluation's own).
    pub reason: String,
    pub registered: u64,
    pub in_scope: u64,
    /// Floored to two decimals, as in the package.
    pub percent: String,
    pub threshold_percent: String,
    /// `None` without a previous snapshot to compare with.
    pub changes: Option<Changes>,
    /// The command that builds the evidence package from the store.
    pub package_command: String,
}

impl ControlAlert {
    /// The alert for `evaluation` of the snapshot stored as `sequence`; `previous` is the
    /// previous snapshot's result and population, when there is one.
    pub fn new(
        tenant: &Tenant,
        sequence: u64,
        evaluation: &Evaluation,
        previous: Option<(ControlResult, &Population)>,
        package_command: String,
    ) -> ControlAlert {
        // The figure in the package's own words and numbers.
        let pit = crate::evidence::point_in_time(evaluation);
        ControlAlert {
            tenant_id: tenant.id.clone(),
            tenant_name: tenant.name.clone(),
            sequence,
            as_of: evaluation.as_of,
            result: evaluation.result,
            previous: previous.map(|(result, _)| result),
            reason: pit.result_reason,
            registered: pit.registered,
            in_scope: pit.in_scope,
            percent: pit.percent,
            threshold_percent: pit.threshold_percent,
            changes: previous.map(|(_, population)| changes(population, evaluation)),
            package_command,
        }
    }
}

/// A collection that failed before anything was stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionFailure {
    /// The tenant as configured (`[tenant] id` or `AZURE_TENANT_ID`), when known.
    pub tenant: Option<String>,
    /// When the collection was attempted.
    pub attempted_at: DateTime<Utc>,
    /// The collection time of the newest stored snapshot, so the reader knows how old the
    /// evidence now is.
    pub last_snapshot_at: Option<DateTime<Utc>>,
    /// The error chain, as the run printed it.
    pub error: String,
    pub what_to_do: String,
}

impl CollectionFailure {
    pub fn new(
        tenant: Option<&str>,
        attempted_at: DateTime<Utc>,
        last_snapshot_at: Option<DateTime<Utc>>,
        error: &str,
        max_gap_hours: u32,
    ) -> CollectionFailure {
        CollectionFailure {
            tenant: tenant.map(str::to_string),
            attempted_at,
            last_snapshot_at,
            error: error.to_string(),
            what_to_do: format!(
                "Fix what the error names, then run `mfa-evidence collect` again. Nothing was stored: \
                 a stretch longer than {} without a snapshot is a deviation of the audit period.",
                counted(max_gap_hours, "hour", "hours")
            ),
        }
    }
}

/// What changed in the in-scope population since the previous snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// In scope now, and not in the previous snapshot (new, or back from disabled, excepted, ...).
    pub joiners: u64,
    /// The first [`CHANGE_SAMPLE`] joiners' UPNs, in UPN order.
    pub joiners_sample: Vec<String>,
    /// In scope and unregistered now, and not so in the previous snapshot: registered before,
    /// out of scope, or absent (an unregistered joiner counts here too).
    pub newly_unregistered: u64,
    pub newly_unregistered_sample: Vec<String>,
}

/// The in-scope users of a snapshot and whether each was registered: what the next snapshot is
/// compared with. Only ids are kept, so the previous snapshot itself can be dropped.
#[derive(Debug, Clone, Default)]
pub struct Population {
    registered: HashMap<String, bool>,
}

impl Population {
    pub fn of(evaluation: &Evaluation) -> Population {
        Population {
            registered: evaluation
                .users
                .iter()
                .filter_map(|row| row.registered.map(|r| (row.user.id.clone(), r)))
                .collect(),
        }
    }
}

/// The joiners and the newly unregistered of `current` against the previous population.
pub fn changes(previous: &Population, current: &Evaluation) -> Changes {
    let mut out = Changes::default();
    // The evaluation's users are sorted by UPN, so the samples are the first few in that order.
    for row in &current.users {
        let Some(registered) = row.registered else {
            continue;
        };
        let before = previous.registered.get(&row.user.id).copied();
        let upn = || row.user.user_principal_name.clone();
        if before.is_none() {
            out.joiners += 1;
            if out.joiners_sample.len() < CHANGE_SAMPLE {
                out.joiners_sample.push(upn());
            }
        }
        if !registered && before != Some(false) {
            out.newly_unregistered += 1;
            if out.newly_unregistered_sample.len() < CHANGE_SAMPLE {
                out.newly_unregistered_sample.push(upn());
            }
        }
    }
    out
}

/// `mfa-evidence [--config FILE] report --tenant ID`: the command that builds the package from
/// the same store, with the config file the run used.
pub fn package_command(config_file: Option<&Path>, tenant_id: &str) -> String {
    let mut command = String::from("mfa-evidence");
    if let Some(path) = config_file {
        command.push_str(" --config ");
        command.push_str(&shell_word(&path.to_string_lossy()));
    }
    command.push_str(" report --tenant ");
    command.push_str(&shell_word(tenant_id));
    command
}

/// A word a POSIX shell reads back unchanged: as it is when plain, else single-quoted.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// One labelled value of an alert, in the order receivers show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

impl Alert {
    pub fn kind(&self) -> AlertKind {
        match self {
            Alert::Control(a) if a.result == ControlResult::Pass => AlertKind::Recovered,
            Alert::Control(_) => AlertKind::NotPassing,
            Alert::CollectionFailed(_) => AlertKind::CollectionFailed,
        }
    }

    /// Whether the alert reports something wrong (drives the colour receivers show).
    pub fn is_bad_news(&self) -> bool {
        self.kind() != AlertKind::Recovered
    }

    /// One line: what happened, to whom, with the figure.
    pub fn title(&self) -> String {
        match self {
            Alert::Control(a) => match a.result {
                ControlResult::Fail => format!(
                    "ID-01 fails for {}: {} % registered, threshold {} %",
                    a.tenant_name, a.percent, a.threshold_percent
                ),
                ControlResult::InsufficientEvidence => {
                    format!("ID-01 has insufficient evidence for {}", a.tenant_name)
                }
                ControlResult::Pass => format!(
                    "ID-01 passes again for {}: {} % registered, threshold {} %",
                    a.tenant_name, a.percent, a.threshold_percent
                ),
            },
            Alert::CollectionFailed(f) => match &f.tenant {
                Some(t) => format!("ID-01 collection failed for tenant {t}"),
                None => "ID-01 collection failed".to_string(),
            },
        }
    }

    /// The sentence under the title.
    pub fn summary(&self) -> String {
        match self {
            Alert::Control(a) => a.reason.clone(),
            Alert::CollectionFailed(_) => {
                "The collection from Microsoft Graph failed, so no snapshot was stored.".to_string()
            }
        }
    }

    /// The labelled values, in display order.
    pub fn facts(&self) -> Vec<Fact> {
        let fact = |label, value| Fact { label, value };
        match self {
            Alert::Control(a) => {
                let mut facts = vec![
                    fact("Tenant", format!("{} ({})", a.tenant_name, a.tenant_id)),
                    fact("As of", secs_text(a.as_of)),
                    fact(
                        "Result",
                        match a.previous {
                            Some(p) => {
                                format!("{} (previous snapshot: {})", a.result.as_str(), p.as_str())
                            }
                            None => format!(
                                "{} (no previous snapshot to compare with)",
                                a.result.as_str()
                            ),
                        },
                    ),
                    fact(
                        "Registered",
                        format!(
                            "{} of {} in scope ({} %)",
                            thousands(a.registered),
                            thousands(a.in_scope),
                            a.percent
                        ),
                    ),
                    fact("Threshold", format!("{} %", a.threshold_percent)),
                ];
                if let Some(c) = &a.changes {
                    facts.push(fact(
                        "Joiners since the previous snapshot",
                        listed(c.joiners, &c.joiners_sample),
                    ));
                    facts.push(fact(
                        "Newly unregistered",
                        listed(c.newly_unregistered, &c.newly_unregistered_sample),
                    ));
                }
                facts.push(fact("Snapshot", format!("sequence {}", a.sequence)));
                facts
            }
            Alert::CollectionFailed(f) => {
                let mut facts = Vec::new();
                if let Some(t) = &f.tenant {
                    facts.push(fact("Tenant", t.clone()));
                }
                facts.push(fact("Attempted at", secs_text(f.attempted_at)));
                facts.push(fact(
                    "Newest stored snapshot",
                    f.last_snapshot_at
                        .map_or_else(|| "none".to_string(), secs_text),
                ));
                facts
            }
        }
    }

    /// The error of a failed collection, cut to a size every receiver takes.
    pub fn error_text(&self) -> Option<String> {
        match self {
            Alert::Control(_) => None,
            Alert::CollectionFailed(f) => Some(cut(&f.error, ERROR_TEXT_CAP)),
        }
    }

    /// What to do next: the sentence, and a command to run when there is one.
    pub fn next_step(&self) -> (String, Option<String>) {
        match self {
            Alert::Control(a) => (
                match a.result {
                    ControlResult::Pass => "Build the evidence package:",
                    ControlResult::Fail => {
                        "Have the unregistered users register a qualifying method (the package's unregistered.csv lists them all), or record approved exceptions. Build the package:"
                    }
                    ControlResult::InsufficientEvidence => {
                        "The package's findings say what is missing. Build the package:"
                    }
                }
                .to_string(),
                Some(a.package_command.clone()),
            ),
            Alert::CollectionFailed(f) => (f.what_to_do.clone(), None),
        }
    }

    /// The whole alert as plain text (mail bodies, and the fallback of rich messages).
    pub fn text(&self) -> String {
        let mut out = format!("{}\n\n{}\n\n", self.title(), self.summary());
        for f in self.facts() {
            out.push_str(&format!("{}: {}\n", f.label, f.value));
        }
        if let Some(error) = self.error_text() {
            out.push_str(&format!("\nError:\n{error}\n"));
        }
        let (step, command) = self.next_step();
        out.push_str(&format!("\n{step}\n"));
        if let Some(command) = command {
            out.push_str(&format!("\n    {command}\n"));
        }
        out.push_str(&format!("\n-- {}, control ID-01\n", crate::tool_id()));
        out
    }
}

/// `none`, or the count and the first names: `7: a, b, c, d, e and 2 more`.
fn listed(count: u64, sample: &[String]) -> String {
    if count == 0 {
        return "none".to_string();
    }
    let mut text = format!("{}: {}", thousands(count), sample.join(", "));
    let rest = count.saturating_sub(sample.len() as u64);
    if rest > 0 {
        text.push_str(&format!(" and {} more", thousands(rest)));
    }
    text
}

/// At most `max` characters, marked when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => format!("{} [...]", &text[..at]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ControlResult::{Fail, InsufficientEvidence as Insufficient, Pass};

    #[test]
    fn what_is_news() {
        let table = [
            (None, Pass, None),
            (None, Fail, Some(AlertKind::NotPassing)),
            (None, Insufficient, Some(AlertKind::NotPassing)),
            (Some(Pass), Pass, None),
            (Some(Pass), Fail, Some(AlertKind::NotPassing)),
            (Some(Pass), Insufficient, Some(AlertKind::NotPassing)),
            // A control that stays failing is told every day it lasts.
            (Some(Fail), Fail, Some(AlertKind::NotPassing)),
            (Some(Fail), Insufficient, Some(AlertKind::NotPassing)),
            (Some(Insufficient), Fail, Some(AlertKind::NotPassing)),
            (
                Some(Insufficient),
                Insufficient,
                Some(AlertKind::NotPassing),
            ),
            (Some(Fail), Pass, Some(AlertKind::Recovered)),
            (Some(Insufficient), Pass, Some(AlertKind::Recovered)),
        ];
        for (previous, current, expected) in table {
            assert_eq!(
                decide(previous, current),
                expected,
                "{previous:?} then {current:?}"
            );
        }
    }

    #[test]
    fn lists_name_the_first_few_and_count_the_rest() {
        assert_eq!(listed(0, &[]), "none");
        assert_eq!(listed(1, &["a@x".into()]), "1: a@x");
        let five: Vec<String> = (1..=5).map(|i| format!("u{i}@x")).collect();
        assert_eq!(
            listed(1_207, &five),
            "1,207: u1@x, u2@x, u3@x, u4@x, u5@x and 1,202 more"
        );
    }

    #[test]
    fn the_package_command_survives_a_shell() {
        assert_eq!(
            package_command(
                Some(Path::new("/etc/mfa-evidence/mfa-evidence.toml")),
                "9ad8c6d4-c793-4206-b09d-4ed13a9152d1"
            ),
            "mfa-evidence --config /etc/mfa-evidence/mfa-evidence.toml report --tenant 9ad8c6d4-c793-4206-b09d-4ed13a9152d1"
        );
        assert_eq!(
            package_command(Some(Path::new("/srv/it's here/m.toml")), "t"),
            r"mfa-evidence --config '/srv/it'\''s here/m.toml' report --tenant t"
        );
        assert_eq!(package_command(None, "t"), "mfa-evidence report --tenant t");
    }

    #[test]
    fn long_errors_are_cut_on_a_character() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("äöüß", 2), "äö [...]");
    }
}
