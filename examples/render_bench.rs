//! Renders a report N times and prints the first and mean render time and the PDF size.
//!
//! The input is an evidence package (`ID-01_....zip`: its evidence.json and the file list of its
//! manifest), or a bare evidence.json with `NAME.files.json` beside it (else the demo's list).
//!
//! `cargo run --release --example render_bench -- evidence/ID-01_Contoso-Ltd_20261031T060000Z.zip 5`
//! `cargo run --release --example render_bench -- tests/fixtures/evidence-demo.json 5 [OUT.pdf]`

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use mfa_evidence::demo::report_input;
use mfa_evidence::evidence::PackageFile;
use mfa_evidence::render::pdf::render_report;

fn from_evidence(path: &str) -> anyhow::Result<(Vec<u8>, Vec<PackageFile>)> {
    let evidence = std::fs::read(path).with_context(|| format!("cannot read {path}"))?;
    let beside = path.trim_end_matches(".json").to_owned() + ".files.json";
    let files_path = if Path::new(&beside).exists() {
        beside
    } else {
        "tests/fixtures/evidence-demo.files.json".to_owned()
    };
    let files = serde_json::from_slice(&std::fs::read(&files_path)?)?;
    Ok((evidence, files))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "tests/fixtures/evidence-demo.json".to_owned());
    let runs: u32 = args.next().map_or(Ok(5), |n| n.parse())?;
    let out = args.next();
    let (evidence, files) = if path.ends_with(".zip") {
        report_input(Path::new(&path))?
    } else {
        from_evidence(&path)?
    };

    let first = Instant::now();
    let pdf = render_report(&evidence, &files)?;
    let first = first.elapsed();
    let start = Instant::now();
    for _ in 0..runs {
        render_report(&evidence, &files)?;
    }
    let mean = start.elapsed().as_secs_f64() * 1000.0 / f64::from(runs.max(1));
    println!(
        "{path}: evidence.json {} bytes, first render {:.0} ms, mean of {runs} more {mean:.0} ms, pdf {} bytes",
        evidence.len(),
        first.as_secs_f64() * 1000.0,
        pdf.len()
    );
    if let Some(out) = out {
        std::fs::write(&out, &pdf)?;
        println!("wrote {out}");
    }
    Ok(())
}
