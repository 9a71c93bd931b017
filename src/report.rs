//! The `report` job: picks the snapshots from the store, evaluates them, builds evidence.json and
//! writes the package. This is the one place that joins the stages; each stage stays ignorant of
//! the others.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::evaluate::period::{PeriodAnalysis, PeriodTables, SnapshotInfo};
use crate::evaluate::{self, ControlResult, Evaluation, basis_points_text, methods};
use crate::evidence::{
    AuthMethodsPolicyState, BreakGlassSettings, ConditionalAccessState, ConfigState, ControlInfo,
    Criterion, EVIDENCE_SCHEMA_VERSION, Evidence, ExceptionSetting, LedgerState, MethodConfigState,
    MethodGroupDefinition, Period, Provenance, SnapshotRef, SourceProvenance, TenantInfo, ToolInfo,
};
use crate::package::{self, Manifest, ManifestSnapshot, PackageBuilder};
use crate::render;
use crate::snapshot::Snapshot;
use crate::source::Source;
use crate::store::{Store, StoredSnapshot};

/// What the user asked of `report`, validated.
#[derive(Debug, Clone, Default)]
pub struct ReportRequest {
    pub out_dir: PathBuf,
    pub tenant: Option<String>,
    pub as_of: Option<DateTime<Utc>>,
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub allow_broken_history: bool,
}

pub struct ReportOutcome {
    pub zip: PathBuf,
    pub evidence: Evidence,
}

impl ReportOutcome {
    /// 0 when the control passed (and the period, if any, operated effectively); 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        let point_ok = self.evidence.point_in_time.result == ControlResult::Pass.as_str();
        let period_ok = self
            .evidence
            .period
            .as_ref()
            .is_none_or(|p| p.conclusion == "operated-effectively");
        if point_ok && period_ok { 0 } else { 1 }
    }
}

pub fn run(config: &Config, request: &ReportRequest) -> Result<ReportOutcome> {
    let store = Store::new(&config.store_path);
    let tenant = store.pick_tenant(request.tenant.as_deref())?;
    let ledger = store.ledger(&tenant)?;
    if let (Some(at), Some((from, to))) = (request.as_of, request.period)
        && (at < from || at > to)
    {
        bail!(
            "--as-of {} lies outside the period {} .. {}: give a time inside the period, or leave --as-of out to use the period's end",
            at.to_rfc3339(),
            from.to_rfc3339(),
            to.to_rfc3339()
        );
    }
    // `--as-of T` alone asks for the point in time only; anything else covers a period too.
    let point_only = request.as_of.is_some() && request.period.is_none();
    let mut period = if point_only {
        None
    } else {
        Some(analyse_period(&store, &tenant, &ledger, config, request)?)
    };
    let limit = request.as_of.or(period.as_ref().map(|p| p.to));
    let mut stored = pick_as_of(&ledger, limit)?;
    // A period report has just hashed every snapshot of an intact chain, the as-of one included.
    let verified = period.as_ref().is_some_and(|p| p.chain_intact);
    if !verified && let Err(why) = store.check_snapshot(stored) {
        // Over a history reported as broken, the as-of snapshot is the newest one that still
        // holds; otherwise a snapshot that fails its hashes is never evidence.
        let intact = (request.allow_broken_history && !point_only)
            .then(|| {
                ledger
                    .iter()
                    .rev()
                    .filter(|s| s.entry.sequence < stored.entry.sequence)
                    .find(|s| store.check_snapshot(s).is_ok())
            })
            .flatten();
        match intact {
            Some(older) => stored = older,
            None => bail!(
                "snapshot {} failed its integrity check: {why}; run `mfa-evidence store verify`",
                stored.entry.folder
            ),
        }
    }
    let kept = period.as_mut().and_then(|p| p.as_of_snapshot.take());
    let snapshot = match kept {
        Some((sequence, snapshot)) if sequence == stored.entry.sequence => snapshot,
        _ => stored.load()?,
    };
    let evaluation = evaluate::evaluate(&snapshot, &config.control);
    let (period_evidence, tables, manifest_snapshots) = match period {
        Some(p) => (Some(p.period), Some(p.tables), p.snapshots),
        None => (None, None, vec![manifest_snapshot(stored)]),
    };
    let evidence = build_evidence(&snapshot, stored, &evaluation, config, period_evidence);
    let zip = write_package(
        &request.out_dir,
        &evidence,
        &evaluation,
        stored,
        tables.as_ref(),
        manifest_snapshots,
    )?;
    Ok(ReportOutcome { zip, evidence })
}

struct PeriodOutcome {
    to: DateTime<Utc>,
    period: Period,
    tables: PeriodTables,
    snapshots: Vec<ManifestSnapshot>,
    /// Every snapshot's files were hashed and the chain holds.
    chain_intact: bool,
    /// The snapshot the report will take as of, with its sequence, when the period loaded it:
    /// kept rather than read and parsed a second time.
    as_of_snapshot: Option<(u64, Snapshot)>,
}

/// Verifies the whole history, then evaluates every snapshot of the period, one at a time.
fn analyse_period(
    store: &Store,
    tenant: &str,
    ledger: &[StoredSnapshot],
    config: &Config,
    request: &ReportRequest,
) -> Result<PeriodOutcome> {
    let chain = store.verify(tenant)?;
    if let Some(why) = &chain.broken
        && !request.allow_broken_history
    {
        bail!(
            "the evidence store's history is broken: {why}. A period cannot be reported on a broken history: \
             investigate with `mfa-evidence store verify`, or pass --allow-broken-history to report with the break stated as a deviation"
        );
    }
    let (from, to) = match request.period {
        Some(range) => range,
        None => {
            let first = ledger
                .first()
                .context("the store holds no snapshot of this tenant")?;
            let last = ledger
                .last()
                .context("the store holds no snapshot of this tenant")?;
            (first.collected_at()?, last.collected_at()?)
        }
    };
    if from > to {
        bail!(
            "the period starts after it ends ({} .. {}): give FROM..TO in order",
            from.to_rfc3339(),
            to.to_rfc3339()
        );
    }
    let as_of_sequence = pick_as_of(ledger, request.as_of.or(Some(to)))
        .ok()
        .map(|s| s.entry.sequence);
    let mut as_of_snapshot = None;
    let mut analysis = PeriodAnalysis::new(from, to, config.max_gap_hours);
    let mut snapshots = Vec::new();
    for stored in ledger {
        let at = stored.collected_at()?;
        if at < from || at > to {
            continue;
        }
        // Past a break, a snapshot whose own hashes fail is left out; the break is a deviation.
        if chain.broken.is_some() && store.check_snapshot(stored).is_err() {
            continue;
        }
        let snapshot = stored.load()?;
        let evaluation = evaluate::evaluate(&snapshot, &config.control);
        let info = SnapshotInfo {
            sequence: stored.entry.sequence,
            collected_at: at,
            sha256: stored.entry.snapshot_sha256.clone(),
        };
        analysis.add(&info, &evaluation, snapshot.audit_events.as_deref());
        snapshots.push(manifest_snapshot(stored));
        if as_of_sequence == Some(stored.entry.sequence) {
            as_of_snapshot = Some((stored.entry.sequence, snapshot));
        }
    }
    let chain_intact = chain.broken.is_none();
    let (period, tables) = analysis.finish(LedgerState {
        verified: chain_intact,
        broken_link: chain.broken,
    });
    Ok(PeriodOutcome {
        to,
        period,
        tables,
        snapshots,
        chain_intact,
        as_of_snapshot,
    })
}

fn manifest_snapshot(stored: &StoredSnapshot) -> ManifestSnapshot {
    ManifestSnapshot {
        sequence: stored.entry.sequence,
        folder: stored.entry.folder.clone(),
        collected_at: stored.entry.collected_at.clone(),
        sha256: stored.entry.snapshot_sha256.clone(),
    }
}

/// The newest snapshot collected at or before `limit` (or the newest of all).
fn pick_as_of(ledger: &[StoredSnapshot], limit: Option<DateTime<Utc>>) -> Result<&StoredSnapshot> {
    let mut best = None;
    for s in ledger {
        if limit.is_none_or(|l| s.collected_at().is_ok_and(|t| t <= l)) {
            best = Some(s);
        }
    }
    best.with_context(|| match (limit, ledger.first()) {
        (Some(l), Some(first)) => format!(
            "the store holds no snapshot collected at or before {}: the first is from {}",
            l.to_rfc3339(),
            first.entry.collected_at
        ),
        _ => "the store holds no snapshot of this tenant".to_string(),
    })
}

/// `ID-01_<tenant>_<as-of>`: the tenant's name as ASCII letters, digits and dashes (its id when
/// nothing of the name is left), the as-of time in compact form.
pub fn package_id(snapshot: &Snapshot) -> String {
    let mut slug = String::new();
    for c in snapshot.tenant.name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() {
        snapshot.tenant.id.as_str()
    } else {
        slug
    };
    let compact: String = snapshot
        .collected_at
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    format!("ID-01_{slug}_{compact}")
}

fn control_info(config: &Config) -> ControlInfo {
    let c = &config.control;
    let threshold = basis_points_text(c.threshold_basis_points);
    // The groups as configured: `qualifying_methods` may drop some methods or add others.
    let method_groups: Vec<MethodGroupDefinition> = methods::GROUPS
        .iter()
        .map(|(group, label, list)| MethodGroupDefinition {
            group: group.to_string(),
            label: label.to_string(),
            methods: list
                .iter()
                .filter(|m| c.qualifying_methods.contains(**m))
                .map(|m| m.to_string())
                .collect(),
        })
        .filter(|g| !g.methods.is_empty())
        .collect();
    let mut kinds: Vec<&str> = method_groups
        .iter()
        .map(|g| match g.group.as_str() {
            "authenticator" => "Microsoft Authenticator",
            "security-key" => "a security key or passkey",
            "phone" => "a phone",
            _ => "another method",
        })
        .collect();
    if c.qualifying_methods
        .iter()
        .any(|m| methods::group_of(m).is_none())
    {
        kinds.push("another configured method");
    }
    let kinds = match kinds.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}, or {last}", rest.join(", ")),
        _ => kinds.concat(),
    };
    ControlInfo {
        id: "ID-01".into(),
        title: "User MFA registration".into(),
        statement: format!(
            "At least {threshold} % of in-scope users have a multi-factor authentication method registered \
             ({kinds}). In scope: every user of the Microsoft Entra ID tenant except break-glass (emergency \
             access) accounts, disabled accounts{}, and users under an approved, unexpired exception.",
            if c.include_guests { "" } else { ", guests" }
        ),
        criteria: vec![
            Criterion {
                id: "CC6.1".into(),
                role: "primary: logical access security measures, authentication".into(),
            },
            Criterion {
                id: "CC6.2".into(),
                role: "supporting: registration and authorization of users".into(),
            },
            Criterion {
                id: "CC6.6".into(),
                role: "supporting: protection against threats from outside system boundaries"
                    .into(),
            },
            Criterion {
                id: "CC7.1".into(),
                role: "monitoring: detection of configuration changes and continuous collection"
                    .into(),
            },
        ],
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
                expires: e.expires.to_string(),
            })
            .collect(),
        max_report_age_hours: c.max_report_age_hours,
        config_sha256: config.sha256.clone(),
    }
}

fn provenance(snapshot: &Snapshot, stored: &StoredSnapshot, evaluation: &Evaluation) -> Provenance {
    let graph = snapshot
        .collection
        .graph_endpoint
        .as_deref()
        .unwrap_or("https://graph.microsoft.com");
    Provenance {
        snapshot: snapshot_ref(stored),
        source_kind: snapshot.collection.source_kind.to_string(),
        collected_by: snapshot.collection.collected_by.clone(),
        token_roles: snapshot.collection.token_roles.clone(),
        sources: snapshot
            .collection
            .sources
            .iter()
            .map(|s| SourceProvenance {
                name: s.name.to_string(),
                endpoint: if s.endpoint.starts_with('/') {
                    format!("{graph}{}", s.endpoint)
                } else {
                    s.endpoint.clone()
                },
                required: s.required,
                status: s.status.to_string(),
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
        report_freshness: evaluation.freshness.clone(),
    }
}

pub fn snapshot_ref(stored: &StoredSnapshot) -> SnapshotRef {
    SnapshotRef {
        sequence: stored.entry.sequence,
        folder: stored.entry.folder.clone(),
        collected_at: stored.entry.collected_at.clone(),
        sha256: stored.entry.snapshot_sha256.clone(),
        ledger_line_sha256: stored.line_sha256.clone(),
    }
}

fn config_state(snapshot: &Snapshot, evaluation: &Evaluation, config: &Config) -> ConfigState {
    let bg_ids: Vec<&str> = evaluation
        .point_in_time
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

pub fn build_evidence(
    snapshot: &Snapshot,
    stored: &StoredSnapshot,
    evaluation: &Evaluation,
    config: &Config,
    period: Option<Period>,
) -> Evidence {
    Evidence {
        schema_version: EVIDENCE_SCHEMA_VERSION,
        tool: ToolInfo {
            name: "mfa-evidence".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        package_id: package_id(snapshot),
        tenant: TenantInfo {
            id: snapshot.tenant.id.clone(),
            name: snapshot.tenant.name.clone(),
        },
        control: control_info(config),
        as_of: snapshot.collected_at.clone(),
        point_in_time: evaluation.point_in_time.clone(),
        period,
        provenance: provenance(snapshot, stored, evaluation),
        config_state: config_state(snapshot, evaluation, config),
        findings: evaluation.findings.clone(),
    }
}

fn write_package(
    out_dir: &Path,
    evidence: &Evidence,
    evaluation: &Evaluation,
    as_of: &StoredSnapshot,
    tables: Option<&PeriodTables>,
    snapshots: Vec<ManifestSnapshot>,
) -> Result<PathBuf> {
    let mut pkg = PackageBuilder::new(out_dir)?;
    let evidence_json = serde_json::to_vec_pretty(evidence)?;
    pkg.add_bytes(package::EVIDENCE_FILE, &evidence_json)?;
    pkg.add_written("population.csv", |w| {
        render::csv::write_population(&evaluation.users, w).map(drop)
    })?;
    pkg.add_written("unregistered.csv", |w| {
        render::csv::write_unregistered(&evaluation.users, w).map(drop)
    })?;
    pkg.add_written("excluded.csv", |w| {
        render::csv::write_excluded(&evaluation.users, w).map(drop)
    })?;
    if let (Some(period), Some(tables)) = (&evidence.period, tables) {
        pkg.add_written("history.csv", |w| {
            render::period_csv::write_history(period, w).map(drop)
        })?;
        pkg.add_written("remediation.csv", |w| {
            render::period_csv::write_remediation(tables, w).map(drop)
        })?;
        pkg.add_written("audit-events.csv", |w| {
            render::period_csv::write_audit_events(tables, w).map(drop)
        })?;
        pkg.add_written("population-changes.csv", |w| {
            render::period_csv::write_population_changes(tables, w).map(drop)
        })?;
    }
    let mut raw_files = Vec::new();
    crate::store::list_files(&as_of.raw_dir(), &as_of.raw_dir(), &mut raw_files)
        .with_context(|| format!("cannot list {}", as_of.raw_dir().display()))?;
    raw_files.sort();
    for name in &raw_files {
        let source = as_of.raw_dir().join(name);
        pkg.add_existing(&format!("raw/{name}"), &source)?;
        if name.starts_with(Source::AuthMethodsPolicy.stem())
            || name.starts_with(Source::ConditionalAccess.stem())
        {
            pkg.add_existing(&format!("config-state/{name}"), &source)?;
        }
    }
    pkg.add_bytes("README.txt", package_readme(evidence).as_bytes())?;
    // The narrative is rendered from the very evidence.json bytes in the package, and lists every
    // file but itself and the two hash lists written after it.
    let pdf = render::pdf::render_report(&evidence_json, &pkg.files())
        .context("cannot render report.pdf")?;
    pkg.add_bytes(package::PDF_FILE, &pdf)?;

    let manifest = Manifest {
        package_id: evidence.package_id.clone(),
        tool: format!("{} {}", evidence.tool.name, evidence.tool.version),
        tenant_id: evidence.tenant.id.clone(),
        as_of: evidence.as_of.clone(),
        config_sha256: evidence.control.config_sha256.clone(),
        snapshots,
        files: Vec::new(),
    };
    pkg.finish(out_dir, manifest)
}

const PERIOD_FILES: &str = "\
history.csv        one row per snapshot of the audit period: figure, result, joiners, leavers, snapshot hash
remediation.csv    users brought into compliance during the period (dates, days open, audit event ids),
                   then users still unregistered at its end
audit-events.csv   the Authentication Methods audit events of the period, each once
population-changes.csv  joiners and leavers of the in-scope population, snapshot by snapshot
";

fn package_readme(evidence: &Evidence) -> String {
    let period = evidence
        .period
        .as_ref()
        .map(|p| {
            format!(
                "Audit period:  {} to {} ({} snapshots): {}\n",
                p.from, p.to, p.snapshots, p.conclusion
            )
        })
        .unwrap_or_default();
    format!(
        "Evidence package {id}\n\
         Control ID-01 \"User MFA registration\" for tenant {name} ({tenant})\n\
         As of:         {as_of}\n\
         Result:        {result} ({registered} of {in_scope} in-scope users registered, {percent} %; threshold {threshold} %)\n\
         {period}\
         Produced by:   {tool} {version}\n\
         \n\
         Files\n\
         -----\n\
         report.pdf         the narrative for the auditor, rendered from evidence.json\n\
         evidence.json      the evaluation and its provenance: the single source for everything else\n\
         population.csv     every user from /users: classification, reason, methods, registered, Microsoft's flags\n\
         unregistered.csv   in-scope users without a qualifying method\n\
         excluded.csv       break-glass accounts, disabled accounts, guests and exceptions, with reasons\n\
         {period_files}\
         config-state/      the authentication methods policy and conditional access policies, as returned by Graph\n\
         raw/               the Graph responses of the as-of snapshot, byte for byte, with provenance.json\n\
         manifest.json      every file with its size and SHA-256, the tool version, the config and snapshot hashes\n\
         SHA256SUMS         the same hashes, for sha256sum -c\n\
         \n\
         How to verify\n\
         -------------\n\
         1. The zip itself:        sha256sum -c {id}.zip.sha256   (beside the zip)\n\
         2. Every file inside:     unzip {id}.zip && cd {id} && sha256sum -c SHA256SUMS\n\
         3. Everything, and the figure re-computed from population.csv:\n\
                                   mfa-evidence verify {id}.zip\n\
         To re-perform the figure by hand: in population.csv keep the rows whose classification is\n\
         in-scope; the figure is the share of them whose registered column is true, floored to two\n\
         decimals; the control passes when registered x 10000 >= {bp} x in-scope.\n",
        id = evidence.package_id,
        name = evidence.tenant.name,
        tenant = evidence.tenant.id,
        as_of = evidence.as_of,
        result = evidence.point_in_time.result,
        registered = evidence.point_in_time.registered,
        in_scope = evidence.point_in_time.in_scope,
        percent = evidence.point_in_time.percent,
        threshold = evidence.point_in_time.threshold_percent,
        bp = evidence.control.threshold_basis_points,
        period_files = if evidence.period.is_some() {
            PERIOD_FILES
        } else {
            ""
        },
        tool = evidence.tool.name,
        version = evidence.tool.version,
    )
}
