//! `demo`: the whole job on the built-in sample tenant. Six months of daily collections are
//! generated from samples/ into a temporary store, imported one by one as a scheduled run would
//! store them, and reported on as an auditor would ask: the period and the point in time.
//!
//! [`synth`] below it generates the data: the sample tenant, the demo history, and synthetic
//! tenants of any size for tests and benchmarks. Both sit at the edge of the crate: they use the
//! pipeline's public API (import, store, report) like any caller, and no pipeline module
//! (collect, snapshot, store, evaluate, evidence, render, package, verify, report) imports them.
//! A module rather than a workspace crate, because `demo` is a subcommand of the one binary: a
//! separate crate would make the binary a third package, and the integration tests would lose
//! `CARGO_BIN_EXE_mfa-evidence`, which Cargo only sets for binaries of the package under test.

use std::path::Path;

use anyhow::{Context, Result};

use crate::collect::import::import_dir;
use crate::config::{Config, StoreLocation};
use crate::evidence::PackageFile;
use crate::package::{Manifest, PDF_FILE, read_entry};
use crate::report::{self, ReportOutcome, ReportRequest};
use crate::steps::Step;
use crate::store::Store;

pub mod synth;

/// The sample tenant, compiled into the binary (`build.rs` lists `samples/`): file name and
/// bytes, sorted by name. `demo` runs from any copy of the binary, with no source tree.
pub const SAMPLE_FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/samples.rs"));

/// Writes the built-in sample tenant into `dir` (created when missing).
pub fn write_builtin_samples(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, bytes) in SAMPLE_FILES {
        std::fs::write(dir.join(name), bytes)
            .with_context(|| format!("cannot write {}", dir.join(name).display()))?;
    }
    Ok(())
}

/// The demo on the sample tenant in `samples`, or on the built-in one when `None`.
pub fn run(samples: Option<&Path>, out_dir: &Path) -> Result<ReportOutcome> {
    let work =
        tempfile::tempdir().context("cannot create a temporary folder for the demo store")?;
    let samples = match samples {
        Some(dir) => dir.to_path_buf(),
        None => {
            let dir = work.path().join("samples");
            write_builtin_samples(&dir)?;
            dir
        }
    };
    let samples = samples.as_path();
    let config_path = samples.join("mfa-evidence.toml");
    if !config_path.is_file() {
        anyhow::bail!(
            "--samples {}: no sample tenant there (no mfa-evidence.toml): give a folder written by \
             `gen_tenant samples`, or leave --samples out to use the built-in sample tenant",
            samples.display()
        );
    }
    let step = Step::new("load the sample tenant");
    let mut config = Config::from_file(&config_path).with_context(|| {
        format!(
            "the sample tenant in {} is damaged: check --samples, or leave it out to use the built-in sample tenant",
            samples.display()
        )
    })?;
    drop(step);
    let step = Step::new("generate six months of history");
    let days = synth::write_demo_history(samples, &work.path().join("history"))?;
    drop(step);
    config.store = StoreLocation::Path(work.path().join("store"));
    let store = Store::new(work.path().join("store"));
    let import_step = Step::new(format!("import {} daily snapshots", days.len()));
    let bar = crate::steps::progress(days.len() as u64, "importing the history");
    for day in &days {
        bar.inc(1);
        let imported = import_dir(&day.dir, Some(day.collected_at))?;
        store.add(&imported)?;
        // The day's pages are in the store now; keep the temporary folder small.
        std::fs::remove_dir_all(&day.dir).ok();
    }
    bar.finish_and_clear();
    drop(import_step);
    let request = ReportRequest {
        out_dir: out_dir.to_path_buf(),
        period: days
            .first()
            .zip(days.last())
            .map(|(a, b)| (a.collected_at, b.collected_at)),
        ..ReportRequest::default()
    };
    report::run(&config, &request)
}

/// A package's `evidence.json` as packaged, and the files its report lists (every file of the
/// manifest but `report.pdf` and the OSCAL documents): what the PDF is rendered from.
pub fn report_input(zip: &Path) -> Result<(Vec<u8>, Vec<PackageFile>)> {
    let file =
        std::fs::File::open(zip).with_context(|| format!("cannot open {}", zip.display()))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not a zip", zip.display()))?;
    let top = zip
        .file_stem()
        .context("the package has no file name")?
        .to_string_lossy()
        .into_owned();
    let evidence = read_entry(&mut archive, &format!("{top}/evidence.json"))?;
    let manifest: Manifest =
        serde_json::from_slice(&read_entry(&mut archive, &format!("{top}/manifest.json"))?)
            .with_context(|| format!("the manifest of {} is not one", zip.display()))?;
    let files = manifest
        .files
        .into_iter()
        // The renderer sees the files written before the PDF: not the PDF itself, nor the OSCAL
        // documents, which come after it.
        .filter(|f| {
            ![
                PDF_FILE,
                crate::render::oscal::PLAN_FILE,
                crate::render::oscal::RESULTS_FILE,
            ]
            .contains(&f.path.as_str())
        })
        .collect();
    Ok((evidence, files))
}

/// The demo's report input as `tests/fixtures/` keeps it for the PDF tests and the render
/// benchmark: `evidence-demo.json` (the packaged bytes) and `evidence-demo.files.json` (the
/// file list, pretty JSON and a newline). Runs the demo into a temporary folder.
pub fn fixtures(samples: &Path) -> Result<[(&'static str, Vec<u8>); 2]> {
    let out = tempfile::tempdir().context("cannot create a temporary folder for the demo")?;
    let outcome = run(Some(samples), out.path())?;
    let (evidence, files) = report_input(&outcome.zip)?;
    let mut files = serde_json::to_vec_pretty(&files)?;
    files.push(b'\n');
    Ok([
        ("evidence-demo.json", evidence),
        ("evidence-demo.files.json", files),
    ])
}
