//! NIST OSCAL output: `oscal/assessment-results.json` and the minimal
//! `oscal/assessment-plan.json` its `import-ap` points to, both OSCAL [`OSCAL_VERSION`].
//!
//! Like every renderer this decides nothing: each statement comes from `evidence.json` (the
//! result and its reason, the period's conclusion and its reason, the figure, the
//! reconciliation, the data-quality findings) and from the package's file list. What is ours is
//! the mapping onto OSCAL: the point-in-time result and the period conclusion become findings on
//! the objective of ID-01, `pass` and `operated-effectively` are `satisfied`, everything else
//! (`fail`, `insufficient-evidence`, `deviations-noted`) is `not-satisfied` with the reason;
//! the figure, the reconciliation, the period and each data-quality finding become
//! observations; every package file becomes a back-matter resource whose `rlink` is the file's
//! path relative to the document, with its SHA-256, and observations cite those resources as
//! relevant evidence.
//!
//! Identifiers are version 5 UUIDs in a namespace derived from the SHA-256 of `evidence.json`
//! ([`Ids`]), each named by a stable path such as `finding/point-in-time`: the same evidence
//! gives the same document byte for byte, and two packages with different evidence (even of one
//! tenant and as-of time) share no identifier. Every time is the as-of time or the period's
//! bounds, never the clock.

use std::io::Write;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::evidence::{Conclusion, ControlResult, Evidence, Finding, PackageFile, words};

/// The OSCAL version both documents are written in (`metadata.oscal-version`).
pub const OSCAL_VERSION: &str = "1.2.1";
/// The assessment results, as the package names it.
pub const RESULTS_FILE: &str = "oscal/assessment-results.json";
/// The assessment plan `import-ap` points to, as the package names it.
pub const PLAN_FILE: &str = "oscal/assessment-plan.json";
/// `import-ap`'s href: the plan, beside the results.
const PLAN_HREF: &str = "assessment-plan.json";
/// The namespace of the properties that are ours rather than OSCAL's.
pub const PROP_NS: &str = "urn:mfa-evidence";
/// The objective a finding's target names: the control's objective, as OSCAL spells one.
const TARGET_ID: &str = "ID-01_obj";

crate::vocabulary! {
    /// OSCAL's `objective-status` state: whether the objective was met.
    pub enum ObjectiveState {
        Satisfied => "satisfied",
        NotSatisfied => "not-satisfied",
    }
}

crate::vocabulary! {
    /// OSCAL's `objective-status` reason: `other` says the evidence did not allow a verdict.
    pub enum StatusReason {
        Pass => "pass",
        Fail => "fail",
        Other => "other",
    }
}

/// The point-in-time result in OSCAL's terms: only `pass` satisfies the objective.
pub fn result_status(result: ControlResult) -> (ObjectiveState, StatusReason) {
    match result {
        ControlResult::Pass => (ObjectiveState::Satisfied, StatusReason::Pass),
        ControlResult::Fail => (ObjectiveState::NotSatisfied, StatusReason::Fail),
        ControlResult::InsufficientEvidence => (ObjectiveState::NotSatisfied, StatusReason::Other),
    }
}

/// The period's conclusion in OSCAL's terms: only `operated-effectively` satisfies it.
pub fn conclusion_status(conclusion: Conclusion) -> (ObjectiveState, StatusReason) {
    match conclusion {
        Conclusion::OperatedEffectively => (ObjectiveState::Satisfied, StatusReason::Pass),
        Conclusion::DeviationsNoted => (ObjectiveState::NotSatisfied, StatusReason::Fail),
        Conclusion::InsufficientEvidence => (ObjectiveState::NotSatisfied, StatusReason::Other),
    }
}

/// The identifiers of one package's OSCAL documents: version 5 UUIDs named by stable paths, in
/// the namespace `UUIDv5(URL namespace, "urn:mfa-evidence:evidence-sha256:<hex>")`.
pub struct Ids {
    namespace: Uuid,
}

impl Ids {
    pub fn new(evidence_sha256: &str) -> Ids {
        let name = format!("urn:mfa-evidence:evidence-sha256:{evidence_sha256}");
        Ids {
            namespace: Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes()),
        }
    }

    /// The UUID named `path` (e.g. `finding/point-in-time`), hyphenated lower case.
    pub fn get(&self, path: &str) -> String {
        Uuid::new_v5(&self.namespace, path.as_bytes()).to_string()
    }
}

/// Writes `oscal/assessment-plan.json`: the document `import-ap` names. It holds what was
/// planned and nothing observed: the reviewed control, the system assessed (the Entra tenant,
/// a back-matter resource `import-ssp` points to, as no system security plan is part of a
/// package) and the one task, reading the tenant's state.
pub fn write_assessment_plan(
    evidence: &Evidence,
    evidence_sha256: &str,
    w: &mut dyn Write,
) -> Result<()> {
    let ids = Ids::new(evidence_sha256);
    let tenant = one_line(&evidence.tenant.name);
    let system = ids.get("resource/system");
    let doc = json!({
        "assessment-plan": {
            "uuid": ids.get("assessment-plan"),
            "metadata": metadata(
                evidence,
                evidence_sha256,
                format!("ID-01 {}: assessment plan for {tenant}", evidence.control.title),
            ),
            "import-ssp": {
                "href": format!("#{system}"),
                "remarks": "No system security plan is part of the package: the system \
                            assessed is the Microsoft Entra ID tenant described in back-matter.",
            },
            "reviewed-controls": reviewed_controls(evidence),
            "tasks": [{
                "uuid": ids.get("task/evaluate"),
                "type": "action",
                "title": "Evaluate ID-01 from the tenant's Microsoft Entra ID state",
                "description": plan_task_description(evidence),
            }],
            "back-matter": {
                "resources": [system_resource(evidence, &system)],
            },
        }
    });
    write_json(&doc, w)
}

/// Writes `oscal/assessment-results.json` from the evidence and the package's files (each is
/// linked by its path relative to `oscal/`, with its SHA-256).
pub fn write_assessment_results(
    evidence: &Evidence,
    evidence_sha256: &str,
    files: &[PackageFile],
    w: &mut dyn Write,
) -> Result<()> {
    let ids = Ids::new(evidence_sha256);
    let tenant = one_line(&evidence.tenant.name);
    let tool = ids.get("component/tool");
    let system = ids.get("component/system");
    let file_id = |path: &str| format!("#{}", ids.get(&format!("file/{path}")));
    let cite = |path: &str, description: &str| json!({ "href": file_id(path), "description": format!("{path}: {description}") });
    let origins = json!([{ "actors": [{ "type": "tool", "actor-uuid": tool }] }]);
    let subjects = json!([{
        "subject-uuid": system,
        "type": "component",
        "title": format!("Microsoft Entra ID tenant {tenant}"),
    }]);
    let observation = |name: &str,
                       title: String,
                       description: String,
                       types: &str,
                       props: Vec<Value>,
                       evidence_files: Vec<Value>| {
        json!({
            "uuid": ids.get(&format!("observation/{name}")),
            "title": one_line(&title),
            "description": description,
            "props": props,
            "methods": ["EXAMINE"],
            "types": [types],
            "origins": origins,
            "subjects": subjects,
            "relevant-evidence": evidence_files,
            "collected": secs(evidence.as_of),
        })
    };

    let pit = &evidence.point_in_time;
    let mut observations = vec![
        observation(
            "figure",
            "The figure: in-scope users with a qualifying MFA method".into(),
            format!(
                "{}; the control passes at {} % or more.",
                words::capitalised(&words::figure_in_words(pit)),
                pit.threshold_percent
            ),
            "control-objective",
            vec![
                prop("in-scope", pit.in_scope),
                prop("registered", pit.registered),
                prop("unregistered", pit.unregistered),
                prop("percent", &pit.percent),
                prop("threshold-percent", &pit.threshold_percent),
            ],
            vec![
                cite(
                    "population.csv",
                    "every user with classification and registered; the figure is re-performed from it",
                ),
                cite(
                    "unregistered.csv",
                    "the in-scope users without a qualifying method",
                ),
                cite("evidence.json", "the figure and how it was produced"),
            ],
        ),
        observation(
            "reconciliation",
            "Population reconciliation".into(),
            reconciliation_text(evidence),
            "control-objective",
            reconciliation_props(evidence),
            vec![
                cite("population.csv", "every user from /users, one row each"),
                cite(
                    "excluded.csv",
                    "the users left out of the figure, with reasons",
                ),
                cite(
                    "evidence.json",
                    "the reconciliation, section point_in_time.reconciliation",
                ),
            ],
        ),
    ];
    let mut quality = Vec::new();
    for finding in &evidence.findings {
        let name = format!("data-quality/{}", finding.code);
        quality.push(ids.get(&format!("observation/{name}")));
        observations.push(observation(
            &name,
            format!("Data quality: {}", finding.title),
            finding_text(finding),
            "finding",
            vec![
                prop("finding-code", finding.code),
                prop("severity", finding.severity),
                prop("count", finding.count),
            ],
            vec![cite(
                "evidence.json",
                "the data-quality findings, section findings",
            )],
        ));
    }
    if let Some(period) = &evidence.period {
        let mut cited = vec![cite(
            "history.csv",
            "one row per snapshot of the period: figure, result, snapshot hash",
        )];
        if files.iter().any(|f| f.path == "remediation.csv") {
            cited.push(cite(
                "remediation.csv",
                "users brought into compliance during the period",
            ));
        }
        cited.push(cite("evidence.json", "the period, section period"));
        observations.push(observation(
            "period",
            format!("Audit period {} to {}", secs(period.from), secs(period.to)),
            period_text(evidence),
            "historic",
            vec![
                prop("snapshots", period.snapshots),
                prop("deviations", period.deviations.len() as u64),
                prop(
                    "gaps-over-limit",
                    period.gaps.iter().filter(|g| g.exceeds_limit).count() as u64,
                ),
                prop("max-gap-hours", period.max_gap_hours),
            ],
            cited,
        ));
    }

    let related = |names: &[String]| -> Value {
        names
            .iter()
            .map(|uuid| json!({ "observation-uuid": uuid }))
            .collect()
    };
    let (state, reason) = result_status(pit.result);
    let mut point_related = vec![
        ids.get("observation/figure"),
        ids.get("observation/reconciliation"),
    ];
    point_related.extend(quality.iter().cloned());
    let mut findings = vec![json!({
        "uuid": ids.get("finding/point-in-time"),
        "title": format!("Point-in-time result as of {}: {}", secs(evidence.as_of), pit.result),
        "description": pit.result_reason,
        "props": [prop("result", pit.result)],
        "origins": origins,
        "target": target(
            format!("ID-01 as of {}", secs(evidence.as_of)),
            &pit.result_reason,
            state,
            reason,
        ),
        "related-observations": related(&point_related),
    })];
    if let Some(period) = &evidence.period {
        let (state, reason) = conclusion_status(period.conclusion);
        let period_related = vec![ids.get("observation/period"), ids.get("observation/figure")];
        findings.push(json!({
            "uuid": ids.get("finding/period"),
            "title": format!(
                "Audit period {} to {}: {}",
                secs(period.from),
                secs(period.to),
                period.conclusion
            ),
            "description": period.conclusion_reason,
            "props": [prop("conclusion", period.conclusion)],
            "origins": origins,
            "target": target(
                format!("ID-01 over {} to {}", secs(period.from), secs(period.to)),
                &period.conclusion_reason,
                state,
                reason,
            ),
            "related-observations": related(&period_related),
        }));
    }

    let (start, end) = match &evidence.period {
        Some(p) => (p.from, p.to),
        None => (evidence.as_of, evidence.as_of),
    };
    let resources: Vec<Value> = files
        .iter()
        .map(|f| {
            json!({
                "uuid": ids.get(&format!("file/{}", f.path)),
                "title": f.path,
                "props": [prop("size", f.size)],
                "rlinks": [{
                    "href": format!("../{}", f.path),
                    "media-type": media_type(&f.path),
                    "hashes": [{ "algorithm": "SHA-256", "value": f.sha256 }],
                }],
            })
        })
        .collect();
    let doc = json!({
        "assessment-results": {
            "uuid": ids.get("assessment-results"),
            "metadata": metadata(
                evidence,
                evidence_sha256,
                format!("ID-01 {}: assessment results for {tenant}", evidence.control.title),
            ),
            "import-ap": {
                "href": PLAN_HREF,
                "remarks": "The minimal assessment plan written with these results.",
            },
            "results": [{
                "uuid": ids.get("result"),
                "title": one_line(&format!("ID-01 {} for {tenant}", evidence.control.title)),
                "description": evidence.control.statement,
                "start": secs(start),
                "end": secs(end),
                "props": [prop("package-id", &evidence.package_id)],
                "local-definitions": {
                    "components": [{
                        "uuid": system,
                        "type": "service",
                        "title": format!("Microsoft Entra ID tenant {tenant}"),
                        "description": system_description(evidence),
                        "props": [prop("tenant-id", &evidence.tenant.id)],
                        "status": { "state": "operational" },
                    }],
                    "assessment-assets": {
                        "components": [{
                            "uuid": tool,
                            "type": "software",
                            "title": format!("{} {}", evidence.tool.name, evidence.tool.version),
                            "description": "Collects the Microsoft Entra ID state behind ID-01, \
                                            evaluates the control and writes this package.",
                            "props": [
                                prop("tool-name", &evidence.tool.name),
                                prop("tool-version", &evidence.tool.version),
                            ],
                            "status": { "state": "operational" },
                        }],
                        "assessment-platforms": [{
                            "uuid": ids.get("platform/tool"),
                            "title": format!("{} {}", evidence.tool.name, evidence.tool.version),
                            "uses-components": [{ "component-uuid": tool }],
                        }],
                    },
                },
                "reviewed-controls": reviewed_controls(evidence),
                "observations": observations,
                "findings": findings,
            }],
            "back-matter": { "resources": resources },
        }
    });
    write_json(&doc, w)
}

/// The metadata both documents carry: the tool, the package and the evidence they rest on.
fn metadata(evidence: &Evidence, evidence_sha256: &str, title: String) -> Value {
    json!({
        "title": one_line(&title),
        "published": secs(evidence.as_of),
        "last-modified": secs(evidence.as_of),
        "version": evidence.package_id,
        "oscal-version": OSCAL_VERSION,
        "props": [
            prop("tool-name", &evidence.tool.name),
            prop("tool-version", &evidence.tool.version),
            prop("package-id", &evidence.package_id),
            prop("evidence-sha256", evidence_sha256),
        ],
        "remarks": format!(
            "Written by {} {} from evidence.json (SHA-256 {evidence_sha256}) of package {}; \
             every statement here is taken from that document.",
            evidence.tool.name, evidence.tool.version, evidence.package_id
        ),
    })
}

fn reviewed_controls(evidence: &Evidence) -> Value {
    let criteria: Vec<Value> = evidence
        .control
        .criteria
        .iter()
        .map(|c| {
            json!({ "name": "trust-services-criterion", "ns": PROP_NS, "value": c.id, "remarks": c.role })
        })
        .collect();
    json!({
        "description": evidence.control.statement,
        "props": criteria,
        "control-selections": [{
            "description": format!("ID-01 {}", evidence.control.title),
            "include-controls": [{ "control-id": evidence.control.id }],
        }],
    })
}

fn target(title: String, description: &str, state: ObjectiveState, reason: StatusReason) -> Value {
    json!({
        "type": "objective-id",
        "target-id": TARGET_ID,
        "title": one_line(&title),
        "description": description,
        "status": { "state": state, "reason": reason, "remarks": description },
    })
}

fn system_resource(evidence: &Evidence, uuid: &str) -> Value {
    json!({
        "uuid": uuid,
        "title": one_line(&format!("Microsoft Entra ID tenant {}", evidence.tenant.name)),
        "description": system_description(evidence),
        "props": [prop("tenant-id", &evidence.tenant.id)],
    })
}

fn system_description(evidence: &Evidence) -> String {
    format!(
        "The Microsoft Entra ID tenant {} (tenant id {}): its users and their authentication \
         methods registration.",
        one_line(&evidence.tenant.name),
        evidence.tenant.id
    )
}

fn plan_task_description(evidence: &Evidence) -> String {
    let mut text = format!(
        "Evaluate the tenant's users and authentication methods registration as of {}",
        secs(evidence.as_of)
    );
    if let Some(p) = &evidence.period {
        text.push_str(&format!(
            ", and every stored snapshot of the audit period {} to {} (a monitoring gap over {} \
             is a deviation)",
            secs(p.from),
            secs(p.to),
            words::counted(p.max_gap_hours, "hour", "hours")
        ));
    }
    text.push('.');
    text
}

fn reconciliation_text(evidence: &Evidence) -> String {
    let r = &evidence.point_in_time.reconciliation;
    format!(
        "{} listed by /users; excluded: {} break-glass, {} disabled, {} guest, {} under an \
         exception; {} in scope, of which {} missing from the registration report. The \
         registration report has {}, {} without a user.",
        words::counted(r.users_listed, "user", "users"),
        words::thousands(r.break_glass),
        words::thousands(r.disabled),
        words::thousands(r.guest),
        words::thousands(r.exception),
        words::thousands(r.in_scope),
        words::thousands(r.in_scope_missing_from_report),
        words::counted(r.report_rows, "row", "rows"),
        words::thousands(r.report_rows_without_user),
    )
}

fn reconciliation_props(evidence: &Evidence) -> Vec<Value> {
    let r = &evidence.point_in_time.reconciliation;
    vec![
        prop("users-listed", r.users_listed),
        prop("break-glass", r.break_glass),
        prop("disabled", r.disabled),
        prop("guest", r.guest),
        prop("exception", r.exception),
        prop("in-scope", r.in_scope),
        prop(
            "in-scope-missing-from-report",
            r.in_scope_missing_from_report,
        ),
        prop("report-rows", r.report_rows),
        prop("report-rows-without-user", r.report_rows_without_user),
    ]
}

fn finding_text(finding: &Finding) -> String {
    let mut text = format!("{} What to do: {}", finding.detail, finding.what_to_do);
    if !finding.examples.is_empty() {
        text.push_str(&format!(" Examples: {}.", finding.examples.join(", ")));
    }
    text
}

fn period_text(evidence: &Evidence) -> String {
    let Some(p) = &evidence.period else {
        return String::new();
    };
    let mut text = format!(
        "{} from {} to {}. {}",
        words::counted(p.snapshots, "snapshot", "snapshots"),
        secs(p.from),
        secs(p.to),
        p.conclusion_reason
    );
    for d in &p.deviations {
        text.push_str(&format!(
            "\n- {} ({} to {}): {}",
            d.code,
            secs(d.from),
            secs(d.to),
            d.description
        ));
    }
    text
}

/// A property of ours: a name in [`PROP_NS`] and its value as text.
fn prop(name: &str, value: impl ToString) -> Value {
    json!({ "name": name, "ns": PROP_NS, "value": value.to_string() })
}

/// OSCAL's date-time-with-timezone, as evidence.json writes times.
fn secs(t: DateTime<Utc>) -> String {
    crate::time::secs_text(t)
}

/// A title or name on one line, as OSCAL's single-line strings require: control characters
/// (a line break in a tenant's name) become spaces, and the ends are trimmed.
fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = flat.trim();
    if trimmed.is_empty() {
        "(no name)".to_string()
    } else {
        trimmed.to_string()
    }
}

/// The media type an OSCAL reader opens a package file with, from its extension.
fn media_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("json") => "application/json",
        Some("csv") => "text/csv",
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("pub") => "text/plain",
        _ => "application/octet-stream",
    }
}

fn write_json(doc: &Value, w: &mut dyn Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *w, doc)?;
    w.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_5_stable_and_distinct() {
        let a = Ids::new(&"a".repeat(64));
        let b = Ids::new(&"b".repeat(64));
        let id = a.get("finding/point-in-time");
        assert_eq!(id, a.get("finding/point-in-time"));
        assert_ne!(id, a.get("finding/period"));
        assert_ne!(id, b.get("finding/point-in-time"));
        let parsed = Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 5);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn only_pass_and_operated_effectively_satisfy() {
        for r in ControlResult::ALL {
            let (state, _) = result_status(*r);
            assert_eq!(
                state == ObjectiveState::Satisfied,
                *r == ControlResult::Pass,
                "{r}"
            );
        }
        for c in Conclusion::ALL {
            let (state, _) = conclusion_status(*c);
            assert_eq!(
                state == ObjectiveState::Satisfied,
                *c == Conclusion::OperatedEffectively,
                "{c}"
            );
        }
        assert_eq!(
            result_status(ControlResult::InsufficientEvidence).1,
            StatusReason::Other
        );
    }

    #[test]
    fn names_become_one_line() {
        assert_eq!(one_line("Contoso\nLtd\t"), "Contoso Ltd");
        assert_eq!(one_line("\n"), "(no name)");
    }
}
