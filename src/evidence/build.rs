//! Generating the evidence document from the evaluation's facts (as rustsec's
//! `Report::generate`): the control as configured, the point-in-time result in words, the period,
//! where the data came from, and the configuration state. Every sentence of the package is
//! written here or in `findings`.

use super::findings;
use super::words::{
    basis_points_text, capitalised, counted, display, hours_text, percent_floor, thousands,
};
use super::{
    ActivityCount, AuditEventSummary, AuthMethodsPolicyState, BreakGlassSettings,
    ConditionalAccessState, ConfigState, ControlInfo, Criterion, Deviation,
    EVIDENCE_SCHEMA_VERSION, Evidence, ExceptionSetting, Gap, HistoryPoint, MethodConfigState,
    MethodGroupCount, MethodGroupDefinition, MicrosoftFlags, Period, PointInTime,
    PopulationChanges, Provenance, RemediationSummary, ReportFreshness, SAMPLE_CAP, SnapshotRef,
    SourceProvenance, TenantInfo, ToolInfo, UserBrief,
};
use crate::config::Config;
use crate::control::{self, methods};
use crate::evaluate::classify::{MatchedBy, Reason};
use crate::evaluate::period::{ConclusionBasis, DeviationKind, GapKind, PeriodFacts, SeriesPoint};
use crate::evaluate::{BreakGlassAccount, ExceptionState};
use crate::evaluate::{Evaluation, MethodCountKey, ResultBasis, UserRow, microsoft_disagrees};
use crate::snapshot::{Snapshot, SourceRecord, Tenant};
use crate::source::{Source, SourceKind, SourceStatus};
use crate::store::StoredSnapshot;
use crate::time::secs_text;
use chrono::{DateTime, Utc};

/// The whole document for one package.
pub fn generate(
    snapshot: &Snapshot,
    stored: &StoredSnapshot,
    evaluation: &Evaluation,
    config: &Config,
    period: Option<Period>,
    history_proof: super::HistoryProof,
) -> Evidence {
    Evidence {
        schema_version: EVIDENCE_SCHEMA_VERSION,
        tool: ToolInfo {
            name: "mfa-evidence".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        package_id: match &period {
            Some(p) => period_package_id(&snapshot.tenant, p.from, p.to),
            None => package_id(&snapshot.tenant, snapshot.collected_at),
        },
        tenant: TenantInfo {
            id: snapshot.tenant.id.clone(),
            name: display(&snapshot.tenant.name),
        },
        control: control_info(config),
        as_of: snapshot.collected_at,
        point_in_time: point_in_time(evaluation),
        period,
        provenance: provenance(snapshot, stored, evaluation),
        config_state: config_state(snapshot, evaluation, config),
        findings: evaluation.findings.iter().map(findings::finding).collect(),
        history_proof: Some(history_proof),
    }
}

/// The longest tenant part of a package name: file systems limit a name to 255 bytes, and the
/// zip, its `.sha256` and the folder inside it carry it.
const SLUG_LIMIT: usize = 64;

/// `ID-01_<tenant>_<as-of>`: the tenant's name as ASCII letters, digits and dashes (its id when
/// nothing of the name is left; at most 64 characters), the as-of time in compact form.
pub fn package_id(tenant: &Tenant, as_of: DateTime<Utc>) -> String {
    format!("ID-01_{}_{}", tenant_slug(tenant), compact(as_of))
}

/// `ID-01_<tenant>_<from>--<to>`: a period package, named after the period's bounds as
/// evaluated, so it never shares a name with the point-in-time package of its as-of time.
pub fn period_package_id(tenant: &Tenant, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    format!(
        "ID-01_{}_{}--{}",
        tenant_slug(tenant),
        compact(from),
        compact(to)
    )
}

fn compact(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn tenant_slug(tenant: &Tenant) -> String {
    let mut slug = String::new();
    for c in tenant.name.chars() {
        if slug.len() >= SLUG_LIMIT {
            break;
        }
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        tenant.id.clone()
    } else {
        slug.to_string()
    }
}

fn brief(row: &UserRow) -> UserBrief {
    UserBrief {
        user_id: row.user.id.clone(),
        user_principal_name: display(&row.user.user_principal_name),
        display_name: display(&row.user.display_name),
        methods: row.methods().to_vec(),
        in_report: row.registration.is_some(),
    }
}

/// The point-in-time section: the figure in words and the first rows of each list.
pub fn point_in_time(evaluation: &Evaluation) -> PointInTime {
    let figure = evaluation.figure();
    let threshold = basis_points_text(evaluation.settings.threshold_basis_points);
    let percent = percent_floor(figure.registered, figure.in_scope);
    let measured = |position: &str| {
        format!(
            "{} of {} ({percent} %) {} a qualifying MFA method registered, {position} the threshold of {threshold} %.",
            thousands(figure.registered),
            counted(figure.in_scope, "in-scope user", "in-scope users"),
            if figure.registered == 1 {
                "has"
            } else {
                "have"
            }
        )
    };
    let result_reason = match evaluation.basis {
        ResultBasis::RequiredSourceMissing => "A required source was not collected, so the population or its registrations are incomplete.".to_string(),
        ResultBasis::BreakGlassGroupNotCollected => "The break-glass group's members were not collected, so the in-scope population cannot be determined.".to_string(),
        ResultBasis::EmptyScope => "No user is in scope, so there is nothing to measure.".to_string(),
        ResultBasis::AtOrAboveThreshold => measured("at or above"),
        ResultBasis::BelowThreshold => measured("below"),
    };
    let in_scope = || evaluation.users.iter().filter(|r| r.registered.is_some());
    let counts = &evaluation.tally.microsoft;
    PointInTime {
        result: evaluation.result,
        result_reason,
        in_scope: figure.in_scope,
        registered: figure.registered,
        unregistered: figure.in_scope - figure.registered,
        percent,
        threshold_percent: threshold,
        reconciliation: evaluation.tally.reconciliation.clone(),
        microsoft: MicrosoftFlags {
            is_mfa_registered: counts.is_mfa_registered,
            is_mfa_capable: counts.is_mfa_capable,
            disagreements: counts.disagreements,
            disagreement_sample: in_scope()
                .filter(|r| microsoft_disagrees(r))
                .take(SAMPLE_CAP)
                .map(brief)
                .collect(),
        },
        method_groups: evaluation
            .tally
            .method_counts
            .iter()
            .map(|(key, users)| MethodGroupCount {
                group: *key,
                label: method_count_label(*key).to_string(),
                users: *users,
            })
            .collect(),
        unregistered_sample: in_scope()
            .filter(|r| r.registered == Some(false))
            .take(SAMPLE_CAP)
            .map(brief)
            .collect(),
        break_glass_accounts: evaluation
            .break_glass_accounts
            .iter()
            .map(|a| BreakGlassAccount {
                user_principal_name: display(&a.user_principal_name),
                display_name: display(&a.display_name),
                ..a.clone()
            })
            .collect(),
        exceptions: evaluation
            .exceptions
            .iter()
            .map(|e| ExceptionState {
                display_name: e.display_name.as_deref().map(display),
                ..e.clone()
            })
            .collect(),
    }
}

fn method_count_label(key: MethodCountKey) -> &'static str {
    match key {
        MethodCountKey::Authenticator => methods::MethodGroup::Authenticator.label(),
        MethodCountKey::SecurityKey => methods::MethodGroup::SecurityKey.label(),
        MethodCountKey::Phone => methods::MethodGroup::Phone.label(),
        MethodCountKey::OtherOnly => "Other methods only",
        MethodCountKey::None => "No method registered",
    }
}

/// Why a user has their classification, as population.csv and excluded.csv say it.
pub fn reason_text(row: &UserRow, evaluation: &Evaluation) -> String {
    let settings = evaluation.settings;
    match row.reason {
        Reason::BreakGlass(MatchedBy::UserId) => "break-glass account listed by object id".into(),
        Reason::BreakGlass(MatchedBy::Upn) => "break-glass account listed by UPN".into(),
        Reason::BreakGlass(MatchedBy::Group) => format!(
            "member of the break-glass group {}",
            settings.break_glass.group_id.as_deref().unwrap_or_default()
        ),
        Reason::Disabled => "account disabled (accountEnabled false)".into(),
        Reason::Guest => "guest account (userType Guest)".into(),
        Reason::Exception(e) => format!(
            "exception: {} (approved by {}, expires {})",
            e.reason, e.approved_by, e.expires
        ),
        Reason::InScope { exception_expired } => {
            let qualifying: Vec<&str> = row.qualifying_methods(settings).collect();
            let mut text = match (row.registration, qualifying.is_empty()) {
                (None, _) => "not registered: missing from the registration report".to_string(),
                (Some(_), true) => "not registered: no qualifying method".to_string(),
                (Some(_), false) => format!("registered: {}", qualifying.join(", ")),
            };
            if exception_expired {
                text.push_str("; exception expired");
            }
            text
        }
    }
}

/// The control as evaluated: its text and every setting in force.
fn control_info(config: &Config) -> ControlInfo {
    let c = &config.control;
    let threshold = basis_points_text(c.threshold_basis_points);
    // The groups as configured: `qualifying_methods` may drop some methods or add others.
    let method_groups: Vec<MethodGroupDefinition> = methods::GROUPS
        .iter()
        .map(|(group, list)| MethodGroupDefinition {
            group: *group,
            label: group.label().to_string(),
            methods: list
                .iter()
                .filter(|m| c.qualifying_methods.contains(**m))
                .map(|m| m.to_string())
                .collect(),
        })
        .filter(|g| !g.methods.is_empty())
        .collect();
    ControlInfo {
        id: control::ID.into(),
        title: control::TITLE.into(),
        statement: control::statement(&threshold, c.include_guests, &c.qualifying_methods),
        criteria: control::CRITERIA
            .iter()
            .map(|c| Criterion {
                id: c.id.into(),
                role: c.role.into(),
            })
            .collect(),
        threshold_percent: threshold,
        threshold_basis_points: c.threshold_basis_points,
        include_guests: c.include_guests,
        qualifying_methods: c.qualifying_methods.iter().cloned().collect(),
        method_groups,
        break_glass: BreakGlassSettings {
            user_ids: c.break_glass.user_ids.clone(),
            upns: c.break_glass.upns.clone(),
            group_id: c.break_glass.group_id.clone(),
        },
        exceptions: c
            .exceptions
            .iter()
            .map(|e| ExceptionSetting {
                user_id: e.user_id.clone(),
                upn: e.upn.clone(),
                reason: e.reason.clone(),
                approved_by: e.approved_by.clone(),
                expires: e.expires,
            })
            .collect(),
        max_report_age_hours: c.max_report_age_hours,
        config_sha256: config.sha256.clone(),
    }
}

pub fn snapshot_ref(stored: &StoredSnapshot) -> SnapshotRef {
    SnapshotRef {
        sequence: stored.entry.sequence,
        folder: stored.entry.folder.clone(),
        collected_at: stored.entry.collected_at,
        sha256: stored.entry.snapshot_sha256.clone(),
        ledger_line_sha256: stored.line_sha256.clone(),
    }
}

fn provenance(snapshot: &Snapshot, stored: &StoredSnapshot, evaluation: &Evaluation) -> Provenance {
    let graph = snapshot
        .collection
        .graph_endpoint
        .as_deref()
        .unwrap_or("https://graph.microsoft.com");
    let freshness = &evaluation.freshness;
    Provenance {
        snapshot: snapshot_ref(stored),
        source_kind: snapshot.collection.source_kind,
        collected_by: snapshot.collection.collected_by.clone(),
        from_files: from_files_text(snapshot),
        assurance: assurance(snapshot),
        token_roles: snapshot.collection.token_roles.clone(),
        sources: snapshot
            .collection
            .sources
            .iter()
            .map(|s| SourceProvenance {
                name: s.name,
                endpoint: s.endpoint.as_ref().map(|e| {
                    if e.starts_with('/') {
                        format!("{graph}{e}")
                    } else {
                        e.clone()
                    }
                }),
                files: s.files.clone(),
                export: s.export.clone(),
                required: s.required,
                status: s.status,
                error: s.error.clone(),
                pages: s.pages,
                items: s.items,
                first_request_at: s.requests.first().map(|r| r.time.clone()),
                last_request_at: s.requests.last().map(|r| r.time.clone()),
                request_ids: s
                    .requests
                    .iter()
                    .filter_map(|r| r.request_id.clone())
                    .collect(),
            })
            .collect(),
        report_freshness: ReportFreshness {
            oldest_row_updated: freshness.oldest_row_updated,
            newest_row_updated: freshness.newest_row_updated,
            stale_rows: freshness.stale_rows,
        },
    }
}

/// For a snapshot read from files without a collector's record: what its provenance can and
/// cannot say.
fn from_files_text(snapshot: &Snapshot) -> Option<String> {
    // Graph pages described by what they show; exports have their own sentences.
    let described = snapshot
        .collection
        .sources
        .iter()
        .any(|s| s.files.is_some() && s.export.is_none());
    (described && snapshot.collection.collected_by.is_none()).then(|| {
        "The export folder held no collector's record (provenance.json): who made the requests, \
         when, and with which request-ids is not known. Each source is described by what its files \
         show: the @odata.context of its pages (the request Graph answered), the API version it \
         names, the $select it lists, and the properties its items hold."
            .to_string()
    })
}

/// What evidence from exports rests on, one sentence per point, so an auditor can weigh it
/// against a live collection: no request ids, registration rows matched to users by UPN, the
/// tenant and the collection time on the operator's word, and what ID-01 does with fields an
/// export does not carry.
fn assurance(snapshot: &Snapshot) -> Vec<String> {
    let sources = &snapshot.collection.sources;
    let mut out = Vec::new();
    let of_kind = |kind: SourceKind| -> Vec<&SourceRecord> {
        sources
            .iter()
            .filter(|s| s.export.as_ref().is_some_and(|e| e.kind == kind))
            .collect()
    };
    let listed = |list: &[&SourceRecord]| -> String {
        list.iter()
            .map(|s| {
                let file = s
                    .export
                    .as_ref()
                    .map(|e| e.file.as_str())
                    .unwrap_or_default();
                format!("{} (from {file})", s.name)
            })
            .collect::<Vec<_>>()
            .join(" and ")
    };
    let portal = of_kind(SourceKind::PortalExport);
    if !portal.is_empty() {
        out.push(format!(
            "{} came from Microsoft Entra admin center downloads. A download carries no Graph request-ids and no record of the query behind it, so Microsoft support cannot trace it: that it is complete and unedited rests on the operator who downloaded it and on the SHA-256 of the file kept in raw/.",
            capitalised(&listed(&portal))
        ));
    }
    let powershell = of_kind(SourceKind::PowershellExport);
    if !powershell.is_empty() {
        out.push(format!(
            "{} came from Microsoft Graph PowerShell output saved as JSON. It carries no Graph request-ids and no record of the command that produced it beyond the properties present: that it is complete and unedited rests on the operator who ran it and on the SHA-256 of the file kept in raw/.",
            capitalised(&listed(&powershell))
        ));
    }
    if let Some(e) = sources
        .iter()
        .filter(|s| s.name == Source::Registration)
        .find_map(|s| s.export.as_ref())
        .filter(|e| e.matched_by_upn + e.unmatched > 0)
    {
        out.push(format!(
            "The registration export ({}) has no object id: {} of its {} were matched to users by user principal name, compared case-insensitively, and {} matched no user (a UPN held by two users is refused at import). A user renamed between the two exports would show as unregistered.",
            e.file,
            thousands(e.matched_by_upn),
            counted(e.rows, "row", "rows"),
            counted(e.unmatched, "row", "rows"),
        ));
    }
    if sources
        .iter()
        .any(|s| s.name == Source::Organization && s.status == SourceStatus::OperatorGiven)
    {
        out.push(format!(
            "The tenant ({}{}) was given by the operator (import --tenant-id); the exports name no tenant, so nothing in them confirms which tenant they were taken from.",
            snapshot.tenant.id,
            if snapshot.tenant.name.is_empty() {
                String::new()
            } else {
                format!(", {}", snapshot.tenant.name)
            }
        ));
    }
    if sources.iter().any(|s| s.export.is_some()) {
        out.push(format!(
            "The collection time, {}, is the time the operator gave (import --collected-at), not one recorded by Microsoft or by this tool; it was checked only to lie after every registration row's last update and not ahead of the importing machine's clock.",
            secs_text(snapshot.collected_at)
        ));
        out.push(
            "What an export does not carry is recorded as not in this export, never as false: a user without accountEnabled counts as enabled and one without userType as a member (each counted in its finding), so the population can only be wider than the tenant's, never narrower; Microsoft's isMfaRegistered and isMfaCapable counts are shown as not in this export when no row carries them; the figure itself rests only on methodsRegistered."
                .to_string(),
        );
    }
    out
}

fn config_state(snapshot: &Snapshot, evaluation: &Evaluation, config: &Config) -> ConfigState {
    let bg_ids: Vec<&str> = evaluation
        .break_glass_accounts
        .iter()
        .filter(|a| a.found)
        .map(|a| a.user_id.as_str())
        .collect();
    let group = config.control.break_glass.group_id.as_deref();
    ConfigState {
        authentication_methods_policy: snapshot.auth_methods_policy.as_ref().map(|p| {
            AuthMethodsPolicyState {
                methods: p
                    .methods
                    .iter()
                    .map(|m| MethodConfigState {
                        id: m.id.clone(),
                        state: m.state.clone(),
                    })
                    .collect(),
                registration_campaign_state: p.registration_campaign_state.clone(),
                policy_migration_state: p.policy_migration_state.clone(),
            }
        }),
        conditional_access: snapshot.conditional_access.as_ref().map(|list| {
            list.iter()
                .map(|p| ConditionalAccessState {
                    id: p.id.clone(),
                    display_name: p.display_name.clone(),
                    state: p.state.clone(),
                    requires_mfa: p.requires_mfa,
                    authentication_strength: p.authentication_strength.clone(),
                    include_all_users: p
                        .include_users
                        .iter()
                        .any(|u| u.eq_ignore_ascii_case("All")),
                    exclude_users: p.exclude_users.clone(),
                    exclude_groups: p.exclude_groups.clone(),
                    excludes_break_glass: group.is_some_and(|g| {
                        p.exclude_groups.iter().any(|x| x.eq_ignore_ascii_case(g))
                    }) || (!bg_ids.is_empty()
                        && bg_ids
                            .iter()
                            .all(|id| p.exclude_users.iter().any(|x| x.eq_ignore_ascii_case(id)))),
                })
                .collect()
        }),
    }
}

/// The period section: the series, deviations and gaps in words, the conclusion and its reason,
/// and the first rows of the remediation lists.
pub fn period(facts: &PeriodFacts) -> Period {
    let max_gap = facts.max_gap_hours;
    Period {
        from: facts.from,
        to: facts.to,
        snapshots: facts.series.len() as u64,
        conclusion: facts.conclusion,
        conclusion_reason: conclusion_reason(facts.basis, max_gap),
        max_gap_hours: max_gap,
        ledger: facts.ledger.clone(),
        series: facts.series.iter().map(history_point).collect(),
        deviations: facts
            .deviations
            .iter()
            .map(|d| Deviation {
                code: d.code(),
                description: deviation_description(&d.kind, max_gap),
                from: d.from,
                to: d.to,
            })
            .collect(),
        // Not a fact of the snapshots: the report reads it from the store's notification record.
        deviations_signalled: 0,
        longest_failing_run: facts.longest_failing_run.clone(),
        gaps: facts
            .gaps
            .iter()
            .map(|g| Gap {
                kind: g.kind,
                from: g.from,
                to: g.to,
                hours: hours_text(g.seconds),
                exceeds_limit: g.exceeds_limit,
            })
            .collect(),
        remediation: remediation_summary(facts),
        population_changes: PopulationChanges {
            joiners: facts.series.iter().map(|p| p.joiners).sum(),
            leavers: facts.series.iter().map(|p| p.leavers).sum(),
        },
        audit_events: audit_event_summary(facts),
    }
}

fn history_point(p: &SeriesPoint) -> HistoryPoint {
    HistoryPoint {
        sequence: p.sequence,
        collected_at: p.collected_at,
        in_scope: p.figure.in_scope,
        registered: p.figure.registered,
        percent: percent_floor(p.figure.registered, p.figure.in_scope),
        result: p.result,
        sha256: p.sha256.clone(),
        joiners: p.joiners,
        leavers: p.leavers,
        // Not a fact of the snapshot: the report reads the store's time-stamp tokens.
        attestation: crate::attest::unattested(),
    }
}

fn deviation_description(kind: &DeviationKind, max_gap: u32) -> String {
    match kind {
        DeviationKind::BrokenLedger { link } => format!(
            "The evidence store's ledger is broken: {link}. History after the break cannot be relied on."
        ),
        DeviationKind::BelowThreshold { sequence, figure } => format!(
            "Snapshot {sequence}: {} % ({} of {} in scope registered), below the threshold.",
            percent_floor(figure.registered, figure.in_scope),
            figure.registered,
            figure.in_scope
        ),
        DeviationKind::InsufficientSnapshot { sequence } => {
            format!("Snapshot {sequence}: insufficient evidence for a result.")
        }
        DeviationKind::Gap { kind, seconds } => format!(
            "{} for {} hours, more than the {max_gap} hours allowed.",
            match kind {
                GapKind::PeriodStart => "No snapshot covers the start of the period",
                GapKind::PeriodEnd => "No snapshot covers the end of the period",
                GapKind::BetweenSnapshots => "No snapshot was collected",
            },
            hours_text(*seconds)
        ),
    }
}

fn conclusion_reason(basis: ConclusionBasis, max_gap: u32) -> String {
    match basis {
        ConclusionBasis::NoSnapshot => {
            "The period holds no snapshot: there is no evidence that the control operated."
                .to_string()
        }
        ConclusionBasis::OneSnapshot => "The period holds one snapshot: that shows the control at one point in time, not that it operated over the period, which needs at least two snapshots a day or more apart.".to_string(),
        ConclusionBasis::TooShort { seconds } => format!(
            "The period spans {} hours: showing that the control operated over time needs a period of at least a day.",
            hours_text(seconds)
        ),
        ConclusionBasis::NoDeviation { snapshots } => format!(
            "All {} snapshots of the period passed and no interval between collections exceeded {max_gap} hours.",
            thousands(snapshots)
        ),
        ConclusionBasis::Deviations {
            snapshots,
            not_passing,
            gaps_over_limit,
            broken_ledger,
        } => format!(
            "{} of {} did not pass and {} {max_gap} hours{}.",
            thousands(not_passing),
            counted(snapshots, "snapshot", "snapshots"),
            counted(
                gaps_over_limit,
                "monitoring gap exceeded",
                "monitoring gaps exceeded"
            ),
            if broken_ledger {
                "; the ledger is broken"
            } else {
                ""
            }
        ),
    }
}

fn remediation_summary(facts: &PeriodFacts) -> RemediationSummary {
    let mut days: Vec<u64> = facts.remediated.iter().map(|r| r.days_open).collect();
    days.sort_unstable();
    RemediationSummary {
        remediated_users: facts.remediated.len() as u64,
        with_audit_event: facts
            .remediated
            .iter()
            .filter(|r| !r.audit_event_ids.is_empty())
            .count() as u64,
        median_days_open: days.get(days.len() / 2).copied(),
        max_days_open: days.last().copied(),
        still_unregistered: facts.still_unregistered.len() as u64,
        remediated_sample: facts.remediated.iter().take(SAMPLE_CAP).cloned().collect(),
        still_unregistered_sample: facts
            .still_unregistered
            .iter()
            .take(SAMPLE_CAP)
            .cloned()
            .collect(),
    }
}

fn audit_event_summary(facts: &PeriodFacts) -> AuditEventSummary {
    let mut by_activity: std::collections::BTreeMap<&str, u64> = Default::default();
    for (e, _) in &facts.audit_events {
        *by_activity.entry(e.activity.as_str()).or_default() += 1;
    }
    AuditEventSummary {
        total: facts.audit_events.len() as u64,
        by_activity: by_activity
            .into_iter()
            .map(|(activity, count)| ActivityCount {
                activity: activity.to_string(),
                count,
            })
            .collect(),
    }
}
