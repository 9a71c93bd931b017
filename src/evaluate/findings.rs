//! Stage 6, findings: the data-quality observations of an evaluation, as typed facts with stable
//! kebab-case codes. Their words (title, sentence, what to do) live with the evidence document,
//! in `evidence::findings`; codes are a contract for readers of evidence.json and never change.

use std::collections::{BTreeMap, HashSet};

use super::accounts::BreakGlassAccount;
use super::classify::{Classification, UserRow};
use super::exceptions::{ExceptionState, ExceptionStatus};
use super::freshness::is_stale;
use super::tally::{Tally, microsoft_disagrees};
use crate::config::ControlSettings;
use crate::control::methods;
use crate::snapshot::{Snapshot, SourceRecord, User};
use crate::source::Source;
use crate::time::secs_text;
use chrono::{DateTime, Utc};

/// How many examples a finding carries; the CSVs hold every user.
pub const EXAMPLES_CAP: usize = 20;

/// The longest name (tenant, display name, UPN) the report shows whole, in characters; longer
/// ones are cut for display, kept whole in the CSVs and raw/. Entra allows 256 for a display
/// name, so only something unusual is cut.
pub const DISPLAY_LIMIT: usize = 256;

crate::vocabulary! {
    /// A data-quality finding's stable code.
    pub enum Code {
        RequiredSourceMissing => "required-source-missing",
        BreakGlassGroupNotCollected => "break-glass-group-not-collected",
        MissingFromRegistrationReport => "missing-from-registration-report",
        RegistrationRowWithoutUser => "registration-row-without-user",
        UnknownMethod => "unknown-method",
        ExpiredException => "expired-exception",
        ExceptionUserNotFound => "exception-user-not-found",
        BreakGlassNotFound => "break-glass-not-found",
        BreakGlassNotPhishingResistant => "break-glass-not-phishing-resistant",
        StaleRegistrationReport => "stale-registration-report",
        AccountEnabledMissing => "account-enabled-missing",
        UserTypeMissing => "user-type-missing",
        UsersSelectIncomplete => "users-select-incomplete",
        TextTruncated => "text-truncated",
        MicrosoftFlagDisagreement => "microsoft-flag-disagreement",
        OptionalSourceMissing => "optional-source-missing",
    }
}

crate::vocabulary! {
    pub enum Severity {
        Error => "error",
        Warning => "warning",
        Info => "info",
    }
}

impl Code {
    pub fn severity(self) -> Severity {
        match self {
            Code::RequiredSourceMissing | Code::BreakGlassGroupNotCollected => Severity::Error,
            Code::MicrosoftFlagDisagreement | Code::OptionalSourceMissing => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

/// What a finding's sentence needs beyond its count.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    /// The count alone.
    Count,
    /// Sources not collected, by name (with the error, for optional ones).
    NotCollected(Vec<String>),
    /// The configured break-glass group.
    Group(String),
    /// Unknown method strings with the number of users holding each.
    Methods(Vec<(String, u64)>),
    /// The allowed report age.
    MaxAgeHours(u32),
    /// How many of the users without a /users value took the registration report's.
    FromReport(u64),
    /// The longest text shown whole.
    MaxChars(usize),
    /// The `$select` a source's files show.
    Select(Vec<String>),
}

/// One observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub code: Code,
    pub count: u64,
    /// Up to [`EXAMPLES_CAP`] examples (UPNs, ids, method strings).
    pub examples: Vec<String>,
    pub detail: Detail,
}

impl Finding {
    fn new(code: Code, count: u64, examples: impl IntoIterator<Item = String>) -> Finding {
        Finding {
            code,
            count,
            examples: examples.into_iter().take(EXAMPLES_CAP).collect(),
            detail: Detail::Count,
        }
    }

    fn with(mut self, detail: Detail) -> Finding {
        self.detail = detail;
        self
    }
}

/// What the sources of a snapshot allow.
pub(crate) struct SourceCheck<'a> {
    pub(crate) missing_required: Vec<&'a SourceRecord>,
    pub(crate) missing_optional: Vec<&'a SourceRecord>,
    /// A break-glass group is configured but its members are not in the snapshot.
    pub(crate) group_uncollected: bool,
}

/// The facts the findings are drawn from: the earlier stages' output.
pub(crate) struct Facts<'e, 'a> {
    pub(crate) snapshot: &'a Snapshot,
    pub(crate) settings: &'a ControlSettings,
    pub(crate) as_of: DateTime<Utc>,
    pub(crate) rows: &'e [UserRow<'a>],
    pub(crate) tally: &'e Tally,
    pub(crate) break_glass: &'e [BreakGlassAccount],
    pub(crate) exceptions: &'e [ExceptionState],
    pub(crate) stale_rows: u64,
    pub(crate) sources: &'e SourceCheck<'a>,
}

/// One check per code: the finding, when there is something to report.
type Check = fn(&Facts) -> Option<Finding>;

/// Every check, in the order of their codes (the order evidence.json lists them).
const CHECKS: [Check; 16] = [
    required_sources,
    break_glass_group,
    missing_from_report,
    rows_without_user,
    unknown_methods,
    expired_exceptions,
    exceptions_without_user,
    break_glass_not_found,
    break_glass_not_phishing_resistant,
    stale_rows,
    account_enabled_missing,
    user_type_missing,
    users_select_incomplete,
    microsoft_disagreement,
    optional_sources,
    text_truncated,
];

/// Every finding, in the order of their codes.
pub(crate) fn findings(f: &Facts) -> Vec<Finding> {
    CHECKS.iter().filter_map(|check| check(f)).collect()
}

/// Counted in full; the examples are the first in order.
fn when_any(code: Code, count: u64, examples: impl IntoIterator<Item = String>) -> Option<Finding> {
    (count > 0).then(|| Finding::new(code, count, examples))
}

fn upn(r: &UserRow) -> String {
    r.user.user_principal_name.clone()
}

impl Facts<'_, '_> {
    fn in_scope(&self) -> impl Iterator<Item = &UserRow<'_>> {
        self.rows
            .iter()
            .filter(|r| r.classification() == Classification::InScope)
    }

    /// Users of /users that lack a property, and the first of them by UPN.
    fn users_without(&self, missing: fn(&User) -> bool) -> (u64, impl Iterator<Item = String>) {
        let count = self.snapshot.users.iter().filter(|u| missing(u)).count() as u64;
        (
            count,
            self.rows.iter().filter(move |r| missing(r.user)).map(upn),
        )
    }

    fn exceptions_with(&self, status: ExceptionStatus) -> impl Iterator<Item = &ExceptionState> {
        self.exceptions.iter().filter(move |e| e.status == status)
    }
}

fn required_sources(f: &Facts) -> Option<Finding> {
    let names: Vec<String> = f
        .sources
        .missing_required
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    when_any(
        Code::RequiredSourceMissing,
        names.len() as u64,
        names.clone(),
    )
    .map(|x| x.with(Detail::NotCollected(names)))
}

fn break_glass_group(f: &Facts) -> Option<Finding> {
    let group = f.settings.break_glass.group_id.clone().unwrap_or_default();
    f.sources.group_uncollected.then(|| {
        Finding::new(Code::BreakGlassGroupNotCollected, 1, [group.clone()])
            .with(Detail::Group(group))
    })
}

fn missing_from_report(f: &Facts) -> Option<Finding> {
    when_any(
        Code::MissingFromRegistrationReport,
        f.tally.reconciliation.in_scope_missing_from_report,
        f.in_scope().filter(|r| r.registration.is_none()).map(upn),
    )
}

fn rows_without_user(f: &Facts) -> Option<Finding> {
    let count = f.tally.reconciliation.report_rows_without_user;
    if count == 0 {
        return None;
    }
    let user_ids: HashSet<&str> = f.snapshot.users.iter().map(|u| u.id.as_str()).collect();
    // Counted in full, but only a few examples kept: a stale export can orphan a million rows.
    when_any(
        Code::RegistrationRowWithoutUser,
        count,
        f.snapshot
            .registrations
            .iter()
            .filter(|r| !user_ids.contains(r.id.as_str()))
            .map(|r| {
                if r.id.is_empty() {
                    // An export row without an id whose UPN matched no user.
                    format!("{} (no id in the export)", r.user_principal_name)
                } else {
                    format!("{} ({})", r.user_principal_name, r.id)
                }
            }),
    )
}

fn unknown_methods(f: &Facts) -> Option<Finding> {
    let mut unknown: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &f.snapshot.registrations {
        for m in &r.methods_registered {
            if !methods::is_known(m) && !f.settings.qualifying_methods.contains(m) {
                *unknown.entry(m.as_str()).or_default() += 1;
            }
        }
    }
    let counts: Vec<(String, u64)> = unknown
        .into_iter()
        .map(|(m, n)| (m.to_string(), n))
        .collect();
    when_any(Code::UnknownMethod, counts.len() as u64, []).map(|x| x.with(Detail::Methods(counts)))
}

fn expired_exceptions(f: &Facts) -> Option<Finding> {
    let expired: Vec<String> = f
        .exceptions_with(ExceptionStatus::Expired)
        .map(|e| format!("{} (expired {})", e.who(), e.expires))
        .collect();
    when_any(Code::ExpiredException, expired.len() as u64, expired)
}

fn exceptions_without_user(f: &Facts) -> Option<Finding> {
    let named: Vec<String> = f
        .exceptions_with(ExceptionStatus::NotFound)
        .map(|e| e.who().to_string())
        .collect();
    when_any(Code::ExceptionUserNotFound, named.len() as u64, named)
}

fn break_glass_not_found(f: &Facts) -> Option<Finding> {
    let missing: Vec<String> = f
        .break_glass
        .iter()
        .filter(|a| !a.found)
        .map(|a| {
            if a.user_principal_name.is_empty() {
                a.user_id.clone()
            } else {
                a.user_principal_name.clone()
            }
        })
        .collect();
    when_any(Code::BreakGlassNotFound, missing.len() as u64, missing)
}

fn break_glass_not_phishing_resistant(f: &Facts) -> Option<Finding> {
    let weak: Vec<String> = f
        .break_glass
        .iter()
        .filter(|a| a.found && !a.phishing_resistant)
        .map(|a| a.user_principal_name.clone())
        .collect();
    when_any(
        Code::BreakGlassNotPhishingResistant,
        weak.len() as u64,
        weak,
    )
}

fn stale_rows(f: &Facts) -> Option<Finding> {
    let examples = f
        .snapshot
        .registrations
        .iter()
        .filter(|r| is_stale(r, f.as_of, f.settings))
        .filter_map(|r| {
            let t = r.last_updated.as_ref()?.at();
            Some(format!("{} ({})", r.user_principal_name, secs_text(t)))
        });
    when_any(Code::StaleRegistrationReport, f.stale_rows, examples)
        .map(|x| x.with(Detail::MaxAgeHours(f.settings.max_report_age_hours)))
}

fn account_enabled_missing(f: &Facts) -> Option<Finding> {
    let (count, examples) = f.users_without(|u| u.account_enabled.is_none());
    when_any(Code::AccountEnabledMissing, count, examples)
}

fn user_type_missing(f: &Facts) -> Option<Finding> {
    let (count, examples) = f.users_without(|u| u.user_type.is_empty());
    // Where /users lacks userType, classify took the registration report's.
    let from_report = f
        .rows
        .iter()
        .filter(|r| r.user.user_type.is_empty())
        .filter(|r| r.registration.is_some_and(|g| !g.user_type.is_empty()))
        .count() as u64;
    when_any(Code::UserTypeMissing, count, examples)
        .map(|x| x.with(Detail::FromReport(from_report)))
}

/// The properties the population depends on, which a `$select` on /users must name.
const SCOPE_PROPERTIES: [&str; 2] = ["accountEnabled", "userType"];

/// An export whose /users `$select` (as its `@odata.context` shows) leaves out a property the
/// scope depends on: every user then lacks it, whatever the tenant holds.
fn users_select_incomplete(f: &Facts) -> Option<Finding> {
    let select = f
        .snapshot
        .collection
        .sources
        .iter()
        .find(|s| s.name == Source::Users)?
        .files
        .as_ref()?
        .select
        .as_ref()?;
    let left_out: Vec<String> = SCOPE_PROPERTIES
        .iter()
        .filter(|p| !select.iter().any(|s| s.eq_ignore_ascii_case(p)))
        .map(|p| p.to_string())
        .collect();
    when_any(Code::UsersSelectIncomplete, left_out.len() as u64, left_out)
        .map(|x| x.with(Detail::Select(select.clone())))
}

fn microsoft_disagreement(f: &Facts) -> Option<Finding> {
    when_any(
        Code::MicrosoftFlagDisagreement,
        f.tally.microsoft.disagreements,
        f.in_scope().filter(|r| microsoft_disagrees(r)).map(upn),
    )
}

fn optional_sources(f: &Facts) -> Option<Finding> {
    let optional = &f.sources.missing_optional;
    let listed = optional
        .iter()
        .map(|s| match &s.error {
            Some(e) => format!("{}: {e}", s.name),
            None => s.name.to_string(),
        })
        .collect();
    let names = optional.iter().map(|s| s.name.to_string());
    when_any(Code::OptionalSourceMissing, optional.len() as u64, names)
        .map(|x| x.with(Detail::NotCollected(listed)))
}

fn text_truncated(f: &Facts) -> Option<Finding> {
    let long = |text: &str| text.chars().count() > DISPLAY_LIMIT;
    let cut: Vec<String> = std::iter::once(&f.snapshot.tenant)
        .filter(|t| long(&t.name))
        .map(|t| format!("tenant {}", t.id))
        .chain(
            f.rows
                .iter()
                .filter(|r| long(&r.user.display_name) || long(&r.user.user_principal_name))
                .map(|r| format!("user {}", r.user.id)),
        )
        .collect();
    when_any(Code::TextTruncated, cut.len() as u64, cut)
        .map(|x| x.with(Detail::MaxChars(DISPLAY_LIMIT)))
}
