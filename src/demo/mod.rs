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
use crate::config::Config;
use crate::evidence::PackageFile;
use crate::package::{Manifest, read_entry};
use crate::report::{self, ReportOutcome, ReportRequest};
use crate::store::Store;

pub mod synth;

pub fn run(samples: &Path, out_dir: &Path) -> Result<ReportOutcome> {
    let config_path = samples.join("mfa-evidence.toml");
    let mut config = Config::from_file(&config_path).with_context(|| {
        format!("the sample tenant is missing or damaged in {}: run from the source tree or pass --samples", samples.display())
    })?;
    let work =
        tempfile::tempdir().context("cannot create a temporary folder for the demo store")?;
    let days = synth::write_demo_history(samples, &work.path().join("history"))?;
    config.store_path = work.path().join("store");
    let store = Store::new(&config.store_path);
    for day in &days {
        let imported = import_dir(&day.dir, Some(day.collected_at))?;
        store.add(&imported)?;
        // The day's pages are in the store now; keep the temporary folder small.
        std::fs::remove_dir_all(&day.dir).ok();
    }
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
/// manifest but `report.pdf`): what the PDF is rendered from.
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
        .filter(|f| f.path != "report.pdf")
        .collect();
    Ok((evidence, files))
}

/// The demo's report input as `tests/fixtures/` keeps it for the PDF tests and the render
/// benchmark: `evidence-demo.json` (the packaged bytes) and `evidence-demo.files.json` (the
/// file list, pretty JSON and a newline). Runs the demo into a temporary folder.
pub fn fixtures(samples: &Path) -> Result<[(&'static str, Vec<u8>); 2]> {
    let out = tempfile::tempdir().context("cannot create a temporary folder for the demo")?;
    let outcome = run(samples, out.path())?;
    let (evidence, files) = report_input(&outcome.zip)?;
    let mut files = serde_json::to_vec_pretty(&files)?;
    files.push(b'\n');
    Ok([
        ("evidence-demo.json", evidence),
        ("evidence-demo.files.json", files),
    ])
}
