//! Provable history: ledger lines and packages signed with an OpenSSH ed25519 key and checked by
//! the real `ssh-keygen -Y verify`; RFC 3161 tokens from OpenSSL's own time-stamp authority
//! (`openssl ts -reply` behind a small HTTP handler on loopback, its CA made here) and checked by
//! `openssl ts -verify`; a TSA that is down or answers garbage; and `store verify --against` a
//! package handed over earlier.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::util::{
    Run, TENANT_ID, Workdir, assert_contains, assert_same, entry, graph_users, rfc3339, sha256_hex,
    write_export, zip_entries,
};

const PASSPHRASE: &str = "correct horse battery staple";

fn run_tool(cmd: &mut Command) -> std::process::Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

#[track_caller]
fn ok(cmd: &mut Command) -> String {
    let out = run_tool(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed\n--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// `ssh-keygen -t ed25519` (or another type) at `path`, with this passphrase.
fn keygen(path: &Path, kind: &str, passphrase: &str) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args([
        "-q",
        "-t",
        kind,
        "-N",
        passphrase,
        "-C",
        "evidence@test",
        "-f",
    ])
    .arg(path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    ok(&mut cmd);
}

/// An allowed_signers line for the key at `pub_path`.
fn allowed_signers(dir: &Path, name: &str, pub_path: &Path) -> PathBuf {
    let key = std::fs::read_to_string(pub_path).unwrap();
    let fields: Vec<&str> = key.split_whitespace().take(2).collect();
    let path = dir.join(name);
    std::fs::write(&path, format!("evidence@test {}\n", fields.join(" "))).unwrap();
    path
}

/// `ssh-keygen -Y verify` of `message` against `sig`; its output, or the failure.
fn ssh_verify(
    allowed: &Path,
    namespace: &str,
    sig: &Path,
    message: &[u8],
) -> Result<String, String> {
    let mut child = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-f"])
        .arg(allowed)
        .args(["-I", "evidence@test", "-n", namespace, "-s"])
        .arg(sig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

fn config(work: &Workdir, extra: &str) {
    std::fs::write(
        work.join("mfa-evidence.toml"),
        format!("[store]\npath = \"store\"\n{extra}"),
    )
    .unwrap();
}

fn import_at(work: &Workdir, at: &str) -> Run {
    let dir = work.join("export");
    if !dir.exists() {
        write_export(&dir, &graph_users(20, 20));
    }
    Run::from(
        work.command(&[
            "import",
            "--dir",
            dir.to_str().unwrap(),
            "--collected-at",
            at,
        ])
        .env(signing_var(), PASSPHRASE)
        .output()
        .unwrap(),
    )
}

fn signing_var() -> &'static str {
    mfa_evidence::attest::signing::PASSPHRASE_VAR
}

fn ledger_path(work: &Workdir) -> PathBuf {
    work.join("store").join(TENANT_ID).join("ledger.jsonl")
}

fn ledger_lines(work: &Workdir) -> Vec<String> {
    std::fs::read_to_string(ledger_path(work))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn report(work: &Workdir, args: &[&str]) -> PathBuf {
    report_into(work, "out", args)
}

fn report_into(work: &Workdir, out: &str, args: &[&str]) -> PathBuf {
    let mut all = vec!["report", "--out", out];
    all.extend_from_slice(args);
    let run = Run::from(
        work.command(&all)
            .env(signing_var(), PASSPHRASE)
            .output()
            .unwrap(),
    );
    assert!(run.code == Some(0) || run.code == Some(1), "{run:?}");
    let out = work.join(out);
    std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "zip"))
        .expect("a package")
}

fn evidence_of(entries: &[(String, Vec<u8>)]) -> Value {
    serde_json::from_slice(entry(entries, "evidence.json")).unwrap()
}

/// The entries named, written into `dir` (without the package folder).
fn extract(entries: &[(String, Vec<u8>)], dir: &Path, names: &[&str]) {
    for name in names {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, entry(entries, name)).unwrap();
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "a token is compared with the time it was asked for"
)]
fn now() -> DateTime<Utc> {
    Utc::now()
}

// ---------------------------------------------------------------------------------------------
// Signatures.

#[test]
fn signed_lines_and_package_verify_with_openssh() {
    let work = Workdir::new();
    let key = work.join("signing");
    keygen(&key, "ed25519", PASSPHRASE);
    config(&work, "[signing]\nkey_file = \"signing\"\n");
    import_at(&work, "2026-11-01T06:00:00Z").expect_code(0);
    import_at(&work, "2026-11-02T06:00:00Z").expect_code(0);

    // Every line is signed, over the line without its signature, in the ledger namespace.
    let allowed = allowed_signers(work.path(), "allowed_signers", &work.join("signing.pub"));
    for (i, line) in ledger_lines(&work).iter().enumerate() {
        let mut entry: Value = serde_json::from_str(line).unwrap();
        let sig = entry["signature"]
            .as_str()
            .expect("a signed line")
            .to_string();
        entry.as_object_mut().unwrap().remove("signature");
        let unsigned = serde_json::to_string(&entry).unwrap();
        let armored = mfa_evidence::attest::signing::armor(&sig);
        let sig_path = work.join(&format!("line{i}.sig"));
        std::fs::write(&sig_path, armored).unwrap();
        ssh_verify(
            &allowed,
            "mfa-evidence-ledger",
            &sig_path,
            unsigned.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("line {} does not verify with ssh-keygen: {e}", i + 1));
    }

    let zip = report(&work, &[]);
    let entries = zip_entries(&zip);
    let check = work.join("check");
    extract(
        &entries,
        &check,
        &["SHA256SUMS", "SHA256SUMS.sig", "signing-key.pub"],
    );
    let allowed_pkg = allowed_signers(&check, "allowed_signers", &check.join("signing-key.pub"));
    let said = ssh_verify(
        &allowed_pkg,
        "mfa-evidence",
        &check.join("SHA256SUMS.sig"),
        entry(&entries, "SHA256SUMS"),
    )
    .expect("ssh-keygen -Y verify accepts the package signature");
    assert_contains(
        "ssh-keygen",
        &said,
        &["Good \"mfa-evidence\" signature for evidence@test"],
    );
    // The signature does not hold for other bytes.
    assert!(
        ssh_verify(
            &allowed_pkg,
            "mfa-evidence",
            &check.join("SHA256SUMS.sig"),
            b"other"
        )
        .is_err()
    );

    // The fingerprint ssh-keygen -lf prints is the one evidence.json and the PDF give.
    let listed = ok(Command::new("ssh-keygen")
        .arg("-lf")
        .arg(work.join("signing.pub")));
    let fingerprint = listed.split_whitespace().nth(1).unwrap().to_string();
    assert!(fingerprint.starts_with("SHA256:"), "{listed}");
    let evidence = evidence_of(&entries);
    assert_same(
        "key fingerprint",
        &Value::String(fingerprint.clone()),
        &evidence["history_proof"]["signing"]["key_fingerprint"],
    );
    let pdf: String = pdf_extract::extract_text_from_mem(entry(&entries, "report.pdf"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_contains("the PDF", &pdf, &[&fingerprint, "Thepackageissigned"]);
    // The package records the ledger line of its newest snapshot, and carries the ledger.
    let lines = ledger_lines(&work);
    assert_same(
        "ledger head",
        &Value::String(sha256_hex(lines[1].as_bytes())),
        &evidence["history_proof"]["ledger_head"]["line_sha256"],
    );
    assert_same(
        "ledger.jsonl",
        &format!("{}\n{}\n", lines[0], lines[1]),
        &String::from_utf8_lossy(entry(&entries, "ledger.jsonl")).into_owned(),
    );

    // The tool's own check, with and without the signer's list.
    work.run(&["verify", zip.to_str().unwrap()])
        .expect_code(0)
        .expect_output(&format!("SHA256SUMS is signed by {fingerprint}"));
    work.run(&[
        "verify",
        "--allowed-signers",
        allowed.to_str().unwrap(),
        zip.to_str().unwrap(),
    ])
    .expect_code(0)
    .expect_output("allowed as evidence@test");
    keygen(&work.join("other"), "ed25519", "");
    let stranger = allowed_signers(work.path(), "stranger", &work.join("other.pub"));
    work.run(&[
        "verify",
        "--allowed-signers",
        stranger.to_str().unwrap(),
        zip.to_str().unwrap(),
    ])
    .expect_code(1)
    .expect_output("which the allowed signers file does not list");

    // The store checks every signature: the newest line cannot change unnoticed...
    work.run(&["store", "verify"])
        .expect_code(0)
        .expect_output(&format!("chain intact; 2 lines signed by {fingerprint}"));
    let original = std::fs::read_to_string(ledger_path(&work)).unwrap();
    let edited = original.replace(
        &format!("\"recorded_by\":\"{}\"", mfa_evidence::tool_id()),
        "\"recorded_by\":\"someone else\"",
    );
    assert_ne!(edited, original);
    std::fs::write(ledger_path(&work), &edited).unwrap();
    work.run(&["store", "verify"])
        .expect_code(1)
        .expect_output("ledger line 1's signature does not hold");
    // ...nor lose its signature.
    let mut lines = ledger_lines_of(&original);
    let mut newest: Value = serde_json::from_str(&lines[1]).unwrap();
    newest.as_object_mut().unwrap().remove("signature");
    newest["folder"] = Value::String("000002-elsewhere".into());
    lines[1] = serde_json::to_string(&newest).unwrap();
    std::fs::write(ledger_path(&work), lines.join("\n") + "\n").unwrap();
    work.run(&["store", "verify"])
        .expect_code(1)
        .expect_output("ledger line 2 has no signature though line 1 before it is signed");
}

fn ledger_lines_of(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

#[test]
fn bad_signing_keys_stop_the_run_before_anything_is_written() {
    let work = Workdir::new();
    keygen(&work.join("signing"), "ed25519", PASSPHRASE);
    keygen(&work.join("rsa"), "rsa", "");
    let dir = work.join("export");
    write_export(&dir, &graph_users(5, 5));
    let import = |key: &str, passphrase: Option<&str>| {
        config(&work, &format!("[signing]\nkey_file = \"{key}\"\n"));
        let mut cmd = work.command(&[
            "import",
            "--dir",
            dir.to_str().unwrap(),
            "--collected-at",
            "2026-11-01T06:00:00Z",
        ]);
        cmd.env_remove(signing_var());
        if let Some(p) = passphrase {
            cmd.env(signing_var(), p);
        }
        Run::from(cmd.output().unwrap())
    };
    import("signing", Some("wrong"))
        .expect_code(2)
        .expect_output("the passphrase in MFA_EVIDENCE_SIGNING_PASSPHRASE is wrong");
    import("signing", None)
        .expect_code(2)
        .expect_output("protected by a passphrase: set MFA_EVIDENCE_SIGNING_PASSPHRASE");
    import("rsa", None)
        .expect_code(2)
        .expect_output("needs an ed25519 key");
    import("missing", None)
        .expect_code(2)
        .expect_output("cannot read the signing key");
    std::fs::write(work.join("garbage"), "not a key\n").unwrap();
    import("garbage", None)
        .expect_code(2)
        .expect_output("is not an OpenSSH private key");
    assert!(!work.join("store").exists(), "nothing may be written");
    let out = import("signing", Some(PASSPHRASE));
    out.expect_code(0);
    assert!(!out.stdout.contains(PASSPHRASE) && !out.stderr.contains(PASSPHRASE));
}

// ---------------------------------------------------------------------------------------------
// A real time-stamp authority: OpenSSL's, on loopback.

/// How the fake TSA answers.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    /// `openssl ts -reply` for the query received.
    Token,
    /// Bytes that are no time-stamp response.
    Garbage,
    /// A real token, over another digest than the one asked for.
    OtherDigest,
}

struct Tsa {
    url: String,
    ca: PathBuf,
}

/// A CA, a time-stamping certificate it signed and OpenSSL's TSA config, in `dir`.
fn make_tsa_ca(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| ok(Command::new("openssl").args(args).current_dir(dir));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "30",
        "-subj",
        "/CN=Test TSA Root",
        "-addext",
        "basicConstraints=critical,CA:true",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "tsa.key",
        "-out",
        "tsa.csr",
        "-subj",
        "/CN=Test TSA",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "extendedKeyUsage=critical,timeStamping\nkeyUsage=critical,digitalSignature\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "tsa.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "tsa.crt",
        "-days",
        "30",
        "-extfile",
        "ext.cnf",
    ]);
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        dir.join("tsa.cnf"),
        "[ tsa ]\ndefault_tsa = tsa_config1\n[ tsa_config1 ]\ndir = .\nserial = ./serial\n\
         crypto_device = builtin\nsigner_cert = ./tsa.crt\ncerts = ./ca.crt\nsigner_key = ./tsa.key\n\
         signer_digest = sha256\ndefault_policy = 1.2.3.4.1\nother_policies = 1.2.3.4.5\n\
         digests = sha256, sha384, sha512\naccuracy = secs:1\nordering = yes\ntsa_name = no\n\
         ess_cert_id_chain = no\ness_cert_id_alg = sha256\n",
    )
    .unwrap();
}

/// Starts the TSA on 127.0.0.1 in a thread of its own; it lives as long as the test binary.
fn start_tsa(dir: &Path, answer: Answer) -> Tsa {
    make_tsa_ca(dir);
    let dir = dir.to_path_buf();
    let lock = Arc::new(Mutex::new(0u32));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/tsa", listener.local_addr().unwrap());
    let ca = dir.join("ca.crt");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let app = axum::Router::new().route(
                "/tsa",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let (dir, lock) = (dir.clone(), lock.clone());
                    async move {
                        tokio::task::spawn_blocking(move || reply(&dir, &lock, answer, &body))
                            .await
                            .unwrap()
                    }
                }),
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    Tsa { url, ca }
}

/// One answer of the TSA (queries are answered one at a time: `openssl ts` keeps a serial file).
fn reply(
    dir: &Path,
    lock: &Mutex<u32>,
    answer: Answer,
    query: &[u8],
) -> ([(&'static str, &'static str); 1], Vec<u8>) {
    let mut n = lock.lock().unwrap();
    *n += 1;
    let header = [("content-type", "application/timestamp-reply")];
    if answer == Answer::Garbage {
        return (header, b"<html>this is no time-stamp</html>".to_vec());
    }
    let (q, r) = (dir.join(format!("q{n}.tsq")), dir.join(format!("r{n}.tsr")));
    if answer == Answer::OtherDigest {
        ok(Command::new("openssl")
            .args([
                "ts",
                "-query",
                "-digest",
                &"ab".repeat(32),
                "-sha256",
                "-cert",
                "-out",
            ])
            .arg(&q));
    } else {
        std::fs::write(&q, query).unwrap();
    }
    ok(Command::new("openssl")
        .args(["ts", "-reply", "-config", "tsa.cnf", "-queryfile"])
        .arg(&q)
        .arg("-out")
        .arg(&r)
        .current_dir(dir));
    (header, std::fs::read(&r).unwrap())
}

fn tsa_config(urls: &[&str], ca: &Path) -> String {
    format!(
        "[timestamping]\nurl = [{}]\nca_file = \"{}\"\n",
        urls.iter()
            .map(|u| format!("\"{u}\""))
            .collect::<Vec<_>>()
            .join(", "),
        ca.display()
    )
}

fn token_path(work: &Workdir, sequence: u64) -> PathBuf {
    work.join("store")
        .join(TENANT_ID)
        .join("timestamps")
        .join(format!("{sequence:06}.tsr"))
}

/// `openssl ts -verify` of a token against a digest.
fn openssl_verify(digest: &str, token: &Path, ca: &Path) -> String {
    ok(Command::new("openssl")
        .args(["ts", "-verify", "-digest", digest, "-in"])
        .arg(token)
        .arg("-CAfile")
        .arg(ca))
}

#[test]
fn tokens_attest_fresh_snapshots_and_past_ones_stay_asserted() {
    let work = Workdir::new();
    let tsa = start_tsa(&work.join("tsa"), Answer::Token);
    keygen(&work.join("signing"), "ed25519", PASSPHRASE);
    config(
        &work,
        &format!(
            "[signing]\nkey_file = \"signing\"\n{}",
            tsa_config(&[&tsa.url], &tsa.ca)
        ),
    );
    // An import with a past collection time: its token proves only today.
    import_at(&work, "2026-11-01T06:00:00Z")
        .expect_code(0)
        .expect_output("time-stamped ledger line 1");
    let fresh = now() - chrono::Duration::hours(1);
    import_at(&work, &rfc3339(fresh))
        .expect_code(0)
        .expect_output("time-stamped ledger line 2");

    // Each token is a real RFC 3161 answer over its line's SHA-256, as OpenSSL sees it.
    let lines = ledger_lines(&work);
    for (i, line) in lines.iter().enumerate() {
        let said = openssl_verify(
            &sha256_hex(line.as_bytes()),
            &token_path(&work, i as u64 + 1),
            &tsa.ca,
        );
        assert_contains("openssl ts -verify", &said, &["Verification: OK"]);
    }

    let zip = report(&work, &[]);
    let entries = zip_entries(&zip);
    let evidence = evidence_of(&entries);
    let series = evidence["period"]["series"].as_array().unwrap();
    let states: Vec<&str> = series
        .iter()
        .map(|p| p["attestation"]["state"].as_str().unwrap())
        .collect();
    assert_same("attestation", &vec!["asserted", "attested"], &states);
    for p in series {
        let at: DateTime<Utc> = p["attestation"]["token_time"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((now() - at).num_minutes().abs() < 10, "token time {at}");
    }
    let ts = &evidence["history_proof"]["timestamping"];
    assert_same("attested", &Value::from(1), &ts["attested"]);
    assert_same("asserted", &Value::from(1), &ts["asserted"]);
    assert_same(
        "mostly asserted",
        &Value::Bool(false),
        &ts["mostly_asserted"],
    );
    let pdf: String = pdf_extract::extract_text_from_mem(entry(&entries, "report.pdf"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_contains(
        "the PDF (without white space)",
        &pdf,
        &[
            "1of2snapshotsareindependentlyattested",
            "ontheoperator'sword",
        ],
    );

    // The auditor's route without the tool: the package's ledger line, token and CA file.
    let check = work.join("check");
    extract(
        &entries,
        &check,
        &[
            "ledger.jsonl",
            "timestamps/000002.tsr",
            "timestamps/tsa-ca.pem",
        ],
    );
    let line2 = std::fs::read_to_string(check.join("ledger.jsonl")).unwrap();
    let line2 = line2.lines().nth(1).unwrap();
    let said = openssl_verify(
        &sha256_hex(line2.as_bytes()),
        &check.join("timestamps/000002.tsr"),
        &check.join("timestamps/tsa-ca.pem"),
    );
    assert_contains("openssl ts -verify", &said, &["Verification: OK"]);
    let readme = String::from_utf8_lossy(entry(&entries, "README.txt")).into_owned();
    assert_contains(
        "README.txt",
        &readme,
        &["openssl ts -verify -digest", "ssh-keygen -Y verify"],
    );
    work.run(&["verify", zip.to_str().unwrap()])
        .expect_code(0)
        .expect_output("2 time-stamp tokens cover their ledger lines");
    work.run(&["store", "verify"]).expect_code(0);

    // A token swapped for another line's is named by store verify and refused by report.
    std::fs::copy(token_path(&work, 1), token_path(&work, 2)).unwrap();
    work.run(&["store", "verify"])
        .expect_code(1)
        .expect_output("message imprint");
    let run = Run::from(
        work.command(&["report", "--out", "out2"])
            .env(signing_var(), PASSPHRASE)
            .output()
            .unwrap(),
    );
    run.expect_code(2)
        .expect_output("time-stamp token of ledger line 2 does not hold");
    assert!(
        !work
            .join("out2")
            .read_dir()
            .map(|mut d| d.any(|e| e.unwrap().path().extension().is_some_and(|x| x == "zip")))
            .unwrap_or(false)
    );
}

#[test]
fn a_tsa_that_is_down_or_answers_garbage_costs_no_snapshot() {
    let work = Workdir::new();
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/tsa", l.local_addr().unwrap())
    };
    let garbage = start_tsa(&work.join("garbage"), Answer::Garbage);
    let other = start_tsa(&work.join("other"), Answer::OtherDigest);
    let good = start_tsa(&work.join("good"), Answer::Token);

    config(&work, &tsa_config(&[&closed], &good.ca));
    import_at(&work, "2026-11-01T06:00:00Z")
        .expect_code(1)
        .expect_output(&format!("TSA {closed}: unreachable after 3 attempts"))
        .expect_output("the snapshot is stored, and the next run asks again");
    assert_eq!(ledger_lines(&work).len(), 1);
    assert!(!token_path(&work, 1).exists());

    config(&work, &tsa_config(&[&garbage.url, &other.url], &good.ca));
    import_at(&work, "2026-11-02T06:00:00Z")
        .expect_code(1)
        .expect_output(&format!(
            "TSA {}: its answer was refused: it is not an RFC 3161",
            garbage.url
        ))
        .expect_output(&format!(
            "TSA {}: its answer was refused: its message imprint is",
            other.url
        ))
        .expect_output("ledger lines 1, 2");
    assert_eq!(ledger_lines(&work).len(), 2);
    assert!(!token_path(&work, 1).exists() && !token_path(&work, 2).exists());

    // The next run, with a TSA that works (tried after the closed one), stamps every line.
    config(&work, &tsa_config(&[&closed, &good.url], &good.ca));
    import_at(&work, "2026-11-03T06:00:00Z")
        .expect_code(0)
        .expect_output("time-stamped ledger line 1")
        .expect_output("time-stamped ledger line 3");
    for n in 1..=3 {
        assert!(token_path(&work, n).is_file(), "token {n}");
    }
    // All three tokens came days after the collection times: asserted, and mostly so.
    let zip = report(&work, &[]);
    let evidence = evidence_of(&zip_entries(&zip));
    assert_same(
        "mostly asserted",
        &Value::Bool(true),
        &evidence["history_proof"]["timestamping"]["mostly_asserted"],
    );
    let pdf: String = pdf_extract::extract_text_from_mem(entry(&zip_entries(&zip), "report.pdf"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_contains(
        "the PDF (without white space)",
        &pdf,
        &["0of3snapshotsattested", "historyismostlyasserted"],
    );

    // verify re-checks every token and every attestation, not only their hashes: a package
    // whose hash lists were rewritten to match still fails.
    let entries = zip_entries(&zip);
    let token2 = entry(&entries, "timestamps/000002.tsr").to_vec();
    let swapped = rewritten(&work, &entries, "timestamps/000001.tsr", token2);
    work.run(&["verify", swapped.to_str().unwrap()])
        .expect_code(1)
        .expect_output(
            "timestamps/000001.tsr does not prove ledger line 1: its message imprint is",
        );
    let text = String::from_utf8(entry(&entries, "evidence.json").to_vec()).unwrap();
    let claimed = text.replacen("\"state\": \"asserted\"", "\"state\": \"attested\"", 1);
    assert_ne!(claimed, text);
    let forged = rewritten(&work, &entries, "evidence.json", claimed.into_bytes());
    work.run(&["verify", forged.to_str().unwrap()])
        .expect_code(1)
        .expect_output("evidence.json states snapshot 1 (collected 2026-11-01T06:00:00Z) attested, but its token gives asserted");
}

/// The package with one file replaced, SHA256SUMS and manifest.json rewritten to match it (as a
/// forger would), as `forged-N.zip`.
fn rewritten(work: &Workdir, entries: &[(String, Vec<u8>)], rel: &str, bytes: Vec<u8>) -> PathBuf {
    let mut entries = entries.to_vec();
    let old = sha256_hex(entry(&entries, rel));
    let new = sha256_hex(&bytes);
    *crate::util::entry_mut(&mut entries, rel) = bytes.clone();
    let mut manifest: Value = serde_json::from_slice(entry(&entries, "manifest.json")).unwrap();
    for f in manifest["files"].as_array_mut().unwrap() {
        if f["path"] == rel {
            f["sha256"] = Value::String(new.clone());
            f["size"] = Value::from(bytes.len());
        }
    }
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).unwrap();
    let old_manifest = sha256_hex(entry(&entries, "manifest.json"));
    let new_manifest = sha256_hex(&manifest_bytes);
    *crate::util::entry_mut(&mut entries, "manifest.json") = manifest_bytes;
    let sums = String::from_utf8(entry(&entries, "SHA256SUMS").to_vec())
        .unwrap()
        .replace(&old, &new)
        .replace(&old_manifest, &new_manifest);
    *crate::util::entry_mut(&mut entries, "SHA256SUMS") = sums.into_bytes();
    let n = std::fs::read_dir(work.path()).unwrap().count();
    let path = work.join(&format!("forged-{n}.zip"));
    crate::util::write_zip(&path, &entries);
    path
}

/// A token made by `openssl ts` directly (no HTTP), over `digest`.
fn openssl_token(dir: &Path, digest: &str, with_cert: bool) -> Vec<u8> {
    let mut query = Command::new("openssl");
    query.args([
        "ts", "-query", "-digest", digest, "-sha256", "-out", "q.tsq",
    ]);
    if with_cert {
        query.arg("-cert");
    }
    ok(query.current_dir(dir));
    ok(Command::new("openssl")
        .args([
            "ts",
            "-reply",
            "-config",
            "tsa.cnf",
            "-queryfile",
            "q.tsq",
            "-out",
            "r.tsr",
        ])
        .current_dir(dir));
    std::fs::read(dir.join("r.tsr")).unwrap()
}

#[test]
fn tokens_that_do_not_prove_their_line_are_refused() {
    use mfa_evidence::attest::proof::{TokenError, check_response, read_ca_pem};
    let tmp = tempfile::tempdir().unwrap();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    make_tsa_ca(&ours);
    make_tsa_ca(&theirs);
    let cas = read_ca_pem(&std::fs::read_to_string(ours.join("ca.crt")).unwrap()).unwrap();
    let digest = [7u8; 32];
    let hex_digest = hex::encode(digest);
    let token = openssl_token(&ours, &hex_digest, true);

    let checked = check_response(&token, &digest, None, &cas).expect("a good token holds");
    assert!(
        (now() - checked.time).num_minutes().abs() < 10,
        "{checked:?}"
    );
    assert_contains("signer", &checked.signer, &["Test TSA"]);

    let other = check_response(&token, &[8u8; 32], None, &cas).unwrap_err();
    assert!(matches!(other, TokenError::OtherDigest { .. }), "{other}");
    let foreign = check_response(
        &openssl_token(&theirs, &hex_digest, true),
        &digest,
        None,
        &cas,
    )
    .unwrap_err();
    assert!(matches!(foreign, TokenError::Untrusted(_)), "{foreign}");
    let bare = check_response(
        &openssl_token(&ours, &hex_digest, false),
        &digest,
        None,
        &cas,
    )
    .unwrap_err();
    assert_contains(
        "no certificate",
        &bare.to_string(),
        &["does not carry its signer's certificate"],
    );
    // The signature is the last thing in the token's SignerInfo: one bit of it flipped.
    let mut flipped = token.clone();
    let last = flipped.len() - 10;
    flipped[last] ^= 0x01;
    let broken = check_response(&flipped, &digest, None, &cas).unwrap_err();
    assert!(matches!(broken, TokenError::BadSignature(_)), "{broken}");
    let garbage = check_response(b"\x30\x03\x02\x01\x00", &digest, None, &cas).unwrap_err();
    assert!(matches!(garbage, TokenError::Malformed(_)), "{garbage}");
}

#[test]
fn a_bad_ca_file_is_a_config_error_before_anything_is_written() {
    let work = Workdir::new();
    std::fs::write(work.join("ca.pem"), "not a certificate\n").unwrap();
    config(
        &work,
        &tsa_config(&["http://127.0.0.1:9/"], &work.join("ca.pem")),
    );
    import_at(&work, "2026-11-01T06:00:00Z")
        .expect_code(2)
        .expect_output("is not a PEM file of CA certificates");
    assert!(!work.join("store").exists());
}

// ---------------------------------------------------------------------------------------------
// Against what was handed over.

#[test]
fn store_verify_against_an_old_package_names_cut_and_rewritten_lines() {
    let work = Workdir::new();
    config(&work, "");
    for day in 1..=3 {
        import_at(&work, &format!("2026-11-0{day}T06:00:00Z")).expect_code(0);
    }
    let zip = report(&work, &[]);
    let entries = zip_entries(&zip);
    // Without a key or a TSA the package says so in one sentence.
    let evidence = evidence_of(&entries);
    assert_same(
        "statements",
        &serde_json::json!([
            "Time-stamping is not configured and the package is unsigned: the snapshots' collection times and this history rest on the operator's word."
        ]),
        &evidence["history_proof"]["statements"],
    );
    let pdf: String = pdf_extract::extract_text_from_mem(entry(&entries, "report.pdf"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_contains(
        "the PDF (without white space)",
        &pdf,
        &["Time-stampingisnotconfiguredandthepackageisunsigned"],
    );
    let zip_arg = zip.to_str().unwrap();
    work.run(&["store", "verify", "--against", zip_arg])
        .expect_code(0)
        .expect_output("the store still holds the 3 ledger lines");
    // Another store, holding only the first of those lines, does not hold that history.
    let elsewhere = Workdir::new();
    config(&elsewhere, "");
    import_at(&elsewhere, "2026-11-01T06:00:00Z").expect_code(0);
    elsewhere
        .run(&["store", "verify", "--against", zip_arg])
        .expect_code(1)
        .expect_output(
            "ledger line 2 of the package is no longer in the store, which ends at line 1",
        );

    // A rebuilt package is byte-identical, even after the store grew.
    import_at(&work, "2026-11-04T06:00:00Z").expect_code(0);
    let bytes = std::fs::read(&zip).unwrap();
    let again = report_into(
        &work,
        "again",
        &["--period", "2026-11-01T06:00:00Z..2026-11-03T06:00:00Z"],
    );
    assert_same(
        "the rebuilt package",
        &sha256_hex(&bytes),
        &sha256_hex(&std::fs::read(&again).unwrap()),
    );
    work.run(&["store", "verify", "--against", zip_arg])
        .expect_code(0);

    // The newest lines cut, with their snapshots: the chain itself still holds...
    let original = std::fs::read_to_string(ledger_path(&work)).unwrap();
    let lines = ledger_lines_of(&original);
    std::fs::write(ledger_path(&work), format!("{}\n{}\n", lines[0], lines[1])).unwrap();
    for folder in ["000003-20261103T060000Z", "000004-20261104T060000Z"] {
        std::fs::remove_dir_all(
            work.join("store")
                .join(TENANT_ID)
                .join("snapshots")
                .join(folder),
        )
        .unwrap();
    }
    work.run(&["store", "verify"]).expect_code(0);
    // ...but not against what the auditor holds.
    work.run(&["store", "verify", "--against", zip_arg])
        .expect_code(1)
        .expect_output(
            "ledger line 3 of the package is no longer in the store, which ends at line 2",
        );

    // A rewritten line is named too.
    let mut rewritten = lines.clone();
    rewritten[2] = rewritten[2].replace(&mfa_evidence::tool_id(), "mfa-evidence 0.0.1");
    std::fs::write(ledger_path(&work), rewritten.join("\n") + "\n").unwrap();
    work.run(&["store", "verify", "--against", zip_arg])
        .expect_code(1)
        .expect_output("ledger line 3 no longer matches the package's");
    assert_eq!(std::fs::read(&zip).unwrap(), bytes);
}

// ---------------------------------------------------------------------------------------------
// A live collection takes the same route.

#[tokio::test(flavor = "multi_thread")]
async fn a_live_collection_is_signed_and_time_stamped() {
    use crate::fake_graph::{CLIENT_ID, FakeGraph, GROUP_ID, Scenario, TENANT};
    let fake = FakeGraph::start(Scenario::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let url = fake.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let tsa = start_tsa(&root.join("tsa"), Answer::Token);
        keygen(&root.join("signing"), "ed25519", PASSPHRASE);
        let config = root.join("mfa-evidence.toml");
        std::fs::write(
            &config,
            format!(
                "[tenant]\nid = \"{TENANT}\"\nlogin_endpoint = \"{url}\"\ngraph_endpoint = \"{url}\"\n\
                 [auth]\nclient_id = \"{CLIENT_ID}\"\n[break_glass]\ngroup_id = \"{GROUP_ID}\"\n\
                 [store]\npath = \"store\"\n[signing]\nkey_file = \"signing\"\n{}",
                tsa_config(&[&tsa.url], &tsa.ca)
            ),
        )
        .unwrap();
        let out = Command::new(crate::util::BIN)
            .arg("--config")
            .arg(&config)
            .arg("collect")
            .env("AZURE_CLIENT_SECRET", "fake-secret")
            .env(signing_var(), PASSPHRASE)
            .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
            .env_remove("HTTPS_PROXY")
            .current_dir(&root)
            .output()
            .unwrap();
        (out, tsa.ca)
    })
    .await
    .unwrap();
    let (out, ca) = out;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_contains("collect", &text, &["time-stamped ledger line 1"]);
    let tenant_dir = dir.path().join("store").join(TENANT);
    let line = std::fs::read_to_string(tenant_dir.join("ledger.jsonl")).unwrap();
    let line = line.trim_end();
    assert!(line.contains("\"signature\":"), "{line}");
    let said = openssl_verify(
        &sha256_hex(line.as_bytes()),
        &tenant_dir.join("timestamps/000001.tsr"),
        &ca,
    );
    assert_contains("openssl ts -verify", &said, &["Verification: OK"]);
}
