//! Stage 1, classify: every user from /users gets one classification, first match wins
//! (break-glass, disabled, guest, exception, in scope), and an in-scope user is registered when
//! the registration report holds a qualifying method for them.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use crate::config::{ControlSettings, Exception};
use crate::control::methods;
use crate::snapshot::{GroupMember, Registration, Snapshot, User};
use crate::source::Source;
use chrono::NaiveDate;

crate::vocabulary! {
    /// One classification per user, first match wins, in this order.
    pub enum Classification {
        BreakGlass => "break-glass",
        Disabled => "disabled",
        Guest => "guest",
        Exception => "exception",
        InScope => "in-scope",
    }
}

crate::vocabulary! {
    /// How a break-glass account was identified (the first match).
    pub enum MatchedBy {
        UserId => "user-id",
        Upn => "upn",
        Group => "group",
    }
}

/// Why a user has the classification they have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reason<'a> {
    BreakGlass(MatchedBy),
    Disabled,
    Guest,
    /// The honoured exception.
    Exception(&'a Exception),
    /// In scope; `exception_expired` when an exception names the user but had expired.
    InScope {
        exception_expired: bool,
    },
}

/// One user's evaluation; borrows from the snapshot so a large tenant is not copied.
#[derive(Debug, Clone)]
pub struct UserRow<'a> {
    pub user: &'a User,
    pub registration: Option<&'a Registration>,
    pub reason: Reason<'a>,
    /// For in-scope users only: holds a qualifying method.
    pub registered: Option<bool>,
}

impl<'a> UserRow<'a> {
    pub fn classification(&self) -> Classification {
        match self.reason {
            Reason::BreakGlass(_) => Classification::BreakGlass,
            Reason::Disabled => Classification::Disabled,
            Reason::Guest => Classification::Guest,
            Reason::Exception(_) => Classification::Exception,
            Reason::InScope { .. } => Classification::InScope,
        }
    }

    /// The honoured exception, for excluded.csv.
    pub fn exception(&self) -> Option<&'a Exception> {
        match self.reason {
            Reason::Exception(e) => Some(e),
            _ => None,
        }
    }

    pub fn methods(&self) -> &'a [String] {
        self.registration
            .map_or(&[], |r| r.methods_registered.as_slice())
    }

    /// The user's methods that qualify under the settings, in the report's order.
    pub fn qualifying_methods<'s>(
        &self,
        settings: &'s ControlSettings,
    ) -> impl Iterator<Item = &'a str> + use<'a, 's> {
        self.methods()
            .iter()
            .filter(move |m| settings.qualifying_methods.contains(m.as_str()))
            .map(String::as_str)
    }

    pub fn phishing_resistant(&self) -> bool {
        self.methods()
            .iter()
            .any(|m| methods::is_phishing_resistant(m))
    }
}

/// The stored break-glass group members, when they are the members of the configured group. A
/// live collection records the group's id in its endpoint; an offline export names no group and
/// is taken as the configured one. `None` when no group is configured or its members are not in
/// the snapshot.
pub(crate) fn break_glass_group<'a>(
    snapshot: &'a Snapshot,
    settings: &ControlSettings,
) -> Option<&'a [GroupMember]> {
    let group = settings.break_glass.group_id.as_deref()?;
    let members = snapshot.break_glass_members.as_deref()?;
    let recorded = snapshot
        .collection
        .sources
        .iter()
        .find(|s| s.name == Source::BreakGlass)
        .and_then(|s| s.endpoint.as_deref()?.split("/groups/").nth(1))
        .and_then(|rest| rest.split('/').next())
        .filter(|id| !id.is_empty() && !id.starts_with('{'));
    match recorded {
        Some(id) if !id.eq_ignore_ascii_case(group) => None,
        _ => Some(members),
    }
}

/// A guest by /users' `userType`, or, where /users did not return it, by the registration
/// report's (which spells it `guest`).
fn is_guest(user: &User, registration: Option<&Registration>) -> bool {
    if user.user_type.is_empty() {
        registration.is_some_and(|r| r.user_type.eq_ignore_ascii_case("guest"))
    } else {
        user.is_guest()
    }
}

/// An exception is honoured through the end of its expiry day (UTC).
pub(crate) fn exception_active(exception: &Exception, as_of: NaiveDate) -> bool {
    as_of <= exception.expires
}

/// Every user's row, sorted by UPN (case-insensitive), then id.
pub(crate) fn classify<'a>(
    snapshot: &'a Snapshot,
    settings: &'a ControlSettings,
    as_of: NaiveDate,
    group_members: Option<&'a [GroupMember]>,
) -> Vec<UserRow<'a>> {
    let registrations: HashMap<&str, &Registration> = snapshot
        .registrations
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect();
    let lower =
        |list: &[String]| -> HashSet<String> { list.iter().map(|s| s.to_lowercase()).collect() };
    let bg_ids = lower(&settings.break_glass.user_ids);
    let bg_upns = lower(&settings.break_glass.upns);
    // Group members count only for the group the settings name: members stored with a snapshot
    // under an earlier `group_id` must not exclude anyone now.
    let bg_members: HashSet<&str> = group_members
        .into_iter()
        .flatten()
        .map(|m| m.id.as_str())
        .collect();

    // The latest-expiring exception per user, by id and by UPN.
    let mut exception_by_key: HashMap<String, &Exception> = HashMap::new();
    for e in &settings.exceptions {
        for key in [e.user_id.as_ref(), e.upn.as_ref()].into_iter().flatten() {
            let key = key.to_lowercase();
            let keep = exception_by_key
                .get(&key)
                .is_none_or(|old| old.expires < e.expires);
            if keep {
                exception_by_key.insert(key, e);
            }
        }
    }

    let mut rows: Vec<UserRow> = Vec::with_capacity(snapshot.users.len());
    let mut upns: Vec<Cow<'a, str>> = Vec::with_capacity(snapshot.users.len());
    for user in &snapshot.users {
        let registration = registrations.get(user.id.as_str()).copied();
        let upn = lowercase(&user.user_principal_name);
        let id = lowercase(&user.id);
        // The latest-expiring exception naming the user by id or by UPN: a renewal written with
        // the other key must not be hidden by the expired original.
        let exception = [&id, &upn]
            .into_iter()
            .filter_map(|key| exception_by_key.get(key.as_ref()).copied())
            .max_by_key(|e| e.expires);
        let reason = if bg_ids.contains(id.as_ref()) {
            Reason::BreakGlass(MatchedBy::UserId)
        } else if bg_upns.contains(upn.as_ref()) {
            Reason::BreakGlass(MatchedBy::Upn)
        } else if bg_members.contains(user.id.as_str()) {
            Reason::BreakGlass(MatchedBy::Group)
        } else if user.account_enabled == Some(false) {
            Reason::Disabled
        } else if is_guest(user, registration) && !settings.include_guests {
            Reason::Guest
        } else if let Some(e) = exception.filter(|e| exception_active(e, as_of)) {
            Reason::Exception(e)
        } else {
            Reason::InScope {
                exception_expired: exception.is_some(),
            }
        };
        let registered = matches!(reason, Reason::InScope { .. }).then(|| {
            registration.is_some_and(|r| {
                r.methods_registered
                    .iter()
                    .any(|m| settings.qualifying_methods.contains(m.as_str()))
            })
        });
        rows.push(UserRow {
            user,
            registration,
            reason,
            registered,
        });
        upns.push(upn);
    }
    // Sorted through indices, by keys computed once per user (borrowed where already lower case):
    // lower-casing inside a comparator allocates per comparison.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| (&upns[a], &rows[a].user.id).cmp(&(&upns[b], &rows[b].user.id)));
    let mut rows: Vec<Option<UserRow>> = rows.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|i| rows[i].take().expect("each index once"))
        .collect()
}

/// `text` in lower case (as `str::to_lowercase`), borrowed when it is ASCII already in lower case.
fn lowercase(text: &str) -> Cow<'_, str> {
    if !text.is_ascii() {
        Cow::Owned(text.to_lowercase())
    } else if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}
