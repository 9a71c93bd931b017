//! The registration methods: which group each known `methodsRegistered` string belongs to, and the
//! default qualifying set of ID-01. `methodsRegistered` is an open list of strings in Graph, so
//! anything not named here is kept, shown as "other", and reported as unknown.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// A group of qualifying methods, as the control names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodGroup {
    Authenticator,
    SecurityKey,
    Phone,
}

impl MethodGroup {
    /// The group's place in [`GROUPS`].
    pub fn place(self) -> usize {
        match self {
            MethodGroup::Authenticator => 0,
            MethodGroup::SecurityKey => 1,
            MethodGroup::Phone => 2,
        }
    }

    /// The stable key in evidence.json.
    pub fn key(self) -> &'static str {
        match self {
            MethodGroup::Authenticator => "authenticator",
            MethodGroup::SecurityKey => "security-key",
            MethodGroup::Phone => "phone",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MethodGroup::Authenticator => "Microsoft Authenticator",
            MethodGroup::SecurityKey => "Security key or passkey",
            MethodGroup::Phone => "Phone",
        }
    }

    /// How the control statement names the group.
    pub fn in_words(self) -> &'static str {
        match self {
            MethodGroup::Authenticator => "Microsoft Authenticator",
            MethodGroup::SecurityKey => "a security key or passkey",
            MethodGroup::Phone => "a phone",
        }
    }
}

/// The three groups of qualifying methods and their members, in display order.
pub const GROUPS: [(MethodGroup, &[&str]); 3] = [
    (
        MethodGroup::Authenticator,
        &[
            "microsoftAuthenticatorPush",
            "microsoftAuthenticatorPasswordless",
            "passKeyDeviceBoundAuthenticator",
        ],
    ),
    (
        MethodGroup::SecurityKey,
        &[
            "fido2",
            "fido2SecurityKey",
            "passKeyDeviceBound",
            "passKeyDeviceBoundWindowsHello",
            "passKeySynced",
        ],
    ),
    (
        MethodGroup::Phone,
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
        .flat_map(|(_, methods)| methods.iter().map(|m| m.to_string()))
        .collect()
}

/// The group a method belongs to, if any.
pub fn group_of(method: &str) -> Option<MethodGroup> {
    GROUPS
        .iter()
        .find(|(_, methods)| methods.contains(&method))
        .map(|(group, _)| *group)
}

/// Whether Graph documents this method string at all.
pub fn is_known(method: &str) -> bool {
    group_of(method).is_some() || OTHER_KNOWN.contains(&method)
}

#[cfg(test)]
mod tests {
    use super::GROUPS;

    #[test]
    fn each_group_is_at_its_place() {
        for (at, (group, _)) in GROUPS.iter().enumerate() {
            assert_eq!(group.place(), at, "{group:?}");
        }
    }
}
