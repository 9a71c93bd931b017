//! The floor the import and report of one snapshot are measured against: read every raw page of
//! an export folder once, SHA-256 it and parse it from the slice into structs holding the fields
//! the evaluation needs, on one thread. Nothing is written.
//!
//! With `--bound`, the per-byte work that no import and report of this design can skip instead,
//! on every core, pages in memory, nothing written: the import's read, SHA-256, parse and zstd
//! compression of each page at the store's level, then the report's decompression, SHA-256,
//! parse and deflate of each page at the package's level. What it leaves out (the evaluation,
//! the record, the CSVs, the PDF, the files and their fsyncs) only adds to it.
//!
//! ```text
//! cargo run --release --example floor -- EXPORT_DIR
//! cargo run --release --example floor -- --bound EXPORT_DIR
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use mfa_evidence::cores;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

#[derive(Deserialize)]
struct Page<T> {
    #[allow(dead_code)]
    value: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct User {
    id: String,
    user_principal_name: Option<String>,
    display_name: Option<String>,
    account_enabled: Option<bool>,
    user_type: Option<String>,
    created_date_time: Option<String>,
    on_premises_sync_enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Registration {
    id: String,
    user_principal_name: Option<String>,
    user_display_name: Option<String>,
    user_type: Option<String>,
    is_admin: Option<bool>,
    is_mfa_registered: Option<bool>,
    is_mfa_capable: Option<bool>,
    is_passwordless_capable: Option<bool>,
    last_updated_date_time: Option<String>,
    methods_registered: Vec<String>,
}

/// SHA-256s and parses one page as the floor does; the number of items read.
fn hash_and_parse(name: &str, bytes: &[u8]) -> anyhow::Result<usize> {
    std::hint::black_box(Sha256::digest(bytes));
    Ok(if name.starts_with("users") {
        serde_json::from_slice::<Page<User>>(bytes)?.value.len()
    } else if name.starts_with("userRegistrationDetails") {
        serde_json::from_slice::<Page<Registration>>(bytes)?
            .value
            .len()
    } else {
        std::hint::black_box(serde_json::from_slice::<serde_json::Value>(bytes)?);
        1
    })
}

/// The export's pages, sorted by name.
fn pages(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut pages: Vec<(String, PathBuf)> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    pages.sort();
    Ok(pages)
}

fn floor(dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let (mut bytes_read, mut items) = (0u64, 0usize);
    for (name, path) in pages(dir)? {
        let bytes = std::fs::read(path)?;
        bytes_read += bytes.len() as u64;
        items += hash_and_parse(&name, &bytes)?;
    }
    println!(
        "floor: {:.2} s for {} MB, {items} items",
        started.elapsed().as_secs_f64(),
        bytes_read / 1_000_000
    );
    Ok(())
}

fn bound(dir: &Path, levels: Levels) -> anyhow::Result<()> {
    let pages = pages(dir)?;
    let started = Instant::now();
    let stored = cores::on_cores(pages.len(), |i| -> anyhow::Result<Vec<u8>> {
        let (name, path) = &pages[i];
        let bytes = std::fs::read(path)?;
        hash_and_parse(name, &bytes)?;
        // Kept at its size: the compressor's buffer is as large as the page.
        let mut packed = zstd::bulk::compress(&bytes, levels.zstd)?;
        packed.shrink_to_fit();
        Ok(packed)
    })
    .into_iter()
    .collect::<anyhow::Result<Vec<_>>>()?;
    let import = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(levels.deflate));
    let zipped = cores::on_cores(pages.len(), |i| -> anyhow::Result<usize> {
        let mut bytes = Vec::new();
        zstd::stream::copy_decode(&stored[i][..], &mut bytes)?;
        hash_and_parse(&pages[i].0, &bytes)?;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file(pages[i].0.as_str(), options)?;
        zip.write_all(&bytes)?;
        Ok(zip.finish()?.into_inner().len())
    })
    .into_iter()
    .sum::<anyhow::Result<usize>>()?;
    let report = started.elapsed().as_secs_f64();
    println!(
        "bound on {} cores, zstd {} and deflate {}: import {import:.2} s, report {report:.2} s, together {:.2} s (pages stored in {} MB, zipped in {} MB)",
        cores::available(),
        levels.zstd,
        levels.deflate,
        import + report,
        stored.iter().map(Vec::len).sum::<usize>() / 1_000_000,
        zipped / 1_000_000
    );
    Ok(())
}

/// The compression levels of a bound: the store's and the package's, unless others are asked for
/// (to see what cheaper levels would leave).
#[derive(Clone, Copy)]
struct Levels {
    zstd: i32,
    deflate: i64,
}

const USAGE: &str =
    "usage: floor EXPORT_DIR | floor --bound [--zstd LEVEL] [--deflate LEVEL] EXPORT_DIR";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().is_some_and(|a| a != "--bound") {
        let (Some(dir), None) = (args.next(), args.next()) else {
            anyhow::bail!(USAGE);
        };
        return floor(Path::new(&dir));
    }
    args.next();
    let mut levels = Levels {
        zstd: mfa_evidence::store::ZSTD_LEVEL,
        deflate: mfa_evidence::package::DEFLATE_LEVEL,
    };
    let mut dir = None;
    while let Some(arg) = args.next() {
        let mut level = || -> anyhow::Result<i64> {
            let value = args.next().context(USAGE)?;
            value
                .parse()
                .with_context(|| format!("{arg} {value}: not a level"))
        };
        match arg.as_str() {
            "--zstd" => levels.zstd = level()? as i32,
            "--deflate" => levels.deflate = level()?,
            _ if dir.is_none() => dir = Some(arg),
            _ => anyhow::bail!(USAGE),
        }
    }
    bound(Path::new(&dir.context(USAGE)?), levels)
}
