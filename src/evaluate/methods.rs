//! The registration methods: which group each known `methodsRegistered` string belongs to, and the
//! default qualifying set of ID-01. `methodsRegistered` is an open list of strings in Graph, so
//! anything not named here is kept, shown as "other", and reported as unknown.

use std::collections::BTreeSet;

/// The three groups of qualifying methods, with their display labels and members.
pub const GROUPS: [(&str, &str, &[&str]); 3] = [
    (
        "authenticator",
        "Microsoft Authenticator",
        &[
            "microsoftAuthenticatorPush",
            "microsoftAuthenticatorPasswordless",
            "passKeyDeviceBoundAuthenticator",
        ],
    ),
    (
        "security-key",
        "Security key or passkey",
        &[
            "fido2",
            "fido2SecurityKey",
            "passKeyDeviceBound",
            "passKeyDeviceBoundWindowsHello",
            "passKeySynced",
        ],
    ),
    (
        "phone",
        "Phone",
        &["mobilePhone", "alternateMobilePhone", "officePhone"],
    ),
];

/// Methods Graph documents that do not qualify by default (shown as "other methods").
pub const OTHER_KNOWN: [&str; 9] = [
    "softwareOneTimePasscode",
    "hardwareOneTimePasscode",
    "windowsHelloForBusiness",
    "macOsSecureEnclaveKey",
    "temporaryAccessPass",
    "email",
    "securityQuestion",
    "appPassword",
    "none",
];

/// Phishing-resistant methods, for break-glass accounts: FIDO2 keys, passkeys, certificates.
/// Certificate-based spellings are not documented for this report, so any method containing
/// "certificate" counts.
pub fn is_phishing_resistant(method: &str) -> bool {
    matches!(
        method,
        "fido2"
            | "fido2SecurityKey"
            | "passKeyDeviceBound"
            | "passKeyDeviceBoundAuthenticator"
            | "passKeyDeviceBoundWindowsHello"
            | "passKeySynced"
    ) || method.to_ascii_lowercase().contains("certificate")
}

pub fn default_qualifying() -> BTreeSet<String> {
    GROUPS
        .iter()
        .flat_map(|(_, _, methods)| methods.iter().map(|m| m.to_string()))
        .collect()
}

/// The group a method belongs to (`authenticator` | `security-key` | `phone`), if any.
pub fn group_of(method: &str) -> Option<&'static str> {
    GROUPS
        .iter()
        .find(|(_, _, methods)| methods.contains(&method))
        .map(|(group, _, _)| *group)
}

/// Whether Graph documents this method string at all.
pub fn is_known(method: &str) -> bool {
    group_of(method).is_some() || OTHER_KNOWN.contains(&method)
}
