//! Evaluation of ID-01 for one snapshot: a pure function of the snapshot and the control
//! settings, with no I/O and no clock (the as-of time is the snapshot's collection time).
//!
//! [`evaluate`] runs named stages, each computing typed facts from the ones before:
//! [`classify`] (one classification per user, the registered rule), `tally` (reconciliation,
//! figure, Microsoft's flags, method groups), `accounts` (break-glass accounts), `exceptions`,
//! `freshness`, [`findings`] and `decide` (the result). It writes no sentence and formats no
//! number: the words of the evidence are built from these facts in `evidence`.

mod accounts;
pub mod classify;
mod decide;
mod exceptions;
pub mod findings;
mod freshness;
pub mod period;
mod tally;

use chrono::{DateTime, Utc};

pub use self::accounts::BreakGlassAccount;
pub use self::classify::{Classification, MatchedBy, Reason, UserRow};
pub use self::decide::{ControlResult, Figure, ResultBasis, decide};
pub use self::exceptions::{ExceptionState, ExceptionStatus};
pub use self::findings::{Code, Finding, Severity};
pub use self::freshness::Freshness;
pub(crate) use self::tally::microsoft_disagrees;
pub use self::tally::{MethodCountKey, MicrosoftCounts, Reconciliation, Tally};

use self::findings::{Facts, SourceCheck};
use crate::config::ControlSettings;
use crate::snapshot::{Snapshot, SourceRecord};
use crate::source::{Source, SourceStatus};

/// The point-in-time evaluation of a snapshot.
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    /// The snapshot's collection time.
    pub as_of: DateTime<Utc>,
    pub settings: &'a ControlSettings,
    pub result: ControlResult,
    pub basis: ResultBasis,
    pub tally: Tally,
    pub break_glass_accounts: Vec<BreakGlassAccount>,
    pub exceptions: Vec<ExceptionState>,
    pub freshness: Freshness,
    pub findings: Vec<Finding>,
    /// Every user from /users, sorted by UPN (case-insensitive), then id.
    pub users: Vec<UserRow<'a>>,
}

impl Evaluation<'_> {
    pub fn figure(&self) -> Figure {
        self.tally.figure
    }
}

/// The sources a result needs: organization, users and the registration report.
const REQUIRED_FOR_RESULT: [Source; 3] =
    [Source::Organization, Source::Users, Source::Registration];

pub fn evaluate<'a>(snapshot: &'a Snapshot, settings: &'a ControlSettings) -> Evaluation<'a> {
    let as_of = snapshot.collected_at;
    let group_members = classify::break_glass_group(
        &snapshot.collection,
        snapshot.break_glass_members.as_deref(),
        settings,
    );
    let users = classify::classify(snapshot, settings, as_of.date_naive(), group_members);
    let tally = tally::tally(&users, snapshot);
    let break_glass_accounts = accounts::break_glass_accounts(&users, snapshot, settings);
    let exceptions = exceptions::exception_states(&users, settings, as_of.date_naive());
    let freshness = freshness::freshness(snapshot, settings, as_of);

    let sources = &snapshot.collection.sources;
    let check = source_check(sources, settings, group_members.is_some());
    let findings = findings::findings(&Facts {
        snapshot,
        settings,
        as_of,
        rows: &users,
        tally: &tally,
        break_glass: &break_glass_accounts,
        exceptions: &exceptions,
        stale_rows: freshness.stale_rows,
        sources: &check,
    });
    let (result, basis) = outcome(sources, &check, tally.figure, settings);
    Evaluation {
        as_of,
        settings,
        result,
        basis,
        tally,
        break_glass_accounts,
        exceptions,
        freshness,
        findings,
        users,
    }
}

/// Which sources are missing; `group_members_found` when [`classify::break_glass_group`] found
/// the configured group's members.
pub(crate) fn source_check<'a>(
    sources: &'a [SourceRecord],
    settings: &ControlSettings,
    group_members_found: bool,
) -> SourceCheck<'a> {
    let group_uncollected = settings.break_glass.group_id.is_some() && !group_members_found;
    SourceCheck {
        missing_required: sources
            .iter()
            .filter(|s| s.required && !s.status.present())
            .collect(),
        // The break-glass group's members decide the population when a group is configured:
        // their absence is the error finding, not an optional source the figure does not need.
        missing_optional: sources
            .iter()
            .filter(|s| !s.required && s.status == SourceStatus::Missing)
            .filter(|s| !(group_uncollected && s.name == Source::BreakGlass))
            .collect(),
        group_uncollected,
    }
}

/// The result and its basis from the figure, unless the sources cannot support one.
pub(crate) fn outcome(
    sources: &[SourceRecord],
    check: &SourceCheck,
    figure: Figure,
    settings: &ControlSettings,
) -> (ControlResult, ResultBasis) {
    let required_collected = check.missing_required.is_empty()
        && REQUIRED_FOR_RESULT.iter().all(|name| {
            sources
                .iter()
                .any(|r| r.name == *name && r.status.present())
        });
    decide::outcome(
        required_collected,
        check.group_uncollected,
        figure,
        settings.threshold_basis_points,
    )
}
