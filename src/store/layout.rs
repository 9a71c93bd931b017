//! What a snapshot folder holds, in either of its two formats, and its raw pages.
//!
//! ```text
//! compact (written now)                    plain (written by the first versions; read as is)
//!   raw/<page>.zst   zstd of each page       raw/<page>    each page, byte for byte
//!   record.json      the record's head       snapshot.json the snapshot in our own types
//!   record.bin.zst   the record's body
//!   SHA256SUMS       every other file        SHA256SUMS    every other file
//! ```
//! In both, the SHA-256 of `SHA256SUMS` is the snapshot's hash in the ledger, and a default
//! `store verify` hashes the files as stored. The uncompressed pages' hashes are in the record's
//! head: they are checked whenever a page is decompressed (a package, `--deep`).

use std::cell::RefCell;
use std::fs::{self, File};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::record::{self, RawPage, ZSTD_LEVEL};
use crate::cores::on_cores;
use crate::digest::{HashingWriter, sha256_hex};
use crate::files::{create_private_file, list_files};

pub(super) const SNAPSHOT_FILE: &str = "snapshot.json";
pub(super) const RAW_DIR: &str = "raw";
const ZST: &str = ".zst";

/// The format of a snapshot folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `raw/*.zst`, `record.json`, `record.bin.zst`.
    Compact,
    /// `raw/*` uncompressed and `snapshot.json`.
    Plain,
}

impl Format {
    pub fn of(dir: &Path) -> Format {
        if dir.join(record::HEAD_FILE).is_file() {
            Format::Compact
        } else {
            Format::Plain
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Compact => "compact",
            Format::Plain => "plain",
        }
    }
}

thread_local! {
    /// A compression context per worker, kept from page to page: a new one for each page
    /// allocates and clears its tables again, a tenth of the import's system time at a million
    /// users. A page is a frame of its own either way, so the bytes are the same.
    static PAGE_COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
}

fn compress_page(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    PAGE_COMPRESSOR.with_borrow_mut(|kept| {
        let compressor = match kept {
            Some(c) => c,
            None => kept.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
        };
        compressor.compress(bytes)
    })
}

/// Compresses each source file into `raw_dir/<name>.zst`, fsynced, on every core. Returns each
/// page (uncompressed size and hash) and the stored file's `SHA256SUMS` line, in `files` order.
pub(super) fn write_raw(raw_dir: &Path, files: &[PathBuf]) -> Result<Vec<(RawPage, String)>> {
    on_cores(files.len(), |i| {
        let source = &files[i];
        let name = source
            .file_name()
            .context("an import file has no name")?
            .to_string_lossy()
            .into_owned();
        let bytes =
            fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
        let packed = compress_page(&bytes)
            .with_context(|| format!("cannot compress {}", source.display()))?;
        let mut out = create_private_file(&raw_dir.join(format!("{name}{ZST}")))?;
        out.write_all(&packed)?;
        out.sync_all()?;
        Ok((
            RawPage {
                name,
                size: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            },
            sha256_hex(&packed),
        ))
    })
    .into_iter()
    .collect()
}

/// A snapshot's raw pages, uncompressed, in a folder of the import layout.
pub struct RawPages {
    dir: PathBuf,
    /// The decompressed copy of a compact folder's pages, removed on drop.
    _scratch: Option<tempfile::TempDir>,
    /// Sorted by name.
    pages: Vec<PageFile>,
}

/// One page file of [`RawPages`].
pub enum PageFile {
    /// A compact folder's page, checked against the size and SHA-256 its record lists when it
    /// was decompressed.
    Checked(RawPage),
    /// A plain folder's page, hashed only where it is read.
    Unchecked(String),
}

impl PageFile {
    pub fn name(&self) -> &str {
        match self {
            PageFile::Checked(page) => &page.name,
            PageFile::Unchecked(name) => name,
        }
    }
}

impl RawPages {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pages, sorted by name.
    pub fn pages(&self) -> &[PageFile] {
        &self.pages
    }

    /// The pages' names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pages.iter().map(PageFile::name)
    }
}

/// The raw pages of a snapshot folder as Graph returned them: a plain folder's `raw/` as it is,
/// a compact folder's decompressed into a temporary folder, each checked against the hash its
/// record lists.
pub(super) fn raw_pages(dir: &Path) -> Result<RawPages> {
    let raw = dir.join(RAW_DIR);
    match Format::of(dir) {
        Format::Plain => {
            let mut names = Vec::new();
            list_files(&raw, &raw, &mut names)
                .with_context(|| format!("cannot list {}", raw.display()))?;
            names.sort();
            Ok(RawPages {
                dir: raw,
                _scratch: None,
                pages: names.into_iter().map(PageFile::Unchecked).collect(),
            })
        }
        Format::Compact => {
            let head = record::read_head(dir)?;
            let scratch = tempfile::Builder::new()
                .prefix("mfa-evidence-raw-")
                .tempdir()
                .context("cannot make a temporary folder for the raw pages: check TMPDIR")?;
            let pages = &head.raw;
            on_cores(pages.len(), |i| {
                unpack(&raw, &pages[i], &scratch.path().join(&pages[i].name))
            })
            .into_iter()
            .collect::<Result<Vec<()>>>()?;
            let mut checked = head.raw;
            checked.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(RawPages {
                dir: scratch.path().to_path_buf(),
                _scratch: Some(scratch),
                pages: checked.into_iter().map(PageFile::Checked).collect(),
            })
        }
    }
}

/// Decompresses `raw_dir/<page>.zst` into `dest`, checking the page's size and hash.
fn unpack(raw_dir: &Path, page: &RawPage, dest: &Path) -> Result<()> {
    let source = raw_dir.join(format!("{}{ZST}", page.name));
    let file = File::open(&source).with_context(|| {
        format!(
            "raw/{}{ZST} is missing: run `mfa-evidence store verify`",
            page.name
        )
    })?;
    let mut decoder = zstd::stream::Decoder::new(BufReader::with_capacity(1 << 20, file))?;
    let mut out = HashingWriter::new(create_private_file(dest)?);
    std::io::copy(&mut decoder, &mut out)
        .with_context(|| format!("raw/{}{ZST} does not decompress", page.name))?;
    let size = out.written;
    let (_, sha256) = out.finish();
    if sha256 != page.sha256 || size != page.size {
        bail!(
            "raw/{}{ZST} does not decompress to the page its record lists (SHA-256 {sha256}, recorded {})",
            page.name,
            page.sha256
        );
    }
    Ok(())
}

/// Reads a plain folder's `snapshot.json`, from one slice.
pub(super) fn read_plain(dir: &Path) -> Result<crate::snapshot::Snapshot> {
    let path = dir.join(SNAPSHOT_FILE);
    let mut bytes = Vec::new();
    File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| {
            format!(
                "cannot open {}: run `mfa-evidence store verify`",
                path.display()
            )
        })?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a readable snapshot", path.display()))
}

/// What a plain folder's `snapshot.json` says of itself, without holding its lists.
pub(super) fn read_plain_basis(dir: &Path) -> Result<super::deep::Basis> {
    #[derive(serde::Deserialize)]
    struct PlainHead {
        tenant: crate::snapshot::Tenant,
        #[serde(with = "crate::time::secs")]
        collected_at: chrono::DateTime<chrono::Utc>,
        collection: crate::snapshot::CollectionRecord,
    }
    let path = dir.join(SNAPSHOT_FILE);
    let bytes = fs::read(&path).with_context(|| {
        format!(
            "cannot open {}: run `mfa-evidence store verify`",
            path.display()
        )
    })?;
    let head: PlainHead = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a readable snapshot", path.display()))?;
    Ok(super::deep::Basis {
        tenant: head.tenant,
        collected_at: head.collected_at,
        collection: head.collection,
        head: None,
    })
}
