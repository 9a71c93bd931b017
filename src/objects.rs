//! Object storage: the one client of Azure Blob Storage and S3 (`object_store`), shared by the
//! store on object storage (`store::remote`) and the archive. Credentials come only from the
//! environment ([`StorageEnv`]), and the client is built from those variables alone: for Azure
//! `AZURE_STORAGE_ACCOUNT_NAME` with `AZURE_STORAGE_ACCOUNT_KEY` or `AZURE_STORAGE_SAS_TOKEN`
//! (else the machine's managed identity), for the emulator `AZURE_STORAGE_USE_EMULATOR=true` with
//! `AZURITE_BLOB_STORAGE_URL`; for S3 the `AWS_*` variables. `AZURE_CLIENT_ID`,
//! `AZURE_CLIENT_SECRET` and `AZURE_TENANT_ID` belong to the Graph app and are never read here
//! (`MicrosoftAzureBuilder::from_env` would take them as storage credentials). Keys and SAS tokens
//! are cut out of every error before it is shown.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, PutMode, PutOptions, RetryConfig};

use crate::config::ObjectUrl;

/// The storage variables of the environment, and only those.
#[derive(Clone, Default)]
pub struct StorageEnv {
    pub account_name: Option<String>,
    pub account_key: Option<String>,
    pub sas_token: Option<String>,
    pub use_emulator: bool,
}

impl StorageEnv {
    pub fn from_process_env() -> StorageEnv {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        StorageEnv {
            account_name: var("AZURE_STORAGE_ACCOUNT_NAME"),
            account_key: var("AZURE_STORAGE_ACCOUNT_KEY"),
            sas_token: var("AZURE_STORAGE_SAS_TOKEN"),
            use_emulator: var("AZURE_STORAGE_USE_EMULATOR")
                .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
        }
    }

    /// The secrets, to be cut out of any message that might quote them.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        [&self.account_key, &self.sas_token]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect()
    }
}

impl std::fmt::Debug for StorageEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageEnv")
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

/// The container or bucket the URL names, built from the storage variables only.
pub fn open(url: &ObjectUrl, env: &StorageEnv) -> Result<Box<dyn ObjectStore>> {
    match url {
        ObjectUrl::Azure { container, .. } => {
            let mut builder = MicrosoftAzureBuilder::new()
                .with_container_name(container)
                .with_client_options(client_options())
                .with_retry(RETRY);
            if env.use_emulator {
                builder = builder.with_use_emulator(true);
            } else if env.account_name.is_none() {
                bail!(
                    "AZURE_STORAGE_ACCOUNT_NAME is not set: name the storage account of the container (or set AZURE_STORAGE_USE_EMULATOR=true with AZURITE_BLOB_STORAGE_URL for Azurite)"
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
        ObjectUrl::S3 { bucket, .. } => {
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

/// A create-only put: `If-None-Match: *`, which Azure Blob Storage and S3 both honour, so an
/// object once written is never replaced.
pub fn create_only() -> PutOptions {
    PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    }
}

/// An object name as `object_store` takes it.
pub fn object_path(name: &str) -> Result<ObjectPath> {
    ObjectPath::parse(name).with_context(|| format!("{name:?} is not an object name"))
}

/// A storage error in words: what to check, the secrets cut out.
pub fn fail(
    what: &str,
    location: &str,
    url: &ObjectUrl,
    env: &StorageEnv,
    e: object_store::Error,
) -> anyhow::Error {
    let detail = concise(&redact(&e.to_string(), env));
    let (credentials, holder) = match url {
        ObjectUrl::Azure { .. } => (
            "AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN",
            "container",
        ),
        ObjectUrl::S3 { .. } => ("the AWS_* credential variables", "bucket"),
    };
    // A refused signature comes back as 403 on a listing or read, which the client does not
    // tell apart from other answers; a client with no credentials at all asks the instance
    // metadata endpoint, which off a cloud machine refuses or is unreachable.
    let refused = matches!(
        e,
        object_store::Error::Unauthenticated { .. } | object_store::Error::PermissionDenied { .. }
    ) || detail.starts_with("403 ")
        || detail.starts_with("401 ")
        || detail.contains("169.254.169.254");
    if refused {
        return anyhow::anyhow!(
            "{what} {location}: the storage refused the credentials, or none were found ({detail}); check {credentials}"
        );
    }
    match e {
        object_store::Error::NotFound { .. } => anyhow::anyhow!(
            "{what} {location}: the {holder} does not exist ({detail}); create it first, with its immutability policy (see the README)"
        ),
        // Only an upload can be cut short; a blob store keeps it whole or not at all.
        _ if what == UPLOAD => anyhow::anyhow!(
            "{what} {location}: {detail}. A blob store keeps a put whole or not at all, so nothing partial is there under that name; run again once the storage is reachable (objects already there with the same bytes are accepted)"
        ),
        _ => anyhow::anyhow!(
            "{what} {location}: {detail}; check that the storage is reachable from this machine (a proxy, a firewall, the endpoint) and run again"
        ),
    }
}

/// What [`fail`] is told for a put.
pub const UPLOAD: &str = "cannot upload";

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

pub fn redact(text: &str, env: &StorageEnv) -> String {
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
        let env = StorageEnv {
            account_key: Some("S3CR3TKEY==".into()),
            sas_token: Some("sv=2022&sig=abc%2F".into()),
            ..StorageEnv::default()
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
