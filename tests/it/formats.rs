//! Snapshot folders of both formats: a store written by the first format (`tests/fixtures/
//! store-v1`: raw pages uncompressed and `snapshot.json`) keeps verifying and reporting as it is,
//! alone and with compact snapshots appended to its ledger; and a compact record that disagrees
//! with its raw pages is found by `store verify --deep` and refused by `report`.

use std::path::{Path, PathBuf};

use mfa_evidence::store::{Depth, Format, Store};

use crate::util::{
    TENANT_ID, Workdir, assert_contains, assert_same, entry, graph_users, hours_after, import,
    package_in, sha256_hex, write_export, zip_entries,
};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v1");
const FIXTURE_TENANT: &str = "5029c533-2b86-47ed-8a19-bc2496f91d0b";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The fixture's configuration with its store at `store`, written to `wd/<name>.toml`.
fn config(wd: &Workdir, name: &str, store: &Path) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(FIXTURE).join("mfa-evidence.toml")).unwrap();
    let path = wd.join(&format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "{text}\n[store]\npath = {:?}\n",
            store.display().to_string()
        ),
    )
    .unwrap();
    path
}

/// A copy of the fixture store in `wd/old-store`, and its config.
fn old_store(wd: &Workdir) -> (Store, PathBuf) {
    let dir = wd.join("old-store");
    copy_dir(&Path::new(FIXTURE).join("store"), &dir);
    let config = config(wd, "old", &dir);
    (Store::new(dir), config)
}

fn run(wd: &Workdir, config: &Path, args: &[&str]) -> crate::util::Run {
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    wd.run(&all)
}

#[test]
fn a_store_of_the_first_format_reports_what_a_compact_store_of_the_same_snapshots_reports() {
    let wd = Workdir::new();
    let (old, old_config) = old_store(&wd);
    let ledger = old.ledger(FIXTURE_TENANT).unwrap();
    assert_eq!(ledger.len(), 3);
    assert!(ledger.iter().all(|s| s.format() == Format::Plain));
    run(&wd, &old_config, &["store", "verify"])
        .expect_code(0)
        .expect_output("3 snapshots, chain intact");
    run(&wd, &old_config, &["store", "verify", "--deep"])
        .expect_code(0)
        .expect_output("each derived again from its raw pages");
    run(&wd, &old_config, &["report", "--out", "out-old"]).expect_code(1);

    // The same snapshots imported into a new store, from the raw pages the old one kept.
    let new_dir = wd.join("new-store");
    let new_config = config(&wd, "new", &new_dir);
    for s in &ledger {
        let raw = s.raw_dir();
        let at = mfa_evidence::time::secs_text(s.entry.collected_at);
        run(
            &wd,
            &new_config,
            &[
                "import",
                "--no-notify",
                "--dir",
                raw.to_str().unwrap(),
                "--collected-at",
                &at,
            ],
        )
        .expect_code(0);
    }
    let new = Store::new(&new_dir);
    let new_ledger = new.ledger(FIXTURE_TENANT).unwrap();
    assert!(new_ledger.iter().all(|s| s.format() == Format::Compact));
    run(&wd, &new_config, &["report", "--out", "out-new"]).expect_code(1);

    let old_zip = package_in(&wd.join("out-old"));
    let new_zip = package_in(&wd.join("out-new"));
    assert_eq!(old_zip.file_name(), new_zip.file_name());
    let (old_entries, new_entries) = (zip_entries(&old_zip), zip_entries(&new_zip));
    let names = |e: &[(String, Vec<u8>)]| e.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_same("entries", &names(&old_entries), &names(&new_entries));
    // Only the hashes that name each stored form differ: the snapshot's and its ledger line's
    // (and the config file's, which names another store). The files that hash other files
    // (manifest.json, SHA256SUMS, the OSCAL documents) and the PDF, rendered from evidence.json,
    // follow from the rest.
    let config_hash = |p: &Path| sha256_hex(std::fs::read(p).unwrap().as_slice());
    let mut renames = vec![(config_hash(&old_config), config_hash(&new_config))];
    for (o, n) in ledger.iter().zip(&new_ledger) {
        renames.push((
            o.entry.snapshot_sha256.clone(),
            n.entry.snapshot_sha256.clone(),
        ));
        renames.push((o.line_sha256.clone(), n.line_sha256.clone()));
    }
    let renamed = |bytes: &[u8]| match String::from_utf8(bytes.to_vec()) {
        Ok(mut text) => {
            for (o, n) in &renames {
                text = text.replace(o, n);
            }
            text.into_bytes()
        }
        Err(_) => bytes.to_vec(),
    };
    for ((name, bytes), (_, new_bytes)) in old_entries.iter().zip(&new_entries) {
        let rel = name.split_once('/').map_or(name.as_str(), |(_, r)| r);
        let hashing = ["manifest.json", "SHA256SUMS", "report.pdf"];
        if hashing.contains(&rel) || rel.starts_with("oscal/") {
            continue;
        }
        let expected = renamed(bytes);
        if expected != *new_bytes {
            assert_same(
                name,
                &String::from_utf8_lossy(&expected),
                &String::from_utf8_lossy(new_bytes),
            );
        }
    }
    assert_ne!(
        entry(&old_entries, "evidence.json"),
        entry(&new_entries, "evidence.json"),
        "the stored forms are named by their own hashes"
    );
    // raw/ is what Graph returned, from either store.
    let pages = old.ledger(FIXTURE_TENANT).unwrap()[2].raw_pages().unwrap();
    for name in pages.names() {
        let stored = std::fs::read(ledger[2].raw_dir().join(name)).unwrap();
        assert!(entry(&new_entries, &format!("raw/{name}")) == stored.as_slice());
    }
}

#[test]
fn a_mixed_ledger_verifies_reports_and_names_what_was_changed_in_either_format() {
    let wd = Workdir::new();
    let (store, config) = old_store(&wd);
    let newest_raw = store.ledger(FIXTURE_TENANT).unwrap()[2].raw_dir();
    for at in ["2026-11-03T06:00:00Z", "2026-11-04T06:00:00Z"] {
        run(
            &wd,
            &config,
            &[
                "import",
                "--no-notify",
                "--dir",
                newest_raw.to_str().unwrap(),
                "--collected-at",
                at,
            ],
        )
        .expect_code(0);
    }
    let ledger = store.ledger(FIXTURE_TENANT).unwrap();
    let formats: Vec<Format> = ledger.iter().map(|s| s.format()).collect();
    use Format::{Compact, Plain};
    assert_same(
        "formats",
        &vec![Plain, Plain, Plain, Compact, Compact],
        &formats,
    );
    run(&wd, &config, &["store", "verify"])
        .expect_code(0)
        .expect_output("5 snapshots, chain intact");
    run(&wd, &config, &["store", "verify", "--deep"]).expect_code(0);
    run(&wd, &config, &["report", "--out", "out"])
        .expect_code(1)
        .expect_output("(5 snapshots");
    // The compact snapshots give the old one's figure for the same pages.
    assert_same(
        "figure",
        &ledger[2].load().unwrap().registrations,
        &ledger[4].load().unwrap().registrations,
    );

    // A changed page of a plain folder, then its snapshot.json, each named.
    let page = ledger[1].raw_dir().join("users-0001.json");
    let original = std::fs::read(&page).unwrap();
    let mut bytes = original.clone();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&page, &bytes).unwrap();
    run(&wd, &config, &["store", "verify"])
        .expect_code(1)
        .expect_output("raw/users-0001.json was changed")
        .expect_output(&ledger[1].entry.folder);
    std::fs::write(&page, &original).unwrap();
    let snapshot_json = ledger[0].dir.join("snapshot.json");
    let text = std::fs::read_to_string(&snapshot_json).unwrap();
    std::fs::write(&snapshot_json, text.replacen("Contoso", "Kontoso", 1)).unwrap();
    run(&wd, &config, &["store", "verify"])
        .expect_code(1)
        .expect_output("snapshot.json was changed")
        .expect_output(&ledger[0].entry.folder);
    std::fs::write(&snapshot_json, text).unwrap();
    // A changed compressed page of a compact folder is named as stored.
    let packed = ledger[3]
        .raw_dir()
        .join("userRegistrationDetails-0001.json.zst");
    flip_a_byte(&packed);
    run(&wd, &config, &["store", "verify"])
        .expect_code(1)
        .expect_output("raw/userRegistrationDetails-0001.json.zst was changed")
        .expect_output(&ledger[3].entry.folder);
}

/// Changes one bit in the middle of `file`, as a disk error or a careless edit would.
fn flip_a_byte(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(file, &bytes).unwrap();
}

/// Replaces `file` in a compact folder and recomputes its SHA256SUMS and its ledger line (the
/// last, so no later line chains to it), as a forger with write access would.
fn forge(store: &Store, folder: &Path, file: &str, bytes: &[u8]) {
    let old_sums = std::fs::read_to_string(folder.join("SHA256SUMS")).unwrap();
    let old_hash = sha256_hex(std::fs::read(folder.join(file)).unwrap().as_slice());
    std::fs::write(folder.join(file), bytes).unwrap();
    let sums = old_sums.replace(&old_hash, &sha256_hex(bytes));
    assert_ne!(sums, old_sums);
    std::fs::write(folder.join("SHA256SUMS"), &sums).unwrap();
    let ledger_path = store.root().join(TENANT_ID).join("ledger.jsonl");
    let text = std::fs::read_to_string(&ledger_path).unwrap();
    let edited = text.replace(
        &sha256_hex(old_sums.as_bytes()),
        &sha256_hex(sums.as_bytes()),
    );
    assert_ne!(edited, text);
    std::fs::write(&ledger_path, edited).unwrap();
}

#[test]
fn a_compact_record_that_disagrees_with_its_raw_pages_is_found_by_deep_and_refused_by_report() {
    let wd = Workdir::new();
    let export = wd.join("export");
    write_export(&export, &graph_users(20, 18));
    let store = Store::new(wd.join("evidence-store"));
    for i in 0..2 {
        store.add(&import(&export, hours_after(i))).unwrap();
    }
    // The same collection with every user registered, stored aside: its record's body is what
    // the forger puts in place of the newest one's.
    let better = wd.join("better");
    write_export(&better, &graph_users(20, 20));
    let aside = Store::new(wd.join("aside"));
    let forged = aside.add(&import(&better, hours_after(1))).unwrap();
    let body = std::fs::read(forged.dir.join("record.bin.zst")).unwrap();
    let newest = store.ledger(TENANT_ID).unwrap()[1].clone();
    forge(&store, &newest.dir, "record.bin.zst", &body);

    // What is stored is consistent with itself and the ledger: the default mode cannot tell.
    assert_same("default", &None, &store.verify(TENANT_ID).unwrap().broken);
    let deep = store
        .verify_with(TENANT_ID, Depth::Deep, None, None)
        .unwrap();
    assert_contains(
        "deep",
        &deep.broken.expect("the disagreement is found"),
        &[
            &newest.entry.folder,
            "ledger line 2",
            "compact record disagrees with its raw pages (registration rows)",
        ],
    );
    assert_eq!(deep.verified, 1);
    wd.run(&["store", "verify", "--deep"])
        .expect_code(1)
        .expect_output("compact record disagrees with its raw pages");
    // The point in time is computed from the raw pages, which refuse the forged record.
    let refused = wd.run(&[
        "report",
        "--as-of",
        &crate::util::rfc3339(hours_after(1)),
        "--out",
        "out",
    ]);
    refused
        .expect_code(2)
        .expect_output("disagrees with its raw pages")
        .expect_output("store verify --deep");
    assert!(!wd.join("out").exists() || the_zip_absent(&wd.join("out")));
}

fn the_zip_absent(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .all(|e| e.unwrap().path().extension().is_none_or(|x| x != "zip"))
}

const RECORD1_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-record1");
const RECORD1_TENANT: &str = "3760bcda-17d1-4579-9c52-46765348c4f5";

/// The record format a compact folder's `record.json` names.
fn record_format(dir: &Path) -> u64 {
    let head: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("record.json")).unwrap()).unwrap();
    head["record_format"].as_u64().expect("a record format")
}

#[test]
fn a_store_of_the_first_compact_record_verifies_reports_and_takes_snapshots_of_the_current_one() {
    let wd = Workdir::new();
    let dir = wd.join("record1-store");
    copy_dir(&Path::new(RECORD1_FIXTURE).join("store"), &dir);
    let text =
        std::fs::read_to_string(Path::new(RECORD1_FIXTURE).join("mfa-evidence.toml")).unwrap();
    let config = wd.join("record1.toml");
    std::fs::write(
        &config,
        format!("{text}\n[store]\npath = {:?}\n", dir.display().to_string()),
    )
    .unwrap();
    let store = Store::new(&dir);
    run(&wd, &config, &["store", "verify", "--deep"])
        .expect_code(0)
        .expect_output("2 snapshots, chain intact, each derived again from its raw pages");

    // The newest snapshot's pages collected again, stored in the current record format.
    let pages = store.ledger(RECORD1_TENANT).unwrap()[1]
        .raw_pages()
        .unwrap();
    run(
        &wd,
        &config,
        &[
            "import",
            "--no-notify",
            "--dir",
            pages.dir().to_str().unwrap(),
            "--collected-at",
            "2026-11-02T06:00:00Z",
        ],
    )
    .expect_code(0);
    let ledger = store.ledger(RECORD1_TENANT).unwrap();
    let formats: Vec<u64> = ledger.iter().map(|s| record_format(&s.dir)).collect();
    assert_same("record formats", &vec![1, 1, 2], &formats);
    run(&wd, &config, &["store", "verify", "--deep"])
        .expect_code(0)
        .expect_output("3 snapshots, chain intact, each derived again from its raw pages");
    // Both records read back to the snapshot of the same pages.
    let (old, new) = (ledger[1].load().unwrap(), ledger[2].load().unwrap());
    assert_same("users", &old.users, &new.users);
    assert_same("registration rows", &old.registrations, &new.registrations);
    assert_same("audit events", &old.audit_events, &new.audit_events);
    let report = run(&wd, &config, &["report", "--out", "out"]);
    report.expect_output("(3 snapshots");
    assert!(matches!(report.code, Some(0 | 1)), "{}", report.stderr);
    assert!(!the_zip_absent(&wd.join("out")));

    // A changed body of the old record format is named as stored.
    let body = ledger[0].dir.join("record.bin.zst");
    flip_a_byte(&body);
    run(&wd, &config, &["store", "verify"])
        .expect_code(1)
        .expect_output("record.bin.zst was changed")
        .expect_output(&ledger[0].entry.folder);
}
