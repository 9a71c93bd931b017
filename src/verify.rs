//! `verify`, for the auditor: checks a package on its own, with nothing but the zip (and the
//! `.sha256` beside it when present). Entries are refused when an unzip tool could extract
//! something verify does not see (a name listed twice, a symbolic link, local headers that
//! disagree with the central directory) or write outside the extraction folder. Every entry is
//! read and hashed (a damaged entry fails, naming it), every hash in SHA256SUMS and
//! manifest.json is recomputed, each in-scope row's `registered` is re-derived from its methods
//! and the qualifying methods in evidence.json, and the figure is re-performed from
//! population.csv and compared with evidence.json.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::attest::signing::AllowedSigner;
use crate::digest::Sha256Sums;
use crate::evaluate::{ControlResult, Figure, decide};
use crate::evidence::Evidence;
use crate::evidence::words::percent_floor;
use crate::package::{self, EVIDENCE_FILE, MANIFEST_FILE, Manifest, SUMS_FILE, SUMS_SIG_FILE};

mod history;

/// What verification found. `failure` names the first file or figure that does not hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verification {
    pub checked: Vec<String>,
    /// Checks that could not be made, with why (no `.sha256` beside the zip).
    pub skipped: Vec<String>,
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

/// The file an entry name extracts to on a case-insensitive file system: `.` and empty parts
/// dropped, letters folded.
fn extracted_as(name: &str) -> String {
    name.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("/")
}

/// The entry names as the central directory lists them, duplicates included: the zip crate keeps
/// one entry per name, so a second entry of the same name is invisible through its API.
fn central_directory_names(path: &Path, start: u64) -> std::io::Result<Vec<Vec<u8>>> {
    const SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];
    let mut r = BufReader::new(File::open(path)?);
    r.seek(SeekFrom::Start(start))?;
    let mut names = Vec::new();
    loop {
        let mut header = [0u8; 46];
        match r.read_exact(&mut header[..4]) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            other => other?,
        }
        if header[..4] != SIGNATURE {
            break;
        }
        r.read_exact(&mut header[4..])?;
        let field = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let (name_len, extra_len, comment_len) = (field(28), field(30), field(32));
        let mut name = vec![0u8; usize::from(name_len)];
        r.read_exact(&mut name)?;
        r.seek_relative(i64::from(extra_len) + i64::from(comment_len))?;
        names.push(name);
    }
    Ok(names)
}

/// The unix file type bits of an entry's mode; only regular files and folders may be extracted.
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// Verifies the package zip at `path`. A path that names no file (missing, a folder) is an
/// error; a file that is not a readable zip is a failed verification.
pub fn verify_package(path: &Path) -> Result<Verification> {
    verify_package_with(path, None)
}

/// [`verify_package`], and with `allowed` (an OpenSSH allowed-signers list) the package must be
/// signed by a key it lists.
pub fn verify_package_with(path: &Path, allowed: Option<&[AllowedSigner]>) -> Result<Verification> {
    if path.is_dir() {
        anyhow::bail!(
            "{} is a folder: verify needs the package zip itself (ID-01_<tenant>_<as-of>.zip), \
             not an extracted package; to check an extracted one, run sha256sum -c SHA256SUMS inside it",
            path.display()
        );
    }
    let file = File::open(path).with_context(|| {
        format!(
            "cannot open {}: check the path of the package",
            path.display()
        )
    })?;
    let _step = crate::steps::Step::new("verify the package");
    let mut v = Verification::default();

    // 1. The zip against the .sha256 beside it, when there is one. A mismatch is recorded and
    //    the entries are still checked, so the changed file is named too.
    let sidecar = path.with_file_name(format!(
        "{}.sha256",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut zip_changed = None;
    if !sidecar.is_file() {
        v.skipped.push(format!(
            "the zip's own hash: no {} beside it (check it against the hash the package came with)",
            sidecar.file_name().unwrap_or_default().to_string_lossy()
        ));
    }
    if let Ok(text) = std::fs::read_to_string(&sidecar) {
        let expected = text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_lowercase();
        let actual = crate::digest::hash_file(path)?;
        if expected == actual {
            v.checked.push(format!("zip matches {}", sidecar.display()));
        } else {
            zip_changed = Some(format!(
                "{} does not match {}: the zip was changed or replaced",
                path.display(),
                sidecar.display()
            ));
        }
    }

    let mut v = match zip::ZipArchive::new(BufReader::new(file)) {
        Ok(mut zip) => check_contents(path, &mut zip, v, allowed)?,
        Err(e) => v.fail(format!(
            "{} is not a readable zip archive ({e}): it is truncated or damaged",
            path.display()
        )),
    };
    if let Some(changed) = zip_changed {
        v.failure = Some(match v.failure.take() {
            Some(inside) => format!("{changed}; inside it, {inside}"),
            None => changed,
        });
    }
    Ok(v)
}

/// Everything but the `.sha256`: entry names and kinds, hashes, the registered rule, the figure.
fn check_contents<R: Read + Seek>(
    path: &Path,
    zip: &mut zip::ZipArchive<R>,
    mut v: Verification,
    allowed: Option<&[AllowedSigner]>,
) -> Result<Verification> {
    // 2. Entry names: each once, one top folder, nothing that escapes it, regular files only.
    let listed = match central_directory_names(path, zip.central_directory_start()) {
        Ok(n) => n,
        Err(e) => {
            return Ok(v.fail(format!(
                "the zip's central directory cannot be read ({e}): the archive is damaged"
            )));
        }
    };
    let mut seen = BTreeSet::new();
    for raw in &listed {
        if !seen.insert(raw.as_slice()) {
            return Ok(v.fail(format!(
                "entry {:?} appears more than once in the zip: unzip tools differ on which copy \
                 they extract; refusing the package",
                String::from_utf8_lossy(raw)
            )));
        }
    }
    if zip.has_duplicate_names() || listed.len() != zip.len() {
        return Ok(v.fail(format!(
            "the zip's central directory lists {} entries but {} distinct names: an entry \
             appears more than once; refusing the package",
            listed.len(),
            zip.len()
        )));
    }
    let names: Vec<String> = match zip
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
    {
        Ok(n) => n,
        Err(e) => {
            return Ok(v.fail(format!(
                "the zip's entry names cannot be read ({e}): the archive is damaged"
            )));
        }
    };
    let mut top: Option<String> = None;
    let mut targets: HashMap<String, &str> = HashMap::new();
    for name in &names {
        if unsafe_path(name) {
            return Ok(v.fail(format!(
                "entry {name:?} has an absolute or parent-relative path: refusing the package"
            )));
        }
        if let Some(other) = targets.insert(extracted_as(name), name) {
            return Ok(v.fail(format!(
                "entries {other:?} and {name:?} extract to the same file: refusing the package"
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
    for (i, name) in names.iter().enumerate() {
        let entry = zip.by_index_data(i)?;
        let kind = entry.unix_mode().map_or(0, |m| m & S_IFMT);
        if !matches!(kind, 0 | S_IFREG | S_IFDIR) {
            let what = if kind == S_IFLNK || entry.is_symlink() {
                "a symbolic link"
            } else {
                "a special file"
            };
            return Ok(v.fail(format!(
                "entry {name:?} is {what}, not a regular file: refusing the package"
            )));
        }
    }
    if let Err(e) = zip.validate_header_consistency() {
        return Ok(v.fail(format!(
            "the zip's local headers disagree with its central directory ({e}): an unzip tool \
             could extract something verify does not see; refusing the package"
        )));
    }
    v.checked.push(format!(
        "{} entries, each listed once, regular files inside {top}/",
        names.len()
    ));
    let inner = |p: &str| format!("{top}/{p}");

    // 3. Every entry read and hashed (a damaged entry fails, naming it), then every file
    //    against SHA256SUMS and manifest.json.
    let mut actual: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let bar = crate::steps::progress(names.len() as u64, "hashing entries");
    for (i, name) in names.iter().enumerate() {
        bar.inc(1);
        let rel = name
            .strip_prefix(&format!("{top}/"))
            .unwrap_or(name)
            .to_string();
        let damaged = |e: &dyn std::fmt::Display| {
            format!("{rel} cannot be read from the zip ({e}): its bytes in the zip were changed")
        };
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => return Ok(v.fail(damaged(&e))),
        };
        if entry.is_dir() {
            continue;
        }
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(n) => n,
                Err(e) => return Ok(v.fail(damaged(&e))),
            };
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        actual.insert(rel, (hex::encode(hasher.finalize()), size));
    }
    bar.finish_and_clear();

    // A file the checks need but the package lacks is a failed verification, not an error.
    let Ok(sums_bytes) = package::read_entry(zip, &inner(SUMS_FILE)) else {
        return Ok(v.fail(format!("the package has no {SUMS_FILE}")));
    };
    let Ok(sums_text) = String::from_utf8(sums_bytes) else {
        return Ok(v.fail(format!("{SUMS_FILE} is not UTF-8 text: it was changed")));
    };
    let sums: BTreeMap<String, String> = match Sha256Sums::parse(&sums_text) {
        Ok(list) => list.entries().iter().cloned().collect(),
        Err(line) => return Ok(v.fail(format!("SHA256SUMS has a malformed line: {line:?}"))),
    };
    for (p, hash) in &sums {
        match actual.get(p) {
            None => {
                return Ok(v.fail(format!(
                    "{p} is listed in SHA256SUMS but missing from the package"
                )));
            }
            Some((h, _)) if h != hash => {
                // When manifest.json agrees with the file, the list is what changed.
                let manifest_agrees = package::read_entry(zip, &inner(MANIFEST_FILE))
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<Manifest>(&bytes).ok())
                    .is_some_and(|m| m.files.iter().any(|f| f.path == *p && f.sha256 == *h));
                return Ok(v.fail(if manifest_agrees {
                    format!(
                        "{SUMS_FILE} was changed: its line for {p} records {hash}, but the file and manifest.json agree on {h}"
                    )
                } else {
                    format!("{p} was changed: its SHA-256 is {h}, SHA256SUMS records {hash}")
                }));
            }
            _ => {}
        }
    }
    for p in actual.keys() {
        if p != SUMS_FILE && p != SUMS_SIG_FILE && !sums.contains_key(p) {
            return Ok(v.fail(format!(
                "{p} is in the package but not in SHA256SUMS: it was added"
            )));
        }
    }
    v.checked
        .push(format!("{} files match SHA256SUMS", sums.len()));

    let Ok(manifest_bytes) = package::read_entry(zip, &inner(MANIFEST_FILE)) else {
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
    // Besides the files it lists: itself, SHA256SUMS and, when signed, SHA256SUMS.sig.
    let outside = 2 + usize::from(actual.contains_key(SUMS_SIG_FILE));
    if manifest.files.len() + outside != actual.len() {
        return Ok(v.fail(format!(
            "manifest.json lists {} files but the package holds {}",
            manifest.files.len(),
            actual.len() - outside
        )));
    }
    v.checked.push(format!(
        "{} files match manifest.json",
        manifest.files.len()
    ));

    // 4. The registered rule re-applied to each in-scope row, and the figure re-performed from
    //    population.csv.
    let Ok(evidence_bytes) = package::read_entry(zip, &inner(EVIDENCE_FILE)) else {
        return Ok(v.fail(format!("the package has no {EVIDENCE_FILE}")));
    };
    let evidence: Evidence = match serde_json::from_slice(&evidence_bytes) {
        Ok(e) => e,
        Err(e) => return Ok(v.fail(format!("evidence.json is not valid evidence: {e}"))),
    };
    let Ok(population) = package::read_entry(zip, &inner("population.csv")) else {
        return Ok(v.fail("the package has no population.csv".into()));
    };
    let qualifying: BTreeSet<&str> = evidence
        .control
        .qualifying_methods
        .iter()
        .map(String::as_str)
        .collect();
    let figure = match figure_from_population(&population, &qualifying) {
        Ok(f) => f,
        Err(why) => return Ok(v.fail(why)),
    };
    v.checked.push(format!(
        "registered re-derived for {} in-scope rows of population.csv from their methods and \
         the {} qualifying methods in evidence.json",
        figure.in_scope,
        qualifying.len()
    ));
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
    let consistent = pit.result == recomputed || pit.result == ControlResult::InsufficientEvidence;
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

    // 5. The history: the signature over SHA256SUMS, the ledger lines behind the snapshots, and
    //    each time-stamp token against its line.
    let names: Vec<String> = actual.keys().cloned().collect();
    let mut read = |rel: &str| package::read_entry(zip, &inner(rel)).ok();
    match history::check(&mut read, &names, &sums_text, &evidence, &manifest, allowed) {
        Ok(history) => {
            v.checked.extend(history.checked);
            v.skipped.extend(history.skipped);
            Ok(v)
        }
        Err(why) => Ok(v.fail(why)),
    }
}

/// A CSV cell as it was before the writer neutralised it: `render::csv::cell` puts an apostrophe
/// before a value that starts with `=`, `+`, `-`, `@`, tab or carriage return.
fn uncell(value: &str) -> &str {
    match value.as_bytes() {
        [b'\'', b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r', ..] => &value[1..],
        _ => value,
    }
}

/// Counts the in-scope and registered rows of population.csv, re-deriving each in-scope row's
/// `registered` from its `methods_registered` and the qualifying methods. The error is the
/// verification failure: the file cannot be read, or a row's `registered` disagrees with its
/// methods (naming the row).
pub fn figure_from_population(
    bytes: &[u8],
    qualifying: &BTreeSet<&str>,
) -> std::result::Result<Figure, String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("population.csv cannot be read: {e}");
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    let mut reader = csv::Reader::from_reader(bytes);
    let headers = reader.headers().map_err(|e| unreadable(&e))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| unreadable(&format!("no {name} column")))
    };
    let (id_col, upn_col) = (col("user_id")?, col("user_principal_name")?);
    let (class_col, methods_col, reg_col) = (
        col("classification")?,
        col("methods_registered")?,
        col("registered")?,
    );
    let mut figure = Figure {
        in_scope: 0,
        registered: 0,
    };
    // Rows are numbered as a spreadsheet shows them (the header is row 1): the csv crate's line
    // positions run one behind on CRLF line ends, and an auditor opens the file in a spreadsheet.
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| unreadable(&e))?;
        if record.get(class_col) != Some("in-scope") {
            continue;
        }
        figure.in_scope += 1;
        let methods = uncell(record.get(methods_col).unwrap_or_default());
        let holds_qualifying = methods
            .split(';')
            .any(|m| !m.is_empty() && qualifying.contains(m));
        let expected = if holds_qualifying { "true" } else { "false" };
        let stated = record.get(reg_col).unwrap_or_default();
        if stated != expected {
            return Err(format!(
                "population.csv row {} (user {}, {}) states registered = {stated:?}, but its \
                 methods ({methods:?}) give {expected} under the qualifying methods of \
                 evidence.json: the row was changed",
                index + 2,
                uncell(record.get(id_col).unwrap_or_default()),
                uncell(record.get(upn_col).unwrap_or_default()),
            ));
        }
        if holds_qualifying {
            figure.registered += 1;
        }
    }
    Ok(figure)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{extracted_as, figure_from_population, uncell, unsafe_path};
    use crate::render::csv::cell;

    #[test]
    fn unsafe_paths() {
        assert!(unsafe_path("/etc/passwd"));
        assert!(unsafe_path("pkg/../../x"));
        assert!(unsafe_path("C:/x"));
        assert!(unsafe_path("pkg\\..\\x"));
        assert!(!unsafe_path("pkg/raw/users-0001.json"));
    }

    #[test]
    fn names_that_extract_to_the_same_file() {
        assert_eq!(
            extracted_as("pkg/./Population.CSV"),
            extracted_as("pkg//population.csv")
        );
        assert_ne!(extracted_as("pkg/a.csv"), extracted_as("pkg/b.csv"));
    }

    #[test]
    fn uncell_undoes_the_writers_apostrophe() {
        for value in [
            "=1", "+fido2", "-x;fido2", "@SUM", "\tx", "fido2", "'quoted", "",
        ] {
            assert_eq!(uncell(&cell(value)), value, "{value:?}");
        }
    }

    fn population(rows: &[(&str, &str, &str)]) -> Vec<u8> {
        let mut out = b"\xEF\xBB\xBFuser_id,user_principal_name,classification,methods_registered,registered\r\n".to_vec();
        for (i, (class, methods, registered)) in rows.iter().enumerate() {
            out.extend(format!("u{i},u{i}@x.test,{class},{methods},{registered}\r\n").bytes());
        }
        out
    }

    #[test]
    fn registered_is_re_derived_from_the_methods() {
        let qualifying = BTreeSet::from(["fido2", "-custom"]);
        let good = population(&[
            ("in-scope", "email;fido2", "true"),
            ("in-scope", "email", "false"),
            ("in-scope", "", "false"),
            // The writer's apostrophe before a method that starts with `-`.
            ("in-scope", "'-custom;email", "true"),
            ("guest", "fido2", ""),
        ]);
        let figure = figure_from_population(&good, &qualifying).unwrap();
        assert_eq!((figure.in_scope, figure.registered), (4, 2));

        let flipped = population(&[
            ("in-scope", "email;fido2", "true"),
            ("in-scope", "email", "true"),
        ]);
        let why = figure_from_population(&flipped, &qualifying).unwrap_err();
        assert!(why.contains("row 3") && why.contains("u1@x.test"), "{why}");
        let unflagged = population(&[("in-scope", "fido2", "")]);
        assert!(figure_from_population(&unflagged, &qualifying).is_err());
    }
}
