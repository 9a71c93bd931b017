//! The evidence document (`evidence.json`): the single source for everything else in a package.
//!
//! The PDF narrative is rendered from this document, never from the evaluation directly, so the
//! narrative cannot disagree with the data. Lists that grow with the tenant are capped here
//! (`*_sample`); the full lists live in the CSVs. `build` generates the document from the
//! evaluation's typed facts: every sentence, percentage and thousands separator of a package is
//! written there, `findings` and `words`. A few value types of the document are the evaluation's
//! own (re-exported below), so the two cannot drift apart.

mod build;
pub mod findings;
pub mod history_proof;
pub mod words;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use self::build::{
    generate, package_id, period, period_package_id, point_in_time, reason_text,
};
pub use self::history_proof::HistoryProof;
pub use crate::attest::{Attestation, SnapshotAttestation};
pub use crate::control::methods::MethodGroup;
pub use crate::evaluate::period::{
    Conclusion, DeviationCode, FailingRun, GapKind, LedgerState, OpenItem, RemediatedUser,
};
pub use crate::evaluate::{
    BreakGlassAccount, Classification, Code, ControlResult, ExceptionState, ExceptionStatus,
    MatchedBy, MethodCountKey, Reconciliation, Severity,
};
pub use crate::snapshot::{ExportRecord, FilesRecord, TextEncoding};
pub use crate::source::{Source, SourceKind, SourceStatus};

/// Bumped whenever a field changes meaning or is removed.
pub const EVIDENCE_SCHEMA_VERSION: u32 = 1;

/// How many rows of a per-user list the evidence document (and so the PDF) carries.
pub const SAMPLE_CAP: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub schema_version: u32,
    pub tool: ToolInfo,
    /// `ID-01_<tenant>_<as-of>`: the package's name, printed on every page.
    pub package_id: String,
    pub tenant: TenantInfo,
    pub control: ControlInfo,
    /// The collection time of the evaluated snapshot, the document date.
    #[serde(with = "crate::time::secs")]
    pub as_of: DateTime<Utc>,
    pub point_in_time: PointInTime,
    /// Present when the package covers an audit period (SOC 2 Type II).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    pub provenance: Provenance,
    pub config_state: ConfigState,
    pub findings: Vec<Finding>,
    /// The ledger line the package rests on, its signature, and the snapshots' attestation;
    /// absent from packages of earlier versions, which recorded none of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_proof: Option<HistoryProof>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantInfo {
    pub id: String,
    pub name: String,
}

/// The control as evaluated: its text and every setting in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlInfo {
    /// Always `ID-01`.
    pub id: String,
    pub title: String,
    pub statement: String,
    /// Trust Services Criteria the control supports, primary first.
    pub criteria: Vec<Criterion>,
    /// Two decimals, e.g. `95.00`.
    pub threshold_percent: String,
    pub threshold_basis_points: u32,
    pub include_guests: bool,
    pub qualifying_methods: Vec<String>,
    pub method_groups: Vec<MethodGroupDefinition>,
    pub break_glass: BreakGlassSettings,
    pub exceptions: Vec<ExceptionSetting>,
    pub max_report_age_hours: u32,
    /// SHA-256 of the configuration file as read (or of the empty string when none was used).
    pub config_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    pub id: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodGroupDefinition {
    pub group: MethodGroup,
    pub label: String,
    pub methods: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BreakGlassSettings {
    pub user_ids: Vec<String>,
    pub upns: Vec<String>,
    pub group_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExceptionSetting {
    pub user_id: Option<String>,
    pub upn: Option<String>,
    pub reason: String,
    pub approved_by: String,
    /// Honoured through the end of that day (UTC).
    pub expires: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointInTime {
    pub result: ControlResult,
    /// Why the result is what it is, in one sentence.
    pub result_reason: String,
    pub in_scope: u64,
    pub registered: u64,
    pub unregistered: u64,
    /// Floored to two decimals; `0.00` for an empty scope.
    pub percent: String,
    pub threshold_percent: String,
    pub reconciliation: Reconciliation,
    pub microsoft: MicrosoftFlags,
    pub method_groups: Vec<MethodGroupCount>,
    /// The first `SAMPLE_CAP` unregistered in-scope users, by UPN; all are in unregistered.csv.
    pub unregistered_sample: Vec<UserBrief>,
    pub break_glass_accounts: Vec<BreakGlassAccount>,
    pub exceptions: Vec<ExceptionState>,
}

/// Microsoft's own flags over the in-scope population, as a cross-check of the method rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MicrosoftFlags {
    /// `null` when the report carried the flag for no row: not in this export.
    pub is_mfa_registered: Option<u64>,
    pub is_mfa_capable: Option<u64>,
    /// In-scope users where `isMfaRegistered` and the method rule disagree.
    pub disagreements: u64,
    pub disagreement_sample: Vec<UserBrief>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodGroupCount {
    pub group: MethodCountKey,
    pub label: String,
    /// In-scope users with at least one method of the group (a user may count in several);
    /// for `other-only` and `none`, users with only non-qualifying methods, or with none at all.
    pub users: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserBrief {
    pub user_id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub methods: Vec<String>,
    pub in_report: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable kebab-case code, e.g. `missing-from-registration-report`.
    pub code: Code,
    pub severity: Severity,
    pub title: String,
    pub detail: String,
    pub what_to_do: String,
    pub count: u64,
    /// Up to 20 examples (UPNs, ids or method strings).
    pub examples: Vec<String>,
}

/// Where the data came from: what an auditor tests as information produced by the entity (IPE).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub snapshot: SnapshotRef,
    pub source_kind: SourceKind,
    /// Version of the tool that collected the snapshot (may differ from the one reporting);
    /// `None` when the files came without a collector's record.
    pub collected_by: Option<String>,
    /// For data read from files without a collector's record: what its provenance rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_files: Option<String>,
    /// For data from exports (admin center downloads, PowerShell output) or a tenant given by the
    /// operator: one sentence each on what the evidence then rests on (no request ids, users
    /// matched by UPN, the operator's time and tenant, fields not in the export).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assurance: Vec<String>,
    /// Application permissions the token carried (`roles`), when collected live.
    pub token_roles: Vec<String>,
    pub sources: Vec<SourceProvenance>,
    pub report_freshness: ReportFreshness,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRef {
    pub sequence: u64,
    pub folder: String,
    #[serde(with = "crate::time::secs")]
    pub collected_at: DateTime<Utc>,
    pub sha256: String,
    /// SHA-256 of this snapshot's ledger line (the next line chains to it).
    pub ledger_line_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceProvenance {
    pub name: Source,
    /// The request made, with the Graph root; `None` for files without a collector's record.
    pub endpoint: Option<String>,
    /// What the files show, when they came without a collector's record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<FilesRecord>,
    /// The export file it was read from, when it was not Graph pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<ExportRecord>,
    pub required: bool,
    pub status: SourceStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub pages: u64,
    pub items: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_request_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request_at: Option<String>,
    /// Graph request-ids, in request order (for tracing with Microsoft support).
    pub request_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ReportFreshness {
    #[serde(with = "crate::time::secs_opt")]
    pub oldest_row_updated: Option<DateTime<Utc>>,
    #[serde(with = "crate::time::secs_opt")]
    pub newest_row_updated: Option<DateTime<Utc>>,
    /// Rows whose `lastUpdatedDateTime` is older than `max_report_age_hours` at collection.
    pub stale_rows: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ConfigState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_methods_policy: Option<AuthMethodsPolicyState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditional_access: Option<Vec<ConditionalAccessState>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthMethodsPolicyState {
    pub methods: Vec<MethodConfigState>,
    pub registration_campaign_state: Option<String>,
    pub policy_migration_state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodConfigState {
    pub id: String,
    /// `enabled` | `disabled`
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionalAccessState {
    pub id: String,
    pub display_name: String,
    /// `enabled` | `disabled` | `enabledForReportingButNotEnforced`
    pub state: String,
    pub requires_mfa: bool,
    pub authentication_strength: Option<String>,
    pub include_all_users: bool,
    pub exclude_users: Vec<String>,
    pub exclude_groups: Vec<String>,
    /// Every configured break-glass account or group is excluded from this policy.
    pub excludes_break_glass: bool,
}

/// The audit period (SOC 2 Type II).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    #[serde(with = "crate::time::secs")]
    pub from: DateTime<Utc>,
    #[serde(with = "crate::time::secs")]
    pub to: DateTime<Utc>,
    pub snapshots: u64,
    pub conclusion: Conclusion,
    pub conclusion_reason: String,
    pub max_gap_hours: u32,
    pub ledger: LedgerState,
    pub series: Vec<HistoryPoint>,
    pub deviations: Vec<Deviation>,
    /// The snapshots of `series` that did not pass and whose alert was delivered when they were
    /// stored, by the store's notification record: monitoring that told someone.
    pub deviations_signalled: u64,
    pub longest_failing_run: Option<FailingRun>,
    pub gaps: Vec<Gap>,
    pub remediation: RemediationSummary,
    pub population_changes: PopulationChanges,
    pub audit_events: AuditEventSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub sequence: u64,
    #[serde(with = "crate::time::secs")]
    pub collected_at: DateTime<Utc>,
    pub in_scope: u64,
    pub registered: u64,
    pub percent: String,
    pub result: ControlResult,
    pub sha256: String,
    pub joiners: u64,
    pub leavers: u64,
    /// Whether an RFC 3161 token backs the collection time (`unattested` without a TSA, and in
    /// packages of earlier versions).
    #[serde(default)]
    pub attestation: SnapshotAttestation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    pub code: DeviationCode,
    pub description: String,
    #[serde(with = "crate::time::secs")]
    pub from: DateTime<Utc>,
    #[serde(with = "crate::time::secs")]
    pub to: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub kind: GapKind,
    #[serde(with = "crate::time::secs")]
    pub from: DateTime<Utc>,
    #[serde(with = "crate::time::secs")]
    pub to: DateTime<Utc>,
    /// Whole hours and minutes, e.g. `49.50`.
    pub hours: String,
    pub exceeds_limit: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RemediationSummary {
    pub remediated_users: u64,
    pub with_audit_event: u64,
    pub median_days_open: Option<u64>,
    pub max_days_open: Option<u64>,
    pub still_unregistered: u64,
    pub remediated_sample: Vec<RemediatedUser>,
    pub still_unregistered_sample: Vec<OpenItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PopulationChanges {
    pub joiners: u64,
    pub leavers: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AuditEventSummary {
    pub total: u64,
    pub by_activity: Vec<ActivityCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityCount {
    pub activity: String,
    pub count: u64,
}

/// One file of the package, for the manifest section of the PDF (every file but the PDF itself
/// and those written after it: the OSCAL documents, manifest.json and SHA256SUMS) and the OSCAL
/// results' back-matter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}
