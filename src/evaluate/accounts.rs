//! Stage 3, break-glass accounts: every account classified so, with its methods and whether one
//! is phishing-resistant, and every configured account that no listed user carries.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::classify::{MatchedBy, Reason, UserRow};
use crate::config::ControlSettings;
use crate::snapshot::Snapshot;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakGlassAccount {
    pub user_id: String,
    pub user_principal_name: String,
    pub display_name: String,
    /// How the account was identified (first match).
    pub matched_by: MatchedBy,
    /// False for a configured id or UPN that no listed user carries.
    pub found: bool,
    pub account_enabled: Option<bool>,
    pub methods: Vec<String>,
    /// Holds FIDO2, a passkey or certificate-based authentication.
    pub phishing_resistant: bool,
}

pub(crate) fn break_glass_accounts(
    rows: &[UserRow],
    snapshot: &Snapshot,
    settings: &ControlSettings,
) -> Vec<BreakGlassAccount> {
    let mut accounts: Vec<BreakGlassAccount> = rows
        .iter()
        .filter_map(|r| match r.reason {
            Reason::BreakGlass(matched_by) => Some(BreakGlassAccount {
                user_id: r.user.id.clone(),
                user_principal_name: r.user.user_principal_name.clone(),
                display_name: r.user.display_name.clone(),
                matched_by,
                found: true,
                account_enabled: r.user.account_enabled,
                methods: r.methods().to_vec(),
                phishing_resistant: r.phishing_resistant(),
            }),
            _ => None,
        })
        .collect();
    // Built only when the settings name accounts directly: most name a group alone.
    let known = |key: fn(&crate::snapshot::User) -> &str, wanted: &[String]| -> HashSet<String> {
        if wanted.is_empty() {
            return HashSet::new();
        }
        snapshot
            .users
            .iter()
            .map(|u| key(u).to_lowercase())
            .collect()
    };
    let known_ids = known(|u| &u.id, &settings.break_glass.user_ids);
    let known_upns = known(|u| &u.user_principal_name, &settings.break_glass.upns);
    let missing = |matched_by, user_id: &str, upn: &str| BreakGlassAccount {
        user_id: user_id.to_string(),
        user_principal_name: upn.to_string(),
        display_name: String::new(),
        matched_by,
        found: false,
        account_enabled: None,
        methods: Vec::new(),
        phishing_resistant: false,
    };
    for id in &settings.break_glass.user_ids {
        if !known_ids.contains(&id.to_lowercase()) {
            accounts.push(missing(MatchedBy::UserId, id, ""));
        }
    }
    for upn in &settings.break_glass.upns {
        if !known_upns.contains(&upn.to_lowercase()) {
            accounts.push(missing(MatchedBy::Upn, "", upn));
        }
    }
    accounts
}
