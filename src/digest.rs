//! SHA-256, and the one place that writes and reads the `SHA256SUMS` format.
//!
//! A snapshot folder and a package each carry a `SHA256SUMS` in the form `sha256sum -c` reads
//! (`<hex>  <path>\n`, sorted by path), so an auditor can check either with standard tools. The
//! store, the package and `verify` all go through [`Sha256Sums`], so the two files cannot drift
//! apart in format.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// The file name of a hash list, in a snapshot folder and in a package.
pub const SUMS_FILE: &str = "SHA256SUMS";

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Copies a stream into a new file, fsynced, and returns the SHA-256 of what was copied.
pub fn copy_hashed(input: &mut impl Read, dest: &Path) -> Result<String> {
    let mut out = HashingWriter::new(
        crate::files::create_private_file(dest)
            .with_context(|| format!("cannot create {}", dest.display()))?,
    );
    std::io::copy(input, &mut out).with_context(|| format!("cannot write {}", dest.display()))?;
    let (file, hash) = out.finish();
    file.sync_all()?;
    Ok(hash)
}

/// A writer that hashes what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    pub written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    pub fn finish(mut self) -> (W, String) {
        let _ = self.inner.flush();
        (self.inner, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A `SHA256SUMS` list: `(path, sha256 hex)` pairs, sorted by path.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sha256Sums {
    entries: Vec<(String, String)>,
}

impl Sha256Sums {
    /// From `(path, hash)` pairs in any order.
    pub fn new(mut entries: Vec<(String, String)>) -> Sha256Sums {
        entries.sort();
        Sha256Sums { entries }
    }

    /// Reads the text form; a line that is not `<hash>  <path>` is returned as the error, for
    /// the caller to name in its own terms.
    pub fn parse(text: &str) -> std::result::Result<Sha256Sums, String> {
        let mut entries = Vec::new();
        for line in text.lines() {
            let (hash, path) = line.split_once("  ").ok_or_else(|| line.to_string())?;
            entries.push((path.to_string(), hash.to_string()));
        }
        Ok(Sha256Sums { entries })
    }

    /// `(path, hash)` pairs in file order.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }

    /// The text `sha256sum -c` reads.
    pub fn to_text(&self) -> String {
        self.entries
            .iter()
            .map(|(path, hash)| format!("{hash}  {path}\n"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_round_trip_sorted() {
        let sums = Sha256Sums::new(vec![
            ("raw/b.json".into(), "bb".into()),
            ("a.txt".into(), "aa".into()),
        ]);
        let text = sums.to_text();
        assert_eq!(text, "aa  a.txt\nbb  raw/b.json\n");
        assert_eq!(Sha256Sums::parse(&text).unwrap(), sums);
        assert_eq!(
            Sha256Sums::parse("aa a.txt\n").unwrap_err(),
            "aa a.txt".to_string()
        );
    }
}
