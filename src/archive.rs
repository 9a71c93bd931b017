//! The archive: `report --archive <url>` (or `[archive] url`) uploads a written package, the zip
//! (which carries `SHA256SUMS.sig` when packages are signed) and its `<zip>.sha256`, to
//! Azure Blob Storage or S3 with create-only puts (`PutMode::Create`, `If-None-Match: *`). An
//! object already there with the same bytes is fine (a rerun); with other bytes the upload is
//! refused, naming it: an archived package is never overwritten, and the tool never deletes.
//!
//! Credentials come only from the environment ([`ArchiveEnv`]), and the storage client is built
//! from those variables alone: for Azure `AZURE_STORAGE_ACCOUNT_NAME` with
//! `AZURE_STORAGE_ACCOUNT_KEY` or `AZURE_STORAGE_SAS_TOKEN` (else the machine's managed
//! identity), for the emulator `AZURE_STORAGE_USE_EMULATOR=true` with `AZURITE_BLOB_STORAGE_URL`;
//! for S3 the `AWS_*` variables. `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` and `AZURE_TENANT_ID`
//! belong to the Graph app and are never read here (`MicrosoftAzureBuilder::from_env` would take
//! them as storage credentials). A blob store keeps a put whole or not at all, so an interrupted
//! upload leaves nothing partial under the package's name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig,
};

use crate::config::ArchiveUrl;
use crate::digest::sha256_hex;

/// The storage variables of the environment, and only those.
#[derive(Clone, Default)]
pub struct ArchiveEnv {
    pub account_name: Option<String>,
    pub account_key: Option<String>,
    pub sas_token: Option<String>,
    pub use_emulator: bool,
}

impl ArchiveEnv {
    pub fn from_process_env() -> ArchiveEnv {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        ArchiveEnv {
            account_name: var("AZURE_STORAGE_ACCOUNT_NAME"),
            account_key: var("AZURE_STORAGE_ACCOUNT_KEY"),
            sas_token: var("AZURE_STORAGE_SAS_TOKEN"),
            use_emulator: var("AZURE_STORAGE_USE_EMULATOR")
                .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
        }
    }

    /// The secrets, to be cut out of any message that might quote them.
    fn secrets(&self) -> Vec<&str> {
        [&self.account_key, &self.sas_token]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }
}

impl std::fmt::Debug for ArchiveEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveEnv")
            .field("account_name", &self.account_name)
            .field(
                "account_key",
                &self.account_key.as_ref().map(|_| "<redacted>"),
            )
            .field("sas_token", &self.sas_token.as_ref().map(|_| "<redacted>"))
            .field("use_emulator", &self.use_emulator)
            .finish()
    }
}

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Archived {
    /// Written now.
    Uploaded,
    /// Already there with the same bytes (an earlier run archived it).
    AlreadyThere,
}

/// One file of the package, archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedFile {
    /// `az://container/prefix/name` or `s3://...`.
    pub location: String,
    pub outcome: Archived,
}

/// How long one request may take (a large package over a slow uplink), and the retries of a
/// transient failure: a few, quickly, then a clear error rather than a run that hangs.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
const RETRY: RetryConfig = RetryConfig {
    backoff: BackoffConfig {
        init_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(5),
        base: 2.0,
    },
    max_retries: 3,
    retry_timeout: Duration::from_secs(120),
};

fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_timeout(REQUEST_TIMEOUT)
        .with_connect_timeout(Duration::from_secs(10))
}

/// The store the URL names, built from the storage variables only.
fn open(url: &ArchiveUrl, env: &ArchiveEnv) -> Result<Box<dyn ObjectStore>> {
    match url {
        ArchiveUrl::Azure { container, .. } => {
            let mut builder = MicrosoftAzureBuilder::new()
                .with_container_name(container)
                .with_client_options(client_options())
                .with_retry(RETRY);
            if env.use_emulator {
                builder = builder.with_use_emulator(true);
            } else if env.account_name.is_none() {
                bail!(
                    "AZURE_STORAGE_ACCOUNT_NAME is not set: name the storage account of the archive container (or set AZURE_STORAGE_USE_EMULATOR=true with AZURITE_BLOB_STORAGE_URL for Azurite)"
                );
            }
            if let Some(name) = &env.account_name {
                builder = builder.with_account(name);
            }
            if let Some(key) = &env.account_key {
                builder = builder.with_access_key(key);
            } else if let Some(sas) = &env.sas_token {
                builder = builder.with_config(AzureConfigKey::SasKey, sas.trim_start_matches('?'));
            }
            // Else the machine's managed identity (IMDS), asked without a client id.
            let store = builder
                .build()
                .map_err(|e| anyhow::anyhow!("{}", redact(&e.to_string(), env)))
                .context("cannot set up the Azure Blob Storage client: check AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (a base64 key) or AZURE_STORAGE_SAS_TOKEN")?;
            Ok(Box::new(store))
        }
        ArchiveUrl::S3 { bucket, .. } => {
            // Create-only puts whatever AWS_CONDITIONAL_PUT says: without them an archived
            // object could be overwritten.
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_conditional_put(S3ConditionalPut::ETagMatch)
                .with_client_options(client_options())
                .with_retry(RETRY)
                .build()
                .context("cannot set up the S3 client: check AWS_REGION and the AWS_* credential variables")?;
            Ok(Box::new(store))
        }
    }
}

/// The files `report` archives for a package: the zip, then its `.sha256` (the signature, when
/// there is one, is inside the zip). The zip goes first: a `.sha256` in the archive always has
/// its package there.
pub fn package_files(zip: &Path) -> Vec<PathBuf> {
    let mut sha256 = zip.as_os_str().to_owned();
    sha256.push(".sha256");
    vec![zip.to_path_buf(), PathBuf::from(sha256)]
}

/// Uploads `files` create-only under the URL's prefix, in order. Builds its own async runtime:
/// call it from synchronous code.
pub fn archive(url: &ArchiveUrl, env: &ArchiveEnv, files: &[PathBuf]) -> Result<Vec<ArchivedFile>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for the archive")?;
    let store = open(url, env)?;
    runtime.block_on(async {
        let mut done = Vec::with_capacity(files.len());
        for file in files {
            done.push(archive_one(&*store, url, env, file).await?);
        }
        Ok(done)
    })
}

async fn archive_one(
    store: &dyn ObjectStore,
    url: &ArchiveUrl,
    env: &ArchiveEnv,
    file: &Path,
) -> Result<ArchivedFile> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no file name to archive under", file.display()))?;
    let object = url.object_name(name);
    let location = format!("{url}/{name}");
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let ours = sha256_hex(&bytes);
    let path =
        ObjectPath::parse(&object).with_context(|| format!("{object:?} is not an object name"))?;
    let options = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    let fail = |what: &str, e: object_store::Error| fail(what, &location, url, env, e);
    match store
        .put_opts(&path, PutPayload::from(bytes), options)
        .await
    {
        Ok(_) => Ok(ArchivedFile {
            location,
            outcome: Archived::Uploaded,
        }),
        Err(object_store::Error::AlreadyExists { .. }) => {
            let existing = store
                .get(&path)
                .await
                .map_err(|e| fail("cannot read the object already at", e))?
                .bytes()
                .await
                .map_err(|e| fail("cannot read the object already at", e))?;
            let theirs = sha256_hex(&existing);
            if theirs != ours {
                bail!(
                    "{location} already holds different bytes (sha256 {theirs}; this package's {name} has {ours}): an archived object is never overwritten. Keep the archived one; if this package is the one to keep, archive it under another prefix"
                );
            }
            Ok(ArchivedFile {
                location,
                outcome: Archived::AlreadyThere,
            })
        }
        Err(e) => Err(fail("cannot upload", e)),
    }
}

/// A storage error in words: what to check, the secrets cut out.
fn fail(
    what: &str,
    location: &str,
    url: &ArchiveUrl,
    env: &ArchiveEnv,
    e: object_store::Error,
) -> anyhow::Error {
    let detail = concise(&redact(&e.to_string(), env));
    let (credentials, holder) = match url {
        ArchiveUrl::Azure { .. } => (
            "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN",
            "container",
        ),
        ArchiveUrl::S3 { .. } => ("the AWS_* credential variables", "bucket"),
    };
    match e {
        object_store::Error::Unauthenticated { .. }
        | object_store::Error::PermissionDenied { .. } => {
            anyhow::anyhow!(
                "{what} {location}: the storage refused the credentials ({detail}); check {credentials}"
            )
        }
        object_store::Error::NotFound { .. } => anyhow::anyhow!(
            "{what} {location}: the {holder} does not exist ({detail}); create it first, with its immutability policy (see the README)"
        ),
        _ => anyhow::anyhow!(
            "{what} {location}: {detail}. A blob store keeps a put whole or not at all, so nothing partial is there under that name; run the report with the archive again once the storage is reachable (objects already archived with the same bytes are accepted)"
        ),
    }
}

/// A storage error in one line: for an answer of the service, its status, error code and
/// request-id (what its support asks for), not the XML body around them.
fn concise(text: &str) -> String {
    let between = |start: &str, end: &[char]| {
        let i = text.find(start)? + start.len();
        let rest = &text[i..];
        Some(rest[..rest.find(end).unwrap_or(rest.len())].trim())
    };
    match between("<Code>", &['<']) {
        Some(code) => {
            let status = between("status code: ", &[':']).unwrap_or("error");
            match between("RequestId:", &['\n', '<']) {
                Some(id) => format!("{status}, {code}, request-id {id}"),
                None => format!("{status}, {code}"),
            }
        }
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn redact(text: &str, env: &ArchiveEnv) -> String {
    let mut text = text.to_string();
    for secret in env.secrets() {
        if !secret.is_empty() {
            text = text.replace(secret, "<redacted>");
        }
    }
    // A SAS rides in a URL's query: whatever a message quotes of a query is cut.
    if let Some(i) = text.find("sig=") {
        let end = text[i..]
            .find(|c: char| c == '&' || c.is_whitespace() || c == '"')
            .map_or(text.len(), |e| i + e);
        text.replace_range(i..end, "sig=<redacted>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_error_is_cut_to_its_status_code_and_request_id() {
        let text = "The operation lacked the necessary privileges to complete for path q/a.zip: Error performing PUT http://127.0.0.1:1/devstoreaccount1/evidence/q/a.zip in 71ms - Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?>\n<Error>\n  <Code>AuthorizationFailure</Code>\n  <Message>Server failed.\nRequestId:0d8a1b65-69d9\nTime:2026</Message>\n</Error>";
        assert_eq!(
            concise(text),
            "403 Forbidden, AuthorizationFailure, request-id 0d8a1b65-69d9"
        );
        assert_eq!(concise("a\n  b  c"), "a b c");
    }

    #[test]
    fn secrets_are_cut_out_of_messages() {
        let env = ArchiveEnv {
            account_key: Some("S3CR3TKEY==".into()),
            sas_token: Some("sv=2022&sig=abc%2F".into()),
            ..ArchiveEnv::default()
        };
        let text = redact(
            "error at https://a/b?sv=2022&sig=abc%2F&x=1 with S3CR3TKEY== in it",
            &env,
        );
        assert!(
            !text.contains("S3CR3TKEY") && !text.contains("abc%2F"),
            "{text}"
        );
        assert!(!format!("{env:?}").contains("S3CR3TKEY"));
    }
}
