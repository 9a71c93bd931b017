//! Stage 6, findings: the data-quality observations of an evaluation, as typed facts with stable
//! kebab-case codes. Their words (title, sentence, what to do) live with the evidence document,
//! in `evidence::findings`; codes are a contract for readers of evidence.json and never change.

use std::collections::BTreeMap;

use super::accounts::BreakGlassAccount;
use super::classify::{Classification, UserRow};
use super::exceptions::{ExceptionState, ExceptionStatus};
use super::freshness::is_stale;
use super::tally::{Tally, microsoft_disagrees};
use crate::config::ControlSettings;
use crate::control::methods;
use crate::snapshot::{Snapshot, SourceRecord, User};
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

/// Every finding, in the order of their codes.
pub(crate) fn findings(f: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let in_scope = || {
        f.rows
            .iter()
            .filter(|r| r.classification() == Classification::InScope)
    };
    let upn = |r: &UserRow| r.user.user_principal_name.clone();

    let required = &f.sources.missing_required;
    if !required.is_empty() {
        let names: Vec<String> = required.iter().map(|s| s.name.to_string()).collect();
        out.push(
            Finding::new(
                Code::RequiredSourceMissing,
                required.len() as u64,
                names.clone(),
            )
            .with(Detail::NotCollected(names)),
        );
    }
    if f.sources.group_uncollected {
        let group = f.settings.break_glass.group_id.clone().unwrap_or_default();
        out.push(
            Finding::new(Code::BreakGlassGroupNotCollected, 1, [group.clone()])
                .with(Detail::Group(group)),
        );
    }
    let rec = &f.tally.reconciliation;
    if rec.in_scope_missing_from_report > 0 {
        out.push(Finding::new(
            Code::MissingFromRegistrationReport,
            rec.in_scope_missing_from_report,
            in_scope().filter(|r| r.registration.is_none()).map(upn),
        ));
    }
    if rec.report_rows_without_user > 0 {
        let user_ids: std::collections::HashSet<&str> =
            f.snapshot.users.iter().map(|u| u.id.as_str()).collect();
        // Counted in full, but only a few examples kept: a stale export can orphan a million rows.
        out.push(Finding::new(
            Code::RegistrationRowWithoutUser,
            rec.report_rows_without_user,
            f.snapshot
                .registrations
                .iter()
                .filter(|r| !user_ids.contains(r.id.as_str()))
                .map(|r| format!("{} ({})", r.user_principal_name, r.id)),
        ));
    }
    let mut unknown: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &f.snapshot.registrations {
        for m in &r.methods_registered {
            if !methods::is_known(m) && !f.settings.qualifying_methods.contains(m) {
                *unknown.entry(m.as_str()).or_default() += 1;
            }
        }
    }
    if !unknown.is_empty() {
        let counts: Vec<(String, u64)> = unknown
            .into_iter()
            .map(|(m, n)| (m.to_string(), n))
            .collect();
        out.push(
            Finding::new(Code::UnknownMethod, counts.len() as u64, [])
                .with(Detail::Methods(counts)),
        );
    }
    let with_status = |status| f.exceptions.iter().filter(move |e| e.status == status);
    let expired: Vec<String> = with_status(ExceptionStatus::Expired)
        .map(|e| format!("{} (expired {})", e.who(), e.expires))
        .collect();
    if !expired.is_empty() {
        out.push(Finding::new(
            Code::ExpiredException,
            expired.len() as u64,
            expired,
        ));
    }
    let not_found: Vec<String> = with_status(ExceptionStatus::NotFound)
        .map(|e| e.who().to_string())
        .collect();
    if !not_found.is_empty() {
        out.push(Finding::new(
            Code::ExceptionUserNotFound,
            not_found.len() as u64,
            not_found,
        ));
    }
    let bg_missing: Vec<String> = f
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
    if !bg_missing.is_empty() {
        out.push(Finding::new(
            Code::BreakGlassNotFound,
            bg_missing.len() as u64,
            bg_missing,
        ));
    }
    let weak: Vec<String> = f
        .break_glass
        .iter()
        .filter(|a| a.found && !a.phishing_resistant)
        .map(|a| a.user_principal_name.clone())
        .collect();
    if !weak.is_empty() {
        out.push(Finding::new(
            Code::BreakGlassNotPhishingResistant,
            weak.len() as u64,
            weak,
        ));
    }
    if f.stale_rows > 0 {
        let examples = f
            .snapshot
            .registrations
            .iter()
            .filter(|r| is_stale(r, f.as_of, f.settings))
            .filter_map(|r| {
                let t = r.last_updated.as_ref()?.at();
                Some(format!("{} ({})", r.user_principal_name, secs_text(t)))
            });
        out.push(
            Finding::new(Code::StaleRegistrationReport, f.stale_rows, examples)
                .with(Detail::MaxAgeHours(f.settings.max_report_age_hours)),
        );
    }
    let without = |missing: fn(&User) -> bool| {
        let count = f.snapshot.users.iter().filter(|u| missing(u)).count() as u64;
        let examples = f.rows.iter().filter(move |r| missing(r.user)).map(upn);
        (count, examples)
    };
    let (count, examples) = without(|u| u.account_enabled.is_none());
    if count > 0 {
        out.push(Finding::new(Code::AccountEnabledMissing, count, examples));
    }
    let (count, examples) = without(|u| u.user_type.is_empty());
    if count > 0 {
        // Where /users lacks userType, classify took the registration report's.
        let from_report = f
            .rows
            .iter()
            .filter(|r| r.user.user_type.is_empty())
            .filter(|r| r.registration.is_some_and(|g| !g.user_type.is_empty()))
            .count() as u64;
        out.push(
            Finding::new(Code::UserTypeMissing, count, examples)
                .with(Detail::FromReport(from_report)),
        );
    }
    let disagreements = f.tally.microsoft.disagreements;
    if disagreements > 0 {
        out.push(Finding::new(
            Code::MicrosoftFlagDisagreement,
            disagreements,
            in_scope().filter(|r| microsoft_disagrees(r)).map(upn),
        ));
    }
    let optional = &f.sources.missing_optional;
    if !optional.is_empty() {
        let listed = optional
            .iter()
            .map(|s| match &s.error {
                Some(e) => format!("{}: {e}", s.name),
                None => s.name.to_string(),
            })
            .collect();
        let names = optional.iter().map(|s| s.name.to_string());
        out.push(
            Finding::new(Code::OptionalSourceMissing, optional.len() as u64, names)
                .with(Detail::NotCollected(listed)),
        );
    }
    let long: Vec<String> = std::iter::once(&f.snapshot.tenant.name)
        .filter(|name| name.chars().count() > DISPLAY_LIMIT)
        .map(|_| format!("tenant {}", f.snapshot.tenant.id))
        .chain(
            f.rows
                .iter()
                .filter(|r| {
                    r.user.display_name.chars().count() > DISPLAY_LIMIT
                        || r.user.user_principal_name.chars().count() > DISPLAY_LIMIT
                })
                .map(|r| format!("user {}", r.user.id)),
        )
        .collect();
    if !long.is_empty() {
        out.push(
            Finding::new(Code::TextTruncated, long.len() as u64, long)
                .with(Detail::MaxChars(DISPLAY_LIMIT)),
        );
    }
    out
}
