//! The ID-01 rule as the control defines it, table-tested: each case is a snapshot built in code,
//! the control settings (written as the TOML a user would write), and the outcome an auditor
//! would check: result, figure, every user's classification and the finding codes.

use mfa_evidence::config::{Config, ControlSettings, Exception};
use mfa_evidence::evaluate::{self, Classification, ControlResult, Figure, decide};
use mfa_evidence::evidence::words::percent_floor;
use mfa_evidence::evidence::{self, Finding, PointInTime};
use mfa_evidence::snapshot::{Registration, Snapshot, User};
use mfa_evidence::source::{Source, SourceStatus};
use mfa_evidence::time::{GraphTime, secs_text};

use crate::util::{
    assert_contains, assert_same, disabled, guest, member, reg, side_by_side, snapshot,
    with_group_members,
};

/// An evaluation as the package states it: evidence.json's point in time and findings, the
/// report's freshness, and each user's classification and reason as population.csv writes them.
struct Evaluated<'a> {
    result: ControlResult,
    point_in_time: PointInTime,
    findings: Vec<Finding>,
    freshness: Freshness,
    users: Vec<Row<'a>>,
}

struct Freshness {
    stale_rows: u64,
    oldest_row_updated: Option<String>,
}

struct Row<'a> {
    user: &'a User,
    registration: Option<&'a Registration>,
    methods: &'a [String],
    classification: Classification,
    reason: String,
    registered: Option<bool>,
    exception: Option<&'a Exception>,
}

fn evaluate<'a>(snap: &'a Snapshot, settings: &'a ControlSettings) -> Evaluated<'a> {
    let e = evaluate::evaluate(snap, settings);
    Evaluated {
        result: e.result,
        point_in_time: evidence::point_in_time(&e),
        findings: e.findings.iter().map(evidence::findings::finding).collect(),
        freshness: Freshness {
            stale_rows: e.freshness.stale_rows,
            oldest_row_updated: e.freshness.oldest_row_updated.map(secs_text),
        },
        users: e
            .users
            .iter()
            .map(|r| Row {
                user: r.user,
                registration: r.registration,
                methods: r.methods(),
                classification: r.classification(),
                reason: evidence::reason_text(r, &e),
                registered: r.registered,
                exception: r.exception(),
            })
            .collect(),
    }
}

fn graph_time(text: &str) -> Option<GraphTime> {
    Some(GraphTime::parse(text).unwrap())
}

/// What a case is checked against.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    result: String,
    in_scope: u64,
    registered: u64,
    percent: String,
    /// Every user as `name: classification`, by UPN.
    classes: Vec<String>,
    /// Finding codes, in the order they are reported.
    findings: Vec<String>,
}

fn check(snap: &Snapshot, settings: &ControlSettings) -> Outcome {
    let e = evaluate(snap, settings);
    assert_eq!(e.result, e.point_in_time.result);
    Outcome {
        result: e.point_in_time.result.to_string(),
        in_scope: e.point_in_time.in_scope,
        registered: e.point_in_time.registered,
        percent: e.point_in_time.percent.clone(),
        classes: e
            .users
            .iter()
            .map(|r| {
                let name = r.user.user_principal_name.split('@').next().unwrap_or("");
                format!("{name}: {}", r.classification.as_str())
            })
            .collect(),
        findings: e.findings.iter().map(|f| f.code.to_string()).collect(),
    }
}

fn expect(
    result: &str,
    (registered, in_scope): (u64, u64),
    percent: &str,
    classes: &[&str],
    findings: &[&str],
) -> Outcome {
    Outcome {
        result: result.to_string(),
        in_scope,
        registered,
        percent: percent.to_string(),
        classes: classes.iter().map(|s| s.to_string()).collect(),
        findings: findings.iter().map(|s| s.to_string()).collect(),
    }
}

/// The control settings of a configuration file.
fn settings(toml: &str) -> ControlSettings {
    Config::from_toml(toml)
        .unwrap_or_else(|e| panic!("{e:#}\n{toml}"))
        .control
}

struct Case {
    name: &'static str,
    snap: Snapshot,
    settings: ControlSettings,
    expected: Outcome,
}

fn run_table(cases: Vec<Case>) {
    let mut failures = String::new();
    let total = cases.len();
    for case in cases {
        let actual = check(&case.snap, &case.settings);
        if actual != case.expected {
            failures.push_str(&format!(
                "\n=== {} ===\n{}",
                case.name,
                side_by_side(&format!("{:#?}", case.expected), &format!("{actual:#?}"))
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:{failures}",
        failures.matches("\n=== ").count()
    );
}

const FIDO: &[&str] = &["fido2"];
const APP: &[&str] = &["microsoftAuthenticatorPush"];

fn with_reg(user: User, methods: &[&str]) -> (User, Registration) {
    let name = user
        .user_principal_name
        .split('@')
        .next()
        .unwrap()
        .to_string();
    (user, reg(&name, methods))
}

/// A snapshot of users that all have a report row with these methods.
fn snap_of(list: Vec<(User, Registration)>) -> Snapshot {
    let (users, regs) = list.into_iter().unzip();
    snapshot(users, regs)
}

#[test]
fn classification_rules_and_their_order() {
    let exception_for = |who: &str, expires: &str| {
        format!(
            "[[exceptions]]\n{who}\nreason = \"no phone\"\napproved_by = \"CISO\"\nexpires = \"{expires}\"\n"
        )
    };
    run_table(vec![
        Case {
            name: "everyone in scope and registered",
            snap: snap_of(vec![
                with_reg(member("a"), APP),
                with_reg(member("b"), &["mobilePhone"]),
            ]),
            settings: settings(""),
            expected: expect(
                "pass",
                (2, 2),
                "100.00",
                &["a: in-scope", "b: in-scope"],
                &[],
            ),
        },
        Case {
            name: "a disabled break-glass account is break-glass",
            snap: snap_of(vec![
                with_reg(disabled("bg"), FIDO),
                with_reg(member("a"), APP),
            ]),
            settings: settings("[break_glass]\nuser_ids = [\"id-bg\"]\n"),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope", "bg: break-glass"],
                &[],
            ),
        },
        Case {
            name: "a break-glass guest is break-glass",
            snap: snap_of(vec![
                with_reg(guest("bg"), FIDO),
                with_reg(member("a"), APP),
            ]),
            settings: settings("[break_glass]\nupns = [\"bg@fabrikam.test\"]\n"),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope", "bg: break-glass"],
                &[],
            ),
        },
        Case {
            name: "a guest is out of scope by default",
            snap: snap_of(vec![with_reg(guest("g"), &[]), with_reg(member("a"), APP)]),
            settings: settings(""),
            expected: expect("pass", (1, 1), "100.00", &["a: in-scope", "g: guest"], &[]),
        },
        Case {
            name: "a disabled guest is disabled, not guest",
            snap: snap_of(vec![
                with_reg(
                    User {
                        account_enabled: Some(false),
                        ..guest("dg")
                    },
                    &[],
                ),
                with_reg(member("a"), APP),
            ]),
            settings: settings(""),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope", "dg: disabled"],
                &[],
            ),
        },
        Case {
            name: "a disabled user with an exception is disabled",
            snap: snap_of(vec![
                with_reg(disabled("d"), &[]),
                with_reg(member("a"), APP),
            ]),
            settings: settings(&exception_for("upn = \"d@fabrikam.test\"", "2027-01-01")),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope", "d: disabled"],
                &[],
            ),
        },
        Case {
            name: "a guest with an exception is guest",
            snap: snap_of(vec![with_reg(guest("g"), &[]), with_reg(member("a"), APP)]),
            settings: settings(&exception_for("upn = \"g@fabrikam.test\"", "2027-01-01")),
            expected: expect("pass", (1, 1), "100.00", &["a: in-scope", "g: guest"], &[]),
        },
        Case {
            name: "break-glass by object id, case-insensitive",
            snap: snap_of(vec![
                with_reg(member("bg"), FIDO),
                with_reg(member("a"), APP),
            ]),
            settings: settings("[break_glass]\nuser_ids = [\"ID-BG\"]\n"),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope", "bg: break-glass"],
                &[],
            ),
        },
        Case {
            name: "break-glass by UPN, case-insensitive",
            snap: snap_of(vec![
                with_reg(member("bg"), FIDO),
                with_reg(member("a"), APP),
            ]),
            settings: settings("[break_glass]\nupns = [\"BG@Fabrikam.TEST\"]\n"),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope", "bg: break-glass"],
                &[],
            ),
        },
        Case {
            name: "break-glass by group membership",
            snap: with_group_members(
                snap_of(vec![
                    with_reg(member("bg1"), FIDO),
                    with_reg(member("bg2"), &["passKeySynced"]),
                    with_reg(member("a"), APP),
                ]),
                &["bg1", "bg2"],
            ),
            settings: settings("[break_glass]\ngroup_id = \"g-1\"\n"),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope", "bg1: break-glass", "bg2: break-glass"],
                &[],
            ),
        },
        Case {
            name: "group members stored while no break-glass group is configured exclude no one",
            snap: with_group_members(
                snap_of(vec![
                    with_reg(member("bg1"), &[]),
                    with_reg(member("a"), APP),
                ]),
                &["bg1"],
            ),
            settings: settings(""),
            expected: expect(
                "fail",
                (1, 2),
                "50.00",
                &["a: in-scope", "bg1: in-scope"],
                &[],
            ),
        },
        Case {
            name: "members collected for another group than the configured one do not count",
            snap: {
                let mut snap = with_group_members(
                    snap_of(vec![
                        with_reg(member("bg1"), FIDO),
                        with_reg(member("a"), APP),
                    ]),
                    &["bg1"],
                );
                for s in &mut snap.collection.sources {
                    if s.name == Source::BreakGlass {
                        s.endpoint = Some("/v1.0/groups/g-old/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName&$count=true".into());
                    }
                }
                snap
            },
            settings: settings("[break_glass]\ngroup_id = \"g-1\"\n"),
            expected: expect(
                "insufficient-evidence",
                (2, 2),
                "100.00",
                &["a: in-scope", "bg1: in-scope"],
                &["break-glass-group-not-collected"],
            ),
        },
        Case {
            name: "the break-glass group configured but its members not collected",
            snap: snap_of(vec![with_reg(member("a"), APP)]),
            settings: settings("[break_glass]\ngroup_id = \"g-1\"\n"),
            expected: expect(
                "insufficient-evidence",
                (1, 1),
                "100.00",
                &["a: in-scope"],
                &["break-glass-group-not-collected"],
            ),
        },
        Case {
            name: "an exception by UPN is matched case-insensitively and honoured",
            snap: snap_of(vec![with_reg(member("x"), &[]), with_reg(member("a"), APP)]),
            settings: settings(&exception_for("upn = \"X@FABRIKAM.test\"", "2027-01-01")),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope", "x: exception"],
                &[],
            ),
        },
        Case {
            name: "an exception by user id is honoured",
            snap: snap_of(vec![with_reg(member("x"), &[]), with_reg(member("a"), APP)]),
            settings: settings(&exception_for("user_id = \"id-x\"", "2027-01-01")),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope", "x: exception"],
                &[],
            ),
        },
        Case {
            name: "an exception expiring on the as-of date is honoured",
            snap: snap_of(vec![with_reg(member("x"), &[]), with_reg(member("a"), APP)]),
            settings: settings(&exception_for("upn = \"x@fabrikam.test\"", "2026-10-31")),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope", "x: exception"],
                &[],
            ),
        },
        Case {
            name: "an exception that expired the day before is not honoured",
            snap: snap_of(vec![with_reg(member("x"), &[]), with_reg(member("a"), APP)]),
            settings: settings(&exception_for("upn = \"x@fabrikam.test\"", "2026-10-30")),
            expected: expect(
                "fail",
                (1, 2),
                "50.00",
                &["a: in-scope", "x: in-scope"],
                &["expired-exception"],
            ),
        },
        Case {
            name: "an exception renewed by UPN beside the expired one by id is honoured",
            snap: snap_of(vec![with_reg(member("x"), &[]), with_reg(member("a"), APP)]),
            settings: settings(&format!(
                "{}{}",
                exception_for("user_id = \"id-x\"", "2026-09-30"),
                exception_for("upn = \"x@fabrikam.test\"", "2027-03-31")
            )),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope", "x: exception"],
                &["expired-exception"],
            ),
        },
        Case {
            name: "an exception naming nobody",
            snap: snap_of(vec![with_reg(member("a"), APP)]),
            settings: settings(&exception_for(
                "upn = \"nobody@fabrikam.test\"",
                "2027-01-01",
            )),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope"],
                &["exception-user-not-found"],
            ),
        },
        Case {
            name: "guests are in scope when include_guests = true",
            snap: snap_of(vec![with_reg(guest("g"), &[]), with_reg(member("a"), APP)]),
            settings: settings("[control]\ninclude_guests = true\n"),
            expected: expect(
                "fail",
                (1, 2),
                "50.00",
                &["a: in-scope", "g: in-scope"],
                &[],
            ),
        },
        Case {
            name: "no one in scope gives insufficient evidence",
            snap: snap_of(vec![
                with_reg(disabled("d"), &[]),
                with_reg(guest("g"), APP),
            ]),
            settings: settings(""),
            expected: expect(
                "insufficient-evidence",
                (0, 0),
                "0.00",
                &["d: disabled", "g: guest"],
                &[],
            ),
        },
        Case {
            name: "an empty tenant gives insufficient evidence",
            snap: snapshot(Vec::new(), Vec::new()),
            settings: settings(""),
            expected: expect("insufficient-evidence", (0, 0), "0.00", &[], &[]),
        },
        Case {
            name: "in-scope users missing from the report count as unregistered",
            snap: snapshot(vec![member("a"), member("m")], vec![reg("a", APP)]),
            settings: settings(""),
            expected: expect(
                "fail",
                (1, 2),
                "50.00",
                &["a: in-scope", "m: in-scope"],
                &["missing-from-registration-report"],
            ),
        },
        Case {
            name: "report rows with no user are reported and not counted",
            snap: snapshot(vec![member("a")], vec![reg("a", APP), reg("gone", APP)]),
            settings: settings(""),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope"],
                &["registration-row-without-user"],
            ),
        },
        Case {
            name: "unknown method strings are reported and do not qualify",
            snap: snap_of(vec![
                with_reg(member("a"), APP),
                with_reg(member("q"), &["quantumEntanglementKey"]),
            ]),
            settings: settings(""),
            expected: expect(
                "fail",
                (1, 2),
                "50.00",
                &["a: in-scope", "q: in-scope"],
                &["unknown-method"],
            ),
        },
        Case {
            name: "known but non-qualifying methods do not qualify and are not unknown",
            snap: snap_of(vec![
                with_reg(member("a"), APP),
                with_reg(
                    member("o"),
                    &[
                        "softwareOneTimePasscode",
                        "email",
                        "windowsHelloForBusiness",
                    ],
                ),
            ]),
            settings: settings(""),
            expected: expect(
                "fail",
                (1, 2),
                "50.00",
                &["a: in-scope", "o: in-scope"],
                &[],
            ),
        },
        Case {
            name: "custom qualifying_methods replaces the default set",
            snap: snap_of(vec![
                with_reg(member("otp"), &["softwareOneTimePasscode"]),
                with_reg(member("phone"), &["mobilePhone"]),
            ]),
            settings: settings("[control]\nqualifying_methods = [\"softwareOneTimePasscode\"]\n"),
            expected: expect(
                "fail",
                (1, 2),
                "50.00",
                &["otp: in-scope", "phone: in-scope"],
                // Microsoft's flag follows its own rule, so both users disagree with this one.
                &["microsoft-flag-disagreement"],
            ),
        },
        Case {
            name: "a configured break-glass account that does not exist",
            snap: snap_of(vec![with_reg(member("a"), APP)]),
            settings: settings(
                "[break_glass]\nupns = [\"ghost@fabrikam.test\"]\nuser_ids = [\"id-nobody\"]\n",
            ),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope"],
                &["break-glass-not-found"],
            ),
        },
        Case {
            name: "a break-glass account without a phishing-resistant method",
            snap: snap_of(vec![
                with_reg(member("bg"), &["mobilePhone"]),
                with_reg(member("a"), APP),
            ]),
            settings: settings("[break_glass]\nuser_ids = [\"id-bg\"]\n"),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["a: in-scope", "bg: break-glass"],
                &["break-glass-not-phishing-resistant"],
            ),
        },
        Case {
            name: "stale report rows are reported",
            snap: {
                let mut old = reg("old", APP);
                old.last_updated = graph_time("2026-10-28T05:59:59Z");
                let mut edge = reg("edge", APP);
                edge.last_updated = graph_time("2026-10-29T06:00:00Z");
                snapshot(vec![member("old"), member("edge")], vec![old, edge])
            },
            settings: settings(""),
            expected: expect(
                "pass",
                (2, 2),
                "100.00",
                &["edge: in-scope", "old: in-scope"],
                &["stale-registration-report"],
            ),
        },
        Case {
            name: "a required source not collected gives insufficient evidence",
            snap: {
                let mut s = snap_of(vec![with_reg(member("a"), APP)]);
                for src in &mut s.collection.sources {
                    if src.name == Source::Registration {
                        src.status = SourceStatus::Missing;
                    }
                }
                s
            },
            settings: settings(""),
            expected: expect(
                "insufficient-evidence",
                (1, 1),
                "100.00",
                &["a: in-scope"],
                &["required-source-missing"],
            ),
        },
        Case {
            name: "a required source absent from the record gives insufficient evidence",
            snap: {
                let mut s = snap_of(vec![with_reg(member("a"), APP)]);
                s.collection.sources.retain(|src| src.name != Source::Users);
                s
            },
            settings: settings(""),
            expected: expect(
                "insufficient-evidence",
                (1, 1),
                "100.00",
                &["a: in-scope"],
                &[],
            ),
        },
        Case {
            name: "a user without accountEnabled is treated as enabled and reported",
            snap: snap_of(vec![with_reg(
                User {
                    account_enabled: None,
                    ..member("n")
                },
                APP,
            )]),
            settings: settings(""),
            expected: expect(
                "pass",
                (1, 1),
                "100.00",
                &["n: in-scope"],
                &["account-enabled-missing"],
            ),
        },
    ]);
}

/// `n` in-scope users of which `registered` hold the Authenticator app.
fn population(n: u32, registered: u32) -> Snapshot {
    let mut users = Vec::new();
    let mut regs = Vec::new();
    for i in 0..n {
        let name = format!("u{i:05}");
        users.push(member(&name));
        regs.push(reg(&name, if i < registered { APP } else { &[] }));
    }
    snapshot(users, regs)
}

#[test]
fn threshold_boundary_in_integer_arithmetic() {
    let at = |threshold: &str, n: u32, registered: u32| {
        let s = settings(&format!("[control]\nthreshold_percent = {threshold}\n"));
        let snap = population(n, registered);
        let e = evaluate(&snap, &s);
        (
            e.point_in_time.result.to_string(),
            e.point_in_time.percent.clone(),
        )
    };
    let cases = [
        // (threshold, in scope, registered) -> (result, percent printed)
        (("95.0", 10_000, 9_499), ("fail", "94.99")),
        (("95.0", 10_000, 9_500), ("pass", "95.00")),
        // 94.996 % floors to 94.99 and fails: it never prints 95.00.
        (("95.0", 25_000, 23_749), ("fail", "94.99")),
        (("97.5", 40, 39), ("pass", "97.50")),
        (("97.5", 40, 38), ("fail", "95.00")),
        (("97.5", 1_000, 974), ("fail", "97.40")),
        (("100", 3, 3), ("pass", "100.00")),
        (("100", 3, 2), ("fail", "66.66")),
    ];
    for ((threshold, n, registered), (result, percent)) in cases {
        assert_same(
            &format!("{registered} of {n} at {threshold} %"),
            &(result.to_string(), percent.to_string()),
            &at(threshold, n, registered),
        );
    }
}

#[test]
fn percent_floor_and_decide() {
    for (registered, in_scope, expected) in [
        (9_499, 10_000, "94.99"),
        (9_500, 10_000, "95.00"),
        (94_996, 100_000, "94.99"),
        (1, 3, "33.33"),
        (2, 3, "66.66"),
        (0, 5, "0.00"),
        (0, 0, "0.00"),
        (u64::MAX / 10_000, u64::MAX / 10_000, "100.00"),
    ] {
        assert_same(
            &format!("percent_floor({registered}, {in_scope})"),
            &expected.to_string(),
            &percent_floor(registered, in_scope),
        );
    }
    let fig = |registered, in_scope| Figure {
        in_scope,
        registered,
    };
    assert_eq!(decide(fig(9_499, 10_000), 9_500), ControlResult::Fail);
    assert_eq!(decide(fig(9_500, 10_000), 9_500), ControlResult::Pass);
    assert_eq!(decide(fig(19, 20), 9_500), ControlResult::Pass);
    assert_eq!(
        decide(fig(0, 0), 9_500),
        ControlResult::InsufficientEvidence
    );
    assert_eq!(
        decide(fig(u64::MAX / 2, u64::MAX / 2 + 1), 10_000),
        ControlResult::Fail,
        "no overflow for huge counts"
    );
}

#[test]
fn expired_exception_puts_the_user_back_and_says_so() {
    let snap = snap_of(vec![
        with_reg(member("x"), &[]),
        with_reg(member("y"), &[]),
        with_reg(member("a"), APP),
    ]);
    let s = settings(
        "[[exceptions]]\nupn = \"x@fabrikam.test\"\nreason = \"leave\"\napproved_by = \"CISO\"\nexpires = \"2026-09-30\"\n\
         [[exceptions]]\nuser_id = \"id-y\"\nreason = \"no phone\"\napproved_by = \"CISO\"\nexpires = \"2026-10-31\"\n",
    );
    let e = evaluate(&snap, &s);
    let states: Vec<(String, String)> = e
        .point_in_time
        .exceptions
        .iter()
        .map(|x| {
            (
                x.user_principal_name.clone().unwrap_or_default(),
                x.status.to_string(),
            )
        })
        .collect();
    assert_same(
        "exception states",
        &vec![
            ("x@fabrikam.test".to_string(), "expired".to_string()),
            ("y@fabrikam.test".to_string(), "honoured".to_string()),
        ],
        &states,
    );
    let x = e.users.iter().find(|r| r.user.id == "id-x").unwrap();
    assert_eq!(x.registered, Some(false));
    assert_contains("reason of x", &x.reason, &["exception expired"]);
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "expired-exception")
        .expect("an expired-exception finding");
    assert_eq!(f.count, 1);
    assert_contains(
        "expired-exception detail",
        &f.detail,
        &["1 exception had expired", "its user is evaluated"],
    );
    assert_contains(
        "expired-exception examples",
        &f.examples.join("; "),
        &["x@fabrikam.test", "2026-09-30"],
    );
    let y = e.users.iter().find(|r| r.user.id == "id-y").unwrap();
    assert_eq!(y.exception.map(|e| e.reason.as_str()), Some("no phone"));
}

#[test]
fn unknown_methods_are_kept_and_named() {
    let snap = snap_of(vec![
        with_reg(member("q"), &["quantumEntanglementKey", "mobilePhone"]),
        with_reg(member("r"), &["quantumEntanglementKey"]),
    ]);
    let s = settings("");
    let e = evaluate(&snap, &s);
    let q = e.users.iter().find(|r| r.user.id == "id-q").unwrap();
    assert_same(
        "methods kept as reported",
        &vec![
            "quantumEntanglementKey".to_string(),
            "mobilePhone".to_string(),
        ],
        &q.methods.to_vec(),
    );
    assert_eq!(q.registered, Some(true), "mobilePhone still qualifies");
    let r = e.users.iter().find(|r| r.user.id == "id-r").unwrap();
    assert_eq!(r.registered, Some(false));
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "unknown-method")
        .unwrap();
    assert_same(
        "unknown-method examples",
        &vec!["quantumEntanglementKey (2 users)".to_string()],
        &f.examples,
    );
    // Added to the qualifying set, the string is neither unknown nor non-qualifying.
    let s = settings("[control]\nqualifying_methods = [\"quantumEntanglementKey\"]\n");
    let e = evaluate(&snap, &s);
    assert!(e.findings.iter().all(|f| f.code != "unknown-method"));
    assert_eq!(e.point_in_time.registered, 2);
}

#[test]
fn missing_and_orphan_rows_are_named() {
    let snap = snapshot(
        vec![member("a"), member("m")],
        vec![reg("a", APP), reg("gone", APP)],
    );
    let s = settings("");
    let e = evaluate(&snap, &s);
    let rec = &e.point_in_time.reconciliation;
    assert_same(
        "reconciliation (users, in scope, missing, rows, orphans)",
        &(2, 2, 1, 2, 1),
        &(
            rec.users_listed,
            rec.in_scope,
            rec.in_scope_missing_from_report,
            rec.report_rows,
            rec.report_rows_without_user,
        ),
    );
    let missing = e
        .findings
        .iter()
        .find(|f| f.code == "missing-from-registration-report")
        .unwrap();
    assert_same(
        "missing examples",
        &vec!["m@fabrikam.test".to_string()],
        &missing.examples,
    );
    let orphan = e
        .findings
        .iter()
        .find(|f| f.code == "registration-row-without-user")
        .unwrap();
    assert_same(
        "orphan examples",
        &vec!["gone@fabrikam.test (id-gone)".to_string()],
        &orphan.examples,
    );
    let m = e.users.iter().find(|r| r.user.id == "id-m").unwrap();
    assert_eq!(m.registered, Some(false));
    assert!(m.registration.is_none());
}

#[test]
fn break_glass_accounts_are_listed_with_their_methods() {
    let snap = with_group_members(
        snap_of(vec![
            with_reg(member("bg1"), &["fido2", "mobilePhone"]),
            with_reg(member("bg2"), &["mobilePhone"]),
            with_reg(member("a"), APP),
        ]),
        &["bg2"],
    );
    let s = settings(
        "[break_glass]\nupns = [\"BG1@fabrikam.test\", \"ghost@fabrikam.test\"]\ngroup_id = \"g-1\"\n",
    );
    let e = evaluate(&snap, &s);
    let accounts: Vec<(String, String, bool, bool)> = e
        .point_in_time
        .break_glass_accounts
        .iter()
        .map(|a| {
            (
                a.user_principal_name.clone(),
                a.matched_by.to_string(),
                a.found,
                a.phishing_resistant,
            )
        })
        .collect();
    assert_eq!(accounts.len(), 3, "{accounts:#?}");
    for (upn, found, pr) in [
        ("bg1@fabrikam.test", true, true),
        ("bg2@fabrikam.test", true, false),
        ("ghost@fabrikam.test", false, false),
    ] {
        let a = accounts
            .iter()
            .find(|a| a.0 == upn)
            .unwrap_or_else(|| panic!("{upn} not listed: {accounts:#?}"));
        assert_eq!((a.2, a.3), (found, pr), "{upn}: {a:?}");
    }
    let codes: Vec<&str> = e.findings.iter().map(|f| f.code.as_str()).collect();
    assert_same(
        "findings",
        &vec![
            "break-glass-not-found",
            "break-glass-not-phishing-resistant",
        ],
        &codes,
    );
    let weak = &e.findings[1];
    assert_same(
        "weak break-glass",
        &vec!["bg2@fabrikam.test".to_string()],
        &weak.examples,
    );
    assert_eq!(e.findings[0].examples, vec!["ghost@fabrikam.test"]);
}

#[test]
fn microsoft_flags_are_counted_beside_the_figure() {
    let mut email_only = reg("e", &["email"]);
    email_only.is_mfa_registered = Some(true);
    email_only.is_mfa_capable = Some(true);
    let mut phone_unflagged = reg("p", &["mobilePhone"]);
    phone_unflagged.is_mfa_registered = Some(false);
    phone_unflagged.is_mfa_capable = Some(false);
    let snap = snapshot(
        vec![member("a"), member("e"), member("p"), member("n")],
        vec![reg("a", APP), email_only, phone_unflagged, reg("n", &[])],
    );
    let s = settings("");
    let e = evaluate(&snap, &s);
    let ms = &e.point_in_time.microsoft;
    assert_same(
        "figure, then isMfaRegistered, isMfaCapable, disagreements",
        &(2, Some(2), Some(2), 2),
        &(
            e.point_in_time.registered,
            ms.is_mfa_registered,
            ms.is_mfa_capable,
            ms.disagreements,
        ),
    );
    let mut who: Vec<&str> = ms
        .disagreement_sample
        .iter()
        .map(|b| b.user_principal_name.as_str())
        .collect();
    who.sort();
    assert_same(
        "users where Microsoft disagrees",
        &vec!["e@fabrikam.test", "p@fabrikam.test"],
        &who,
    );
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "microsoft-flag-disagreement")
        .unwrap();
    assert_eq!(f.count, 2);
}

#[test]
fn stale_rows_use_the_configured_age() {
    let mut old = reg("old", APP);
    old.last_updated = graph_time("2026-10-30T05:00:00Z");
    let snap = snapshot(vec![member("old")], vec![old]);
    // 25 hours old: fine at the default 48 h, stale at 24 h.
    assert!(
        evaluate(&snap, &settings(""))
            .findings
            .iter()
            .all(|f| f.code != "stale-registration-report")
    );
    let s = settings("[control]\nmax_report_age_hours = 24\n");
    let e = evaluate(&snap, &s);
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "stale-registration-report")
        .expect("stale at 24 h");
    assert_eq!(f.count, 1);
    assert_eq!(e.freshness.stale_rows, 1);
    assert_eq!(
        e.freshness.oldest_row_updated.as_deref(),
        Some("2026-10-30T05:00:00Z")
    );
}
