//! Evaluation of ID-01 for one snapshot: a pure function of the snapshot and the control settings,
//! with no I/O and no clock (the as-of time is the snapshot's collection time).
//!
//! The rule, as DESIGN.md states it: every user from /users gets one classification, first match
//! wins (break-glass, disabled, guest, exception, in scope); an in-scope user is registered when
//! `methodsRegistered` holds a qualifying method; the control passes when
//! `registered * 10000 >= threshold_basis_points * in_scope`.

pub mod methods;
pub mod period;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::{ControlSettings, Exception};
use crate::evidence::{
    BreakGlassAccount, ExceptionState, Finding, MethodGroupCount, MicrosoftFlags, PointInTime,
    Reconciliation, ReportFreshness, SAMPLE_CAP, UserBrief,
};
use crate::findings::{Code, EXAMPLES_CAP, counted, thousands};
use crate::snapshot::{GroupMember, Registration, Snapshot, User};
use crate::source::{Source, SourceStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Classification {
    BreakGlass,
    Disabled,
    Guest,
    Exception,
    InScope,
}

impl Classification {
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::BreakGlass => "break-glass",
            Classification::Disabled => "disabled",
            Classification::Guest => "guest",
            Classification::Exception => "exception",
            Classification::InScope => "in-scope",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlResult {
    Pass,
    Fail,
    InsufficientEvidence,
}

impl ControlResult {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlResult::Pass => "pass",
            ControlResult::Fail => "fail",
            ControlResult::InsufficientEvidence => "insufficient-evidence",
        }
    }
}

/// One user's evaluation; borrows from the snapshot so a large tenant is not copied.
#[derive(Debug, Clone)]
pub struct UserRow<'a> {
    pub user: &'a User,
    pub registration: Option<&'a Registration>,
    pub classification: Classification,
    pub reason: String,
    /// For in-scope users only: holds a qualifying method.
    pub registered: Option<bool>,
    /// The honoured exception, for excluded.csv.
    pub exception: Option<&'a Exception>,
}

impl UserRow<'_> {
    pub fn methods(&self) -> &[String] {
        self.registration
            .map_or(&[], |r| r.methods_registered.as_slice())
    }

    pub fn phishing_resistant(&self) -> bool {
        self.methods()
            .iter()
            .any(|m| methods::is_phishing_resistant(m))
    }
}

/// The point-in-time evaluation of a snapshot.
#[derive(Debug, Clone)]
pub struct Evaluation<'a> {
    pub result: ControlResult,
    pub point_in_time: PointInTime,
    pub findings: Vec<Finding>,
    pub freshness: ReportFreshness,
    /// Every user from /users, sorted by UPN (case-insensitive), then id.
    pub users: Vec<UserRow<'a>>,
}

/// Counts only: what the period analysis keeps of each snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figure {
    pub in_scope: u64,
    pub registered: u64,
}

/// Floored percentage with two decimals: 94.996 % prints as `94.99`, never `95.00`.
pub fn percent_floor(registered: u64, in_scope: u64) -> String {
    if in_scope == 0 {
        return "0.00".to_string();
    }
    let basis = (registered as u128 * 10_000) / in_scope as u128;
    format!("{}.{:02}", basis / 100, basis % 100)
}

pub fn basis_points_text(bp: u32) -> String {
    format!("{}.{:02}", bp / 100, bp % 100)
}

/// The control's decision on counts, in integer arithmetic.
pub fn decide(figure: Figure, threshold_basis_points: u32) -> ControlResult {
    if figure.in_scope == 0 {
        ControlResult::InsufficientEvidence
    } else if figure.registered as u128 * 10_000
        >= threshold_basis_points as u128 * figure.in_scope as u128
    {
        ControlResult::Pass
    } else {
        ControlResult::Fail
    }
}

fn brief(user: &User, registration: Option<&Registration>) -> UserBrief {
    UserBrief {
        user_id: user.id.clone(),
        user_principal_name: user.user_principal_name.clone(),
        display_name: user.display_name.clone(),
        methods: registration.map_or_else(Vec::new, |r| r.methods_registered.clone()),
        in_report: registration.is_some(),
    }
}

/// The stored break-glass group members, when they are the members of `group`. A live
/// collection records the group's id in its endpoint; an offline export names no group and is
/// taken as the configured one.
fn break_glass_members_of<'a>(snapshot: &'a Snapshot, group: &str) -> Option<&'a [GroupMember]> {
    let members = snapshot.break_glass_members.as_deref()?;
    let recorded = snapshot
        .collection
        .sources
        .iter()
        .find(|s| s.name == Source::BreakGlass)
        .and_then(|s| s.endpoint.split("/groups/").nth(1))
        .and_then(|rest| rest.split('/').next())
        .filter(|id| !id.is_empty() && !id.starts_with('{'));
    match recorded {
        Some(id) if !id.eq_ignore_ascii_case(group) => None,
        _ => Some(members),
    }
}

/// An exception is honoured through the end of its expiry day (UTC).
fn exception_active(exception: &Exception, as_of: NaiveDate) -> bool {
    as_of <= exception.expires
}

pub fn evaluate<'a>(snapshot: &'a Snapshot, settings: &'a ControlSettings) -> Evaluation<'a> {
    let as_of: Option<DateTime<Utc>> = DateTime::parse_from_rfc3339(&snapshot.collected_at)
        .ok()
        .map(|t| t.with_timezone(&Utc));
    // Without a readable as-of time no exception can be shown to be unexpired: honour none.
    let as_of_date = as_of.map_or(NaiveDate::MAX, |t| t.date_naive());
    let mut findings = Vec::new();

    let registrations: HashMap<&str, &Registration> = snapshot
        .registrations
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    let bg_ids: HashSet<String> = settings
        .break_glass
        .user_ids
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    let bg_upns: HashSet<String> = settings
        .break_glass
        .upns
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    // Group members count only for the group the settings name: members stored with a snapshot
    // under an earlier `group_id` must not exclude anyone now.
    let group_members = settings
        .break_glass
        .group_id
        .as_deref()
        .and_then(|group| break_glass_members_of(snapshot, group));
    let bg_members: HashSet<&str> = group_members
        .into_iter()
        .flatten()
        .map(|m| m.id.as_str())
        .collect();

    // The latest-expiring exception per user, by id and by UPN.
    let mut exception_by_key: HashMap<String, &Exception> = HashMap::new();
    for e in &settings.exceptions {
        for key in [e.user_id.as_ref(), e.upn.as_ref()].into_iter().flatten() {
            let key = key.to_lowercase();
            let keep = exception_by_key
                .get(&key)
                .is_none_or(|old| old.expires < e.expires);
            if keep {
                exception_by_key.insert(key, e);
            }
        }
    }

    let mut rows: Vec<UserRow> = Vec::with_capacity(snapshot.users.len());
    let mut account_enabled_missing = 0u64;
    for user in &snapshot.users {
        let registration = registrations.get(user.id.as_str()).copied();
        let upn = user.user_principal_name.to_lowercase();
        // The latest-expiring exception naming the user by id or by UPN: a renewal written with
        // the other key must not be hidden by the expired original.
        let exception = [user.id.to_lowercase(), upn.clone()]
            .iter()
            .filter_map(|key| exception_by_key.get(key).copied())
            .max_by_key(|e| e.expires);
        if user.account_enabled.is_none() {
            account_enabled_missing += 1;
        }
        let (classification, reason, honoured) = if bg_ids.contains(&user.id.to_lowercase()) {
            (
                Classification::BreakGlass,
                "break-glass account listed by object id".to_string(),
                None,
            )
        } else if bg_upns.contains(&upn) {
            (
                Classification::BreakGlass,
                "break-glass account listed by UPN".to_string(),
                None,
            )
        } else if bg_members.contains(user.id.as_str()) {
            (
                Classification::BreakGlass,
                format!(
                    "member of the break-glass group {}",
                    settings.break_glass.group_id.as_deref().unwrap_or_default()
                ),
                None,
            )
        } else if user.account_enabled == Some(false) {
            (
                Classification::Disabled,
                "account disabled (accountEnabled false)".to_string(),
                None,
            )
        } else if user.is_guest() && !settings.include_guests {
            (
                Classification::Guest,
                "guest account (userType Guest)".to_string(),
                None,
            )
        } else if let Some(e) = exception.filter(|e| exception_active(e, as_of_date)) {
            (
                Classification::Exception,
                format!(
                    "exception: {} (approved by {}, expires {})",
                    e.reason, e.approved_by, e.expires
                ),
                Some(e),
            )
        } else {
            (Classification::InScope, String::new(), None)
        };
        let (registered, reason) = if classification == Classification::InScope {
            let qualifying: Vec<&str> = registration
                .map(|r| {
                    r.methods_registered
                        .iter()
                        .filter(|m| settings.qualifying_methods.contains(m.as_str()))
                        .map(String::as_str)
                        .collect()
                })
                .unwrap_or_default();
            let reason = match (registration, qualifying.is_empty()) {
                (None, _) => "not registered: missing from the registration report".to_string(),
                (Some(_), true) => "not registered: no qualifying method".to_string(),
                (Some(_), false) => format!("registered: {}", qualifying.join(", ")),
            };
            let reason = if exception.is_some() {
                format!("{reason}; exception expired")
            } else {
                reason
            };
            (Some(!qualifying.is_empty()), reason)
        } else {
            (None, reason)
        };
        rows.push(UserRow {
            user,
            registration,
            classification,
            reason,
            registered,
            exception: honoured,
        });
    }
    // The key is computed once per user: lower-casing inside a comparator allocates per comparison.
    rows.sort_by_cached_key(|r| (r.user.user_principal_name.to_lowercase(), r.user.id.clone()));

    // Reconciliation and the figure.
    let mut rec = Reconciliation {
        users_listed: rows.len() as u64,
        report_rows: snapshot.registrations.len() as u64,
        ..Reconciliation::default()
    };
    let mut figure = Figure {
        in_scope: 0,
        registered: 0,
    };
    let mut microsoft = MicrosoftFlags::default();
    let mut group_counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut other_only = 0u64;
    let mut no_method = 0u64;
    let mut unregistered_sample = Vec::new();
    let mut missing_examples = Vec::new();
    let mut disagreement_examples = Vec::new();
    for row in &rows {
        match row.classification {
            Classification::BreakGlass => rec.break_glass += 1,
            Classification::Disabled => rec.disabled += 1,
            Classification::Guest => rec.guest += 1,
            Classification::Exception => rec.exception += 1,
            Classification::InScope => {
                rec.in_scope += 1;
                figure.in_scope += 1;
                let registered = row.registered == Some(true);
                if registered {
                    figure.registered += 1;
                } else if unregistered_sample.len() < SAMPLE_CAP {
                    unregistered_sample.push(brief(row.user, row.registration));
                }
                match row.registration {
                    None => {
                        rec.in_scope_missing_from_report += 1;
                        if missing_examples.len() < EXAMPLES_CAP {
                            missing_examples.push(row.user.user_principal_name.clone());
                        }
                        no_method += 1;
                    }
                    Some(r) => {
                        if r.is_mfa_registered == Some(true) {
                            microsoft.is_mfa_registered += 1;
                        }
                        if r.is_mfa_capable == Some(true) {
                            microsoft.is_mfa_capable += 1;
                        }
                        if r.is_mfa_registered.unwrap_or(false) != registered {
                            microsoft.disagreements += 1;
                            if microsoft.disagreement_sample.len() < SAMPLE_CAP {
                                microsoft
                                    .disagreement_sample
                                    .push(brief(row.user, row.registration));
                            }
                            if disagreement_examples.len() < EXAMPLES_CAP {
                                disagreement_examples.push(row.user.user_principal_name.clone());
                            }
                        }
                        let groups: HashSet<&str> = r
                            .methods_registered
                            .iter()
                            .filter_map(|m| methods::group_of(m))
                            .collect();
                        for g in &groups {
                            *group_counts.entry(g).or_default() += 1;
                        }
                        if groups.is_empty() {
                            if r.methods_registered.is_empty() {
                                no_method += 1;
                            } else {
                                other_only += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    let user_ids: HashSet<&str> = snapshot.users.iter().map(|u| u.id.as_str()).collect();
    // Counted in full, but only a few examples kept: a stale export can orphan a million rows.
    let mut orphan_examples = Vec::new();
    for r in &snapshot.registrations {
        if !user_ids.contains(r.id.as_str()) {
            rec.report_rows_without_user += 1;
            if orphan_examples.len() < EXAMPLES_CAP {
                orphan_examples.push(format!("{} ({})", r.user_principal_name, r.id));
            }
        }
    }

    let method_groups = methods::GROUPS
        .iter()
        .map(|(group, label, _)| MethodGroupCount {
            group: group.to_string(),
            label: label.to_string(),
            users: group_counts.get(group).copied().unwrap_or(0),
        })
        .chain([
            MethodGroupCount {
                group: "other-only".into(),
                label: "Other methods only".into(),
                users: other_only,
            },
            MethodGroupCount {
                group: "none".into(),
                label: "No method registered".into(),
                users: no_method,
            },
        ])
        .collect();

    // Break-glass accounts: every account classified so, and configured ones not found.
    let mut break_glass_accounts: Vec<BreakGlassAccount> = rows
        .iter()
        .filter(|r| r.classification == Classification::BreakGlass)
        .map(|r| BreakGlassAccount {
            user_id: r.user.id.clone(),
            user_principal_name: r.user.user_principal_name.clone(),
            display_name: r.user.display_name.clone(),
            matched_by: if r.reason.contains("object id") {
                "user-id"
            } else if r.reason.contains("UPN") {
                "upn"
            } else {
                "group"
            }
            .to_string(),
            found: true,
            account_enabled: r.user.account_enabled,
            methods: r.methods().to_vec(),
            phishing_resistant: r.phishing_resistant(),
        })
        .collect();
    let known_ids: HashSet<String> = snapshot.users.iter().map(|u| u.id.to_lowercase()).collect();
    let known_upns: HashSet<String> = snapshot
        .users
        .iter()
        .map(|u| u.user_principal_name.to_lowercase())
        .collect();
    let mut not_found = Vec::new();
    for id in &settings.break_glass.user_ids {
        if !known_ids.contains(&id.to_lowercase()) {
            not_found.push(("user-id", id.clone(), String::new()));
        }
    }
    for upn in &settings.break_glass.upns {
        if !known_upns.contains(&upn.to_lowercase()) {
            not_found.push(("upn", String::new(), upn.clone()));
        }
    }
    for (matched_by, id, upn) in &not_found {
        break_glass_accounts.push(BreakGlassAccount {
            user_id: id.clone(),
            user_principal_name: upn.clone(),
            display_name: String::new(),
            matched_by: matched_by.to_string(),
            found: false,
            account_enabled: None,
            methods: Vec::new(),
            phishing_resistant: false,
        });
    }

    // Exceptions as configured, each with what became of it.
    let exceptions: Vec<ExceptionState> = settings
        .exceptions
        .iter()
        .map(|e| {
            let row = rows.iter().find(|r| {
                e.user_id
                    .as_ref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(&r.user.id))
                    || e.upn
                        .as_ref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(&r.user.user_principal_name))
            });
            let status = match row {
                None => "not-found",
                Some(_) if !exception_active(e, as_of_date) => "expired",
                Some(r) if r.exception.is_some_and(|h| std::ptr::eq(h, e)) => "honoured",
                // An earlier rule classified the user, or a later-expiring exception applies.
                Some(_) => "superseded",
            };
            ExceptionState {
                user_id: e.user_id.clone().or_else(|| row.map(|r| r.user.id.clone())),
                user_principal_name: e
                    .upn
                    .clone()
                    .or_else(|| row.map(|r| r.user.user_principal_name.clone())),
                display_name: row.map(|r| r.user.display_name.clone()),
                reason: e.reason.clone(),
                approved_by: e.approved_by.clone(),
                expires: e.expires.to_string(),
                status: status.to_string(),
            }
        })
        .collect();

    // Report freshness.
    let mut freshness = ReportFreshness::default();
    let mut stale_examples = Vec::new();
    let mut times: Vec<DateTime<Utc>> = Vec::new();
    for r in &snapshot.registrations {
        let Some(t) = r
            .last_updated
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
        else {
            continue;
        };
        if let Some(as_of) = as_of
            && (as_of - t).num_seconds() > i64::from(settings.max_report_age_hours) * 3600
        {
            freshness.stale_rows += 1;
            if stale_examples.len() < EXAMPLES_CAP {
                stale_examples.push(format!(
                    "{} ({})",
                    r.user_principal_name,
                    t.format("%Y-%m-%dT%H:%M:%SZ")
                ));
            }
        }
        times.push(t);
    }
    freshness.oldest_row_updated = times
        .iter()
        .min()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    freshness.newest_row_updated = times
        .iter()
        .max()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());

    // Findings, in the order of their codes.
    let missing_required: Vec<&str> = snapshot
        .collection
        .sources
        .iter()
        .filter(|s| s.required && s.status != SourceStatus::Collected)
        .map(|s| s.name.stem())
        .collect();
    if !missing_required.is_empty() {
        findings.push(Code::RequiredSourceMissing.finding(
            missing_required.len() as u64,
            format!("Not collected: {}.", missing_required.join(", ")),
            missing_required.iter().map(|s| s.to_string()).collect(),
        ));
    }
    let group_uncollected = settings.break_glass.group_id.is_some() && group_members.is_none();
    if group_uncollected {
        findings.push(Code::BreakGlassGroupNotCollected.finding(
            1,
            format!(
                "break_glass.group_id is {} but the snapshot holds no members of that group, so break-glass accounts cannot be told apart from other users.",
                settings.break_glass.group_id.as_deref().unwrap_or_default()
            ),
            Vec::new(),
        ));
    }
    if rec.in_scope_missing_from_report > 0 {
        findings.push(Code::MissingFromRegistrationReport.counted_finding(
            rec.in_scope_missing_from_report,
            (
                "in-scope user has no row in the registration report and counts",
                "in-scope users have no row in the registration report and count",
            ),
            "as not registered.",
            missing_examples,
        ));
    }
    if rec.report_rows_without_user > 0 {
        findings.push(Code::RegistrationRowWithoutUser.counted_finding(
            rec.report_rows_without_user,
            (
                "report row matches no user from /users and is",
                "report rows match no user from /users and are",
            ),
            "not counted.",
            orphan_examples,
        ));
    }
    let mut unknown: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &snapshot.registrations {
        for m in &r.methods_registered {
            if !methods::is_known(m) && !settings.qualifying_methods.contains(m) {
                *unknown.entry(m.as_str()).or_default() += 1;
            }
        }
    }
    if !unknown.is_empty() {
        findings.push(
            Code::UnknownMethod.counted_finding(
                unknown.len() as u64,
                (
                    "method string unknown to this version appears",
                    "method strings unknown to this version appear",
                ),
                "in the report; kept, and not qualifying.",
                unknown
                    .iter()
                    .map(|(m, n)| format!("{m} ({})", counted(*n, "user", "users")))
                    .collect(),
            ),
        );
    }
    let expired_config: Vec<String> = exceptions
        .iter()
        .filter(|e| e.status == "expired")
        .map(|e| {
            format!(
                "{} (expired {})",
                e.user_principal_name
                    .as_deref()
                    .or(e.user_id.as_deref())
                    .unwrap_or_default(),
                e.expires
            )
        })
        .collect();
    if !expired_config.is_empty() {
        findings.push(Code::ExpiredException.counted_finding(
            expired_config.len() as u64,
            (
                "exception had expired at the as-of time; not honoured, its user is",
                "exceptions had expired at the as-of time; not honoured, their users are",
            ),
            "evaluated like everyone else.",
            expired_config,
        ));
    }
    let exception_missing: Vec<String> = exceptions
        .iter()
        .filter(|e| e.status == "not-found")
        .map(|e| {
            e.user_principal_name
                .clone()
                .or(e.user_id.clone())
                .unwrap_or_default()
        })
        .collect();
    if !exception_missing.is_empty() {
        findings.push(Code::ExceptionUserNotFound.counted_finding(
            exception_missing.len() as u64,
            ("configured exception names", "configured exceptions name"),
            "no user from /users.",
            exception_missing,
        ));
    }
    if !not_found.is_empty() {
        findings.push(
            Code::BreakGlassNotFound.counted_finding(
                not_found.len() as u64,
                (
                    "configured break-glass account is",
                    "configured break-glass accounts are",
                ),
                "not among the users listed.",
                not_found
                    .iter()
                    .map(|(_, id, upn)| {
                        if upn.is_empty() {
                            id.clone()
                        } else {
                            upn.clone()
                        }
                    })
                    .collect(),
            ),
        );
    }
    let weak_bg: Vec<String> = break_glass_accounts
        .iter()
        .filter(|a| a.found && !a.phishing_resistant)
        .map(|a| a.user_principal_name.clone())
        .collect();
    if !weak_bg.is_empty() {
        findings.push(Code::BreakGlassNotPhishingResistant.counted_finding(
            weak_bg.len() as u64,
            ("break-glass account has", "break-glass accounts have"),
            "no FIDO2, passkey or certificate method registered.",
            weak_bg,
        ));
    }
    if freshness.stale_rows > 0 {
        findings.push(Code::StaleRegistrationReport.counted_finding(
            freshness.stale_rows,
            ("report row was", "report rows were"),
            &format!(
                "last updated more than {} hours before collection.",
                settings.max_report_age_hours
            ),
            stale_examples,
        ));
    }
    if account_enabled_missing > 0 {
        findings.push(Code::AccountEnabledMissing.counted_finding(
            account_enabled_missing,
            (
                "user came without accountEnabled and was",
                "users came without accountEnabled and were",
            ),
            "treated as enabled.",
            Vec::new(),
        ));
    }
    if microsoft.disagreements > 0 {
        findings.push(Code::MicrosoftFlagDisagreement.finding(
            microsoft.disagreements,
            format!(
                "For {} Microsoft's isMfaRegistered differs from the method rule.",
                counted(microsoft.disagreements, "in-scope user", "in-scope users")
            ),
            disagreement_examples,
        ));
    }
    let missing_optional: Vec<String> = snapshot
        .collection
        .sources
        .iter()
        .filter(|s| !s.required && s.status == SourceStatus::Missing)
        .map(|s| match &s.error {
            Some(e) => format!("{}: {e}", s.name),
            None => s.name.to_string(),
        })
        .collect();
    if !missing_optional.is_empty() {
        findings.push(Code::OptionalSourceMissing.finding(
            missing_optional.len() as u64,
            format!("Not collected: {}.", missing_optional.join("; ")),
            Vec::new(),
        ));
    }

    let required_ok = missing_required.is_empty()
        && [Source::Organization, Source::Users, Source::Registration]
            .iter()
            .all(|s| {
                snapshot
                    .collection
                    .sources
                    .iter()
                    .any(|r| r.name == *s && r.status == SourceStatus::Collected)
            });
    let threshold = basis_points_text(settings.threshold_basis_points);
    let percent = percent_floor(figure.registered, figure.in_scope);
    let (result, result_reason) = if !required_ok {
        (
            ControlResult::InsufficientEvidence,
            "A required source was not collected, so the population or its registrations are incomplete.".to_string(),
        )
    } else if group_uncollected {
        (
            ControlResult::InsufficientEvidence,
            "The break-glass group's members were not collected, so the in-scope population cannot be determined.".to_string(),
        )
    } else {
        match decide(figure, settings.threshold_basis_points) {
            ControlResult::InsufficientEvidence => (
                ControlResult::InsufficientEvidence,
                "No user is in scope, so there is nothing to measure.".to_string(),
            ),
            ControlResult::Pass => (
                ControlResult::Pass,
                format!(
                    "{} of {} ({percent} %) {} a qualifying MFA method registered, at or above the threshold of {threshold} %.",
                    thousands(figure.registered),
                    counted(figure.in_scope, "in-scope user", "in-scope users"),
                    if figure.registered == 1 {
                        "has"
                    } else {
                        "have"
                    }
                ),
            ),
            ControlResult::Fail => (
                ControlResult::Fail,
                format!(
                    "{} of {} ({percent} %) {} a qualifying MFA method registered, below the threshold of {threshold} %.",
                    thousands(figure.registered),
                    counted(figure.in_scope, "in-scope user", "in-scope users"),
                    if figure.registered == 1 {
                        "has"
                    } else {
                        "have"
                    }
                ),
            ),
        }
    };

    Evaluation {
        result,
        point_in_time: PointInTime {
            result: result.as_str().to_string(),
            result_reason,
            in_scope: figure.in_scope,
            registered: figure.registered,
            unregistered: figure.in_scope - figure.registered,
            percent,
            threshold_percent: threshold,
            reconciliation: rec,
            microsoft,
            method_groups,
            unregistered_sample,
            break_glass_accounts,
            exceptions,
        },
        findings,
        freshness,
        users: rows,
    }
}
