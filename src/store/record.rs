//! The compact record: per snapshot, exactly what evaluation reads, so a period never parses
//! Graph JSON again. Two files, both listed in the folder's `SHA256SUMS` (so hashed when they are
//! written and checked by every `store verify`):
//!
//! - `record.json`, the head: tenant, collection time, the collection record, and every raw page
//!   with its size and the SHA-256 of its uncompressed bytes (what Graph returned, and what a
//!   package's `raw/` holds). Small: `store verify` reads it to check the ledger line.
//! - `record.bin.zst`, the body: users, registration rows, break-glass members, audit events and
//!   policies, in postcard (a compact serde binary form), zstd-compressed. Record format 1 (the
//!   first) holds the lists as they are; format 2 (written now) holds users and registration rows
//!   column by column, GUIDs as 16 bytes, and a registration row that names the same id, UPN and
//!   display name as a user as a link to that user. Both are read.
//!
//! The record is derived from the raw pages by the import at write time; `store verify --deep`
//! derives it again and compares.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::config::ControlSettings;
use crate::digest::HashingWriter;
use crate::evaluate::classify::UserFacts;
use crate::evaluate::period::{PointBuilder, SnapshotPoint};
use crate::files::create_private_file;
use crate::snapshot::{
    AuditEvent, AuthMethodsPolicy, CollectionRecord, ConditionalAccessPolicy, GroupMember,
    Registration, Snapshot, Tenant, User,
};
use crate::time::GraphTime;

pub(super) const HEAD_FILE: &str = "record.json";
pub(super) const BODY_FILE: &str = "record.bin.zst";
/// Bumped whenever the body's encoding changes: postcard carries no field names. The format
/// written now; [`LEGACY_FORMAT`] is still read.
const RECORD_FORMAT: u32 = 2;
/// The lists as they are (the first compact record).
const LEGACY_FORMAT: u32 = 1;
/// zstd level of the body and the raw pages: level 6 stores a 100,000-user snapshot's pages in
/// 8 % less than level 3 for about a quarter more compression time, which the import spreads
/// over the cores; higher levels gain little more and cost several times the time.
pub const ZSTD_LEVEL: i32 = 6;

/// One raw page as Graph returned it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawPage {
    /// The page's name in the import layout, e.g. `users-0001.json`.
    pub name: String,
    /// Its uncompressed size and SHA-256.
    pub size: u64,
    pub sha256: String,
}

/// `record.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Head {
    pub record_format: u32,
    pub schema_version: u32,
    pub tenant: Tenant,
    #[serde(with = "crate::time::secs")]
    pub collected_at: DateTime<Utc>,
    pub collection: CollectionRecord,
    /// Sorted by name.
    pub raw: Vec<RawPage>,
    /// SHA-256 of the body's uncompressed bytes: a snapshot derived again from the pages
    /// agrees with the body when its encoding has this hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
}

impl Head {
    /// The head's own fields agree with `snapshot`'s.
    pub fn agrees_with(&self, snapshot: &Snapshot) -> bool {
        self.schema_version == snapshot.schema_version
            && self.tenant == snapshot.tenant
            && self.collected_at == snapshot.collected_at
            && self.collection == snapshot.collection
    }
}

/// Record format 1's body: the lists as they are.
#[derive(Serialize)]
struct BodyRef<'a> {
    users: &'a [User],
    registrations: &'a [Registration],
    break_glass_members: &'a Option<Vec<GroupMember>>,
    audit_events: &'a Option<Vec<AuditEvent>>,
    auth_methods_policy: &'a Option<AuthMethodsPolicy>,
    conditional_access: &'a Option<Vec<ConditionalAccessPolicy>>,
}

impl<'a> BodyRef<'a> {
    fn of(snapshot: &'a Snapshot) -> BodyRef<'a> {
        BodyRef {
            users: &snapshot.users,
            registrations: &snapshot.registrations,
            break_glass_members: &snapshot.break_glass_members,
            audit_events: &snapshot.audit_events,
            auth_methods_policy: &snapshot.auth_methods_policy,
            conditional_access: &snapshot.conditional_access,
        }
    }
}

#[derive(Deserialize)]
struct Body {
    users: Vec<User>,
    registrations: Vec<Registration>,
    break_glass_members: Option<Vec<GroupMember>>,
    audit_events: Option<Vec<AuditEvent>>,
    auth_methods_policy: Option<AuthMethodsPolicy>,
    conditional_access: Option<Vec<ConditionalAccessPolicy>>,
}

/// An object id: a GUID as Graph writes it (lowercase, hyphenated) in its 16 bytes, anything
/// else as its text, so every id comes back byte for byte.
#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
enum Id<'a> {
    Guid([u8; 16]),
    Text(&'a str),
}

impl<'a> Id<'a> {
    fn of(text: &'a str) -> Id<'a> {
        guid_bytes(text).map_or(Id::Text(text), Id::Guid)
    }

    fn into_string(self) -> String {
        match self {
            Id::Guid(bytes) => guid_text(&bytes),
            Id::Text(text) => text.to_owned(),
        }
    }
}

/// Where the hyphens of a GUID's 36 characters are.
const GUID_HYPHENS: [usize; 4] = [8, 13, 18, 23];

fn guid_bytes(text: &str) -> Option<[u8; 16]> {
    let hex = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let b = text.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let (mut i, mut k) = (0, 0);
    while i < 36 {
        if GUID_HYPHENS.contains(&i) {
            if b[i] != b'-' {
                return None;
            }
            i += 1;
            continue;
        }
        // Each group has an even number of digits, so a pair never spans a hyphen.
        out[k] = (hex(b[i])? << 4) | hex(b[i + 1])?;
        k += 1;
        i += 2;
    }
    Some(out)
}

fn guid_text(bytes: &[u8; 16]) -> String {
    guid_text_in(bytes, &mut [0; 36]).to_owned()
}

/// A GUID's text written into `out`, without allocating.
fn guid_text_in<'b>(bytes: &[u8; 16], out: &'b mut [u8; 36]) -> &'b str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut at = 0;
    for (k, byte) in bytes.iter().enumerate() {
        if matches!(k, 4 | 6 | 8 | 10) {
            out[at] = b'-';
            at += 1;
        }
        out[at] = DIGITS[usize::from(byte >> 4)];
        out[at + 1] = DIGITS[usize::from(byte & 0x0f)];
        at += 2;
    }
    std::str::from_utf8(out).expect("hex digits and hyphens")
}

/// A time: as its instant and the number of fraction digits Graph wrote when those give its text
/// back byte for byte (7 or 9 bytes instead of 20 to 30 of text that does not compress), or
/// else as its text.
#[derive(Clone, Copy, Serialize, Deserialize)]
enum Time<'a> {
    At { secs: i64, nanos: u32, digits: u8 },
    Text(&'a str),
}

impl<'a> Time<'a> {
    fn of(time: &'a GraphTime) -> Time<'a> {
        let text = time.as_str();
        let digits = match text.len() {
            20 => Some(0),
            len @ 22..=30 if text.as_bytes()[19] == b'.' => u8::try_from(len - 21).ok(),
            _ => None,
        };
        let at = time.at();
        let (secs, nanos) = (at.timestamp(), at.timestamp_subsec_nanos());
        match digits {
            Some(digits) if time_text(secs, nanos, digits).is_some_and(|t| t.as_str() == text) => {
                Time::At {
                    secs,
                    nanos,
                    digits,
                }
            }
            _ => Time::Text(text),
        }
    }

    fn into_graph_time(self) -> Result<GraphTime> {
        match self {
            Time::At {
                secs,
                nanos,
                digits,
            } => {
                // Only digits the text has may be non-zero, or the text would not be the instant.
                let unwritten = 10u32.checked_pow(9 - u32::from(digits.min(9)));
                let at = DateTime::<Utc>::from_timestamp(secs, nanos)
                    .filter(|_| unwritten.is_some_and(|u| nanos % u == 0));
                let text = at.and_then(|_| time_text(secs, nanos, digits));
                match (at, text) {
                    (Some(at), Some(text)) => {
                        Ok(GraphTime::from_formatted(at, text.as_str().to_string()))
                    }
                    _ => anyhow::bail!("a stored time is out of range"),
                }
            }
            Time::Text(text) => {
                GraphTime::parse(text).with_context(|| format!("{text:?} is not an RFC 3339 time"))
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with `digits` digits of fraction, for years of four digits.
/// Written by hand: a record holds hundreds of thousands of times, and this runs for each.
fn time_text(secs: i64, nanos: u32, digits: u8) -> Option<TimeText> {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let at = DateTime::<Utc>::from_timestamp(secs, nanos)?;
    let year = at.year();
    if !(0..=9999).contains(&year) || digits > 9 || nanos >= 1_000_000_000 {
        return None;
    }
    let mut text = TimeText::default();
    write!(
        text,
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
    .ok()?;
    if digits > 0 {
        // The first `digits` of the nine-digit fraction.
        let shown = nanos / 10u32.pow(9 - u32::from(digits));
        write!(text, ".{shown:0width$}", width = usize::from(digits)).ok()?;
    }
    text.write_char('Z').ok()?;
    Some(text)
}

/// A time's text on the stack: [`Time::of`] writes one for every time it stores, to compare.
#[derive(Default)]
struct TimeText {
    bytes: [u8; 30],
    len: usize,
}

impl TimeText {
    fn as_str(&self) -> &str {
        // Only whole `str`s are ever written in.
        std::str::from_utf8(&self.bytes[..self.len]).expect("written as text")
    }
}

impl std::fmt::Write for TimeText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn time_of(time: &Option<GraphTime>) -> Option<Time<'_>> {
    time.as_ref().map(Time::of)
}

fn parse_time(time: Option<Time<'_>>) -> Result<Option<GraphTime>> {
    time.map(Time::into_graph_time).transpose()
}

/// Record format 2's users, column by column: like values side by side compress better.
#[derive(Serialize, Deserialize)]
struct UserColumns<'a> {
    #[serde(borrow)]
    ids: Vec<Id<'a>>,
    #[serde(borrow)]
    user_principal_names: Vec<&'a str>,
    #[serde(borrow)]
    display_names: Vec<&'a str>,
    account_enabled: Vec<Option<bool>>,
    #[serde(borrow)]
    user_types: Vec<&'a str>,
    #[serde(borrow)]
    created: Vec<Option<Time<'a>>>,
    on_premises_sync_enabled: Vec<Option<bool>>,
}

/// Record format 2's registration rows, column by column. Graph's report repeats each user's
/// id, UPN and display name; a row that names the same three as a user is stored as a link to
/// that user, and only the other rows carry their own.
#[derive(Serialize, Deserialize)]
struct RegistrationColumns<'a> {
    /// Per row: `Some(skip)`, the row's user is `skip` users after the previous linked row's
    /// (both lists are sorted by id, so this is mostly 0); `None`, its own id, UPN and display
    /// name are the next in `own_*`.
    links: Vec<Option<u32>>,
    #[serde(borrow)]
    own_ids: Vec<Id<'a>>,
    #[serde(borrow)]
    own_user_principal_names: Vec<&'a str>,
    #[serde(borrow)]
    own_display_names: Vec<&'a str>,
    #[serde(borrow)]
    user_types: Vec<&'a str>,
    is_admin: Vec<Option<bool>>,
    is_mfa_registered: Vec<Option<bool>>,
    is_mfa_capable: Vec<Option<bool>>,
    is_passwordless_capable: Vec<Option<bool>>,
    #[serde(borrow)]
    last_updated: Vec<Option<Time<'a>>>,
    #[serde(borrow)]
    methods_registered: Vec<Vec<&'a str>>,
}

/// Record format 2's body.
#[derive(Serialize, Deserialize)]
struct ColumnsBody<'a> {
    #[serde(borrow)]
    users: UserColumns<'a>,
    #[serde(borrow)]
    registrations: RegistrationColumns<'a>,
    break_glass_members: Cow<'a, Option<Vec<GroupMember>>>,
    audit_events: Cow<'a, Option<Vec<AuditEvent>>>,
    auth_methods_policy: Cow<'a, Option<AuthMethodsPolicy>>,
    conditional_access: Cow<'a, Option<Vec<ConditionalAccessPolicy>>>,
}

/// Serializes `f()`'s items as one sequence without collecting them (postcard writes a
/// sequence as its length, which an exact-size iterator gives, then its items).
struct Seq<F>(F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        out.collect_seq((self.0)())
    }
}

/// Record format 2's body written straight from a snapshot's lists, in the order and encoding
/// [`ColumnsBody`] reads: no column is collected first, so writing (or hashing) a large tenant's
/// record costs no second copy of its lists.
struct ColumnsOf<'a> {
    snapshot: &'a Snapshot,
    /// Per registration row, as [`RegistrationColumns::links`].
    links: Vec<Option<u32>>,
    /// The rows that carry their own id, UPN and display name.
    own: Vec<usize>,
}

impl<'a> ColumnsOf<'a> {
    fn new(snapshot: &'a Snapshot) -> ColumnsOf<'a> {
        let (users, rows) = (&snapshot.users, &snapshot.registrations);
        let mut links = Vec::with_capacity(rows.len());
        let mut own = Vec::new();
        // A merge walk over the two id-sorted lists; a row it cannot link (another order, a
        // repeated id, a UPN or name that differs from the user's) keeps its own values.
        let (mut at, mut next) = (0usize, 0usize);
        for (i, row) in rows.iter().enumerate() {
            while at < users.len() && users[at].id < row.id {
                at += 1;
            }
            let link = users
                .get(at)
                .filter(|u| {
                    at >= next
                        && u.id == row.id
                        && u.user_principal_name == row.user_principal_name
                        && u.display_name == row.display_name
                })
                .and_then(|_| u32::try_from(at - next).ok());
            links.push(link);
            match link {
                Some(_) => next = at + 1,
                None => own.push(i),
            }
        }
        ColumnsOf {
            snapshot,
            links,
            own,
        }
    }
}

impl Serialize for ColumnsOf<'_> {
    fn serialize<S: serde::Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let snapshot = self.snapshot;
        let mut body = out.serialize_struct("ColumnsBody", 6)?;
        body.serialize_field("users", &UserColumnsOf(&snapshot.users))?;
        body.serialize_field("registrations", &RegistrationColumnsOf(self))?;
        body.serialize_field("break_glass_members", &snapshot.break_glass_members)?;
        body.serialize_field("audit_events", &snapshot.audit_events)?;
        body.serialize_field("auth_methods_policy", &snapshot.auth_methods_policy)?;
        body.serialize_field("conditional_access", &snapshot.conditional_access)?;
        body.end()
    }
}

/// [`UserColumns`], written from the users.
struct UserColumnsOf<'a>(&'a [User]);

impl Serialize for UserColumnsOf<'_> {
    fn serialize<S: serde::Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let users = self.0;
        let mut columns = out.serialize_struct("UserColumns", 7)?;
        columns.serialize_field("ids", &Seq(|| users.iter().map(|u| Id::of(&u.id))))?;
        columns.serialize_field(
            "user_principal_names",
            &Seq(|| users.iter().map(|u| u.user_principal_name.as_str())),
        )?;
        columns.serialize_field(
            "display_names",
            &Seq(|| users.iter().map(|u| u.display_name.as_str())),
        )?;
        columns.serialize_field(
            "account_enabled",
            &Seq(|| users.iter().map(|u| u.account_enabled)),
        )?;
        columns.serialize_field(
            "user_types",
            &Seq(|| users.iter().map(|u| u.user_type.as_str())),
        )?;
        columns.serialize_field(
            "created",
            &Seq(|| users.iter().map(|u| time_of(&u.created))),
        )?;
        columns.serialize_field(
            "on_premises_sync_enabled",
            &Seq(|| users.iter().map(|u| u.on_premises_sync_enabled)),
        )?;
        columns.end()
    }
}

/// [`RegistrationColumns`], written from the registration rows and their links.
struct RegistrationColumnsOf<'c, 'a>(&'c ColumnsOf<'a>);

impl Serialize for RegistrationColumnsOf<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (rows, own) = (&self.0.snapshot.registrations, &self.0.own);
        let owned = || own.iter().map(|&i| &rows[i]);
        let mut columns = out.serialize_struct("RegistrationColumns", 11)?;
        columns.serialize_field("links", &self.0.links)?;
        columns.serialize_field("own_ids", &Seq(|| owned().map(|r| Id::of(&r.id))))?;
        columns.serialize_field(
            "own_user_principal_names",
            &Seq(|| owned().map(|r| r.user_principal_name.as_str())),
        )?;
        columns.serialize_field(
            "own_display_names",
            &Seq(|| owned().map(|r| r.display_name.as_str())),
        )?;
        columns.serialize_field(
            "user_types",
            &Seq(|| rows.iter().map(|r| r.user_type.as_str())),
        )?;
        columns.serialize_field("is_admin", &Seq(|| rows.iter().map(|r| r.is_admin)))?;
        columns.serialize_field(
            "is_mfa_registered",
            &Seq(|| rows.iter().map(|r| r.is_mfa_registered)),
        )?;
        columns.serialize_field(
            "is_mfa_capable",
            &Seq(|| rows.iter().map(|r| r.is_mfa_capable)),
        )?;
        columns.serialize_field(
            "is_passwordless_capable",
            &Seq(|| rows.iter().map(|r| r.is_passwordless_capable)),
        )?;
        columns.serialize_field(
            "last_updated",
            &Seq(|| rows.iter().map(|r| time_of(&r.last_updated))),
        )?;
        columns.serialize_field(
            "methods_registered",
            &Seq(|| {
                rows.iter()
                    .map(|r| Seq(move || r.methods_registered.iter().map(String::as_str)))
            }),
        )?;
        columns.end()
    }
}

/// Whose id, UPN and display name a registration row of record format 2 carries.
enum RowNames {
    /// The user at this index in the user columns.
    User(usize),
    /// Its own: at this index in the `own_*` columns.
    Own(usize),
}

impl RegistrationColumns<'_> {
    /// Each row's [`RowNames`], in order, for `users` users; a link past the last user is an
    /// unreadable record. (The `own_*` columns are as long as the unlinked rows are many: see
    /// [`ColumnsBody::check_lengths`].)
    fn names(&self, users: usize) -> impl Iterator<Item = Result<RowNames>> + '_ {
        let (mut next, mut own) = (0usize, 0usize);
        self.links.iter().map(move |link| match link {
            Some(skip) => {
                let at = next + *skip as usize;
                anyhow::ensure!(
                    at < users,
                    "a registration row links to a user past the last"
                );
                next = at + 1;
                Ok(RowNames::User(at))
            }
            None => {
                own += 1;
                Ok(RowNames::Own(own - 1))
            }
        })
    }
}

impl<'a> ColumnsBody<'a> {
    /// A column of the wrong length is an unreadable record.
    fn check_lengths(&self) -> Result<()> {
        let u = &self.users;
        let n = u.ids.len();
        let same_length = [
            u.user_principal_names.len(),
            u.display_names.len(),
            u.account_enabled.len(),
            u.user_types.len(),
            u.created.len(),
            u.on_premises_sync_enabled.len(),
        ]
        .iter()
        .all(|&len| len == n);
        anyhow::ensure!(same_length, "its user columns differ in length");
        let r = &self.registrations;
        let rows = r.links.len();
        let own = r.links.iter().filter(|l| l.is_none()).count();
        let same_length = [
            r.user_types.len(),
            r.is_admin.len(),
            r.is_mfa_registered.len(),
            r.is_mfa_capable.len(),
            r.is_passwordless_capable.len(),
            r.last_updated.len(),
            r.methods_registered.len(),
        ]
        .iter()
        .all(|&len| len == rows)
            && [
                r.own_ids.len(),
                r.own_user_principal_names.len(),
                r.own_display_names.len(),
            ]
            .iter()
            .all(|&len| len == own);
        anyhow::ensure!(same_length, "its registration columns differ in length");
        Ok(())
    }

    /// The lists back in our own types.
    fn into_body(self) -> Result<Body> {
        self.check_lengths()?;
        let u = &self.users;
        let users = (0..u.ids.len())
            .map(|i| {
                Ok(User {
                    id: u.ids[i].into_string(),
                    user_principal_name: u.user_principal_names[i].to_owned(),
                    display_name: u.display_names[i].to_owned(),
                    account_enabled: u.account_enabled[i],
                    user_type: u.user_types[i].to_owned(),
                    created: parse_time(u.created[i])?,
                    on_premises_sync_enabled: u.on_premises_sync_enabled[i],
                })
            })
            .collect::<Result<Vec<User>>>()?;

        let r = &self.registrations;
        let mut registrations = Vec::with_capacity(r.links.len());
        for (row, names) in r.names(users.len()).enumerate() {
            let (id, upn, name) = match names? {
                RowNames::User(at) => {
                    let user = &users[at];
                    (
                        user.id.clone(),
                        user.user_principal_name.clone(),
                        user.display_name.clone(),
                    )
                }
                RowNames::Own(i) => (
                    r.own_ids[i].into_string(),
                    r.own_user_principal_names[i].to_owned(),
                    r.own_display_names[i].to_owned(),
                ),
            };
            registrations.push(Registration {
                id,
                user_principal_name: upn,
                display_name: name,
                user_type: r.user_types[row].to_owned(),
                is_admin: r.is_admin[row],
                is_mfa_registered: r.is_mfa_registered[row],
                is_mfa_capable: r.is_mfa_capable[row],
                is_passwordless_capable: r.is_passwordless_capable[row],
                last_updated: parse_time(r.last_updated[row])?,
                methods_registered: r.methods_registered[row]
                    .iter()
                    .copied()
                    .map(str::to_owned)
                    .collect(),
            });
        }
        Ok(Body {
            users,
            registrations,
            break_glass_members: self.break_glass_members.into_owned(),
            audit_events: self.audit_events.into_owned(),
            auth_methods_policy: self.auth_methods_policy.into_owned(),
            conditional_access: self.conditional_access.into_owned(),
        })
    }

    /// The snapshot's point for a period, classified straight from the columns: no user's
    /// strings are built, and times and display names are not read.
    fn point(&self, head: &Head, settings: &ControlSettings) -> Result<SnapshotPoint> {
        self.check_lengths()?;
        let (u, r) = (&self.users, &self.registrations);
        // Each user's registration row by id, the last row naming an id counting (as for a
        // whole snapshot); a linked row names its user's id.
        let mut row_of_id: FxHashMap<&Id, usize> =
            FxHashMap::with_capacity_and_hasher(r.links.len(), Default::default());
        for (row, names) in r.names(u.ids.len()).enumerate() {
            let id = match names? {
                RowNames::User(at) => &u.ids[at],
                RowNames::Own(i) => &r.own_ids[i],
            };
            row_of_id.insert(id, row);
        }
        let mut builder = PointBuilder::new(
            settings,
            head.collected_at,
            &head.collection,
            self.break_glass_members.as_deref(),
            u.ids.len(),
        );
        let mut id_text = [0u8; 36];
        for (i, id) in u.ids.iter().enumerate() {
            let row = row_of_id.get(id).copied();
            let user = UserFacts {
                id: match id {
                    Id::Guid(bytes) => guid_text_in(bytes, &mut id_text),
                    Id::Text(text) => text,
                },
                user_principal_name: u.user_principal_names[i],
                account_enabled: u.account_enabled[i],
                user_type: u.user_types[i],
            };
            builder.add(
                &user,
                row.map(|row| r.user_types[row]),
                row.map(|row| r.methods_registered[row].iter().copied()),
            );
        }
        Ok(builder.finish(self.audit_events.as_ref().clone()))
    }
}

/// Writes `record.json` into `dir`, fsynced; returns its SHA-256.
pub(super) fn write_head(
    dir: &Path,
    snapshot: &Snapshot,
    raw: Vec<RawPage>,
    body_sha256: String,
) -> Result<String> {
    let head = Head {
        record_format: RECORD_FORMAT,
        schema_version: snapshot.schema_version,
        tenant: snapshot.tenant.clone(),
        collected_at: snapshot.collected_at,
        collection: snapshot.collection.clone(),
        raw,
        body_sha256: Some(body_sha256),
    };
    let head_bytes = serde_json::to_vec_pretty(&head)?;
    let head_file = dir.join(HEAD_FILE);
    crate::files::write_private(&head_file, &head_bytes)?;
    File::open(&head_file)?.sync_all()?;
    Ok(crate::digest::sha256_hex(&head_bytes))
}

/// Writes `record.bin.zst` into `dir`, streamed and fsynced; returns the SHA-256 of the file
/// and of the uncompressed body.
pub(super) fn write_body(dir: &Path, snapshot: &Snapshot) -> Result<(String, String)> {
    let stored = HashingWriter::new(BufWriter::with_capacity(
        1 << 20,
        create_private_file(&dir.join(BODY_FILE))?,
    ));
    let mut plain = HashingWriter::new(zstd::stream::Encoder::new(stored, ZSTD_LEVEL)?);
    encode_body(RECORD_FORMAT, snapshot, &mut plain)?;
    let (encoder, body_sha256) = plain.finish();
    let (file, file_sha256) = encoder.finish()?.finish();
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok((file_sha256, body_sha256))
}

/// SHA-256 of the stored body's uncompressed bytes, streamed.
pub(super) fn stored_body_sha256(dir: &Path) -> Result<String> {
    let path = dir.join(BODY_FILE);
    let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut decoder = zstd::stream::Decoder::new(BufReader::with_capacity(1 << 20, file))?;
    let mut out = HashingWriter::new(std::io::sink());
    std::io::copy(&mut decoder, &mut out)
        .with_context(|| format!("{} does not decompress", path.display()))?;
    Ok(out.finish().1)
}

/// SHA-256 of `snapshot`'s body as a record of `head`'s format encodes it, computed without
/// keeping it.
pub(super) fn body_sha256(head: &Head, snapshot: &Snapshot) -> Result<String> {
    let mut out = HashingWriter::new(std::io::sink());
    encode_body(head.record_format, snapshot, &mut out)?;
    Ok(out.finish().1)
}

/// Encodes `snapshot`'s body in record format `format` into `out`.
fn encode_body(format: u32, snapshot: &Snapshot, out: impl std::io::Write) -> Result<()> {
    // postcard writes field by field, a few bytes at a time: buffered, the hash and the
    // compressor see large writes (the bytes are the same).
    let mut out = BufWriter::with_capacity(1 << 16, out);
    match format {
        LEGACY_FORMAT => postcard::to_io(&BodyRef::of(snapshot), &mut out).map(drop),
        RECORD_FORMAT => postcard::to_io(&ColumnsOf::new(snapshot), &mut out).map(drop),
        other => anyhow::bail!("record format {other} is not one this version writes"),
    }
    .context("cannot encode the compact record")?;
    out.flush().context("cannot encode the compact record")
}

/// Reads `record.json` of a snapshot folder.
pub(super) fn read_head(dir: &Path) -> Result<Head> {
    let path = dir.join(HEAD_FILE);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read {}: run `mfa-evidence store verify`",
            path.display()
        )
    })?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a readable record head", path.display()))
}

/// Reads the record for a period: a record of the current format straight from its columns,
/// one of the first format through the whole snapshot.
pub(super) fn read_point(dir: &Path, settings: &ControlSettings) -> Result<SnapshotPoint> {
    let head = read_head(dir)?;
    if head.record_format != RECORD_FORMAT {
        return Ok(SnapshotPoint::of(&read_with_head(dir, head)?, settings));
    }
    let (path, bytes) = read_body_bytes(dir)?;
    postcard::from_bytes::<ColumnsBody>(&bytes)
        .map_err(anyhow::Error::from)
        .and_then(|body| body.point(&head, settings))
        .with_context(|| format!("{} is not a readable compact record", path.display()))
}

/// The decompressed body of a snapshot folder, and its path.
fn read_body_bytes(dir: &Path) -> Result<(std::path::PathBuf, Vec<u8>)> {
    let path = dir.join(BODY_FILE);
    let mut bytes = Vec::new();
    zstd::stream::Decoder::new(BufReader::with_capacity(
        1 << 20,
        File::open(&path).with_context(|| format!("cannot open {}", path.display()))?,
    ))
    .and_then(|mut d| d.read_to_end(&mut bytes))
    .with_context(|| format!("{} does not decompress", path.display()))?;
    Ok((path, bytes))
}

/// Reads the whole record back into a snapshot.
pub(super) fn read(dir: &Path) -> Result<Snapshot> {
    read_with_head(dir, read_head(dir)?)
}

/// Reads the whole record of a folder whose head is read already.
fn read_with_head(dir: &Path, head: Head) -> Result<Snapshot> {
    if head.record_format != RECORD_FORMAT && head.record_format != LEGACY_FORMAT {
        anyhow::bail!(
            "{} is of record format {}, which this version does not read: use the version that wrote it",
            dir.join(HEAD_FILE).display(),
            head.record_format
        );
    }
    let (path, bytes) = read_body_bytes(dir)?;
    let unreadable = || format!("{} is not a readable compact record", path.display());
    let body = if head.record_format == LEGACY_FORMAT {
        postcard::from_bytes::<Body>(&bytes).with_context(unreadable)?
    } else {
        postcard::from_bytes::<ColumnsBody>(&bytes)
            .map_err(anyhow::Error::from)
            .and_then(ColumnsBody::into_body)
            .with_context(unreadable)?
    };
    drop(bytes);
    Ok(Snapshot {
        schema_version: head.schema_version,
        tenant: head.tenant,
        collected_at: head.collected_at,
        collection: head.collection,
        users: body.users,
        registrations: body.registrations,
        break_glass_members: body.break_glass_members,
        audit_events: body.audit_events,
        auth_methods_policy: body.auth_methods_policy,
        conditional_access: body.conditional_access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_times_come_back_byte_for_byte() {
        for id in [
            "c5da065a-dca6-4b5f-881d-757fe3a04ce5",
            "C5DA065A-DCA6-4B5F-881D-757FE3A04CE5",
            "c5da065a-dca6-4b5f-881d-757fe3a04ce",
            "c5da065adca64b5f881d757fe3a04ce5",
            "c5da065a_dca6-4b5f-881d-757fe3a04ce5",
            "",
        ] {
            let stored = postcard::to_stdvec(&Id::of(id)).unwrap();
            let back: Id = postcard::from_bytes(&stored).unwrap();
            assert_eq!(back.into_string(), id);
        }
        assert!(matches!(
            Id::of("00000000-0000-0000-0000-00000000000f"),
            Id::Guid(_)
        ));
        for text in [
            "2026-10-31T04:41:40.4520034Z",
            "2026-10-31T04:41:40.4520000Z",
            "2026-10-31T04:41:40.000000000Z",
            "2026-10-31T04:41:40Z",
            "2026-10-31T04:41:40.5Z",
            "2026-10-31T04:41:40+00:00",
            "2026-10-31T06:41:40.123+02:00",
            "1601-01-01T00:00:00Z",
        ] {
            let time = GraphTime::parse(text).unwrap();
            let stored = postcard::to_stdvec(&Time::of(&time)).unwrap();
            let back: Time = postcard::from_bytes(&stored).unwrap();
            let back = back.into_graph_time().unwrap();
            assert_eq!(back.as_str(), text);
            assert_eq!(back.at(), time.at());
        }
        let compact = GraphTime::parse("2026-10-31T04:41:40.4520034Z").unwrap();
        assert!(matches!(Time::of(&compact), Time::At { digits: 7, .. }));
    }

    /// The body written column by column from the snapshot reads back as that snapshot, and is
    /// byte for byte what the reading structs themselves encode, with linked and own rows.
    #[test]
    fn the_columns_are_written_as_they_are_read() {
        let user = |n: u32| User {
            id: format!("00000000-0000-0000-0000-{n:012}"),
            user_principal_name: format!("user{n}@fabrikam.test"),
            display_name: format!("User {n}"),
            account_enabled: Some(!n.is_multiple_of(3)),
            user_type: if n == 4 { "Guest" } else { "Member" }.into(),
            created: GraphTime::parse("2024-01-01T00:00:00.1234567Z").ok(),
            on_premises_sync_enabled: None,
        };
        let mut users: Vec<User> = (0..6).map(user).collect();
        users.push(User {
            id: "Not-A-Guid".into(),
            ..user(9)
        });
        let row = |u: &User, methods: &[&str]| Registration {
            id: u.id.clone(),
            user_principal_name: u.user_principal_name.clone(),
            display_name: u.display_name.clone(),
            user_type: "member".into(),
            is_admin: Some(false),
            is_mfa_registered: None,
            is_mfa_capable: Some(true),
            is_passwordless_capable: None,
            last_updated: GraphTime::parse("2026-10-31T04:41:40+00:00").ok(),
            methods_registered: methods.iter().map(|m| m.to_string()).collect(),
        };
        let mut renamed = row(&users[2], &["email"]);
        renamed.user_principal_name = "renamed@fabrikam.test".into();
        let registrations = vec![
            row(&users[0], &["microsoftAuthenticatorPush", "mobilePhone"]),
            row(&users[2], &[]),
            renamed,
            row(&users[3], &["fido2SecurityKey"]),
            row(&users[6], &["softwareOneTimePasscode"]),
        ];
        let snapshot = Snapshot {
            schema_version: crate::snapshot::SNAPSHOT_SCHEMA_VERSION,
            tenant: Tenant {
                id: "t".into(),
                name: "T".into(),
            },
            collected_at: DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap(),
            collection: CollectionRecord {
                source_kind: crate::source::SourceKind::Import,
                collected_by: None,
                graph_endpoint: None,
                token_roles: Vec::new(),
                sources: Vec::new(),
            },
            users,
            registrations,
            break_glass_members: Some(vec![GroupMember {
                id: "g".into(),
                user_principal_name: "bg@fabrikam.test".into(),
            }]),
            audit_events: None,
            auth_methods_policy: None,
            conditional_access: None,
        };
        let columns = ColumnsOf::new(&snapshot);
        assert_eq!(
            columns.own,
            vec![2],
            "only the renamed row carries its own names"
        );
        let written = postcard::to_stdvec(&columns).unwrap();
        let read: ColumnsBody = postcard::from_bytes(&written).unwrap();
        assert_eq!(postcard::to_stdvec(&read).unwrap(), written);
        let body = read.into_body().unwrap();
        assert_eq!(body.users, snapshot.users);
        assert_eq!(body.registrations, snapshot.registrations);
        assert_eq!(body.break_glass_members, snapshot.break_glass_members);
    }
}
