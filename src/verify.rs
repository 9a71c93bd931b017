//! `verify`, for the auditor: checks a package on its own, with nothing but the zip (and the
//! `.sha256` beside it when present). Every hash in SHA256SUMS and manifest.json is recomputed, the
//! figure is re-performed from population.csv and compared with evidence.json, and entries that
//! would write outside the extraction folder are refused.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Component, Path};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::evaluate::{ControlResult, Figure, decide, percent_floor};
use crate::evidence::Evidence;
use crate::package::{self, EVIDENCE_FILE, MANIFEST_FILE, Manifest, SUMS_FILE};

/// What verification found. `failure` names the first file or figure that does not hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verification {
    pub checked: Vec<String>,
    pub failure: Option<String>,
}

impl Verification {
    fn fail(mut self, why: String) -> Self {
        self.failure = Some(why);
        self
    }
}

/// A path a careless unzip would write outside its folder: absolute, with `..`, or a drive.
fn unsafe_path(name: &str) -> bool {
    name.starts_with('/')
        || name.starts_with('\\')
        || name.contains('\\')
        || name.as_bytes().get(1) == Some(&b':')
        || Path::new(name)
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
}

pub fn verify_package(path: &Path) -> Result<Verification> {
    let file = File::open(path).with_context(|| {
        format!(
            "cannot open {}: check the path of the package",
            path.display()
        )
    })?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .with_context(|| format!("{} is not a readable zip archive", path.display()))?;
    let mut v = Verification::default();

    // 1. The zip against the .sha256 beside it, when there is one.
    let sidecar = path.with_file_name(format!(
        "{}.sha256",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    if let Ok(text) = std::fs::read_to_string(&sidecar) {
        let expected = text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_lowercase();
        let actual = crate::store::hash_file(path)?;
        if expected != actual {
            return Ok(v.fail(format!(
                "{} does not match {}: the zip was changed or replaced",
                path.display(),
                sidecar.display()
            )));
        }
        v.checked.push(format!("zip matches {}", sidecar.display()));
    }

    // 2. Entry names: one top folder, nothing that escapes it.
    let names: Vec<String> = zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .context("the zip's entry names cannot be read: the archive is damaged")?;
    let mut top: Option<String> = None;
    for name in &names {
        if unsafe_path(name) {
            return Ok(v.fail(format!(
                "entry {name:?} has an absolute or parent-relative path: refusing the package"
            )));
        }
        let first = name.split('/').next().unwrap_or_default().to_string();
        match &top {
            None => top = Some(first),
            Some(t) if *t != first => {
                return Ok(v.fail(format!(
                    "entry {name:?} lies outside the package folder {t}/"
                )));
            }
            _ => {}
        }
    }
    let Some(top) = top else {
        return Ok(v.fail("the zip is empty".into()));
    };
    let inner = |p: &str| format!("{top}/{p}");

    // 3. Every file against SHA256SUMS and manifest.json.
    let sums_text = match package::read_entry(&mut zip, &inner(SUMS_FILE)) {
        Ok(b) => String::from_utf8(b).context("SHA256SUMS is not text")?,
        Err(_) => return Ok(v.fail("the package has no SHA256SUMS".into())),
    };
    let mut sums: BTreeMap<String, String> = BTreeMap::new();
    for line in sums_text.lines() {
        let Some((hash, p)) = line.split_once("  ") else {
            return Ok(v.fail(format!("SHA256SUMS has a malformed line: {line:?}")));
        };
        sums.insert(p.to_string(), hash.to_string());
    }
    let mut actual: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name()?.into_owned();
        let rel = name
            .strip_prefix(&format!("{top}/"))
            .unwrap_or(&name)
            .to_string();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = entry.read(&mut buf).with_context(|| {
                format!("{rel} cannot be read from the zip: the archive is damaged")
            })?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        actual.insert(rel, (hex::encode(hasher.finalize()), size));
    }
    for (p, hash) in &sums {
        match actual.get(p) {
            None => {
                return Ok(v.fail(format!(
                    "{p} is listed in SHA256SUMS but missing from the package"
                )));
            }
            Some((h, _)) if h != hash => {
                return Ok(v.fail(format!(
                    "{p} was changed: its SHA-256 is {h}, SHA256SUMS records {hash}"
                )));
            }
            _ => {}
        }
    }
    for p in actual.keys() {
        if p != SUMS_FILE && !sums.contains_key(p) {
            return Ok(v.fail(format!(
                "{p} is in the package but not in SHA256SUMS: it was added"
            )));
        }
    }
    v.checked
        .push(format!("{} files match SHA256SUMS", sums.len()));

    // A file the checks need but the package lacks is a failed verification, not an error.
    let Ok(manifest_bytes) = package::read_entry(&mut zip, &inner(MANIFEST_FILE)) else {
        return Ok(v.fail(format!("the package has no {MANIFEST_FILE}")));
    };
    let manifest: Manifest = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => return Ok(v.fail(format!("manifest.json is not a valid manifest: {e}"))),
    };
    for f in &manifest.files {
        match actual.get(&f.path) {
            Some((h, size)) if *h == f.sha256 && *size == f.size => {}
            Some(_) => return Ok(v.fail(format!("{} does not match manifest.json", f.path))),
            None => return Ok(v.fail(format!("{} is listed in manifest.json but missing", f.path))),
        }
    }
    let listed = manifest.files.len() + 2;
    if listed != actual.len() {
        return Ok(v.fail(format!(
            "manifest.json lists {} files but the package holds {}",
            manifest.files.len(),
            actual.len() - 2
        )));
    }
    v.checked.push(format!(
        "{} files match manifest.json",
        manifest.files.len()
    ));

    // 4. The figure, re-performed from population.csv.
    let Ok(evidence_bytes) = package::read_entry(&mut zip, &inner(EVIDENCE_FILE)) else {
        return Ok(v.fail(format!("the package has no {EVIDENCE_FILE}")));
    };
    let evidence: Evidence = match serde_json::from_slice(&evidence_bytes) {
        Ok(e) => e,
        Err(e) => return Ok(v.fail(format!("evidence.json is not valid evidence: {e}"))),
    };
    let Ok(population) = package::read_entry(&mut zip, &inner("population.csv")) else {
        return Ok(v.fail("the package has no population.csv".into()));
    };
    let figure = match figure_from_population(&population) {
        Ok(f) => f,
        Err(e) => return Ok(v.fail(format!("population.csv cannot be re-performed: {e:#}"))),
    };
    let pit = &evidence.point_in_time;
    let percent = percent_floor(figure.registered, figure.in_scope);
    if figure.in_scope != pit.in_scope
        || figure.registered != pit.registered
        || percent != pit.percent
    {
        return Ok(v.fail(format!(
            "population.csv gives {} of {} registered ({percent} %), evidence.json states {} of {} ({} %)",
            figure.registered, figure.in_scope, pit.registered, pit.in_scope, pit.percent
        )));
    }
    let recomputed = decide(figure, evidence.control.threshold_basis_points);
    // A result may be insufficient-evidence for reasons beyond the counts (a source not
    // collected), never the reverse.
    let consistent = pit.result == recomputed.as_str()
        || pit.result == ControlResult::InsufficientEvidence.as_str();
    if !consistent {
        return Ok(v.fail(format!(
            "evidence.json states {} but the counts give {} at the threshold of {} %",
            pit.result,
            recomputed.as_str(),
            evidence.control.threshold_percent
        )));
    }
    v.checked.push(format!(
        "figure re-performed from population.csv: {} of {} in scope registered, {percent} % ({})",
        figure.registered, figure.in_scope, pit.result
    ));
    Ok(v)
}

/// Counts the in-scope and registered rows of population.csv.
pub fn figure_from_population(bytes: &[u8]) -> Result<Figure> {
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("no {name} column"))
    };
    let (class_col, reg_col) = (col("classification")?, col("registered")?);
    let mut figure = Figure {
        in_scope: 0,
        registered: 0,
    };
    for record in reader.records() {
        let record = record?;
        if record.get(class_col) == Some("in-scope") {
            figure.in_scope += 1;
            if record.get(reg_col) == Some("true") {
                figure.registered += 1;
            }
        }
    }
    Ok(figure)
}

#[cfg(test)]
mod tests {
    use super::unsafe_path;

    #[test]
    fn unsafe_paths() {
        assert!(unsafe_path("/etc/passwd"));
        assert!(unsafe_path("pkg/../../x"));
        assert!(unsafe_path("C:/x"));
        assert!(unsafe_path("pkg\\..\\x"));
        assert!(!unsafe_path("pkg/raw/users-0001.json"));
    }
}
