//! What goes into a package: the evidence document, the CSVs, the raw pages of the as-of
//! snapshot, README.txt, COLUMNS.txt, the narrative and the OSCAL documents; and the package's
//! name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{EVIDENCE_FILE, Manifest, ManifestSnapshot, PDF_FILE, PackageBuilder};
use crate::attest::Signer;
use crate::evaluate::Evaluation;
use crate::evaluate::period::PeriodFacts;
use crate::evidence::Evidence;
use crate::render;
use crate::source::Source;
use crate::steps::Step;
use crate::store::{PageFile, RawPages};

/// Everything a package is written from.
pub struct PackageInputs<'a> {
    /// The raw pages of the snapshot the package is as of, uncompressed: they go into raw/.
    pub raw: &'a RawPages,
    /// Every snapshot the package rests on, for manifest.json.
    pub snapshots: Vec<ManifestSnapshot>,
    /// The ledger lines and time-stamp tokens behind those snapshots.
    pub history: HistoryFiles,
    /// Signs SHA256SUMS when `[signing]` is configured.
    pub signer: Option<&'a Signer>,
}

/// A package whose first files are staged: evidence.json and the CSVs, the only files that
/// need the evaluation, and so the whole as-of snapshot, which the caller can drop before the
/// rest is written (a large tenant's snapshot and the zip's buffers are never held together).
pub struct StagedLists<'a> {
    out_dir: &'a Path,
    evidence: &'a Evidence,
    pkg: PackageBuilder,
    evidence_json: Vec<u8>,
}

/// The history a package carries so an auditor can check it without the store: the ledger's
/// lines up to the newest snapshot used (byte for byte), their tokens, the TSA's CA file.
#[derive(Debug, Default)]
pub struct HistoryFiles {
    pub ledger: Vec<u8>,
    /// `(sequence, token file)` for each line that has a token.
    pub tokens: Vec<(u64, PathBuf)>,
    pub tsa_ca_pem: Option<Vec<u8>>,
}

/// The package's copy of the ledger.
pub const LEDGER_FILE: &str = "ledger.jsonl";
/// The public key that made SHA256SUMS.sig.
pub const SIGNING_KEY_FILE: &str = "signing-key.pub";
/// The TSA's CA certificates, for `openssl ts -verify -CAfile`.
pub const TSA_CA_FILE: &str = "timestamps/tsa-ca.pem";

/// `timestamps/000123.tsr`: the token of ledger line 123 in the package.
pub fn token_file(sequence: u64) -> String {
    format!("timestamps/{sequence:06}.tsr")
}

/// Stages evidence.json and the CSVs of a package to be written into `out_dir`.
pub fn stage_lists<'a>(
    out_dir: &'a Path,
    evidence: &'a Evidence,
    evaluation: &Evaluation,
    period: Option<&PeriodFacts>,
) -> Result<StagedLists<'a>> {
    let _step = Step::new("write the CSVs");
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
    Ok(StagedLists {
        out_dir,
        evidence,
        pkg,
        evidence_json,
    })
}

/// Writes `<out_dir>/<package id>.zip` and its `.sha256` from the staged lists and the rest,
/// into the folder the lists were staged for; returns the zip's path.
pub fn write_package(staged: StagedLists, inputs: PackageInputs) -> Result<PathBuf> {
    let PackageInputs {
        raw,
        snapshots,
        history,
        signer,
    } = inputs;
    let StagedLists {
        out_dir,
        evidence,
        mut pkg,
        evidence_json,
    } = staged;
    for page in raw.pages() {
        let name = page.name();
        let source = raw.dir().join(name);
        // A page checked against its record when it was decompressed is not hashed again.
        let add = |pkg: &mut PackageBuilder, path: String| match page {
            PageFile::Checked(page) => pkg.add_checked(&path, &source, page.size, &page.sha256),
            PageFile::Unchecked(_) => pkg.add_existing(&path, &source),
        };
        add(&mut pkg, format!("raw/{name}"))?;
        if name.starts_with(Source::AuthMethodsPolicy.stem())
            || name.starts_with(Source::ConditionalAccess.stem())
        {
            add(&mut pkg, format!("config-state/{name}"))?;
        }
    }
    pkg.add_bytes(LEDGER_FILE, &history.ledger)?;
    for (sequence, path) in &history.tokens {
        pkg.add_existing(&token_file(*sequence), path)?;
    }
    if let Some(pem) = &history.tsa_ca_pem {
        pkg.add_bytes(TSA_CA_FILE, pem)?;
    }
    if let Some(signer) = signer {
        pkg.add_bytes(SIGNING_KEY_FILE, signer.public_openssh()?.as_bytes())?;
    }
    pkg.add_bytes("README.txt", readme(evidence).as_bytes())?;
    pkg.add_bytes(COLUMNS_FILE, columns(evidence.period.is_some()).as_bytes())?;
    // The narrative is rendered from the very evidence.json bytes in the package, and lists every
    // file but itself and the files written after it: the OSCAL documents and the two hash lists.
    let pdf = {
        let _step = Step::new("render report.pdf");
        render::pdf::render_report(&evidence_json, &pkg.files())
            .context("cannot render report.pdf")?
    };
    pkg.add_bytes(PDF_FILE, &pdf)?;
    // The OSCAL documents come last of all but the two hash lists, so the results can link every
    // file before them, the report and the plan included, each with its SHA-256.
    let evidence_sha256 = crate::digest::sha256_hex(&evidence_json);
    pkg.add_written(render::oscal::PLAN_FILE, |w| {
        render::oscal::write_assessment_plan(evidence, &evidence_sha256, w)
    })?;
    let files = pkg.files();
    pkg.add_written(render::oscal::RESULTS_FILE, |w| {
        render::oscal::write_assessment_results(evidence, &evidence_sha256, &files, w)
    })?;

    let manifest = Manifest {
        package_id: evidence.package_id.clone(),
        tool: format!("{} {}", evidence.tool.name, evidence.tool.version),
        tenant_id: evidence.tenant.id.clone(),
        as_of: evidence.as_of,
        config_sha256: evidence.control.config_sha256.clone(),
        snapshots,
        files: Vec::new(),
    };
    let _step = Step::new("write the zip");
    pkg.finish(out_dir, manifest, signer)
}

const PERIOD_FILES: &str = "\
history.csv        one row per snapshot of the audit period: figure, result, joiners, leavers, snapshot hash
remediation.csv    users brought into compliance during the period (dates, days open, audit event ids),
                   then users still unregistered at its end
audit-events.csv   the Authentication Methods audit events of the period, each once
population-changes.csv  joiners and leavers of the in-scope population, snapshot by snapshot
";

/// The file that describes every CSV column.
pub const COLUMNS_FILE: &str = "COLUMNS.txt";

const USER_COLUMNS: &str = "\
Booleans are true or false, an empty cell means unknown. Times are UTC, RFC 3339. Lists inside a
cell are separated by semicolons. A cell a spreadsheet would run as a formula starts with an
apostrophe.

population.csv: every user from /users, one row each
  user_id                  the Entra object id of the user
  user_principal_name      the user's sign-in name (UPN)
  display_name             the user's display name
  classification           in-scope, break-glass, disabled, guest or exception: the first rule that matches
  reason                   why the user is classified so, in words
  account_enabled          accountEnabled from /users (empty: not returned, treated as enabled)
  user_type                userType from /users (Member or Guest)
  in_registration_report   whether the registration report has a row for the user
  methods_registered       methodsRegistered from the registration report, as Graph spells them
  registered               for in-scope users: at least one qualifying method (empty when not in scope)
  is_mfa_registered        Microsoft's own isMfaRegistered flag (shown, never decides)
  is_mfa_capable           Microsoft's own isMfaCapable flag (shown, never decides)
  phishing_resistant       a FIDO2, passkey or certificate method is registered
  report_last_updated      when Graph last updated the user's registration report row

unregistered.csv: in-scope users without a qualifying method
  user_id                  the Entra object id of the user
  user_principal_name      the user's sign-in name (UPN)
  display_name             the user's display name
  in_registration_report   whether the registration report has a row for the user
  methods_registered       the methods the user has, none of them qualifying
  reason                   why the user is in scope, in words
  is_mfa_registered        Microsoft's own isMfaRegistered flag
  account_created          createdDateTime from /users

excluded.csv: users left out of the figure
  user_id                  the Entra object id of the user
  user_principal_name      the user's sign-in name (UPN)
  display_name             the user's display name
  classification           break-glass, disabled, guest or exception
  reason                   why the user is excluded, in words
  methods_registered       methodsRegistered from the registration report
  phishing_resistant       a FIDO2, passkey or certificate method is registered
  approved_by              for an exception: who approved it
  expires                  for an exception: its expiry date (honoured through the end of that day, UTC)
";

const PERIOD_COLUMNS: &str = "
history.csv: one row per snapshot of the audit period
  sequence                 the snapshot's sequence number in the store's ledger
  collected_at             when the snapshot was collected
  in_scope                 in-scope users in that snapshot
  registered               of them, registered
  percent                  registered / in_scope, floored to two decimals
  result                   pass, fail or insufficient-evidence for that snapshot
  joiners                  users in scope now and not in the previous snapshot
  leavers                  users in scope in the previous snapshot and not now
  snapshot_sha256          the snapshot's SHA-256 as the ledger records it

remediation.csv: users brought into compliance, then users still unregistered at the end
  status                   remediated or still-unregistered
  user_id                  the Entra object id of the user
  user_principal_name      the user's sign-in name (UPN)
  first_seen_unregistered  the first snapshot of the stretch in which the user was unregistered
  first_seen_registered    the first later snapshot in which the user was registered (empty: still open)
  days_open                days from first_seen_unregistered to first_seen_registered (or the period's end)
  audit_event_ids          ids of the matching \"registered security info\" audit events

audit-events.csv: the Authentication Methods audit events of the period, each once
  id                           the audit event's id
  activity_date_time           when the activity happened
  activity                     the activity's name as Graph gives it
  result                       the activity's result (success, failure, ...)
  target_user_id               the object id of the user the activity changed
  target_user_principal_name   the UPN of that user
  initiated_by                 who did it (a user's UPN or an app's name)
  first_collected_in_snapshot  the sequence of the first snapshot that held the event

population-changes.csv: joiners and leavers of the in-scope population
  sequence                 the snapshot in which the change was seen
  collected_at             when that snapshot was collected
  change                   joiner or leaver
  user_id                  the Entra object id of the user
  user_principal_name      the user's sign-in name (UPN)
";

/// COLUMNS.txt: every column of every CSV in the package, with its meaning.
pub fn columns(with_period: bool) -> String {
    let mut text = format!("Columns of the CSV files\n------------------------\n{USER_COLUMNS}");
    if with_period {
        text.push_str(PERIOD_COLUMNS);
    }
    text
}

pub use crate::evidence::words::figure_in_words;

/// README.txt's lines for the signature and the time-stamp tokens, when the package has them.
fn history_files(evidence: &Evidence) -> String {
    let Some(proof) = &evidence.history_proof else {
        return String::new();
    };
    let mut out = String::new();
    if proof.timestamping.configured {
        out.push_str(
            "timestamps/        RFC 3161 time-stamp tokens (DER), one per ledger line that has one (000123.tsr\n\
                                for line 123), and tsa-ca.pem, the time-stamp authority's CA certificates\n",
        );
    }
    if proof.signing.signed {
        out.push_str(
            "signing-key.pub    the public key that signed SHA256SUMS and the ledger lines (OpenSSH format)\n\
             SHA256SUMS.sig     the SSH signature over SHA256SUMS (namespace mfa-evidence)\n",
        );
    }
    out
}

/// README.txt's steps for checking the signature and the tokens with OpenSSH and OpenSSL alone.
fn history_steps(evidence: &Evidence) -> String {
    let Some(proof) = &evidence.history_proof else {
        return String::new();
    };
    let mut out = String::new();
    if let Some(fp) = &proof.signing.key_fingerprint {
        out.push_str(&format!(
            "4. The signature, with OpenSSH 8.1 or later. The signing key's fingerprint is\n\
                {fp}; compare it with the one the operator gave you:\n\
                ssh-keygen -lf signing-key.pub\n\
                echo \"evidence $(cut -d' ' -f1,2 signing-key.pub)\" > allowed_signers\n\
                ssh-keygen -Y verify -f allowed_signers -I evidence -n mfa-evidence -s SHA256SUMS.sig < SHA256SUMS\n\
                or: mfa-evidence verify --allowed-signers allowed_signers {id}.zip\n",
            id = evidence.package_id
        ));
    } else {
        out.push_str("4. The package is unsigned: no signing key was configured.\n");
    }
    if proof.timestamping.configured {
        let line = format!("{:06}", proof.ledger_head.sequence);
        out.push_str(&format!(
            "5. The time-stamps (OpenSSL). A token covers the SHA-256 of its ledger line (the line's bytes\n\
                without the newline); for line {seq}:\n\
                sed -n {seq}p ledger.jsonl | tr -d '\\n' | sha256sum\n\
                openssl ts -verify -digest <that sha256> -in timestamps/{line}.tsr -CAfile timestamps/tsa-ca.pem\n\
                openssl ts -reply -in timestamps/{line}.tsr -text    (prints the token's time)\n\
                A snapshot is attested when its token is no later than {hours} hours after its collection\n\
                time, else asserted; a history is mostly asserted when more than half of its snapshots are.\n",
            seq = proof.ledger_head.sequence,
            hours = proof.timestamping.max_attestation_delay_hours.unwrap_or_default(),
        ));
    } else {
        out.push_str("5. Time-stamping is not configured: the collection times rest on the operator's word.\n");
    }
    out.push_str(&format!(
        "6. That the history was not cut or rewritten since: on the operator's store,\n\
            mfa-evidence store verify --against {}.zip\n",
        evidence.package_id
    ));
    out
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
         {raw_line}\
         ledger.jsonl       the evidence store's ledger up to the newest snapshot used, byte for byte: one line\n\
                            per snapshot, each chained to the one before by its SHA-256\n\
         {history_files}\
         manifest.json      every file with its size and SHA-256, the tool version, the config and snapshot hashes\n\
         SHA256SUMS         the same hashes, for sha256sum -c\n\
         COLUMNS.txt        every column of every CSV, and what it means\n\
         oscal/assessment-results.json  the same result as NIST OSCAL {oscal} assessment results: the findings,\n\
                            the observations behind them, and every file above with its SHA-256\n\
         oscal/assessment-plan.json     the minimal OSCAL assessment plan the results import\n\
         \n\
         How to verify\n\
         -------------\n\
         1. The zip itself, against the .sha256 beside it:\n\
         Linux:    sha256sum -c {id}.zip.sha256\n\
         macOS:    shasum -a 256 -c {id}.zip.sha256\n\
         Windows:  (Get-FileHash {id}.zip -Algorithm SHA256).Hash\n\
         (PowerShell: compare the hash it prints with the first word of the .sha256 file)\n\
         2. Every file inside:     unzip {id}.zip && cd {id} && sha256sum -c SHA256SUMS\n\
         (macOS: shasum -a 256 -c SHA256SUMS; Windows: Get-FileHash -Algorithm SHA256 on each\n\
         file, compared with its line in SHA256SUMS)\n\
         3. Everything, and the figure re-computed from population.csv:\n\
                                   mfa-evidence verify {id}.zip\n\
         To re-perform the figure by hand: in population.csv keep the rows whose classification is\n\
         in-scope; the figure is the share of them whose registered column is true, floored to two\n\
         decimals; the control passes when registered x 10000 >= {bp} x in-scope.\n\
         {history_steps}",
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
        history_files = history_files(evidence),
        history_steps = history_steps(evidence),
        oscal = render::oscal::OSCAL_VERSION,
        raw_line = if evidence.provenance.source_kind.is_file_export() {
            "raw/               the export files of the as-of snapshot (admin center downloads, PowerShell output), byte for byte, and any Graph pages beside them\n"
        } else {
            "raw/               the Graph responses of the as-of snapshot, byte for byte, with provenance.json\n"
        },
    )
}
