//! Helpers shared by the evaluation, store, package and CLI tests: snapshots built in code,
//! Graph-shaped export folders, runs of the built binary in a temporary working directory, zip
//! rewriting, and assertions that print expected and actual side by side.

#![allow(dead_code)]

use std::fmt::Debug;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, TimeZone, Utc};
use mfa_evidence::collect::import::import_dir;
use mfa_evidence::snapshot::{
    self, CollectionRecord, GroupMember, Imported, Registration, Snapshot, SourceRecord, Tenant,
    User,
};
use mfa_evidence::source::{Source, SourceKind, SourceStatus};
use mfa_evidence::time::GraphTime;
use serde_json::{Value, json};

/// The as-of time of the fixtures: 2026-10-31T06:00:00Z.
pub const AS_OF: &str = "2026-10-31T06:00:00Z";
pub const TENANT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const TENANT_NAME: &str = "Fabrikam Test";

pub fn as_of() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 31, 6, 0, 0).unwrap()
}

/// `as_of()` plus `hours`.
pub fn hours_after(hours: i64) -> DateTime<Utc> {
    as_of() + chrono::Duration::hours(hours)
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

// ---------------------------------------------------------------------------------------------
// Snapshots built in code.

/// An enabled member `<name>@fabrikam.test` whose id is `id-<name>`.
pub fn member(name: &str) -> User {
    User {
        id: format!("id-{name}"),
        user_principal_name: format!("{name}@fabrikam.test"),
        display_name: name.to_string(),
        account_enabled: Some(true),
        user_type: "Member".to_string(),
        created: Some(GraphTime::parse("2024-01-01T00:00:00Z").unwrap()),
        on_premises_sync_enabled: None,
    }
}

pub fn disabled(name: &str) -> User {
    User {
        account_enabled: Some(false),
        ..member(name)
    }
}

pub fn guest(name: &str) -> User {
    User {
        user_type: "Guest".to_string(),
        ..member(name)
    }
}

/// The registration row of `member(name)` with these methods, updated an hour before the as-of
/// time, and Microsoft's isMfaRegistered agreeing with the default rule.
pub fn reg(name: &str, methods: &[&str]) -> Registration {
    let qualifying = mfa_evidence::control::methods::default_qualifying();
    let registered = methods.iter().any(|m| qualifying.contains(*m));
    Registration {
        id: format!("id-{name}"),
        user_principal_name: format!("{name}@fabrikam.test"),
        display_name: name.to_string(),
        user_type: "member".to_string(),
        is_admin: Some(false),
        is_mfa_registered: Some(registered),
        is_mfa_capable: Some(registered),
        is_passwordless_capable: Some(false),
        last_updated: Some(GraphTime::parse("2026-10-31T05:00:00Z").unwrap()),
        methods_registered: methods.iter().map(|m| m.to_string()).collect(),
    }
}

/// A collection record with every required source collected and no optional one configured.
pub fn collection() -> CollectionRecord {
    CollectionRecord {
        source_kind: SourceKind::Import,
        collected_by: Some(mfa_evidence::tool_id()),
        graph_endpoint: None,
        token_roles: Vec::new(),
        sources: Source::ALL
            .into_iter()
            .map(|name| SourceRecord {
                name,
                endpoint: Some(name.endpoint()),
                required: name.required(),
                status: if name.required() {
                    SourceStatus::Collected
                } else {
                    SourceStatus::NotConfigured
                },
                error: None,
                pages: u64::from(name.required()),
                items: 0,
                requests: Vec::new(),
                files: None,
                export: None,
            })
            .collect(),
    }
}

/// A snapshot at `AS_OF` of these users and report rows (sorted as the importer sorts them).
pub fn snapshot(mut users: Vec<User>, mut registrations: Vec<Registration>) -> Snapshot {
    users.sort_by(|a, b| a.id.cmp(&b.id));
    registrations.sort_by(|a, b| a.id.cmp(&b.id));
    Snapshot {
        schema_version: snapshot::SNAPSHOT_SCHEMA_VERSION,
        tenant: Tenant {
            id: TENANT_ID.to_string(),
            name: TENANT_NAME.to_string(),
        },
        collected_at: as_of(),
        collection: collection(),
        users,
        registrations,
        break_glass_members: None,
        audit_events: None,
        auth_methods_policy: None,
        conditional_access: None,
    }
}

/// Adds the break-glass group's members (and records the source as collected).
pub fn with_group_members(mut snap: Snapshot, names: &[&str]) -> Snapshot {
    snap.break_glass_members = Some(
        names
            .iter()
            .map(|n| GroupMember {
                id: format!("id-{n}"),
                user_principal_name: format!("{n}@fabrikam.test"),
            })
            .collect(),
    );
    for s in &mut snap.collection.sources {
        if s.name == Source::BreakGlass {
            s.status = SourceStatus::Collected;
        }
    }
    snap
}

// ---------------------------------------------------------------------------------------------
// Graph-shaped export folders.

/// One user of an export folder; `methods: None` leaves the user out of the registration report.
#[derive(Debug, Clone)]
pub struct GraphUser {
    pub id: String,
    pub upn: String,
    pub name: String,
    pub enabled: bool,
    pub guest: bool,
    pub methods: Option<Vec<String>>,
}

impl GraphUser {
    /// An enabled member, id `00000000-0000-0000-0000-<n>`, registered with the Authenticator app.
    pub fn new(n: u32, name: &str) -> GraphUser {
        GraphUser {
            id: format!("00000000-0000-0000-0000-{n:012}"),
            upn: format!("user{n}@fabrikam.test"),
            name: name.to_string(),
            enabled: true,
            guest: false,
            methods: Some(vec!["microsoftAuthenticatorPush".to_string()]),
        }
    }

    pub fn unregistered(mut self) -> GraphUser {
        self.methods = Some(Vec::new());
        self
    }
}

/// `n` users named `User <i>`, of which the first `registered` hold a qualifying method.
pub fn graph_users(n: u32, registered: u32) -> Vec<GraphUser> {
    (1..=n)
        .map(|i| {
            let u = GraphUser::new(i, &format!("User {i}"));
            if i <= registered { u } else { u.unregistered() }
        })
        .collect()
}

fn graph_page(context: &str, value: Vec<Value>, next: Option<&str>) -> Vec<u8> {
    let mut page = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{context}"),
        "value": value,
    });
    if let Some(next) = next {
        page["@odata.nextLink"] = json!(next);
    }
    serde_json::to_vec(&page).unwrap()
}

/// Writes organization-0001.json, users-0001.json and userRegistrationDetails-0001.json as
/// Graph returns them (no provenance.json: imports need a collection time).
pub fn write_export(dir: &Path, users: &[GraphUser]) {
    std::fs::create_dir_all(dir).unwrap();
    let org = graph_page(
        "organization",
        vec![json!({"id": TENANT_ID, "displayName": TENANT_NAME, "verifiedDomains": []})],
        None,
    );
    std::fs::write(dir.join("organization-0001.json"), org).unwrap();
    let user_items = users
        .iter()
        .map(|u| {
            json!({
                "id": u.id,
                "userPrincipalName": u.upn,
                "displayName": u.name,
                "accountEnabled": u.enabled,
                "userType": if u.guest { "Guest" } else { "Member" },
                "createdDateTime": "2024-01-01T00:00:00Z",
                "onPremisesSyncEnabled": null,
            })
        })
        .collect();
    std::fs::write(
        dir.join("users-0001.json"),
        graph_page("users", user_items, None),
    )
    .unwrap();
    let qualifying = mfa_evidence::control::methods::default_qualifying();
    let rows = users
        .iter()
        .filter(|u| u.enabled)
        .filter_map(|u| {
            let methods = u.methods.as_ref()?;
            let registered = methods.iter().any(|m| qualifying.contains(m));
            Some(json!({
                "id": u.id,
                "userPrincipalName": u.upn,
                "userDisplayName": u.name,
                "userType": if u.guest { "guest" } else { "member" },
                "isAdmin": false,
                "isMfaRegistered": registered,
                "isMfaCapable": registered,
                "isPasswordlessCapable": false,
                "lastUpdatedDateTime": "2026-10-31T05:00:00Z",
                "methodsRegistered": methods,
            }))
        })
        .collect();
    std::fs::write(
        dir.join("userRegistrationDetails-0001.json"),
        graph_page(
            "reports/authenticationMethods/userRegistrationDetails",
            rows,
            None,
        ),
    )
    .unwrap();
}

/// Turns `users-0001.json` into a page that promises a next one which is not there.
pub fn make_half_export(dir: &Path) {
    let path = dir.join("users-0001.json");
    let mut page: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    page["@odata.nextLink"] =
        json!("https://graph.microsoft.com/v1.0/users?$top=999&$skiptoken=X2");
    std::fs::write(&path, serde_json::to_vec(&page).unwrap()).unwrap();
}

/// Imports an export folder at `collected_at`.
pub fn import(dir: &Path, collected_at: DateTime<Utc>) -> Imported {
    import_dir(dir, Some(collected_at))
        .unwrap_or_else(|e| panic!("importing {}: {e:#}", dir.display()))
}

// ---------------------------------------------------------------------------------------------
// The built binary.

pub const BIN: &str = env!("CARGO_BIN_EXE_mfa-evidence");

/// The binary run in `dir`, without the log level, the Graph app's credentials or the alert
/// channels' secrets of the environment the tests run in.
pub fn bin_in(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("MFA_EVIDENCE_WEBHOOK_URL")
        .env_remove("MFA_EVIDENCE_SMTP_PASSWORD");
    cmd
}

/// A temporary working directory for runs of the binary (its default store is
/// `./evidence-store` inside it).
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

/// What a run printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert!(
            self.code == Some(code),
            "expected exit code {code}, got {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts that stdout or stderr contains `needle`.
    #[track_caller]
    pub fn expect_output(&self, needle: &str) -> &Run {
        assert!(
            self.stdout.contains(needle) || self.stderr.contains(needle),
            "expected the output to contain {needle:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = bin_in(self.path());
        cmd.args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }
}

// ---------------------------------------------------------------------------------------------
// Zips.

/// The one package zip written into `dir`.
pub fn package_in(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "zip"))
        .expect("a package")
}

/// Every entry of a zip, in order, with its bytes.
pub fn zip_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut e = zip.by_index(i).unwrap();
            let mut buf = Vec::new();
            e.read_to_end(&mut buf).unwrap();
            (e.name().unwrap().into_owned(), buf)
        })
        .collect()
}

/// Writes these entries as a new zip (no `.sha256` beside it).
pub fn write_zip(path: &Path, entries: &[(String, Vec<u8>)]) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// The entry of a package zip at `rel` (below its one top folder).
pub fn entry<'a>(entries: &'a [(String, Vec<u8>)], rel: &str) -> &'a [u8] {
    entries
        .iter()
        .find(|(n, _)| n.split_once('/').is_some_and(|(_, r)| r == rel))
        .map(|(_, b)| b.as_slice())
        .unwrap_or_else(|| panic!("the package has no {rel}"))
}

pub fn entry_mut<'a>(entries: &'a mut [(String, Vec<u8>)], rel: &str) -> &'a mut Vec<u8> {
    entries
        .iter_mut()
        .find(|(n, _)| n.split_once('/').is_some_and(|(_, r)| r == rel))
        .map(|(_, b)| b)
        .unwrap_or_else(|| panic!("the package has no {rel}"))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    mfa_evidence::digest::sha256_hex(bytes)
}

// ---------------------------------------------------------------------------------------------
// Assertions.

/// Both values' pretty Debug forms side by side, with `!` on the lines that differ.
pub fn side_by_side(expected: &str, actual: &str) -> String {
    let left: Vec<&str> = expected.lines().collect();
    let right: Vec<&str> = actual.lines().collect();
    let width = left
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let mut out = format!("  {:<width$} | actual\n", "expected");
    for i in 0..left.len().max(right.len()) {
        let l = left.get(i).copied().unwrap_or("");
        let r = right.get(i).copied().unwrap_or("");
        let mark = if l == r { ' ' } else { '!' };
        out.push_str(&format!("{mark} {l:<width$} | {r}\n"));
    }
    out
}

/// `assert_eq!` that prints expected and actual side by side, with a label.
#[track_caller]
pub fn assert_same<T: Debug + PartialEq>(label: &str, expected: &T, actual: &T) {
    if expected != actual {
        panic!(
            "{label}: expected and actual differ\n{}",
            side_by_side(&format!("{expected:#?}"), &format!("{actual:#?}"))
        );
    }
}

/// Asserts that `text` contains every needle, printing the text when one is missing.
#[track_caller]
pub fn assert_contains(label: &str, text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            text.contains(needle),
            "{label}: expected to contain {needle:?}\n  actual: {text}"
        );
    }
}

/// The `bin/` folder of a Python virtual environment `.ci/<venv>` holding the hash-pinned test
/// tools of `.ci/<requirements>`, for tests that talk to a real peer written in Python. `.ci/run`
/// makes it before the tests (and callers take a path from its variable first); without it the
/// tests make it themselves, once per run, so `cargo test --release` works on a fresh machine with
/// python3 and its venv module. A venv whose `probe` import fails (a half-made one) is installed
/// into again.
pub fn venv_bin(venv: &str, requirements: &str, probe: &str) -> PathBuf {
    use std::sync::Mutex;
    static MAKING: Mutex<()> = Mutex::new(());

    let _one_at_a_time = MAKING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let ci = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci");
    let bin = ci.join(venv).join("bin");
    let python = bin.join("python");
    let works = |python: &Path| {
        Command::new(python)
            .args(["-c", &format!("import {probe}")])
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if works(&python) {
        return bin;
    }
    let how = "install python3 with its venv module (Debian: apt-get install python3 python3-venv), \
               and let the first run reach PyPI, or run .ci/run once";
    let run = |what: &str, command: &mut Command| {
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}: {how}"));
        assert!(
            out.status.success(),
            "{what} failed: {}\n{how}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        "python3 -m venv",
        Command::new("python3")
            .args(["-m", "venv"])
            .arg(ci.join(venv)),
    );
    run(
        "pip install (needs PyPI)",
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                "--require-hashes",
                "-r",
            ])
            .arg(ci.join(requirements)),
    );
    assert!(
        works(&python),
        "{} cannot import {probe}: {how}",
        python.display()
    );
    bin
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `run` with every log line at every level captured on this thread, and returns its
/// outcome and the logs. Another test of this process may register a callsite while no
/// subscriber is set, its interest cached as "never", concurrently with this one being set or the
/// cache rebuilt; a callsite registers once per process. So when the logs lack `marker` (a line
/// the run always writes), the cache is rebuilt and the run made again, at most three times: the
/// caller checks `marker` and then the logs that were written.
pub async fn capture_logs<T, F>(marker: &str, mut run: impl FnMut() -> F) -> (T, String)
where
    F: std::future::Future<Output = T>,
{
    let captured = CapturedLogs::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut attempts = 0;
    loop {
        attempts += 1;
        tracing::callsite::rebuild_interest_cache();
        captured.0.lock().unwrap().clear();
        let outcome = run().await;
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        if logs.contains(marker) || attempts == 3 {
            return (outcome, logs);
        }
    }
}
