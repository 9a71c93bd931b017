//! Renders an evidence.json N times and prints the mean time and the PDF size.
//!
//! `cargo run --release --example render_bench -- tests/fixtures/evidence-demo.json 5 [OUT.pdf]`

use std::time::Instant;

use mfa_evidence::evidence::PackageFile;
use mfa_evidence::render::pdf::render_report;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "tests/fixtures/evidence-demo.json".to_owned());
    let runs: u32 = args.next().map_or(Ok(5), |n| n.parse())?;
    let out = args.next();
    let evidence = std::fs::read(&path)?;
    // The package's file list: `NAME.files.json` beside the evidence, else the demo's.
    let beside = path.trim_end_matches(".json").to_owned() + ".files.json";
    let files_path = if std::path::Path::new(&beside).exists() {
        beside
    } else {
        "tests/fixtures/evidence-demo.files.json".to_owned()
    };
    let files: Vec<PackageFile> = serde_json::from_slice(&std::fs::read(&files_path)?)?;

    let first = Instant::now();
    let pdf = render_report(&evidence, &files)?;
    let first = first.elapsed();
    let start = Instant::now();
    for _ in 0..runs {
        render_report(&evidence, &files)?;
    }
    let mean = start.elapsed().as_secs_f64() * 1000.0 / f64::from(runs.max(1));
    println!(
        "{path}: first render {:.0} ms, mean of {runs} more {mean:.0} ms, pdf {} bytes",
        first.as_secs_f64() * 1000.0,
        pdf.len()
    );
    if let Some(out) = out {
        std::fs::write(&out, &pdf)?;
        println!("wrote {out}");
    }
    Ok(())
}
