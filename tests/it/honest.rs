//! Nothing in a package claims more than was observed: inputs that used to give a plausible
//! wrong figure or an overstated claim, each reproduced as an auditor or an admin met it.

use std::path::Path;

use chrono::Duration;
use mfa_evidence::collect::import::import_dir;
use mfa_evidence::config::{Config, StoreLocation};
use mfa_evidence::evidence::Conclusion;
use mfa_evidence::report::{self, ReportOutcome, ReportRequest};
use mfa_evidence::store::Store;
use mfa_evidence::verify::verify_package;
use serde_json::{Value, json};

use crate::util::{
    GraphUser, TENANT_ID, Workdir, as_of, assert_contains, entry, entry_mut, graph_users, import,
    rfc3339, write_export, write_zip, zip_entries,
};

/// A store under `root` holding one snapshot of `users` per time given.
fn store_with(root: &Path, users: &[GraphUser], times: &[chrono::DateTime<chrono::Utc>]) -> Config {
    let mut config = Config::from_toml("").unwrap();
    config.store = StoreLocation::Path(root.join("store"));
    let store = Store::new(root.join("store"));
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
    config.store = StoreLocation::Path(dir.path().join("store"));
    Store::new(dir.path().join("store"))
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
    config.store = StoreLocation::Path(dir.path().join("store"));
    Store::new(dir.path().join("store"))
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

// ---------------------------------------------------------------------------------------------
// Inputs that must be refused, never read as data.

/// The import of `dir` fails; its message.
fn import_error(dir: &Path) -> String {
    match import_dir(dir, Some(as_of())) {
        Ok(imported) => panic!(
            "{} was imported ({} users) but should have been refused",
            dir.display(),
            imported.snapshot.users.len()
        ),
        Err(e) => format!("{e:#}"),
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec(value).unwrap()).unwrap();
}

/// Splits `<stem>-0001.json` of an export after its first `keep` items: the rest go to
/// `<stem>-0002.json`, and the first page links to it, as Graph pages a source.
fn split_page(dir: &Path, stem: &str, keep: usize) -> std::path::PathBuf {
    let first = dir.join(format!("{stem}-0001.json"));
    let mut page = read_json(&first);
    let rest: Vec<Value> = page["value"].as_array_mut().unwrap().split_off(keep);
    let mut second = page.clone();
    second["value"] = Value::Array(rest);
    page["@odata.nextLink"] =
        format!("https://graph.microsoft.com/v1.0/{stem}?$skiptoken=page2").into();
    write_json(&first, &page);
    let path = dir.join(format!("{stem}-0002.json"));
    write_json(&path, &second);
    path
}

/// A saved Graph error body, a `{}`, an object without `value` or a `value` that is not an array,
/// in a page's place, used to be read as an empty page: users vanished from the population with
/// a plausible figure, and on the break-glass page its accounts counted in scope.
#[test]
fn a_file_that_is_not_a_graph_page_is_refused_with_what_it_holds() {
    let error_body = json!({"error": {
        "code": "Authorization_RequestDenied",
        "message": "Insufficient privileges to complete the operation.",
        "innerError": {"date": "2026-10-31T06:00:00", "request-id": "r-1"}
    }});
    let cases: [(&str, Value, &[&str]); 5] = [
        (
            "users",
            error_body.clone(),
            &[
                "users-0002.json is a Graph error response (Authorization_RequestDenied)",
                "Insufficient privileges to complete the operation",
            ],
        ),
        (
            "users",
            json!({}),
            &["users-0002.json is an empty JSON object, not a Graph collection page"],
        ),
        (
            "users",
            json!({"@odata.context": "x", "id": "u9"}),
            &["users-0002.json is not a Graph collection page: it has no value array"],
        ),
        (
            "users",
            json!({"value": {"id": "u9"}}),
            &[
                "users-0002.json is not a Graph collection page: its value is a JSON object, not an array",
            ],
        ),
        (
            "breakGlassMembers",
            error_body,
            &[
                "breakGlassMembers-0001.json is a Graph error response (Authorization_RequestDenied)",
            ],
        ),
    ];
    for (stem, body, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("export");
        write_export(&export, &graph_users(400, 400));
        let page = if stem == "users" {
            split_page(&export, "users", 300)
        } else {
            export.join(format!("{stem}-0001.json"))
        };
        write_json(&page, &body);
        assert_contains(
            &format!("{stem} as {body}"),
            &import_error(&export),
            expected,
        );
    }
}

/// The same id twice with different content is two reads mixed in one folder (which one is the
/// tenant's state?): it used to be resolved silently by keeping one. Identical repeats, which
/// Graph's paging can produce, stay harmless.
#[test]
fn the_same_id_twice_with_different_content_is_refused_naming_both_places() {
    let users = graph_users(6, 6);
    // Users: user2 again on the next page, renamed.
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    write_export(&export, &users);
    let second = split_page(&export, "users", 4);
    let mut page = read_json(&second);
    let mut twin = read_json(&export.join("users-0001.json"))["value"][1].clone();
    twin["displayName"] = "Someone Else".into();
    page["value"].as_array_mut().unwrap().insert(0, twin);
    write_json(&second, &page);
    assert_contains(
        "users",
        &import_error(&export),
        &[
            "users-0001.json item 2 and users-0002.json item 1 both hold id 00000000-0000-0000-0000-000000000002 with different content",
        ],
    );
    // The same repeat unchanged is Graph's paging: accepted, counted once.
    let mut page = read_json(&second);
    page["value"][0]["displayName"] = "User 2".into();
    write_json(&second, &page);
    let imported = import(&export, as_of());
    assert_eq!(imported.snapshot.users.len(), 6);

    // Registration rows: one user's row twice, with other methods.
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    write_export(&export, &users);
    let path = export.join("userRegistrationDetails-0001.json");
    let mut page = read_json(&path);
    let mut twin = page["value"][2].clone();
    twin["methodsRegistered"] = json!([]);
    page["value"].as_array_mut().unwrap().push(twin);
    write_json(&path, &page);
    assert_contains(
        "registration rows",
        &import_error(&export),
        &[
            "userRegistrationDetails-0001.json item 3 and userRegistrationDetails-0001.json item 7 both hold id 00000000-0000-0000-0000-000000000003",
        ],
    );

    // Break-glass members: one id under two UPNs.
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    write_export(&export, &users);
    write_json(
        &export.join("breakGlassMembers-0001.json"),
        &json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName)",
            "value": [
                {"id": "bg-1", "userPrincipalName": "bg1@fabrikam.test"},
                {"id": "bg-1", "userPrincipalName": "someone@fabrikam.test"},
            ]
        }),
    );
    assert_contains(
        "break-glass members",
        &import_error(&export),
        &[
            "breakGlassMembers-0001.json item 1 and breakGlassMembers-0001.json item 2 both hold id bg-1",
        ],
    );
}

/// Two organizations in one folder used to give the first one's tenant silently, and a user
/// with an empty id was a user nobody can trace. (The config's own empty values and dates past
/// 9999 are refused by `config`, and tested there.)
#[test]
fn more_than_one_organization_and_an_empty_user_id_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    write_export(&export, &graph_users(3, 3));
    let path = export.join("organization-0001.json");
    let mut page = read_json(&path);
    let mut other = page["value"][0].clone();
    other["id"] = "99999999-2222-3333-4444-555555555555".into();
    other["displayName"] = "Another Tenant".into();
    page["value"].as_array_mut().unwrap().push(other);
    write_json(&path, &page);
    assert_contains(
        "two organizations",
        &import_error(&export),
        &["2 organizations", "an export folder holds one tenant"],
    );

    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    write_export(&export, &graph_users(3, 3));
    let path = export.join("users-0001.json");
    let mut page = read_json(&path);
    page["value"][1]["id"] = "".into();
    write_json(&path, &page);
    assert_contains(
        "empty id",
        &import_error(&export),
        &["users-0001.json item 2 has an empty id"],
    );
}

/// Windows PowerShell writes a UTF-8 byte-order mark in front of JSON (`Out-File`, `Set-Content
/// -Encoding UTF8`): it used to stop the import with "expected value at line 1 column 1".
#[test]
fn a_byte_order_mark_in_front_of_pages_and_provenance_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&samples).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            let mut bytes = b"\xEF\xBB\xBF".to_vec();
            bytes.extend(std::fs::read(entry.path()).unwrap());
            std::fs::write(dir.path().join(&name), bytes).unwrap();
            names.push(name);
        }
    }
    assert!(names.iter().any(|n| n == "provenance.json"), "{names:?}");
    let with_bom = import_dir(dir.path(), Some(as_of())).unwrap_or_else(|e| panic!("{e:#}"));
    let without = import_dir(&samples, Some(as_of())).unwrap();
    assert!(!with_bom.snapshot.users.is_empty());
    assert_eq!(with_bom.snapshot, without.snapshot);
}

// ---------------------------------------------------------------------------------------------
// Time that must be plausible.

/// `--collected-at` used to be taken on the operator's word: a time in the future (which then
/// refused every later snapshot of an append-only history), a time before the data, and a bare
/// date read as midnight. A store that already holds a future-dated snapshot still reports, and
/// says why new snapshots are refused and what to do.
#[test]
fn collected_at_must_be_a_plausible_moment() {
    #[allow(
        clippy::disallowed_methods,
        reason = "the refusal is measured against this machine's clock"
    )]
    let now = chrono::Utc::now();
    let work = Workdir::new();
    let export = work.join("export");
    // Registration rows last updated 2026-10-31T05:00:00Z.
    write_export(&export, &graph_users(5, 5));
    let dir = export.to_str().unwrap();
    let import_at = |t: &str| work.run(&["import", "--dir", dir, "--collected-at", t]);

    let future = rfc3339(now + Duration::days(3));
    import_at(&future).expect_code(2).expect_output(&format!(
        "--collected-at {future} is 3 days ahead of this machine's clock"
    ));
    import_at("2026-10-30T06:00:00Z")
        .expect_code(2)
        .expect_output("is earlier than the newest lastUpdatedDateTime of the registration report (2026-10-31T05:00:00Z");
    import_at("2026-11-01")
        .expect_code(2)
        .expect_output("--collected-at 2026-11-01 is a date without a time");
    work.run(&["import", "--help"])
        .expect_code(0)
        .expect_output("a bare date is refused");
    assert!(
        !work.join("evidence-store").exists(),
        "a refused import stored something"
    );
    // A few minutes of clock difference between two machines is not refused.
    import_at(&rfc3339(now + Duration::minutes(2))).expect_code(0);

    // A store that an earlier version let take a snapshot dated a year ahead.
    let work = Workdir::new();
    let store = Store::new(work.join("evidence-store"));
    let ahead = now + Duration::days(365);
    store.add(&import(&export, ahead)).unwrap();
    let report = work.run(&["report"]);
    report.expect_output("package: ");
    assert_ne!(report.code, Some(2), "{report:?}");
    work.run(&["import", "--dir", dir, "--collected-at", &rfc3339(now)])
        .expect_code(2)
        .expect_output("the store's newest snapshot of 11111111-2222-3333-4444-555555555555 (No. 1")
        .expect_output("ahead of this machine's clock")
        .expect_output("keep this store as it is (report still reads it")
        .expect_output("store new snapshots in a new store ([store] path)");
    assert_eq!(store.ledger(TENANT_ID).unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Statements that must be true.

/// An export without provenance.json used to be described with the live collector's requests
/// (v1.0, the tool's own `$select`) and "collected by mfa-evidence", whatever its files showed.
/// Now provenance is what the files show, and a `$select` that leaves out the scope's
/// properties is a finding.
#[test]
fn provenance_of_an_import_is_what_its_files_show() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    write_export(&export, &graph_users(4, 4));
    let users_context = "https://graph.microsoft.com/v1.0/$metadata#users(displayName,userPrincipalName,signInActivity)";
    let path = export.join("users-0001.json");
    let mut page = read_json(&path);
    page["@odata.context"] = users_context.into();
    for u in page["value"].as_array_mut().unwrap() {
        let u = u.as_object_mut().unwrap();
        u.retain(|k, _| ["id", "displayName", "userPrincipalName"].contains(&k.as_str()));
        u.insert("signInActivity".into(), json!({"lastSignInDateTime": null}));
    }
    write_json(&path, &page);
    let beta_context = "https://graph.microsoft.com/beta/$metadata#reports/authenticationMethods/userRegistrationDetails";
    let path = export.join("userRegistrationDetails-0001.json");
    let mut page = read_json(&path);
    page["@odata.context"] = beta_context.into();
    write_json(&path, &page);
    let mut config = Config::from_toml("").unwrap();
    config.store = StoreLocation::Path(dir.path().join("store"));
    Store::new(dir.path().join("store"))
        .add(&import(&export, as_of()))
        .unwrap();
    let outcome = report_with(&config, &dir.path().join("out"), ReportRequest::default());

    let prov = &outcome.evidence.provenance;
    assert_eq!(prov.source_kind.as_str(), "import");
    assert_eq!(
        prov.collected_by, None,
        "nobody is known to have collected it"
    );
    assert_contains(
        "from_files",
        prov.from_files.as_deref().unwrap_or_default(),
        &["no collector's record (provenance.json)", "@odata.context"],
    );
    let source = |name: &str| {
        prov.sources
            .iter()
            .find(|s| s.name.stem() == name)
            .unwrap_or_else(|| panic!("no source {name}"))
    };
    let users = source("users");
    assert_eq!(users.endpoint, None, "no request is known");
    let shown = users.files.as_ref().expect("what the files show");
    assert_eq!(shown.odata_context.as_deref(), Some(users_context));
    assert_eq!(shown.api_version.as_deref(), Some("v1.0"));
    assert_eq!(
        shown.select.as_deref(),
        Some(&["displayName", "userPrincipalName", "signInActivity"].map(String::from)[..])
    );
    assert_eq!(
        shown.properties,
        ["displayName", "id", "signInActivity", "userPrincipalName"]
    );
    let reg = source("userRegistrationDetails").files.as_ref().unwrap();
    assert_eq!(reg.api_version.as_deref(), Some("beta"));
    assert!(reg.properties.iter().any(|p| p == "methodsRegistered"));
    assert_eq!(source("directoryAudits").files, None);

    let finding = outcome
        .evidence
        .findings
        .iter()
        .find(|f| f.code.as_str() == "users-select-incomplete")
        .expect("the $select is a finding");
    assert_eq!(finding.examples, ["accountEnabled", "userType"]);
    assert_contains(
        "detail",
        &finding.detail,
        &[
            "$select=displayName,userPrincipalName,signInActivity",
            "accountEnabled and userType",
        ],
    );

    // The PDF says the same, and never the collector's own request.
    let entries = zip_entries(&outcome.zip);
    let pdf = pdf_extract::extract_text_from_mem(entry(&entries, "report.pdf")).unwrap();
    let text: String = pdf.chars().filter(|c| !c.is_whitespace()).collect();
    for needle in [
        "Sourcesasthefilesshowthem",
        "users(displayName,userPrincipalName,signInActivity)",
        "beta/$metadata#reports/authenticationMethods/userRegistrationDetails",
        "Collectedby—(notrecorded)",
    ] {
        assert!(text.contains(needle), "the PDF lacks {needle:?}:\n{pdf}");
    }
    assert!(
        !text.contains("accountEnabled,userType,createdDateTime"),
        "the PDF names the collector's $select:\n{pdf}"
    );
}

// ---------------------------------------------------------------------------------------------
// Inputs that must not stop the report.

/// `mfa-evidence report | head` and `verify | head` used to panic (exit 101) when the reader
/// closed the pipe. Now the run ends quietly with its own exit code.
#[test]
fn a_closed_stdout_ends_report_and_verify_quietly_with_their_code() {
    let work = Workdir::new();
    let export = work.join("export");
    write_export(&export, &graph_users(5, 5));
    Store::new(work.join("evidence-store"))
        .add(&import(&export, as_of()))
        .unwrap();
    let closed_pipe = |args: &[&str]| {
        let mut child = work
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the first line is written, as `head` does after its last.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = closed_pipe(&["report", "--out", "out"]);
    assert_eq!(code, Some(0), "report: {stderr}");
    assert!(stderr.is_empty(), "report wrote to stderr: {stderr}");
    let zip = work.join("out/ID-01_Fabrikam-Test_20261031T060000Z.zip");
    let (code, stderr) = closed_pipe(&["verify", zip.to_str().unwrap()]);
    assert_eq!(code, Some(0), "verify: {stderr}");
    assert!(stderr.is_empty(), "verify wrote to stderr: {stderr}");
}
