//! One snapshot as the period reads it: its figure and result, and per user only the id, the
//! UPN and whether they were in scope and registered. Built with the same classification rules
//! and the same decision as the point-in-time evaluation, from a snapshot or straight from the
//! columns of a compact record (so a period does not build every user's strings again).

use chrono::{DateTime, Utc};

use crate::config::ControlSettings;
use crate::evaluate::classify::{self, Classifier, UserFacts};
use crate::evaluate::{ControlResult, Figure, outcome, source_check};
use crate::snapshot::{AuditEvent, CollectionRecord, GroupMember, Snapshot};

/// One snapshot's point in the period.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotPoint {
    pub figure: Figure,
    pub result: ControlResult,
    pub audit_events: Option<Vec<AuditEvent>>,
    /// Every user's id then UPN, back to back: one buffer instead of two strings per user.
    text: String,
    users: Vec<PointUser>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct PointUser {
    /// Where the user's id ends and their UPN starts in `text`; the UPN ends where the next
    /// user's id starts.
    id_end: usize,
    upn_end: usize,
    /// `None` out of scope; in scope, whether registered.
    registered: Option<bool>,
}

/// One user as the period reads them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointRow<'p> {
    pub id: &'p str,
    pub user_principal_name: &'p str,
    pub in_scope: bool,
    pub registered: bool,
}

impl SnapshotPoint {
    /// The point of a whole snapshot.
    pub fn of(snapshot: &Snapshot, settings: &ControlSettings) -> SnapshotPoint {
        let registrations = classify::registration_of_id(snapshot);
        let mut builder = PointBuilder::new(
            settings,
            snapshot.collected_at,
            &snapshot.collection,
            snapshot.break_glass_members.as_deref(),
            snapshot.users.len(),
        );
        for user in &snapshot.users {
            let registration = registrations.get(user.id.as_str());
            builder.add(
                &UserFacts::of(user),
                registration.map(|r| r.user_type.as_str()),
                registration.map(|r| r.methods_registered.iter().map(String::as_str)),
            );
        }
        builder.finish(snapshot.audit_events.clone())
    }

    /// Every user, in the snapshot's order.
    pub fn rows(&self) -> impl Iterator<Item = PointRow<'_>> {
        let mut start = 0;
        self.users.iter().map(move |u| {
            let row = PointRow {
                id: &self.text[start..u.id_end],
                user_principal_name: &self.text[u.id_end..u.upn_end],
                in_scope: u.registered.is_some(),
                registered: u.registered == Some(true),
            };
            start = u.upn_end;
            row
        })
    }
}

/// Builds a [`SnapshotPoint`] one user at a time.
pub(crate) struct PointBuilder<'s> {
    classifier: Classifier<'s>,
    settings: &'s ControlSettings,
    collection: &'s CollectionRecord,
    group_members_found: bool,
    figure: Figure,
    text: String,
    users: Vec<PointUser>,
}

impl<'s> PointBuilder<'s> {
    /// `users` is how many users will be added (for the buffers' capacity).
    pub(crate) fn new(
        settings: &'s ControlSettings,
        collected_at: DateTime<Utc>,
        collection: &'s CollectionRecord,
        break_glass_members: Option<&[GroupMember]>,
        users: usize,
    ) -> PointBuilder<'s> {
        let group_members = classify::break_glass_group(collection, break_glass_members, settings);
        PointBuilder {
            classifier: Classifier::new(settings, collected_at.date_naive(), group_members),
            settings,
            collection,
            group_members_found: group_members.is_some(),
            figure: Figure::default(),
            text: String::with_capacity(users * 64),
            users: Vec::with_capacity(users),
        }
    }

    /// Adds the next user, with their registration row's `userType` and methods when they have
    /// a row.
    pub(crate) fn add<'m>(
        &mut self,
        user: &UserFacts,
        report_user_type: Option<&str>,
        methods: Option<impl IntoIterator<Item = &'m str>>,
    ) {
        let reason = self.classifier.reason(user, report_user_type);
        let registered = self.classifier.registered(&reason, methods);
        self.figure.count(registered);
        self.text.push_str(user.id);
        let id_end = self.text.len();
        self.text.push_str(user.user_principal_name);
        self.users.push(PointUser {
            id_end,
            upn_end: self.text.len(),
            registered,
        });
    }

    pub(crate) fn finish(self, audit_events: Option<Vec<AuditEvent>>) -> SnapshotPoint {
        let sources = &self.collection.sources;
        let check = source_check(sources, self.settings, self.group_members_found);
        let (result, _) = outcome(sources, &check, self.figure, self.settings);
        SnapshotPoint {
            figure: self.figure,
            result,
            audit_events,
            text: self.text,
            users: self.users,
        }
    }
}
