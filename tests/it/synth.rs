//! The synthetic tenant generator, the committed sample tenant, the demo history and the demo
//! fixtures, checked from the files they write (parsed here with serde_json, not with the tool's
//! importer).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use mfa_evidence::config::Config;
use mfa_evidence::control::methods;
use mfa_evidence::demo::synth::graph::Source;
use mfa_evidence::demo::synth::{self, TenantSpec};
use mfa_evidence::snapshot::CollectionRecord;
use mfa_evidence::source::{SourceKind, SourceStatus};
use serde_json::Value;

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

fn collected() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 31, 6, 0, 0).unwrap()
}

/// The page files of a source, in order.
fn pages(dir: &Path, source: &str) -> Vec<PathBuf> {
    (1..)
        .map(|n| dir.join(format!("{source}-{n:04}.json")))
        .take_while(|p| p.exists())
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every item of a paged source, checking the Graph page shape on the way: an `@odata.context`,
/// a `value` array, and an absolute `@odata.nextLink` with a `$skiptoken` on every page but the
/// last. Returns the items and the number of pages.
fn items(dir: &Path, source: &str) -> (Vec<Value>, usize) {
    let files = pages(dir, source);
    assert!(!files.is_empty(), "no {source} pages in {}", dir.display());
    let mut all = Vec::new();
    let mut tokens = HashSet::new();
    for (n, file) in files.iter().enumerate() {
        let page = read_json(file);
        let obj = page.as_object().unwrap();
        assert!(
            obj["@odata.context"]
                .as_str()
                .unwrap()
                .starts_with("https://graph.microsoft.com/v1.0/$metadata#"),
            "{}",
            file.display()
        );
        let last = n + 1 == files.len();
        match obj.get("@odata.nextLink") {
            Some(Value::String(link)) => {
                assert!(
                    !last,
                    "{} is the last page but has a nextLink",
                    file.display()
                );
                assert!(
                    link.starts_with("https://graph.microsoft.com/v1.0/"),
                    "{link}"
                );
                let token = link.split("$skiptoken=").nth(1).expect("a $skiptoken");
                assert!(
                    !token.is_empty() && tokens.insert(token.to_string()),
                    "{link}"
                );
            }
            None => assert!(
                last,
                "{} has no nextLink but is not the last page",
                file.display()
            ),
            Some(other) => panic!("nextLink {other}"),
        }
        all.extend(
            obj["value"]
                .as_array()
                .expect("a value array")
                .iter()
                .cloned(),
        );
    }
    (all, files.len())
}

fn provenance(dir: &Path) -> CollectionRecord {
    serde_json::from_slice(&std::fs::read(dir.join("provenance.json")).unwrap()).unwrap()
}

/// Every file of a folder, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The figure of a collection folder, computed from the files: in scope = enabled members that
/// are not break-glass and not under an unexpired exception; registered = holding a method of
/// the default qualifying set.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Figure {
    in_scope: u64,
    registered: u64,
}

impl Figure {
    fn basis_points(self) -> u64 {
        self.registered * 10000 / self.in_scope
    }

    fn passes(self) -> bool {
        self.registered * 10000 >= 9500 * self.in_scope
    }
}

fn figure(dir: &Path, config: &Config, as_of: NaiveDate) -> Figure {
    let qualifying = methods::default_qualifying();
    let (users, _) = items(dir, Source::Users.stem());
    let (rows, _) = items(dir, Source::Registration.stem());
    let (members, _) = items(dir, Source::BreakGlass.stem());
    let break_glass: HashSet<&str> = members.iter().map(|m| m["id"].as_str().unwrap()).collect();
    let registered: HashSet<&str> = rows
        .iter()
        .filter(|r| {
            r["methodsRegistered"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| qualifying.contains(m.as_str().unwrap()))
        })
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let excepted = |u: &Value| {
        config.control.exceptions.iter().any(|e| {
            e.expires >= as_of
                && (e.user_id.as_deref() == u["id"].as_str()
                    || e.upn.as_deref().is_some_and(|upn| {
                        upn.eq_ignore_ascii_case(u["userPrincipalName"].as_str().unwrap())
                    }))
        })
    };
    let mut f = Figure {
        in_scope: 0,
        registered: 0,
    };
    for u in &users {
        let id = u["id"].as_str().unwrap();
        if u["accountEnabled"] != Value::Bool(true)
            || u["userType"] != "Member"
            || break_glass.contains(id)
            || excepted(u)
        {
            continue;
        }
        f.in_scope += 1;
        if registered.contains(id) {
            f.registered += 1;
        }
    }
    f
}

#[test]
fn same_spec_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = TenantSpec::new(2500, 7, collected());
    spec.users_per_page = 500;
    spec.audits_per_page = 10;
    let a = synth::write_tenant(&spec, &tmp.path().join("a")).unwrap();
    let b = synth::write_tenant(&spec, &tmp.path().join("b")).unwrap();
    assert_eq!(a, b);
    assert_eq!(files(&tmp.path().join("a")), files(&tmp.path().join("b")));

    spec.seed = 8;
    synth::write_tenant(&spec, &tmp.path().join("c")).unwrap();
    assert_ne!(
        files(&tmp.path().join("a"))["users-0001.json"],
        files(&tmp.path().join("c"))["users-0001.json"]
    );
}

#[test]
fn a_tenant_is_graph_shaped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let spec = TenantSpec::new(2000, 42, collected());
    let s = synth::write_tenant(&spec, dir).unwrap();

    let (users, user_pages) = items(dir, Source::Users.stem());
    let (rows, row_pages) = items(dir, Source::Registration.stem());
    let (audits, _) = items(dir, Source::Audits.stem());
    let (members, _) = items(dir, Source::BreakGlass.stem());
    assert_eq!(user_pages, 3, "999 + 999 + 2");
    assert_eq!(pages(dir, Source::Users.stem()).len(), 3);
    assert!(row_pages >= 2);
    assert_eq!(users.len() as u64, s.users);
    assert_eq!(users.len(), 2000);
    assert_eq!(rows.len() as u64, s.registration_rows);
    assert_eq!(audits.len() as u64, s.audit_events);
    assert_eq!(members.len(), 2);

    // Field shapes.
    let ids: HashSet<&str> = users.iter().map(|u| u["id"].as_str().unwrap()).collect();
    let upns: HashSet<String> = users
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_lowercase())
        .collect();
    assert_eq!(ids.len(), 2000, "ids are unique");
    assert_eq!(upns.len(), 2000, "user principal names are unique");
    for u in &users {
        let keys: Vec<&str> = u.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "userPrincipalName",
                "displayName",
                "accountEnabled",
                "userType",
                "createdDateTime",
                "onPremisesSyncEnabled"
            ]
        );
        assert!(matches!(u["userType"].as_str(), Some("Member" | "Guest")));
        let created = DateTime::parse_from_rfc3339(u["createdDateTime"].as_str().unwrap()).unwrap();
        assert!(created <= collected());
    }
    let guests = users.iter().filter(|u| u["userType"] == "Guest").count() as u64;
    let disabled = users
        .iter()
        .filter(|u| u["accountEnabled"] == false)
        .count() as u64;
    assert_eq!((guests, disabled), (s.guests, s.disabled));
    assert!((20..=70).contains(&guests), "about 2 % guests: {guests}");
    assert!(
        (30..=100).contains(&disabled),
        "about 3 % disabled: {disabled}"
    );

    // Disabled users are not in the report; every row is a user; userType is lower-case there.
    let enabled: HashSet<&str> = users
        .iter()
        .filter(|u| u["accountEnabled"] == true)
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    for r in &rows {
        assert!(
            enabled.contains(r["id"].as_str().unwrap()),
            "a disabled or unknown user has a row: {r}"
        );
        assert!(matches!(r["userType"].as_str(), Some("member" | "guest")));
        let updated =
            DateTime::parse_from_rfc3339(r["lastUpdatedDateTime"].as_str().unwrap()).unwrap();
        assert!(
            updated <= collected()
                && collected() - updated.with_timezone(&Utc) < chrono::TimeDelta::hours(12)
        );
        assert!(r["methodsRegistered"].is_array());
    }
    assert!(s.missing_from_report > 0);

    // Audit events: newest first, within 30 days, of the documented shape.
    let mut previous = None;
    for a in &audits {
        assert_eq!(a["loggedByService"], "Authentication Methods");
        assert_eq!(a["category"], "UserManagement");
        assert_eq!(a["targetResources"][0]["type"], "User");
        assert!(a["initiatedBy"]["user"]["userPrincipalName"].is_string());
        let t = DateTime::parse_from_rfc3339(a["activityDateTime"].as_str().unwrap()).unwrap();
        assert!(
            t <= collected() && collected() - t.with_timezone(&Utc) <= chrono::TimeDelta::days(30)
        );
        if let Some(p) = previous {
            assert!(t <= p, "audit events are newest first");
        }
        previous = Some(t);
    }

    // The summary, the provenance and the matching config agree with the files.
    let record = provenance(dir);
    assert_eq!(record.source_kind, SourceKind::Sample);
    assert!(
        record
            .sources
            .iter()
            .all(|s| s.status == SourceStatus::Collected && s.requests.is_empty())
    );
    for (name, pages_n, items_n) in &s.pages {
        let src = record
            .sources
            .iter()
            .find(|r| r.name.stem() == name)
            .unwrap();
        assert_eq!((src.pages, src.items), (*pages_n, *items_n), "{name}");
    }
    let users_src = record
        .sources
        .iter()
        .find(|r| r.name == Source::Users)
        .unwrap();
    assert_eq!((users_src.pages, users_src.items), (3, 2000));
    let config = Config::from_toml(&synth::config_toml(&s)).unwrap();
    assert_eq!(
        config.control.break_glass.group_id.as_deref(),
        Some(s.break_glass_group_id.as_str())
    );
    assert_eq!(config.control.exceptions.len(), 2);
    let f = figure(dir, &config, collected().date_naive());
    assert_eq!((f.in_scope, f.registered), (s.in_scope, s.registered));
    let share = f.registered as f64 * 100.0 / f.in_scope as f64;
    assert!((share - spec.target_percent).abs() < 0.2, "{share}");

    // Microsoft's flags disagree with the method rule for some users, as in real tenants.
    assert!(rows.iter().any(|r| r["methodsRegistered"]
        == serde_json::json!(["softwareOneTimePasscode"])
        && r["isMfaRegistered"] == true));
    // Unknown method strings and unicode names appear.
    assert!(rows.iter().any(|r| {
        r["methodsRegistered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| !methods::is_known(m.as_str().unwrap()))
    }));
    assert!(users.iter().any(|u| {
        u["displayName"]
            .as_str()
            .unwrap()
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }));
    assert!(users.iter().any(|u| {
        u["displayName"]
            .as_str()
            .unwrap()
            .chars()
            .any(|c| ('\u{0600}'..='\u{06ff}').contains(&c))
    }));
}

#[test]
fn tiny_and_empty_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let mut spec = TenantSpec::new(16, 3, collected());
    spec.users_per_page = 4;
    spec.audits_per_page = 1;
    let s = synth::write_tenant(&spec, tmp.path()).unwrap();
    let (users, n) = items(tmp.path(), Source::Users.stem());
    assert_eq!((users.len(), n), (16, 4));
    assert_eq!(s.break_glass.len(), 2);
    assert!(synth::write_tenant(&TenantSpec::new(15, 3, collected()), tmp.path()).is_err());
}

#[test]
fn committed_samples_are_current() {
    let tmp = tempfile::tempdir().unwrap();
    let s = synth::write_samples(tmp.path()).unwrap();
    let committed = files(&samples_dir());
    let fresh = files(tmp.path());
    for (name, bytes) in &fresh {
        assert!(
            committed.get(name) == Some(bytes),
            "samples/{name} differs from what the generator writes: run `cargo run --release --example gen_tenant -- samples`"
        );
    }
    let extra: Vec<&String> = committed
        .keys()
        .filter(|k| !fresh.contains_key(*k) && *k != "README.md")
        .collect();
    assert!(
        extra.is_empty(),
        "files in samples/ the generator does not write: {extra:?}"
    );
    let size: usize = committed.values().map(Vec::len).sum();
    assert!(size < 1_000_000, "samples/ is {size} bytes");

    // The sample's facts, from the files.
    let config = Config::from_file(&samples_dir().join("mfa-evidence.toml")).unwrap();
    let f = figure(&samples_dir(), &config, collected().date_naive());
    assert_eq!((f.in_scope, f.registered), (s.in_scope, s.registered));
    assert!(f.passes(), "the sample passes: {f:?}");
    assert!(f.basis_points() < 9600, "narrowly: {f:?}");
    assert_eq!(s.break_glass.len(), 2);
    assert!(
        s.break_glass[0]
            .methods
            .iter()
            .any(|m| methods::is_phishing_resistant(m))
    );
    assert!(
        !s.break_glass[1]
            .methods
            .iter()
            .any(|m| methods::is_phishing_resistant(m))
    );
    assert_eq!(s.exceptions.iter().filter(|e| e.expired).count(), 1);
    assert_eq!(s.exceptions.iter().filter(|e| !e.expired).count(), 1);
    assert!(s.guests > 0 && s.disabled > 0 && s.missing_from_report > 0);
}

/// The demo's evidence document and file list in `tests/fixtures/`, which the PDF tests and the
/// render benchmark read, are what the demo writes now.
#[test]
fn demo_fixtures_are_current() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (name, fresh) in mfa_evidence::demo::fixtures(&samples_dir()).unwrap() {
        let committed = std::fs::read(fixtures.join(name)).unwrap();
        assert!(
            committed == fresh,
            "tests/fixtures/{name} differs from what the demo writes: run `cargo run --release --example gen_tenant -- fixtures`"
        );
    }
}

#[test]
fn demo_history() {
    let tmp = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let days = synth::write_demo_history(&samples_dir(), tmp.path()).unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed.as_secs() < 10, "the history took {elapsed:?}");
    let config = Config::from_file(&samples_dir().join("mfa-evidence.toml")).unwrap();

    assert_eq!(
        days.first().unwrap().collected_at,
        Utc.with_ymd_and_hms(2026, 5, 1, 6, 0, 0).unwrap()
    );
    assert_eq!(days.last().unwrap().collected_at, collected());
    assert_eq!(days.len(), 183, "184 days, one missed");

    // Exactly one gap longer than 48 hours: 2026-08-15 06:00 to 2026-08-17 09:12.
    let gaps: Vec<_> = days
        .windows(2)
        .filter(|w| w[1].collected_at - w[0].collected_at > chrono::TimeDelta::hours(48))
        .map(|w| (w[0].collected_at, w[1].collected_at))
        .collect();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(
        gaps[0].0,
        Utc.with_ymd_and_hms(2026, 8, 15, 6, 0, 0).unwrap()
    );

    // Deterministic: a second run writes the same bytes.
    let again = synth::write_demo_history(&samples_dir(), &tmp.path().join("again")).unwrap();
    assert_eq!(again.len(), days.len());
    for (a, b) in days.iter().zip(&again) {
        assert_eq!(a.collected_at, b.collected_at);
        assert!(
            files(&a.dir) == files(&b.dir),
            "{} differs between runs",
            a.dir.display()
        );
    }

    // The last day is the committed sample tenant.
    let last = files(&days.last().unwrap().dir);
    let samples = files(&samples_dir());
    for (name, bytes) in &last {
        assert!(
            samples.get(name) == Some(bytes),
            "{name} of the last day differs from samples/"
        );
    }

    // The figure, day by day, from the files: a dip below 95 % after the hiring wave, closed
    // within two weeks, and above the threshold otherwise.
    let mut below = Vec::new();
    let mut in_scope = Vec::new();
    for d in &days {
        let f = figure(&d.dir, &config, d.collected_at.date_naive());
        in_scope.push(f.in_scope);
        if !f.passes() {
            below.push((d.collected_at.date_naive(), f.basis_points()));
        }
    }
    assert!(!below.is_empty(), "no day below the threshold");
    let first = below.first().unwrap().0;
    let last_below = below.last().unwrap().0;
    assert!(
        first >= NaiveDate::from_ymd_opt(2026, 7, 13).unwrap(),
        "{below:?}"
    );
    assert!(
        (last_below - first).num_days() < 14,
        "remediated within two weeks: {below:?}"
    );
    assert!(below.len() >= 3, "{below:?}");
    let min = below.iter().map(|(_, bp)| *bp).min().unwrap();
    assert!(min < 9200, "a real dip: {below:?}");
    let (lo, hi) = (
        in_scope.iter().min().unwrap(),
        in_scope.iter().max().unwrap(),
    );
    assert!(
        hi - lo >= 30,
        "joiners and leavers change the population: {lo}..{hi}"
    );

    // Audit windows overlap: an event keeps its id from one day to the next.
    let ids = |d: &synth::HistoryDay| -> HashSet<String> {
        items(&d.dir, Source::Audits.stem())
            .0
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    let wave_end = days
        .iter()
        .position(|d| d.collected_at.date_naive() == NaiveDate::from_ymd_opt(2026, 7, 20).unwrap())
        .unwrap();
    let (a, b) = (ids(&days[wave_end]), ids(&days[wave_end + 1]));
    assert!(
        a.intersection(&b).count() > 10,
        "overlapping windows share events"
    );

    // The story's events: registrations by users and by an admin, a deletion, all in the period.
    let mut activities: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut disabled_then_gone = false;
    let mut previous_disabled: HashSet<String> = HashSet::new();
    for d in &days {
        for a in items(&d.dir, Source::Audits.stem()).0 {
            if seen.insert(a["id"].as_str().unwrap().to_string()) {
                *activities
                    .entry(a["activityDisplayName"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
        let (users, _) = items(&d.dir, Source::Users.stem());
        let present: HashSet<String> = users
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        if previous_disabled.iter().any(|id| !present.contains(id)) {
            disabled_then_gone = true;
        }
        previous_disabled = users
            .iter()
            .filter(|u| u["accountEnabled"] == false)
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        // Disabled users never have a registration row.
        let (rows, _) = items(&d.dir, Source::Registration.stem());
        for r in &rows {
            assert!(!previous_disabled.contains(r["id"].as_str().unwrap()));
        }
    }
    assert!(disabled_then_gone, "leavers are disabled, then removed");
    assert!(
        activities["User registered security info"] > 40,
        "{activities:?}"
    );
    assert!(
        activities["Admin registered security info"] >= 1,
        "{activities:?}"
    );
    assert!(
        activities["User deleted security info"] >= 1,
        "{activities:?}"
    );
}
