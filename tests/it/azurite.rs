//! Azurite, Microsoft's Azure Storage emulator, for the tests that talk to Azure Blob Storage: one
//! blob service per test on a free 127.0.0.1 port with a temporary folder, stopped when dropped.
//!
//! The binary comes from `MFA_EVIDENCE_TEST_AZURITE` (which `.ci/run` sets), else from
//! `.ci/azurite/node_modules`, installed there on first use with `npm ci` from the pinned
//! `package-lock.json`, as the Python tools are (`util::venv_bin`). Containers are made here
//! with a Shared Key signed REST call: the storage client the tool uses cannot create them,
//! and the tool never does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The emulator's well-known account and key (documented by Microsoft, not a secret).
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// `azurite-blob`, installed on first use when no one has.
pub fn azurite_bin() -> PathBuf {
    use std::sync::Mutex;
    static INSTALLING: Mutex<()> = Mutex::new(());

    if let Some(bin) = std::env::var_os("MFA_EVIDENCE_TEST_AZURITE") {
        return PathBuf::from(bin);
    }
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/azurite");
    let bin = dir.join("node_modules/.bin/azurite-blob");
    if bin.is_file() {
        return bin;
    }
    let how = "install Node.js with npm (Debian: apt-get install nodejs npm) and let the first run reach the npm registry, or run .ci/run once";
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run npm ci for Azurite: {e}: {how}"));
    assert!(
        out.status.success() && bin.is_file(),
        "npm ci in .ci/azurite failed: {}\n{how}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// Whether what listens on 127.0.0.1:`port` answers an HTTP request as Azurite's blob service.
fn answers_as_azurite(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 1024];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
        if head[..read].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8_lossy(&head[..read])
        .to_ascii_lowercase()
        .contains("\r\nserver: azurite-blob")
}

/// A running blob service.
pub struct Azurite {
    child: Child,
    /// `http://127.0.0.1:<port>`, what `AZURITE_BLOB_STORAGE_URL` takes.
    pub url: String,
    pub port: u16,
    _data: tempfile::TempDir,
}

impl Azurite {
    pub fn start() -> Azurite {
        let data = tempfile::tempdir().unwrap();
        // A free port: bound by the system, released, then taken by Azurite (a race with another
        // process taking it in between is retried with a new port).
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(azurite_bin())
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .arg("--location")
                .arg(data.path())
                .args([
                    "--silent",
                    "--skipApiVersionCheck",
                    "--loose",
                    "--disableTelemetry",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("Azurite starts (azurite-blob)");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                // Azurite's own answer, not just an open port: another test's server may have
                // taken the port in between, and Azurite would then exit unable to bind.
                if answers_as_azurite(port) {
                    return Azurite {
                        child,
                        url: format!("http://127.0.0.1:{port}"),
                        port,
                        _data: data,
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("Azurite did not start listening on 127.0.0.1");
    }

    /// Creates a container (Create Container, signed with the account key).
    pub async fn create_container(&self, name: &str) {
        #[allow(
            clippy::disallowed_methods,
            reason = "a signed storage request carries the time it is sent"
        )]
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let version = "2021-08-06";
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container"
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &STANDARD.decode(KEY).unwrap());
        let signature = STANDARD.encode(ring::hmac::sign(&key, to_sign.as_bytes()));
        let response = reqwest::Client::new()
            .put(format!("{}/{ACCOUNT}/{name}?restype=container", self.url))
            .header("x-ms-date", date)
            .header("x-ms-version", version)
            .header("Authorization", format!("SharedKey {ACCOUNT}:{signature}"))
            .body(Vec::new())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            201,
            "Create Container: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// A storage client on a container, for what a test checks there.
    pub fn container(&self, name: &str) -> object_store::azure::MicrosoftAzure {
        object_store::azure::MicrosoftAzureBuilder::new()
            .with_account(ACCOUNT)
            .with_access_key(KEY)
            .with_endpoint(format!("{}/{ACCOUNT}", self.url))
            .with_allow_http(true)
            .with_container_name(name)
            .build()
            .unwrap()
    }

    /// The variables a run of the binary takes to reach this emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
            ("AZURITE_BLOB_STORAGE_URL", self.url.clone()),
        ]
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn azurite_starts_takes_a_container_and_stops() {
    use object_store::ObjectStoreExt;
    let azurite = tokio::task::spawn_blocking(Azurite::start).await.unwrap();
    azurite.create_container("probe").await;
    let store = azurite.container("probe");
    let path = object_store::path::Path::from("a/b.txt");
    store.put(&path, b"hello".to_vec().into()).await.unwrap();
    let got = store.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(&got[..], b"hello");
    let port = azurite.port;
    drop(azurite);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "Azurite stopped"
    );
}
