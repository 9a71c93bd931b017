//! The OSCAL documents as a GRC platform and an auditor take them: compliance-trestle (the
//! pinned release whose OSCAL version is ours) validates the assessment results and the plan of
//! the demo package, a failing package and an insufficient-evidence one; and what an auditor
//! would check holds: the findings' states are evidence.json's result and conclusion, every
//! linked file is in the zip with the SHA-256 the document gives, `import-ap` resolves to the
//! plan, the documents are byte-identical across builds, and every UUID is version 5 and
//! distinct (also between two packages).
//!
//! Trestle is the `trestle` executable named by `MFA_EVIDENCE_TEST_TRESTLE` (`.ci/run` sets it
//! up in `.ci/venv-trestle`); see [`trestle`] for running these tests locally.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use chrono::Duration;
use mfa_evidence::config::{Config, StoreLocation};
use mfa_evidence::render::oscal::{OSCAL_VERSION, PLAN_FILE, RESULTS_FILE};
use mfa_evidence::report::{self, ReportRequest};
use mfa_evidence::store::Store;
use mfa_evidence::verify::verify_package;
use serde_json::Value;

use crate::util::{
    GraphUser, Workdir, as_of, assert_contains, assert_same, entry, entry_mut, graph_users, import,
    sha256_hex, write_export, write_zip, zip_entries,
};

/// The `trestle` executable: `MFA_EVIDENCE_TEST_TRESTLE`, else `.ci/venv-trestle`, made on first
/// use. Without python3 the test fails and says what to install: validation is never skipped.
fn trestle() -> PathBuf {
    match std::env::var_os("MFA_EVIDENCE_TEST_TRESTLE") {
        Some(trestle) => PathBuf::from(trestle),
        None => crate::util::venv_bin("venv-trestle", "trestle-requirements.txt", "trestle")
            .join("trestle"),
    }
}

/// Runs trestle in `dir` (it may write logs or caches where it runs) and returns its exit
/// status and output.
fn run_trestle(dir: &Path, args: &[&str]) -> (bool, String) {
    let exe = trestle();
    let out = Command::new(&exe)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): check MFA_EVIDENCE_TEST_TRESTLE",
                exe.display()
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `trestle partial-object-validate -f FILE -e ELEMENT` on these bytes, written as `name`.
fn validate(bytes: &[u8], name: &str, element: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, bytes).unwrap();
    run_trestle(
        dir.path(),
        &[
            "partial-object-validate",
            "-f",
            file.to_str().unwrap(),
            "-e",
            element,
        ],
    )
}

#[track_caller]
fn assert_valid(bytes: &[u8], name: &str, element: &str) {
    let (ok, text) = validate(bytes, name, element);
    assert!(ok, "trestle refused {name} as {element}:\n{text}");
}

/// A package, its entries below the top folder, and its documents parsed.
struct Package {
    zip: PathBuf,
    files: BTreeMap<String, Vec<u8>>,
    evidence: Value,
    results: Value,
    plan: Value,
}

impl Package {
    fn read(zip: &Path) -> Package {
        let files: BTreeMap<String, Vec<u8>> = zip_entries(zip)
            .into_iter()
            .map(|(n, b)| (n.split_once('/').unwrap().1.to_string(), b))
            .collect();
        let parse = |rel: &str| -> Value {
            serde_json::from_slice(files.get(rel).unwrap_or_else(|| panic!("no {rel}")))
                .unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
        };
        Package {
            zip: zip.to_path_buf(),
            evidence: parse("evidence.json"),
            results: parse(RESULTS_FILE)["assessment-results"].clone(),
            plan: parse(PLAN_FILE)["assessment-plan"].clone(),
            files,
        }
    }
}

fn report_into(config: &Config, out: &Path, period: Option<(i64, i64)>) -> PathBuf {
    let outcome = report::run(
        config,
        &ReportRequest {
            out_dir: out.to_path_buf(),
            period: period
                .map(|(a, b)| (as_of() + Duration::hours(a), as_of() + Duration::hours(b))),
            ..ReportRequest::default()
        },
    )
    .unwrap_or_else(|e| panic!("report: {e:#}"));
    outcome.zip
}

/// A store holding one import of these users, at the tests' as-of time.
fn store_of(root: &Path, users: &[GraphUser]) -> Config {
    let export = root.join("export");
    write_export(&export, users);
    let mut config = Config::from_toml("").unwrap();
    config.store = StoreLocation::Path(root.join("store"));
    Store::new(root.join("store"))
        .add(&import(&export, as_of()))
        .unwrap();
    config
}

fn root(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// The demo package, as the binary writes it: a passing point in time, deviations noted over
/// the period.
fn demo() -> &'static Package {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        let work = Workdir::new();
        work.run(&["demo", "--out", "d"]).expect_code(0);
        let out = work.join("d");
        let zip = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "zip"))
            .expect("the demo writes a zip");
        let kept = root("oscal-demo").join(zip.file_name().unwrap());
        std::fs::copy(&zip, &kept).unwrap();
        Package::read(&kept)
    })
}

/// 20 users, 12 registered: 60.00 %, a failing point in time.
fn failing_config(root: &Path) -> Config {
    store_of(root, &graph_users(20, 12))
}

fn failing() -> &'static Package {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        let root = root("oscal-failing");
        let config = failing_config(&root);
        Package::read(&report_into(&config, &root.join("out"), None))
    })
}

/// Every user disabled: no one in scope, so the point in time is insufficient evidence, and a
/// period holding one snapshot is too.
fn insufficient() -> &'static Package {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        let root = root("oscal-insufficient");
        let users: Vec<GraphUser> = graph_users(5, 5)
            .into_iter()
            .map(|mut u| {
                u.enabled = false;
                u
            })
            .collect();
        let config = store_of(&root, &users);
        Package::read(&report_into(&config, &root.join("out"), Some((-48, 0))))
    })
}

fn all() -> [&'static Package; 3] {
    [demo(), failing(), insufficient()]
}

fn by_uuid<'a>(list: &'a Value, uuid: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v["uuid"] == uuid)
        .unwrap_or_else(|| panic!("nothing with uuid {uuid} in {list:#}"))
}

fn result(p: &Package) -> &Value {
    let results = p.results["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "one result per package");
    &results[0]
}

/// The finding whose `result` or `conclusion` property is there.
fn finding<'a>(p: &'a Package, prop: &str) -> Option<&'a Value> {
    result(p)["findings"].as_array().unwrap().iter().find(|f| {
        f["props"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == prop)
    })
}

fn prop<'a>(v: &'a Value, name: &str) -> &'a str {
    v["props"]
        .as_array()
        .unwrap_or_else(|| panic!("no props in {v:#}"))
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("no prop {name} in {v:#}"))["value"]
        .as_str()
        .unwrap()
}

/// Every `uuid` value in a document, wherever it sits.
fn uuids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "uuid" {
                    out.push(v.as_str().unwrap().to_string());
                }
                uuids(v, out);
            }
        }
        Value::Array(list) => list.iter().for_each(|v| uuids(v, out)),
        _ => {}
    }
}

/// The trestle release's own OSCAL version: `trestle version` says "based on OSCAL version X".
fn trestle_oscal_version() -> String {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = run_trestle(dir.path(), &["version"]);
    assert!(ok, "trestle version failed:\n{text}");
    text.split("OSCAL version")
        .nth(1)
        .unwrap_or_else(|| panic!("trestle version names no OSCAL version: {text}"))
        .trim()
        .to_string()
}

#[test]
fn trestle_validates_the_results_and_the_plan_of_every_package() {
    for p in all() {
        assert_valid(
            &p.files[RESULTS_FILE],
            "assessment-results.json",
            "assessment-results",
        );
        assert_valid(
            &p.files[PLAN_FILE],
            "assessment-plan.json",
            "assessment-plan",
        );
    }
}

#[test]
fn trestle_refuses_a_document_that_is_not_valid_oscal() {
    // What would slip through if the test could not fail: a state OSCAL does not know, a
    // version 1 UUID, and a finding without its target.
    let p = failing();
    let doc: Value = serde_json::from_slice(&p.files[RESULTS_FILE]).unwrap();
    let mut bad_state = doc.clone();
    bad_state["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] =
        "fail".into();
    let mut bad_uuid = doc.clone();
    bad_uuid["assessment-results"]["uuid"] = "c232ab00-9414-11ec-b3c8-9f6bdeced846".into();
    let mut no_target = doc;
    no_target["assessment-results"]["results"][0]["findings"][0]
        .as_object_mut()
        .unwrap()
        .remove("target");
    for (what, bad) in [
        ("an unknown state", bad_state),
        ("a version 1 UUID", bad_uuid),
        ("a finding without target", no_target),
    ] {
        let (ok, text) = validate(
            &serde_json::to_vec(&bad).unwrap(),
            "assessment-results.json",
            "assessment-results",
        );
        assert!(!ok, "trestle accepted {what}:\n{text}");
    }
}

#[test]
fn the_oscal_version_is_the_one_the_pinned_trestle_is_built_on() {
    assert_same(
        "OSCAL version of the pinned compliance-trestle",
        &OSCAL_VERSION.to_string(),
        &trestle_oscal_version(),
    );
    for p in all() {
        for doc in [&p.results, &p.plan] {
            let meta = &doc["metadata"];
            assert_eq!(meta["oscal-version"], OSCAL_VERSION);
            // The document date is the as-of time, never the clock.
            assert_eq!(meta["last-modified"], p.evidence["as_of"]);
            assert_eq!(prop(meta, "tool-name"), p.evidence["tool"]["name"]);
            assert_eq!(prop(meta, "tool-version"), p.evidence["tool"]["version"]);
            assert_eq!(prop(meta, "package-id"), p.evidence["package_id"]);
            assert_eq!(
                prop(meta, "evidence-sha256"),
                sha256_hex(&p.files["evidence.json"])
            );
        }
        // The plan and the result review the one control.
        for reviewed in [
            &p.plan["reviewed-controls"],
            &result(p)["reviewed-controls"],
        ] {
            let controls = &reviewed["control-selections"][0]["include-controls"];
            assert_eq!(controls[0]["control-id"], "ID-01", "{reviewed:#}");
        }
    }
}

#[test]
fn the_findings_state_the_result_and_the_conclusion_of_evidence_json() {
    let expected_point = [
        ("pass", "satisfied"),
        ("fail", "not-satisfied"),
        ("insufficient-evidence", "not-satisfied"),
    ];
    let expected_period = [
        ("operated-effectively", "satisfied"),
        ("deviations-noted", "not-satisfied"),
        ("insufficient-evidence", "not-satisfied"),
    ];
    let mut seen = BTreeSet::new();
    for p in all() {
        let pit = &p.evidence["point_in_time"];
        let f = finding(p, "result").expect("a point-in-time finding");
        let result = pit["result"].as_str().unwrap();
        seen.insert(format!("point {result}"));
        assert_eq!(prop(f, "result"), result);
        let state = expected_point.iter().find(|(r, _)| *r == result).unwrap().1;
        let status = &f["target"]["status"];
        assert_eq!(status["state"], state, "{result}");
        assert_eq!(f["description"], pit["result_reason"]);
        if state == "not-satisfied" {
            // The reason travels with a not-satisfied state.
            assert_eq!(status["remarks"], pit["result_reason"]);
            let reason = if result == "fail" { "fail" } else { "other" };
            assert_eq!(status["reason"], reason);
        }
        match p.evidence.get("period") {
            None => assert!(finding(p, "conclusion").is_none()),
            Some(period) => {
                let f = finding(p, "conclusion").expect("a period finding");
                let conclusion = period["conclusion"].as_str().unwrap();
                seen.insert(format!("period {conclusion}"));
                assert_eq!(prop(f, "conclusion"), conclusion);
                let state = expected_period
                    .iter()
                    .find(|(c, _)| *c == conclusion)
                    .unwrap()
                    .1;
                assert_eq!(f["target"]["status"]["state"], state, "{conclusion}");
                assert_eq!(
                    f["target"]["status"]["remarks"],
                    period["conclusion_reason"]
                );
                assert_eq!(f["description"], period["conclusion_reason"]);
            }
        }
    }
    let wanted: BTreeSet<String> = [
        "point pass",
        "point fail",
        "point insufficient-evidence",
        "period deviations-noted",
        "period insufficient-evidence",
    ]
    .map(String::from)
    .into();
    assert_same("results and conclusions covered", &wanted, &seen);
}

#[test]
fn observations_carry_the_figure_the_reconciliation_and_each_data_quality_finding() {
    for p in all() {
        let r = result(p);
        let observations = &r["observations"];
        let pit = &p.evidence["point_in_time"];
        let titled = |start: &str| -> Vec<&Value> {
            observations
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o["title"].as_str().unwrap().starts_with(start))
                .collect()
        };
        let figure = titled("The figure")[0];
        for key in ["in_scope", "registered", "unregistered"] {
            assert_eq!(prop(figure, &key.replace('_', "-")), pit[key].to_string());
        }
        assert_eq!(prop(figure, "percent"), pit["percent"]);
        let reconciliation = titled("Population reconciliation")[0];
        for (key, value) in pit["reconciliation"].as_object().unwrap() {
            assert_eq!(
                prop(reconciliation, &key.replace('_', "-")),
                value.to_string()
            );
        }
        let codes: Vec<&str> = titled("Data quality: ")
            .iter()
            .map(|o| prop(o, "finding-code"))
            .collect();
        let expected: Vec<&str> = p.evidence["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        assert_same("data-quality observations", &expected, &codes);
        for o in observations.as_array().unwrap() {
            assert_eq!(o["collected"], p.evidence["as_of"]);
        }
        // The point-in-time finding rests on all of them; every reference resolves.
        let f = finding(p, "result").unwrap();
        let related = f["related-observations"].as_array().unwrap();
        assert_eq!(related.len(), 2 + expected.len());
        for rel in related {
            by_uuid(observations, rel["observation-uuid"].as_str().unwrap());
        }
    }
    assert!(
        !failing().evidence["findings"]
            .as_array()
            .unwrap()
            .is_empty()
            || !demo().evidence["findings"].as_array().unwrap().is_empty(),
        "some package has a data-quality finding to map"
    );
}

#[test]
fn every_linked_file_is_in_the_zip_with_the_hash_the_document_gives() {
    for p in all() {
        let resources = p.results["back-matter"]["resources"].as_array().unwrap();
        let mut linked = BTreeSet::new();
        for res in resources {
            let rlink = &res["rlinks"][0];
            let href = rlink["href"].as_str().unwrap();
            // Relative to the document, which sits in oscal/.
            let path = href
                .strip_prefix("../")
                .unwrap_or_else(|| panic!("{href} is not relative to oscal/"));
            let bytes = p
                .files
                .get(path)
                .unwrap_or_else(|| panic!("{href} links to a file the zip does not hold"));
            assert_eq!(rlink["hashes"][0]["algorithm"], "SHA-256");
            assert_eq!(
                rlink["hashes"][0]["value"],
                sha256_hex(bytes),
                "{path}: the hash in the document"
            );
            assert!(rlink["media-type"].is_string());
            linked.insert(path.to_string());
        }
        // Every file but the document itself and the two hash lists written after it.
        let expected: BTreeSet<String> = p
            .files
            .keys()
            .filter(|k| ![RESULTS_FILE, "manifest.json", "SHA256SUMS"].contains(&k.as_str()))
            .cloned()
            .collect();
        assert_same("files linked from the results", &expected, &linked);
        assert!(linked.contains("report.pdf") && linked.contains(PLAN_FILE));
        // Evidence cited by an observation is one of those resources.
        for o in result(p)["observations"].as_array().unwrap() {
            for ev in o["relevant-evidence"].as_array().unwrap() {
                let href = ev["href"].as_str().unwrap();
                by_uuid(
                    &p.results["back-matter"]["resources"],
                    href.strip_prefix('#').unwrap(),
                );
            }
        }
        // import-ap names the plan beside the results.
        let ap = p.results["import-ap"]["href"].as_str().unwrap();
        assert_eq!(format!("oscal/{ap}"), PLAN_FILE);
        // The plan's import-ssp points at its own back-matter.
        let ssp = p.plan["import-ssp"]["href"].as_str().unwrap();
        by_uuid(
            &p.plan["back-matter"]["resources"],
            ssp.strip_prefix('#').unwrap(),
        );
        // The package's README names both documents.
        let readme = String::from_utf8(p.files["README.txt"].clone()).unwrap();
        assert_contains(
            "README.txt",
            &readme,
            &[RESULTS_FILE, PLAN_FILE, OSCAL_VERSION],
        );
    }
}

#[test]
fn uuids_are_version_5_distinct_and_shared_by_no_other_package() {
    let mut per_package = Vec::new();
    for p in all() {
        let mut list = Vec::new();
        uuids(&p.results, &mut list);
        uuids(&p.plan, &mut list);
        for u in &list {
            let parsed = uuid::Uuid::parse_str(u).unwrap_or_else(|e| panic!("{u}: {e}"));
            assert_eq!(parsed.get_version_num(), 5, "{u}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{u}");
        }
        let distinct: BTreeSet<&String> = list.iter().collect();
        // The tool and system components are defined once and referenced by other fields.
        assert_eq!(
            distinct.len(),
            list.len(),
            "a uuid defined twice in {}",
            p.zip.display()
        );
        per_package.push(distinct.into_iter().cloned().collect::<BTreeSet<String>>());
    }
    for i in 0..per_package.len() {
        for j in i + 1..per_package.len() {
            let shared: Vec<_> = per_package[i].intersection(&per_package[j]).collect();
            assert!(shared.is_empty(), "packages {i} and {j} share {shared:?}");
        }
    }
}

#[test]
fn the_documents_are_byte_identical_across_builds() {
    let root = root("oscal-twice");
    let config = failing_config(&root);
    let a = Package::read(&report_into(&config, &root.join("a"), None));
    let b = Package::read(&report_into(&config, &root.join("b"), None));
    for file in [RESULTS_FILE, PLAN_FILE] {
        assert!(
            a.files[file] == b.files[file],
            "{file} differs between two builds"
        );
        // And a second store made from the same inputs gives the same bytes as the first.
        assert!(
            a.files[file] == failing().files[file],
            "{file} differs from another store's"
        );
    }
}

#[test]
fn verify_notices_a_changed_oscal_document() {
    let p = failing();
    let tmp = tempfile::tempdir().unwrap();
    let mut entries = zip_entries(&p.zip);
    let doc = entry_mut(&mut entries, RESULTS_FILE);
    let text = String::from_utf8(doc.clone())
        .unwrap()
        .replace("\"not-satisfied\"", "\"satisfied\"");
    *doc = text.into_bytes();
    assert_ne!(entry(&entries, RESULTS_FILE), &p.files[RESULTS_FILE][..]);
    let changed = tmp.path().join(p.zip.file_name().unwrap());
    write_zip(&changed, &entries);
    let failure = verify_package(&changed)
        .unwrap()
        .failure
        .expect("verify fails");
    assert_contains("verify", &failure, &[RESULTS_FILE, "was changed"]);
    // The untouched package verifies, OSCAL documents included.
    let ok = verify_package(&p.zip).unwrap();
    assert!(ok.failure.is_none(), "{:?}", ok.failure);
}

#[test]
fn a_tenant_name_with_a_line_break_still_gives_valid_oscal() {
    // OSCAL titles are single lines; a tenant's display name is whatever its admin typed.
    let root = root("oscal-odd-name");
    let export = root.join("export");
    let mut users = graph_users(4, 4);
    users[0].name = "Bell\u{7}and\nbreak".into();
    write_export(&export, &users);
    let path = export.join("organization-0001.json");
    let mut page: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    page["value"][0]["displayName"] = "Contoso\nLtd\u{1} ".into();
    std::fs::write(&path, serde_json::to_vec(&page).unwrap()).unwrap();
    let mut config = Config::from_toml("").unwrap();
    config.store = StoreLocation::Path(root.join("store"));
    Store::new(root.join("store"))
        .add(&import(&export, as_of()))
        .unwrap();
    let p = Package::read(&report_into(&config, &root.join("out"), None));
    assert_valid(
        &p.files[RESULTS_FILE],
        "assessment-results.json",
        "assessment-results",
    );
    assert_valid(
        &p.files[PLAN_FILE],
        "assessment-plan.json",
        "assessment-plan",
    );
    assert_eq!(
        p.results["metadata"]["title"],
        "ID-01 User MFA registration: assessment results for Contoso Ltd"
    );
}
