//! The evidence document (`evidence.json`): the single source for everything else in a package.
//!
//! The PDF narrative and the CSVs are rendered from this document, never from the evaluation
//! directly, so the narrative cannot disagree with the data. Lists that grow with the tenant are
//! capped here (`*_sample`); the full lists live in the CSVs.

use serde::{Deserialize, Serialize};

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
    /// RFC 3339, UTC: the collection time of the evaluated snapshot, the document date.
    pub as_of: String,
    pub point_in_time: PointInTime,
    /// Present when the package covers an audit period (SOC 2 Type II).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    pub provenance: Provenance,
    pub config_state: ConfigState,
    pub findings: Vec<Finding>,
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
    /// `authenticator` | `security-key` | `phone`
    pub group: String,
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
    /// `YYYY-MM-DD`; honoured through the end of that day (UTC).
    pub expires: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointInTime {
    /// `pass` | `fail` | `insufficient-evidence`
    pub result: String,
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

/// Microsoft's own flags over the in-scope population, as a cross-check of the method rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MicrosoftFlags {
    pub is_mfa_registered: u64,
    pub is_mfa_capable: u64,
    /// In-scope users where `isMfaRegistered` and the method rule disagree.
    pub disagreements: u64,
    pub disagreement_sample: Vec<UserBrief>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodGroupCount {
    /// `authenticator` | `security-key` | `phone` | `other-only` | `none`
    pub group: String,
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
pub struct BreakGlassAccount {
    pub user_id: String,
    pub user_principal_name: String,
    pub display_name: String,
    /// `user-id` | `upn` | `group`: how the account was identified (first match).
    pub matched_by: String,
    /// False for a configured id or UPN that no listed user carries.
    pub found: bool,
    pub account_enabled: Option<bool>,
    pub methods: Vec<String>,
    /// Holds FIDO2, a passkey or certificate-based authentication.
    pub phishing_resistant: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExceptionState {
    pub user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub reason: String,
    pub approved_by: String,
    pub expires: String,
    /// `honoured` | `expired` | `not-found` | `superseded` (an earlier rule classified the user)
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable kebab-case code, e.g. `missing-from-registration-report`.
    pub code: String,
    /// `error` | `warning` | `info`
    pub severity: String,
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
    /// `graph` | `import` | `sample`
    pub source_kind: String,
    /// Version of the tool that collected the snapshot (may differ from the one reporting).
    pub collected_by: String,
    /// Application permissions the token carried (`roles`), when collected live.
    pub token_roles: Vec<String>,
    pub sources: Vec<SourceProvenance>,
    pub report_freshness: ReportFreshness,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRef {
    pub sequence: u64,
    pub folder: String,
    pub collected_at: String,
    pub sha256: String,
    /// SHA-256 of this snapshot's ledger line (the next line chains to it).
    pub ledger_line_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceProvenance {
    /// `organization` | `users` | `userRegistrationDetails` | `breakGlassMembers` |
    /// `directoryAudits` | `authenticationMethodsPolicy` | `conditionalAccessPolicies`
    pub name: String,
    pub endpoint: String,
    pub required: bool,
    /// `collected` | `missing` | `not-configured`
    pub status: String,
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
    pub oldest_row_updated: Option<String>,
    pub newest_row_updated: Option<String>,
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
    pub from: String,
    pub to: String,
    pub snapshots: u64,
    /// `operated-effectively` | `deviations-noted` | `insufficient-evidence`
    pub conclusion: String,
    pub conclusion_reason: String,
    pub max_gap_hours: u32,
    pub ledger: LedgerState,
    pub series: Vec<HistoryPoint>,
    pub deviations: Vec<Deviation>,
    pub longest_failing_run: Option<FailingRun>,
    pub gaps: Vec<Gap>,
    pub remediation: RemediationSummary,
    pub population_changes: PopulationChanges,
    pub audit_events: AuditEventSummary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerState {
    pub verified: bool,
    /// The first broken link, when `--allow-broken-history` let the report go on.
    pub broken_link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub sequence: u64,
    pub collected_at: String,
    pub in_scope: u64,
    pub registered: u64,
    pub percent: String,
    pub result: String,
    pub sha256: String,
    pub joiners: u64,
    pub leavers: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    /// `below-threshold` | `monitoring-gap` | `uncovered-period-start` | `uncovered-period-end` |
    /// `insufficient-snapshot` | `broken-ledger`
    pub code: String,
    pub description: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailingRun {
    pub from: String,
    pub to: String,
    pub snapshots: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// `between-snapshots` | `period-start` | `period-end`
    pub kind: String,
    pub from: String,
    pub to: String,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemediatedUser {
    pub user_id: String,
    pub user_principal_name: String,
    pub first_seen_unregistered: String,
    pub first_seen_registered: String,
    pub days_open: u64,
    pub audit_event_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenItem {
    pub user_id: String,
    pub user_principal_name: String,
    pub first_seen_unregistered: String,
    pub days_open: u64,
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

/// One file of the package, for the manifest section of the PDF (every file but the PDF itself,
/// manifest.json and SHA256SUMS, which are written after it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}
