//! The evidence package as an auditor receives it: what the zip holds, that the same store gives
//! the same bytes, that the CSVs open safely in a spreadsheet, and that `verify_package` notices
//! a change to any file, an unsafe entry name, and a forger who keeps the hash lists consistent.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mfa_evidence::config::{Config, StoreLocation};
use mfa_evidence::render::csv::POPULATION_COLUMNS;
use mfa_evidence::report::{self, ReportRequest};
use mfa_evidence::store::Store;
use mfa_evidence::verify::verify_package;
use serde_json::Value;

use crate::util::{
    GraphUser, assert_contains, assert_same, entry, entry_mut, import, sha256_hex, write_export,
    write_zip, zip_entries,
};

const PACKAGE_ID: &str = "ID-01_Fabrikam-Test_20261031T060000Z";
const FORMULAS: [&str; 4] = ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)"];
const NON_ASCII: [&str; 3] = ["Zoë Ångström-Łukasiewicz", "أحمد حداد", "王伟"];

/// 28 users: 16 registered, 2 without a method, 4 whose names a spreadsheet would run as
/// formulas, 3 non-ASCII names (all 7 registered), a guest, a disabled account and one user
/// missing from the report. In scope 26, registered 23: 88.46 %, a failing control.
fn users() -> Vec<GraphUser> {
    let mut list: Vec<GraphUser> = (1..=16)
        .map(|i| GraphUser::new(i, &format!("User {i}")))
        .collect();
    list.push(GraphUser::new(17, "No Method").unregistered());
    list.push(GraphUser::new(18, "Email Only").unregistered());
    list.last_mut().unwrap().methods = Some(vec!["email".to_string()]);
    for (i, name) in FORMULAS.iter().chain(NON_ASCII.iter()).enumerate() {
        list.push(GraphUser::new(19 + i as u32, name));
    }
    let mut g = GraphUser::new(26, "Guest User");
    g.guest = true;
    list.push(g);
    let mut d = GraphUser::new(27, "Disabled User");
    d.enabled = false;
    list.push(d);
    let mut m = GraphUser::new(28, "Missing From Report");
    m.methods = None;
    list.push(m);
    list
}

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// An export folder (with the sample's policies as config state) stored once under `root`.
fn store_in(root: &Path) -> Config {
    let export = root.join("export");
    write_export(&export, &users());
    for f in [
        "authenticationMethodsPolicy-0001.json",
        "conditionalAccessPolicies-0001.json",
    ] {
        std::fs::copy(samples().join(f), export.join(f)).unwrap();
    }
    let mut config = Config::from_toml("").unwrap();
    config.store = StoreLocation::Path(root.join("store"));
    Store::new(root.join("store"))
        .add(&import(&export, crate::util::as_of()))
        .unwrap();
    config
}

fn report_into(config: &Config, out: &Path) -> (PathBuf, i32) {
    let outcome = report::run(
        config,
        &ReportRequest {
            out_dir: out.to_path_buf(),
            ..ReportRequest::default()
        },
    )
    .unwrap_or_else(|e| panic!("report: {e:#}"));
    (outcome.zip.clone(), outcome.exit_code())
}

/// One package shared by the tests that only read it.
fn package() -> &'static Path {
    static PACKAGE: OnceLock<PathBuf> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("package-tests");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let config = store_in(&root);
        let (zip, code) = report_into(&config, &root.join("out"));
        assert_eq!(code, 1, "88.46 % fails the control");
        zip
    })
}

fn verify_failure(zip: &Path) -> String {
    verify_package(zip)
        .unwrap_or_else(|e| panic!("verify errored instead of failing: {e:#}"))
        .failure
        .unwrap_or_else(|| panic!("{} verified but should not", zip.display()))
}

#[test]
fn the_same_store_gives_byte_identical_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let config = store_in(tmp.path());
    let (a, _) = report_into(&config, &tmp.path().join("a"));
    let (b, _) = report_into(&config, &tmp.path().join("b"));
    assert_eq!(a.file_name(), b.file_name());
    assert_eq!(
        a.file_name().unwrap().to_string_lossy(),
        format!("{PACKAGE_ID}.zip")
    );
    let (za, zb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    if za != zb {
        // Name the entries that differ before failing.
        let (ea, eb) = (zip_entries(&a), zip_entries(&b));
        let differ: Vec<&str> = ea
            .iter()
            .zip(&eb)
            .filter(|(x, y)| x != y)
            .map(|(x, _)| x.0.as_str())
            .collect();
        panic!("the two zips differ; entries that differ: {differ:?}");
    }
    let sidecar = |z: &Path| std::fs::read_to_string(format!("{}.sha256", z.display())).unwrap();
    assert_eq!(sidecar(&a), sidecar(&b));
    assert_same(
        ".sha256",
        &format!("{}  {PACKAGE_ID}.zip\n", sha256_hex(&za)),
        &sidecar(&a),
    );
    // Nothing but the zip and its .sha256 is left in the output folder.
    let left: BTreeSet<String> = std::fs::read_dir(tmp.path().join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_same(
        "output folder",
        &BTreeSet::from([
            format!("{PACKAGE_ID}.zip"),
            format!("{PACKAGE_ID}.zip.sha256"),
        ]),
        &left,
    );
}

#[test]
fn the_zip_holds_the_files_design_lists() {
    let entries = zip_entries(package());
    let names: BTreeSet<String> = entries
        .iter()
        .map(|(n, _)| {
            let (top, rel) = n.split_once('/').expect("one top folder");
            assert_eq!(top, PACKAGE_ID);
            rel.to_string()
        })
        .collect();
    for required in [
        "README.txt",
        "report.pdf",
        "evidence.json",
        "population.csv",
        "unregistered.csv",
        "excluded.csv",
        "manifest.json",
        "SHA256SUMS",
        "raw/organization-0001.json",
        "raw/users-0001.json",
        "raw/userRegistrationDetails-0001.json",
        "config-state/authenticationMethodsPolicy-0001.json",
        "config-state/conditionalAccessPolicies-0001.json",
    ] {
        assert!(names.contains(required), "no {required} in {names:#?}");
    }
    // raw/ holds the Graph responses as received.
    let export = package().parent().unwrap().parent().unwrap().join("export");
    for f in ["users-0001.json", "userRegistrationDetails-0001.json"] {
        assert!(
            entry(&entries, &format!("raw/{f}")) == std::fs::read(export.join(f)).unwrap(),
            "raw/{f} differs from the export"
        );
    }
    assert!(entry(&entries, "report.pdf").starts_with(b"%PDF-"));

    // SHA256SUMS covers every other file, in sha256sum -c form; the manifest every file but
    // itself and SHA256SUMS.
    let sums = String::from_utf8(entry(&entries, "SHA256SUMS").to_vec()).unwrap();
    let listed: BTreeSet<String> = sums
        .lines()
        .map(|l| {
            let (hash, path) = l.split_once("  ").unwrap();
            assert_eq!(hash, sha256_hex(entry(&entries, path)), "{path}");
            path.to_string()
        })
        .collect();
    let mut others = names.clone();
    others.remove("SHA256SUMS");
    assert_same("SHA256SUMS paths", &others, &listed);
    let manifest: Value = serde_json::from_slice(entry(&entries, "manifest.json")).unwrap();
    let in_manifest: BTreeSet<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap();
            assert_eq!(f["sha256"], sha256_hex(entry(&entries, path)), "{path}");
            assert_eq!(f["size"], entry(&entries, path).len(), "{path}");
            path.to_string()
        })
        .collect();
    others.remove("manifest.json");
    assert_same("manifest paths", &others, &in_manifest);
    assert_eq!(manifest["snapshots"].as_array().unwrap().len(), 1);
}

#[test]
fn evidence_json_states_the_figure() {
    let entries = zip_entries(package());
    let e: Value = serde_json::from_slice(entry(&entries, "evidence.json")).unwrap();
    let pit = &e["point_in_time"];
    assert_same(
        "control.id, result, in_scope, registered, percent",
        &(
            "ID-01".to_string(),
            "fail".to_string(),
            26,
            23,
            "88.46".to_string(),
        ),
        &(
            e["control"]["id"].as_str().unwrap().to_string(),
            pit["result"].as_str().unwrap().to_string(),
            pit["in_scope"].as_u64().unwrap(),
            pit["registered"].as_u64().unwrap(),
            pit["percent"].as_str().unwrap().to_string(),
        ),
    );
    assert_eq!(e["as_of"], "2026-10-31T06:00:00Z");
    assert_eq!(e["package_id"], PACKAGE_ID);
    let readme = String::from_utf8(entry(&entries, "README.txt").to_vec()).unwrap();
    assert_contains(
        "README.txt",
        &readme,
        &["sha256sum -c SHA256SUMS", "mfa-evidence verify", "23 of 26"],
    );
}

/// The rows of a CSV of the package, after its byte-order mark.
fn csv_rows(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let body = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .expect("the CSV starts with a UTF-8 byte-order mark");
    let mut reader = csv::Reader::from_reader(body);
    let headers = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (headers, rows)
}

#[test]
fn population_csv_lists_every_user_safely() {
    let entries = zip_entries(package());
    let bytes = entry(&entries, "population.csv");
    assert!(
        bytes.windows(2).any(|w| w == b"\r\n"),
        "CRLF line ends for spreadsheets"
    );
    let (headers, rows) = csv_rows(bytes);
    assert_same(
        "population.csv columns",
        &POPULATION_COLUMNS.map(String::from).to_vec(),
        &headers,
    );
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let expected_ids: BTreeSet<String> = users().into_iter().map(|u| u.id).collect();
    let ids: BTreeSet<String> = rows.iter().map(|r| r[col("user_id")].clone()).collect();
    assert_eq!(rows.len(), users().len(), "one row per user from /users");
    assert_same("user ids", &expected_ids, &ids);

    let names: Vec<&str> = rows
        .iter()
        .map(|r| r[col("display_name")].as_str())
        .collect();
    for formula in FORMULAS {
        let neutral = format!("'{formula}");
        assert!(
            names.contains(&neutral.as_str()),
            "{formula:?} is not neutralised as {neutral:?}: {names:#?}"
        );
        assert!(!names.contains(&formula), "{formula:?} is left as it was");
    }
    for name in NON_ASCII {
        assert!(names.contains(&name), "{name:?} not intact: {names:#?}");
    }
    // Each classification, and the registered column only for users in scope.
    let by_name = |n: &str| {
        rows.iter()
            .find(|r| r[col("display_name")] == n)
            .unwrap_or_else(|| panic!("no row for {n}"))
    };
    for (name, class, registered, in_report) in [
        ("User 1", "in-scope", "true", "true"),
        ("Email Only", "in-scope", "false", "true"),
        ("Missing From Report", "in-scope", "false", "false"),
        ("Guest User", "guest", "", "true"),
        ("Disabled User", "disabled", "", "false"),
    ] {
        let r = by_name(name);
        assert_same(
            name,
            &(class, registered, in_report),
            &(
                r[col("classification")].as_str(),
                r[col("registered")].as_str(),
                r[col("in_registration_report")].as_str(),
            ),
        );
    }

    let (_, unregistered) = csv_rows(entry(&entries, "unregistered.csv"));
    assert_eq!(unregistered.len(), 3);
    let (_, excluded) = csv_rows(entry(&entries, "excluded.csv"));
    assert_eq!(excluded.len(), 2);
}

#[test]
fn the_good_package_verifies() {
    let v = verify_package(package()).unwrap();
    assert_same("failure", &None, &v.failure);
    assert_contains(
        "checked",
        &v.checked.join("\n"),
        &[
            ".sha256",
            "match SHA256SUMS",
            "match manifest.json",
            "23 of 26",
        ],
    );
}

/// `n` in `bytes` changed to another printable character.
fn change_byte(bytes: &mut [u8], n: usize) {
    bytes[n] = if bytes[n] == b'0' { b'1' } else { b'0' };
}

#[test]
fn one_changed_byte_in_any_file_fails_and_names_it() {
    let good = zip_entries(package());
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (rel, at) in [
        ("evidence.json", None),
        ("population.csv", None),
        ("unregistered.csv", None),
        ("excluded.csv", None),
        ("raw/users-0001.json", None),
        ("config-state/conditionalAccessPolicies-0001.json", None),
        ("report.pdf", None),
        ("manifest.json", None),
        // The first character of the first hash.
        ("SHA256SUMS", Some(0)),
        ("README.txt", None),
    ] {
        let mut entries = good.clone();
        let bytes = entry_mut(&mut entries, rel);
        let n = at.unwrap_or(bytes.len() / 2);
        change_byte(bytes, n);
        let zip = tmp.path().join(format!("{}.zip", rel.replace('/', "_")));
        write_zip(&zip, &entries);
        let why = verify_failure(&zip);
        if !why.contains(rel) {
            failures.push(format!("{rel}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "messages that do not name the file:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_changed_zip_beside_its_sha256_is_named() {
    let mut entries = zip_entries(package());
    change_byte(entry_mut(&mut entries, "README.txt"), 10);
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join(format!("{PACKAGE_ID}.zip"));
    write_zip(&zip, &entries);
    std::fs::copy(
        format!("{}.sha256", package().display()),
        format!("{}.sha256", zip.display()),
    )
    .unwrap();
    let why = verify_failure(&zip);
    assert_contains("verify", &why, &[".sha256", "changed or replaced"]);
}

#[test]
fn unsafe_entry_names_are_refused() {
    let good = zip_entries(package());
    let tmp = tempfile::tempdir().unwrap();
    for (i, name) in ["../evil", "/etc/x", &format!("{PACKAGE_ID}/../../evil")]
        .into_iter()
        .enumerate()
    {
        let mut entries = good.clone();
        entries.push((name.to_string(), b"x".to_vec()));
        let zip = tmp.path().join(format!("unsafe-{i}.zip"));
        write_zip(&zip, &entries);
        let why = verify_failure(&zip);
        assert_contains(name, &why, &[name, "refusing"]);
    }
    // A second top folder.
    let mut entries = good.clone();
    entries.push(("elsewhere/x".to_string(), b"x".to_vec()));
    let zip = tmp.path().join("two-tops.zip");
    write_zip(&zip, &entries);
    assert_contains("two tops", &verify_failure(&zip), &["elsewhere/x"]);
    // A file added inside the package.
    let mut entries = good;
    entries.push((format!("{PACKAGE_ID}/extra.txt"), b"x".to_vec()));
    let zip = tmp.path().join("added.zip");
    write_zip(&zip, &entries);
    assert_contains("added", &verify_failure(&zip), &["extra.txt"]);
}

#[test]
fn zips_an_unzip_tool_could_read_differently_are_refused() {
    let good = zip_entries(package());
    let tmp = tempfile::tempdir().unwrap();

    // population.csv listed twice: a second, forged copy some unzip tools would extract instead.
    // The zip crate will not write a name twice, so the second name is patched in afterwards.
    let (real, decoy) = (
        format!("{PACKAGE_ID}/population.csv"),
        format!("{PACKAGE_ID}/populatioX.csv"),
    );
    let mut entries = good.clone();
    entries.push((decoy.clone(), b"forged".to_vec()));
    let zip = tmp.path().join("twice.zip");
    write_zip(&zip, &entries);
    let mut bytes = std::fs::read(&zip).unwrap();
    let mut patched = 0;
    for at in 0..bytes.len() - decoy.len() {
        if bytes[at..].starts_with(decoy.as_bytes()) {
            bytes[at..at + real.len()].copy_from_slice(real.as_bytes());
            patched += 1;
        }
    }
    assert_eq!(
        patched, 2,
        "the name in the local header and the central directory"
    );
    std::fs::write(&zip, bytes).unwrap();
    assert_contains(
        "a name listed twice",
        &verify_failure(&zip),
        &["population.csv", "more than once", "refusing"],
    );

    // Two names that extract to one file on a case-insensitive file system.
    let mut entries = good.clone();
    entries.push((format!("{PACKAGE_ID}/Population.csv"), b"forged".to_vec()));
    let zip = tmp.path().join("case.zip");
    write_zip(&zip, &entries);
    assert_contains(
        "names differing in case",
        &verify_failure(&zip),
        &["Population.csv", "extract to the same file"],
    );

    // A symbolic link inside the package folder.
    let zip = tmp.path().join("link.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    for (name, bytes) in &good {
        writer.start_file(name.as_str(), options).unwrap();
        std::io::Write::write_all(&mut writer, bytes).unwrap();
    }
    writer
        .add_symlink(format!("{PACKAGE_ID}/notes.txt"), "/etc/passwd", options)
        .unwrap();
    writer.finish().unwrap();
    assert_contains(
        "a symbolic link",
        &verify_failure(&zip),
        &["notes.txt", "symbolic link", "refusing"],
    );
}

/// Recomputes manifest.json and SHA256SUMS over the entries as they are now, as a forger would.
fn regenerate_hash_lists(entries: &mut [(String, Vec<u8>)]) {
    let sizes_and_hashes = |entries: &[(String, Vec<u8>)], rel: &str| {
        let b = entry(entries, rel);
        (b.len(), sha256_hex(b))
    };
    let has_manifest = entries.iter().any(|(n, _)| n.ends_with("/manifest.json"));
    if has_manifest {
        let mut manifest: Value = serde_json::from_slice(entry(entries, "manifest.json")).unwrap();
        for f in manifest["files"].as_array_mut().unwrap() {
            let (size, hash) = sizes_and_hashes(entries, f["path"].as_str().unwrap());
            f["size"] = size.into();
            f["sha256"] = hash.into();
        }
        *entry_mut(entries, "manifest.json") = serde_json::to_vec_pretty(&manifest).unwrap();
    }
    let mut paths: Vec<String> = entries
        .iter()
        .map(|(n, _)| n.split_once('/').unwrap().1.to_string())
        .filter(|p| p != "SHA256SUMS")
        .collect();
    paths.sort();
    let sums: String = paths
        .iter()
        .map(|p| format!("{}  {p}\n", sizes_and_hashes(entries, p).1))
        .collect();
    *entry_mut(entries, "SHA256SUMS") = sums.into_bytes();
}

/// population.csv with the first unregistered in-scope user marked registered, and, when
/// `methods` is given, that user's methods replaced so the row is consistent with itself.
fn forge_population(bytes: &[u8], methods: Option<&str>) -> Vec<u8> {
    let (headers, mut rows) = csv_rows(bytes);
    let class = headers.iter().position(|h| h == "classification").unwrap();
    let reg = headers.iter().position(|h| h == "registered").unwrap();
    let methods_col = headers
        .iter()
        .position(|h| h == "methods_registered")
        .unwrap();
    let row = rows
        .iter_mut()
        .find(|r| r[class] == "in-scope" && r[reg] == "false")
        .unwrap();
    row[reg] = "true".to_string();
    if let Some(methods) = methods {
        row[methods_col] = methods.to_string();
    }
    let mut out = b"\xEF\xBB\xBF".to_vec();
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(&mut out);
    w.write_record(&headers).unwrap();
    for r in rows {
        w.write_record(&r).unwrap();
    }
    drop(w);
    out
}

#[test]
fn a_forged_population_with_consistent_hashes_still_fails_on_the_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let good = zip_entries(package());

    // The hash lists regenerated and a row's `registered` flipped: its own methods contradict it.
    let mut entries = good.clone();
    let flipped = forge_population(entry(&entries, "population.csv"), None);
    *entry_mut(&mut entries, "population.csv") = flipped;
    regenerate_hash_lists(&mut entries);
    let zip = tmp.path().join("flipped.zip");
    write_zip(&zip, &entries);
    assert_contains(
        "flipped registered",
        &verify_failure(&zip),
        &[
            "population.csv row",
            "registered = \"true\"",
            "the row was changed",
        ],
    );

    // The methods forged too, so the row holds together: the figure no longer matches
    // evidence.json.
    let mut entries = good.clone();
    let forged = forge_population(entry(&entries, "population.csv"), Some("fido2"));
    *entry_mut(&mut entries, "population.csv") = forged.clone();
    regenerate_hash_lists(&mut entries);
    let zip = tmp.path().join("forged.zip");
    write_zip(&zip, &entries);
    let why = verify_failure(&zip);
    assert_contains(
        "forged population",
        &why,
        &["population.csv", "24 of 26", "evidence.json", "23 of 26"],
    );

    // Only SHA256SUMS regenerated: the manifest names the file.
    let mut entries = good;
    *entry_mut(&mut entries, "population.csv") = forged;
    let manifest = entry(&entries, "manifest.json").to_vec();
    regenerate_hash_lists(&mut entries);
    *entry_mut(&mut entries, "manifest.json") = manifest;
    let mut paths: Vec<String> = entries
        .iter()
        .map(|(n, _)| n.split_once('/').unwrap().1.to_string())
        .filter(|p| p != "SHA256SUMS")
        .collect();
    paths.sort();
    let sums: String = paths
        .iter()
        .map(|p| format!("{}  {p}\n", sha256_hex(entry(&entries, p))))
        .collect();
    *entry_mut(&mut entries, "SHA256SUMS") = sums.into_bytes();
    let zip = tmp.path().join("half-forged.zip");
    write_zip(&zip, &entries);
    assert_contains(
        "half forged",
        &verify_failure(&zip),
        &["population.csv", "manifest.json"],
    );
}

#[test]
fn a_package_missing_a_file_fails_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let good = zip_entries(package());
    for rel in ["manifest.json", "evidence.json", "population.csv"] {
        // Removed from the zip and from both hash lists, as a forger would.
        let mut entries: Vec<(String, Vec<u8>)> = good
            .iter()
            .filter(|(n, _)| n.split_once('/').unwrap().1 != rel)
            .cloned()
            .collect();
        if rel != "manifest.json" {
            let mut manifest: Value =
                serde_json::from_slice(entry(&entries, "manifest.json")).unwrap();
            manifest["files"]
                .as_array_mut()
                .unwrap()
                .retain(|f| f["path"] != rel);
            *entry_mut(&mut entries, "manifest.json") =
                serde_json::to_vec_pretty(&manifest).unwrap();
        }
        regenerate_hash_lists(&mut entries);
        let zip = tmp.path().join(format!("without-{rel}.zip"));
        write_zip(&zip, &entries);
        assert_contains(rel, &verify_failure(&zip), &[rel]);
    }
}
