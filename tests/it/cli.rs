//! The built binary, run as a scheduled job or a person would run it: exit codes (0 pass, 1 fail
//! or insufficient evidence, 2 error), the messages that say what to do, and the files written.

use std::path::Path;

use mfa_evidence::demo::synth::{self, TenantSpec};

use crate::util::{
    Workdir, as_of, assert_contains, assert_same, graph_users, make_half_export, rfc3339,
    sha256_hex, write_export,
};

/// Every file below `dir`, as paths relative to it.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if dir.exists() {
        mfa_evidence::files::list_files(dir, dir, &mut out).unwrap();
    }
    out.sort();
    out
}

fn zips_in(dir: &Path) -> Vec<String> {
    files_below(dir)
        .into_iter()
        .filter(|f| f.ends_with(".zip"))
        .collect()
}

#[test]
fn demo_writes_a_package_that_verifies() {
    let work = Workdir::new();
    let run = work.run(&["demo", "--out", "d"]);
    run.expect_code(0).expect_output("package: ");
    let out = work.join("d");
    let zips = zips_in(&out);
    assert_eq!(zips.len(), 1, "{:?}", files_below(&out));
    let zip = &zips[0];
    assert!(
        out.join(format!("{zip}.sha256")).is_file(),
        "{:?}",
        files_below(&out)
    );
    assert!(zip.starts_with("ID-01_Contoso-Ltd_"), "{zip}");
    let zip_path = out.join(zip);
    work.run(&["verify", zip_path.to_str().unwrap()])
        .expect_code(0)
        .expect_output("VERIFIED");
}

/// The demo package, pinned byte for byte: a restructuring of the code must not change it. A
/// change to what a package holds changes this hash on purpose, and the commit that makes it says
/// why.
const DEMO_ZIP_SHA256: &str = "441bcdbedcaa91dd574bd815118fe029b464cb9f33f4700141867b9ef5f8c3ef";

#[test]
fn the_demo_package_is_pinned_byte_for_byte() {
    let work = Workdir::new();
    work.run(&["demo", "--out", "d"]).expect_code(0);
    let out = work.join("d");
    let zips = zips_in(&out);
    assert_eq!(zips.len(), 1, "{:?}", files_below(&out));
    let bytes = std::fs::read(out.join(&zips[0])).unwrap();
    assert_same(
        "SHA-256 of the demo package",
        &DEMO_ZIP_SHA256.to_string(),
        &sha256_hex(&bytes),
    );
}

#[test]
fn verify_of_a_changed_package_exits_1() {
    let work = Workdir::new();
    let dir = work.join("export");
    write_export(&dir, &graph_users(20, 20));
    work.run(&[
        "import",
        "--dir",
        dir.to_str().unwrap(),
        "--collected-at",
        "2026-10-31T06:00:00Z",
    ])
    .expect_code(0);
    work.run(&["report", "--out", "out"]).expect_code(0);
    let zip = work.join("out").join(&zips_in(&work.join("out"))[0]);
    let mut bytes = std::fs::read(&zip).unwrap();
    let n = bytes.len() / 2;
    bytes[n] ^= 0x01;
    std::fs::write(&zip, bytes).unwrap();
    work.run(&["verify", zip.to_str().unwrap()])
        .expect_code(1)
        .expect_output("FAILED");
}

#[test]
fn a_failing_tenant_exits_1_and_still_writes_the_package() {
    let work = Workdir::new();
    let dir = work.join("tenant");
    let mut spec = TenantSpec::new(400, 11, as_of());
    spec.target_percent = 80.0;
    let summary = synth::write_tenant(&spec, &dir).unwrap();
    std::fs::write(work.join("mfa-evidence.toml"), synth::config_toml(&summary)).unwrap();
    work.run(&[
        "import",
        "--dir",
        dir.to_str().unwrap(),
        "--collected-at",
        &rfc3339(as_of()),
    ])
    .expect_code(0)
    .expect_output("stored snapshot 1");
    let run = work.run(&["report", "--out", "out"]);
    run.expect_code(1).expect_output(": fail (");
    assert_contains(
        "report output",
        &run.stdout,
        &[&format!(
            "{} of {} in scope registered, {} %",
            summary.registered,
            summary.in_scope,
            summary.percent()
        )],
    );
    let zips = zips_in(&work.join("out"));
    assert_eq!(zips.len(), 1);
    work.run(&["verify", work.join("out").join(&zips[0]).to_str().unwrap()])
        .expect_code(0);
}

#[test]
fn a_missing_import_folder_exits_2_naming_it() {
    let work = Workdir::new();
    let run = work.run(&[
        "import",
        "--dir",
        "/no/such/dir",
        "--collected-at",
        "2026-10-31T06:00:00Z",
    ]);
    run.expect_code(2);
    assert_contains("stderr", &run.stderr, &["/no/such/dir", "--dir"]);
    assert!(files_below(&work.join("evidence-store")).is_empty());
}

#[test]
fn a_malformed_page_exits_2_naming_the_file() {
    let work = Workdir::new();
    let dir = work.join("export");
    write_export(&dir, &graph_users(20, 20));
    let page = dir.join("users-0001.json");
    let bytes = std::fs::read(&page).unwrap();
    std::fs::write(&page, &bytes[..bytes.len() / 2]).unwrap();
    let run = work.run(&[
        "import",
        "--dir",
        dir.to_str().unwrap(),
        "--collected-at",
        "2026-10-31T06:00:00Z",
    ]);
    run.expect_code(2);
    assert_contains("stderr", &run.stderr, &["users-0001.json", "not a valid"]);
    assert!(files_below(&work.join("evidence-store")).is_empty());
}

#[test]
fn an_unknown_config_key_exits_2_naming_it() {
    let work = Workdir::new();
    std::fs::write(work.join("bad.toml"), "[control]\nthreshhold = 1\n").unwrap();
    let run = work.run(&["--config", "bad.toml", "store", "list"]);
    run.expect_code(2);
    assert_contains("stderr", &run.stderr, &["threshhold", "bad.toml"]);
    // Read from the working directory by default, with the same strictness.
    std::fs::rename(work.join("bad.toml"), work.join("mfa-evidence.toml")).unwrap();
    let run = work.run(&["report", "--out", "out"]);
    run.expect_code(2);
    assert_contains("stderr", &run.stderr, &["threshhold", "mfa-evidence.toml"]);
    assert!(!work.join("out").exists(), "nothing written");
}

#[test]
fn report_on_an_empty_store_exits_2_saying_to_collect_or_import() {
    let work = Workdir::new();
    let run = work.run(&["report", "--out", "out"]);
    run.expect_code(2);
    assert_contains(
        "stderr",
        &run.stderr,
        &["no snapshot is stored", "collect", "import"],
    );
    assert!(zips_in(&work.join("out")).is_empty());
}

#[test]
fn a_half_export_is_refused_and_nothing_is_stored() {
    let work = Workdir::new();
    let dir = work.join("export");
    write_export(&dir, &graph_users(20, 20));
    make_half_export(&dir);
    let run = work.run(&[
        "import",
        "--dir",
        dir.to_str().unwrap(),
        "--collected-at",
        "2026-10-31T06:00:00Z",
    ]);
    run.expect_code(2);
    assert_contains(
        "stderr",
        &run.stderr,
        &["users-0001.json", "@odata.nextLink", "incomplete"],
    );
    assert_eq!(
        files_below(&work.join("evidence-store")),
        Vec::<String>::new()
    );
    work.run(&["store", "list"])
        .expect_code(2)
        .expect_output("no snapshot is stored");
}

#[test]
fn an_import_without_a_collection_time_asks_for_collected_at() {
    let work = Workdir::new();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let run = work.run(&["import", "--dir", samples.to_str().unwrap()]);
    run.expect_code(2);
    assert_contains("stderr", &run.stderr, &["--collected-at"]);
    assert!(files_below(&work.join("evidence-store")).is_empty());
    // With it, the sample tenant imports, reports (it passes) and lists.
    work.run(&[
        "import",
        "--dir",
        samples.to_str().unwrap(),
        "--collected-at",
        "2026-10-31T06:00:00Z",
    ])
    .expect_code(0);
    std::fs::copy(
        samples.join("mfa-evidence.toml"),
        work.join("mfa-evidence.toml"),
    )
    .unwrap();
    work.run(&["report", "--out", "out"])
        .expect_code(0)
        .expect_output(": pass (");
    work.run(&["store", "list"])
        .expect_code(0)
        .expect_output("000001-20261031T060000Z");
}

#[test]
fn an_export_with_a_missing_middle_page_is_refused() {
    let work = Workdir::new();
    let dir = work.join("export");
    write_export(&dir, &graph_users(20, 20));
    make_half_export(&dir);
    // Page 3 is there and ends the source, page 2 is not.
    let last = serde_json::json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
        "value": [{"id": "00000000-0000-0000-0000-000000000999", "userPrincipalName": "late@fabrikam.test",
                   "displayName": "Late", "accountEnabled": true, "userType": "Member"}],
    });
    std::fs::write(
        dir.join("users-0003.json"),
        serde_json::to_vec(&last).unwrap(),
    )
    .unwrap();
    let run = work.run(&[
        "import",
        "--dir",
        dir.to_str().unwrap(),
        "--collected-at",
        "2026-10-31T06:00:00Z",
    ]);
    run.expect_code(2);
    assert_contains("stderr", &run.stderr, &["users-0002.json", "incomplete"]);
    assert!(files_below(&work.join("evidence-store")).is_empty());
}
