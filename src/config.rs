//! The configuration file: deserialised strictly (unknown keys are errors naming the key), then
//! validated once into a [`Config`] that the stages receive. Secrets are never read from here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::control::methods;

/// Where a mail alert goes and comes from; parsed strictly, so a typo in an address is a config
/// error and not a failed delivery at the first alert.
pub use lettre::message::Mailbox;

pub const DEFAULT_CONFIG_FILE: &str = "mfa-evidence.toml";
pub const DEFAULT_STORE_PATH: &str = "./evidence-store";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    control: RawControl,
    // Options, not defaults: a `[[tenants]]` config must not carry these, and their presence
    // is what the message names.
    break_glass: Option<RawBreakGlass>,
    exceptions: Option<Vec<RawException>>,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    monitoring: RawMonitoring,
    tenant: Option<RawTenant>,
    auth: Option<RawAuth>,
    tenants: Option<Vec<RawTenantEntry>>,
    notify: Option<RawNotify>,
    #[serde(default)]
    archive: RawArchive,
    signing: Option<RawSigning>,
    timestamping: Option<RawTimestamping>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArchive {
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigning {
    key_file: Option<PathBuf>,
    /// Never accepted: read only to say where the secret goes instead.
    passphrase: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimestamping {
    /// One URL or a list, tried in order.
    url: Option<toml::Value>,
    ca_file: Option<PathBuf>,
    max_attestation_delay_hours: Option<u32>,
}

/// One `[[tenants]]` table: where and how to reach the tenant, and its own accounts and
/// exceptions (object ids are per tenant).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenantEntry {
    id: Option<String>,
    name: Option<String>,
    client_id: Option<String>,
    client_secret_env: Option<String>,
    certificate_file: Option<PathBuf>,
    cloud: Option<String>,
    login_endpoint: Option<String>,
    graph_endpoint: Option<String>,
    #[serde(default)]
    break_glass: RawBreakGlass,
    #[serde(default)]
    exceptions: Vec<RawException>,
    /// Never accepted: read only to say where the secret goes instead.
    client_secret: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    // Read as any value, so a string or a table gets our message, not serde's "expected f64".
    threshold_percent: Option<toml::Value>,
    include_guests: Option<bool>,
    qualifying_methods: Option<Vec<String>>,
    max_report_age_hours: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreakGlass {
    #[serde(default)]
    user_ids: Vec<String>,
    #[serde(default)]
    upns: Vec<String>,
    group_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawException {
    upn: Option<String>,
    user_id: Option<String>,
    reason: Option<String>,
    approved_by: Option<String>,
    expires: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<PathBuf>,
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonitoring {
    max_gap_hours: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    id: Option<String>,
    cloud: Option<String>,
    login_endpoint: Option<String>,
    graph_endpoint: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    client_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    format: Option<String>,
    email: Option<RawEmail>,
    /// Never accepted: read only to say where the secret goes instead.
    url: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    host: Option<String>,
    port: Option<u16>,
    from: Option<String>,
    to: Option<Vec<String>>,
    username: Option<String>,
    ca_file: Option<PathBuf>,
    /// Never accepted: read only to say where the secret goes instead.
    password: Option<toml::Value>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub control: ControlSettings,
    /// Where the history lives: a folder (`[store] path`, the default) or object storage
    /// (`[store] url`).
    pub store: StoreLocation,
    pub max_gap_hours: u32,
    pub tenant: TenantSettings,
    /// Alerts after each stored snapshot; nothing configured means none are sent.
    pub notify: NotifySettings,
    /// The tenants of a `[[tenants]]` config, in file order; empty for a `[tenant]` config.
    /// [`Config::for_tenant`] gives one tenant's effective config.
    pub tenants: Vec<TenantEntry>,
    /// Where `report` uploads each package (`[archive] url`, or `--archive`).
    pub archive: Option<ObjectUrl>,
    /// The ledger and package signing key; `None`: lines and packages are unsigned.
    pub signing: Option<SigningSettings>,
    /// RFC 3161 time-stamping of ledger lines; `None`: snapshots are unattested.
    pub timestamping: Option<TimestampSettings>,
    /// SHA-256 of the file's bytes, or of nothing when no file was read; in a tenant's effective
    /// config, of that tenant's settings ([`TenantEntry::sha256`]).
    pub sha256: String,
    /// The file it came from, for messages.
    pub source: Option<PathBuf>,
}

/// Everything the evaluation of ID-01 depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlSettings {
    pub threshold_basis_points: u32,
    pub include_guests: bool,
    pub qualifying_methods: BTreeSet<String>,
    pub max_report_age_hours: u32,
    pub break_glass: BreakGlass,
    pub exceptions: Vec<Exception>,
}

impl Default for ControlSettings {
    fn default() -> Self {
        ControlSettings {
            threshold_basis_points: 9500,
            include_guests: false,
            qualifying_methods: methods::default_qualifying(),
            max_report_age_hours: 48,
            break_glass: BreakGlass::default(),
            exceptions: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BreakGlass {
    pub user_ids: Vec<String>,
    /// As configured; matched case-insensitively.
    pub upns: Vec<String>,
    pub group_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exception {
    pub user_id: Option<String>,
    pub upn: Option<String>,
    pub reason: String,
    pub approved_by: String,
    /// Honoured through the end of this day, UTC.
    pub expires: NaiveDate,
}

/// Where and how to reach a live tenant (the collector's settings; no secrets).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TenantSettings {
    pub id: Option<String>,
    pub cloud: Cloud,
    pub login_endpoint: Option<String>,
    pub graph_endpoint: Option<String>,
    pub client_id: Option<String>,
    /// Where a `[[tenants]]` tenant's credential is; `None` for `[tenant]`, whose credential
    /// comes from the `AZURE_*` variables.
    pub credential: Option<CredentialRef>,
}

/// A credential named, never held: the variable holding a client secret, or the PEM file of a
/// certificate and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialRef {
    SecretEnv(String),
    CertificateFile(PathBuf),
}

/// One tenant of a `[[tenants]]` config, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantEntry {
    /// The directory (tenant) id, a GUID, lowercase as Graph returns it (and the store names it).
    pub id: String,
    /// The operator's name for it, in output and `portfolio.csv`.
    pub name: String,
    pub settings: TenantSettings,
    pub break_glass: BreakGlass,
    pub exceptions: Vec<Exception>,
    /// SHA-256 of this tenant's effective settings: the file's tables without `[[tenants]]`,
    /// plus this tenant's table alone, written out as TOML. Editing another tenant leaves it
    /// as it is.
    pub sha256: String,
}

/// The alert channels (`[notify]`). Secrets are not here: the webhook URL carries its own and
/// comes from `MFA_EVIDENCE_WEBHOOK_URL`, the SMTP password from `MFA_EVIDENCE_SMTP_PASSWORD`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotifySettings {
    /// The webhook's payload format; `Some` turns the webhook channel on.
    pub webhook: Option<WebhookFormat>,
    pub email: Option<EmailSettings>,
}

impl NotifySettings {
    /// Whether any channel is configured.
    pub fn is_configured(&self) -> bool {
        self.webhook.is_some() || self.email.is_some()
    }
}

/// What the webhook receives: a Teams message with an Adaptive Card, a Slack message with
/// blocks, or the alert as plain JSON for any other receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Teams,
    Slack,
    Json,
}

impl WebhookFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Teams => "teams",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Json => "json",
        }
    }
}

/// Mail over SMTP with STARTTLS (`[notify.email]`).
#[derive(Debug, Clone, PartialEq)]
pub struct EmailSettings {
    pub host: String,
    /// 587 (submission) unless set.
    pub port: u16,
    pub from: Mailbox,
    /// At least one.
    pub to: Vec<Mailbox>,
    /// Authenticates with `MFA_EVIDENCE_SMTP_PASSWORD` when set; else the relay is used without
    /// authentication.
    pub username: Option<String>,
    /// A PEM file of the CA that signed a private relay's certificate, trusted in addition to the
    /// public roots. Relative to the config file's folder, like `store.path`.
    pub ca_file: Option<PathBuf>,
}

pub const DEFAULT_SMTP_PORT: u16 = 587;

/// `[signing]`: the OpenSSH ed25519 private key that signs ledger lines and packages. Its
/// passphrase, if any, comes from `MFA_EVIDENCE_SIGNING_PASSPHRASE`, never from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningSettings {
    /// Relative to the config file's folder, like `store.path`.
    pub key_file: PathBuf,
}

/// `[timestamping]`: the RFC 3161 time-stamp authorities asked for a token over each new ledger
/// line, and the CA certificates their tokens must chain to.
#[derive(Debug, Clone, PartialEq)]
pub struct TimestampSettings {
    /// Tried in order; at least one.
    pub urls: Vec<String>,
    /// PEM, one or more CA certificates. Relative to the config file's folder.
    pub ca_file: PathBuf,
    /// A token later than this after its snapshot's collection time makes the snapshot asserted.
    pub max_attestation_delay_hours: u32,
}

pub const DEFAULT_MAX_ATTESTATION_DELAY_HOURS: u32 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cloud {
    #[default]
    Global,
    UsGovHigh,
    UsGovDod,
    China,
}

impl Cloud {
    /// The login and Graph roots of the cloud, without a trailing slash.
    pub fn endpoints(self) -> (&'static str, &'static str) {
        match self {
            Cloud::Global => (
                "https://login.microsoftonline.com",
                "https://graph.microsoft.com",
            ),
            Cloud::UsGovHigh => (
                "https://login.microsoftonline.us",
                "https://graph.microsoft.us",
            ),
            Cloud::UsGovDod => (
                "https://login.microsoftonline.us",
                "https://dod-graph.microsoft.us",
            ),
            Cloud::China => (
                "https://login.chinacloudapi.cn",
                "https://microsoftgraph.chinacloudapi.cn",
            ),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            control: ControlSettings::default(),
            store: StoreLocation::Path(PathBuf::from(DEFAULT_STORE_PATH)),
            max_gap_hours: 48,
            tenant: TenantSettings::default(),
            notify: NotifySettings::default(),
            tenants: Vec::new(),
            archive: None,
            signing: None,
            timestamping: None,
            sha256: hex::encode(Sha256::digest(b"")),
            source: None,
        }
    }
}

impl Config {
    /// Loads `--config F`, or `./mfa-evidence.toml` when present, or the defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        match explicit {
            Some(path) => Config::from_file(path),
            None => {
                let default = Path::new(DEFAULT_CONFIG_FILE);
                if default.is_file() {
                    Config::from_file(default)
                } else {
                    Ok(Config::default())
                }
            }
        }
    }

    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the config file {}: check the path given to --config",
                path.display()
            )
        })?;
        let (mut config, store_path_given) = Config::parse(&text)
            .with_context(|| format!("invalid config file {}", path.display()))?;
        config.source = Some(path.to_path_buf());
        // A relative store path written in the file is relative to the file, so a scheduled run
        // from another working directory still finds the same store.
        if store_path_given
            && let StoreLocation::Path(store) = &mut config.store
            && store.is_relative()
            && let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            *store = dir.join(&*store);
        }
        for entry in &mut config.tenants {
            if let Some(CredentialRef::CertificateFile(file)) = &mut entry.settings.credential
                && file.is_relative()
                && let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
            {
                *file = dir.join(&*file);
            }
        }
        if let Some(email) = &mut config.notify.email
            && let Some(ca) = &mut email.ca_file
            && ca.is_relative()
            && let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            *ca = dir.join(&*ca);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Some(signing) = &mut config.signing
                && signing.key_file.is_relative()
            {
                signing.key_file = dir.join(&signing.key_file);
            }
            if let Some(ts) = &mut config.timestamping
                && ts.ca_file.is_relative()
            {
                ts.ca_file = dir.join(&ts.ca_file);
            }
        }
        Ok(config)
    }

    pub fn from_toml(text: &str) -> Result<Config> {
        Config::parse(text).map(|(config, _)| config)
    }

    /// The validated config, and whether the text sets `store.path`.
    fn parse(text: &str) -> Result<(Config, bool)> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))?;
        let store_path_given = raw.store.path.is_some();
        let mut config = validate(raw)?;
        config.sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        if !config.tenants.is_empty() {
            let hashes = tenant_hashes(text)?;
            for (entry, sha256) in config.tenants.iter_mut().zip(hashes) {
                entry.sha256 = sha256;
            }
        }
        Ok((config, store_path_given))
    }

    /// The tenant of a `[[tenants]]` config with this id (case-insensitive).
    pub fn tenant_entry(&self, id: &str) -> Option<&TenantEntry> {
        self.tenants.iter().find(|t| t.id.eq_ignore_ascii_case(id))
    }

    /// One tenant's effective config: the shared sections, with the tenant's connection,
    /// break-glass accounts, exceptions and settings hash.
    pub fn for_tenant(&self, entry: &TenantEntry) -> Config {
        let mut config = self.clone();
        config.tenants = Vec::new();
        config.tenant = entry.settings.clone();
        config.control.break_glass = entry.break_glass.clone();
        config.control.exceptions = entry.exceptions.clone();
        config.sha256 = entry.sha256.clone();
        config
    }

    /// The config a one-tenant command runs with: itself for a `[tenant]` config; for
    /// `[[tenants]]`, the effective config of the tenant `--tenant` names, or of the only one.
    pub fn select_tenant(&self, wanted: Option<&str>) -> Result<Config> {
        if self.tenants.is_empty() {
            return Ok(self.clone());
        }
        let listed = || {
            self.tenants
                .iter()
                .map(|t| format!("{} ({})", t.id, t.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let entry = match wanted {
            Some(id) => self.tenant_entry(id).with_context(|| {
                format!(
                    "--tenant {id} is not listed in [[tenants]] of the config: it lists {}",
                    listed()
                )
            })?,
            None => match self.tenants.as_slice() {
                [one] => one,
                _ => bail!(
                    "the config lists {} tenants ({}): choose one with --tenant ID, or run every one with --all-tenants",
                    self.tenants.len(),
                    listed()
                ),
            },
        };
        Ok(self.for_tenant(entry))
    }
}

/// Each `[[tenants]]` table's settings hash, in file order (see [`TenantEntry::sha256`]).
fn tenant_hashes(text: &str) -> Result<Vec<String>> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))?;
    let Some(toml::Value::Array(tenants)) = table.remove("tenants") else {
        bail!("[[tenants]] is not an array of tables");
    };
    tenants
        .into_iter()
        .map(|tenant| {
            let mut effective = table.clone();
            effective.insert("tenants".into(), toml::Value::Array(vec![tenant]));
            let text = toml::to_string(&effective)
                .context("cannot write a tenant's effective settings")?;
            Ok(hex::encode(Sha256::digest(text.as_bytes())))
        })
        .collect()
}

fn validate(raw: RawConfig) -> Result<Config> {
    let mut control = ControlSettings::default();
    if let Some(t) = raw.control.threshold_percent {
        let percent = match t {
            toml::Value::Float(f) => f,
            toml::Value::Integer(i) => i as f64,
            other => bail!(
                "control.threshold_percent = {other} is not a number: write it without quotes, e.g. threshold_percent = 95 or 97.5"
            ),
        };
        control.threshold_basis_points = threshold_basis_points(percent)?;
    }
    if let Some(g) = raw.control.include_guests {
        control.include_guests = g;
    }
    if let Some(list) = raw.control.qualifying_methods {
        if list.is_empty() {
            bail!(
                "control.qualifying_methods is empty: list at least one method, or remove the key for the default set"
            );
        }
        control.qualifying_methods = non_empty_strings(list, "control.qualifying_methods")?
            .into_iter()
            .collect();
    }
    if let Some(h) = raw.control.max_report_age_hours {
        if h == 0 {
            bail!("control.max_report_age_hours must be at least 1");
        }
        control.max_report_age_hours = h;
    }
    if raw.tenants.is_some() {
        // One tenant's settings at the top and many tenants below would leave it unclear whose
        // break-glass accounts and exceptions apply to which tenant.
        for (present, section) in [
            (raw.tenant.is_some(), "[tenant]"),
            (raw.auth.is_some(), "[auth]"),
            (raw.break_glass.is_some(), "[break_glass]"),
            (raw.exceptions.is_some(), "[[exceptions]]"),
        ] {
            if present {
                bail!(
                    "{section} and [[tenants]] do not mix: with [[tenants]], give each tenant's connection, break_glass and exceptions inside its own [[tenants]] table, and remove {section}"
                );
            }
        }
    }
    control.break_glass = validate_break_glass(raw.break_glass.unwrap_or_default(), "break_glass")?;
    for (i, e) in raw.exceptions.unwrap_or_default().into_iter().enumerate() {
        control
            .exceptions
            .push(validate_exception(&format!("exceptions[{}]", i + 1), e)?);
    }

    let max_gap_hours = raw.monitoring.max_gap_hours.unwrap_or(48);
    if max_gap_hours == 0 {
        bail!("monitoring.max_gap_hours must be at least 1");
    }

    let tenant = raw.tenant.unwrap_or_default();
    let cloud = cloud(tenant.cloud.as_deref(), "tenant.cloud")?;
    let tenants = validate_tenants(raw.tenants.unwrap_or_default())?;

    let notify = match raw.notify {
        None => NotifySettings::default(),
        Some(n) => validate_notify(n)?,
    };

    Ok(Config {
        control,
        store: match (raw.store.path, raw.store.url) {
            (Some(_), Some(_)) => bail!(
                "[store] sets both path and url: keep path for a folder on this machine, or url (az://<container>/<prefix> or s3://<bucket>/<prefix>) for object storage"
            ),
            (Some(path), None) => StoreLocation::Path(path),
            (None, Some(url)) => StoreLocation::Url(ObjectUrl::parse(&url).context("store.url")?),
            (None, None) => StoreLocation::Path(PathBuf::from(DEFAULT_STORE_PATH)),
        },
        max_gap_hours,
        tenant: TenantSettings {
            id: tenant.id,
            cloud,
            login_endpoint: tenant.login_endpoint,
            graph_endpoint: tenant.graph_endpoint,
            client_id: raw.auth.unwrap_or_default().client_id,
            credential: None,
        },
        notify,
        tenants,
        archive: raw
            .archive
            .url
            .as_deref()
            .map(|u| ObjectUrl::parse(u).context("archive.url"))
            .transpose()?,
        signing: raw.signing.map(validate_signing).transpose()?,
        timestamping: raw.timestamping.map(validate_timestamping).transpose()?,
        sha256: String::new(),
        source: None,
    })
}

fn cloud(text: Option<&str>, key: &str) -> Result<Cloud> {
    Ok(match text {
        None | Some("global") => Cloud::Global,
        Some("usgov-high") => Cloud::UsGovHigh,
        Some("usgov-dod") => Cloud::UsGovDod,
        Some("china") => Cloud::China,
        Some(other) => bail!(
            "{key} = {other:?} is not known: use \"global\", \"usgov-high\", \"usgov-dod\" or \"china\""
        ),
    })
}

fn validate_break_glass(raw: RawBreakGlass, at: &str) -> Result<BreakGlass> {
    Ok(BreakGlass {
        user_ids: non_empty_strings(raw.user_ids, &format!("{at}.user_ids"))?,
        upns: non_empty_strings(raw.upns, &format!("{at}.upns"))?,
        group_id: match raw.group_id {
            Some(g) if g.trim().is_empty() => {
                bail!("{at}.group_id is empty: give the group's object id or remove the key")
            }
            other => other.map(|g| g.trim().to_string()),
        },
    })
}

fn validate_tenants(raw: Vec<RawTenantEntry>) -> Result<Vec<TenantEntry>> {
    let mut tenants: Vec<TenantEntry> = Vec::with_capacity(raw.len());
    for (i, t) in raw.into_iter().enumerate() {
        let at = format!("tenants[{}]", i + 1);
        let entry = validate_tenant(&at, t)?;
        if let Some(other) = tenants.iter().position(|o| o.id == entry.id) {
            bail!(
                "{at} and tenants[{}] both have id {}: list each tenant once",
                other + 1,
                entry.id
            );
        }
        if let Some(other) = tenants.iter().position(|o| o.name == entry.name) {
            bail!(
                "{at} and tenants[{}] are both named {:?}: give each tenant its own name",
                other + 1,
                entry.name
            );
        }
        tenants.push(entry);
    }
    Ok(tenants)
}

fn validate_tenant(at: &str, t: RawTenantEntry) -> Result<TenantEntry> {
    if t.client_secret.is_some() {
        bail!(
            "{at}.client_secret is not read from the file: put the secret in an environment variable, name it in client_secret_env, and remove the key"
        );
    }
    let id =
        t.id.map(|s| s.trim().to_ascii_lowercase())
            .with_context(|| format!("{at} has no id: give the tenant's directory id (a GUID)"))?;
    if !is_guid(&id) {
        bail!(
            "{at}.id = {id:?} is not a GUID: give the directory (tenant) id, e.g. \"9ad8c6d4-c793-4206-b09d-4ed13a9152d1\", not a domain name"
        );
    }
    let name = t
        .name
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .with_context(|| format!("{at} has no name: give the tenant a name for the output"))?;
    let client_id = t
        .client_id
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .with_context(|| {
            format!(
                "{at} has no client_id: give the application (client) id of its app registration"
            )
        })?;
    let credential = match (t.client_secret_env, t.certificate_file) {
        (Some(_), Some(_)) => {
            bail!("{at} names both client_secret_env and certificate_file: give one credential")
        }
        (Some(var), None) => {
            let var = var.trim().to_string();
            let valid = var
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                bail!(
                    "{at}.client_secret_env = {var:?} is not an environment variable name: name the variable that holds the secret, e.g. \"CONTOSO_CLIENT_SECRET\""
                );
            }
            CredentialRef::SecretEnv(var)
        }
        (None, Some(file)) if file.as_os_str().is_empty() => {
            bail!(
                "{at}.certificate_file is empty: give the PEM file of the certificate and its key"
            )
        }
        (None, Some(file)) => CredentialRef::CertificateFile(file),
        (None, None) => bail!(
            "{at} has no credential: set client_secret_env (the variable holding the client secret) or certificate_file (a PEM file of the certificate and its key)"
        ),
    };
    let mut exceptions = Vec::with_capacity(t.exceptions.len());
    for (n, e) in t.exceptions.into_iter().enumerate() {
        exceptions.push(validate_exception(
            &format!("{at}.exceptions[{}]", n + 1),
            e,
        )?);
    }
    Ok(TenantEntry {
        settings: TenantSettings {
            id: Some(id.clone()),
            cloud: cloud(t.cloud.as_deref(), &format!("{at}.cloud"))?,
            login_endpoint: t.login_endpoint,
            graph_endpoint: t.graph_endpoint,
            client_id: Some(client_id),
            credential: Some(credential),
        },
        id,
        name,
        break_glass: validate_break_glass(t.break_glass, &format!("{at}.break_glass"))?,
        exceptions,
        sha256: String::new(),
    })
}

/// Where the history lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A folder on this machine, one writer at a time behind a lock file.
    Path(PathBuf),
    /// A container or bucket, written create-only: safe for runners on many machines.
    Url(ObjectUrl),
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Path(path) => write!(f, "{}", path.display()),
            StoreLocation::Url(url) => write!(f, "{url}"),
        }
    }
}

/// A place on object storage (the store's `[store] url`, the archive's `[archive] url`): a
/// container of Azure Blob Storage or a bucket of S3, and a prefix inside it (no leading or
/// trailing slash; empty for the top).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectUrl {
    Azure { container: String, prefix: String },
    S3 { bucket: String, prefix: String },
}

impl ObjectUrl {
    /// `az://<container>/<prefix>` or `s3://<bucket>/<prefix>`.
    pub fn parse(text: &str) -> Result<ObjectUrl> {
        let text = text.trim();
        let fix =
            "write az://<container>/<prefix> (Azure Blob Storage) or s3://<bucket>/<prefix> (S3)";
        let (scheme, rest) = text
            .split_once("://")
            .with_context(|| format!("{text:?} is not an object storage URL: {fix}"))?;
        let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/').to_string();
        if prefix.split('/').any(|p| p == "." || p == "..") || prefix.contains("//") {
            bail!("{text:?}: the prefix has an empty, . or .. segment: {fix}");
        }
        let (kind, allowed_dot) = match scheme {
            "az" => ("container", false),
            "s3" => ("bucket", true),
            _ => bail!("{text:?} has the scheme {scheme}://, which is not known: {fix}"),
        };
        let valid = (3..=63).contains(&name.len())
            && name.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || (allowed_dot && b == b'.')
            })
            && name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && name
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_alphanumeric());
        if !valid {
            bail!(
                "{text:?}: {name:?} is not a {kind} name (3 to 63 lowercase letters, digits and hyphens{}, starting and ending with a letter or digit): {fix}",
                if allowed_dot { ", dots" } else { "" }
            );
        }
        let name = name.to_string();
        Ok(match scheme {
            "az" => ObjectUrl::Azure {
                container: name,
                prefix,
            },
            _ => ObjectUrl::S3 {
                bucket: name,
                prefix,
            },
        })
    }

    /// The object name of a file here (`name` relative to the prefix).
    pub fn object_name(&self, file: &str) -> String {
        let (ObjectUrl::Azure { prefix, .. } | ObjectUrl::S3 { prefix, .. }) = self;
        if prefix.is_empty() {
            file.to_string()
        } else {
            format!("{prefix}/{file}")
        }
    }
}

impl std::fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scheme, name, prefix) = match self {
            ObjectUrl::Azure { container, prefix } => ("az", container, prefix),
            ObjectUrl::S3 { bucket, prefix } => ("s3", bucket, prefix),
        };
        write!(f, "{scheme}://{name}")?;
        if !prefix.is_empty() {
            write!(f, "/{prefix}")?;
        }
        Ok(())
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits: a directory (tenant) id, not a domain.
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn validate_signing(raw: RawSigning) -> Result<SigningSettings> {
    if raw.passphrase.is_some() {
        bail!(
            "signing.passphrase is not read from the file: set MFA_EVIDENCE_SIGNING_PASSPHRASE in the environment and remove the key"
        );
    }
    let key_file = raw.key_file.filter(|p| !p.as_os_str().is_empty()).context(
        "[signing] has no key_file: name an OpenSSH ed25519 private key (ssh-keygen -t ed25519 -f signing), or remove [signing]",
    )?;
    Ok(SigningSettings { key_file })
}

fn validate_timestamping(raw: RawTimestamping) -> Result<TimestampSettings> {
    let urls = match raw.url {
        None => Vec::new(),
        Some(toml::Value::String(one)) => vec![one],
        Some(toml::Value::Array(list)) => list
            .into_iter()
            .map(|v| match v {
                toml::Value::String(s) => Ok(s),
                other => bail!("timestamping.url lists {other}, which is not a URL string"),
            })
            .collect::<Result<_>>()?,
        Some(other) => bail!(
            "timestamping.url = {other} is not a URL: write url = \"http://tsa.example/\" or a list of them"
        ),
    };
    if urls.is_empty() {
        bail!(
            "[timestamping] has no url: name the time-stamp authority, e.g. url = \"http://timestamp.digicert.com\", or remove [timestamping]"
        );
    }
    for url in &urls {
        let parsed = reqwest::Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"));
        if parsed.is_none() {
            bail!("timestamping.url {url:?} is not an http or https URL");
        }
    }
    let ca_file = raw.ca_file.filter(|p| !p.as_os_str().is_empty()).context(
        "[timestamping] has no ca_file: give the PEM file of the TSA's CA certificates (the tokens are checked against it)",
    )?;
    let max_attestation_delay_hours = raw
        .max_attestation_delay_hours
        .unwrap_or(DEFAULT_MAX_ATTESTATION_DELAY_HOURS);
    if max_attestation_delay_hours == 0 {
        bail!("timestamping.max_attestation_delay_hours must be at least 1");
    }
    Ok(TimestampSettings {
        urls: urls.into_iter().map(|u| u.trim().to_string()).collect(),
        ca_file,
        max_attestation_delay_hours,
    })
}

fn validate_notify(raw: RawNotify) -> Result<NotifySettings> {
    if raw.url.is_some() {
        bail!(
            "notify.url is not read from the file: a webhook URL carries its own secret, so set MFA_EVIDENCE_WEBHOOK_URL in the environment and remove the key"
        );
    }
    let webhook = match raw.format.as_deref().map(str::trim) {
        None => None,
        Some("teams") => Some(WebhookFormat::Teams),
        Some("slack") => Some(WebhookFormat::Slack),
        Some("json") => Some(WebhookFormat::Json),
        Some(other) => bail!(
            "notify.format = {other:?} is not known: use \"teams\", \"slack\" or \"json\" (the webhook URL comes from MFA_EVIDENCE_WEBHOOK_URL)"
        ),
    };
    let email = raw.email.map(validate_email).transpose()?;
    if webhook.is_none() && email.is_none() {
        bail!(
            "[notify] configures no channel: set notify.format for a webhook, add [notify.email], or remove [notify]"
        );
    }
    Ok(NotifySettings { webhook, email })
}

fn validate_email(raw: RawEmail) -> Result<EmailSettings> {
    if raw.password.is_some() {
        bail!(
            "notify.email.password is not read from the file: set MFA_EVIDENCE_SMTP_PASSWORD in the environment and remove the key"
        );
    }
    let host = raw
        .host
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .context(
            "notify.email has no host: name the SMTP relay, e.g. host = \"smtp.example.com\"",
        )?;
    let port = raw.port.unwrap_or(DEFAULT_SMTP_PORT);
    if port == 0 {
        bail!("notify.email.port must be a port number (587 for STARTTLS submission)");
    }
    let mailbox = |key: &str, text: &str| -> Result<Mailbox> {
        text.trim().parse::<Mailbox>().map_err(|e| {
            anyhow::anyhow!(
                "{key} = {text:?} is not a mail address ({e}): write e.g. \"alerts@example.com\" or \"Alerts <alerts@example.com>\""
            )
        })
    };
    let from = mailbox(
        "notify.email.from",
        raw.from.as_deref().context(
            "notify.email has no from: give the sender address, e.g. from = \"mfa-evidence@example.com\"",
        )?,
    )?;
    let to = raw.to.unwrap_or_default();
    if to.is_empty() {
        bail!(
            "notify.email has no recipient: list at least one in to, e.g. to = [\"secops@example.com\"]"
        );
    }
    let to = to
        .iter()
        .map(|t| mailbox("notify.email.to", t))
        .collect::<Result<Vec<_>>>()?;
    let username = match raw.username {
        Some(u) if u.trim().is_empty() => bail!(
            "notify.email.username is empty: give the SMTP user, or remove the key to send without authentication"
        ),
        other => other.map(|u| u.trim().to_string()),
    };
    if raw
        .ca_file
        .as_ref()
        .is_some_and(|p| p.as_os_str().is_empty())
    {
        bail!(
            "notify.email.ca_file is empty: give the PEM file of the relay's CA, or remove the key"
        );
    }
    Ok(EmailSettings {
        host,
        port,
        from,
        to,
        username,
        ca_file: raw.ca_file,
    })
}

/// `0 < x <= 100`, at most two decimals, as integer basis points (95.0 -> 9500).
pub fn threshold_basis_points(percent: f64) -> Result<u32> {
    if !(percent > 0.0 && percent <= 100.0) {
        bail!(
            "control.threshold_percent = {percent} is out of range: give a value above 0 and at most 100"
        );
    }
    let scaled = percent * 100.0;
    let rounded = scaled.round();
    if (scaled - rounded).abs() > 1e-6 {
        bail!(
            "control.threshold_percent = {percent} has more than two decimals: round it, e.g. 95.25"
        );
    }
    Ok(rounded as u32)
}

fn non_empty_strings(list: Vec<String>, key: &str) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(list.len());
    for s in list {
        let s = s.trim().to_string();
        if s.is_empty() {
            bail!("{key} holds an empty string: remove it");
        }
        out.push(s);
    }
    Ok(out)
}

fn validate_exception(at: &str, e: RawException) -> Result<Exception> {
    if e.upn.is_none() && e.user_id.is_none() {
        bail!("{at} names no user: give upn or user_id");
    }
    // An empty name would match no user, or, worse, a user without a UPN.
    for (key, value) in [("upn", &e.upn), ("user_id", &e.user_id)] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            bail!("{at}.{key} is empty: name the user, or remove the key");
        }
    }
    let reason = e.reason.filter(|r| !r.trim().is_empty()).with_context(|| {
        format!("{at} has no reason: an auditor needs to know why the user is excepted")
    })?;
    let approved_by = e
        .approved_by
        .filter(|r| !r.trim().is_empty())
        .with_context(|| format!("{at} has no approved_by: name who approved the exception"))?;
    let expires = match e.expires {
        None => bail!(
            "{at} has no expires date: every exception needs one, e.g. expires = \"2027-03-31\""
        ),
        Some(toml::Value::String(s)) => {
            let date = NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                .with_context(|| format!("{at}.expires = {s:?} is not a date: write YYYY-MM-DD"))?;
            // chrono reads `+10000-01-01` and `-0001-01-01`; a package prints four-digit years.
            if !(1..=9999).contains(&date.year()) || s.len() != 10 {
                bail!(
                    "{at}.expires = {s:?} is outside the years 0001 to 9999: write YYYY-MM-DD with a four-digit year"
                );
            }
            date
        }
        Some(toml::Value::Datetime(d)) => match d.date {
            Some(date) if d.time.is_none() => {
                NaiveDate::from_ymd_opt(date.year.into(), date.month.into(), date.day.into())
                    .with_context(|| format!("{at}.expires is not a valid date"))?
            }
            _ => bail!("{at}.expires must be a date (YYYY-MM-DD), not a time"),
        },
        Some(other) => bail!("{at}.expires = {other} is not a date: write \"YYYY-MM-DD\""),
    };
    Ok(Exception {
        user_id: e.user_id.map(|s| s.trim().to_string()),
        upn: e.upn.map(|s| s.trim().to_string()),
        reason: reason.trim().to_string(),
        approved_by: approved_by.trim().to_string(),
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_empty() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.control.threshold_basis_points, 9500);
        assert!(!c.control.include_guests);
        assert_eq!(c.max_gap_hours, 48);
    }

    #[test]
    fn signing_and_timestamping_tables() {
        let c = Config::from_toml(
            "[signing]\nkey_file = \"k\"\n[timestamping]\nurl = \"http://tsa.test/\"\nca_file = \"ca.pem\"\n",
        )
        .unwrap();
        assert_eq!(c.signing.unwrap().key_file, PathBuf::from("k"));
        let ts = c.timestamping.unwrap();
        assert_eq!(ts.urls, vec!["http://tsa.test/".to_string()]);
        assert_eq!(ts.max_attestation_delay_hours, 24);
        let two = Config::from_toml(
            "[timestamping]\nurl = [\"http://a.test/\", \"https://b.test/tsr\"]\nca_file = \"c\"\nmax_attestation_delay_hours = 6\n",
        )
        .unwrap()
        .timestamping
        .unwrap();
        assert_eq!(two.urls.len(), 2);
        assert_eq!(two.max_attestation_delay_hours, 6);
        for (text, needle) in [
            ("[signing]\n", "has no key_file"),
            (
                "[signing]\nkey_file = \"k\"\npassphrase = \"x\"\n",
                "MFA_EVIDENCE_SIGNING_PASSPHRASE",
            ),
            ("[timestamping]\nca_file = \"c\"\n", "has no url"),
            (
                "[timestamping]\nurl = \"ftp://x/\"\nca_file = \"c\"\n",
                "not an http or https URL",
            ),
            ("[timestamping]\nurl = \"http://x/\"\n", "has no ca_file"),
            (
                "[timestamping]\nurl = \"http://x/\"\nca_file = \"c\"\nmax_attestation_delay_hours = 0\n",
                "at least 1",
            ),
        ] {
            let err = format!("{:#}", Config::from_toml(text).unwrap_err());
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("[control]\nthreshhold_percent = 90\n").unwrap_err();
        assert!(format!("{err:#}").contains("threshhold_percent"), "{err:#}");
    }

    #[test]
    fn threshold_is_validated() {
        assert_eq!(threshold_basis_points(97.5).unwrap(), 9750);
        assert_eq!(threshold_basis_points(100.0).unwrap(), 10000);
        assert!(threshold_basis_points(0.0).is_err());
        assert!(threshold_basis_points(100.5).is_err());
        assert!(threshold_basis_points(95.125).is_err());
    }

    #[test]
    fn exception_needs_reason_and_date() {
        let err = Config::from_toml(
            "[[exceptions]]\nupn = \"a@b\"\napproved_by = \"x\"\nexpires = \"2027-01-01\"\n",
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("no reason"));
        let c = Config::from_toml(
            "[[exceptions]]\nupn = \"a@b\"\nreason = \"r\"\napproved_by = \"x\"\nexpires = 2027-01-01\n",
        )
        .unwrap();
        assert_eq!(
            c.control.exceptions[0].expires,
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
        );
    }

    /// Values that name nothing, or a date no package can print, are refused with their key:
    /// read as given, `[""]` made an empty string a qualifying method, `upn = ""` an exception
    /// for nobody, and `+10000-01-01` an expiry past what a date field holds.
    #[test]
    fn empty_names_and_years_past_9999_are_refused_with_their_key() {
        let exception =
            |line: &str| format!("[[exceptions]]\nreason = \"r\"\napproved_by = \"x\"\n{line}\n");
        for (text, key) in [
            (
                "[control]\nqualifying_methods = [\"\"]\n".to_string(),
                "control.qualifying_methods holds an empty string",
            ),
            (
                "[control]\nqualifying_methods = [\"fido2\", \"  \"]\n".to_string(),
                "control.qualifying_methods holds an empty string",
            ),
            (
                exception("upn = \"\"\nexpires = \"2027-01-01\""),
                "exceptions[1].upn is empty",
            ),
            (
                exception("user_id = \" \"\nexpires = \"2027-01-01\""),
                "exceptions[1].user_id is empty",
            ),
            (
                exception("upn = \"a@b\"\nexpires = \"+10000-01-01\""),
                "exceptions[1].expires = \"+10000-01-01\" is outside the years 0001 to 9999",
            ),
            (
                exception("upn = \"a@b\"\nexpires = \"-0001-01-01\""),
                "exceptions[1].expires = \"-0001-01-01\" is outside the years 0001 to 9999",
            ),
        ] {
            let err = Config::from_toml(&text).expect_err(&text);
            assert!(format!("{err:#}").contains(key), "{text}: {err:#}");
        }
        let c = Config::from_toml(&exception("upn = \"a@b\"\nexpires = \"9999-12-31\"")).unwrap();
        assert_eq!(c.control.exceptions[0].expires.to_string(), "9999-12-31");
    }

    #[test]
    fn no_notify_section_means_no_channel() {
        let c = Config::from_toml("[control]\nthreshold_percent = 90\n").unwrap();
        assert!(!c.notify.is_configured());
    }

    #[test]
    fn notify_channels_are_parsed() {
        let c = Config::from_toml(
            "[notify]\nformat = \"teams\"\n[notify.email]\nhost = \"smtp.example.com\"\n\
             from = \"MFA evidence <mfa@example.com>\"\nto = [\"secops@example.com\", \"ciso@example.com\"]\n\
             username = \"mfa\"\n",
        )
        .unwrap();
        assert_eq!(c.notify.webhook, Some(WebhookFormat::Teams));
        let email = c.notify.email.unwrap();
        assert_eq!(email.host, "smtp.example.com");
        assert_eq!(email.port, DEFAULT_SMTP_PORT);
        assert_eq!(email.from.email.to_string(), "mfa@example.com");
        assert_eq!(email.from.name.as_deref(), Some("MFA evidence"));
        assert_eq!(email.to.len(), 2);
        assert_eq!(email.username.as_deref(), Some("mfa"));

        let c = Config::from_toml("[notify]\nformat = \"slack\"\n").unwrap();
        assert_eq!(c.notify.webhook, Some(WebhookFormat::Slack));
        assert_eq!(c.notify.email, None);
    }

    #[test]
    fn notify_mistakes_are_named() {
        for (toml, needle) in [
            (
                "[notify]\nformat = \"discord\"\n",
                "notify.format = \"discord\"",
            ),
            ("[notify]\n", "configures no channel"),
            (
                "[notify]\nurl = \"https://x\"\n",
                "MFA_EVIDENCE_WEBHOOK_URL",
            ),
            (
                "[notify.email]\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n",
                "no host",
            ),
            (
                "[notify.email]\nhost = \"h\"\nfrom = \"not an address\"\nto = [\"b@example.com\"]\n",
                "notify.email.from",
            ),
            (
                "[notify.email]\nhost = \"h\"\nfrom = \"a@example.com\"\nto = []\n",
                "no recipient",
            ),
            (
                "[notify.email]\nhost = \"h\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\npassword = \"x\"\n",
                "MFA_EVIDENCE_SMTP_PASSWORD",
            ),
        ] {
            let err = Config::from_toml(toml).unwrap_err();
            assert!(format!("{err:#}").contains(needle), "{toml}: {err:#}");
        }
    }

    #[test]
    fn a_relative_ca_file_is_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mfa-evidence.toml");
        std::fs::write(
            &file,
            "[notify.email]\nhost = \"h\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\nca_file = \"relay-ca.pem\"\n",
        )
        .unwrap();
        let c = Config::from_file(&file).unwrap();
        assert_eq!(
            c.notify.email.unwrap().ca_file,
            Some(dir.path().join("relay-ca.pem"))
        );
    }

    #[test]
    fn a_relative_store_path_in_the_file_is_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mfa-evidence.toml");
        std::fs::write(&file, "[store]\npath = \"./evidence-store\"\n").unwrap();
        let c = Config::from_file(&file).unwrap();
        assert_eq!(
            c.store,
            StoreLocation::Path(dir.path().join("./evidence-store"))
        );

        // Without the key, the default stays relative to the working directory.
        std::fs::write(&file, "[control]\ninclude_guests = false\n").unwrap();
        let c = Config::from_file(&file).unwrap();
        assert_eq!(c.store, StoreLocation::Path(DEFAULT_STORE_PATH.into()));
    }

    #[test]
    fn a_store_is_a_path_or_a_url_never_both() {
        let c = Config::from_toml("[store]\nurl = \"az://evidence/msp\"\n").unwrap();
        assert_eq!(
            c.store,
            StoreLocation::Url(ObjectUrl::Azure {
                container: "evidence".into(),
                prefix: "msp".into()
            })
        );
        let both =
            Config::from_toml("[store]\npath = \"s\"\nurl = \"s3://bucket-a/x\"\n").unwrap_err();
        assert!(
            format!("{both:#}").contains("sets both path and url"),
            "{both:#}"
        );
        let wrong = Config::from_toml("[store]\nurl = \"https://x/y\"\n").unwrap_err();
        assert!(format!("{wrong:#}").contains("store.url"), "{wrong:#}");
    }

    const TWO_TENANTS: &str = "[control]\nthreshold_percent = 90\n\n\
        [[tenants]]\nid = \"AAAAAAAA-0000-4000-8000-000000000001\"\nname = \"Alpha\"\nclient_id = \"app-a\"\n\
        client_secret_env = \"ALPHA_SECRET\"\nbreak_glass.upns = [\"bg@alpha.example\"]\n\n\
        [[tenants]]\nid = \"bbbbbbbb-0000-4000-8000-000000000002\"\nname = \"Beta\"\nclient_id = \"app-b\"\n\
        certificate_file = \"beta.pem\"\n\
        [[tenants.exceptions]]\nupn = \"x@beta.example\"\nreason = \"r\"\napproved_by = \"a\"\nexpires = \"2027-01-01\"\n";

    #[test]
    fn tenants_are_validated_into_effective_configs() {
        let c = Config::from_toml(TWO_TENANTS).unwrap();
        assert_eq!(c.tenants.len(), 2);
        let alpha = &c.tenants[0];
        assert_eq!(
            alpha.id, "aaaaaaaa-0000-4000-8000-000000000001",
            "lowercase"
        );
        assert_eq!(
            alpha.settings.credential,
            Some(CredentialRef::SecretEnv("ALPHA_SECRET".into()))
        );
        let beta = c.for_tenant(&c.tenants[1]);
        assert_eq!(
            beta.control.threshold_basis_points, 9000,
            "shared sections kept"
        );
        assert_eq!(beta.control.exceptions.len(), 1);
        assert!(beta.control.break_glass.upns.is_empty());
        assert_eq!(beta.tenant.client_id.as_deref(), Some("app-b"));
        assert_eq!(beta.sha256, c.tenants[1].sha256);
        assert_ne!(c.tenants[0].sha256, c.tenants[1].sha256);
        assert_ne!(beta.sha256, c.sha256, "not the file's hash");
        assert!(beta.tenants.is_empty());

        assert_eq!(
            c.select_tenant(Some("BBBBBBBB-0000-4000-8000-000000000002"))
                .unwrap(),
            beta
        );
        let err = c.select_tenant(None).unwrap_err();
        assert!(
            format!("{err:#}").contains("the config lists 2 tenants"),
            "{err:#}"
        );
        let err = c
            .select_tenant(Some("cccccccc-0000-4000-8000-000000000003"))
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("not listed in [[tenants]]"),
            "{err:#}"
        );
    }

    /// Editing one tenant, or moving another, leaves a tenant's hash alone; editing the shared
    /// sections changes every tenant's.
    #[test]
    fn a_tenants_settings_hash_depends_on_its_own_table_and_the_shared_ones() {
        let c = Config::from_toml(TWO_TENANTS).unwrap();
        let edited = TWO_TENANTS.replace("bg@alpha.example", "other@alpha.example");
        let e = Config::from_toml(&edited).unwrap();
        assert_ne!(c.tenants[0].sha256, e.tenants[0].sha256);
        assert_eq!(c.tenants[1].sha256, e.tenants[1].sha256);
        let commented = format!("# a comment\n{TWO_TENANTS}");
        let e = Config::from_toml(&commented).unwrap();
        assert_eq!(c.tenants[0].sha256, e.tenants[0].sha256);
        let shared = TWO_TENANTS.replace("threshold_percent = 90", "threshold_percent = 91");
        let e = Config::from_toml(&shared).unwrap();
        assert_ne!(c.tenants[0].sha256, e.tenants[0].sha256);
        assert_ne!(c.tenants[1].sha256, e.tenants[1].sha256);
        // A [tenant] config keeps the file's own hash.
        let single = "[tenant]\nid = \"x\"\n";
        assert_eq!(
            Config::from_toml(single).unwrap().sha256,
            hex::encode(Sha256::digest(single.as_bytes()))
        );
    }

    #[test]
    fn tenants_mistakes_are_named() {
        let tenant = |body: &str| format!("[[tenants]]\n{body}\n");
        let ok = "id = \"aaaaaaaa-0000-4000-8000-000000000001\"\nname = \"A\"\nclient_id = \"c\"\nclient_secret_env = \"S\"";
        for (text, needle) in [
            (
                format!("[tenant]\nid = \"x\"\n{}", tenant(ok)),
                "[tenant] and [[tenants]] do not mix",
            ),
            (
                format!("[auth]\nclient_id = \"x\"\n{}", tenant(ok)),
                "[auth] and [[tenants]] do not mix",
            ),
            (
                format!("[break_glass]\nupns = [\"a@b\"]\n{}", tenant(ok)),
                "[break_glass] and [[tenants]] do not mix",
            ),
            (
                format!(
                    "[[exceptions]]\nupn = \"a@b\"\nreason = \"r\"\napproved_by = \"x\"\nexpires = \"2027-01-01\"\n{}",
                    tenant(ok)
                ),
                "[[exceptions]] and [[tenants]] do not mix",
            ),
            (
                tenant(&ok.replace(
                    "aaaaaaaa-0000-4000-8000-000000000001",
                    "contoso.onmicrosoft.com",
                )),
                "tenants[1].id = \"contoso.onmicrosoft.com\" is not a GUID",
            ),
            (
                tenant(&ok.replace("name = \"A\"\n", "")),
                "tenants[1] has no name",
            ),
            (
                tenant(&ok.replace("client_id = \"c\"\n", "")),
                "tenants[1] has no client_id",
            ),
            (
                tenant(&ok.replace("client_secret_env = \"S\"", "")),
                "tenants[1] has no credential",
            ),
            (
                tenant(&format!("{ok}\ncertificate_file = \"a.pem\"")),
                "both client_secret_env and certificate_file",
            ),
            (
                tenant(&ok.replace("\"S\"", "\"not a name\"")),
                "is not an environment variable name",
            ),
            (
                tenant(&format!("{ok}\nclient_secret = \"x\"")),
                "tenants[1].client_secret is not read from the file",
            ),
            (
                format!("{}{}", tenant(ok), tenant(&ok.replace("\"A\"", "\"B\""))),
                "tenants[2] and tenants[1] both have id",
            ),
            (
                format!(
                    "{}{}",
                    tenant(ok),
                    tenant(&ok.replace("000000000001", "000000000002"))
                ),
                "are both named \"A\"",
            ),
            (
                format!("{}[[tenants.exceptions]]\nupn = \"a@b\"\n", tenant(ok)),
                "tenants[1].exceptions[1] has no reason",
            ),
            (
                format!("{}break_glass.group_id = \" \"\n", tenant(ok)),
                "tenants[1].break_glass.group_id is empty",
            ),
        ] {
            let err = Config::from_toml(&text).expect_err(&text);
            assert!(format!("{err:#}").contains(needle), "{text}: {err:#}");
        }
    }

    #[test]
    fn archive_urls_are_parsed_and_mistakes_named() {
        let c = Config::from_toml("[archive]\nurl = \"az://evidence/soc2/2026/\"\n").unwrap();
        let url = c.archive.unwrap();
        assert_eq!(
            url,
            ObjectUrl::Azure {
                container: "evidence".into(),
                prefix: "soc2/2026".into()
            }
        );
        assert_eq!(url.to_string(), "az://evidence/soc2/2026");
        assert_eq!(url.object_name("a.zip"), "soc2/2026/a.zip");
        let s3 = ObjectUrl::parse("s3://my.bucket").unwrap();
        assert_eq!(s3.object_name("a.zip"), "a.zip");
        for (text, needle) in [
            ("https://x/y", "scheme https://"),
            ("evidence", "is not an object storage URL"),
            ("az://Evidence/x", "is not a container name"),
            ("az://my.container/x", "is not a container name"),
            ("s3://ab", "is not a bucket name"),
            ("az://evidence/a/../b", ".. segment"),
        ] {
            let err = ObjectUrl::parse(text).unwrap_err();
            assert!(format!("{err:#}").contains(needle), "{text}: {err:#}");
        }
    }

    #[test]
    fn a_relative_certificate_file_is_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mfa-evidence.toml");
        std::fs::write(&file, TWO_TENANTS).unwrap();
        let c = Config::from_file(&file).unwrap();
        assert_eq!(
            c.tenants[1].settings.credential,
            Some(CredentialRef::CertificateFile(dir.path().join("beta.pem")))
        );
    }
}
