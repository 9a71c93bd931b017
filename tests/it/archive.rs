//! `report --archive az://...` against Azurite through the built binary: the package and its
//! `.sha256` uploaded create-only, a rerun with the same bytes accepted, different bytes under
//! the same name refused and named, a wrong key and a missing container in words, and a
//! connection cut mid-upload leaving nothing under the package's name.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mfa_evidence::demo::synth::{self, TenantSpec};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::azurite::{Azurite, KEY};
use crate::util::{Run, Workdir, as_of, bin_in, rfc3339, sha256_hex};

/// A store of one imported snapshot, and the config that reports on it with `extra` added.
fn tenant(work: &Workdir, extra: &str) {
    let dir = work.join("tenant");
    let spec = TenantSpec::new(60, 5, as_of());
    let summary = synth::write_tenant(&spec, &dir).unwrap();
    std::fs::write(
        work.join("mfa-evidence.toml"),
        format!("{}{extra}", synth::config_toml(&summary)),
    )
    .unwrap();
    work.run(&[
        "import",
        "--dir",
        dir.to_str().unwrap(),
        "--collected-at",
        &rfc3339(as_of()),
    ])
    .expect_code(0);
}

/// `report` in `dir` with these storage variables and no others.
fn report(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Run {
    let mut cmd = bin_in(dir);
    cmd.arg("report")
        .args(args)
        .env_remove("AZURE_STORAGE_USE_EMULATOR")
        .env_remove("AZURITE_BLOB_STORAGE_URL")
        .env_remove("AZURE_STORAGE_ACCOUNT_NAME")
        .env_remove("AZURE_STORAGE_ACCOUNT_KEY")
        .env_remove("AZURE_STORAGE_SAS_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().unwrap())
}

fn zip_in(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with(".zip"))
        .expect("a package")
}

/// Every object name in the container, sorted.
async fn list_names(store: &dyn ObjectStore) -> Vec<String> {
    let mut names = Vec::new();
    let mut prefixes = vec![None];
    while let Some(prefix) = prefixes.pop() {
        let listed = store.list_with_delimiter(prefix.as_ref()).await.unwrap();
        prefixes.extend(listed.common_prefixes.into_iter().map(Some));
        names.extend(listed.objects.into_iter().map(|o| o.location.to_string()));
    }
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn a_package_is_archived_create_only_and_never_overwritten() {
    let azurite = tokio::task::spawn_blocking(Azurite::start).await.unwrap();
    azurite.create_container("evidence").await;
    let env = azurite.env();
    let work = Workdir::new();
    tenant(&work, "\n[archive]\nurl = \"az://evidence/soc2/2026\"\n");

    let first = tokio::task::spawn_blocking({
        let (work, env) = (work.path().to_path_buf(), env.clone());
        move || report(&work, &env, &["--out", "out"])
    })
    .await
    .unwrap();
    first.expect_code(1);
    let zip = zip_in(&work.join("out"));
    first
        .expect_output(&format!("archived: az://evidence/soc2/2026/{zip}\n"))
        .expect_output(&format!("archived: az://evidence/soc2/2026/{zip}.sha256\n"));
    let store = azurite.container("evidence");
    assert_eq!(
        list_names(&store).await,
        [
            format!("soc2/2026/{zip}"),
            format!("soc2/2026/{zip}.sha256")
        ]
    );
    let local = std::fs::read(work.join("out").join(&zip)).unwrap();
    let remote = store
        .get(&ObjectPath::from(format!("soc2/2026/{zip}")))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256_hex(&remote), sha256_hex(&local));

    // The same package again: already there with the same bytes, fine.
    let again = tokio::task::spawn_blocking({
        let (work, env) = (work.path().to_path_buf(), env.clone());
        move || report(&work, &env, &["--out", "out"])
    })
    .await
    .unwrap();
    again
        .expect_code(1)
        .expect_output(&format!("{zip} (already there, same bytes)"));

    // A package of the same name with other bytes (the config changed, so its recorded hash
    // did): refused, named.
    let config = std::fs::read_to_string(work.join("mfa-evidence.toml")).unwrap();
    std::fs::write(
        work.join("mfa-evidence.toml"),
        format!("{config}\n# reviewed\n"),
    )
    .unwrap();
    let other = tokio::task::spawn_blocking({
        let (work, env) = (work.path().to_path_buf(), env.clone());
        move || report(&work, &env, &["--out", "other"])
    })
    .await
    .unwrap();
    other
        .expect_code(2)
        .expect_output(&format!(
            "az://evidence/soc2/2026/{zip} already holds different bytes"
        ))
        .expect_output("never overwritten")
        .expect_output("is written, but archiving it to az://evidence/soc2/2026 failed");
    let remote_after = store
        .get(&ObjectPath::from(format!("soc2/2026/{zip}")))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(remote_after, remote, "the archived package is as it was");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_or_a_missing_container_is_said_in_words() {
    let azurite = tokio::task::spawn_blocking(Azurite::start).await.unwrap();
    azurite.create_container("evidence").await;
    let work = Workdir::new();
    tenant(&work, "");
    // A valid base64 key, but not the account's.
    let wrong = KEY.replace("Eby8", "Xby8");
    let mut env = azurite.env();
    env.push(("AZURE_STORAGE_ACCOUNT_KEY", wrong.clone()));
    let run = tokio::task::spawn_blocking({
        let work = work.path().to_path_buf();
        move || report(&work, &env, &["--out", "out", "--archive", "az://evidence"])
    })
    .await
    .unwrap();
    run.expect_code(2)
        .expect_output("the storage refused the credentials")
        .expect_output("AZURE_STORAGE_ACCOUNT_KEY");
    assert!(!run.stderr.contains(&wrong) && !run.stdout.contains(&wrong));
    assert!(list_names(&azurite.container("evidence")).await.is_empty());

    let env = azurite.env();
    let run = tokio::task::spawn_blocking({
        let work = work.path().to_path_buf();
        move || {
            report(
                &work,
                &env,
                &["--out", "out", "--archive", "az://nowhere/x"],
            )
        }
    })
    .await
    .unwrap();
    run.expect_code(2)
        .expect_output("the container does not exist");

    // No storage account named at all, outside the emulator: the Graph app's variables are
    // not taken for storage credentials.
    let graph_app = [
        (
            "AZURE_CLIENT_ID",
            "66666666-7777-8888-9999-000000000000".to_string(),
        ),
        ("AZURE_CLIENT_SECRET", "graph-app-secret".to_string()),
        (
            "AZURE_TENANT_ID",
            "11111111-2222-3333-4444-555555555555".to_string(),
        ),
    ];
    let run = tokio::task::spawn_blocking({
        let work = work.path().to_path_buf();
        move || {
            report(
                &work,
                &graph_app,
                &["--out", "out", "--archive", "az://evidence"],
            )
        }
    })
    .await
    .unwrap();
    run.expect_code(2)
        .expect_output("AZURE_STORAGE_ACCOUNT_NAME is not set");
}

/// A proxy on 127.0.0.1 in front of Azurite that passes `cut_after` bytes of each request and
/// then closes both sides: a network that fails in the middle of an upload.
async fn cutting_proxy(target: u16, cut_after: usize) -> (u16, Arc<AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicU64::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                else {
                    return;
                };
                let mut passed = 0;
                let mut buf = vec![0u8; 8192];
                while passed < cut_after {
                    let n = match client.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n.min(cut_after - passed),
                    };
                    if server.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    passed += n;
                }
                // Both sides closed mid-request.
                drop(server);
                drop(client);
            });
        }
    });
    (port, connections)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_cut_mid_upload_leaves_nothing_and_says_so() {
    let azurite = tokio::task::spawn_blocking(Azurite::start).await.unwrap();
    azurite.create_container("evidence").await;
    let (port, connections) = cutting_proxy(azurite.port, 16 * 1024).await;
    let work = Workdir::new();
    tenant(&work, "");
    let env = vec![
        ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
        (
            "AZURITE_BLOB_STORAGE_URL",
            format!("http://127.0.0.1:{port}"),
        ),
    ];
    let run = tokio::task::spawn_blocking({
        let work = work.path().to_path_buf();
        move || {
            report(
                &work,
                &env,
                &["--out", "out", "--archive", "az://evidence/cut"],
            )
        }
    })
    .await
    .unwrap();
    let zip = zip_in(&work.join("out"));
    let size = std::fs::metadata(work.join("out").join(&zip))
        .unwrap()
        .len();
    assert!(
        size > 16 * 1024,
        "the package is larger than the cut ({size})"
    );
    run.expect_code(2)
        .expect_output(&format!("cannot upload az://evidence/cut/{zip}"))
        .expect_output("nothing partial is there under that name");
    assert!(!run.stdout.contains("archived:"), "{run:?}");
    assert!(connections.load(Ordering::SeqCst) >= 1);
    // Nothing under the package's name, nor its .sha256.
    assert!(list_names(&azurite.container("evidence")).await.is_empty());
}
