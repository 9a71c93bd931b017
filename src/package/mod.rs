//! The evidence package: a deterministic zip with a manifest, written atomically.
//!
//! `contents` says what goes into a package (the files, README.txt, the package's name); the
//! [`PackageBuilder`] here does the writing: files are staged (or referenced in place, for raw
//! pages) and hashed as they are added; the zip is then written aside with sorted entries and
//! fixed times and renamed into place, with `<zip>.sha256` beside it. A failed run leaves no zip
//! behind.

mod contents;

pub use self::contents::{
    HistoryFiles, LEDGER_FILE, PackageInputs, SIGNING_KEY_FILE, StagedLists, TSA_CA_FILE,
    figure_in_words, readme, stage_lists, token_file, write_package,
};

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use zip::write::SimpleFileOptions;

use crate::digest::{self, HashingWriter, Sha256Sums, hash_file};
use crate::evidence::PackageFile;
use crate::files::{create_private_file, sync_dir};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const SUMS_FILE: &str = digest::SUMS_FILE;
pub const PDF_FILE: &str = "report.pdf";
pub const EVIDENCE_FILE: &str = "evidence.json";
/// The SSH signature over SHA256SUMS; written after it, so listed in neither hash list.
pub const SUMS_SIG_FILE: &str = "SHA256SUMS.sig";

/// manifest.json: every other file, and what the package was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub package_id: String,
    pub tool: String,
    pub tenant_id: String,
    #[serde(with = "crate::time::secs")]
    pub as_of: DateTime<Utc>,
    pub config_sha256: String,
    pub snapshots: Vec<ManifestSnapshot>,
    pub files: Vec<PackageFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestSnapshot {
    pub sequence: u64,
    pub folder: String,
    #[serde(with = "crate::time::secs")]
    pub collected_at: DateTime<Utc>,
    pub sha256: String,
}

enum Content {
    Staged(PathBuf),
    InPlace(PathBuf),
}

struct Entry {
    file: PackageFile,
    content: Content,
}

/// The files of a package being assembled.
pub struct PackageBuilder {
    staging: tempfile::TempDir,
    entries: Vec<Entry>,
}

impl PackageBuilder {
    /// Stages inside `out_dir`, so nothing is written elsewhere and a crash leaves only a
    /// dot-folder that the next run does not read.
    pub fn new(out_dir: &Path) -> Result<PackageBuilder> {
        crate::files::create_private_dir_all(out_dir).with_context(|| {
            format!(
                "cannot create the output folder {}: check --out",
                out_dir.display()
            )
        })?;
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(out_dir)
            .with_context(|| {
                format!(
                    "cannot write into {}: check --out and its permissions",
                    out_dir.display()
                )
            })?;
        Ok(PackageBuilder {
            staging,
            entries: Vec::new(),
        })
    }

    /// Adds a file produced by a writer (CSV renderers stream into it).
    pub fn add_written<F>(&mut self, path: &str, write: F) -> Result<()>
    where
        F: FnOnce(&mut dyn Write) -> Result<()>,
    {
        let staged = self
            .staging
            .path()
            .join(format!("{:04}", self.entries.len()));
        let file = create_private_file(&staged).with_context(|| format!("cannot stage {path}"))?;
        let mut out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        write(&mut out).with_context(|| format!("cannot write {path}"))?;
        let size = out.written;
        let (buf, sha256) = out.finish();
        buf.into_inner().map_err(|e| e.into_error())?;
        self.entries.push(Entry {
            file: PackageFile {
                path: path.to_string(),
                size,
                sha256,
            },
            content: Content::Staged(staged),
        });
        Ok(())
    }

    pub fn add_bytes(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.add_written(path, |w| Ok(w.write_all(bytes)?))
    }

    /// Adds a file that stays where it is (raw pages from the store); hashed now, read again when
    /// zipped.
    pub fn add_existing(&mut self, path: &str, source: &Path) -> Result<()> {
        let sha256 =
            hash_file(source).with_context(|| format!("cannot read {}", source.display()))?;
        let size = std::fs::metadata(source)?.len();
        self.add_checked(path, source, size, &sha256)
    }

    /// Adds a file that stays where it is and whose size and SHA-256 were checked already (a
    /// raw page decompressed from the store against its record).
    pub fn add_checked(
        &mut self,
        path: &str,
        source: &Path,
        size: u64,
        sha256: &str,
    ) -> Result<()> {
        self.entries.push(Entry {
            file: PackageFile {
                path: path.to_string(),
                size,
                sha256: sha256.to_string(),
            },
            content: Content::InPlace(source.to_path_buf()),
        });
        Ok(())
    }

    /// Every file added so far, sorted by path.
    pub fn files(&self) -> Vec<PackageFile> {
        let mut files: Vec<PackageFile> = self.entries.iter().map(|e| e.file.clone()).collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files
    }

    /// Adds manifest.json and SHA256SUMS (and SHA256SUMS.sig over it, with a signer), then
    /// writes `<out_dir>/<package_id>.zip` and its `.sha256`, each written aside and renamed
    /// into place. Returns the zip's path.
    pub fn finish(
        mut self,
        out_dir: &Path,
        mut manifest: Manifest,
        signer: Option<&crate::attest::Signer>,
    ) -> Result<PathBuf> {
        manifest.files = self.files();
        let manifest_json = serde_json::to_vec_pretty(&manifest)?;
        self.add_bytes(MANIFEST_FILE, &manifest_json)?;
        let sums = Sha256Sums::new(
            self.files()
                .into_iter()
                .map(|f| (f.path, f.sha256))
                .collect(),
        );
        self.add_bytes(SUMS_FILE, sums.to_text().as_bytes())?;
        if let Some(signer) = signer {
            let sig = signer
                .sign_armored(
                    crate::attest::signing::PACKAGE_NAMESPACE,
                    sums.to_text().as_bytes(),
                )
                .context("cannot sign SHA256SUMS")?;
            self.add_bytes(SUMS_SIG_FILE, sig.as_bytes())?;
        }

        let name = format!("{}.zip", manifest.package_id);
        let zip_path = out_dir.join(&name);
        let partial = self.staging.path().join(&name);
        self.write_zip(&partial, &manifest.package_id)?;
        let zip_sha256 = hash_file(&partial)?;
        let sidecar_path = out_dir.join(format!("{name}.sha256"));
        let sidecar_text = format!("{zip_sha256}  {name}\n");
        // A package handed over is never replaced by another one of the same name: the same
        // bytes again are fine, different bytes are refused.
        if let Ok(existing) = hash_file(&zip_path) {
            let sidecar_same =
                std::fs::read_to_string(&sidecar_path).map_or(true, |text| text == sidecar_text);
            if existing == zip_sha256 && sidecar_same {
                return Ok(zip_path);
            }
            anyhow::bail!(
                "{} already exists with different contents (SHA-256 {existing}, this run's {zip_sha256}): \
                 a package is never replaced; move the existing one away (archive it) or choose another --out",
                zip_path.display()
            );
        }
        let sidecar = self.staging.path().join(format!("{name}.sha256"));
        crate::files::write_private(&sidecar, sidecar_text.as_bytes())?;
        File::open(&sidecar)?.sync_all()?;
        std::fs::rename(&partial, &zip_path)
            .with_context(|| format!("cannot move the package into {}", zip_path.display()))?;
        std::fs::rename(&sidecar, &sidecar_path)?;
        sync_dir(out_dir)?;
        Ok(zip_path)
    }

    /// Writes the zip: entries sorted by path, each deflated on its own (a few at a time, on
    /// every core) into a one-entry archive in memory, then copied as it is into the package.
    fn write_zip(&mut self, path: &Path, top: &str) -> Result<()> {
        let file = create_private_file(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut zip = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
        self.entries.sort_by(|a, b| a.file.path.cmp(&b.file.path));
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        for batch in self.entries.chunks(2 * workers) {
            let deflated = crate::cores::on_cores(batch.len(), |i| deflate_entry(&batch[i], top));
            for one in deflated {
                zip.merge_archive(zip::ZipArchive::new(std::io::Cursor::new(one?))?)?;
            }
        }
        let mut out = zip.finish()?;
        out.flush()?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(())
    }
}

/// Deflate level of every entry: close to the default's size, in about half its time.
pub const DEFLATE_LEVEL: i64 = 3;

/// One entry as a zip of its own, in memory.
fn deflate_entry(entry: &Entry, top: &str) -> Result<Vec<u8>> {
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(DEFLATE_LEVEL))
        .last_modified_time(zip::DateTime::from_date_and_time(1980, 1, 1, 0, 0, 0)?)
        .unix_permissions(0o644)
        // Entries over 4 GiB need the zip64 extension, decided before writing them.
        .large_file(entry.file.size >= u32::MAX as u64);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(format!("{top}/{}", entry.file.path), options)?;
    let source = match &entry.content {
        Content::Staged(p) | Content::InPlace(p) => p,
    };
    let mut input =
        File::open(source).with_context(|| format!("cannot read {}", source.display()))?;
    let copied = std::io::copy(&mut input, &mut zip)?;
    anyhow::ensure!(
        copied == entry.file.size,
        "{} changed while the package was written",
        source.display()
    );
    Ok(zip.finish()?.into_inner())
}

/// Reads a whole zip entry into memory (small files: evidence.json, manifest, sums).
pub fn read_entry<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
) -> Result<Vec<u8>> {
    let mut entry = zip
        .by_name(name)
        .with_context(|| format!("the package has no {name}"))?;
    let mut buf = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut buf)?;
    Ok(buf)
}
