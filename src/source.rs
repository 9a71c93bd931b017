//! The Graph sources of a snapshot, in one table: for each, the file stem used in an import folder
//! and in raw/, the endpoint it is read from, whether a snapshot needs it, the permission a 403
//! names, how it pages, and the `@odata.context` its pages carry. Every stage (collector, import,
//! store, evaluation, synthetic tenants) reads this table rather than spelling the sources itself.
//!
//! Also the words provenance uses about sources: [`SourceStatus`] (what became of a source) and
//! [`SourceKind`] (how a snapshot was obtained). Their spellings are stored in snapshots and shown
//! in `evidence.json`, so they never change; new words may be added. And [`ODataContext`], what a
//! page's `@odata.context` says about the request Graph answered.
//!
//! This module is the bottom layer: it depends on nothing else of the crate but the
//! `vocabulary!` macro.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One Graph source. Declared in collection and display order (which `Ord` follows); serialised
/// as its file stem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Source {
    #[serde(rename = "organization")]
    Organization,
    #[serde(rename = "users")]
    Users,
    /// The authentication methods registration report.
    #[serde(rename = "userRegistrationDetails")]
    Registration,
    /// The transitive user members of the configured break-glass group.
    #[serde(rename = "breakGlassMembers")]
    BreakGlass,
    /// The Authentication Methods audit log.
    #[serde(rename = "directoryAudits")]
    Audits,
    #[serde(rename = "authenticationMethodsPolicy")]
    AuthMethodsPolicy,
    #[serde(rename = "conditionalAccessPolicies")]
    ConditionalAccess,
}

/// What one answer of a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// A collection page (`value` and perhaps `@odata.nextLink`).
    Pages,
    /// One object, not a collection.
    SingleObject,
}

/// How often a source may be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// As fast as throttling allows.
    Free,
    /// Graph allows about one request per second (the collector's `NetworkPolicy` says how long).
    OnePerSecond,
}

/// A row of the table. The path may hold [`GROUP_ID`]; the live query may hold [`SINCE`].
#[derive(Debug)]
pub struct SourceInfo {
    pub source: Source,
    /// The file stem in raw/ and in an import folder (`users` for `users-0001.json`), and the
    /// serialised name.
    pub stem: &'static str,
    /// A snapshot without it is incomplete and is not stored.
    pub required: bool,
    /// The endpoint's path, relative to the Graph root (e.g. `https://graph.microsoft.com`).
    pub path: &'static str,
    /// The query provenance names when the data came from files (empty: none).
    pub query: &'static str,
    /// The query of the collector's first request (empty: none): the largest page size where it
    /// differs, and the audit window.
    pub request_query: &'static str,
    /// What a 403 asks the admin to grant.
    pub permission: &'static str,
    pub paging: Paging,
    /// Advanced queries (`$count`, casts) need the `ConsistencyLevel: eventual` header.
    pub consistency_eventual: bool,
    pub pacing: Pacing,
    /// What follows `$metadata#` in the `@odata.context` of its pages.
    pub odata_context: &'static str,
}

/// Stands for the break-glass group's id in a path.
pub const GROUP_ID: &str = "{group-id}";
/// Stands for the start of the audit window (RFC 3339, UTC, whole seconds) in a live query.
pub const SINCE: &str = "{since}";

static TABLE: [SourceInfo; 7] = [
    SourceInfo {
        source: Source::Organization,
        stem: "organization",
        required: true,
        path: "/v1.0/organization",
        query: "",
        request_query: "",
        permission: "Organization.Read.All (or Directory.Read.All)",
        paging: Paging::Pages,
        consistency_eventual: false,
        pacing: Pacing::Free,
        odata_context: "organization",
    },
    SourceInfo {
        source: Source::Users,
        stem: "users",
        required: true,
        path: "/v1.0/users",
        query: "$select=id,userPrincipalName,displayName,accountEnabled,userType,createdDateTime,onPremisesSyncEnabled&$top=999",
        request_query: "$select=id,userPrincipalName,displayName,accountEnabled,userType,createdDateTime,onPremisesSyncEnabled&$top=999",
        permission: "User.Read.All",
        paging: Paging::Pages,
        consistency_eventual: false,
        pacing: Pacing::Free,
        odata_context: "users(id,userPrincipalName,displayName,accountEnabled,userType,createdDateTime,onPremisesSyncEnabled)",
    },
    SourceInfo {
        source: Source::Registration,
        stem: "userRegistrationDetails",
        required: true,
        path: "/v1.0/reports/authenticationMethods/userRegistrationDetails",
        query: "",
        request_query: "$top=999",
        permission: "AuditLog.Read.All",
        paging: Paging::Pages,
        consistency_eventual: false,
        pacing: Pacing::Free,
        odata_context: "reports/authenticationMethods/userRegistrationDetails",
    },
    SourceInfo {
        source: Source::BreakGlass,
        stem: "breakGlassMembers",
        required: false,
        path: "/v1.0/groups/{group-id}/transitiveMembers/microsoft.graph.user",
        query: "$select=id,userPrincipalName&$count=true",
        request_query: "$select=id,userPrincipalName&$count=true",
        permission: "GroupMember.Read.All",
        paging: Paging::Pages,
        consistency_eventual: true,
        pacing: Pacing::Free,
        odata_context: "users(id,userPrincipalName)",
    },
    SourceInfo {
        source: Source::Audits,
        stem: "directoryAudits",
        required: false,
        path: "/v1.0/auditLogs/directoryAudits",
        query: "$filter=loggedByService eq 'Authentication Methods'",
        request_query: "$filter=loggedByService%20eq%20%27Authentication%20Methods%27%20and%20activityDateTime%20ge%20{since}",
        permission: "AuditLog.Read.All and Directory.Read.All",
        paging: Paging::Pages,
        consistency_eventual: false,
        pacing: Pacing::Free,
        odata_context: "auditLogs/directoryAudits",
    },
    SourceInfo {
        source: Source::AuthMethodsPolicy,
        stem: "authenticationMethodsPolicy",
        required: false,
        path: "/v1.0/policies/authenticationMethodsPolicy",
        query: "",
        request_query: "",
        permission: "Policy.Read.AuthenticationMethod (or Policy.Read.All)",
        paging: Paging::SingleObject,
        consistency_eventual: false,
        pacing: Pacing::Free,
        odata_context: "authenticationMethodsPolicy",
    },
    SourceInfo {
        source: Source::ConditionalAccess,
        stem: "conditionalAccessPolicies",
        required: false,
        path: "/v1.0/identity/conditionalAccess/policies",
        query: "",
        request_query: "",
        permission: "Policy.Read.All",
        paging: Paging::Pages,
        consistency_eventual: false,
        pacing: Pacing::OnePerSecond,
        odata_context: "identity/conditionalAccess/policies",
    },
];

impl Source {
    /// Every source, in collection and display order.
    pub const ALL: [Source; 7] = [
        Source::Organization,
        Source::Users,
        Source::Registration,
        Source::BreakGlass,
        Source::Audits,
        Source::AuthMethodsPolicy,
        Source::ConditionalAccess,
    ];

    /// This source's row of the table.
    pub const fn info(self) -> &'static SourceInfo {
        &TABLE[self as usize]
    }

    /// The file stem, which is also the serialised name.
    pub const fn stem(self) -> &'static str {
        self.info().stem
    }

    /// The source a file stem names.
    pub fn from_stem(stem: &str) -> Option<Source> {
        TABLE.iter().find(|i| i.stem == stem).map(|i| i.source)
    }

    pub const fn required(self) -> bool {
        self.info().required
    }

    pub const fn permission(self) -> &'static str {
        self.info().permission
    }

    /// The endpoint (path and query, relative to the Graph root) provenance names when the data
    /// came from files; the break-glass group is [`GROUP_ID`].
    pub fn endpoint(self) -> String {
        join(self.info().path, self.info().query)
    }

    /// The path and query of the collector's first request: `group_id` (already encoded as a
    /// path segment) for [`GROUP_ID`], `since` for [`SINCE`].
    pub fn first_request(self, group_id: &str, since: &str) -> String {
        let info = self.info();
        join(
            &info.path.replace(GROUP_ID, group_id),
            &info.request_query.replace(SINCE, since),
        )
    }
}

fn join(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.stem())
    }
}

crate::vocabulary! {
    /// What became of a source in one collection.
    pub enum SourceStatus {
        /// Read in full.
        Collected => "collected",
        /// Asked for but not read (the record's error says why), or absent from an export folder.
        Missing => "missing",
        /// Not asked for: the config does not name what it needs (the break-glass group).
        NotConfigured => "not-configured",
        /// Not read from Microsoft at all: the operator gave it on the command line (the tenant
        /// of an admin center export, which names none: `import --tenant-id`).
        OperatorGiven => "operator-given",
    }
}

impl SourceStatus {
    /// Whether the snapshot holds this source's data (read, or given by the operator).
    pub fn present(self) -> bool {
        matches!(self, SourceStatus::Collected | SourceStatus::OperatorGiven)
    }
}

crate::vocabulary! {
    /// How a snapshot's (or one source's) data was obtained. Declared from the strongest record
    /// to the weakest, which `Ord` follows: a snapshot whose sources came different ways is of
    /// the weakest kind among them.
    pub enum SourceKind {
        /// Collected live from Microsoft Graph by this tool.
        Graph => "graph",
        /// The synthetic sample tenant.
        Sample => "sample",
        /// Imported from a folder of Graph response bodies.
        Import => "import",
        /// Microsoft Graph PowerShell output (`Get-MgUser`,
        /// `Get-MgReportAuthenticationMethodUserRegistrationDetail`) saved with `ConvertTo-Json`.
        PowershellExport => "powershell-export",
        /// A CSV downloaded from the Microsoft Entra admin center.
        PortalExport => "portal-export",
    }
}

impl SourceKind {
    /// A file export rather than Graph pages or a live collection.
    pub fn is_file_export(self) -> bool {
        matches!(
            self,
            SourceKind::PowershellExport | SourceKind::PortalExport
        )
    }
}

/// What an `@odata.context` URL says about the request Graph answered, e.g.
/// `https://graph.microsoft.com/beta/$metadata#users(displayName,userPrincipalName)`: the API
/// version (`beta`) and the properties of a `$select` (Graph lists them in parentheses after the
/// entity set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ODataContext {
    /// `v1.0`, `beta`, ...: the path segment before `$metadata`.
    pub api_version: Option<String>,
    /// The `$select` properties, as listed; `None` when the context lists none.
    pub select: Option<Vec<String>>,
}

impl ODataContext {
    pub fn parse(text: &str) -> ODataContext {
        let Some((base, fragment)) = text.split_once("$metadata#") else {
            return ODataContext {
                api_version: None,
                select: None,
            };
        };
        let api_version = base
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|v| !v.is_empty() && !v.contains(':'))
            .map(str::to_string);
        // `users(id,manager(id))/$entity`: the list after the entity set, nested lists kept
        // out. `Collection(microsoft.graph.x)` names a type, not a selection.
        let select = fragment.split_once('(').and_then(|(set, rest)| {
            if set.is_empty() || set == "Collection" {
                return None;
            }
            let mut depth = 0u32;
            let mut names = Vec::new();
            let mut name = String::new();
            for c in rest.chars() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        names.push(std::mem::take(&mut name));
                        return Some(names.into_iter().map(|n| n.trim().to_string()).collect());
                    }
                    ')' => depth -= 1,
                    ',' if depth == 0 => names.push(std::mem::take(&mut name)),
                    _ if depth == 0 => name.push(c),
                    _ => {}
                }
            }
            None
        });
        ODataContext {
            api_version,
            select,
        }
    }

    /// Whether the `$select` left `property` out (false when there is no `$select`).
    pub fn leaves_out(&self, property: &str) -> bool {
        self.select
            .as_ref()
            .is_some_and(|list| !list.iter().any(|p| p.eq_ignore_ascii_case(property)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odata_contexts_name_the_version_and_the_select() {
        let c = ODataContext::parse(
            "https://graph.microsoft.com/v1.0/$metadata#users(displayName,userPrincipalName,signInActivity)",
        );
        assert_eq!(c.api_version.as_deref(), Some("v1.0"));
        assert_eq!(
            c.select.as_deref(),
            Some(
                &[
                    "displayName".to_string(),
                    "userPrincipalName".to_string(),
                    "signInActivity".to_string()
                ][..]
            )
        );
        assert!(c.leaves_out("accountEnabled") && !c.leaves_out("DISPLAYNAME"));
        let c = ODataContext::parse(
            "https://graph.microsoft.com/beta/$metadata#reports/authenticationMethods/userRegistrationDetails",
        );
        assert_eq!(c.api_version.as_deref(), Some("beta"));
        assert_eq!(c.select, None);
        assert!(!c.leaves_out("userType"));
        let c = ODataContext::parse(
            "https://graph.microsoft.us/v1.0/$metadata#users(id,manager(id,displayName))/$entity",
        );
        assert_eq!(
            c.select,
            Some(vec!["id".to_string(), "manager".to_string()])
        );
        let c = ODataContext::parse(
            "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.user)",
        );
        assert_eq!(c.select, None);
        let c = ODataContext::parse("not a context");
        assert_eq!((c.api_version, c.select), (None, None));
    }

    #[test]
    fn the_table_is_in_declaration_order_and_names_are_unique() {
        for (i, source) in Source::ALL.iter().enumerate() {
            assert_eq!(TABLE[i].source, *source);
            assert_eq!(Source::from_stem(source.stem()), Some(*source));
        }
        assert_eq!(Source::from_stem("user"), None);
        let mut sorted = Source::ALL;
        sorted.sort();
        assert_eq!(sorted, Source::ALL);
    }

    #[test]
    fn names_serialise_as_the_file_stems() {
        for source in Source::ALL {
            let json = serde_json::to_string(&source).unwrap();
            assert_eq!(json, format!("\"{}\"", source.stem()));
            assert_eq!(serde_json::from_str::<Source>(&json).unwrap(), source);
        }
        assert_eq!(format!("{:<10}|", Source::Users), "users     |");
    }

    #[test]
    fn statuses_and_kinds_keep_their_stored_spellings() {
        for (status, text) in [
            (SourceStatus::Collected, "collected"),
            (SourceStatus::Missing, "missing"),
            (SourceStatus::NotConfigured, "not-configured"),
            (SourceStatus::OperatorGiven, "operator-given"),
        ] {
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{text}\"")
            );
            assert_eq!(
                serde_json::from_str::<SourceStatus>(&format!("\"{text}\"")).unwrap(),
                status
            );
            assert_eq!(status.to_string(), text);
        }
        for (kind, text) in [
            (SourceKind::Graph, "graph"),
            (SourceKind::Import, "import"),
            (SourceKind::Sample, "sample"),
            (SourceKind::PowershellExport, "powershell-export"),
            (SourceKind::PortalExport, "portal-export"),
        ] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{text}\""));
            assert_eq!(
                serde_json::from_str::<SourceKind>(&format!("\"{text}\"")).unwrap(),
                kind
            );
            assert_eq!(kind.to_string(), text);
        }
    }

    #[test]
    fn endpoints_and_first_requests() {
        assert_eq!(
            Source::Registration.endpoint(),
            "/v1.0/reports/authenticationMethods/userRegistrationDetails"
        );
        assert_eq!(
            Source::Registration.first_request("g", "s"),
            "/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=999"
        );
        assert_eq!(
            Source::Audits.endpoint(),
            "/v1.0/auditLogs/directoryAudits?$filter=loggedByService eq 'Authentication Methods'"
        );
        assert_eq!(
            Source::Audits.first_request("g", "2026-10-01T06:00:00Z"),
            "/v1.0/auditLogs/directoryAudits?$filter=loggedByService%20eq%20%27Authentication%20Methods%27%20and%20activityDateTime%20ge%202026-10-01T06:00:00Z"
        );
        assert_eq!(
            Source::BreakGlass.endpoint(),
            "/v1.0/groups/{group-id}/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName&$count=true"
        );
        assert_eq!(
            Source::BreakGlass.first_request("abc", "s"),
            "/v1.0/groups/abc/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName&$count=true"
        );
        assert_eq!(Source::Organization.endpoint(), "/v1.0/organization");
    }
}
