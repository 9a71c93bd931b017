//! Alerts: what is news on real evaluations, the Teams and Slack payloads in the shapes those
//! services document, delivery to a webhook receiver on 127.0.0.1 (answering, down, 500, slow,
//! throttling, gone), mail through a real SMTP server on 127.0.0.1 (aiosmtpd, STARTTLS with
//! certificates made here with openssl, a login), the store's record of what was sent, and that
//! neither the webhook URL nor the SMTP password reaches a log line, an error or a file.
//!
//! The SMTP server runs on the Python interpreter named by `MFA_EVIDENCE_TEST_PYTHON` (`.ci/run`
//! sets it up in `.ci/venv`); see [`python`] for running these tests locally.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use mfa_evidence::config::{Config, ControlSettings, NotifySettings};
use mfa_evidence::evaluate::{ControlResult, evaluate};
use mfa_evidence::notify::deliver::{
    Channel, Delivery, Notifier, NotifyEnv, RetryPolicy, SMTP_PASSWORD_VAR, WEBHOOK_URL_VAR,
};
use mfa_evidence::notify::record::{self, NotificationRecord, Signalled};
use mfa_evidence::notify::{
    self, Alert, AlertKind, CollectionFailure, ControlAlert, Population, payload,
};
use serde_json::{Value, json};

use mfa_evidence::store::Store;

use crate::util::{
    Run, TENANT_ID, Workdir, capture_logs, graph_users, member, reg, snapshot, write_export,
};

const AUTHENTICATOR: &[&str] = &["microsoftAuthenticatorPush"];
/// The secret part of the test webhook's URL, as Slack and Teams put one in the path.
const HOOK_SECRET: &str = "T0CANARY/B0CANARY/XyZ-hook-s3cr3t-canary";
const SMTP_USER: &str = "mfa-alerts";
const SMTP_PASSWORD: &str = "Pa55-smtp-s3cr3t-canary";

/// Quick retries, so a receiver that stays down costs the tests milliseconds.
fn quick() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        attempt_timeout: Duration::from_secs(5),
    }
}

// ---------------------------------------------------------------------------------------------
// Alerts built from real evaluations.

fn names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i:02}")).collect()
}

/// The previous snapshot: 20 in scope, 19 registered (95.00 %, a pass). The current one: user
/// `a02` lost its method, `zz-new1` joined unregistered and `zz-new2` registered: 19 of 22
/// (86.36 %), a fail.
fn failing_after_passing() -> Alert {
    let settings = ControlSettings::default();
    let before: Vec<String> = names("a", 20);
    let prev_users = before.iter().map(|n| member(n)).collect();
    let prev_regs = before
        .iter()
        .enumerate()
        .map(|(i, n)| reg(n, if i == 19 { &[] } else { AUTHENTICATOR }))
        .collect();
    let prev_snap = snapshot(prev_users, prev_regs);
    let prev = evaluate(&prev_snap, &settings);
    assert_eq!(prev.result, ControlResult::Pass);
    let population = Population::of(&prev);

    let mut now_names = before.clone();
    now_names.extend(["zz-new1".to_string(), "zz-new2".to_string()]);
    let users = now_names.iter().map(|n| member(n)).collect();
    let regs = now_names
        .iter()
        .map(|n| {
            let unregistered = n == "a02" || n == "a20" || n == "zz-new1";
            reg(n, if unregistered { &[] } else { AUTHENTICATOR })
        })
        .collect();
    let snap = snapshot(users, regs);
    let current = evaluate(&snap, &settings);
    assert_eq!(
        notify::decide(Some(prev.result), current.result),
        Some(AlertKind::NotPassing)
    );
    Alert::Control(ControlAlert::new(
        &snap.tenant,
        7,
        &current,
        Some((prev.result, &population)),
        notify::package_command(
            Some(Path::new("/etc/mfa-evidence/mfa-evidence.toml")),
            TENANT_ID,
        ),
    ))
}

fn t(text: &str) -> chrono::DateTime<chrono::Utc> {
    mfa_evidence::time::parse_rfc3339(text).unwrap()
}

fn collection_failed() -> Alert {
    Alert::CollectionFailed(CollectionFailure::new(
        Some(TENANT_ID),
        t("2026-11-01T02:15:00Z"),
        Some(t("2026-10-31T06:00:00Z")),
        "users: Graph answered 403 Forbidden (Authorization_RequestDenied): grant the application permission User.Read.All and an admin consent (request-id 1234)",
        48,
    ))
}

#[test]
fn a_failing_alert_carries_the_figure_and_what_changed() {
    let alert = failing_after_passing();
    let Alert::Control(a) = &alert else {
        unreachable!()
    };
    assert_eq!((a.registered, a.in_scope), (19, 22));
    assert_eq!(a.percent, "86.36");
    let changes = a.changes.as_ref().unwrap();
    assert_eq!(changes.joiners, 2);
    assert_eq!(
        changes.joiners_sample,
        ["zz-new1@fabrikam.test", "zz-new2@fabrikam.test"]
    );
    // a20 was unregistered before too: not news. a02 lost its method; zz-new1 joined without one.
    assert_eq!(changes.newly_unregistered, 2);
    assert_eq!(
        changes.newly_unregistered_sample,
        ["a02@fabrikam.test", "zz-new1@fabrikam.test"]
    );
    assert_eq!(
        alert.title(),
        "ID-01 fails for Fabrikam Test: 86.36 % registered, threshold 95.00 %"
    );
    let text = alert.text();
    for needle in [
        "19 of 22 in scope (86.36 %)",
        "Result: fail (previous snapshot: pass)",
        "Joiners since the previous snapshot: 2: zz-new1@fabrikam.test, zz-new2@fabrikam.test",
        "Newly unregistered: 2: a02@fabrikam.test, zz-new1@fabrikam.test",
        "mfa-evidence --config /etc/mfa-evidence/mfa-evidence.toml report --tenant 11111111-2222-3333-4444-555555555555",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn a_first_snapshot_and_a_recovery() {
    let settings = ControlSettings::default();
    let all = names("a", 4);
    let snap = snapshot(
        all.iter().map(|n| member(n)).collect(),
        all.iter().map(|n| reg(n, AUTHENTICATOR)).collect(),
    );
    let eval = evaluate(&snap, &settings);
    // A first snapshot that passes is not news; a pass after a failure is.
    assert_eq!(notify::decide(None, eval.result), None);
    assert_eq!(notify::decide(Some(ControlResult::Pass), eval.result), None);
    assert_eq!(
        notify::decide(Some(ControlResult::Fail), eval.result),
        Some(AlertKind::Recovered)
    );
    let alert = Alert::Control(ControlAlert::new(
        &snap.tenant,
        2,
        &eval,
        Some((ControlResult::Fail, &Population::default())),
        notify::package_command(None, TENANT_ID),
    ));
    assert_eq!(alert.kind(), AlertKind::Recovered);
    assert_eq!(
        alert.title(),
        "ID-01 passes again for Fabrikam Test: 100.00 % registered, threshold 95.00 %"
    );
    let first = Alert::Control(ControlAlert::new(
        &snap.tenant,
        1,
        &eval,
        None,
        notify::package_command(None, TENANT_ID),
    ));
    assert!(
        first
            .text()
            .contains("Result: pass (no previous snapshot to compare with)")
    );
    assert!(
        !first.text().contains("Joiners"),
        "no previous snapshot to compare with"
    );
}

// ---------------------------------------------------------------------------------------------
// Payloads, in the shapes the services document.

fn text_blocks(card: &Value) -> Vec<String> {
    card["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "TextBlock")
        .map(|e| e["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_teams_payload_is_a_message_with_one_adaptive_card() {
    for alert in [failing_after_passing(), collection_failed()] {
        let p = payload::teams(&alert);
        assert_eq!(p["type"], "message");
        let attachments = p["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 1);
        let a = &attachments[0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert!(a["contentUrl"].is_null(), "contentUrl must be null");
        let card = &a["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(
            card["$schema"],
            "http://adaptivecards.io/schemas/adaptive-card.json"
        );
        assert_eq!(card["version"], "1.2");
        for element in card["body"].as_array().unwrap() {
            match element["type"].as_str().unwrap() {
                "TextBlock" => assert!(element["text"].is_string(), "{element}"),
                "FactSet" => {
                    for fact in element["facts"].as_array().unwrap() {
                        assert!(
                            fact["title"].is_string() && fact["value"].is_string(),
                            "{fact}"
                        );
                        assert_eq!(fact.as_object().unwrap().len(), 2, "{fact}");
                    }
                }
                other => panic!("{other} is not an element this card should use"),
            }
        }
        assert!(text_blocks(card)[0].starts_with("ID-01 "));
    }
    let p = payload::teams(&failing_after_passing());
    let card = &p["attachments"][0]["content"];
    let facts = &card["body"][2]["facts"];
    assert_eq!(facts[3]["title"], "Registered");
    assert_eq!(facts[3]["value"], "19 of 22 in scope (86.36 %)");
    assert_eq!(card["body"][0]["color"], "Attention");
    let texts = text_blocks(card);
    assert!(
        texts
            .iter()
            .any(|t| t.ends_with("report --tenant 11111111-2222-3333-4444-555555555555"))
    );
    let failed = payload::teams(&collection_failed());
    let texts = text_blocks(&failed["attachments"][0]["content"]);
    assert!(
        texts.iter().any(|t| t.contains("User.Read.All")),
        "{texts:?}"
    );
}

#[test]
fn a_slack_payload_is_text_and_blocks_within_block_kit_limits() {
    let mut alert = failing_after_passing();
    if let Alert::Control(a) = &mut alert {
        a.tenant_name = "Contoso <!channel> & Co".into();
    }
    for alert in [alert, collection_failed()] {
        let p = payload::slack(&alert);
        assert!(!p["text"].as_str().unwrap().is_empty(), "the fallback text");
        let blocks = p["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
        for b in blocks {
            match b["type"].as_str().unwrap() {
                "header" => {}
                "section" => {
                    if let Some(fields) = b.get("fields") {
                        let fields = fields.as_array().unwrap();
                        assert!(!fields.is_empty() && fields.len() <= 10);
                        for f in fields {
                            assert_eq!(f["type"], "mrkdwn");
                            assert!(f["text"].as_str().unwrap().chars().count() <= 2000);
                        }
                    } else {
                        assert_eq!(b["text"]["type"], "mrkdwn");
                        assert!(b["text"]["text"].as_str().unwrap().chars().count() <= 3000);
                    }
                }
                "context" => {
                    let elements = b["elements"].as_array().unwrap();
                    assert!(!elements.is_empty() && elements.len() <= 10);
                }
                other => panic!("{other} is not a block this message should use"),
            }
        }
    }
    let p = payload::slack(&failing_after_passing());
    let fields = p["blocks"][2]["fields"].as_array().unwrap();
    assert_eq!(
        fields[3]["text"],
        "*Registered*\n19 of 22 in scope (86.36 %)"
    );
    // Text from the tenant cannot ping a channel: Slack's control characters are escaped.
    let mut alert = failing_after_passing();
    if let Alert::Control(a) = &mut alert {
        a.tenant_name = "Contoso <!channel> & Co".into();
    }
    let fields = payload::slack(&alert)["blocks"][2]["fields"][0]["text"].clone();
    assert!(
        fields
            .as_str()
            .unwrap()
            .contains("Contoso &lt;!channel&gt; &amp; Co"),
        "{fields}"
    );
}

#[test]
fn a_json_payload_carries_every_figure() {
    let p = payload::json(&failing_after_passing());
    assert_eq!(p["kind"], "not-passing");
    assert_eq!(p["control"], "ID-01");
    assert_eq!(p["tenant"]["id"], TENANT_ID);
    assert_eq!(p["result"], "fail");
    assert_eq!(p["previous_result"], "pass");
    assert_eq!(p["registered"], 19);
    assert_eq!(p["in_scope"], 22);
    assert_eq!(p["percent"], "86.36");
    assert_eq!(p["threshold_percent"], "95.00");
    assert_eq!(p["changes"]["joiners"], 2);
    assert_eq!(
        p["changes"]["newly_unregistered_sample"][0],
        "a02@fabrikam.test"
    );
    assert!(
        p["package_command"]
            .as_str()
            .unwrap()
            .contains("report --tenant")
    );
    let f = payload::json(&collection_failed());
    assert_eq!(f["kind"], "collection-failed");
    assert_eq!(f["last_snapshot_at"], "2026-10-31T06:00:00Z");
    assert!(f["error"].as_str().unwrap().contains("User.Read.All"));
    assert!(f["next_step"].as_str().unwrap().contains("48 hours"));
}

// ---------------------------------------------------------------------------------------------
// A webhook receiver on 127.0.0.1.

/// How the receiver answers: request n gets `answers[n]`, the last one repeats.
#[derive(Clone, Debug)]
enum Answer {
    Status(u16, &'static str),
    /// 429 with `Retry-After` in seconds.
    Throttle(u64),
    /// Answers 200 after this long.
    Slow(Duration),
    /// 400 with the request's path in the body, as a careless receiver might.
    EchoPath,
}

#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: Option<String>,
    body: Value,
}

#[derive(Clone)]
struct ReceiverState {
    answers: Arc<Vec<Answer>>,
    count: Arc<AtomicUsize>,
    got: Arc<Mutex<Vec<Received>>>,
}

struct Receiver {
    /// The webhook's URL, secret path included.
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(answers: &[Answer]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/services/{HOOK_SECRET}",
            listener.local_addr().unwrap()
        );
        let state = ReceiverState {
            answers: Arc::new(answers.to_vec()),
            count: Arc::new(AtomicUsize::new(0)),
            got: Arc::new(Mutex::new(Vec::new())),
        };
        let got = state.got.clone();
        let app = Router::new().fallback(receive).with_state(state);
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url,
            got,
            _server: server,
        }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = state.count.fetch_add(1, Ordering::SeqCst);
    state.got.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string()),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let answer = state.answers[n.min(state.answers.len() - 1)].clone();
    match answer {
        Answer::Status(code, text) => (StatusCode::from_u16(code).unwrap(), text).into_response(),
        Answer::Throttle(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            "rate_limited",
        )
            .into_response(),
        Answer::Slow(wait) => {
            tokio::time::sleep(wait).await;
            (StatusCode::OK, "1").into_response()
        }
        Answer::EchoPath => (
            StatusCode::BAD_REQUEST,
            format!("invalid_payload for {}", uri.path()),
        )
            .into_response(),
    }
}

fn webhook_settings(format: &str) -> NotifySettings {
    Config::from_toml(&format!("[notify]\nformat = \"{format}\"\n"))
        .unwrap()
        .notify
}

fn env_with(vars: &[(&str, &str)]) -> NotifyEnv {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    NotifyEnv::from_lookup(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

fn webhook_notifier(format: &str, url: &str, policy: RetryPolicy) -> Notifier {
    Notifier::new(
        &webhook_settings(format),
        &env_with(&[(WEBHOOK_URL_VAR, url)]),
    )
    .unwrap()
    .expect("a channel is configured")
    .with_policy(policy)
}

async fn send_one(notifier: &Notifier, alert: &Alert) -> Delivery {
    let mut d = notifier.send(alert).await;
    assert_eq!(d.len(), 1, "{d:?}");
    d.remove(0)
}

#[tokio::test]
async fn a_webhook_receives_the_payload_once() {
    for (format, expected) in [
        ("teams", payload::teams as fn(&Alert) -> Value),
        ("slack", payload::slack),
        ("json", payload::json),
    ] {
        let receiver = Receiver::start(&[Answer::Status(200, "ok")]).await;
        let notifier = webhook_notifier(format, &receiver.url, quick());
        let alert = failing_after_passing();
        let d = send_one(&notifier, &alert).await;
        assert!(d.delivered, "{format}: {d:?}");
        assert_eq!(
            (d.channel, d.attempts, d.error),
            (Channel::Webhook, 1, None)
        );
        let got = receiver.got();
        assert_eq!(got.len(), 1, "{format}");
        assert_eq!(got[0].path, format!("/services/{HOOK_SECRET}"));
        assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
        assert_eq!(got[0].body, expected(&alert), "{format}");
    }
}

#[tokio::test]
async fn a_receiver_answering_500_is_tried_again_then_reported() {
    let receiver = Receiver::start(&[Answer::Status(500, "upstream broke")]).await;
    let d = send_one(
        &webhook_notifier("teams", &receiver.url, quick()),
        &failing_after_passing(),
    )
    .await;
    assert!(!d.delivered);
    assert_eq!(d.attempts, 3);
    assert_eq!(receiver.got().len(), 3, "bounded: the policy's three tries");
    let error = d.error.unwrap();
    assert!(
        error.contains("the webhook answered HTTP 500 (upstream broke)"),
        "{error}"
    );
    assert!(
        !error.contains("CANARY") && !error.contains("127.0.0.1"),
        "{error}"
    );

    // A passing fault is ridden out.
    let receiver = Receiver::start(&[Answer::Status(503, ""), Answer::Status(200, "1")]).await;
    let d = send_one(
        &webhook_notifier("slack", &receiver.url, quick()),
        &failing_after_passing(),
    )
    .await;
    assert!(d.delivered, "{d:?}");
    assert_eq!(d.attempts, 2);
}

#[tokio::test]
async fn a_receiver_that_is_down_is_reported() {
    // A port nothing listens on: bound, then released.
    let url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/services/{HOOK_SECRET}", l.local_addr().unwrap())
    };
    let d = send_one(
        &webhook_notifier("json", &url, quick()),
        &collection_failed(),
    )
    .await;
    assert!(!d.delivered);
    assert_eq!(d.attempts, 3);
    let error = d.error.unwrap();
    assert!(
        error.starts_with("cannot connect to the webhook"),
        "{error}"
    );
    assert!(!error.contains("CANARY"), "{error}");
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_in_time_is_reported() {
    let receiver = Receiver::start(&[Answer::Slow(Duration::from_secs(3))]).await;
    let policy = RetryPolicy {
        attempts: 2,
        attempt_timeout: Duration::from_millis(300),
        ..quick()
    };
    let started = Instant::now();
    let d = send_one(
        &webhook_notifier("teams", &receiver.url, policy),
        &failing_after_passing(),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!d.delivered);
    assert_eq!(d.attempts, 2);
    assert_eq!(
        d.error.as_deref(),
        Some("the webhook did not answer within 0.3 s")
    );
}

#[tokio::test]
async fn a_webhook_that_is_gone_or_refuses_is_not_tried_again() {
    for (status, needle) in [
        (404, "create one and set MFA_EVIDENCE_WEBHOOK_URL"),
        (410, "create one and set MFA_EVIDENCE_WEBHOOK_URL"),
        (400, "check that notify.format = \"slack\""),
        (403, "who may post to the webhook"),
    ] {
        let receiver = Receiver::start(&[Answer::Status(status, "no_service")]).await;
        let d = send_one(
            &webhook_notifier("slack", &receiver.url, quick()),
            &failing_after_passing(),
        )
        .await;
        assert!(!d.delivered);
        assert_eq!(d.attempts, 1, "{status}");
        let error = d.error.unwrap();
        assert!(
            error.contains(&format!("HTTP {status}")) && error.contains(needle),
            "{error}"
        );
    }
}

#[tokio::test]
async fn throttling_waits_as_asked_and_teams_throttling_in_a_200_counts() {
    let receiver = Receiver::start(&[Answer::Throttle(1), Answer::Status(200, "ok")]).await;
    let policy = RetryPolicy {
        max_delay: Duration::from_secs(2),
        ..quick()
    };
    let started = Instant::now();
    let d = send_one(
        &webhook_notifier("slack", &receiver.url, policy),
        &failing_after_passing(),
    )
    .await;
    assert!(d.delivered && d.attempts == 2, "{d:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );

    // A Teams connector answers 200 with its throttling in the body.
    let receiver = Receiver::start(&[
        Answer::Status(
            200,
            "Microsoft Teams endpoint returned HTTP error 429 with ContextId ...",
        ),
        Answer::Status(200, "1"),
    ])
    .await;
    let d = send_one(
        &webhook_notifier("teams", &receiver.url, quick()),
        &failing_after_passing(),
    )
    .await;
    assert!(d.delivered && d.attempts == 2, "{d:?}");
}

#[test]
fn the_webhook_needs_its_url_from_the_environment_over_https() {
    let settings = webhook_settings("teams");
    let err = Notifier::new(&settings, &NotifyEnv::default()).unwrap_err();
    assert!(
        format!("{err:#}").contains("MFA_EVIDENCE_WEBHOOK_URL is not set"),
        "{err:#}"
    );
    let url = format!("http://hooks.example.com/services/{HOOK_SECRET}");
    let err = format!(
        "{:#}",
        Notifier::new(&settings, &env_with(&[(WEBHOOK_URL_VAR, &url)])).unwrap_err()
    );
    assert!(err.contains("must use https"), "{err}");
    assert!(
        !err.contains("CANARY") && !err.contains("hooks.example.com"),
        "{err}"
    );
    // Nothing configured: no notifier, whatever the environment holds.
    let none = Notifier::new(
        &NotifySettings::default(),
        &env_with(&[(WEBHOOK_URL_VAR, &url)]),
    );
    assert!(none.unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// A real SMTP server on 127.0.0.1.

/// The interpreter with aiosmtpd: `MFA_EVIDENCE_TEST_PYTHON`, else `.ci/venv`, made on first use.
/// Without python3 the test fails and says what to install: mail delivery is never skipped.
fn python() -> PathBuf {
    match std::env::var_os("MFA_EVIDENCE_TEST_PYTHON") {
        Some(python) => PathBuf::from(python),
        None => crate::util::venv_bin("venv", "requirements-test.txt", "aiosmtpd").join("python"),
    }
}

/// A CA and a relay certificate for 127.0.0.1 signed by it, made with openssl.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn make() -> Certs {
        let dir = tempfile::tempdir().unwrap();
        // Arguments hold no spaces, so a command line is split on whitespace.
        let run = |args: &str| {
            let out = Command::new("openssl")
                .args(args.split_whitespace())
                .current_dir(dir.path())
                .output()
                .unwrap_or_else(|e| panic!("the SMTP tests need openssl on the PATH: {e}"));
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        run(&format!(
            "req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=mfa-evidence-test-CA \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        ));
        run(&format!(
            "req {ec} -keyout relay.key -out relay.csr -subj /CN=127.0.0.1"
        ));
        std::fs::write(
            dir.path().join("relay.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n\
             basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n",
        )
        .unwrap();
        run(
            "x509 -req -in relay.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out relay.pem -days 2 -extfile relay.ext",
        );
        Certs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// aiosmtpd on 127.0.0.1, stopped when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    mails: mpsc::Receiver<Value>,
}

impl SmtpServer {
    /// With `certs`, STARTTLS is offered and required; with a login, it is required.
    fn start(certs: Option<&Certs>, login: Option<(&str, &str)>) -> SmtpServer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/smtp_server.py");
        let python = python();
        let mut cmd = Command::new(&python);
        cmd.arg(&script).arg("--lifetime").arg("120");
        if let Some(c) = certs {
            cmd.arg("--cert")
                .arg(c.path("relay.pem"))
                .arg("--key")
                .arg(c.path("relay.key"));
        }
        if let Some((user, password)) = login {
            cmd.args(["--user", user, "--password", password]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            panic!(
                "the SMTP server ({} {}) did not start: is aiosmtpd installed for it? (pip install -r .ci/requirements-test.txt)",
                python.display(),
                script.display()
            )
        });
        let port = ready
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the SMTP server: {ready}"));
        let (mail_tx, mails) = mpsc::channel();
        std::thread::spawn(move || {
            while let Ok(line) = rx.recv() {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && mail_tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        SmtpServer { child, port, mails }
    }

    fn next_mail(&self) -> Option<Value> {
        self.mails.recv_timeout(Duration::from_secs(5)).ok()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn email_settings(port: u16, username: bool, ca_file: Option<&Path>) -> NotifySettings {
    let mut toml = format!(
        "[notify.email]\nhost = \"127.0.0.1\"\nport = {port}\nfrom = \"MFA evidence <mfa@fabrikam.test>\"\n\
         to = [\"secops@fabrikam.test\", \"ciso@fabrikam.test\"]\n"
    );
    if username {
        toml.push_str(&format!("username = \"{SMTP_USER}\"\n"));
    }
    if let Some(ca) = ca_file {
        toml.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
    }
    Config::from_toml(&toml).unwrap().notify
}

fn email_notifier(settings: &NotifySettings, password: Option<&str>) -> Notifier {
    let env = match password {
        Some(p) => env_with(&[(SMTP_PASSWORD_VAR, p)]),
        None => NotifyEnv::default(),
    };
    Notifier::new(settings, &env)
        .unwrap()
        .unwrap()
        .with_policy(quick())
}

#[tokio::test]
async fn mail_goes_out_over_starttls_with_the_login() {
    let certs = Certs::make();
    let server = SmtpServer::start(Some(&certs), Some((SMTP_USER, SMTP_PASSWORD)));
    let settings = email_settings(server.port, true, Some(&certs.path("ca.pem")));
    let d = send_one(
        &email_notifier(&settings, Some(SMTP_PASSWORD)),
        &failing_after_passing(),
    )
    .await;
    assert!(d.delivered, "{d:?}");
    assert_eq!((d.channel, d.attempts), (Channel::Email, 1));
    let mail = server.next_mail().expect("the relay received the mail");
    assert_eq!(mail["tls"], true, "sent after STARTTLS");
    assert_eq!(mail["authenticated"], true);
    assert_eq!(mail["login"], SMTP_USER);
    assert_eq!(mail["mail_from"], "mfa@fabrikam.test");
    let rcpt: BTreeSet<&str> = mail["rcpt_tos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        rcpt,
        BTreeSet::from(["secops@fabrikam.test", "ciso@fabrikam.test"])
    );
    assert_eq!(
        mail["subject"],
        "[mfa-evidence] ID-01 fails for Fabrikam Test: 86.36 % registered, threshold 95.00 %"
    );
    assert_eq!(
        (&mail["content_type"], &mail["charset"]),
        (&json!("text/plain"), &json!("utf-8"))
    );
    let body = mail["body"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(
        body.trim_end(),
        failing_after_passing().text().trim_end(),
        "the mail is the alert's text"
    );
    for needle in [
        "Registered: 19 of 22 in scope (86.36 %)",
        "Newly unregistered: 2: a02@fabrikam.test, zz-new1@fabrikam.test",
        "    mfa-evidence --config /etc/mfa-evidence/mfa-evidence.toml report --tenant 11111111-2222-3333-4444-555555555555",
    ] {
        assert!(body.contains(needle), "{needle:?} not in:\n{body}");
    }
}

#[tokio::test]
async fn a_wrong_password_is_refused_once_and_named() {
    let certs = Certs::make();
    let server = SmtpServer::start(Some(&certs), Some((SMTP_USER, "the-right-one")));
    let settings = email_settings(server.port, true, Some(&certs.path("ca.pem")));
    let d = send_one(
        &email_notifier(&settings, Some(SMTP_PASSWORD)),
        &collection_failed(),
    )
    .await;
    assert!(!d.delivered);
    assert_eq!(d.attempts, 1, "a refused login is not tried again");
    let error = d.error.unwrap();
    assert!(
        error.contains("refused the login") && error.contains("MFA_EVIDENCE_SMTP_PASSWORD"),
        "{error}"
    );
    assert!(!error.contains(SMTP_PASSWORD), "{error}");
    assert!(server.next_mail().is_none());
}

#[tokio::test]
async fn a_relay_certificate_from_an_unknown_ca_gets_nothing() {
    let certs = Certs::make();
    let server = SmtpServer::start(Some(&certs), Some((SMTP_USER, SMTP_PASSWORD)));
    // No ca_file: the test CA is not among the public roots.
    let settings = email_settings(server.port, true, None);
    let d = send_one(
        &email_notifier(&settings, Some(SMTP_PASSWORD)),
        &failing_after_passing(),
    )
    .await;
    assert!(!d.delivered);
    assert_eq!(d.attempts, 1, "{d:?}");
    let error = d.error.unwrap();
    assert!(
        error.contains("TLS handshake") && error.contains("notify.email.ca_file"),
        "{error}"
    );
    assert!(server.next_mail().is_none());
}

#[tokio::test]
async fn a_relay_without_starttls_gets_nothing() {
    let server = SmtpServer::start(None, None);
    let settings = email_settings(server.port, false, None);
    let d = send_one(&email_notifier(&settings, None), &failing_after_passing()).await;
    assert!(!d.delivered);
    assert_eq!(d.attempts, 1);
    let error = d.error.unwrap();
    assert!(error.contains("does not offer STARTTLS"), "{error}");
    assert!(server.next_mail().is_none(), "no mail in the clear");
}

#[test]
fn a_login_needs_both_halves_and_a_readable_ca() {
    let settings = email_settings(587, true, None);
    let err = Notifier::new(&settings, &NotifyEnv::default()).unwrap_err();
    assert!(
        format!("{err:#}").contains("MFA_EVIDENCE_SMTP_PASSWORD is not"),
        "{err:#}"
    );
    let settings = email_settings(587, false, None);
    let err =
        Notifier::new(&settings, &env_with(&[(SMTP_PASSWORD_VAR, SMTP_PASSWORD)])).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("notify.email.username is not"), "{text}");
    assert!(!text.contains(SMTP_PASSWORD));
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    for (path, needle) in [
        (dir.path().join("missing.pem"), "cannot read"),
        (not_pem, "holds no PEM certificate"),
    ] {
        let err = Notifier::new(
            &email_settings(587, false, Some(&path)),
            &NotifyEnv::default(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains(needle), "{err:#}");
    }
}

// ---------------------------------------------------------------------------------------------
// The record, and secrets.

#[tokio::test]
async fn the_record_keeps_what_was_sent_and_counts_deviations_signalled() {
    let store = tempfile::tempdir().unwrap();
    std::fs::create_dir(store.path().join(TENANT_ID)).unwrap();
    let ok = Receiver::start(&[Answer::Status(200, "ok")]).await;
    let down = Receiver::start(&[Answer::Status(500, "")]).await;
    let alert = failing_after_passing();
    let mut records = Vec::new();
    for url in [&ok.url, &down.url] {
        let d = send_one(&webhook_notifier("teams", url, quick()), &alert).await;
        records.push(NotificationRecord::new(&alert, &d));
    }
    let file = record::append(store.path(), Some(TENANT_ID), &records)
        .unwrap()
        .unwrap();
    assert_eq!(
        file,
        store.path().join(TENANT_ID).join("notifications.jsonl")
    );
    let read = record::read(store.path(), Some(TENANT_ID)).unwrap();
    assert_eq!(read, records);
    assert_eq!(read[0].kind, AlertKind::NotPassing);
    assert_eq!(
        (read[0].sequence, read[0].collected_at),
        (Some(7), Some(t("2026-10-31T06:00:00Z")))
    );
    assert_eq!((read[0].delivered, read[1].delivered), (true, false));
    assert_eq!(read[1].attempts, 3);
    let signalled = Signalled::from_records(&read);
    assert!(
        signalled.contains(7, t("2026-10-31T06:00:00Z")),
        "delivered on one channel is signalled"
    );
    assert!(!signalled.contains(6, t("2026-10-30T06:00:00Z")));
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_an_error_or_the_record() {
    let certs = Certs::make();
    let smtp = SmtpServer::start(Some(&certs), Some((SMTP_USER, SMTP_PASSWORD)));
    let store = tempfile::tempdir().unwrap();
    std::fs::create_dir(store.path().join(TENANT_ID)).unwrap();

    let deliver_all = || async {
        // A receiver that quotes the secret path back, and one that is fine.
        let echo = Receiver::start(&[Answer::EchoPath]).await;
        let ok = Receiver::start(&[Answer::Status(503, ""), Answer::Status(200, "ok")]).await;
        let alert = failing_after_passing();
        let mut all = Vec::new();
        for url in [&echo.url, &ok.url] {
            all.extend(webhook_notifier("slack", url, quick()).send(&alert).await);
        }
        let good = email_settings(smtp.port, true, Some(&certs.path("ca.pem")));
        all.extend(
            email_notifier(&good, Some(SMTP_PASSWORD))
                .send(&alert)
                .await,
        );
        // And a login the relay refuses, whose error must not quote the password either.
        let bad = email_notifier(&good, Some("Wr0ng-smtp-s3cr3t-canary"))
            .send(&alert)
            .await;
        all.extend(bad);
        (all, alert)
    };
    let ((deliveries, alert), logs) = capture_logs("alert delivery finished", deliver_all).await;
    assert_eq!(
        deliveries.iter().map(|d| d.delivered).collect::<Vec<_>>(),
        [false, true, true, false],
        "{deliveries:?}"
    );
    assert!(
        deliveries[0]
            .error
            .as_deref()
            .unwrap()
            .contains("invalid_payload for [hidden]"),
        "{deliveries:?}"
    );
    assert!(smtp.next_mail().is_some());
    let records: Vec<_> = deliveries
        .iter()
        .map(|d| NotificationRecord::new(&alert, d))
        .collect();
    record::append(store.path(), Some(TENANT_ID), &records).unwrap();

    assert!(
        logs.contains("alert delivery finished"),
        "debug logs were not captured:\n{logs}"
    );
    let plain_auth = |password: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("\0{SMTP_USER}\0{password}"))
    };
    let needles = [
        HOOK_SECRET.to_string(),
        "XyZ-hook-s3cr3t-canary".to_string(),
        SMTP_PASSWORD.to_string(),
        "Wr0ng-smtp-s3cr3t-canary".to_string(),
        plain_auth(SMTP_PASSWORD),
        plain_auth("Wr0ng-smtp-s3cr3t-canary"),
    ];
    let record_text =
        std::fs::read_to_string(store.path().join(TENANT_ID).join("notifications.jsonl")).unwrap();
    let errors: Vec<String> = deliveries.iter().filter_map(|d| d.error.clone()).collect();
    for needle in &needles {
        assert!(!logs.contains(needle.as_str()), "{needle} in the logs");
        assert!(
            !record_text.contains(needle.as_str()),
            "{needle} in the record"
        );
        for e in &errors {
            assert!(!e.contains(needle.as_str()), "{needle} in the error {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The built binary: alerts after `import` and `collect`, and the period's count in the package.

/// A work folder whose config sends alerts to the webhook as JSON, plus `extra` TOML.
fn alerting_workdir(extra: &str) -> (Workdir, String) {
    let work = Workdir::new();
    let config = work.join("mfa-evidence.toml");
    std::fs::write(&config, format!("[notify]\nformat = \"json\"\n{extra}")).unwrap();
    let config = config.to_str().unwrap().to_string();
    (work, config)
}

/// `import` of `registered` of 20 users, collected `day` days after 2026-11-01, with the webhook
/// URL in the environment; the receiver keeps serving while the binary runs.
async fn import_day(
    work: &Workdir,
    config: &str,
    day: u32,
    registered: u32,
    url: &str,
    extra: &[&str],
) -> Run {
    let dir = work.join(&format!("export-{day}"));
    write_export(&dir, &graph_users(20, registered));
    // After the export's report rows (2026-10-31T05:00:00Z): a collection cannot predate its data.
    let at = format!("2026-11-{:02}T06:00:00Z", day);
    let mut args: Vec<String> = [
        "--config",
        config,
        "import",
        "--dir",
        dir.to_str().unwrap(),
        "--collected-at",
        &at,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut cmd = work.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
    cmd.env(WEBHOOK_URL_VAR, url);
    tokio::task::spawn_blocking(move || Run::from(cmd.output().unwrap()))
        .await
        .unwrap()
}

fn store_of(work: &Workdir) -> Store {
    Store::new(work.join("evidence-store"))
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_follow_the_control_and_the_package_counts_the_deviations_signalled() {
    let receiver = Receiver::start(&[Answer::Status(200, "ok")]).await;
    let (work, config) = alerting_workdir("");
    let url = receiver.url.clone();
    // pass, pass: nothing is news.
    for day in [1, 2] {
        import_day(&work, &config, day, 20, &url, &[])
            .await
            .expect_code(0)
            .expect_output("alert: none");
    }
    assert_eq!(receiver.got().len(), 0, "a pass after a pass sends nothing");
    // fail after pass: one message with the figure.
    import_day(&work, &config, 3, 18, &url, &[])
        .await
        .expect_code(0)
        .expect_output("alert not-passing sent by the webhook (1 attempt)");
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    let m = &got[0].body;
    assert_eq!(
        (
            m["kind"].as_str(),
            m["result"].as_str(),
            m["previous_result"].as_str()
        ),
        (Some("not-passing"), Some("fail"), Some("pass"))
    );
    assert_eq!(
        (
            m["registered"].as_u64(),
            m["in_scope"].as_u64(),
            m["percent"].as_str()
        ),
        (Some(18), Some(20), Some("90.00"))
    );
    assert_eq!(m["sequence"], 3);
    assert_eq!(m["changes"]["newly_unregistered"], 2);
    assert_eq!(
        m["changes"]["newly_unregistered_sample"],
        json!(["user19@fabrikam.test", "user20@fabrikam.test"])
    );
    assert!(
        m["package_command"]
            .as_str()
            .unwrap()
            .ends_with(&format!("report --tenant {TENANT_ID}"))
    );
    // Still failing: told again. Then the recovery: one more.
    import_day(&work, &config, 4, 18, &url, &[])
        .await
        .expect_code(0);
    import_day(&work, &config, 5, 20, &url, &[])
        .await
        .expect_code(0)
        .expect_output("alert recovered sent by the webhook");
    let got = receiver.got();
    assert_eq!(got.len(), 3);
    assert_eq!(
        (
            got[1].body["previous_result"].as_str(),
            got[1].body["result"].as_str()
        ),
        (Some("fail"), Some("fail"))
    );
    assert_eq!(
        got[1].body["changes"]["newly_unregistered"], 0,
        "the same two as before"
    );
    assert_eq!(got[2].body["kind"], "recovered");

    let records = record::read(work.join("evidence-store").as_path(), Some(TENANT_ID)).unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| (r.sequence, r.kind))
            .collect::<Vec<_>>(),
        [
            (Some(3), AlertKind::NotPassing),
            (Some(4), AlertKind::NotPassing),
            (Some(5), AlertKind::Recovered),
        ]
    );

    // The period's package says how many deviating snapshots were signalled, and nothing else
    // of the notifications.
    let run = work.run(&["--config", &config, "report", "--out", "out"]);
    run.expect_code(1);
    let zip = std::fs::read_dir(work.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "zip"))
        .unwrap();
    let entries = crate::util::zip_entries(&zip);
    let evidence: Value = serde_json::from_slice(
        &entries
            .iter()
            .find(|(n, _)| n.ends_with("/evidence.json"))
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(evidence["period"]["deviations_signalled"], 2);
    for (name, bytes) in &entries {
        assert!(!name.contains("notifications"), "{name}");
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("XyZ-hook-s3cr3t-canary"),
            "the webhook URL in {name}"
        );
    }
    let pdf = &entries
        .iter()
        .find(|(n, _)| n.ends_with("/report.pdf"))
        .unwrap()
        .1;
    let text: String = pdf_extract::extract_text_from_mem(pdf)
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(
        text.contains("2ofthe2snapshotsthatdidnotpasshadanalertdeliveredwhenstored"),
        "the PDF states the count"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undelivered_alert_keeps_the_snapshot_and_exits_1() {
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/services/{HOOK_SECRET}", l.local_addr().unwrap())
    };
    let failing = Receiver::start(&[Answer::Status(500, "")]).await;
    let (work, config) = alerting_workdir("");
    for (day, url, needle) in [
        (1, down.as_str(), "cannot connect to the webhook"),
        (2, failing.url.as_str(), "the webhook answered HTTP 500"),
    ] {
        import_day(&work, &config, day, 10, url, &[])
            .await
            .expect_code(1)
            .expect_output("alert not-passing NOT delivered by the webhook (3 attempts)")
            .expect_output(needle)
            .expect_output("the snapshot is stored");
        assert_eq!(
            store_of(&work).ledger(TENANT_ID).unwrap().len(),
            day as usize,
            "the snapshot is stored"
        );
    }
    assert_eq!(failing.got().len(), 3, "three tries, then the run gives up");
    let records = record::read(work.join("evidence-store").as_path(), Some(TENANT_ID)).unwrap();
    assert_eq!(
        records.iter().map(|r| r.delivered).collect::<Vec<_>>(),
        [false, false]
    );
    // An alert that never arrived signalled nothing.
    let run = work.run(&["--config", &config, "report", "--out", "out"]);
    run.expect_code(1);
    let zip = std::fs::read_dir(work.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "zip"))
        .unwrap();
    let entries = crate::util::zip_entries(&zip);
    let evidence: Value = serde_json::from_slice(
        &entries
            .iter()
            .find(|(n, _)| n.ends_with("/evidence.json"))
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(evidence["period"]["deviations_signalled"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_notify_sends_nothing_and_a_broken_channel_stops_the_run_before_it_stores() {
    let receiver = Receiver::start(&[Answer::Status(200, "ok")]).await;
    let (work, config) = alerting_workdir("");
    let run = import_day(&work, &config, 1, 10, &receiver.url, &["--no-notify"]).await;
    run.expect_code(0);
    assert!(!run.stdout.contains("alert"), "{}", run.stdout);
    assert!(receiver.got().is_empty());
    // A webhook URL that is not https: a configuration error before anything is stored.
    let plain = format!("http://hooks.example.com/services/{HOOK_SECRET}");
    let run = import_day(&work, &config, 2, 10, &plain, &[]).await;
    run.expect_code(2).expect_output("must use https");
    assert!(
        !run.stderr.contains("CANARY") && !run.stderr.contains("hooks.example.com"),
        "{}",
        run.stderr
    );
    assert_eq!(store_of(&work).ledger(TENANT_ID).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_collection_sends_one_alert_and_exits_2() {
    use crate::fake_graph::{CLIENT_ID, FakeGraph, Fault, Scenario, TENANT};
    let receiver = Receiver::start(&[Answer::Status(200, "ok")]).await;
    let fake = FakeGraph::start(Scenario::default().fault("users", &[Fault::Forbidden])).await;
    let (work, config) = alerting_workdir(&format!(
        "[tenant]\nid = \"{TENANT}\"\nlogin_endpoint = \"{url}\"\ngraph_endpoint = \"{url}\"\n[auth]\nclient_id = \"{CLIENT_ID}\"\n",
        url = fake.url
    ));
    let mut cmd = work.command(&["--config", &config, "collect"]);
    cmd.env("AZURE_CLIENT_SECRET", "fake-secret")
        .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
        .env_remove("HTTPS_PROXY")
        .env(WEBHOOK_URL_VAR, &receiver.url);
    let run = tokio::task::spawn_blocking(move || Run::from(cmd.output().unwrap()))
        .await
        .unwrap();
    run.expect_code(2).expect_output("User.Read.All");
    let got = receiver.got();
    assert_eq!(got.len(), 1, "one alert for the broken collection");
    let m = &got[0].body;
    assert_eq!(m["kind"], "collection-failed");
    assert_eq!(m["tenant"]["id"], TENANT);
    assert!(
        m["error"].as_str().unwrap().contains("User.Read.All"),
        "{m}"
    );
    assert!(
        m["next_step"]
            .as_str()
            .unwrap()
            .contains("mfa-evidence collect"),
        "{m}"
    );
    assert!(
        run.stdout
            .contains("alert collection-failed sent by the webhook"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_the_output_at_vv_a_store_file_or_a_package() {
    let certs = Certs::make();
    let smtp = SmtpServer::start(Some(&certs), Some((SMTP_USER, SMTP_PASSWORD)));
    let ok = Receiver::start(&[Answer::Status(503, ""), Answer::Status(200, "ok")]).await;
    let echo = Receiver::start(&[Answer::EchoPath]).await;
    let (work, config) = alerting_workdir(&format!(
        "[notify.email]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"mfa@fabrikam.test\"\nto = [\"secops@fabrikam.test\"]\n\
         username = \"{SMTP_USER}\"\nca_file = \"{}\"\n",
        smtp.port,
        certs.path("ca.pem").display()
    ));
    let mut outputs = Vec::new();
    for (day, url, code) in [(1, &ok.url, 0), (2, &echo.url, 1)] {
        let dir = work.join(&format!("export-{day}"));
        write_export(&dir, &graph_users(10, 5));
        let at = format!("2026-11-{day:02}T06:00:00Z");
        let mut cmd = work.command(&[
            "-vv",
            "--config",
            &config,
            "import",
            "--dir",
            dir.to_str().unwrap(),
            "--collected-at",
            &at,
        ]);
        cmd.env(WEBHOOK_URL_VAR, url.as_str())
            .env(SMTP_PASSWORD_VAR, SMTP_PASSWORD);
        let run = tokio::task::spawn_blocking(move || Run::from(cmd.output().unwrap()))
            .await
            .unwrap();
        run.expect_code(code)
            .expect_output("alert not-passing sent by the mail");
        outputs.push(run);
    }
    assert!(
        smtp.next_mail().is_some() && smtp.next_mail().is_some(),
        "both mails arrived"
    );
    assert!(
        outputs[0].stderr.contains("DEBUG"),
        "-vv logs: {}",
        outputs[0].stderr
    );
    let report = work.run(&["-vv", "--config", &config, "report", "--out", "out"]);
    report.expect_code(1);

    let plain_auth = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("\0{SMTP_USER}\0{SMTP_PASSWORD}"))
    };
    let needles = [
        HOOK_SECRET,
        "XyZ-hook-s3cr3t-canary",
        SMTP_PASSWORD,
        plain_auth.as_str(),
    ];
    let mut texts: Vec<(String, String)> = Vec::new();
    for (i, run) in outputs.iter().chain([&report]).enumerate() {
        texts.push((
            format!("run {i} output"),
            format!("{}\n{}", run.stdout, run.stderr),
        ));
    }
    for path in files_under(&work.join("evidence-store"))
        .into_iter()
        .chain(files_under(&work.join("out")))
    {
        let bytes = std::fs::read(&path).unwrap();
        texts.push((
            path.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
        if path.extension().is_some_and(|x| x == "zip") {
            for (name, bytes) in crate::util::zip_entries(&path) {
                texts.push((
                    format!("{} {name}", path.display()),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
    }
    assert!(
        texts
            .iter()
            .any(|(name, _)| name.ends_with("notifications.jsonl"))
    );
    for (name, text) in &texts {
        for needle in needles {
            assert!(!text.contains(needle), "{needle} in {name}");
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p)
            } else {
                out.push(p)
            }
        }
    }
    out
}
