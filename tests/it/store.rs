//! The evidence store: append-only history whose ledger chains every snapshot by SHA-256. Each
//! test changes the store the way an accident or an attacker would and checks what
//! `Store::verify` (and `mfa-evidence store verify`) says about it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use chrono::NaiveDate;
use mfa_evidence::config::{ControlSettings, Exception};
use mfa_evidence::demo::synth::{self, TenantSpec};
use mfa_evidence::evaluate::evaluate;
use mfa_evidence::evaluate::period::SnapshotPoint;
use mfa_evidence::snapshot::GroupMember;
use mfa_evidence::source::{Source, SourceStatus};
use mfa_evidence::store::{GENESIS, Store};
use mfa_evidence::time::secs_text;

use crate::util::{
    TENANT_ID, Workdir, assert_contains, assert_same, graph_users, hours_after, import, rfc3339,
    write_export,
};

/// A small export folder (20 users) under `root/export`.
fn export(root: &Path) -> PathBuf {
    let dir = root.join("export");
    write_export(&dir, &graph_users(20, 19));
    dir
}

/// A store under `root/store` holding `n` snapshots of the export, an hour apart.
fn store_with(root: &Path, n: i64) -> (Store, PathBuf) {
    let dir = export(root);
    let store = Store::new(root.join("store"));
    for i in 0..n {
        store.add(&import(&dir, hours_after(i))).unwrap();
    }
    (store, dir)
}

fn tenant_dir(store: &Store) -> PathBuf {
    store.root().join(TENANT_ID)
}

/// A period reads a record of the current format straight from its columns. Whatever the
/// snapshot holds (an id that is not a GUID in Graph's form, a report row whose UPN is not its
/// user's, two rows for one user, a row without a user, a guest known only to the report, a
/// break-glass group) and whatever the settings, that reading gives the point the whole snapshot
/// gives, with the figure and result of the point-in-time evaluation.
#[test]
fn a_period_reads_a_compact_record_as_the_whole_snapshot() {
    let work = Workdir::new();
    let mut imported = import(&export(work.path()), hours_after(0));
    let snap = &mut imported.snapshot;
    let mut odd = snap.users[0].clone();
    odd.id = "C5DA065A-DCA6-4B5F-881D-757FE3A04CE5".into();
    odd.user_principal_name = "Odd.Case@Fabrikam.test".into();
    let mut odd_row = snap.registrations[0].clone();
    (odd_row.id, odd_row.user_principal_name) = (odd.id.clone(), odd.user_principal_name.clone());
    let mut renamed_row = snap.registrations[1].clone();
    renamed_row.user_principal_name = "renamed@fabrikam.test".into();
    // A second row for user 2, later: the one that counts, with no qualifying method.
    let mut second_row = snap.registrations[2].clone();
    second_row.methods_registered = vec!["email".into()];
    let mut orphan_row = snap.registrations[3].clone();
    orphan_row.id = "ffffffff-0000-0000-0000-000000000000".into();
    snap.users[4].user_type = String::new();
    let guest_row = snap
        .registrations
        .iter_mut()
        .find(|r| r.id == snap.users[4].id)
        .unwrap();
    guest_row.user_type = "guest".into();
    snap.users[5].account_enabled = Some(false);
    snap.users.push(odd);
    snap.registrations.remove(1);
    snap.registrations
        .extend([odd_row, renamed_row, second_row, orphan_row]);
    snap.users.sort_by(|a, b| a.id.cmp(&b.id));
    snap.registrations.sort_by(|a, b| a.id.cmp(&b.id));
    snap.break_glass_members = Some(vec![GroupMember {
        id: snap.users[6].id.clone(),
        user_principal_name: snap.users[6].user_principal_name.clone(),
    }]);
    for source in &mut snap.collection.sources {
        if source.name == Source::BreakGlass {
            source.status = SourceStatus::Collected;
        }
    }
    let (first, ninth) = (snap.users[1].clone(), snap.users[9].clone());
    let stored = Store::new(work.join("store")).add(&imported).unwrap();
    let whole = stored.load().unwrap();

    let mut settings = Vec::new();
    settings.push(ControlSettings::default());
    let mut listed = ControlSettings::default();
    listed.break_glass.user_ids = vec!["c5da065a-dca6-4b5f-881d-757fe3a04ce5".into()];
    listed.break_glass.upns = vec![first.user_principal_name.to_uppercase()];
    listed.break_glass.group_id = Some("00000000-0000-0000-0000-0000000000aa".into());
    listed.exceptions = vec![Exception {
        user_id: None,
        upn: Some(ninth.user_principal_name.clone()),
        reason: "leave".into(),
        approved_by: "ciso@fabrikam.test".into(),
        expires: NaiveDate::from_ymd_opt(2099, 1, 1).unwrap(),
    }];
    settings.push(listed.clone());
    listed.include_guests = true;
    listed.exceptions[0].expires = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    settings.push(listed);

    for settings in &settings {
        let read = stored.load_point(settings).unwrap();
        assert_same("the point", &SnapshotPoint::of(&whole, settings), &read);
        let evaluation = evaluate(&whole, settings);
        assert_eq!(
            (read.figure, read.result),
            (evaluation.figure(), evaluation.result)
        );
        let rows: Vec<_> = read.rows().collect();
        assert_eq!(rows.len(), whole.users.len());
        assert!(
            rows.iter()
                .any(|r| r.id == "C5DA065A-DCA6-4B5F-881D-757FE3A04CE5")
        );
    }
}

#[test]
fn added_snapshots_verify_and_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, export_dir) = store_with(tmp.path(), 2);
    assert_eq!(store.tenants().unwrap(), vec![TENANT_ID.to_string()]);
    let report = store.verify(TENANT_ID).unwrap();
    assert_same("broken", &None, &report.broken);
    assert_same("notes", &Vec::<String>::new(), &report.notes);
    assert_eq!(report.verified, 2);

    let ledger = store.ledger(TENANT_ID).unwrap();
    let got: Vec<(u64, String, String)> = ledger
        .iter()
        .map(|s| {
            (
                s.entry.sequence,
                s.entry.folder.clone(),
                secs_text(s.entry.collected_at),
            )
        })
        .collect();
    assert_same(
        "ledger",
        &vec![
            (
                1,
                "000001-20261031T060000Z".to_string(),
                "2026-10-31T06:00:00Z".to_string(),
            ),
            (
                2,
                "000002-20261031T070000Z".to_string(),
                "2026-10-31T07:00:00Z".to_string(),
            ),
        ],
        &got,
    );
    assert_eq!(ledger[0].entry.prev_line_sha256, GENESIS);
    assert_eq!(ledger[1].entry.prev_line_sha256, ledger[0].line_sha256);
    for s in &ledger {
        store.check_snapshot(s).unwrap();
        let snap = s.load().unwrap();
        assert_eq!(snap.collected_at, s.entry.collected_at);
        assert_eq!(snap.users.len(), 20);
        // The raw pages are kept byte for byte, compressed.
        assert!(s.raw_dir().join("users-0001.json.zst").is_file());
        let pages = s.raw_pages().unwrap();
        assert!(pages.names().any(|n| n == "users-0001.json"));
        for name in pages.names() {
            assert_eq!(
                std::fs::read(pages.dir().join(name)).unwrap(),
                std::fs::read(export_dir.join(name)).unwrap(),
                "{name}"
            );
        }
    }
}

#[test]
fn the_first_broken_link_is_named_whatever_breaks_later() {
    // Snapshots are checked on several threads; the report must still name the earliest break.
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = store_with(tmp.path(), 12);
    let ledger = store.ledger(TENANT_ID).unwrap();
    for i in [4, 8, 10] {
        let page = ledger[i].raw_dir().join("users-0001.json.zst");
        let mut bytes = std::fs::read(&page).unwrap();
        bytes[10] ^= 0x01;
        std::fs::write(&page, bytes).unwrap();
    }
    let ledger_file = tenant_dir(&store).join("ledger.jsonl");
    let text = std::fs::read_to_string(&ledger_file).unwrap();
    let edited = text.replacen("\"sequence\":12", "\"sequence\":13", 1);
    assert_ne!(edited, text);
    std::fs::write(&ledger_file, edited).unwrap();

    for _ in 0..5 {
        let report = store.verify(TENANT_ID).unwrap();
        let broken = report.broken.expect("the changes are detected");
        assert_contains(
            "first break",
            &broken,
            &[&ledger[4].entry.folder, "ledger line 5"],
        );
        assert_eq!(report.verified, 4);
    }

    // Mend the snapshots: the chain's own break, at line 12, is next.
    for i in [4, 8, 10] {
        let page = ledger[i].raw_dir().join("users-0001.json.zst");
        let mut bytes = std::fs::read(&page).unwrap();
        bytes[10] ^= 0x01;
        std::fs::write(&page, bytes).unwrap();
    }
    let report = store.verify(TENANT_ID).unwrap();
    assert_contains(
        "chain break",
        &report.broken.expect("the edited line is detected"),
        &["ledger line 12 carries sequence 13"],
    );
    assert_eq!(report.verified, 11);
}

#[test]
fn a_changed_byte_in_a_raw_page_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = store_with(tmp.path(), 2);
    let first = &store.ledger(TENANT_ID).unwrap()[0];
    let page = first
        .raw_dir()
        .join("userRegistrationDetails-0001.json.zst");
    let mut bytes = std::fs::read(&page).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&page, bytes).unwrap();

    let report = store.verify(TENANT_ID).unwrap();
    let broken = report.broken.expect("the change is detected");
    assert_contains(
        "verify",
        &broken,
        &[
            "raw/userRegistrationDetails-0001.json.zst",
            "000001-20261031T060000Z",
        ],
    );
    assert_eq!(report.verified, 0);
    let why = store.check_snapshot(first).unwrap_err();
    assert_contains(
        "check_snapshot",
        &why,
        &["raw/userRegistrationDetails-0001.json.zst"],
    );
}

#[test]
fn a_changed_compact_record_or_an_added_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = store_with(tmp.path(), 1);
    let s = &store.ledger(TENANT_ID).unwrap()[0];
    std::fs::write(s.raw_dir().join("users-0002.json.zst"), b"(added)").unwrap();
    let broken = store.verify(TENANT_ID).unwrap().broken.unwrap();
    assert_contains("added file", &broken, &["raw/users-0002.json.zst", "added"]);
    std::fs::remove_file(s.raw_dir().join("users-0002.json.zst")).unwrap();

    // Each stored form of the record, changed, is named.
    let head = s.dir.join("record.json");
    let text = std::fs::read_to_string(&head).unwrap();
    let edited = text.replacen(crate::util::TENANT_NAME, "Someone Else", 1);
    assert_ne!(edited, text);
    std::fs::write(&head, edited).unwrap();
    let broken = store.verify(TENANT_ID).unwrap().broken.unwrap();
    assert_contains("record.json", &broken, &["record.json was changed"]);
    std::fs::write(&head, text).unwrap();

    let body = s.dir.join("record.bin.zst");
    let original = std::fs::read(&body).unwrap();
    let mut bytes = original.clone();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&body, bytes).unwrap();
    let broken = store.verify(TENANT_ID).unwrap().broken.unwrap();
    assert_contains("record.bin.zst", &broken, &["record.bin.zst was changed"]);
    std::fs::write(&body, original).unwrap();
    assert_same("mended", &None, &store.verify(TENANT_ID).unwrap().broken);
}

#[test]
fn a_deleted_snapshot_folder_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = store_with(tmp.path(), 3);
    let second = store.ledger(TENANT_ID).unwrap()[1].dir.clone();
    std::fs::remove_dir_all(&second).unwrap();
    let report = store.verify(TENANT_ID).unwrap();
    let broken = report.broken.expect("the deletion is detected");
    assert_contains(
        "verify",
        &broken,
        &["000002-20261031T070000Z", "ledger line 2", "deleted"],
    );
    assert_eq!(report.verified, 1);
}

#[test]
fn an_edited_ledger_line_breaks_the_chain_at_the_next_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = store_with(tmp.path(), 3);
    let path = tenant_dir(&store).join("ledger.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    // Who recorded the first line: still valid JSON, and nothing the snapshot itself holds.
    let recorded_by = format!("\"recorded_by\":\"{}\"", mfa_evidence::tool_id());
    let edited = text.replacen(&recorded_by, "\"recorded_by\":\"someone else\"", 1);
    assert_ne!(text, edited);
    std::fs::write(&path, edited).unwrap();
    let report = store.verify(TENANT_ID).unwrap();
    let broken = report.broken.expect("the edit is detected");
    assert_contains("verify", &broken, &["ledger line 2", "does not chain"]);
    assert_eq!(report.verified, 1);

    // A removed line shows as a sequence gap.
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    let broken = store.verify(TENANT_ID).unwrap().broken.unwrap();
    assert_contains("removed line", &broken, &["ledger line 2", "sequence 3"]);
}

#[test]
fn an_edited_last_ledger_line_is_detected() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = store_with(tmp.path(), 2);
    let path = tenant_dir(&store).join("ledger.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    // No line chains to the last one, so its own fields must agree with its snapshot.
    let edited = text.replacen("2026-10-31T07:00:00Z", "2026-11-30T07:00:00Z", 1);
    assert_ne!(text, edited);
    std::fs::write(&path, edited).unwrap();
    let report = store.verify(TENANT_ID).unwrap();
    let broken = report.broken.expect("the edit is detected");
    assert_contains(
        "verify",
        &broken,
        &[
            "ledger line 2",
            "2026-11-30T07:00:00Z",
            "2026-10-31T07:00:00Z",
        ],
    );
    assert_eq!(report.verified, 1);
}

#[test]
fn leftovers_of_a_crash_leave_the_store_valid_and_the_next_add_works() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, dir) = store_with(tmp.path(), 1);
    let tenant = tenant_dir(&store);
    // A write that died before its rename, and one that died after it but before its ledger
    // line (a collection of another time than the next add's).
    let tmp_dir = tenant.join(".tmp-000002-20261031T070000Z");
    std::fs::create_dir_all(tmp_dir.join("raw")).unwrap();
    std::fs::write(tmp_dir.join("raw/users-0001.json"), b"{\"val").unwrap();
    let renamed = tenant.join("snapshots/000002-20261031T065000Z");
    std::fs::create_dir_all(renamed.join("raw")).unwrap();
    std::fs::write(renamed.join("snapshot.json"), b"{}").unwrap();

    let report = store.verify(TENANT_ID).unwrap();
    assert_same("broken", &None, &report.broken);
    assert_eq!(report.verified, 1);
    assert_eq!(report.notes.len(), 2, "{:#?}", report.notes);
    assert_contains(
        "notes",
        &report.notes.join("\n"),
        &[
            ".tmp-000002-20261031T070000Z",
            "snapshots/000002-20261031T065000Z",
        ],
    );

    let stored = store
        .add(&import(&dir, crate::util::hours_after(1)))
        .unwrap();
    assert_eq!(stored.entry.sequence, 2);
    assert_eq!(stored.entry.folder, "000002-20261031T070000Z");
    let report = store.verify(TENANT_ID).unwrap();
    assert_same("broken", &None, &report.broken);
    assert_same("notes", &Vec::<String>::new(), &report.notes);
    assert_eq!(report.verified, 2);
    assert!(!tmp_dir.exists());
    assert!(!renamed.exists());
    assert_eq!(stored.load().unwrap().users.len(), 20);
}

#[test]
fn a_torn_ledger_append_never_counted_and_the_next_add_works() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, dir) = store_with(tmp.path(), 1);
    let ledger = tenant_dir(&store).join("ledger.jsonl");
    // A write cut short by a crash (power loss): part of a line, no newline.
    let mut text = std::fs::read_to_string(&ledger).unwrap();
    text.push_str("{\"sequence\":2,\"folder\":\"000002-2026");
    std::fs::write(&ledger, &text).unwrap();

    let report = store.verify(TENANT_ID).unwrap();
    assert_same("broken", &None, &report.broken);
    assert_eq!(report.verified, 1);
    assert_contains("notes", &report.notes.join("\n"), &["interrupted"]);
    assert_eq!(store.ledger(TENANT_ID).unwrap().len(), 1);

    let stored = store.add(&import(&dir, hours_after(1))).unwrap();
    assert_eq!(stored.entry.sequence, 2);
    let report = store.verify(TENANT_ID).unwrap();
    assert_same("broken", &None, &report.broken);
    assert_same("notes", &Vec::<String>::new(), &report.notes);
    assert_eq!(report.verified, 2);
}

#[test]
fn an_older_snapshot_after_a_newer_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = export(tmp.path());
    let store = Store::new(tmp.path().join("store"));
    store.add(&import(&dir, hours_after(5))).unwrap();
    for older in [hours_after(4), hours_after(5)] {
        let err = store.add(&import(&dir, older)).unwrap_err();
        assert_contains(
            "refusal",
            &format!("{err:#}"),
            &["append-only", &rfc3339(older), "2026-10-31T11:00:00Z"],
        );
    }
    assert_eq!(store.ledger(TENANT_ID).unwrap().len(), 1);
    assert_eq!(store.verify(TENANT_ID).unwrap().verified, 1);
    store.add(&import(&dir, hours_after(6))).unwrap();
    assert_eq!(store.verify(TENANT_ID).unwrap().verified, 2);
}

/// Two writers add snapshots of different times to one store at once. The lock serialises them:
/// the ledger never holds two lines of one sequence. When the newer one wins the race the older
/// is refused (history is append-only), so rounds are repeated, the newer writer held back a
/// little more each time, until one ends with both.
#[test]
fn two_concurrent_writers_serialise() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = export(tmp.path());
    let mut both_rounds = 0;
    for round in 0..24u64 {
        let store = Arc::new(Store::new(tmp.path().join(format!("store-{round}"))));
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = [0i64, 1]
            .into_iter()
            .map(|h| {
                let (store, barrier) = (store.clone(), barrier.clone());
                let imported = import(&dir, hours_after(h));
                std::thread::spawn(move || {
                    barrier.wait();
                    // The newer writer starts a little later each round, so that on a machine
                    // where it would always win, a round still comes where the older one does.
                    if h == 1 {
                        std::thread::sleep(std::time::Duration::from_millis(5 * round));
                    }
                    store.add(&imported).map_err(|e| format!("{e:#}"))
                })
            })
            .collect();
        let results: Vec<Result<_, String>> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        let report = store.verify(TENANT_ID).unwrap();
        assert_same("broken", &None, &report.broken);
        assert_same("notes", &Vec::<String>::new(), &report.notes);
        let ledger: Vec<(u64, String)> = store
            .ledger(TENANT_ID)
            .unwrap()
            .iter()
            .map(|s| (s.entry.sequence, secs_text(s.entry.collected_at)))
            .collect();
        match (&results[0], &results[1]) {
            (Ok(_), Ok(_)) => {
                both_rounds += 1;
                assert_same(
                    "ledger",
                    &vec![
                        (1, "2026-10-31T06:00:00Z".to_string()),
                        (2, "2026-10-31T07:00:00Z".to_string()),
                    ],
                    &ledger,
                );
            }
            (Err(older), Ok(_)) => {
                assert_contains("older refused", older, &["append-only"]);
                assert_same(
                    "ledger",
                    &vec![(1, "2026-10-31T07:00:00Z".to_string())],
                    &ledger,
                );
            }
            other => panic!("round {round}: unexpected outcome {other:#?}"),
        }
        if both_rounds >= 3 {
            break;
        }
    }
    assert!(both_rounds > 0, "no round ended with both snapshots");
}

/// Two processes importing into one store at once: the same serialisation across processes.
#[test]
fn two_concurrent_imports_by_the_binary_serialise() {
    let work = Workdir::new();
    let dir = export(work.path());
    let dir = dir.to_str().unwrap();
    let times = [rfc3339(hours_after(0)), rfc3339(hours_after(1))];
    let children: Vec<_> = times
        .iter()
        .map(|t| {
            work.command(&["import", "--dir", dir, "--collected-at", t])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let ok = outputs.iter().filter(|o| o.status.success()).count();
    assert!(ok >= 1, "{outputs:#?}");
    for o in outputs.iter().filter(|o| !o.status.success()) {
        assert_eq!(o.status.code(), Some(2));
        assert_contains(
            "refusal",
            &String::from_utf8_lossy(&o.stderr),
            &["append-only"],
        );
    }
    work.run(&["store", "verify"])
        .expect_code(0)
        .expect_output(&format!(
            "{ok} {}, chain intact",
            if ok == 1 { "snapshot" } else { "snapshots" }
        ));
}

/// The synthetic 30,000-user tenant the kill test imports, written once per test run.
fn big_tenant(root: &Path) -> PathBuf {
    let dir = root.join("big");
    let spec = TenantSpec::new(30_000, 7, hours_after(0));
    synth::write_tenant(&spec, &dir).unwrap();
    dir
}

#[test]
fn a_killed_import_leaves_the_store_valid() {
    let work = Workdir::new();
    let dir = big_tenant(work.path());
    let dir = dir.to_str().unwrap();
    let mut hour = 0;
    let mut stored = 0u64;
    for delay_ms in [5u64, 30, 80, 150, 250, 400, 600] {
        hour += 1;
        let t = rfc3339(hours_after(hour));
        let mut child = work
            .command(&["import", "--dir", dir, "--collected-at", &t])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            stored += 1;
        }
        let check = work.run(&["store", "verify"]);
        match check.code {
            Some(0) => {
                // The killed write may have finished its ledger line just before the kill.
                let intact = check.stdout.lines().find(|l| l.contains("chain intact"));
                let n: u64 = intact
                    .and_then(|l| l.split(": ").nth(1))
                    .and_then(|l| l.split(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("after a kill at {delay_ms} ms: {check:#?}"));
                assert!(n >= stored, "after a kill at {delay_ms} ms: {check:#?}");
                stored = n;
            }
            Some(2) if stored == 0 => {
                check.expect_output("no snapshot is stored");
            }
            _ => panic!("after a kill at {delay_ms} ms the store does not verify: {check:#?}"),
        }
    }
    hour += 1;
    work.run(&[
        "import",
        "--dir",
        dir,
        "--collected-at",
        &rfc3339(hours_after(hour)),
    ])
    .expect_code(0)
    .expect_output(&format!("stored snapshot {}", stored + 1));
    work.run(&["store", "verify"])
        .expect_code(0)
        .expect_output(&format!(
            "{} {}, chain intact",
            stored + 1,
            if stored == 0 { "snapshot" } else { "snapshots" }
        ));
}
