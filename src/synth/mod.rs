//! Synthetic tenants in Microsoft Graph's own response shapes, for the demo, tests and benchmarks.
//!
//! [`write_tenant`] writes a folder in the import layout: one file per Graph response page
//! (`users-0001.json`, `userRegistrationDetails-0001.json`, ...), each exactly as Graph returns it
//! (`@odata.context`, `@odata.nextLink` except on the last page, `value`), plus `provenance.json`.
//! Everything is derived from the [`TenantSpec`] through a small seeded generator (splitmix64):
//! no clock, no OS randomness, so the same spec gives byte-identical files. Users are generated
//! one at a time from their index and written page by page, so a tenant of a million users
//! needs no more memory than one of a thousand: one page is held at a time, plus a 40-byte index
//! entry per audit event (about 3 % of users), so that the log can be written newest first as
//! Graph returns it. A million users take about 5 s and 7 MB.
//!
//! [`history`] builds the committed sample tenant (`samples/`) and the demo's six months of
//! daily collections from it.

pub mod history;
mod names;

pub use history::{
    HistoryDay, SAMPLE_SEED, history_times, sample_collected_at, sample_spec, write_demo_history,
    write_samples,
};

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::snapshot::{CollectionRecord, SourceRecord};
use crate::source::{Source, SourceKind, SourceStatus};

/// A burst of joiners, all created within `days` days from `start`.
#[derive(Debug, Clone, PartialEq)]
pub struct HiringWave {
    pub start: DateTime<Utc>,
    pub days: u32,
    pub users: usize,
}

/// Everything a synthetic tenant is derived from.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSpec {
    /// Accounts in `/users`, break-glass and excepted accounts included.
    pub users: usize,
    pub seed: u64,
    /// The collection time: every timestamp in the tenant is at or before it.
    pub collected_at: DateTime<Utc>,
    pub tenant_name: String,
    /// The default verified domain, e.g. `contoso.com`; `<first label>.onmicrosoft.com` is the
    /// initial domain.
    pub domain: String,
    /// The registered share of in-scope users the generator steers towards, in percent.
    pub target_percent: f64,
    /// Share of non-special accounts that are guests, in percent.
    pub guest_percent: f64,
    /// Share of non-special accounts that are disabled, in percent.
    pub disabled_percent: f64,
    /// Share of enabled in-scope members with no row in the registration report, in percent.
    pub missing_percent: f64,
    /// An excepted user whose exception is still valid at `collected_at`.
    pub active_exception: bool,
    /// An excepted user whose exception expired before `collected_at` (so back in scope).
    pub expired_exception: bool,
    /// Whether the second break-glass account holds a phishing-resistant method (FIDO2). The
    /// first one always does.
    pub second_break_glass_phishing_resistant: bool,
    pub hiring_wave: Option<HiringWave>,
    /// Items per page of `/users` and of the registration report (Graph's `$top`, at most 999).
    pub users_per_page: usize,
    /// Items per page of the audit log.
    pub audits_per_page: usize,
}

impl TenantSpec {
    /// A Contoso-like tenant with the usual mix: 2 % guests, 3 % disabled, 1 % of members
    /// missing from the report, two break-glass accounts, one valid and one expired exception.
    pub fn new(users: usize, seed: u64, collected_at: DateTime<Utc>) -> TenantSpec {
        TenantSpec {
            users,
            seed,
            collected_at,
            tenant_name: "Contoso Ltd".to_string(),
            domain: "contoso.com".to_string(),
            target_percent: 96.0,
            guest_percent: 2.0,
            disabled_percent: 3.0,
            missing_percent: 1.0,
            active_exception: true,
            expired_exception: true,
            second_break_glass_phishing_resistant: true,
            hiring_wave: None,
            users_per_page: 999,
            audits_per_page: 200,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.users < MIN_USERS {
            bail!(
                "a synthetic tenant needs at least {MIN_USERS} users, not {}",
                self.users
            );
        }
        if self.users > u32::MAX as usize {
            bail!("a synthetic tenant holds at most {} users", u32::MAX);
        }
        for (name, v) in [
            ("target_percent", self.target_percent),
            ("guest_percent", self.guest_percent),
            ("disabled_percent", self.disabled_percent),
            ("missing_percent", self.missing_percent),
        ] {
            if !(0.0..=100.0).contains(&v) {
                bail!("{name} = {v} is not a percentage between 0 and 100");
            }
        }
        if !(1..=999).contains(&self.users_per_page) || self.audits_per_page == 0 {
            bail!("page sizes must be 1..=999 (users) and at least 1 (audits)");
        }
        if self.domain.is_empty()
            || !self.domain.is_ascii()
            || self.domain.contains(['"', '\\', '/'])
        {
            bail!("domain {:?} is not a plain ASCII domain name", self.domain);
        }
        if let Some(w) = &self.hiring_wave
            && (w.days == 0 || w.start + TimeDelta::days(w.days.into()) > self.collected_at)
        {
            bail!("the hiring wave must last at least a day and end before the collection");
        }
        Ok(())
    }
}

const MIN_USERS: usize = 16;

/// One account the configuration must name.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub methods: Vec<String>,
}

/// An excepted user, as the configuration lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionInfo {
    pub account: Account,
    pub reason: String,
    pub approved_by: String,
    pub expires: NaiveDate,
    /// Expired at the collection time (so not honoured).
    pub expired: bool,
}

/// What a generated tenant holds, counted while it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSummary {
    pub tenant_id: String,
    pub tenant_name: String,
    pub domain: String,
    pub collected_at: DateTime<Utc>,
    pub break_glass_group_id: String,
    pub users: u64,
    /// userType Member, enabled or not.
    pub members: u64,
    pub guests: u64,
    pub disabled: u64,
    pub break_glass: Vec<Account>,
    pub exceptions: Vec<ExceptionInfo>,
    /// Enabled members that are neither break-glass nor under a valid exception.
    pub in_scope: u64,
    /// In-scope users with at least one method of the default qualifying set.
    pub registered: u64,
    /// In-scope users with no row in the registration report.
    pub missing_from_report: u64,
    pub registration_rows: u64,
    pub audit_events: u64,
    /// Per source: (name, pages, items), in collection order.
    pub pages: Vec<(String, u64, u64)>,
}

impl TenantSummary {
    /// The registered share of in-scope users in basis points, floored (9531 = 95.31 %).
    pub fn basis_points(&self) -> u64 {
        (self.registered * 10000)
            .checked_div(self.in_scope)
            .unwrap_or(0)
    }

    /// The registered share floored to two decimals, as the report prints it.
    pub fn percent(&self) -> String {
        let bp = self.basis_points();
        format!("{}.{:02}", bp / 100, bp % 100)
    }
}

// ---------------------------------------------------------------------------------------------
// Randomness: splitmix64, seeded from the spec; no clock, no OS randomness.

pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn mix3(a: u64, b: u64, c: u64) -> u64 {
    mix(mix(a ^ mix(b)).wrapping_add(c))
}

/// A hash of a string (FNV-1a, then mixed), for seeds derived from ids.
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            ((self.next() as u128 * n as u128) >> 64) as u64
        }
    }

    /// Uniform in [lo, hi).
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo).max(0) as u64) as i64
    }

    /// Sub-second part of a Graph timestamp, in 100 ns ticks.
    pub(crate) fn ticks(&mut self) -> u32 {
        self.below(10_000_000) as u32
    }

    /// An index into a weighted table.
    pub(crate) fn weighted<T>(&mut self, table: &[(u32, T)]) -> usize {
        let total: u32 = table.iter().map(|(w, _)| w).sum();
        let mut x = self.below(total.into()) as u32;
        for (i, (w, _)) in table.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        table.len() - 1
    }
}

/// A GUID-shaped id (version 4 layout) from a hash.
pub(crate) fn guid(h: u64) -> String {
    let a = mix(h);
    let b = mix(h ^ 0x5A5A_5A5A_5A5A_5A5A);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

// ---------------------------------------------------------------------------------------------
// Time, as Graph writes it.

pub(crate) const DAY: i64 = 86_400;
pub(crate) const HOUR: i64 = 3_600;

fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(DAY);
    let rem = secs.rem_euclid(DAY);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / HOUR) as u32,
        ((rem % HOUR) / 60) as u32,
        (rem % 60) as u32,
    )
}

/// `2026-10-31T06:00:00Z`
pub(crate) fn fmt_secs(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `2026-10-31T05:12:44.1234567Z`, Graph's seven fractional digits.
pub(crate) fn fmt_ticks(secs: i64, ticks: u32) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ticks:07}Z")
}

/// Parses an RFC 3339 time into seconds and 100 ns ticks.
pub(crate) fn parse_ticks(text: &str) -> Result<(i64, u32)> {
    let t =
        DateTime::parse_from_rfc3339(text).with_context(|| format!("{text:?} is not a time"))?;
    Ok((t.timestamp(), t.timestamp_subsec_nanos() / 100))
}

// ---------------------------------------------------------------------------------------------
// Methods.

pub(crate) type Methods = &'static [&'static str];

/// Method sets of registered users (at least one qualifying method), weighted.
const QUALIFYING_SETS: &[(u32, Methods)] = &[
    (240, &["microsoftAuthenticatorPush"]),
    (230, &["microsoftAuthenticatorPush", "mobilePhone"]),
    (
        70,
        &[
            "microsoftAuthenticatorPush",
            "microsoftAuthenticatorPasswordless",
            "mobilePhone",
        ],
    ),
    (100, &["mobilePhone"]),
    (50, &["mobilePhone", "email"]),
    (
        60,
        &["microsoftAuthenticatorPush", "softwareOneTimePasscode"],
    ),
    (30, &["fido2", "microsoftAuthenticatorPush"]),
    (
        30,
        &[
            "passKeyDeviceBoundAuthenticator",
            "microsoftAuthenticatorPush",
        ],
    ),
    (10, &["passKeySynced", "mobilePhone"]),
    (
        60,
        &["windowsHelloForBusiness", "microsoftAuthenticatorPush"],
    ),
    (12, &["officePhone"]),
    (20, &["mobilePhone", "alternateMobilePhone"]),
    (
        12,
        &["microsoftAuthenticatorPush", "hardwareOneTimePasscode"],
    ),
    (6, &["microsoftAuthenticatorPush", "quantumTotp"]),
    (8, &["fido2SecurityKey", "passKeyDeviceBoundWindowsHello"]),
    (4, &["mobilePhone", "externalAuthenticationMethod"]),
];

/// Method sets of in-scope users who are not registered (no qualifying method), weighted.
const UNQUALIFIED_SETS: &[(u32, Methods)] = &[
    (46, &[]),
    (16, &["email"]),
    (14, &["softwareOneTimePasscode"]),
    (8, &["windowsHelloForBusiness"]),
    (5, &["securityQuestion", "email"]),
    (6, &["quantumTotp"]),
    (5, &["temporaryAccessPass"]),
];

const GUEST_SETS: &[(u32, Methods)] = &[
    (50, &[]),
    (30, &["microsoftAuthenticatorPush"]),
    (20, &["mobilePhone"]),
];

const BREAK_GLASS_FIDO2: Methods = &["fido2"];
const BREAK_GLASS_FIDO2_PASSKEY: Methods = &["fido2", "passKeyDeviceBound"];
const BREAK_GLASS_PHONE: Methods = &["mobilePhone"];
const HELPDESK_METHODS: Methods = &["microsoftAuthenticatorPush", "fido2", "mobilePhone"];
const ACTIVE_EXCEPTION_METHODS: Methods = &["email"];
const EXPIRED_EXCEPTION_METHODS: Methods = &["softwareOneTimePasscode"];

/// The local part of the helpdesk administrator's principal name: the initiator of "Admin
/// registered security info" events.
pub(crate) const HELPDESK_STEM: &str = "it.helpdesk";

fn is_qualifying(m: &str) -> bool {
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
// JSON writing: compact, as Graph sends it, with serde_json's own string escaping so that a
// body parsed and written again by serde_json gives the same bytes.

pub(crate) fn jstr(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing a string to memory cannot fail");
}

fn jkey(out: &mut Vec<u8>, first: bool, key: &str) {
    if !first {
        out.push(b',');
    }
    jstr(out, key);
    out.push(b':');
}

fn jbool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

fn jstr_array(out: &mut Vec<u8>, items: &[&str]) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        jstr(out, s);
    }
    out.push(b']');
}

/// A person as the audit log names one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Person {
    pub id: String,
    pub upn: String,
    pub name: String,
}

/// One `/users` item.
pub(crate) fn write_user(
    out: &mut Vec<u8>,
    p: &Person,
    enabled: bool,
    guest: bool,
    created: i64,
    synced: bool,
) {
    out.push(b'{');
    jkey(out, true, "id");
    jstr(out, &p.id);
    jkey(out, false, "userPrincipalName");
    jstr(out, &p.upn);
    jkey(out, false, "displayName");
    jstr(out, &p.name);
    jkey(out, false, "accountEnabled");
    jbool(out, enabled);
    jkey(out, false, "userType");
    jstr(out, if guest { "Guest" } else { "Member" });
    jkey(out, false, "createdDateTime");
    jstr(out, &fmt_secs(created));
    jkey(out, false, "onPremisesSyncEnabled");
    out.extend_from_slice(if synced { b"true" } else { b"null" });
    out.push(b'}');
}

/// One registration report row, with Microsoft's flags derived from the methods.
pub(crate) fn write_registration(
    out: &mut Vec<u8>,
    p: &Person,
    guest: bool,
    is_admin: bool,
    last_updated: (i64, u32),
    methods: &[&str],
) {
    let strong = methods.iter().any(|m| is_strong(m));
    let capable = methods.iter().any(|m| is_allowed(m));
    let sspr_enabled = !guest;
    let sspr_registered = methods.iter().any(|m| is_sspr_method(m));
    out.push(b'{');
    jkey(out, true, "id");
    jstr(out, &p.id);
    jkey(out, false, "userPrincipalName");
    jstr(out, &p.upn);
    jkey(out, false, "userDisplayName");
    jstr(out, &p.name);
    jkey(out, false, "isAdmin");
    jbool(out, is_admin);
    jkey(out, false, "isSsprRegistered");
    jbool(out, sspr_registered);
    jkey(out, false, "isSsprEnabled");
    jbool(out, sspr_enabled);
    jkey(out, false, "isSsprCapable");
    jbool(out, sspr_enabled && sspr_registered);
    jkey(out, false, "isMfaRegistered");
    jbool(out, strong);
    jkey(out, false, "isMfaCapable");
    jbool(out, capable);
    jkey(out, false, "isPasswordlessCapable");
    jbool(out, methods.iter().any(|m| is_passwordless(m)));
    jkey(out, false, "lastUpdatedDateTime");
    jstr(out, &fmt_ticks(last_updated.0, last_updated.1));
    jkey(out, false, "methodsRegistered");
    jstr_array(out, methods);
    jkey(out, false, "isSystemPreferredAuthenticationMethodEnabled");
    jbool(out, true);
    jkey(out, false, "systemPreferredAuthenticationMethods");
    match system_preferred(methods) {
        Some(m) => jstr_array(out, &[m]),
        None => jstr_array(out, &[]),
    }
    jkey(out, false, "userPreferredMethodForSecondaryAuthentication");
    jstr(out, user_preferred(methods));
    jkey(out, false, "userType");
    jstr(out, if guest { "guest" } else { "member" });
    out.push(b'}');
}

/// Audit activities of the Authentication Methods service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Activity {
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

/// One directoryAudits item.
pub(crate) fn write_audit(
    out: &mut Vec<u8>,
    id_hash: u64,
    time: (i64, u32),
    activity: Activity,
    target: &Person,
    initiator: &Person,
    method: Option<&str>,
) {
    out.push(b'{');
    jkey(out, true, "id");
    jstr(out, &guid(id_hash));
    jkey(out, false, "category");
    jstr(out, "UserManagement");
    jkey(out, false, "correlationId");
    jstr(out, &guid(id_hash ^ 0xC0FF_EE00));
    jkey(out, false, "result");
    jstr(out, "success");
    jkey(out, false, "resultReason");
    jstr(out, "");
    jkey(out, false, "activityDisplayName");
    jstr(out, activity.display());
    jkey(out, false, "activityDateTime");
    jstr(out, &fmt_ticks(time.0, time.1));
    jkey(out, false, "loggedByService");
    jstr(out, "Authentication Methods");
    jkey(out, false, "operationType");
    jstr(out, activity.operation());
    jkey(out, false, "initiatedBy");
    out.extend_from_slice(b"{\"user\":{");
    jkey(out, true, "id");
    jstr(out, &initiator.id);
    jkey(out, false, "userPrincipalName");
    jstr(out, &initiator.upn);
    jkey(out, false, "displayName");
    jstr(out, &initiator.name);
    out.extend_from_slice(b"}}");
    jkey(out, false, "targetResources");
    out.extend_from_slice(b"[{");
    jkey(out, true, "id");
    jstr(out, &target.id);
    jkey(out, false, "displayName");
    jstr(out, &target.name);
    jkey(out, false, "type");
    jstr(out, "User");
    jkey(out, false, "userPrincipalName");
    jstr(out, &target.upn);
    out.extend_from_slice(b"}]");
    jkey(out, false, "additionalDetails");
    out.push(b'[');
    if let Some(m) = method {
        out.push(b'{');
        jkey(out, true, "key");
        jstr(out, "Method");
        jkey(out, false, "value");
        jstr(out, method_label(m));
        out.extend_from_slice(b"},{");
        jkey(out, true, "key");
        jstr(out, "MethodType");
        jkey(out, false, "value");
        jstr(out, m);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

// ---------------------------------------------------------------------------------------------
// Pages.

const GRAPH: &str = "https://graph.microsoft.com";

pub(crate) fn context_of(source: Source) -> String {
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

/// The file of a source's page `n` (from 1).
pub fn page_file(source: Source, n: u64) -> String {
    format!("{source}-{n:04}.json")
}

/// Writes a paged source one item at a time. A page is held until the next item arrives (or
/// the source ends), so that `@odata.nextLink` is present exactly on pages that have a
/// successor; memory is one page.
pub(crate) struct PageWriter<'a> {
    dir: &'a Path,
    source: Source,
    context: String,
    first_url: String,
    token_seed: u64,
    page_size: usize,
    buf: Vec<u8>,
    in_page: usize,
    pages: u64,
    items: u64,
}

impl<'a> PageWriter<'a> {
    /// `token_seed` makes the `$skiptoken`s: derive it from the tenant and collection time.
    pub(crate) fn new(
        dir: &'a Path,
        source: Source,
        page_size: usize,
        token_seed: u64,
    ) -> PageWriter<'a> {
        PageWriter {
            dir,
            source,
            context: context_of(source),
            first_url: first_url(source, page_size),
            token_seed: mix3(token_seed, hash_str(source.stem()), 0),
            page_size,
            buf: Vec::with_capacity(page_size * 700),
            in_page: 0,
            pages: 0,
            items: 0,
        }
    }

    /// Adds one item, written by `f` as a JSON object.
    pub(crate) fn push(&mut self, f: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        if self.in_page == self.page_size {
            self.flush(false)?;
        }
        if self.in_page > 0 {
            self.buf.push(b',');
        }
        f(&mut self.buf);
        self.in_page += 1;
        self.items += 1;
        Ok(())
    }

    fn flush(&mut self, last: bool) -> Result<()> {
        self.pages += 1;
        let path = self.dir.join(page_file(self.source, self.pages));
        let mut head = Vec::with_capacity(400);
        head.push(b'{');
        jkey(&mut head, true, "@odata.context");
        jstr(&mut head, &self.context);
        if !last {
            let token = skiptoken(self.token_seed, self.pages);
            jkey(&mut head, false, "@odata.nextLink");
            jstr(&mut head, &format!("{}&$skiptoken={token}", self.first_url));
        }
        jkey(&mut head, false, "value");
        head.push(b'[');
        let mut f = BufWriter::with_capacity(1 << 20, create(&path)?);
        f.write_all(&head)?;
        f.write_all(&self.buf)?;
        f.write_all(b"]}")?;
        f.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
        self.buf.clear();
        self.in_page = 0;
        Ok(())
    }

    /// Writes the last page (an empty one when there were no items); returns (pages, items).
    pub(crate) fn finish(mut self) -> Result<(u64, u64)> {
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

fn create(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("cannot create {}", path.display()))
}

pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The seed of a collection's `$skiptoken`s.
pub(crate) fn token_seed(tenant_id: &str, collected: i64) -> u64 {
    mix3(hash_str(tenant_id), collected as u64, 0x70CE)
}

/// `provenance.json`: the collection record of a folder written from synthetic data.
pub(crate) fn write_provenance(
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

pub(crate) fn initial_domain(domain: &str) -> String {
    let label = domain.split('.').next().unwrap_or(domain);
    format!("{label}.onmicrosoft.com")
}

fn organization_json(tenant_id: &str, name: &str, domain: &str, created: i64) -> Vec<u8> {
    let body = serde_json::json!({
        "@odata.context": context_of(Source::Organization),
        "value": [{
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
        }]
    });
    serde_json::to_vec(&body).expect("a JSON value serialises")
}

fn methods_policy_json(modified: i64) -> Vec<u8> {
    let method = |kind: &str, id: &str, state: &str| {
        serde_json::json!({
            "@odata.type": format!("#microsoft.graph.{kind}AuthenticationMethodConfiguration"),
            "id": id,
            "state": state,
            "excludeTargets": []
        })
    };
    let body = serde_json::json!({
        "@odata.context": context_of(Source::AuthMethodsPolicy),
        "id": "authenticationMethodsPolicy",
        "displayName": "Authentication Methods Policy",
        "description": "The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication method registration requirements, and self-service password reset settings",
        "lastModifiedDateTime": fmt_ticks(modified, 4_213_377),
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

fn conditional_access_json(seed: u64, break_glass_group: &str, created: i64) -> Vec<u8> {
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
            "createdDateTime": fmt_ticks(created + n as i64 * 7 * DAY, 0),
            "modifiedDateTime": fmt_ticks(created + n as i64 * 9 * DAY, 0),
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
    let body = serde_json::json!({
        "@odata.context": context_of(Source::ConditionalAccess),
        "value": [
            policy(1, "CA001: Require multifactor authentication for all users", "enabled",
                   users(&["All"], &[], &bg), &["all"], mfa.clone()),
            policy(2, "CA002: Require phishing-resistant MFA for administrators", "enabled",
                   users(&[], &global_admin, &bg), &["all"], phishing_resistant),
            policy(3, "CA003: Block legacy authentication", "enabled",
                   users(&["All"], &[], &bg), &["exchangeActiveSync", "other"], block),
            policy(4, "CA004: Require MFA for guests and external users", "enabledForReportingButNotEnforced",
                   users(&["GuestsOrExternalUsers"], &[], &[]), &["all"], mfa.clone()),
            policy(5, "CA005: Require MFA for Azure management (superseded by CA001)", "disabled",
                   users(&["All"], &[], &[]), &["all"], mfa)
        ]
    });
    serde_json::to_vec(&body).expect("a JSON value serialises")
}

fn break_glass_json(members: &[(String, String)]) -> Vec<u8> {
    let value: Vec<_> = members
        .iter()
        .map(|(id, upn)| {
            serde_json::json!({"@odata.type": "#microsoft.graph.user", "id": id, "userPrincipalName": upn})
        })
        .collect();
    let body = serde_json::json!({
        "@odata.context": context_of(Source::BreakGlass),
        "@odata.count": members.len(),
        "value": value
    });
    serde_json::to_vec(&body).expect("a JSON value serialises")
}

// ---------------------------------------------------------------------------------------------
// The users, one at a time.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Special {
    BreakGlass(u8),
    Helpdesk,
    Exception { expired: bool },
}

/// What the generator decided for one user.
struct Core {
    special: Option<Special>,
    guest: bool,
    enabled: bool,
    synced: bool,
    admin: bool,
    created: i64,
    /// `None`: no row in the registration report.
    methods: Option<Methods>,
    in_scope: bool,
    registered: bool,
    last_updated: (i64, u32),
    event: Option<(i64, u32, Activity, &'static str)>,
}

/// The deterministic walk over the users. Registration is steered with an error-diffusion
/// accumulator so the registered share stays within a user or two of the target at any size.
struct Walker<'s> {
    spec: &'s TenantSpec,
    collected: i64,
    specials: Vec<(usize, Special)>,
    perm: names::Permutation,
    combos: u64,
    unregistered_rate: f64,
    missing_share: f64,
    wave_rate: f64,
    debt: f64,
    wave_debt: f64,
}

impl<'s> Walker<'s> {
    fn new(spec: &'s TenantSpec) -> Walker<'s> {
        let mut kinds = vec![
            Special::BreakGlass(1),
            Special::BreakGlass(2),
            Special::Helpdesk,
        ];
        if spec.active_exception {
            kinds.push(Special::Exception { expired: false });
        }
        if spec.expired_exception {
            kinds.push(Special::Exception { expired: true });
        }
        let stride = spec.users / kinds.len();
        let specials = kinds
            .into_iter()
            .enumerate()
            .map(|(k, s)| {
                let offset = mix3(spec.seed, 0x5BEC, k as u64) % stride as u64;
                (k * stride + offset as usize, s)
            })
            .collect();
        let combos = names::combinations();
        let unregistered_rate = (100.0 - spec.target_percent) / 100.0;
        let missing_share = if unregistered_rate > 0.0 {
            (spec.missing_percent / 100.0 / unregistered_rate).min(1.0)
        } else {
            0.0
        };
        let normal_members = spec.users as f64
            * (1.0 - spec.guest_percent / 100.0)
            * (1.0 - spec.disabled_percent / 100.0);
        let wave_rate = match &spec.hiring_wave {
            Some(w) if normal_members > 0.0 => (w.users as f64 / normal_members).min(1.0),
            _ => 0.0,
        };
        Walker {
            spec,
            collected: spec.collected_at.timestamp(),
            specials,
            perm: names::Permutation::new(combos, mix3(spec.seed, 0x4A3E, 0)),
            combos,
            unregistered_rate,
            missing_share,
            wave_rate,
            debt: 0.0,
            wave_debt: 0.0,
        }
    }

    fn special_at(&self, i: usize) -> Option<Special> {
        self.specials
            .iter()
            .find(|(at, _)| *at == i)
            .map(|(_, s)| *s)
    }

    /// The identity of user `i`: id, principal name, display name. Depends on nothing else, so
    /// any pass can compute it.
    fn person(&self, i: usize, special: Option<Special>, guest_domain: Option<&str>) -> Person {
        let id = guid(mix3(self.spec.seed, 0x1D, i as u64));
        let initial = initial_domain(&self.spec.domain);
        match special {
            Some(Special::BreakGlass(k)) => Person {
                id,
                upn: format!("breakglass.{k:02}@{initial}"),
                name: format!("Emergency Access Account {k:02}"),
            },
            Some(Special::Helpdesk) => Person {
                id,
                upn: format!("{HELPDESK_STEM}@{}", self.spec.domain),
                name: "IT Helpdesk".to_string(),
            },
            _ => {
                let x = i as u64;
                let name = names::name(self.perm.apply(x), x / self.combos);
                match guest_domain {
                    Some(home) => Person {
                        id,
                        upn: format!("{}_{home}#EXT#@{initial}", name.stem),
                        name: name.display,
                    },
                    None => Person {
                        id,
                        upn: format!("{}@{}", name.stem, self.spec.domain),
                        name: name.display,
                    },
                }
            }
        }
    }

    fn rng(&self, i: usize) -> Rng {
        Rng::new(mix3(self.spec.seed, 0x05E4, i as u64))
    }

    fn next(&mut self, i: usize) -> Core {
        let spec = self.spec;
        let now = self.collected;
        let mut r = self.rng(i);
        let special = self.special_at(i);
        let last_updated = (now - r.range(HOUR / 2, 7 * HOUR), r.ticks());
        let mut core = Core {
            special,
            guest: false,
            enabled: true,
            synced: false,
            admin: r.chance(0.015),
            created: now - r.range(400 * DAY, 9 * 365 * DAY),
            methods: None,
            in_scope: false,
            registered: false,
            last_updated,
            event: None,
        };
        match special {
            Some(Special::BreakGlass(k)) => {
                core.admin = true;
                core.created = now - 3 * 365 * DAY - i64::from(k) * 3 * HOUR;
                core.methods = Some(if k == 1 {
                    BREAK_GLASS_FIDO2
                } else if spec.second_break_glass_phishing_resistant {
                    BREAK_GLASS_FIDO2_PASSKEY
                } else {
                    BREAK_GLASS_PHONE
                });
                return core;
            }
            Some(Special::Helpdesk) => {
                core.admin = true;
                core.synced = true;
                core.methods = Some(HELPDESK_METHODS);
                core.in_scope = true;
                core.registered = true;
                self.debt += self.unregistered_rate;
                return core;
            }
            Some(Special::Exception { expired }) => {
                core.synced = true;
                core.admin = false;
                if expired {
                    core.methods = Some(EXPIRED_EXCEPTION_METHODS);
                    core.in_scope = true;
                    self.debt += self.unregistered_rate - 1.0;
                } else {
                    core.methods = Some(ACTIVE_EXCEPTION_METHODS);
                }
                return core;
            }
            None => {}
        }

        core.guest = r.chance(spec.guest_percent / 100.0);
        core.enabled = !r.chance(spec.disabled_percent / 100.0);
        core.synced = !core.guest && r.chance(0.6);
        if core.guest {
            core.admin = false;
        }
        // When the account was created: most long ago, some recently, the wave's in a burst.
        let mut wave = false;
        if core.enabled && !core.guest && self.wave_rate > 0.0 {
            self.wave_debt += self.wave_rate;
            if r.unit() < self.wave_debt {
                self.wave_debt -= 1.0;
                wave = true;
            }
        }
        let age_draw = r.unit();
        core.created = if wave {
            let w = spec
                .hiring_wave
                .as_ref()
                .expect("wave_rate > 0 only with a wave");
            let day = r.below(w.days.into()) as i64;
            let start = w.start.timestamp();
            let day_start = start - start.rem_euclid(DAY);
            (day_start + day * DAY + 7 * HOUR + r.range(0, 10 * HOUR)).max(start)
        } else if !core.enabled || age_draw >= 0.055 {
            now - r.range(200 * DAY, 9 * 365 * DAY)
        } else if age_draw < 0.015 {
            now - r.range(HOUR, 30 * DAY)
        } else {
            now - r.range(30 * DAY, 200 * DAY)
        };
        let age = now - core.created;

        if !core.enabled {
            // Graph leaves disabled users out of the registration report.
            return core;
        }
        if core.guest {
            core.methods = Some(GUEST_SETS[r.weighted(GUEST_SETS)].1);
            return core;
        }
        core.in_scope = true;
        let forced = age < 36 * HOUR && r.chance(0.6);
        self.debt += self.unregistered_rate;
        let unregistered = forced || r.unit() < self.debt;
        if unregistered {
            self.debt -= 1.0;
            if age < 6 * HOUR || r.chance(self.missing_share) {
                core.methods = None;
            } else {
                core.methods = Some(UNQUALIFIED_SETS[r.weighted(UNQUALIFIED_SETS)].1);
            }
        } else {
            core.registered = true;
            core.methods = Some(QUALIFYING_SETS[r.weighted(QUALIFYING_SETS)].1);
        }
        // At most one Authentication Methods audit event per user in the last 30 days.
        let window = now - 30 * DAY;
        if let Some(methods) = core.methods.filter(|m| !m.is_empty()) {
            if core.created >= window {
                let delay = r.range(10 * 60, 36 * HOUR).min(age * 9 / 10);
                let first = methods
                    .iter()
                    .find(|m| is_qualifying(m))
                    .unwrap_or(&methods[0]);
                core.event = Some((
                    core.created + delay,
                    r.ticks(),
                    Activity::UserRegistered,
                    first,
                ));
            } else if r.chance(0.02) {
                let at = window + r.range(0, 30 * DAY - HOUR);
                let last = methods[methods.len() - 1];
                let (activity, m) = match r.below(10) {
                    0..=3 => (Activity::UserRegistered, last),
                    4..=5 => (Activity::UserChangedDefault, methods[0]),
                    6..=7 => (Activity::UserUpdated, methods[0]),
                    _ => (Activity::AdminRegistered, last),
                };
                core.event = Some((at, r.ticks(), activity, m));
            }
        }
        core
    }
}

/// The fixed ids of a tenant generated from `seed`.
fn tenant_id_of(seed: u64) -> String {
    guid(mix3(seed, 0x7E4A47, 1))
}

fn break_glass_group_of(seed: u64) -> String {
    guid(mix3(seed, 0xB6, 2))
}

/// Writes a synthetic tenant in the import layout to `dir` (created if needed; page files and
/// `provenance.json` already there are replaced, other files are left alone) and returns what
/// it holds.
pub fn write_tenant(spec: &TenantSpec, dir: &Path) -> Result<TenantSummary> {
    spec.validate()?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    history::remove_pages(dir)?;
    let now = spec.collected_at.timestamp();
    let tenant_id = tenant_id_of(spec.seed);
    let group_id = break_glass_group_of(spec.seed);
    let tokens = token_seed(&tenant_id, now);
    let tenant_created = now - 9 * 365 * DAY - 40 * DAY;

    let mut summary = TenantSummary {
        tenant_id: tenant_id.clone(),
        tenant_name: spec.tenant_name.clone(),
        domain: spec.domain.clone(),
        collected_at: spec.collected_at,
        break_glass_group_id: group_id.clone(),
        users: 0,
        members: 0,
        guests: 0,
        disabled: 0,
        break_glass: Vec::new(),
        exceptions: Vec::new(),
        in_scope: 0,
        registered: 0,
        missing_from_report: 0,
        registration_rows: 0,
        audit_events: 0,
        pages: Vec::new(),
    };

    write_file(
        &dir.join(page_file(Source::Organization, 1)),
        &organization_json(&tenant_id, &spec.tenant_name, &spec.domain, tenant_created),
    )?;
    summary.pages.push((Source::Organization.to_string(), 1, 1));

    // Pass 1: /users, and the index of audit events.
    let mut walker = Walker::new(spec);
    let mut users = PageWriter::new(dir, Source::Users, spec.users_per_page, tokens);
    let mut events: Vec<(i64, u32, u32, Activity, &'static str)> = Vec::new();
    let mut helpdesk: Option<Person> = None;
    for i in 0..spec.users {
        let core = walker.next(i);
        let guest_domain = core.guest.then(|| guest_domain(spec.seed, i));
        let p = walker.person(i, core.special, guest_domain);
        users
            .push(|out| write_user(out, &p, core.enabled, core.guest, core.created, core.synced))?;
        summary.users += 1;
        if core.guest {
            summary.guests += 1;
        } else {
            summary.members += 1;
        }
        if !core.enabled {
            summary.disabled += 1;
        }
        if core.in_scope {
            summary.in_scope += 1;
            if core.registered {
                summary.registered += 1;
            }
            if core.methods.is_none() {
                summary.missing_from_report += 1;
            }
        }
        if let Some((t, ticks, activity, m)) = core.event {
            events.push((t, ticks, i as u32, activity, m));
        }
        let account = |methods: Methods| Account {
            id: p.id.clone(),
            user_principal_name: p.upn.clone(),
            display_name: p.name.clone(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
        };
        match core.special {
            Some(Special::BreakGlass(_)) => summary
                .break_glass
                .push(account(core.methods.unwrap_or(&[]))),
            Some(Special::Exception { expired }) => {
                let today = spec.collected_at.date_naive();
                let (expires, reason, approved_by) = if expired {
                    (
                        today - TimeDelta::days(31),
                        "Parental leave; the account stays enabled for payroll self-service",
                        "Dana Whitfield (CISO)",
                    )
                } else {
                    (
                        today + TimeDelta::days(92),
                        "Field engineer without a company phone; FIDO2 key on order (ticket SEC-1042)",
                        "Dana Whitfield (CISO)",
                    )
                };
                summary.exceptions.push(ExceptionInfo {
                    account: account(core.methods.unwrap_or(&[])),
                    reason: reason.to_string(),
                    approved_by: approved_by.to_string(),
                    expires,
                    expired,
                });
            }
            Some(Special::Helpdesk) => helpdesk = Some(p.clone()),
            None => {}
        }
    }
    let (pages, items) = users.finish()?;
    summary
        .pages
        .push((Source::Users.to_string(), pages, items));
    let helpdesk = helpdesk.expect("the helpdesk account is always generated");

    // Pass 2: the registration report, in the same order, without disabled users.
    let mut walker = Walker::new(spec);
    let mut rows = PageWriter::new(dir, Source::Registration, spec.users_per_page, tokens);
    for i in 0..spec.users {
        let core = walker.next(i);
        let Some(methods) = core.methods else {
            continue;
        };
        let guest_domain = core.guest.then(|| guest_domain(spec.seed, i));
        let p = walker.person(i, core.special, guest_domain);
        rows.push(|out| {
            write_registration(out, &p, core.guest, core.admin, core.last_updated, methods)
        })?;
    }
    let (pages, items) = rows.finish()?;
    summary.registration_rows = items;
    summary
        .pages
        .push((Source::Registration.to_string(), pages, items));

    // The break-glass group.
    let members: Vec<(String, String)> = summary
        .break_glass
        .iter()
        .map(|a| (a.id.clone(), a.user_principal_name.clone()))
        .collect();
    write_file(
        &dir.join(page_file(Source::BreakGlass, 1)),
        &break_glass_json(&members),
    )?;
    summary
        .pages
        .push((Source::BreakGlass.to_string(), 1, members.len() as u64));

    // Audit events, newest first as Graph returns them.
    events.sort_by_key(|e| std::cmp::Reverse((e.0, e.1, e.2)));
    let mut audits = PageWriter::new(dir, Source::Audits, spec.audits_per_page, tokens);
    let walker = Walker::new(spec);
    for (t, ticks, i, activity, m) in events {
        // Events are only generated for members, whose identity needs no walk.
        let i = i as usize;
        let target = walker.person(i, walker.special_at(i), None);
        let method = Some(m);
        let initiator = if activity == Activity::AdminRegistered {
            &helpdesk
        } else {
            &target
        };
        let id_hash = mix3(spec.seed, 0xA0D1, (i as u64) << 8 | activity as u64);
        audits.push(|out| {
            write_audit(
                out,
                id_hash,
                (t, ticks),
                activity,
                &target,
                initiator,
                method,
            )
        })?;
    }
    let (pages, items) = audits.finish()?;
    summary.audit_events = items;
    summary
        .pages
        .push((Source::Audits.to_string(), pages, items));

    write_file(
        &dir.join(page_file(Source::AuthMethodsPolicy, 1)),
        &methods_policy_json(now - 200 * DAY),
    )?;
    summary
        .pages
        .push((Source::AuthMethodsPolicy.to_string(), 1, 1));
    write_file(
        &dir.join(page_file(Source::ConditionalAccess, 1)),
        &conditional_access_json(spec.seed, &group_id, tenant_created + 400 * DAY),
    )?;
    summary
        .pages
        .push((Source::ConditionalAccess.to_string(), 1, 5));

    write_provenance(dir, &group_id, &summary.pages)?;
    Ok(summary)
}

fn guest_domain(seed: u64, i: usize) -> &'static str {
    names::GUEST_DOMAINS
        [(mix3(seed, 0x6E57, i as u64) % names::GUEST_DOMAINS.len() as u64) as usize]
}

/// The configuration file that matches a generated tenant: its break-glass group and its
/// exceptions, annotated.
pub fn config_toml(summary: &TenantSummary) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "# mfa-evidence configuration for {} (tenant {}).\n",
        summary.tenant_name, summary.tenant_id
    ));
    s.push_str(
        "# Control ID-01 \"User MFA registration\": every setting below is shown with its default\n\
         # unless the tenant needs another value.\n\n",
    );
    s.push_str(
        "[control]\n\
         # The registered share of in-scope users at or above which the control passes (two decimals).\n\
         threshold_percent = 95.0\n\
         # Guests are out of scope by default; set true to count them.\n\
         include_guests = false\n\
         # How old the registration report may be at the as-of time before it counts as stale.\n\
         max_report_age_hours = 48\n\n",
    );
    s.push_str(
        "[break_glass]\n\
         # Emergency access accounts: every transitive member of this group is excluded from the\n\
         # figure and reported on its own, with whether its methods are phishing-resistant.\n",
    );
    s.push_str(&format!(
        "group_id = \"{}\"\n",
        summary.break_glass_group_id
    ));
    s.push_str("# Accounts can also be named directly:\n# user_ids = []\n# upns = []\n\n");
    s.push_str(
        "[monitoring]\n\
         # A gap between two snapshots longer than this is reported as monitoring that was not continuous.\n\
         max_gap_hours = 48\n",
    );
    for e in &summary.exceptions {
        s.push('\n');
        s.push_str(&format!(
            "# {} ({}): {}\n",
            e.account.display_name,
            if e.expired {
                "expired: no longer honoured, the user is back in scope and reported"
            } else {
                "valid until the end of the expiry date, UTC"
            },
            e.account.user_principal_name
        ));
        s.push_str("[[exceptions]]\n");
        if e.expired {
            s.push_str(&format!("user_id = \"{}\"\n", e.account.id));
        } else {
            s.push_str(&format!("upn = \"{}\"\n", e.account.user_principal_name));
        }
        s.push_str(&format!("reason = \"{}\"\n", e.reason));
        s.push_str(&format!("approved_by = \"{}\"\n", e.approved_by));
        s.push_str(&format!("expires = \"{}\"\n", e.expires.format("%Y-%m-%d")));
    }
    s
}
