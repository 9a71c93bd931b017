//! Stage 2, tally: from every user listed to the in-scope population and its figure, how the
//! report rows line up, Microsoft's own flags as a cross-check, and the method groups.

use rustc_hash::FxHashSet;

use serde::{Deserialize, Serialize};

use super::classify::{Classification, UserRow};
use super::decide::Figure;
use crate::control::methods::{self, GROUPS, MethodGroup};
use crate::snapshot::Snapshot;

/// From every user listed to the in-scope population, and how the report rows line up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Reconciliation {
    pub users_listed: u64,
    pub break_glass: u64,
    pub disabled: u64,
    pub guest: u64,
    pub exception: u64,
    pub in_scope: u64,
    pub in_scope_missing_from_report: u64,
    pub report_rows: u64,
    pub report_rows_without_user: u64,
}

/// Microsoft's flags counted over the in-scope population. A count is `None` when the report
/// carries the flag for no row (an export without it, such as the admin center's registration
/// download, which has no `isMfaRegistered`): "not in this export", not zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MicrosoftCounts {
    pub is_mfa_registered: Option<u64>,
    pub is_mfa_capable: Option<u64>,
    /// In-scope users where `isMfaRegistered` and the method rule disagree.
    pub disagreements: u64,
}

crate::vocabulary! {
    /// What a method-group count counts.
    pub enum MethodCountKey {
        Authenticator => "authenticator",
        SecurityKey => "security-key",
        Phone => "phone",
        /// Only methods that do not qualify.
        OtherOnly => "other-only",
        /// No method at all (or no report row).
        None => "none",
    }
}

impl From<MethodGroup> for MethodCountKey {
    fn from(group: MethodGroup) -> Self {
        match group {
            MethodGroup::Authenticator => MethodCountKey::Authenticator,
            MethodGroup::SecurityKey => MethodCountKey::SecurityKey,
            MethodGroup::Phone => MethodCountKey::Phone,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    pub figure: Figure,
    pub reconciliation: Reconciliation,
    pub microsoft: MicrosoftCounts,
    /// In-scope users with at least one method of each group (a user may count in several),
    /// then those with other methods only and those with none, in display order.
    pub method_counts: Vec<(MethodCountKey, u64)>,
}

/// An in-scope row where Microsoft's `isMfaRegistered` says otherwise than the method rule (a
/// row without the flag says nothing).
pub(crate) fn microsoft_disagrees(row: &UserRow) -> bool {
    row.registration.is_some_and(|r| {
        r.is_mfa_registered
            .is_some_and(|flag| flag != (row.registered == Some(true)))
    })
}

pub(crate) fn tally(rows: &[UserRow], snapshot: &Snapshot) -> Tally {
    let mut rec = Reconciliation {
        users_listed: rows.len() as u64,
        report_rows: snapshot.registrations.len() as u64,
        ..Reconciliation::default()
    };
    let mut figure = Figure::default();
    let carried = |flag: fn(&crate::snapshot::Registration) -> Option<bool>| {
        (snapshot.registrations.is_empty()
            || snapshot.registrations.iter().any(|r| flag(r).is_some()))
        .then_some(0)
    };
    let mut microsoft = MicrosoftCounts {
        is_mfa_registered: carried(|r| r.is_mfa_registered),
        is_mfa_capable: carried(|r| r.is_mfa_capable),
        disagreements: 0,
    };
    // Indexed by the group's place in GROUPS: a set of three needs no hashing per user.
    let mut group_counts = [0u64; GROUPS.len()];
    let (mut other_only, mut no_method) = (0u64, 0u64);
    for row in rows {
        match row.classification() {
            Classification::BreakGlass => rec.break_glass += 1,
            Classification::Disabled => rec.disabled += 1,
            Classification::Guest => rec.guest += 1,
            Classification::Exception => rec.exception += 1,
            Classification::InScope => {
                rec.in_scope += 1;
                figure.count(row.registered);
                let Some(r) = row.registration else {
                    rec.in_scope_missing_from_report += 1;
                    no_method += 1;
                    continue;
                };
                if let (Some(n), Some(true)) =
                    (&mut microsoft.is_mfa_registered, r.is_mfa_registered)
                {
                    *n += 1;
                }
                if let (Some(n), Some(true)) = (&mut microsoft.is_mfa_capable, r.is_mfa_capable) {
                    *n += 1;
                }
                if microsoft_disagrees(row) {
                    microsoft.disagreements += 1;
                }
                let mut held = [false; GROUPS.len()];
                for group in r
                    .methods_registered
                    .iter()
                    .filter_map(|m| methods::group_of(m))
                {
                    held[group.place()] = true;
                }
                for (count, held) in group_counts.iter_mut().zip(held) {
                    *count += u64::from(held);
                }
                if !held.contains(&true) {
                    if r.methods_registered.is_empty() {
                        no_method += 1;
                    } else {
                        other_only += 1;
                    }
                }
            }
        }
    }
    let user_ids: FxHashSet<&str> = snapshot.users.iter().map(|u| u.id.as_str()).collect();
    rec.report_rows_without_user = snapshot
        .registrations
        .iter()
        .filter(|r| !user_ids.contains(r.id.as_str()))
        .count() as u64;
    let method_counts = GROUPS
        .iter()
        .zip(group_counts)
        .map(|((group, _), count)| (MethodCountKey::from(*group), count))
        .chain([
            (MethodCountKey::OtherOnly, other_only),
            (MethodCountKey::None, no_method),
        ])
        .collect();
    Tally {
        figure,
        reconciliation: rec,
        microsoft,
        method_counts,
    }
}
