//! Stage 1, classify: every user from /users gets one classification, first match wins
//! (break-glass, disabled, guest, exception, in scope), and an in-scope user is registered when
//! the registration report holds a qualifying method for them.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;

use crate::config::{ControlSettings, Exception};
use crate::control::methods;
use crate::snapshot::{CollectionRecord, GroupMember, Registration, Snapshot, User};
use crate::source::Source;
use crate::{cores, order};
use chrono::NaiveDate;
use rustc_hash::FxHashMap;

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
    collection: &CollectionRecord,
    members: Option<&'a [GroupMember]>,
    settings: &ControlSettings,
) -> Option<&'a [GroupMember]> {
    let group = settings.break_glass.group_id.as_deref()?;
    let members = members?;
    let recorded = collection
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

/// An exception is honoured through the end of its expiry day (UTC).
pub(crate) fn exception_active(exception: &Exception, as_of: NaiveDate) -> bool {
    as_of <= exception.expires
}

/// What classification reads of one user, borrowed from wherever the user is held: a snapshot,
/// or the columns of a compact record read for a period.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserFacts<'u> {
    pub id: &'u str,
    pub user_principal_name: &'u str,
    pub account_enabled: Option<bool>,
    /// As /users spells it, or empty.
    pub user_type: &'u str,
}

impl<'u> UserFacts<'u> {
    pub(crate) fn of(user: &'u User) -> UserFacts<'u> {
        UserFacts {
            id: &user.id,
            user_principal_name: &user.user_principal_name,
            account_enabled: user.account_enabled,
            user_type: &user.user_type,
        }
    }
}

/// The classification rules with the settings' lists prepared once per snapshot: the one place
/// that decides a user's classification and whether they are registered, for a point in time
/// and for a period alike.
pub(crate) struct Classifier<'s> {
    settings: &'s ControlSettings,
    as_of: NaiveDate,
    bg_ids: HashSet<String>,
    bg_upns: HashSet<String>,
    bg_members: HashSet<String>,
    /// The latest-expiring exception per user, by lower-case id and by lower-case UPN.
    exception_by_key: HashMap<String, &'s Exception>,
}

impl<'s> Classifier<'s> {
    /// Group members count only for the group the settings name (see [`break_glass_group`]):
    /// members stored with a snapshot under an earlier `group_id` must not exclude anyone now.
    pub(crate) fn new(
        settings: &'s ControlSettings,
        as_of: NaiveDate,
        group_members: Option<&[GroupMember]>,
    ) -> Classifier<'s> {
        let lower = |list: &[String]| -> HashSet<String> {
            list.iter().map(|s| s.to_lowercase()).collect()
        };
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
        Classifier {
            settings,
            as_of,
            bg_ids: lower(&settings.break_glass.user_ids),
            bg_upns: lower(&settings.break_glass.upns),
            bg_members: group_members
                .into_iter()
                .flatten()
                .map(|m| m.id.clone())
                .collect(),
            exception_by_key,
        }
    }

    /// Why `user` has their classification, first match wins; `report_user_type` is their
    /// registration row's `userType`, when they have a row.
    pub(crate) fn reason(&self, user: &UserFacts, report_user_type: Option<&str>) -> Reason<'s> {
        // Empty lists (the usual case) are not looked up: no key to lower-case or hash.
        let upn = || lowercase(user.user_principal_name);
        let id = || lowercase(user.id);
        // The latest-expiring exception naming the user by id or by UPN: a renewal written with
        // the other key must not be hidden by the expired original.
        let exception = if self.exception_by_key.is_empty() {
            None
        } else {
            [id(), upn()]
                .into_iter()
                .filter_map(|key| self.exception_by_key.get(key.as_ref()).copied())
                .max_by_key(|e| e.expires)
        };
        // A guest by /users' `userType`, or, where /users did not return it, by the
        // registration report's (which spells it `guest`).
        let guest = if user.user_type.is_empty() {
            report_user_type.is_some_and(|t| t.eq_ignore_ascii_case("guest"))
        } else {
            user.user_type.eq_ignore_ascii_case("guest")
        };
        if !self.bg_ids.is_empty() && self.bg_ids.contains(id().as_ref()) {
            Reason::BreakGlass(MatchedBy::UserId)
        } else if !self.bg_upns.is_empty() && self.bg_upns.contains(upn().as_ref()) {
            Reason::BreakGlass(MatchedBy::Upn)
        } else if !self.bg_members.is_empty() && self.bg_members.contains(user.id) {
            Reason::BreakGlass(MatchedBy::Group)
        } else if user.account_enabled == Some(false) {
            Reason::Disabled
        } else if guest && !self.settings.include_guests {
            Reason::Guest
        } else if let Some(e) = exception.filter(|e| exception_active(e, self.as_of)) {
            Reason::Exception(e)
        } else {
            Reason::InScope {
                exception_expired: exception.is_some(),
            }
        }
    }

    /// For an in-scope user: whether their registration row (when they have one) holds a
    /// qualifying method. `None` for everyone else.
    pub(crate) fn registered<'m>(
        &self,
        reason: &Reason,
        methods: Option<impl IntoIterator<Item = &'m str>>,
    ) -> Option<bool> {
        matches!(reason, Reason::InScope { .. }).then(|| {
            methods.is_some_and(|methods| {
                methods
                    .into_iter()
                    .any(|m| self.settings.qualifying_methods.contains(m))
            })
        })
    }
}

/// Every user's row, sorted by UPN (case-insensitive), then id.
pub(crate) fn classify<'a>(
    snapshot: &'a Snapshot,
    settings: &'a ControlSettings,
    as_of: NaiveDate,
    group_members: Option<&'a [GroupMember]>,
) -> Vec<UserRow<'a>> {
    let mut rows: Vec<UserRow> = {
        let registrations = registration_of_id(snapshot);
        let classifier = Classifier::new(settings, as_of, group_members);
        let row_of = |user: &'a User| {
            let registration = registrations.get(user.id.as_str()).copied();
            let reason = classifier.reason(
                &UserFacts::of(user),
                registration.map(|r| r.user_type.as_str()),
            );
            let registered = classifier.registered(
                &reason,
                registration.map(|r| r.methods_registered.iter().map(String::as_str)),
            );
            UserRow {
                user,
                registration,
                reason,
                registered,
            }
        };
        // Classified on every core a block at a time, the blocks kept in the users' order.
        let blocks: Vec<&'a [User]> = snapshot.users.chunks(1 << 14).collect();
        let mut rows = Vec::with_capacity(snapshot.users.len());
        let classified = cores::in_windows(
            &blocks,
            |block| block.iter().map(row_of).collect::<Vec<UserRow>>(),
            |block| -> Result<(), Infallible> {
                rows.extend(block);
                Ok(())
            },
        );
        let Ok(()) = classified;
        rows
    };
    // Sorted through indices, by keys computed once per user (borrowed where already lower
    // case: lower-casing inside a comparator allocates per comparison), then put in that order
    // in place, so a large tenant's rows are never held twice.
    let upns: Vec<Cow<str>> = rows
        .iter()
        .map(|r| lowercase(&r.user.user_principal_name))
        .collect();
    let order = order::order_by(
        rows.len(),
        |i| order::prefix(&upns[i]),
        |i| (&*upns[i], rows[i].user.id.as_str()),
    );
    drop(upns);
    order::permute(&mut rows, order);
    rows
}

/// Each user's registration row, by id: the last row naming an id is the one that counts.
pub(crate) fn registration_of_id(snapshot: &Snapshot) -> FxHashMap<&str, &Registration> {
    snapshot
        .registrations
        .iter()
        .map(|r| (r.id.as_str(), r))
        .collect()
}

/// `text` in lower case (as `str::to_lowercase`), borrowed when it is ASCII already in lower case.
pub(crate) fn lowercase(text: &str) -> Cow<'_, str> {
    if !text.is_ascii() {
        Cow::Owned(text.to_lowercase())
    } else if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}
