//! The audit period: conclusions on small synthetic histories, remediation, audit event
//! deduplication, joiners and leavers, and a broken ledger refusing the report.

use chrono::{DateTime, Duration, TimeZone, Utc};

use mfa_evidence::collect::import::import_dir;
use mfa_evidence::config::{Config, ControlSettings, StoreLocation};
use mfa_evidence::demo::synth;
use mfa_evidence::evaluate::evaluate;
use mfa_evidence::evaluate::period::{
    LedgerState, PeriodAnalysis, PeriodFacts, SnapshotInfo, SnapshotPoint,
};
use mfa_evidence::evidence::{self, Period};
use mfa_evidence::report::{self, ReportRequest};
use mfa_evidence::snapshot::{
    AuditEvent, CollectionRecord, Registration, Snapshot, SourceRecord, Tenant, User,
};
use mfa_evidence::source::{Source, SourceKind, SourceStatus};
use mfa_evidence::store::Store;
use mfa_evidence::time::{GraphTime, secs_text};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 6, 0, 0).unwrap()
}

/// A user of a synthetic snapshot: id, and whether a qualifying method is registered.
fn snapshot_at(at: DateTime<Utc>, users: &[(&str, bool)], events: &[AuditEvent]) -> Snapshot {
    Snapshot {
        schema_version: 1,
        tenant: Tenant {
            id: "t".into(),
            name: "T".into(),
        },
        collected_at: at,
        collection: CollectionRecord {
            source_kind: SourceKind::Import,
            collected_by: Some("test".into()),
            graph_endpoint: None,
            token_roles: vec![],
            sources: Source::ALL
                .into_iter()
                .map(|name| SourceRecord {
                    name,
                    endpoint: None,
                    required: name.required(),
                    status: SourceStatus::Collected,
                    error: None,
                    pages: 1,
                    items: 0,
                    requests: vec![],
                    files: None,
                    export: None,
                })
                .collect(),
        },
        users: users
            .iter()
            .map(|(id, _)| User {
                id: id.to_string(),
                user_principal_name: format!("{id}@contoso.com"),
                display_name: id.to_string(),
                account_enabled: Some(true),
                user_type: "Member".into(),
                created: None,
                on_premises_sync_enabled: None,
            })
            .collect(),
        registrations: users
            .iter()
            .map(|(id, registered)| Registration {
                id: id.to_string(),
                user_principal_name: format!("{id}@contoso.com"),
                display_name: id.to_string(),
                user_type: "member".into(),
                is_admin: None,
                is_mfa_registered: Some(*registered),
                is_mfa_capable: Some(*registered),
                is_passwordless_capable: None,
                last_updated: None,
                methods_registered: if *registered {
                    vec!["fido2".into()]
                } else {
                    vec![]
                },
            })
            .collect(),
        break_glass_members: Some(vec![]),
        audit_events: Some(events.to_vec()),
        auth_methods_policy: None,
        conditional_access: None,
    }
}

fn registered_event(id: &str, user: &str, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        id: id.into(),
        activity_date_time: GraphTime::parse(&secs_text(at)).unwrap(),
        activity: "User registered security info".into(),
        result: "success".into(),
        target_user_id: Some(user.into()),
        target_user_principal_name: Some(format!("{user}@contoso.com")),
        initiated_by: Some(format!("{user}@contoso.com")),
    }
}

/// Runs the period analysis over snapshots given as (time, users, events).
fn analyse(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max_gap_hours: u32,
    history: &[Snapshot],
) -> (Period, PeriodFacts) {
    let settings = ControlSettings::default();
    let mut analysis = PeriodAnalysis::new(from, to, max_gap_hours);
    for (i, snapshot) in history.iter().enumerate() {
        let at = snapshot.collected_at;
        if at < from || at > to {
            continue;
        }
        // The period reads each snapshot as its point: the same figure and result as the
        // point-in-time evaluation.
        let point = SnapshotPoint::of(snapshot, &settings);
        let evaluation = evaluate(snapshot, &settings);
        assert_eq!(
            (point.figure, point.result),
            (evaluation.figure(), evaluation.result)
        );
        let info = SnapshotInfo {
            sequence: i as u64 + 1,
            collected_at: at,
            sha256: format!("{i:064}"),
        };
        analysis.add(&info, &point);
    }
    let facts = analysis.finish(LedgerState {
        verified: true,
        broken_link: None,
    });
    (evidence::period(&facts), facts)
}

/// 20 users, `unregistered` of them without a method: 19/20 = 95 % passes, 18/20 fails.
fn users(unregistered: usize) -> Vec<(String, bool)> {
    (0..20)
        .map(|i| (format!("u{i:02}"), i >= unregistered))
        .collect()
}

fn daily(days: i64, unregistered_on: impl Fn(i64) -> usize) -> Vec<Snapshot> {
    (0..days)
        .map(|d| {
            let list = users(unregistered_on(d));
            let refs: Vec<(&str, bool)> = list.iter().map(|(id, r)| (id.as_str(), *r)).collect();
            snapshot_at(t0() + Duration::days(d), &refs, &[])
        })
        .collect()
}

fn codes(period: &Period) -> Vec<&str> {
    period.deviations.iter().map(|d| d.code.as_str()).collect()
}

#[test]
fn all_passing_snapshots_operated_effectively() {
    let history = daily(10, |_| 1);
    let (period, _) = analyse(t0(), t0() + Duration::days(9), 48, &history);
    assert_eq!(period.snapshots, 10);
    assert_eq!(
        period.conclusion, "operated-effectively",
        "{:?}",
        period.deviations
    );
    assert!(period.deviations.is_empty());
    assert!(period.longest_failing_run.is_none());
    assert_eq!(period.series[0].percent, "95.00");
    // The first and last snapshots sit on the period's edges: nothing is uncovered.
    assert!(period.gaps.is_empty(), "{:?}", period.gaps);
}

#[test]
fn one_failing_snapshot_is_a_deviation() {
    let history = daily(10, |d| if d == 4 { 2 } else { 1 });
    let (period, _) = analyse(t0(), t0() + Duration::days(9), 48, &history);
    assert_eq!(period.conclusion, "deviations-noted");
    assert_eq!(codes(&period), ["below-threshold"]);
    assert_eq!(secs_text(period.deviations[0].from), "2026-05-05T06:00:00Z");
    let run = period.longest_failing_run.as_ref().unwrap();
    assert_eq!(run.snapshots, 1);
    assert_eq!(period.series[4].percent, "90.00");
    assert_eq!(period.series[4].result, "fail");
}

#[test]
fn longest_failing_run_is_the_longest() {
    let history = daily(12, |d| if [2, 6, 7, 8, 10].contains(&d) { 3 } else { 0 });
    let (period, _) = analyse(t0(), t0() + Duration::days(11), 48, &history);
    let run = period.longest_failing_run.unwrap();
    assert_eq!(
        (secs_text(run.from).as_str(), run.snapshots),
        ("2026-05-07T06:00:00Z", 3)
    );
}

#[test]
fn a_gap_over_the_limit_is_a_deviation_and_one_at_it_is_not() {
    let list = users(0);
    let refs: Vec<(&str, bool)> = list.iter().map(|(id, r)| (id.as_str(), *r)).collect();
    let times = [t0(), t0() + Duration::hours(48), t0() + Duration::hours(97)];
    let history: Vec<Snapshot> = times.iter().map(|t| snapshot_at(*t, &refs, &[])).collect();
    let (period, _) = analyse(times[0], times[2], 48, &history);
    assert_eq!(codes(&period), ["monitoring-gap"]);
    let gap = period.gaps.iter().find(|g| g.exceeds_limit).unwrap();
    assert_eq!(
        (gap.hours.as_str(), secs_text(gap.from).as_str()),
        ("49.00", "2026-05-03T06:00:00Z")
    );
    assert_eq!(period.conclusion, "deviations-noted");
}

#[test]
fn uncovered_time_at_the_edges_of_the_period_counts() {
    let history = daily(5, |_| 0);
    let from = t0() - Duration::days(3);
    let to = t0() + Duration::days(4) + Duration::hours(12);
    let (period, _) = analyse(from, to, 48, &history);
    assert_eq!(codes(&period), ["uncovered-period-start"]);
    let start = period
        .gaps
        .iter()
        .find(|g| g.kind == "period-start")
        .unwrap();
    assert_eq!(start.hours, "72.00");
    assert!(start.exceeds_limit);
    let end = period.gaps.iter().find(|g| g.kind == "period-end").unwrap();
    assert!(!end.exceeds_limit);

    let (period, _) = analyse(t0(), t0() + Duration::days(7), 48, &history);
    assert_eq!(codes(&period), ["uncovered-period-end"]);
}

#[test]
fn an_empty_period_is_insufficient_evidence() {
    let history = daily(3, |_| 0);
    let from = t0() + Duration::days(30);
    let (period, _) = analyse(from, from + Duration::days(10), 48, &history);
    assert_eq!(period.snapshots, 0);
    assert_eq!(period.conclusion, "insufficient-evidence");
}

#[test]
fn remediation_follows_a_user_who_registers_deregisters_and_registers_again() {
    // u00: unregistered, registered, unregistered (deleted), registered again.
    let states = [false, true, false, true];
    let history: Vec<Snapshot> = states
        .iter()
        .enumerate()
        .map(|(d, registered)| {
            let at = t0() + Duration::days(d as i64 * 3);
            let events = match d {
                1 => vec![registered_event("e1", "u00", at - Duration::hours(5))],
                3 => vec![
                    registered_event("e1", "u00", t0() + Duration::days(3) - Duration::hours(5)),
                    registered_event("e2", "u00", at - Duration::hours(2)),
                ],
                _ => vec![],
            };
            snapshot_at(at, &[("u00", *registered), ("u01", true)], &events)
        })
        .collect();
    let (period, tables) = analyse(t0(), t0() + Duration::days(9), 96, &history);
    assert_eq!(tables.remediated.len(), 2);
    let first = &tables.remediated[0];
    assert_eq!(
        secs_text(first.first_seen_unregistered),
        "2026-05-01T06:00:00Z"
    );
    assert_eq!(
        secs_text(first.first_seen_registered),
        "2026-05-04T06:00:00Z"
    );
    assert_eq!(first.days_open, 3);
    assert_eq!(first.audit_event_ids, ["e1"]);
    let second = &tables.remediated[1];
    assert_eq!(
        secs_text(second.first_seen_unregistered),
        "2026-05-07T06:00:00Z"
    );
    assert_eq!(
        secs_text(second.first_seen_registered),
        "2026-05-10T06:00:00Z"
    );
    assert_eq!(second.audit_event_ids, ["e2"]);
    assert!(tables.still_unregistered.is_empty());
    assert_eq!(period.remediation.remediated_users, 2);
    assert_eq!(period.remediation.with_audit_event, 2);

    // Over the first three snapshots only, the user ends the period unregistered.
    let (_, tables) = analyse(t0(), t0() + Duration::days(6), 96, &history);
    assert_eq!(tables.remediated.len(), 1);
    assert_eq!(tables.still_unregistered.len(), 1);
    assert_eq!(
        secs_text(tables.still_unregistered[0].first_seen_unregistered),
        "2026-05-07T06:00:00Z"
    );
}

#[test]
fn audit_events_are_deduplicated_across_overlapping_collections() {
    // Each collection sees the last days of the log: e1 and e2 appear in several.
    let e1 = registered_event("e1", "u00", t0() - Duration::hours(1));
    let e2 = registered_event("e2", "u01", t0() + Duration::hours(20));
    let e3 = registered_event("e3", "u01", t0() + Duration::hours(44));
    let before = registered_event("e0", "u00", t0() - Duration::days(10));
    let history = vec![
        snapshot_at(
            t0(),
            &[("u00", true), ("u01", true)],
            &[before.clone(), e1.clone()],
        ),
        snapshot_at(
            t0() + Duration::days(1),
            &[("u00", true), ("u01", true)],
            &[e1.clone(), e2.clone()],
        ),
        snapshot_at(
            t0() + Duration::days(2),
            &[("u00", true), ("u01", true)],
            &[e1, e2, e3],
        ),
    ];
    let (period, tables) = analyse(
        t0() - Duration::days(1),
        t0() + Duration::days(2),
        48,
        &history,
    );
    let ids: Vec<(&str, u64)> = tables
        .audit_events
        .iter()
        .map(|(e, seq)| (e.id.as_str(), *seq))
        .collect();
    // e0 lies before the period; the others once each, with the snapshot that first saw them.
    assert_eq!(ids, [("e1", 1), ("e2", 2), ("e3", 3)]);
    assert_eq!(period.audit_events.total, 3);
}

#[test]
fn joiners_and_leavers_are_counted_per_snapshot() {
    let history = vec![
        snapshot_at(t0(), &[("a", true), ("b", true), ("c", true)], &[]),
        // d joins; c leaves /users altogether.
        snapshot_at(
            t0() + Duration::days(1),
            &[("a", true), ("b", true), ("d", false)],
            &[],
        ),
        snapshot_at(
            t0() + Duration::days(2),
            &[("a", true), ("b", true), ("d", true), ("e", true)],
            &[],
        ),
    ];
    let (period, tables) = analyse(t0(), t0() + Duration::days(2), 48, &history);
    let counts: Vec<(u64, u64)> = period
        .series
        .iter()
        .map(|p| (p.joiners, p.leavers))
        .collect();
    assert_eq!(counts, [(0, 0), (1, 1), (1, 0)]);
    assert_eq!(
        (
            period.population_changes.joiners,
            period.population_changes.leavers
        ),
        (2, 1)
    );
    let changes: Vec<(&str, &str)> = tables
        .population_changes
        .iter()
        .map(|c| (c.change.as_str(), c.user_id.as_str()))
        .collect();
    assert!(changes.contains(&("leaver", "c")) && changes.contains(&("joiner", "d")));
    assert!(changes.contains(&("joiner", "e")));
}

#[test]
fn leavers_come_out_in_the_same_order_on_every_run() {
    // 40 users leave /users at once: the CSV lists them by id, not in hash-map order.
    let everyone: Vec<String> = (0..60).map(|i| format!("u{i:02}")).collect();
    let stay: Vec<(&str, bool)> = everyone[..20]
        .iter()
        .map(|id| (id.as_str(), true))
        .collect();
    let all: Vec<(&str, bool)> = everyone.iter().map(|id| (id.as_str(), true)).collect();
    let history = vec![
        snapshot_at(t0(), &all, &[]),
        snapshot_at(t0() + Duration::days(1), &stay, &[]),
        // u45 comes back: a joiner again.
        snapshot_at(
            t0() + Duration::days(2),
            &[stay.as_slice(), &[("u45", true)]].concat(),
            &[],
        ),
    ];
    let (period, tables) = analyse(t0(), t0() + Duration::days(2), 48, &history);
    let leavers: Vec<&str> = tables
        .population_changes
        .iter()
        .filter(|c| c.change == "leaver")
        .map(|c| c.user_id.as_str())
        .collect();
    let expected: Vec<&str> = everyone[20..].iter().map(String::as_str).collect();
    assert_eq!(leavers, expected);
    let joiners: Vec<(&str, u64)> = tables
        .population_changes
        .iter()
        .filter(|c| c.change == "joiner")
        .map(|c| (c.user_id.as_str(), c.sequence))
        .collect();
    assert_eq!(joiners, [("u45", 3)]);
    assert_eq!(period.series[1].leavers, 40);
}

/// Three collections of a small generated tenant, stored.
fn stored_history(root: &std::path::Path) -> Config {
    let mut config = Config {
        store: StoreLocation::Path(root.join("store")),
        ..Config::default()
    };
    let store = Store::new(root.join("store"));
    for day in 0..3 {
        let at = t0() + Duration::days(day);
        let spec = synth::TenantSpec::new(60, 7, at);
        let dir = root.join(format!("day{day}"));
        let summary = synth::write_tenant(&spec, &dir).unwrap();
        if day == 0 {
            let toml = synth::config_toml(&summary);
            let mut parsed = Config::from_toml(&toml).unwrap();
            parsed.store = config.store.clone();
            config = parsed;
        }
        store.add(&import_dir(&dir, Some(at)).unwrap()).unwrap();
    }
    config
}

#[test]
fn a_broken_ledger_refuses_the_period_report_unless_allowed() {
    let root = tempfile::tempdir().unwrap();
    let config = stored_history(root.path());
    let store = Store::open(&config.store).unwrap();
    let tenant = store.pick_tenant(None).unwrap();
    let ledger = store.ledger(&tenant).unwrap();
    // Tamper with a raw page of the second snapshot.
    let page = ledger[1].raw_dir().join("users-0001.json.zst");
    let mut bytes = std::fs::read(&page).unwrap();
    let i = bytes.iter().position(|b| *b == b'a').unwrap();
    bytes[i] = b'b';
    std::fs::write(&page, bytes).unwrap();

    let out = root.path().join("out");
    let request = ReportRequest {
        out_dir: out.clone(),
        ..ReportRequest::default()
    };
    let err = report::run(&config, &request)
        .err()
        .expect("a broken history must refuse the report");
    let text = format!("{err:#}");
    assert!(
        text.contains("000002") && text.contains("users-0001.json"),
        "{text}"
    );
    assert!(text.contains("--allow-broken-history"), "{text}");
    assert!(
        !out.exists()
            || std::fs::read_dir(&out)
                .unwrap()
                .all(|e| { !e.unwrap().file_name().to_string_lossy().ends_with(".zip") })
    );

    let request = ReportRequest {
        out_dir: out,
        allow_broken_history: true,
        ..ReportRequest::default()
    };
    let outcome = report::run(&config, &request).unwrap();
    let period = outcome.evidence.period.as_ref().unwrap();
    assert!(!period.ledger.verified);
    assert!(
        period
            .ledger
            .broken_link
            .as_deref()
            .unwrap()
            .contains("users-0001.json")
    );
    assert!(period.deviations.iter().any(|d| d.code == "broken-ledger"));
    assert_eq!(period.conclusion, "deviations-noted");
    assert_eq!(period.snapshots, 2, "the tampered snapshot is left out");
    assert_eq!(outcome.exit_code(), 1);
}

#[test]
fn a_period_report_writes_the_period_files() {
    let root = tempfile::tempdir().unwrap();
    let config = stored_history(root.path());
    let request = ReportRequest {
        out_dir: root.path().join("out"),
        ..ReportRequest::default()
    };
    let outcome = report::run(&config, &request).unwrap();
    let period = outcome.evidence.period.as_ref().unwrap();
    assert_eq!(period.snapshots, 3);
    assert_eq!(period.series.len(), 3);
    let file = std::fs::File::open(&outcome.zip).unwrap();
    let zip = zip::ZipArchive::new(file).unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().to_string()).collect();
    for want in [
        "history.csv",
        "remediation.csv",
        "audit-events.csv",
        "population-changes.csv",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(want)),
            "{want} missing from {names:?}"
        );
    }

    // --as-of alone: the point in time only.
    let as_of = t0() + Duration::days(1) + Duration::hours(1);
    let request = ReportRequest {
        out_dir: root.path().join("point"),
        as_of: Some(as_of),
        ..ReportRequest::default()
    };
    let outcome = report::run(&config, &request).unwrap();
    assert!(outcome.evidence.period.is_none());
    assert_eq!(secs_text(outcome.evidence.as_of), "2026-05-02T06:00:00Z");
}

#[test]
fn a_tampered_newest_snapshot_is_not_the_as_of_even_with_a_broken_history_allowed() {
    let root = tempfile::tempdir().unwrap();
    let config = stored_history(root.path());
    let store = Store::open(&config.store).unwrap();
    let tenant = store.pick_tenant(None).unwrap();
    let ledger = store.ledger(&tenant).unwrap();
    let page = ledger[2].raw_dir().join("users-0001.json.zst");
    let mut bytes = std::fs::read(&page).unwrap();
    let i = bytes.iter().position(|b| *b == b'a').unwrap();
    bytes[i] = b'b';
    std::fs::write(&page, bytes).unwrap();

    let request = ReportRequest {
        out_dir: root.path().join("out"),
        allow_broken_history: true,
        ..ReportRequest::default()
    };
    let outcome = report::run(&config, &request).unwrap();
    // The newest snapshot that still holds is the point in time; the break is a deviation.
    assert_eq!(secs_text(outcome.evidence.as_of), "2026-05-02T06:00:00Z");
    let period = outcome.evidence.period.as_ref().unwrap();
    assert!(period.deviations.iter().any(|d| d.code == "broken-ledger"));
    assert_eq!(outcome.exit_code(), 1);

    // Without the flag, a point-in-time report on the tampered snapshot is refused.
    let request = ReportRequest {
        out_dir: root.path().join("point"),
        as_of: Some(t0() + Duration::days(3)),
        ..ReportRequest::default()
    };
    let err = report::run(&config, &request).err().unwrap();
    assert!(format!("{err:#}").contains("integrity check"), "{err:#}");
}

#[test]
fn an_as_of_outside_the_period_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let config = stored_history(root.path());
    let request = ReportRequest {
        out_dir: root.path().join("out"),
        period: Some((t0(), t0() + Duration::days(1))),
        as_of: Some(t0() + Duration::days(2)),
        ..ReportRequest::default()
    };
    let err = report::run(&config, &request).err().unwrap();
    let text = format!("{err:#}");
    assert!(text.contains("outside the period"), "{text}");
    assert!(!root.path().join("out").exists());
}
