//! What goes into a package: the evidence document, the CSVs, the raw pages of the as-of
//! snapshot, README.txt and the narrative; and the package's name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{EVIDENCE_FILE, Manifest, ManifestSnapshot, PDF_FILE, PackageBuilder};
use crate::evaluate::Evaluation;
use crate::evaluate::period::PeriodFacts;
use crate::evidence::Evidence;
use crate::render;
use crate::source::Source;
use crate::store::StoredSnapshot;

/// Everything a package is written from.
pub struct PackageInputs<'a> {
    pub evidence: &'a Evidence,
    pub evaluation: &'a Evaluation<'a>,
    /// The snapshot the package is as of: its raw pages go into raw/.
    pub as_of: &'a StoredSnapshot,
    pub period: Option<&'a PeriodFacts>,
    /// Every snapshot the package rests on, for manifest.json.
    pub snapshots: Vec<ManifestSnapshot>,
}

/// Writes `<out_dir>/<package id>.zip` and its `.sha256`; returns the zip's path.
pub fn write_package(out_dir: &Path, inputs: PackageInputs) -> Result<PathBuf> {
    let PackageInputs {
        evidence,
        evaluation,
        as_of,
        period,
        snapshots,
    } = inputs;
    let mut pkg = PackageBuilder::new(out_dir)?;
    let evidence_json = serde_json::to_vec_pretty(evidence)?;
    pkg.add_bytes(EVIDENCE_FILE, &evidence_json)?;
    pkg.add_written("population.csv", |w| {
        render::csv::write_population(evaluation, w).map(drop)
    })?;
    pkg.add_written("unregistered.csv", |w| {
        render::csv::write_unregistered(evaluation, w).map(drop)
    })?;
    pkg.add_written("excluded.csv", |w| {
        render::csv::write_excluded(evaluation, w).map(drop)
    })?;
    if let (Some(summary), Some(facts)) = (&evidence.period, period) {
        pkg.add_written("history.csv", |w| {
            render::period_csv::write_history(summary, w).map(drop)
        })?;
        pkg.add_written("remediation.csv", |w| {
            render::period_csv::write_remediation(facts, w).map(drop)
        })?;
        pkg.add_written("audit-events.csv", |w| {
            render::period_csv::write_audit_events(facts, w).map(drop)
        })?;
        pkg.add_written("population-changes.csv", |w| {
            render::period_csv::write_population_changes(facts, w).map(drop)
        })?;
    }
    let mut raw_files = Vec::new();
    crate::files::list_files(&as_of.raw_dir(), &as_of.raw_dir(), &mut raw_files)
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
    pkg.add_bytes("README.txt", readme(evidence).as_bytes())?;
    // The narrative is rendered from the very evidence.json bytes in the package, and lists every
    // file but itself and the two hash lists written after it.
    let pdf = render::pdf::render_report(&evidence_json, &pkg.files())
        .context("cannot render report.pdf")?;
    pkg.add_bytes(PDF_FILE, &pdf)?;

    let manifest = Manifest {
        package_id: evidence.package_id.clone(),
        tool: format!("{} {}", evidence.tool.name, evidence.tool.version),
        tenant_id: evidence.tenant.id.clone(),
        as_of: evidence.as_of,
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

/// `950 of 1000 in-scope users registered, 95.00 %`, or that no user was in scope.
pub fn figure_in_words(p: &crate::evidence::PointInTime) -> String {
    if p.in_scope == 0 {
        "no user was in scope".to_string()
    } else {
        format!(
            "{} of {} in-scope users registered, {} %",
            p.registered, p.in_scope, p.percent
        )
    }
}

/// README.txt: what each file is, and how to verify the package.
pub fn readme(evidence: &Evidence) -> String {
    let period = evidence
        .period
        .as_ref()
        .map(|p| {
            format!(
                "Audit period:  {} to {} ({}): {}\n",
                crate::time::secs_text(p.from),
                crate::time::secs_text(p.to),
                crate::evidence::words::counted(p.snapshots, "snapshot", "snapshots"),
                p.conclusion
            )
        })
        .unwrap_or_default();
    format!(
        "Evidence package {id}\n\
         Control ID-01 \"User MFA registration\" for tenant {name} ({tenant})\n\
         As of:         {as_of}\n\
         Result:        {result} ({figure}; threshold {threshold} %)\n\
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
        as_of = crate::time::secs_text(evidence.as_of),
        result = evidence.point_in_time.result,
        figure = figure_in_words(&evidence.point_in_time),
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
