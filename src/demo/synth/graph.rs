//! Microsoft Graph's response shapes, written in one place: the items of each source (serde
//! structs in Graph's field order), the page around them (`@odata.context`, `@odata.count`,
//! `@odata.nextLink`, `value`), the page files of the import layout and `provenance.json`.
//!
//! Everything that writes Graph-shaped JSON goes through here: the tenant generator, the demo
//! history, and the tests' fake Graph and export folders. Output is compact, as Graph sends it,
//! and serialised by serde_json, so a page parsed and written again by serde_json (with
//! `preserve_order`) gives the same bytes; the history relies on that to copy sample items.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use base64::Engine as _;
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{DAY, guid, hash_str, mix3};
use crate::snapshot::{CollectionRecord, SourceRecord};
use crate::source::{SourceKind, SourceStatus};

// ---------------------------------------------------------------------------------------------
// Sources.

pub use crate::source::Source;

/// The `@odata.context` Graph writes on a source's pages.
fn context(source: Source) -> String {
    format!("{GRAPH}/v1.0/$metadata#{}", source.info().odata_context)
}

/// The request URL of a source's first page, with `$top` where the source pages.
fn first_url(source: Source, page_size: usize) -> String {
    match source {
        Source::Users => format!(
            "{GRAPH}/v1.0/users?$select=id,userPrincipalName,displayName,accountEnabled,userType,createdDateTime,onPremisesSyncEnabled&$top={page_size}"
        ),
        Source::Registration => format!(
            "{GRAPH}/v1.0/reports/authenticationMethods/userRegistrationDetails?$top={page_size}"
        ),
        Source::Audits => format!(
            "{GRAPH}/v1.0/auditLogs/directoryAudits?$filter=loggedByService%20eq%20%27Authentication%20Methods%27&$top={page_size}"
        ),
        other => format!("{GRAPH}{}", other.endpoint()),
    }
}

const GRAPH: &str = "https://graph.microsoft.com";

/// The file of a source's page `n` (from 1).
pub fn page_file(source: Source, n: u64) -> String {
    format!("{}-{n:04}.json", source.stem())
}

// ---------------------------------------------------------------------------------------------
// Time, as Graph writes it.

/// `secs` since the epoch, with `ticks` of 100 ns.
pub(crate) fn instant(secs: i64, ticks: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, ticks * 100).expect("a synthetic time is within chrono's range")
}

/// `2026-10-31T06:00:00`: chrono's calendar, written field by field (quicker than a format
/// string, and the generator writes a few of these per user).
fn date_time(t: DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2026-10-31T06:00:00Z`: whole seconds, as in `createdDateTime` (a fraction is dropped).
pub fn fmt_secs(t: DateTime<Utc>) -> String {
    format!("{}Z", date_time(t))
}

/// `2026-10-31T05:12:44.1234567Z`: Graph's seven fractional digits (100 ns ticks), which
/// chrono has no specifier for (it writes 3, 6 or 9).
pub fn fmt_ticks(t: DateTime<Utc>) -> String {
    format!("{}.{:07}Z", date_time(t), t.nanosecond() / 100)
}

/// Parses an RFC 3339 time into seconds and 100 ns ticks.
pub(crate) fn parse_ticks(text: &str) -> Result<(i64, u32)> {
    let t =
        DateTime::parse_from_rfc3339(text).with_context(|| format!("{text:?} is not a time"))?;
    Ok((t.timestamp(), t.timestamp_subsec_nanos() / 100))
}

// ---------------------------------------------------------------------------------------------
// Microsoft's flags, derived from the methods as the registration report derives them.

pub(crate) fn is_qualifying(m: &str) -> bool {
    crate::control::methods::group_of(m).is_some()
}

/// Methods Microsoft counts as multifactor for `isMfaRegistered`.
fn is_strong(m: &str) -> bool {
    is_qualifying(m)
        || matches!(
            m,
            "softwareOneTimePasscode"
                | "hardwareOneTimePasscode"
                | "windowsHelloForBusiness"
                | "macOsSecureEnclaveKey"
        )
}

/// Strong methods the sample authentication methods policy allows (Voice, hardware OATH and
/// certificates are off), for `isMfaCapable`.
fn is_allowed(m: &str) -> bool {
    is_strong(m)
        && !matches!(
            m,
            "officePhone" | "alternateMobilePhone" | "hardwareOneTimePasscode"
        )
}

fn is_passwordless(m: &str) -> bool {
    matches!(
        m,
        "microsoftAuthenticatorPasswordless"
            | "fido2"
            | "fido2SecurityKey"
            | "passKeyDeviceBound"
            | "passKeyDeviceBoundAuthenticator"
            | "passKeyDeviceBoundWindowsHello"
            | "passKeySynced"
            | "windowsHelloForBusiness"
    )
}

fn is_sspr_method(m: &str) -> bool {
    matches!(
        m,
        "mobilePhone"
            | "alternateMobilePhone"
            | "officePhone"
            | "email"
            | "securityQuestion"
            | "microsoftAuthenticatorPush"
            | "softwareOneTimePasscode"
    )
}

fn system_preferred(methods: &[&str]) -> Option<&'static str> {
    let has = |set: &[&str]| methods.iter().any(|m| set.contains(m));
    if has(&[
        "fido2",
        "fido2SecurityKey",
        "passKeyDeviceBound",
        "passKeyDeviceBoundWindowsHello",
        "passKeySynced",
        "passKeyDeviceBoundAuthenticator",
    ]) {
        Some("Fido2")
    } else if has(&[
        "microsoftAuthenticatorPush",
        "microsoftAuthenticatorPasswordless",
    ]) {
        Some("push")
    } else if has(&["softwareOneTimePasscode", "hardwareOneTimePasscode"]) {
        Some("oath")
    } else if has(&["mobilePhone"]) {
        Some("sms")
    } else if has(&["alternateMobilePhone"]) {
        Some("voiceAlternateMobile")
    } else if has(&["officePhone"]) {
        Some("voiceOffice")
    } else {
        None
    }
}

fn user_preferred(methods: &[&str]) -> &'static str {
    let has = |m: &str| methods.contains(&m);
    if has("microsoftAuthenticatorPush") {
        "push"
    } else if has("mobilePhone") {
        "sms"
    } else if has("softwareOneTimePasscode") || has("hardwareOneTimePasscode") {
        "oath"
    } else if has("officePhone") {
        "voiceOffice"
    } else if has("alternateMobilePhone") {
        "voiceAlternateMobile"
    } else {
        "none"
    }
}

/// A friendly method name, as the audit log's details show it.
pub(crate) fn method_label(m: &str) -> &'static str {
    match m {
        "microsoftAuthenticatorPush" => "Microsoft Authenticator app (notification and code)",
        "microsoftAuthenticatorPasswordless" => "Microsoft Authenticator app (passwordless)",
        "passKeyDeviceBoundAuthenticator" => "Passkey in Microsoft Authenticator",
        "fido2" | "fido2SecurityKey" | "passKeyDeviceBound" => "FIDO2 security key",
        "passKeyDeviceBoundWindowsHello" => "Passkey in Windows Hello",
        "passKeySynced" => "Synced passkey",
        "mobilePhone" => "Mobile phone SMS",
        "alternateMobilePhone" => "Alternate mobile phone",
        "officePhone" => "Office phone",
        "softwareOneTimePasscode" => "Software OATH token",
        "hardwareOneTimePasscode" => "Hardware OATH token",
        "windowsHelloForBusiness" => "Windows Hello for Business",
        "email" => "Email",
        "securityQuestion" => "Security questions",
        "temporaryAccessPass" => "Temporary Access Pass",
        _ => "Other",
    }
}

// ---------------------------------------------------------------------------------------------
// Items.

/// A person as Graph names one: in `/users`, in the registration report and in the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: String,
    pub upn: String,
    pub name: String,
}

/// One `/users` item, with the fields the collector selects.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    id: String,
    user_principal_name: String,
    display_name: String,
    account_enabled: bool,
    user_type: &'static str,
    created_date_time: String,
    /// `true` for accounts synchronised from on-premises; Graph writes `null`, not `false`,
    /// for the others.
    on_premises_sync_enabled: Option<bool>,
}

impl User {
    pub fn new(
        person: Person,
        enabled: bool,
        guest: bool,
        created: DateTime<Utc>,
        synced: bool,
    ) -> User {
        User {
            id: person.id,
            user_principal_name: person.upn,
            display_name: person.name,
            account_enabled: enabled,
            user_type: if guest { "Guest" } else { "Member" },
            created_date_time: fmt_secs(created),
            on_premises_sync_enabled: synced.then_some(true),
        }
    }
}

/// One row of the registration report (`userRegistrationDetails`), with Microsoft's flags
/// derived from the methods.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration<'m> {
    id: String,
    user_principal_name: String,
    user_display_name: String,
    is_admin: bool,
    is_sspr_registered: bool,
    is_sspr_enabled: bool,
    is_sspr_capable: bool,
    is_mfa_registered: bool,
    is_mfa_capable: bool,
    is_passwordless_capable: bool,
    last_updated_date_time: String,
    methods_registered: Vec<&'m str>,
    is_system_preferred_authentication_method_enabled: bool,
    system_preferred_authentication_methods: Vec<&'static str>,
    user_preferred_method_for_secondary_authentication: &'static str,
    /// Lower-case here, unlike in `/users`.
    user_type: &'static str,
}

impl<'m> Registration<'m> {
    pub fn new(
        person: Person,
        guest: bool,
        is_admin: bool,
        last_updated: DateTime<Utc>,
        methods: &[&'m str],
    ) -> Registration<'m> {
        let sspr_enabled = !guest;
        let sspr_registered = methods.iter().any(|m| is_sspr_method(m));
        Registration {
            id: person.id,
            user_principal_name: person.upn,
            user_display_name: person.name,
            is_admin,
            is_sspr_registered: sspr_registered,
            is_sspr_enabled: sspr_enabled,
            is_sspr_capable: sspr_enabled && sspr_registered,
            is_mfa_registered: methods.iter().any(|m| is_strong(m)),
            is_mfa_capable: methods.iter().any(|m| is_allowed(m)),
            is_passwordless_capable: methods.iter().any(|m| is_passwordless(m)),
            last_updated_date_time: fmt_ticks(last_updated),
            methods_registered: methods.to_vec(),
            is_system_preferred_authentication_method_enabled: true,
            system_preferred_authentication_methods: system_preferred(methods)
                .into_iter()
                .collect(),
            user_preferred_method_for_secondary_authentication: user_preferred(methods),
            user_type: if guest { "guest" } else { "member" },
        }
    }
}

/// Audit activities of the Authentication Methods service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Activity {
    UserRegistered,
    UserRegisteredAll,
    UserDeleted,
    UserUpdated,
    UserChangedDefault,
    AdminRegistered,
}

impl Activity {
    fn display(self) -> &'static str {
        match self {
            Activity::UserRegistered => "User registered security info",
            Activity::UserRegisteredAll => "User registered all required security info",
            Activity::UserDeleted => "User deleted security info",
            Activity::UserUpdated => "User updated security info",
            Activity::UserChangedDefault => "User changed default security info",
            Activity::AdminRegistered => "Admin registered security info",
        }
    }

    fn operation(self) -> &'static str {
        match self {
            Activity::UserRegistered | Activity::UserRegisteredAll | Activity::AdminRegistered => {
                "Add"
            }
            Activity::UserDeleted => "Delete",
            Activity::UserUpdated | Activity::UserChangedDefault => "Update",
        }
    }
}

/// One `directoryAudits` item of the Authentication Methods service.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Audit<'m> {
    id: String,
    category: &'static str,
    correlation_id: String,
    result: &'static str,
    result_reason: &'static str,
    activity_display_name: &'static str,
    activity_date_time: String,
    logged_by_service: &'static str,
    operation_type: &'static str,
    initiated_by: Initiator,
    target_resources: [Target; 1],
    /// The method's friendly name and its type, or nothing (e.g. "registered all required").
    additional_details: Vec<Detail<'m>>,
}

#[derive(Debug, Clone, Serialize)]
struct Initiator {
    user: InitiatingUser,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct InitiatingUser {
    id: String,
    user_principal_name: String,
    display_name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    id: String,
    display_name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    user_principal_name: String,
}

#[derive(Debug, Clone, Serialize)]
struct Detail<'m> {
    key: &'static str,
    value: &'m str,
}

impl<'m> Audit<'m> {
    /// The event's id and correlation id are GUIDs derived from `id_hash`.
    pub fn new(
        id_hash: u64,
        time: DateTime<Utc>,
        activity: Activity,
        target: &Person,
        initiator: &Person,
        method: Option<&'m str>,
    ) -> Audit<'m> {
        let additional_details = match method {
            Some(m) => vec![
                Detail {
                    key: "Method",
                    value: method_label(m),
                },
                Detail {
                    key: "MethodType",
                    value: m,
                },
            ],
            None => Vec::new(),
        };
        Audit {
            id: guid(id_hash),
            category: "UserManagement",
            correlation_id: guid(id_hash ^ 0xC0FF_EE00),
            result: "success",
            result_reason: "",
            activity_display_name: activity.display(),
            activity_date_time: fmt_ticks(time),
            logged_by_service: "Authentication Methods",
            operation_type: activity.operation(),
            initiated_by: Initiator {
                user: InitiatingUser {
                    id: initiator.id.clone(),
                    user_principal_name: initiator.upn.clone(),
                    display_name: initiator.name.clone(),
                },
            },
            target_resources: [Target {
                id: target.id.clone(),
                display_name: target.name.clone(),
                kind: "User",
                user_principal_name: target.upn.clone(),
            }],
            additional_details,
        }
    }
}

/// One member of the break-glass group (`transitiveMembers/microsoft.graph.user`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    #[serde(rename = "@odata.type")]
    odata_type: &'static str,
    id: String,
    user_principal_name: String,
}

impl Member {
    pub fn new(id: &str, upn: &str) -> Member {
        Member {
            odata_type: "#microsoft.graph.user",
            id: id.to_string(),
            user_principal_name: upn.to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pages.

/// A collection page as Graph sends it.
#[derive(Serialize)]
struct Page<'a, T> {
    #[serde(rename = "@odata.context")]
    context: &'a str,
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<&'a str>,
    value: &'a [T],
}

/// One page of a source: `items`, with `next_link` when a page follows and `@odata.count`
/// when the request asked for it (`$count=true`).
pub fn page<T: Serialize>(
    source: Source,
    count: Option<u64>,
    next_link: Option<&str>,
    items: &[T],
) -> Vec<u8> {
    let mut out = Vec::new();
    write_page(&mut out, &context(source), count, next_link, items)
        .expect("writing a page to memory cannot fail");
    out
}

fn write_page<T: Serialize>(
    out: impl Write,
    context: &str,
    count: Option<u64>,
    next_link: Option<&str>,
    items: &[T],
) -> serde_json::Result<()> {
    let page = Page {
        context,
        count,
        next_link,
        value: items,
    };
    serde_json::to_writer(out, &page)
}

/// Writes a paged source one item at a time. A page is held until the next item arrives (or
/// the source ends), so that `@odata.nextLink` is present exactly on pages that have a
/// successor; memory is one page.
pub struct PageWriter<'a, T> {
    dir: &'a Path,
    source: Source,
    context: String,
    first_url: String,
    token_seed: u64,
    page_size: usize,
    page: Vec<T>,
    pages: u64,
    items: u64,
}

impl<'a, T: Serialize> PageWriter<'a, T> {
    /// `token_seed` makes the `$skiptoken`s: derive it from the tenant and collection time.
    pub fn new(dir: &'a Path, source: Source, page_size: usize, token_seed: u64) -> Self {
        let page_size = page_size.max(1);
        PageWriter {
            dir,
            source,
            context: context(source),
            first_url: first_url(source, page_size),
            token_seed: mix3(token_seed, hash_str(source.stem()), 0),
            page_size,
            page: Vec::with_capacity(page_size),
            pages: 0,
            items: 0,
        }
    }

    pub fn push(&mut self, item: T) -> Result<()> {
        if self.page.len() == self.page_size {
            self.flush(false)?;
        }
        self.page.push(item);
        self.items += 1;
        Ok(())
    }

    fn flush(&mut self, last: bool) -> Result<()> {
        self.pages += 1;
        let path = self.dir.join(page_file(self.source, self.pages));
        let next_link = (!last).then(|| {
            let token = skiptoken(self.token_seed, self.pages);
            format!("{}&$skiptoken={token}", self.first_url)
        });
        let file =
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        write_page(
            &mut out,
            &self.context,
            None,
            next_link.as_deref(),
            &self.page,
        )
        .map_err(anyhow::Error::from)
        .and_then(|()| out.flush().map_err(anyhow::Error::from))
        .with_context(|| format!("cannot write {}", path.display()))?;
        self.page.clear();
        Ok(())
    }

    /// Writes the last page (an empty one when there were no items); returns (pages, items).
    pub fn finish(mut self) -> Result<(u64, u64)> {
        self.flush(true)?;
        Ok((self.pages, self.items))
    }
}

fn skiptoken(seed: u64, page: u64) -> String {
    let mut bytes = Vec::with_capacity(40);
    for k in 0..5 {
        bytes.extend_from_slice(&mix3(seed, page, k).to_le_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Removes page files and provenance left from an earlier write, so page counts cannot mix.
pub fn remove_pages(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let paged = Source::ALL.iter().any(|source| {
            name.strip_prefix(source.stem())
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|rest| rest.strip_suffix(".json"))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if paged || name == "provenance.json" {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// `provenance.json`: the collection record of a folder written from synthetic data, with
/// (source, pages, items) per source.
pub fn write_provenance(
    dir: &Path,
    break_glass_group: &str,
    counts: &[(String, u64, u64)],
) -> Result<()> {
    let sources = counts
        .iter()
        .map(|(name, pages, items)| {
            let source =
                Source::from_stem(name).with_context(|| format!("{name} is not a source"))?;
            Ok(SourceRecord {
                name: source,
                endpoint: Some(
                    source
                        .endpoint()
                        .replace(crate::source::GROUP_ID, break_glass_group),
                ),
                required: source.required(),
                status: SourceStatus::Collected,
                error: None,
                pages: *pages,
                items: *items,
                requests: Vec::new(),
                files: None,
                export: None,
            })
        })
        .collect::<Result<_>>()?;
    let record = CollectionRecord {
        source_kind: SourceKind::Sample,
        collected_by: Some(concat!("mfa-evidence ", env!("CARGO_PKG_VERSION")).to_string()),
        graph_endpoint: None,
        token_roles: Vec::new(),
        sources,
    };
    let mut json = serde_json::to_vec_pretty(&record)?;
    json.push(b'\n');
    write_file(&dir.join("provenance.json"), &json)
}

// ---------------------------------------------------------------------------------------------
// The tenant-wide objects.

/// The tenant's initial domain, `<first label of domain>.onmicrosoft.com`.
pub(crate) fn initial_domain(domain: &str) -> String {
    let label = domain.split('.').next().unwrap_or(domain);
    format!("{label}.onmicrosoft.com")
}

/// The `organization` page: one tenant with its default and initial domain.
pub fn organization_page(
    tenant_id: &str,
    name: &str,
    domain: &str,
    created: DateTime<Utc>,
) -> Vec<u8> {
    let org = serde_json::json!({
        "id": tenant_id,
        "deletedDateTime": null,
        "countryLetterCode": "US",
        "createdDateTime": fmt_secs(created),
        "displayName": name,
        "tenantType": "AAD",
        "verifiedDomains": [
            {"capabilities": "Email, OfficeCommunicationsOnlineService", "isDefault": true,
             "isInitial": false, "name": domain, "type": "Managed"},
            {"capabilities": "Email, OfficeCommunicationsOnlineService", "isDefault": false,
             "isInitial": true, "name": initial_domain(domain), "type": "Managed"}
        ]
    });
    page(Source::Organization, None, None, &[org])
}

/// The break-glass group's members, one page with `@odata.count` (the request asks for it).
pub fn break_glass_page(members: &[Member]) -> Vec<u8> {
    page(
        Source::BreakGlass,
        Some(members.len() as u64),
        None,
        members,
    )
}
/// The authentication methods policy (one object, not a collection): the registration campaign
/// on, Voice and certificates off. `modified` is its `lastModifiedDateTime`.
pub fn methods_policy_page(modified: DateTime<Utc>) -> Vec<u8> {
    let method = |kind: &str, id: &str, state: &str| {
        serde_json::json!({
            "@odata.type": format!("#microsoft.graph.{kind}AuthenticationMethodConfiguration"),
            "id": id,
            "state": state,
            "excludeTargets": []
        })
    };
    let body = serde_json::json!({
        "@odata.context": context(Source::AuthMethodsPolicy),
        "id": "authenticationMethodsPolicy",
        "displayName": "Authentication Methods Policy",
        "description": "The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication method registration requirements, and self-service password reset settings",
        "lastModifiedDateTime": fmt_ticks(modified),
        "policyVersion": "1.5",
        "reconfirmationInDays": 0,
        "policyMigrationState": "migrationComplete",
        "registrationEnforcement": {
            "authenticationMethodsRegistrationCampaign": {
                "snoozeDurationInDays": 1,
                "enforceRegistrationAfterAllowedSnoozes": true,
                "state": "enabled",
                "excludeTargets": [],
                "includeTargets": [{
                    "id": "all_users",
                    "targetType": "group",
                    "targetedAuthenticationMethod": "microsoftAuthenticator"
                }]
            }
        },
        "authenticationMethodConfigurations": [
            method("fido2", "Fido2", "enabled"),
            method("microsoftAuthenticator", "MicrosoftAuthenticator", "enabled"),
            method("sms", "Sms", "enabled"),
            method("voice", "Voice", "disabled"),
            method("softwareOath", "SoftwareOath", "enabled"),
            method("temporaryAccessPass", "TemporaryAccessPass", "enabled"),
            method("email", "Email", "enabled"),
            method("x509Certificate", "X509Certificate", "disabled")
        ]
    });
    serde_json::to_vec(&body).expect("a JSON value serialises")
}

/// Five Conditional Access policies (MFA for all, phishing-resistant MFA for administrators,
/// legacy authentication blocked, one report-only and one disabled), the break-glass group
/// excluded where a tenant would exclude it; ids from `seed`, created from `created` on.
pub fn conditional_access_policies(
    seed: u64,
    break_glass_group: &str,
    created: DateTime<Utc>,
) -> Vec<Value> {
    let created = created.timestamp();
    let policy = |n: u64,
                  name: &str,
                  state: &str,
                  users: serde_json::Value,
                  client_apps: &[&str],
                  grant: serde_json::Value| {
        serde_json::json!({
            "id": guid(mix3(seed, 0xCA, n)),
            "templateId": null,
            "displayName": name,
            "createdDateTime": fmt_ticks(instant(created + n as i64 * 7 * DAY, 0)),
            "modifiedDateTime": fmt_ticks(instant(created + n as i64 * 9 * DAY, 0)),
            "state": state,
            "conditions": {
                "userRiskLevels": [],
                "signInRiskLevels": [],
                "clientAppTypes": client_apps,
                "platforms": null,
                "locations": null,
                "applications": {
                    "includeApplications": ["All"],
                    "excludeApplications": [],
                    "includeUserActions": []
                },
                "users": users
            },
            "grantControls": grant,
            "sessionControls": null
        })
    };
    let users = |include_users: &[&str], include_roles: &[&str], exclude_groups: &[&str]| {
        serde_json::json!({
            "includeUsers": include_users,
            "excludeUsers": [],
            "includeGroups": [],
            "excludeGroups": exclude_groups,
            "includeRoles": include_roles,
            "excludeRoles": []
        })
    };
    let mfa = serde_json::json!({
        "operator": "OR",
        "builtInControls": ["mfa"],
        "customAuthenticationFactors": [],
        "termsOfUse": [],
        "authenticationStrength": null
    });
    let phishing_resistant = serde_json::json!({
        "operator": "OR",
        "builtInControls": [],
        "customAuthenticationFactors": [],
        "termsOfUse": [],
        "authenticationStrength": {
            "id": "00000000-0000-0000-0000-000000000004",
            "displayName": "Phishing-resistant MFA",
            "description": "Phishing-resistant, Passwordless methods for the strongest authentication, such as a FIDO2 security key",
            "policyType": "builtIn",
            "requirementsSatisfied": "mfa",
            "allowedCombinations": ["windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"]
        }
    });
    let block = serde_json::json!({
        "operator": "OR",
        "builtInControls": ["block"],
        "customAuthenticationFactors": [],
        "termsOfUse": [],
        "authenticationStrength": null
    });
    let bg = [break_glass_group];
    let global_admin = ["62e90394-69f5-4237-9190-012177145e10"];
    vec![
        policy(
            1,
            "CA001: Require multifactor authentication for all users",
            "enabled",
            users(&["All"], &[], &bg),
            &["all"],
            mfa.clone(),
        ),
        policy(
            2,
            "CA002: Require phishing-resistant MFA for administrators",
            "enabled",
            users(&[], &global_admin, &bg),
            &["all"],
            phishing_resistant,
        ),
        policy(
            3,
            "CA003: Block legacy authentication",
            "enabled",
            users(&["All"], &[], &bg),
            &["exchangeActiveSync", "other"],
            block,
        ),
        policy(
            4,
            "CA004: Require MFA for guests and external users",
            "enabledForReportingButNotEnforced",
            users(&["GuestsOrExternalUsers"], &[], &[]),
            &["all"],
            mfa.clone(),
        ),
        policy(
            5,
            "CA005: Require MFA for Azure management (superseded by CA001)",
            "disabled",
            users(&["All"], &[], &[]),
            &["all"],
            mfa,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::{fmt_secs, fmt_ticks, instant, parse_ticks};

    #[test]
    fn graph_times_are_written_as_graph_writes_them() {
        assert_eq!(fmt_secs(instant(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(fmt_secs(instant(-1, 0)), "1969-12-31T23:59:59Z");
        assert_eq!(fmt_secs(instant(951_782_400, 0)), "2000-02-29T00:00:00Z");
        assert_eq!(fmt_secs(instant(1_793_426_400, 5)), "2026-10-31T06:00:00Z");
        assert_eq!(
            fmt_ticks(instant(1_793_426_400, 1)),
            "2026-10-31T06:00:00.0000001Z"
        );
        assert_eq!(
            fmt_ticks(instant(1_793_423_564, 9_999_999)),
            "2026-10-31T05:12:44.9999999Z"
        );
        let text = "2026-10-31T05:12:44.1234567Z";
        let (secs, ticks) = parse_ticks(text).unwrap();
        assert_eq!(fmt_ticks(instant(secs, ticks)), text);
    }
}
