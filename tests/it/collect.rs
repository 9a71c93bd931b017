//! The live collector against the fake Graph (tests/it/fake_graph.rs): paging, `$select`,
//! throttling, faults, token renewal, permissions and licences, both client credentials, the
//! device code flow, and that no secret or token ever lands in a file or a log line.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use mfa_evidence::collect;
use mfa_evidence::collect::graph::{AuthEnv, CollectOptions, NetworkPolicy, collect};
use mfa_evidence::config::{Config, StoreLocation};
use mfa_evidence::snapshot::{CollectionRecord, SourceRecord};
use mfa_evidence::source::{SourceKind, SourceStatus};
use mfa_evidence::store::Store;
use serde_json::Value;

use crate::fake_graph::{CLIENT_ID, FakeGraph, Fault, GROUP_ID, Scenario, TENANT, TENANT_DOMAIN};
use crate::util::capture_logs;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/certs");

fn config(fake: &FakeGraph) -> Config {
    let mut c = Config::default();
    c.tenant.id = Some(TENANT.into());
    c.tenant.client_id = Some(CLIENT_ID.into());
    c.tenant.login_endpoint = Some(fake.url.clone());
    c.tenant.graph_endpoint = Some(format!("{}/", fake.url));
    c.control.break_glass.group_id = Some(GROUP_ID.into());
    c
}

fn secret_env(secret: &str) -> AuthEnv {
    AuthEnv {
        client_secret: Some(secret.into()),
        ..AuthEnv::default()
    }
}

fn options() -> CollectOptions {
    #[allow(clippy::disallowed_methods, reason = "a collection runs now")]
    let mut o = CollectOptions::new(Utc::now());
    o.progress = false;
    o.network = NetworkPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
        max_retries: 4,
        max_wait: Duration::from_secs(10),
        request_timeout: Duration::from_secs(5),
        conditional_access_interval: Duration::from_millis(10),
    };
    o
}

struct Run {
    fake: FakeGraph,
    dir: tempfile::TempDir,
    result: anyhow::Result<CollectionRecord>,
}

impl Run {
    fn ok(&self) -> &CollectionRecord {
        match &self.result {
            Ok(r) => r,
            Err(e) => panic!("collection failed: {e:#}"),
        }
    }

    fn err(&self) -> String {
        match &self.result {
            Ok(_) => panic!("collection succeeded but should have failed"),
            Err(e) => format!("{e:#}"),
        }
    }

    fn source(&self, name: &str) -> &SourceRecord {
        self.ok()
            .sources
            .iter()
            .find(|s| s.name.stem() == name)
            .unwrap()
    }

    fn file(&self, name: &str) -> Value {
        let bytes = std::fs::read(self.dir.path().join(name)).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }
}

async fn run_with(
    scenario: Scenario,
    env: AuthEnv,
    options: CollectOptions,
    edit: impl FnOnce(&mut Config),
) -> Run {
    let fake = FakeGraph::start(scenario).await;
    let mut config = config(&fake);
    edit(&mut config);
    let dir = tempfile::tempdir().unwrap();
    let result = collect(&config, &env, &options, dir.path()).await;
    Run { fake, dir, result }
}

async fn run(scenario: Scenario) -> Run {
    run_with(scenario, secret_env("fake-secret"), options(), |_| {}).await
}

fn statuses(s: &SourceRecord) -> Vec<u16> {
    s.requests.iter().map(|r| r.status).collect()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn collects_every_source_in_the_import_layout() {
    let r = run(Scenario::default()).await;
    let record = r.ok();
    assert_eq!(record.source_kind, SourceKind::Graph);
    assert_eq!(
        record.collected_by.as_deref(),
        Some(concat!("mfa-evidence ", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(record.graph_endpoint.as_deref(), Some(r.fake.url.as_str()));
    assert_eq!(
        record.token_roles,
        [
            "AuditLog.Read.All",
            "GroupMember.Read.All",
            "Policy.Read.All",
            "User.Read.All"
        ]
    );
    let names: Vec<&str> = record.sources.iter().map(|s| s.name.stem()).collect();
    assert_eq!(
        names,
        [
            "organization",
            "users",
            "userRegistrationDetails",
            "breakGlassMembers",
            "directoryAudits",
            "authenticationMethodsPolicy",
            "conditionalAccessPolicies"
        ]
    );
    for s in &record.sources {
        assert_eq!(s.status, SourceStatus::Collected, "{s:?}");
        assert_eq!(s.pages, 1);
        let req = &s.requests[0];
        assert_eq!(req.status, 200);
        assert!(req.request_id.is_some());
        assert_eq!(
            req.file.as_deref(),
            Some(format!("{}-0001.json", s.name).as_str())
        );
        assert!(req.url.starts_with(&r.fake.url));
        assert!(
            req.time.ends_with('Z') && req.time.len() == 24,
            "{}",
            req.time
        );
    }
    assert_eq!(r.source("users").items, 5);
    assert_eq!(r.source("breakGlassMembers").items, 2);
    assert_eq!(r.source("directoryAudits").items, 3);
    assert_eq!(r.source("authenticationMethodsPolicy").items, 1);
    assert_eq!(
        files(r.dir.path()),
        [
            "authenticationMethodsPolicy-0001.json",
            "breakGlassMembers-0001.json",
            "conditionalAccessPolicies-0001.json",
            "directoryAudits-0001.json",
            "organization-0001.json",
            "provenance.json",
            "userRegistrationDetails-0001.json",
            "users-0001.json"
        ]
    );
    let written: CollectionRecord =
        serde_json::from_slice(&std::fs::read(r.dir.path().join("provenance.json")).unwrap())
            .unwrap();
    assert_eq!(&written, record);
    // Break-glass members need the advanced-query header.
    let bg = r.fake.seen_for("breakGlassMembers");
    assert_eq!(bg[0].consistency_level.as_deref(), Some("eventual"));
    assert!(bg[0].path_and_query.contains("$count=true"));
    assert_eq!(
        r.file("authenticationMethodsPolicy-0001.json")["policyMigrationState"],
        "migrationComplete"
    );
}

#[tokio::test]
async fn pages_are_followed_and_written_byte_for_byte_including_an_empty_page() {
    let scenario = Scenario {
        users: 25,
        registrations: 23,
        page_size: 4,
        empty_page_at: Some(3),
        ..Scenario::default()
    };
    let r = run(scenario).await;
    let users = r.source("users");
    assert_eq!((users.pages, users.items), (8, 25));
    let per_page: Vec<u64> = users.requests.iter().map(|q| q.items).collect();
    assert_eq!(per_page, [4, 4, 4, 0, 4, 4, 4, 1]);
    assert_eq!(r.file("users-0004.json")["value"], serde_json::json!([]));
    let reg = r.source("userRegistrationDetails");
    assert_eq!((reg.pages, reg.items), (7, 23));
    // Files hold exactly what Graph sent: re-fetching page 5's link gives the same bytes.
    let link = r.file("users-0004.json")["@odata.nextLink"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(users.requests[4].url, link);
    let seen = r.fake.seen_for("users");
    assert_eq!(seen.len(), 8);
    let token = seen[0].token.clone();
    let again = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(&link)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(r.dir.path().join("users-0005.json")).unwrap(),
        again.to_vec()
    );
}

#[tokio::test]
async fn select_is_sent_and_the_selected_fields_arrive() {
    let r = run(Scenario::default()).await;
    let seen = r.fake.seen_for("users");
    assert!(seen[0].path_and_query.contains(
        "$select=id,userPrincipalName,displayName,accountEnabled,userType,createdDateTime,onPremisesSyncEnabled&$top=999"
    ));
    for user in r.file("users-0001.json")["value"].as_array().unwrap() {
        assert!(user.get("accountEnabled").is_some(), "{user}");
        assert!(user.get("userType").is_some(), "{user}");
        assert!(user.get("mail").is_none(), "{user}");
    }
    assert!(
        r.fake.seen_for("userRegistrationDetails")[0]
            .path_and_query
            .ends_with("$top=999")
    );
}

#[tokio::test]
async fn throttling_with_retry_after_waits_as_asked() {
    let started = Instant::now();
    let r = run(Scenario::default().fault("users", &[Fault::Throttle(Some(1))])).await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(statuses(r.source("users")), [429, 200]);
    let users = r.source("users");
    assert_eq!(users.requests[0].file, None);
    assert!(users.requests[0].request_id.is_some());
    assert_eq!(users.requests[1].file.as_deref(), Some("users-0001.json"));
}

#[tokio::test]
async fn throttling_without_retry_after_and_503_504_back_off() {
    let r = run(Scenario::default().fault(
        "userRegistrationDetails",
        &[
            Fault::Throttle(None),
            Fault::Status(503),
            Fault::Status(504),
        ],
    ))
    .await;
    assert_eq!(
        statuses(r.source("userRegistrationDetails")),
        [429, 503, 504, 200]
    );
    assert_eq!(
        r.source("userRegistrationDetails").status,
        SourceStatus::Collected
    );
}

#[tokio::test]
async fn a_dropped_connection_and_a_timeout_are_retried() {
    let mut o = options();
    o.network.request_timeout = Duration::from_millis(300);
    // Reset: cut off mid-body. Drop: a TCP RST before any byte of a response.
    let scenario = Scenario::default()
        .fault("users", &[Fault::Reset])
        .fault("userRegistrationDetails", &[Fault::Drop, Fault::Drop])
        .fault("organization", &[Fault::Delay(Duration::from_secs(2))]);
    let r = run_with(scenario, secret_env("fake-secret"), o, |_| {}).await;
    assert_eq!(statuses(r.source("users")), [0, 200]);
    assert_eq!(statuses(r.source("userRegistrationDetails")), [0, 0, 200]);
    assert_eq!(statuses(r.source("organization")), [0, 200]);
    assert_eq!(r.source("users").items, 5);
    assert_eq!(r.source("userRegistrationDetails").items, 5);
}

#[tokio::test]
async fn conditional_access_is_paced() {
    let mut o = options();
    o.network.conditional_access_interval = Duration::from_millis(150);
    let scenario = Scenario {
        ca_policies: 3,
        page_size: 1,
        ..Scenario::default()
    };
    let r = run_with(scenario, secret_env("fake-secret"), o, |_| {}).await;
    assert_eq!(r.source("conditionalAccessPolicies").items, 3);
    let seen = r.fake.seen_for("conditionalAccessPolicies");
    assert_eq!(seen.len(), 3);
    for pair in seen.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(140));
    }
}

#[tokio::test]
async fn a_401_renews_the_token_and_repeats_the_request_once() {
    let r = run(Scenario::default().fault("users", &[Fault::Unauthorized])).await;
    assert_eq!(statuses(r.source("users")), [401, 200]);
    assert_eq!(
        r.fake
            .state
            .tokens_issued
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    let seen = r.fake.seen_for("users");
    assert_ne!(seen[0].token, seen[1].token);
}

#[tokio::test]
async fn a_second_401_fails_the_source() {
    let scenario = Scenario::default().fault("users", &[Fault::Unauthorized, Fault::Unauthorized]);
    let r = run(scenario).await;
    let err = r.err();
    assert!(err.contains("cannot collect users"), "{err}");
    assert!(err.contains("InvalidAuthenticationToken"), "{err}");
}

#[tokio::test]
async fn a_token_expiring_mid_run_is_renewed_before_use() {
    let scenario = Scenario {
        users: 6,
        page_size: 1,
        token_lifetimes: vec![1, 3599],
        ..Scenario::default()
    }
    .fault(
        "users",
        &[
            Fault::Delay(Duration::ZERO),
            Fault::Delay(Duration::from_millis(600)),
            Fault::Delay(Duration::from_millis(600)),
        ],
    );
    let r = run(scenario).await;
    assert_eq!(r.source("users").items, 6);
    let tokens: std::collections::BTreeSet<String> = r
        .fake
        .seen_for("users")
        .into_iter()
        .map(|s| s.token)
        .collect();
    assert!(tokens.len() >= 2, "the token was not renewed");
    // Renewal happened before expiry: Graph never had to refuse a token.
    assert!(r.fake.seen().iter().all(|s| s.status != 401));
}

#[tokio::test]
async fn a_next_link_loop_is_stopped() {
    let scenario = Scenario {
        users: 10,
        page_size: 2,
        users_link_loop: true,
        ..Scenario::default()
    };
    let r = run(scenario).await;
    let err = r.err();
    assert!(err.contains("cannot collect users"), "{err}");
    assert!(err.contains("repeats a link"), "{err}");
    assert_eq!(r.fake.seen_for("users").len(), 2);
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused() {
    let scenario = Scenario {
        foreign_next_link: Some("https://graph.example.com/v1.0/users?$skiptoken=1".into()),
        users: 10,
        page_size: 5,
        ..Scenario::default()
    };
    let r = run(scenario).await;
    let err = r.err();
    assert!(
        err.contains("refusing to follow a link to https://graph.example.com"),
        "{err}"
    );
    assert_eq!(r.fake.seen_for("users").len(), 1);
}

#[tokio::test]
async fn a_missing_permission_names_it() {
    let mut scenario = Scenario::default();
    scenario.always.insert("users".into(), Fault::Forbidden);
    let r = run(scenario).await;
    let err = r.err();
    assert!(err.contains("cannot collect users"), "{err}");
    assert!(err.contains("403 Authorization_RequestDenied"), "{err}");
    assert!(
        err.contains("grant the application permission User.Read.All and admin consent"),
        "{err}"
    );
    assert!(err.contains("request-id 7d1c2e4a-"), "{err}");
}

#[tokio::test]
async fn a_missing_licence_says_p1_or_p2() {
    let mut scenario = Scenario::default();
    scenario
        .always
        .insert("userRegistrationDetails".into(), Fault::NoPremium);
    let r = run(scenario).await;
    let err = r.err();
    assert!(
        err.contains("cannot collect userRegistrationDetails"),
        "{err}"
    );
    assert!(err.contains("Entra ID P1 or P2 is needed"), "{err}");
}

#[tokio::test]
async fn an_optional_source_failing_is_recorded_missing() {
    let mut scenario = Scenario::default();
    scenario
        .always
        .insert("conditionalAccessPolicies".into(), Fault::Forbidden);
    scenario
        .always
        .insert("directoryAudits".into(), Fault::Status(500));
    let r = run(scenario).await;
    let ca = r.source("conditionalAccessPolicies");
    assert_eq!(ca.status, SourceStatus::Missing);
    assert!(
        ca.error.as_deref().unwrap().contains("Policy.Read.All"),
        "{ca:?}"
    );
    assert_eq!(ca.pages, 0);
    let audits = r.source("directoryAudits");
    assert_eq!(audits.status, SourceStatus::Missing);
    let e = audits.error.as_deref().unwrap();
    assert!(
        e.contains("HTTP 500 UnknownError") && e.contains("request-id"),
        "{e}"
    );
    assert_eq!(r.source("users").status, SourceStatus::Collected);
    assert!(
        !r.dir
            .path()
            .join("conditionalAccessPolicies-0001.json")
            .exists()
    );
    assert!(r.dir.path().join("provenance.json").exists());
}

#[tokio::test]
async fn a_required_source_failing_is_an_error() {
    let mut scenario = Scenario::default();
    scenario
        .always
        .insert("organization".into(), Fault::Status(503));
    let r = run(scenario).await;
    let err = r.err();
    assert!(err.contains("cannot collect organization"), "{err}");
    assert!(
        err.contains("kept failing (HTTP 503 serviceNotAvailable) after 5 attempts"),
        "{err}"
    );
    assert!(!r.dir.path().join("provenance.json").exists());
}

#[tokio::test]
async fn break_glass_is_not_configured_without_a_group() {
    let r = run_with(
        Scenario::default(),
        secret_env("fake-secret"),
        options(),
        |c| c.control.break_glass.group_id = None,
    )
    .await;
    let bg = r.source("breakGlassMembers");
    assert_eq!(bg.status, SourceStatus::NotConfigured);
    assert!(bg.requests.is_empty());
    assert!(r.fake.seen_for("breakGlassMembers").is_empty());
}

#[tokio::test]
async fn audit_events_since_the_given_time() {
    let mut o = options();
    o.audit_since = Some(Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap());
    let r = run_with(Scenario::default(), secret_env("fake-secret"), o, |_| {}).await;
    let q = &r.fake.seen_for("directoryAudits")[0].path_and_query;
    assert!(
        q.ends_with("$filter=loggedByService%20eq%20%27Authentication%20Methods%27%20and%20activityDateTime%20ge%202025-03-04T05:06:07Z"),
        "{q}"
    );
    let mut o = options();
    o.now = Utc.with_ymd_and_hms(2025, 3, 31, 0, 0, 0).unwrap();
    let r = run_with(Scenario::default(), secret_env("fake-secret"), o, |_| {}).await;
    let q = &r.fake.seen_for("directoryAudits")[0].path_and_query;
    assert!(
        q.ends_with("activityDateTime%20ge%202025-03-01T00:00:00Z"),
        "{q}"
    );
}

#[tokio::test]
async fn certificate_credentials_sign_a_ps256_assertion() {
    let scenario = Scenario {
        secret: None,
        certificate: Some((
            std::fs::read(format!("{FIXTURES}/test-cert.der")).unwrap(),
            std::fs::read(format!("{FIXTURES}/test-public-key.der")).unwrap(),
        )),
        ..Scenario::default()
    };
    let env = AuthEnv {
        client_certificate_path: Some(format!("{FIXTURES}/test-client.pem").into()),
        ..AuthEnv::default()
    };
    let r = run_with(scenario, env, options(), |_| {}).await;
    r.ok();
    assert_eq!(
        r.fake
            .state
            .assertions_verified
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let forms = r.fake.state.token_forms.lock().unwrap().clone();
    assert!(!forms[0].contains_key("client_secret"));
    assert_eq!(
        forms[0]["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
}

#[tokio::test]
async fn a_certificate_file_without_a_key_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let pem = std::fs::read_to_string(format!("{FIXTURES}/test-client.pem")).unwrap();
    let cert_only = &pem[..pem.find("-----BEGIN PRIVATE KEY").unwrap()];
    let path = dir.path().join("cert.pem");
    std::fs::write(&path, cert_only).unwrap();
    let env = AuthEnv {
        client_certificate_path: Some(path),
        ..AuthEnv::default()
    };
    let r = run_with(Scenario::default(), env, options(), |_| {}).await;
    let err = r.err();
    assert!(err.contains("no private key found"), "{err}");
    assert!(r.fake.state.token_forms.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_secret_shows_the_aadsts_error_but_not_the_secret() {
    let r = run_with(
        Scenario::default(),
        secret_env("wrong-secret-value"),
        options(),
        |_| {},
    )
    .await;
    let err = r.err();
    assert!(
        err.contains("invalid_client: AADSTS7000215: Invalid client secret provided"),
        "{err}"
    );
    assert!(err.contains("correlation id"), "{err}");
    assert!(!err.contains("wrong-secret-value"), "{err}");
    assert!(r.fake.seen().is_empty());
}

#[tokio::test]
async fn the_device_code_flow_polls_until_sign_in() {
    let mut o = options();
    o.device_code = true;
    let scenario = Scenario {
        device_pending_polls: 2,
        ..Scenario::default()
    };
    let r = run_with(scenario, AuthEnv::default(), o.clone(), |_| {}).await;
    r.ok();
    let forms = r.fake.state.token_forms.lock().unwrap().clone();
    // devicecode, two pending polls, the token.
    assert_eq!(forms.len(), 4);
    assert!(forms[0]["scope"].ends_with("/.default offline_access"));

    let scenario = Scenario {
        device_pending_polls: 0,
        device_declines: true,
        ..Scenario::default()
    };
    let r = run_with(scenario, AuthEnv::default(), o, |_| {}).await;
    assert!(r.err().contains("declined"), "{}", r.err());
}

#[tokio::test]
async fn tokens_are_never_sent_over_http_to_another_host() {
    let r = run_with(
        Scenario::default(),
        secret_env("fake-secret"),
        options(),
        |c| c.tenant.graph_endpoint = Some("http://graph.example.com".into()),
    )
    .await;
    let err = r.err();
    assert!(
        err.contains("refusing to send credentials over plain http to graph.example.com"),
        "{err}"
    );
    assert!(r.fake.state.token_forms.lock().unwrap().is_empty());

    let r = run_with(
        Scenario::default(),
        secret_env("fake-secret"),
        options(),
        |c| c.tenant.login_endpoint = Some("http://login.example.com".into()),
    )
    .await;
    assert!(
        r.err().contains("over plain http to login.example.com"),
        "{}",
        r.err()
    );
}

#[tokio::test]
async fn a_folder_that_is_not_empty_is_refused() {
    let fake = FakeGraph::start(Scenario::default()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users-0001.json"), "{}").unwrap();
    let err = collect(
        &config(&fake),
        &secret_env("fake-secret"),
        &options(),
        dir.path(),
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("is not empty"), "{err:#}");
}

#[tokio::test]
async fn ids_come_from_the_environment_when_the_config_has_none() {
    let env = AuthEnv {
        tenant_id: Some(TENANT.into()),
        client_id: Some(CLIENT_ID.into()),
        ..secret_env("fake-secret")
    };
    let r = run_with(Scenario::default(), env, options(), |c| {
        c.tenant.id = None;
        c.tenant.client_id = None;
    })
    .await;
    r.ok();
    let r = run_with(
        Scenario::default(),
        secret_env("fake-secret"),
        options(),
        |c| c.tenant.client_id = None,
    )
    .await;
    assert!(
        r.err()
            .contains("set [auth] client_id in the config or AZURE_CLIENT_ID")
    );
}

#[tokio::test]
async fn no_secret_or_token_reaches_a_file_or_a_log_line() {
    const CANARY: &str = "CANARY-s3cr3t-7f3a9c1e-do-not-leak";
    let scenario = || {
        let scenario = Scenario {
            secret: Some(CANARY.into()),
            users: 9,
            page_size: 4,
            ..Scenario::default()
        }
        .fault(
            "users",
            &[Fault::Unauthorized, Fault::Throttle(None), Fault::Reset],
        )
        .fault("organization", &[Fault::Status(503)]);
        let mut always = std::collections::HashMap::new();
        always.insert("directoryAudits".to_string(), Fault::Forbidden);
        Scenario { always, ..scenario }
    };
    let (r, logs) = capture_logs("graph request", || async {
        let r = run_with(scenario(), secret_env(CANARY), options(), |_| {}).await;
        r.ok();
        r
    })
    .await;
    assert!(
        logs.contains("graph request"),
        "debug logs were not captured"
    );
    let tokens: std::collections::BTreeSet<String> =
        r.fake.seen().into_iter().map(|s| s.token).collect();
    assert!(tokens.len() >= 2);
    let mut needles = vec![CANARY.to_string()];
    for t in &tokens {
        // The signature part is unique to each token.
        needles.push(t.rsplit('.').next().unwrap().to_string());
    }
    for needle in &needles {
        assert!(!logs.contains(needle.as_str()), "{needle} in the logs");
        assert!(
            !logs.to_ascii_lowercase().contains("bearer "),
            "an Authorization header was logged"
        );
        for name in files(r.dir.path()) {
            let bytes = std::fs::read(r.dir.path().join(&name)).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(needle.as_str()), "{needle} in {name}");
        }
    }
}

/// The `collect` job as a library call: two runs into one store. The first names the tenant by
/// its domain, so the store cannot be matched before collecting and the audit window is the 30
/// days before `now`; the second names the GUID and reads from a day before the first snapshot.
#[tokio::test(flavor = "multi_thread")]
async fn the_collect_job_stores_snapshots_and_reads_audits_since_the_previous_one() {
    let fake = FakeGraph::start(Scenario::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&fake);
    config.store = StoreLocation::Path(dir.path().join("store"));
    config.tenant.id = Some(TENANT_DOMAIN.into());
    let mut request = collect::CollectRequest {
        now: Utc.with_ymd_and_hms(2030, 1, 31, 6, 0, 0).unwrap(),
        device_code: false,
        progress: false,
        env: secret_env("fake-secret"),
    };
    let job = |config: Config, request: collect::CollectRequest| {
        tokio::task::spawn_blocking(move || collect::run(&config, &request))
    };
    let first = job(config.clone(), request.clone()).await.unwrap().unwrap();
    assert_eq!(first.stored.entry.sequence, 1);
    assert_eq!(first.stored.entry.tenant_id, TENANT);
    let audits = r#"$filter=loggedByService%20eq%20%27Authentication%20Methods%27%20and%20activityDateTime%20ge%20"#;
    let q = &fake.seen_for("directoryAudits")[0].path_and_query;
    assert!(q.ends_with(&format!("{audits}2030-01-01T06:00:00Z")), "{q}");

    // Snapshot times are whole seconds, and a store takes only a later one.
    let next_second = first.stored.entry.collected_at + chrono::Duration::seconds(1);
    #[allow(
        clippy::disallowed_methods,
        reason = "the next collection must be a second later"
    )]
    let wait = (next_second - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    config.tenant.id = Some(TENANT.into());
    request.now += chrono::Duration::hours(1);
    let second = job(config.clone(), request).await.unwrap().unwrap();
    assert_eq!(second.stored.entry.sequence, 2);
    let since = (first.stored.entry.collected_at - chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let q = &fake.seen_for("directoryAudits")[1].path_and_query;
    assert!(q.ends_with(&format!("{audits}{since}")), "{q}");

    let store = Store::open(&config.store).unwrap();
    assert_eq!(store.ledger(TENANT).unwrap().len(), 2);
    let snapshot = second.stored.load().unwrap();
    assert_eq!(snapshot.collection.source_kind, SourceKind::Graph);
    assert_eq!(snapshot.users.len(), 5);
    assert_eq!(store.verify(TENANT).unwrap().broken, None);
    // The collection folders inside the store are gone.
    let names: Vec<String> = files(store.root());
    assert_eq!(names, [TENANT], "{names:?}");
}

/// `mfa-evidence collect` as a scheduler runs it: the built binary against the fake server.
fn collect_with_binary(url: &str, dir: &Path, secret: &str) -> std::process::Output {
    let config = dir.join("mfa-evidence.toml");
    std::fs::write(
        &config,
        format!(
            "[tenant]\nid = \"{TENANT}\"\nlogin_endpoint = \"{url}\"\ngraph_endpoint = \"{url}\"\n\
             [auth]\nclient_id = \"{CLIENT_ID}\"\n[break_glass]\ngroup_id = \"{GROUP_ID}\"\n\
             [store]\npath = \"{store}\"\n",
            store = dir.join("store").display()
        ),
    )
    .unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_mfa-evidence"))
        .arg("--config")
        .arg(&config)
        .arg("collect")
        .env("AZURE_CLIENT_SECRET", secret)
        .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
        .env_remove("HTTPS_PROXY")
        .current_dir(dir)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_collect_command_stores_a_snapshot_that_reports() {
    let fake = FakeGraph::start(Scenario::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking({
        let (url, path) = (fake.url.clone(), dir.path().to_path_buf());
        move || collect_with_binary(&url, &path, "fake-secret")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let store = mfa_evidence::store::Store::new(dir.path().join("store"));
    let ledger = store.ledger(TENANT).unwrap();
    assert_eq!(ledger.len(), 1);
    let snapshot = ledger[0].load().unwrap();
    assert_eq!(snapshot.collection.source_kind, SourceKind::Graph);
    assert_eq!(snapshot.users.len(), 5);
    assert!(ledger[0].raw_dir().join("provenance.json.zst").is_file());
    assert_eq!(store.verify(TENANT).unwrap().broken, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_required_source_stores_nothing_and_exits_2() {
    let canary = "CANARY-cli-s3cr3t-4242";
    let mut scenario = Scenario::default().fault("users", &[Fault::Forbidden]);
    scenario.secret = Some(canary.into());
    let fake = FakeGraph::start(scenario).await;
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking({
        let (url, path) = (fake.url.clone(), dir.path().to_path_buf());
        move || collect_with_binary(&url, &path, canary)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("User.Read.All"),
        "the error names the permission: {stderr}"
    );
    assert!(!stderr.contains(canary));
    // Nothing counts: no ledger, and no collection folder left behind.
    let store_dir = dir.path().join("store");
    let leftovers: Vec<_> = std::fs::read_dir(&store_dir)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A 403 on the break-glass group used to store the snapshot and exit 0, although every report
/// on it is insufficient-evidence. Now the snapshot is stored, the run exits 1 and a warning names
/// the permission; the findings of a report on it agree that the population cannot be decided.
#[tokio::test(flavor = "multi_thread")]
async fn a_403_on_the_break_glass_group_stores_the_snapshot_and_exits_1_naming_the_permission() {
    let mut scenario = Scenario::default();
    scenario
        .always
        .insert("breakGlassMembers".into(), Fault::Forbidden);
    let fake = FakeGraph::start(scenario).await;
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking({
        let (url, path) = (fake.url.clone(), dir.path().to_path_buf());
        move || collect_with_binary(&url, &path, "fake-secret")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for needle in [
        "warning: breakGlassMembers was not collected",
        "Authorization_RequestDenied",
        "every report on this snapshot is insufficient-evidence",
        "grant GroupMember.Read.All",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
    assert!(String::from_utf8_lossy(&out.stdout).contains("stored snapshot 1"));
    let store = Store::new(dir.path().join("store"));
    assert_eq!(store.ledger(TENANT).unwrap().len(), 1);

    let mut config =
        Config::from_toml(&format!("[break_glass]\ngroup_id = \"{GROUP_ID}\"\n")).unwrap();
    config.store = StoreLocation::Path(dir.path().join("store"));
    let outcome = mfa_evidence::report::run(
        &config,
        &mfa_evidence::report::ReportRequest {
            out_dir: dir.path().join("out"),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        outcome.evidence.point_in_time.result.as_str(),
        "insufficient-evidence"
    );
    let findings: Vec<(&str, &str)> = outcome
        .evidence
        .findings
        .iter()
        .map(|f| (f.code.as_str(), f.detail.as_str()))
        .collect();
    assert!(
        findings
            .iter()
            .any(|(code, _)| *code == "break-glass-group-not-collected"),
        "{findings:?}"
    );
    assert!(
        !findings
            .iter()
            .any(|(code, detail)| *code == "optional-source-missing"
                && detail.contains("breakGlassMembers")),
        "the group is called optional: {findings:?}"
    );
}

/// A 500 from Graph used to end the source at once; an unresolvable host used to be retried for
/// 765 s; a Retry-After beyond the retry budget gave up with no word of it. Now 500s are retried
/// within the same bounds as 503 and, when they persist, the message says what to do; a host that
/// does not resolve fails within seconds naming it; and the Retry-After is named.
#[tokio::test]
async fn server_errors_are_retried_unresolvable_hosts_fail_fast_and_a_long_retry_after_is_named() {
    let r =
        run(Scenario::default().fault("users", &[Fault::Status(500), Fault::Status(500)])).await;
    assert_eq!(statuses(r.source("users")), [500, 500, 200]);
    assert_eq!(r.source("users").status, SourceStatus::Collected);

    let mut scenario = Scenario::default();
    scenario
        .always
        .insert("organization".into(), Fault::Status(500));
    let err = run(scenario).await.err();
    for needle in [
        "cannot collect organization",
        "Graph kept failing (HTTP 500 UnknownError) after 5 attempts",
        "last request-id",
        "try again later, and if it persists, give Microsoft support the request-id",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }

    // Production-like waits (1 s, doubling, for up to a minute): a retried DNS failure would
    // take most of that minute.
    let mut o = options();
    o.network = NetworkPolicy {
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(30),
        max_retries: 10,
        max_wait: Duration::from_secs(60),
        ..o.network
    };
    let started = Instant::now();
    let r = run_with(Scenario::default(), secret_env("fake-secret"), o, |c| {
        c.tenant.login_endpoint = Some("https://login.mfa-evidence.invalid".into());
    })
    .await;
    let err = r.err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}: {err}",
        started.elapsed()
    );
    for needle in [
        "cannot resolve login.mfa-evidence.invalid",
        "check the login endpoint",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }

    let mut scenario = Scenario::default();
    scenario
        .always
        .insert("users".into(), Fault::Throttle(Some(3600)));
    let err = run(scenario).await.err();
    for needle in [
        "Graph kept failing (HTTP 429 TooManyRequests) after 1 attempt over",
        "with a Retry-After of 3600s, beyond the 10s this tool waits for one request",
        "Graph is throttling this tenant or application",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
}
