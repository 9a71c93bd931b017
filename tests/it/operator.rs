//! The operator's first hour, through the built binary: a copied binary runs the demo from an
//! empty folder, completions and the man page, logs that a file or a pipe can hold, steps at
//! -v, retries as they happen, the JSON summaries, owner-only files, and the messages a new
//! user meets first.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{
    BIN, Workdir, assert_contains, graph_users, sha256_hex, write_export, zip_entries,
};

const AT: &str = "2026-10-31T06:00:00Z";

/// A store with one imported snapshot of 20 users, all registered.
fn work_with_snapshot() -> Workdir {
    let work = Workdir::new();
    let dir = work.join("export");
    write_export(&dir, &graph_users(20, 20));
    work.run(&[
        "import",
        "--dir",
        dir.to_str().unwrap(),
        "--collected-at",
        AT,
    ])
    .expect_code(0);
    work
}

fn only_zip(dir: &Path) -> std::path::PathBuf {
    let zips: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    assert_eq!(zips.len(), 1, "{zips:?}");
    zips[0].clone()
}

#[test]
fn a_copied_binary_runs_the_demo_from_an_empty_folder() {
    // No samples/ beside it, no source tree: the sample tenant is in the binary.
    let work = Workdir::new();
    let bin = work.join("mfa-evidence");
    std::fs::copy(BIN, &bin).unwrap();
    let empty = work.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = Command::new(&bin)
        .current_dir(&empty)
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ID-01 Contoso Ltd"), "{stdout}");
    let zip = only_zip(&empty.join("evidence"));
    let verified = Command::new(&bin)
        .current_dir(&empty)
        .arg("verify")
        .arg(&zip)
        .output()
        .unwrap();
    assert_eq!(verified.status.code(), Some(0));

    // README.txt gives the zip check for Linux, macOS and Windows.
    let entries = zip_entries(&zip);
    let text = |name: &str| {
        let (_, bytes) = entries
            .iter()
            .find(|(n, _)| n.ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("no {name} in the package"));
        String::from_utf8(bytes.clone()).unwrap()
    };
    let readme = text("README.txt");
    assert_contains(
        "README.txt",
        &readme,
        &[
            "sha256sum -c",
            "shasum -a 256 -c",
            "Get-FileHash",
            "COLUMNS.txt",
        ],
    );

    // Every column of every CSV in the package is described under its file in COLUMNS.txt.
    let columns = text("COLUMNS.txt");
    let mut csvs = 0;
    for (name, bytes) in entries.iter().filter(|(n, _)| n.ends_with(".csv")) {
        csvs += 1;
        let file = name.rsplit('/').next().unwrap();
        let section = columns
            .split("\n\n")
            .find(|s| s.starts_with(&format!("{file}:")))
            .unwrap_or_else(|| panic!("COLUMNS.txt has no section for {file}:\n{columns}"));
        let described: Vec<&str> = section
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let header = std::str::from_utf8(bytes)
            .unwrap()
            .trim_start_matches('\u{feff}')
            .lines()
            .next()
            .unwrap()
            .to_string();
        let header: Vec<&str> = header.split(',').collect();
        assert_eq!(
            described, header,
            "the columns of {file} as COLUMNS.txt lists them"
        );
    }
    assert_eq!(
        csvs, 7,
        "the demo package has the user lists and the period's CSVs"
    );
}

#[test]
fn completions_for_every_shell_and_the_man_page() {
    let work = Workdir::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = work.run(&["completions", shell]);
        run.expect_code(0);
        for sub in ["demo", "collect", "import", "report", "verify", "store"] {
            assert!(run.stdout.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    work.run(&["completions", "tcsh"]).expect_code(2);
    let man = work.run(&["man"]);
    man.expect_code(0);
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH mfa-evidence"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    assert_contains(
        "man page",
        &man.stdout,
        &[
            ".TH mfa-evidence",
            ".SH NAME",
            ".SH SUBCOMMANDS",
            "demo",
            "report",
            "\\-\\-config",
        ],
    );
}

#[test]
fn logs_into_a_pipe_carry_no_colour_codes() {
    let work = Workdir::new();
    let dir = work.join("export");
    write_export(&dir, &graph_users(20, 20));
    // A stray file is a warning; -v adds the steps.
    std::fs::write(dir.join("notes.txt"), b"exported by hand").unwrap();
    let args = [
        "-v",
        "import",
        "--dir",
        dir.to_str().unwrap(),
        "--collected-at",
        AT,
    ];
    let run = work.run(&args);
    run.expect_code(0);
    assert_contains(
        "stderr",
        &run.stderr,
        &["WARN", "ignoring notes.txt", "INFO"],
    );
    assert!(!run.stderr.contains("\x1b["), "{:?}", run.stderr);
    // Asked for, colour is there (so the check above can fail); NO_COLOR beats auto only.
    let coloured = work.run(&["--color", "always", "-v", "store", "verify"]);
    assert!(coloured.stderr.contains("\x1b["), "{:?}", coloured.stderr);
    let never = work
        .command(&["--color", "never", "-v", "store", "verify"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&never.stderr).contains("\x1b["));
}

#[test]
fn verbose_names_each_step_with_its_duration() {
    let work = Workdir::new();
    let dir = work.join("export");
    write_export(&dir, &graph_users(20, 20));
    let import = work.run(&[
        "-v",
        "import",
        "--dir",
        dir.to_str().unwrap(),
        "--collected-at",
        AT,
    ]);
    import.expect_code(0);
    assert_contains(
        "import -v",
        &import.stderr,
        &["step read the export", "step store the snapshot"],
    );
    let report = work.run(&["-v", "report", "--out", "out"]);
    report.expect_code(0);
    assert_contains(
        "report -v",
        &report.stderr,
        &[
            "step read the ledger",
            "step evaluate the as-of snapshot",
            "step render report.pdf",
            "step write the zip",
        ],
    );
    assert!(
        report
            .stderr
            .lines()
            .any(|l| l.contains("step render report.pdf: ") && l.ends_with(" s"))
    );
    let verify = work.run(&["-v", "store", "verify"]);
    assert_contains(
        "store verify -v",
        &verify.stderr,
        &["step verify the ledger chain", "step hash 1 snapshots"],
    );
    let zip = only_zip(&work.join("out"));
    let verify = work.run(&["-v", "verify", zip.to_str().unwrap()]);
    assert_contains("verify -v", &verify.stderr, &["step verify the package"]);
    // Without -v, none of it.
    let quiet = work.run(&["store", "verify"]);
    assert!(!quiet.stderr.contains("step "), "{}", quiet.stderr);
}

#[test]
fn collect_against_a_dead_port_shows_its_retries_as_they_happen() {
    let work = Workdir::new();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    std::fs::write(
        work.join("mfa-evidence.toml"),
        format!(
            "[tenant]\nid = \"contoso.test\"\nlogin_endpoint = \"http://127.0.0.1:{port}\"\n\
             graph_endpoint = \"http://127.0.0.1:{port}\"\n[auth]\nclient_id = \"00000000-0000-0000-0000-000000000000\"\n"
        ),
    )
    .unwrap();
    let mut child = work
        .command(&["collect"])
        .env("AZURE_CLIENT_SECRET", "not-a-real-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The default policy would keep trying for minutes: the retries must show well before.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline && seen.len() < 2 {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) if line.contains("retrying in") => seen.push(line),
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    child.kill().ok();
    child.wait().ok();
    assert_eq!(seen.len(), 2, "retry lines within 30 s: {seen:?}");
    assert_contains(
        "retry lines",
        &seen.join("\n"),
        &[
            "WARN",
            "token endpoint",
            "attempt 1 failed",
            "attempt 2 failed",
            "of at most",
        ],
    );
    assert!(!seen.join("\n").contains("not-a-real-secret"));
}

#[test]
fn report_json_is_one_object_on_stdout() {
    let work = work_with_snapshot();
    let run = work.run(&["report", "--json", "--out", "out"]);
    run.expect_code(0);
    let v: Value = serde_json::from_str(&run.stdout).expect("stdout is one JSON object");
    assert_eq!(v["result"], "pass");
    assert_eq!(v["in_scope"], 20);
    assert_eq!(v["registered"], 20);
    assert_eq!(v["percent"], "100.00");
    assert_eq!(v["period_conclusion"], Value::Null);
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f.as_str().is_some_and(|c| c.contains('-')))
    );
    let zip = only_zip(&work.join("out"));
    assert_eq!(
        v["package"]
            .as_str()
            .map(Path::new)
            .and_then(Path::file_name),
        zip.file_name()
    );
    assert_eq!(v["sha256"], sha256_hex(&std::fs::read(&zip).unwrap()));

    let ok = work.run(&["verify", "--json", zip.to_str().unwrap()]);
    ok.expect_code(0);
    let v: Value = serde_json::from_str(&ok.stdout).unwrap();
    assert_eq!(v["verdict"], "verified");
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() >= 5, "{checks:?}");
    assert!(
        checks.iter().all(|c| c["outcome"] == "passed"),
        "{checks:?}"
    );

    // One byte changed at the end of the zip: a failed verification, still one object.
    let mut bytes = std::fs::read(&zip).unwrap();
    let last = bytes.len() - 30;
    bytes[last] ^= 0xff;
    std::fs::write(&zip, bytes).unwrap();
    let bad = work.run(&["verify", "--json", zip.to_str().unwrap()]);
    bad.expect_code(1);
    let v: Value = serde_json::from_str(&bad.stdout).unwrap();
    assert_eq!(v["verdict"], "failed");
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["outcome"] == "failed")
    );
}

#[cfg(unix)]
#[test]
fn the_store_and_the_packages_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let work = work_with_snapshot();
    work.run(&["report", "--out", "out"]).expect_code(0);
    let mut checked = 0;
    let mut stack = vec![work.join("evidence-store"), work.join("out")];
    while let Some(dir) = stack.pop() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
                checked += 1;
            }
        }
    }
    // ledger, lock, raw pages, snapshot.json, SHA256SUMS, the zip and its .sha256
    assert!(checked >= 8, "{checked} files");
}

#[test]
fn an_empty_store_says_so_in_plain_words() {
    let work = Workdir::new();
    std::fs::write(
        work.join("mfa-evidence.toml"),
        "[store]\npath = \"store\"\n",
    )
    .unwrap();
    let run = work.run(&["store", "list"]);
    run.expect_code(2);
    assert_contains(
        "stderr",
        &run.stderr,
        &["no snapshot is stored in", "import"],
    );
    assert!(!run.stderr.contains("store store"), "{}", run.stderr);
}

#[test]
fn a_store_of_two_tenants_lists_and_verifies_both() {
    let work = work_with_snapshot();
    let other = work.join("other");
    write_export(&other, &graph_users(5, 5));
    let org = std::fs::read_to_string(other.join("organization-0001.json")).unwrap();
    let first: Value = serde_json::from_str(&org).unwrap();
    let first_id = first["value"][0]["id"].as_str().unwrap().to_string();
    let second_id = "22222222-3333-4444-5555-666666666666";
    std::fs::write(
        other.join("organization-0001.json"),
        org.replace(&first_id, second_id),
    )
    .unwrap();
    work.run(&[
        "import",
        "--dir",
        other.to_str().unwrap(),
        "--collected-at",
        AT,
    ])
    .expect_code(0);
    let list = work.run(&["store", "list"]);
    list.expect_code(0);
    assert_contains(
        "store list",
        &list.stdout,
        &[&first_id, second_id, "000001-20261031T060000Z"],
    );
    let verify = work.run(&["store", "verify"]);
    verify.expect_code(0);
    assert_contains(
        "store verify",
        &verify.stdout,
        &[
            &format!("ledger of {first_id}"),
            &format!("ledger of {second_id}"),
        ],
    );
    let one = work.run(&["store", "list", "--tenant", second_id]);
    one.expect_code(0);
    assert!(!one.stdout.contains(&first_id));
    let help = work.run(&["store", "list", "--help"]);
    assert_contains(
        "store list --help",
        &help.stdout,
        &["--tenant <ID>", "Only this tenant"],
    );
}

#[test]
fn demo_with_a_missing_samples_folder_names_samples() {
    let work = Workdir::new();
    let run = work.run(&["demo", "--samples", "/nonexistent/samples"]);
    run.expect_code(2);
    assert_contains(
        "stderr",
        &run.stderr,
        &["--samples", "/nonexistent/samples"],
    );
    assert!(!run.stderr.contains("--config"), "{}", run.stderr);
}

#[test]
fn verify_of_a_folder_asks_for_the_zip() {
    let work = Workdir::new();
    std::fs::create_dir(work.join("extracted")).unwrap();
    let run = work.run(&["verify", "extracted"]);
    run.expect_code(2);
    assert_contains("stderr", &run.stderr, &["is a folder", "zip"]);
    assert!(!run.stderr.contains("os error"), "{}", run.stderr);
}

#[test]
fn verify_says_when_the_zip_check_was_skipped_and_fails_a_truncated_zip() {
    let work = work_with_snapshot();
    work.run(&["report", "--out", "out"]).expect_code(0);
    let zip = only_zip(&work.join("out"));
    std::fs::remove_file(format!("{}.sha256", zip.display())).unwrap();
    let run = work.run(&["verify", zip.to_str().unwrap()]);
    run.expect_code(0);
    assert_contains(
        "stdout",
        &run.stdout,
        &["skipped: the zip's own hash", ".sha256", "VERIFIED"],
    );

    let bytes = std::fs::read(&zip).unwrap();
    std::fs::write(&zip, &bytes[..bytes.len() / 2]).unwrap();
    let run = work.run(&["verify", zip.to_str().unwrap()]);
    run.expect_code(1);
    assert_contains("stdout", &run.stdout, &["FAILED", "truncated or damaged"]);
}

#[test]
fn an_empty_import_folder_names_every_missing_source() {
    let work = Workdir::new();
    std::fs::create_dir(work.join("export")).unwrap();
    let run = work.run(&["import", "--dir", "export", "--collected-at", AT]);
    run.expect_code(2);
    assert_contains(
        "stderr",
        &run.stderr,
        &["organization", "users", "userRegistrationDetails"],
    );
}
