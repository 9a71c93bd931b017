//! Nothing in a package claims more than was observed: inputs that used to give a plausible
//! wrong figure or an overstated claim, each reproduced as an auditor or an admin met it.

use std::path::Path;

use chrono::Duration;
use mfa_evidence::config::Config;
use mfa_evidence::evidence::Conclusion;
use mfa_evidence::report::{self, ReportOutcome, ReportRequest};
use mfa_evidence::store::Store;
use mfa_evidence::verify::verify_package;
use serde_json::Value;

use crate::util::{
    GraphUser, as_of, assert_contains, entry, entry_mut, graph_users, import, write_export,
    write_zip, zip_entries,
};

/// A store under `root` holding one snapshot of `users` per time given.
fn store_with(root: &Path, users: &[GraphUser], times: &[chrono::DateTime<chrono::Utc>]) -> Config {
    let mut config = Config::from_toml("").unwrap();
    config.store_path = root.join("store");
    let store = Store::new(&config.store_path);
    for (i, t) in times.iter().enumerate() {
        let export = root.join(format!("export-{i}"));
        write_export(&export, users);
        store.add(&import(&export, *t)).unwrap();
    }
    config
}

fn report_with(config: &Config, out: &Path, request: ReportRequest) -> ReportOutcome {
    report::run(
        config,
        &ReportRequest {
            out_dir: out.to_path_buf(),
            ..request
        },
    )
    .unwrap_or_else(|e| panic!("report: {e:#}"))
}

fn csv_column(bytes: &[u8], column: &str) -> Vec<(String, String)> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().unwrap().clone();
    let at = headers.iter().position(|h| h == column).unwrap();
    let upn = headers
        .iter()
        .position(|h| h == "user_principal_name")
        .unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[upn].to_string(), r[at].to_string())
        })
        .collect()
}

#[test]
fn one_snapshot_is_a_point_in_time_never_a_period_that_operated() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_with(dir.path(), &graph_users(20, 20), &[as_of()]);
    // Default report over a store of one snapshot: the point-in-time package only.
    let outcome = report_with(&config, &dir.path().join("out"), ReportRequest::default());
    assert!(outcome.evidence.period.is_none(), "a period was reported");
    assert_eq!(outcome.exit_code(), 0);
    // An explicit period around that one snapshot: insufficient evidence, with the reason.
    let outcome = report_with(
        &config,
        &dir.path().join("out-period"),
        ReportRequest {
            period: Some((as_of() - Duration::days(1), as_of())),
            ..ReportRequest::default()
        },
    );
    let period = outcome.evidence.period.as_ref().unwrap();
    assert_eq!(period.conclusion, Conclusion::InsufficientEvidence);
    assert_contains(
        "reason",
        &period.conclusion_reason,
        &["one snapshot", "at least two"],
    );
    assert_eq!(outcome.exit_code(), 1);
}

#[test]
fn a_period_shorter_than_a_day_is_insufficient_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let times = [as_of(), as_of() + Duration::hours(6)];
    let config = store_with(dir.path(), &graph_users(20, 20), &times);
    let outcome = report_with(&config, &dir.path().join("out"), ReportRequest::default());
    let period = outcome.evidence.period.as_ref().unwrap();
    assert_eq!(period.conclusion, Conclusion::InsufficientEvidence);
    assert_contains(
        "reason",
        &period.conclusion_reason,
        &["6.00 hours", "at least a day"],
    );
    // Two snapshots two days apart are a period.
    let dir = tempfile::tempdir().unwrap();
    let times = [as_of(), as_of() + Duration::days(2)];
    let config = store_with(dir.path(), &graph_users(20, 20), &times);
    let outcome = report_with(&config, &dir.path().join("out"), ReportRequest::default());
    let period = outcome.evidence.period.as_ref().unwrap();
    assert_eq!(
        period.conclusion,
        Conclusion::OperatedEffectively,
        "{period:#?}"
    );
}

#[test]
fn users_without_user_type_take_the_reports_and_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let mut users = graph_users(10, 10);
    users[9].guest = true;
    write_export(&export, &users);
    // /users exported without userType and accountEnabled ($select left them out).
    let path = export.join("users-0001.json");
    let mut page: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for u in page["value"].as_array_mut().unwrap() {
        let u = u.as_object_mut().unwrap();
        u.remove("userType");
        u.remove("accountEnabled");
    }
    std::fs::write(&path, serde_json::to_vec(&page).unwrap()).unwrap();
    let mut config = Config::from_toml("").unwrap();
    config.store_path = dir.path().join("store");
    Store::new(&config.store_path)
        .add(&import(&export, as_of()))
        .unwrap();
    let outcome = report_with(&config, &dir.path().join("out"), ReportRequest::default());
    let pit = &outcome.evidence.point_in_time;
    assert_eq!(
        pit.reconciliation.guest, 1,
        "the report's userType names the guest"
    );
    assert_eq!(pit.in_scope, 9);
    let codes: Vec<&str> = outcome
        .evidence
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect();
    assert!(codes.contains(&"user-type-missing"), "{codes:?}");
    assert!(codes.contains(&"account-enabled-missing"), "{codes:?}");
    for f in &outcome.evidence.findings {
        assert!(
            f.count == 0 || !f.examples.is_empty(),
            "finding {} counts {} with no example",
            f.code,
            f.count
        );
    }
}

#[test]
fn period_and_point_in_time_packages_have_their_own_names_and_none_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let times = [as_of() - Duration::days(2), as_of()];
    let config = store_with(dir.path(), &graph_users(20, 19), &times);
    let out = dir.path().join("out");
    let period = report_with(&config, &out, ReportRequest::default());
    let point = report_with(
        &config,
        &out,
        ReportRequest {
            as_of: Some(as_of()),
            ..ReportRequest::default()
        },
    );
    let name = |o: &ReportOutcome| o.zip.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        name(&period),
        "ID-01_Fabrikam-Test_20261029T060000Z--20261031T060000Z.zip"
    );
    assert_eq!(name(&point), "ID-01_Fabrikam-Test_20261031T060000Z.zip");
    // The same inputs again: the same bytes, accepted.
    report_with(&config, &out, ReportRequest::default());
    // Another config would write another package under the same name: refused, nothing replaced.
    let before = std::fs::read(&period.zip).unwrap();
    let mut stricter = config.clone();
    stricter.control.threshold_basis_points = 10_000;
    stricter.sha256 = "0".repeat(64);
    let err = report::run(
        &stricter,
        &ReportRequest {
            out_dir: out.clone(),
            ..ReportRequest::default()
        },
    )
    .err()
    .expect("a different package under an existing name is refused");
    assert_contains(
        "refusal",
        &format!("{err:#}"),
        &["already exists", "never replaced"],
    );
    assert_eq!(
        std::fs::read(&period.zip).unwrap(),
        before,
        "the package was replaced"
    );
}

#[test]
fn phishing_resistance_is_stated_for_every_user() {
    let dir = tempfile::tempdir().unwrap();
    let mut users = graph_users(3, 3);
    users[0].methods = Some(vec!["fido2SecurityKey".into()]);
    let config = store_with(dir.path(), &users, &[as_of()]);
    let outcome = report_with(&config, &dir.path().join("out"), ReportRequest::default());
    let entries = zip_entries(&outcome.zip);
    let column = csv_column(entry(&entries, "population.csv"), "phishing_resistant");
    assert_eq!(
        column,
        vec![
            ("user1@fabrikam.test".to_string(), "true".to_string()),
            ("user2@fabrikam.test".to_string(), "false".to_string()),
            ("user3@fabrikam.test".to_string(), "false".to_string()),
        ]
    );
}

#[test]
fn an_empty_scope_says_no_user_was_in_scope() {
    let dir = tempfile::tempdir().unwrap();
    let mut users = graph_users(2, 2);
    for u in &mut users {
        u.enabled = false;
    }
    let config = store_with(dir.path(), &users, &[as_of()]);
    let outcome = report_with(&config, &dir.path().join("out"), ReportRequest::default());
    let entries = zip_entries(&outcome.zip);
    let readme = String::from_utf8(entry(&entries, "README.txt").to_vec()).unwrap();
    assert_contains("README.txt", &readme, &["no user was in scope"]);
    assert!(!readme.contains("0.00 %"), "{readme}");
}

#[test]
fn a_changed_sha256sums_is_named_not_the_file_it_lists() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_with(dir.path(), &graph_users(5, 5), &[as_of()]);
    let outcome = report_with(&config, &dir.path().join("out"), ReportRequest::default());
    let mut entries = zip_entries(&outcome.zip);
    let sums = entry_mut(&mut entries, "SHA256SUMS");
    // The first hex digit of the line for population.csv.
    let text = String::from_utf8(sums.clone()).unwrap();
    let line_start = text.find("  population.csv").unwrap() - 64;
    sums[line_start] = if sums[line_start] == b'0' { b'1' } else { b'0' };
    let forged = dir.path().join("forged.zip");
    write_zip(&forged, &entries);
    let v = verify_package(&forged).unwrap();
    let why = v.failure.expect("verification fails");
    assert_contains(
        "failure",
        &why,
        &["SHA256SUMS was changed", "population.csv"],
    );
}

#[test]
fn control_characters_and_long_names_do_not_stop_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let mut users = graph_users(4, 2);
    users[0].name = "Bell\u{7}and\u{0}null".into();
    let long_name = "Ж".repeat(300_000);
    users[2].name = long_name.clone();
    write_export(&export, &users);
    // A tenant name of 225 characters with a control character in it.
    let path = export.join("organization-0001.json");
    let mut page: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    page["value"][0]["displayName"] = format!("Tenant\u{1}{}", "x".repeat(218)).into();
    std::fs::write(&path, serde_json::to_vec(&page).unwrap()).unwrap();
    let mut config = Config::from_toml("").unwrap();
    config.store_path = dir.path().join("store");
    Store::new(&config.store_path)
        .add(&import(&export, as_of()))
        .unwrap();
    let outcome = report_with(&config, &dir.path().join("out"), ReportRequest::default());
    let name = outcome
        .zip
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.len() < 120,
        "package name of {} bytes: {name}",
        name.len()
    );
    let v = verify_package(&outcome.zip).unwrap();
    assert_eq!(v.failure, None);
    let codes: Vec<&str> = outcome
        .evidence
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect();
    assert!(codes.contains(&"text-truncated"), "{codes:?}");
    // The CSV keeps the long name whole.
    let entries = zip_entries(&outcome.zip);
    let names = csv_column(entry(&entries, "population.csv"), "display_name");
    assert!(
        names.iter().any(|(_, n)| *n == long_name),
        "the CSV cut the name"
    );
}
