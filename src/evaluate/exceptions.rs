//! Stage 4, exceptions: each configured exception with what became of it at the as-of time.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::classify::{UserRow, exception_active};
use crate::config::ControlSettings;

crate::vocabulary! {
    /// What became of a configured exception at the as-of time.
    pub enum ExceptionStatus {
        /// The user is excluded under it.
        Honoured => "honoured",
        /// Past its expiry date: not honoured.
        Expired => "expired",
        /// No listed user carries its id or UPN.
        NotFound => "not-found",
        /// An earlier rule classified the user, or a later-expiring exception applies.
        Superseded => "superseded",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExceptionState {
    pub user_id: Option<String>,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
    pub reason: String,
    pub approved_by: String,
    /// Honoured through the end of this day (UTC).
    pub expires: NaiveDate,
    pub status: ExceptionStatus,
}

impl ExceptionState {
    /// The UPN the exception names, else its user id.
    pub fn who(&self) -> &str {
        self.user_principal_name
            .as_deref()
            .or(self.user_id.as_deref())
            .unwrap_or_default()
    }
}

pub(crate) fn exception_states(
    rows: &[UserRow],
    settings: &ControlSettings,
    as_of: NaiveDate,
) -> Vec<ExceptionState> {
    settings
        .exceptions
        .iter()
        .map(|e| {
            let row = rows.iter().find(|r| {
                e.user_id
                    .as_ref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(&r.user.id))
                    || e.upn
                        .as_ref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(&r.user.user_principal_name))
            });
            let status = match row {
                None => ExceptionStatus::NotFound,
                Some(_) if !exception_active(e, as_of) => ExceptionStatus::Expired,
                Some(r) if r.exception().is_some_and(|h| std::ptr::eq(h, e)) => {
                    ExceptionStatus::Honoured
                }
                Some(_) => ExceptionStatus::Superseded,
            };
            ExceptionState {
                user_id: e.user_id.clone().or_else(|| row.map(|r| r.user.id.clone())),
                user_principal_name: e
                    .upn
                    .clone()
                    .or_else(|| row.map(|r| r.user.user_principal_name.clone())),
                display_name: row.map(|r| r.user.display_name.clone()),
                reason: e.reason.clone(),
                approved_by: e.approved_by.clone(),
                expires: e.expires,
                status,
            }
        })
        .collect()
}
