//! The store on object storage (`[store] url = "az://..."`) against Azurite, through the built
//! binary: every command gives what it gives over a local store holding the same snapshots,
//! two runners racing appends keep one intact chain in collection order, eight tenants are
//! collected at once, a network that fails mid-upload leaves no counted snapshot, and a wrong
//! key is said in words.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mfa_evidence::demo::synth::{self, TenantSpec};
use serde_json::Value;

use crate::azurite::{ACCOUNT, Azurite};
use crate::util::{Run, Workdir, as_of, bin_in, entry, package_in, rfc3339, zip_entries};

const CONTAINER: &str = "evidence";

/// A generated tenant collected at `at`, written into `dir`; returns the config text for it.
fn tenant_at(dir: &Path, at: DateTime<Utc>) -> String {
    let summary = synth::write_tenant(&TenantSpec::new(60, 5, at), dir).unwrap();
    synth::config_toml(&summary)
}

/// The binary in `dir` with the emulator's variables and no other storage or Graph settings.
fn command(dir: &Path, azurite_url: &str, args: &[&str]) -> Command {
    let mut cmd = bin_in(dir);
    cmd.args(args)
        .env_remove("AZURE_STORAGE_ACCOUNT_NAME")
        .env_remove("AZURE_STORAGE_ACCOUNT_KEY")
        .env_remove("AZURE_STORAGE_SAS_TOKEN")
        .env("AZURE_STORAGE_USE_EMULATOR", "true")
        .env("AZURITE_BLOB_STORAGE_URL", azurite_url)
        .stdin(Stdio::null());
    cmd
}

fn run(dir: &Path, azurite_url: &str, args: &[&str]) -> Run {
    Run::from(command(dir, azurite_url, args).output().unwrap())
}

fn import(dir: &Path, azurite_url: &str, config: &str, folder: &Path, at: DateTime<Utc>) -> Run {
    run(
        dir,
        azurite_url,
        &[
            "--config",
            config,
            "import",
            "--dir",
            folder.to_str().unwrap(),
            "--collected-at",
            &rfc3339(at),
        ],
    )
}

/// `store list`'s rows: sequence, collected at, folder, sha256.
fn listed(run: &Run) -> Vec<Vec<String>> {
    run.stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

async fn started() -> Azurite {
    let azurite = tokio::task::spawn_blocking(Azurite::start).await.unwrap();
    azurite.create_container(CONTAINER).await;
    azurite
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_gives_over_object_storage_what_it_gives_over_a_local_store() {
    let azurite = started().await;
    let url = azurite.url.clone();
    let work = Workdir::new();
    let days: Vec<DateTime<Utc>> = (0..3)
        .map(|d| as_of() - chrono::Duration::days(2 - d))
        .collect();
    let mut base = String::new();
    for (i, at) in days.iter().enumerate() {
        base = tenant_at(&work.join(&format!("day{i}")), *at);
    }
    std::fs::write(
        work.join("local.toml"),
        format!("{base}\n[store]\npath = \"store\"\n"),
    )
    .unwrap();
    std::fs::write(
        work.join("remote.toml"),
        format!("{base}\n[store]\nurl = \"az://{CONTAINER}/parity\"\n"),
    )
    .unwrap();

    let results = blocking({
        let (dir, days) = (work.path().to_path_buf(), days.clone());
        move || {
            let mut out = Vec::new();
            for config in ["local.toml", "remote.toml"] {
                for (i, at) in days.iter().enumerate() {
                    import(&dir, &url, config, &dir.join(format!("day{i}")), *at).expect_code(0);
                }
                let c = ["--config", config];
                let list = run(&dir, &url, &[&c[..], &["store", "list"]].concat());
                let verify = run(
                    &dir,
                    &url,
                    &[&c[..], &["store", "verify", "--deep"]].concat(),
                );
                let out_dir = format!("out-{config}");
                let period = run(
                    &dir,
                    &url,
                    &[&c[..], &["report", "--out", &out_dir]].concat(),
                );
                let point_dir = format!("point-{config}");
                let point = run(
                    &dir,
                    &url,
                    &[
                        &c[..],
                        &["report", "--as-of", &rfc3339(days[1]), "--out", &point_dir],
                    ]
                    .concat(),
                );
                out.push((list, verify, period, point));
            }
            out
        }
    })
    .await;
    let (local, remote) = (&results[0], &results[1]);
    local.0.expect_code(0);
    remote.0.expect_code(0);
    assert_eq!(listed(&local.0), listed(&remote.0), "store list");
    assert_eq!(listed(&remote.0).len(), 3);
    for (l, r) in [
        (&local.1, &remote.1),
        (&local.2, &remote.2),
        (&local.3, &remote.3),
    ] {
        assert_eq!(l.code, r.code, "{l:?}\n{r:?}");
    }
    remote.1.expect_output(
        "3 snapshots, chain intact, each derived again from its raw pages and agreeing with what is stored",
    );

    // The packages agree entry by entry; only what rests on the config's own SHA-256 differs.
    for out in ["out", "point"] {
        let l = package_in(&work.join(&format!("{out}-local.toml")));
        let r = package_in(&work.join(&format!("{out}-remote.toml")));
        assert_eq!(l.file_name(), r.file_name());
        let (le, re) = (zip_entries(&l), zip_entries(&r));
        let names = |e: &[(String, Vec<u8>)]| e.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&le), names(&re));
        let config_sha = |e: &[(String, Vec<u8>)]| {
            let evidence: Value = serde_json::from_slice(entry(e, "evidence.json")).unwrap();
            evidence["control"]["config_sha256"]
                .as_str()
                .expect("control.config_sha256")
                .to_string()
        };
        let (ls, rs) = (config_sha(&le), config_sha(&re));
        assert_ne!(ls, rs, "the two configs differ in [store]");
        // Whatever names the config's hash or hashes a file that does is set aside.
        let rests_on_config = |n: &str| {
            ["manifest.json", "SHA256SUMS", "report.pdf"].contains(&n) || n.starts_with("oscal/")
        };
        let mut compared = 0;
        for ((name, lb), (_, rb)) in le.iter().zip(&re) {
            let rel = name.split_once('/').map_or(name.as_str(), |(_, r)| r);
            if rel == "evidence.json" {
                let l = String::from_utf8(lb.clone())
                    .unwrap()
                    .replace(&ls, "CONFIG");
                let r = String::from_utf8(rb.clone())
                    .unwrap()
                    .replace(&rs, "CONFIG");
                assert!(l == r, "{name} differs beyond the config's SHA-256");
            } else if !rests_on_config(rel) {
                assert!(
                    lb == rb,
                    "{name} differs between the local and the object store"
                );
                compared += 1;
            }
        }
        assert!(compared >= 5, "only {compared} entries compared");
        assert!(names(&le).iter().any(|n| n.ends_with("ledger.jsonl")));
    }

    // On the container: one object per ledger line, snapshots named by time and hash.
    let names = list_names(&azurite, "parity").await;
    let lines: Vec<&String> = names.iter().filter(|n| n.contains("/ledger/")).collect();
    assert_eq!(lines.len(), 3, "{names:#?}");
    assert!(lines[0].ends_with("/ledger/000001.jsonl"), "{lines:?}");
    let sums = names
        .iter()
        .filter(|n| n.contains("/snapshots/") && n.ends_with("/SHA256SUMS"))
        .count();
    assert_eq!(sums, 3, "{names:#?}");
}

/// Every object name under `prefix`, sorted.
async fn list_names(azurite: &Azurite, prefix: &str) -> Vec<String> {
    use futures_util::TryStreamExt;
    use object_store::ObjectStore;
    let store = azurite.container(CONTAINER);
    let prefix = object_store::path::Path::from(prefix);
    let metas: Vec<object_store::ObjectMeta> =
        store.list(Some(&prefix)).try_collect().await.unwrap();
    let mut names: Vec<String> = metas.into_iter().map(|m| m.location.to_string()).collect();
    names.sort();
    names
}

/// Two runners store a snapshot each into one tenant at once, 20 times; the older one starts a
/// little earlier each round, so both orders of arrival come.
#[tokio::test(flavor = "multi_thread")]
async fn racing_runners_never_fork_the_chain_or_lose_a_snapshot() {
    const ROUNDS: usize = 20;
    let azurite = started().await;
    let url = azurite.url.clone();
    let work = Workdir::new();
    let times: Vec<DateTime<Utc>> = (0..2 * ROUNDS as i64)
        .map(|i| as_of() - chrono::Duration::hours(2 * ROUNDS as i64 - i))
        .collect();
    let mut base = String::new();
    for (i, at) in times.iter().enumerate() {
        base = tenant_at(&work.join(&format!("t{i}")), *at);
    }
    std::fs::write(
        work.join("race.toml"),
        format!("{base}\n[store]\nurl = \"az://{CONTAINER}/race\"\n"),
    )
    .unwrap();

    let outcomes = blocking({
        let (dir, times) = (work.path().to_path_buf(), times.clone());
        move || {
            let spawn = |i: usize| -> Child {
                let folder = dir.join(format!("t{i}"));
                command(
                    &dir,
                    &url,
                    &[
                        "--config",
                        "race.toml",
                        "import",
                        "--dir",
                        folder.to_str().unwrap(),
                        "--collected-at",
                        &rfc3339(times[i]),
                    ],
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
            };
            let mut outcomes = Vec::new();
            for round in 0..ROUNDS {
                let older = spawn(2 * round);
                std::thread::sleep(Duration::from_millis(10 * round as u64));
                let newer = spawn(2 * round + 1);
                let newer = Run::from(newer.wait_with_output().unwrap());
                let older = Run::from(older.wait_with_output().unwrap());
                outcomes.push((older, newer));
            }
            outcomes
        }
    })
    .await;

    let mut stored = Vec::new();
    for (round, (older, newer)) in outcomes.iter().enumerate() {
        // The later collection always gets in: it is never behind the head.
        newer.expect_code(0);
        stored.push(times[2 * round + 1]);
        match older.code {
            Some(0) => stored.push(times[2 * round]),
            Some(2) => assert!(
                older.stderr.contains("collection order")
                    || older.stderr.contains("not before this one"),
                "round {round}: {older:?}"
            ),
            _ => panic!("round {round}: {older:?}"),
        }
    }
    stored.sort();

    let dir = work.path().to_path_buf();
    let (list, verify) = blocking({
        let url = azurite.url.clone();
        move || {
            let c = ["--config", "race.toml"];
            (
                run(&dir, &url, &[&c[..], &["store", "list"]].concat()),
                run(&dir, &url, &[&c[..], &["store", "verify"]].concat()),
            )
        }
    })
    .await;
    list.expect_code(0);
    let rows = listed(&list);
    let sequences: Vec<u64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(
        sequences,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "no sequence repeated or skipped"
    );
    let listed_times: Vec<String> = rows.iter().map(|r| r[1].clone()).collect();
    let expected: Vec<String> = stored
        .iter()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect();
    assert_eq!(
        listed_times, expected,
        "every run that succeeded has its snapshot, in collection order"
    );
    verify
        .expect_code(0)
        .expect_output(&format!("{} snapshots, chain intact", stored.len()));
    // Each refused runner's files are there, never counted, and listed.
    let refused = 2 * ROUNDS - stored.len();
    let leftovers = verify
        .stdout
        .lines()
        .filter(|l| l.contains("is not in the ledger"))
        .count();
    assert_eq!(leftovers, refused, "{verify:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_is_said_in_words_and_stores_nothing() {
    let azurite = started().await;
    let work = Workdir::new();
    let base = tenant_at(&work.join("t"), as_of());
    std::fs::write(
        work.join("c.toml"),
        format!("{base}\n[store]\nurl = \"az://{CONTAINER}/keys\"\n"),
    )
    .unwrap();
    let wrong_key = "d3Jvbmcta2V5LW9mLXRoZS1yaWdodC1sZW5ndGgtZm9yLWF6dXJpdGUtdGVzdHM=";
    let run = blocking({
        let (dir, url) = (work.path().to_path_buf(), azurite.url.clone());
        move || {
            let mut cmd = bin_in(&dir);
            cmd.args([
                "--config",
                "c.toml",
                "import",
                "--dir",
                "t",
                "--collected-at",
            ])
            .arg(rfc3339(as_of()))
            .env_remove("AZURE_STORAGE_USE_EMULATOR")
            .env("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT)
            .env("AZURE_STORAGE_ACCOUNT_KEY", wrong_key)
            .env("AZURE_STORAGE_USE_EMULATOR", "true")
            .env("AZURITE_BLOB_STORAGE_URL", url);
            Run::from(cmd.output().unwrap())
        }
    })
    .await;
    run.expect_code(2)
        .expect_output("the storage refused the credentials")
        .expect_output("AZURE_STORAGE_ACCOUNT_KEY");
    assert!(
        !run.stdout.contains(wrong_key) && !run.stderr.contains(wrong_key),
        "{run:?}"
    );
    assert!(list_names(&azurite, "keys").await.is_empty());
}

/// A proxy on 127.0.0.1 in front of Azurite that relays both ways until `budget` bytes of
/// requests have gone through, then cuts every connection, new ones included, until `healed`.
async fn failing_network(target: u16, budget: u64) -> (u16, Arc<AtomicBool>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let healed = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let state = healed.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (healed, sent) = (state.clone(), sent.clone());
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let back = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                let mut buf = vec![0u8; 8192];
                loop {
                    let down =
                        !healed.load(Ordering::SeqCst) && sent.load(Ordering::SeqCst) >= budget;
                    if down {
                        break;
                    }
                    let n = match client_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let total = sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                    let n = if healed.load(Ordering::SeqCst) || total <= budget {
                        n
                    } else {
                        n.saturating_sub((total - budget) as usize)
                    };
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                back.abort();
            });
        }
    });
    (port, healed)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_that_fails_mid_upload_leaves_no_counted_snapshot() {
    let azurite = started().await;
    let work = Workdir::new();
    let first = as_of() - chrono::Duration::days(1);
    tenant_at(&work.join("d0"), first);
    let base = tenant_at(&work.join("d1"), as_of());
    std::fs::write(
        work.join("c.toml"),
        format!("{base}\n[store]\nurl = \"az://{CONTAINER}/cut\"\n"),
    )
    .unwrap();
    let direct = azurite.url.clone();
    let dir = work.path().to_path_buf();
    blocking({
        let (dir, direct) = (dir.clone(), direct.clone());
        move || {
            import(&dir, &direct, "c.toml", &dir.join("d0"), first).expect_code(0);
        }
    })
    .await;

    // Enough for the listings and a few pages, not for the whole snapshot.
    let (port, healed) = failing_network(azurite.port, 24 * 1024).await;
    let through_proxy = format!("http://127.0.0.1:{port}");
    let cut = blocking({
        let (dir, url) = (dir.clone(), through_proxy.clone());
        move || import(&dir, &url, "c.toml", &dir.join("d1"), as_of())
    })
    .await;
    cut.expect_code(2).expect_output("cannot ");
    assert!(
        cut.stderr.contains("run again"),
        "the message says what to do: {cut:?}"
    );

    healed.store(true, Ordering::SeqCst);
    let (list, verify, again) = blocking({
        let (dir, url) = (dir.clone(), through_proxy.clone());
        move || {
            let list = run(&dir, &url, &["--config", "c.toml", "store", "list"]);
            let verify = run(&dir, &url, &["--config", "c.toml", "store", "verify"]);
            let again = import(&dir, &url, "c.toml", &dir.join("d1"), as_of());
            (list, verify, again)
        }
    })
    .await;
    assert_eq!(
        listed(&list).len(),
        1,
        "the cut snapshot does not count: {list:?}"
    );
    verify
        .expect_code(0)
        .expect_output("1 snapshot, chain intact");
    // The same snapshot stored again: its files already there with the same bytes are taken.
    again.expect_code(0).expect_output("stored snapshot 2");
}

/// Eight tenants of one `[[tenants]]` config, collected at once from one fake Graph into one
/// container, then verified and reported from it.
#[tokio::test(flavor = "multi_thread")]
async fn eight_tenants_are_collected_at_once_into_one_container() {
    use crate::fake_graph::{FakeGraph, FakeTenant, Scenario};
    use crate::tenants::{secret, tenant_id, tenant_name};
    const TENANTS: usize = 8;

    let azurite = started().await;
    let scenario = Scenario {
        other_tenants: (1..TENANTS)
            .map(|i| FakeTenant {
                id: tenant_id(i),
                name: tenant_name(i),
                secret: secret(i),
            })
            .collect(),
        ..Scenario::default()
    };
    let fake = FakeGraph::start(scenario).await;
    let work = Workdir::new();
    let text = crate::tenants::tenants_config(
        &format!("[store]\nurl = \"az://{CONTAINER}/msp\"\n"),
        &fake.url,
        TENANTS,
        "",
    );
    std::fs::write(work.join("msp.toml"), text).unwrap();
    let dir = work.path().to_path_buf();
    let with_secrets = move |args: &[&str]| {
        let mut cmd = command(
            &dir,
            &azurite.url,
            &[&["--config", "msp.toml"], args].concat(),
        );
        for i in 0..TENANTS {
            cmd.env(format!("TENANT_{i}_SECRET"), secret(i));
        }
        cmd.env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
            .env_remove("HTTPS_PROXY");
        Run::from(cmd.output().unwrap())
    };
    let (collect, verify, report) = blocking(move || {
        (
            with_secrets(&["collect", "--all-tenants", "--jobs", "8"]),
            with_secrets(&["store", "verify"]),
            with_secrets(&["report", "--all-tenants", "--out", "out"]),
        )
    })
    .await;
    // Nothing broke; the control fails in the fake's tenants (exit 1).
    collect
        .expect_code(1)
        .expect_output("collected 8 tenants of 8");
    verify.expect_code(0);
    for i in 0..TENANTS {
        collect.expect_output(&format!(
            "tenant {} ({}): stored snapshot 1 collected at",
            tenant_name(i),
            tenant_id(i)
        ));
        verify.expect_output(&format!(
            "ledger of {}: 1 snapshot, chain intact",
            tenant_id(i)
        ));
    }
    report.expect_output("portfolio: out/portfolio.csv");
    assert_eq!(report.code, Some(1), "{report:?}");
    let packages = std::fs::read_dir(work.join("out"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "zip")
        })
        .count();
    assert_eq!(packages, TENANTS);
}
