//! Control ID-01 "User MFA registration": its definition in one place, the text of the control,
//! the Trust Services Criteria it supports and the registration methods it counts. The rule
//! itself is applied by `evaluate`; this module only says what the control is.

pub mod methods;

use std::collections::BTreeSet;

use self::methods::GROUPS;

pub const ID: &str = "ID-01";
pub const TITLE: &str = "User MFA registration";

/// A Trust Services Criterion (AICPA TSC 2017) and the role the control plays for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Criterion {
    pub id: &'static str,
    pub role: &'static str,
}

/// The criteria ID-01 supports, primary first.
pub const CRITERIA: [Criterion; 4] = [
    Criterion {
        id: "CC6.1",
        role: "primary: logical access security measures, authentication",
    },
    Criterion {
        id: "CC6.2",
        role: "supporting: registration and authorization of users",
    },
    Criterion {
        id: "CC6.6",
        role: "supporting: protection against threats from outside system boundaries",
    },
    Criterion {
        id: "CC7.1",
        role: "monitoring: detection of configuration changes and continuous collection",
    },
];

/// The control statement as configured: the threshold, the kinds of qualifying method and who is
/// out of scope.
pub fn statement(
    threshold_percent: &str,
    include_guests: bool,
    qualifying: &BTreeSet<String>,
) -> String {
    let mut kinds: Vec<&str> = GROUPS
        .iter()
        .filter(|(_, list)| list.iter().any(|m| qualifying.contains(*m)))
        .map(|(group, _)| group.in_words())
        .collect();
    if qualifying.iter().any(|m| methods::group_of(m).is_none()) {
        kinds.push("another configured method");
    }
    let kinds = match kinds.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}, or {last}", rest.join(", ")),
        _ => kinds.concat(),
    };
    format!(
        "At least {threshold_percent} % of in-scope users have a multi-factor authentication method registered \
         ({kinds}). In scope: every user of the Microsoft Entra ID tenant except break-glass (emergency \
         access) accounts, disabled accounts{}, and users under an approved, unexpired exception.",
        if include_guests { "" } else { ", guests" }
    )
}
