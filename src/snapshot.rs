//! The snapshot: one collection of a tenant's state, in our own types.
//!
//! A snapshot is built by a source (live Graph, an offline export folder, the sample tenant), written
//! once by the store beside the raw Graph responses it was parsed from, and never changed after.
//! Collections are sorted so that the same inputs serialise to the same bytes.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::source::{Source, SourceKind, SourceStatus};
use crate::time::GraphTime;

/// Bumped whenever a stored field changes meaning or is removed.
pub const SNAPSHOT_SCHEMA_VERSION: u32 = 1;

/// A snapshot as a source hands it to the store: parsed, with the files it was read from, which
/// the store keeps byte for byte beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub snapshot: Snapshot,
    /// Every page file and provenance.json, sorted by name.
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub schema_version: u32,
    pub tenant: Tenant,
    /// When the collection finished (the as-of time), in whole seconds.
    #[serde(with = "crate::time::secs")]
    pub collected_at: DateTime<Utc>,
    pub collection: CollectionRecord,
    /// Sorted by id.
    pub users: Vec<User>,
    /// Sorted by id.
    pub registrations: Vec<Registration>,
    /// `None` when the source was not collected; sorted by id.
    pub break_glass_members: Option<Vec<GroupMember>>,
    /// `None` when the source was not collected; sorted by time, then id.
    pub audit_events: Option<Vec<AuditEvent>>,
    pub auth_methods_policy: Option<AuthMethodsPolicy>,
    /// Sorted by id.
    pub conditional_access: Option<Vec<ConditionalAccessPolicy>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    /// `None` when Graph did not return the field (it must be `$select`ed).
    pub account_enabled: Option<bool>,
    /// As Graph spells it (`Member` | `Guest`), or empty.
    pub user_type: String,
    pub created: Option<GraphTime>,
    pub on_premises_sync_enabled: Option<bool>,
}

impl User {
    pub fn is_guest(&self) -> bool {
        self.user_type.eq_ignore_ascii_case("guest")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// The user's object id. Empty only for a row of an export that carries no id (the admin
    /// center's download) whose UPN matched no user: such a row belongs to no user.
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    /// As the report spells it (`member` | `guest`), or empty when the export does not carry it.
    pub user_type: String,
    /// `None` (here and below): not in this export, or `null` in it; never read as `false`.
    pub is_admin: Option<bool>,
    pub is_mfa_registered: Option<bool>,
    pub is_mfa_capable: Option<bool>,
    pub is_passwordless_capable: Option<bool>,
    pub last_updated: Option<GraphTime>,
    /// As Graph returned them, order kept; unknown strings included.
    pub methods_registered: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMember {
    pub id: String,
    pub user_principal_name: String,
}

/// An Authentication Methods audit event (directoryAudits), reduced to what the evidence uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: String,
    pub activity_date_time: GraphTime,
    pub activity: String,
    pub result: String,
    pub target_user_id: Option<String>,
    pub target_user_principal_name: Option<String>,
    pub initiated_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthMethodsPolicy {
    /// Sorted by id.
    pub methods: Vec<MethodConfiguration>,
    pub registration_campaign_state: Option<String>,
    pub policy_migration_state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodConfiguration {
    pub id: String,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionalAccessPolicy {
    pub id: String,
    pub display_name: String,
    pub state: String,
    /// `grantControls.builtInControls` holds `mfa`.
    pub requires_mfa: bool,
    pub authentication_strength: Option<String>,
    pub include_users: Vec<String>,
    pub exclude_users: Vec<String>,
    pub exclude_groups: Vec<String>,
}

/// How the snapshot was collected: the record an auditor tests as IPE. Written by the collector
/// as `provenance.json` beside the raw pages; an import without one gets a record of what the
/// files show (their `@odata.context`, API version and properties), and nothing more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionRecord {
    pub source_kind: SourceKind,
    /// `mfa-evidence <version>` of the collecting tool; `None` when no collector's record came
    /// with the files, so who collected them is not known.
    pub collected_by: Option<String>,
    /// The Graph root the requests went to, when collected live.
    #[serde(default)]
    pub graph_endpoint: Option<String>,
    /// Application permissions the token carried (its `roles` claim), sorted.
    #[serde(default)]
    pub token_roles: Vec<String>,
    pub sources: Vec<SourceRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub name: Source,
    /// The request (path and query) the collector made; `None` when the data came from files
    /// without a collector's record, which do not say how they were requested.
    pub endpoint: Option<String>,
    pub required: bool,
    pub status: SourceStatus,
    #[serde(default)]
    pub error: Option<String>,
    pub pages: u64,
    pub items: u64,
    /// One per HTTP request, in order; empty for data read from files.
    #[serde(default)]
    pub requests: Vec<RequestRecord>,
    /// What the files themselves show, for data read from files without a collector's record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<FilesRecord>,
    /// The export file the source was read from, when it was not Graph pages (an admin center
    /// download, PowerShell output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<ExportRecord>,
}

crate::vocabulary! {
    /// How an export file's text was encoded, as its first bytes showed.
    pub enum TextEncoding {
        Utf8 => "utf-8",
        /// UTF-8 behind a byte-order mark (PowerShell's `-Encoding utf8`, the admin center's CSVs).
        Utf8Bom => "utf-8-bom",
        /// UTF-16 little-endian behind a byte-order mark (Windows PowerShell's `>` and `Out-File`).
        Utf16LeBom => "utf-16le-bom",
        Utf16BeBom => "utf-16be-bom",
    }
}

/// One export file a source was read from: what it was recognised as, and how users were
/// matched to its rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// `portal-export` or `powershell-export`.
    pub kind: SourceKind,
    /// The file's name, as kept in raw/.
    pub file: String,
    pub encoding: TextEncoding,
    /// Rows (CSV records, or JSON items) read.
    pub rows: u64,
    /// Registration rows without an object id that were given a user's by their UPN
    /// (case-insensitive); 0 for other sources.
    #[serde(default)]
    pub matched_by_upn: u64,
    /// Registration rows without an id whose UPN matched no user.
    #[serde(default)]
    pub unmatched: u64,
}

/// A source as its files show it: the request Graph answered is named by the `@odata.context`
/// of its pages, not by this tool's idea of the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilesRecord {
    /// The `@odata.context` of its pages, verbatim (`None`: the pages carry none).
    pub odata_context: Option<String>,
    /// The Graph API version the context names (`v1.0`, `beta`).
    pub api_version: Option<String>,
    /// The properties `$select` asked for, as the context lists them (`None`: no `$select`).
    pub select: Option<Vec<String>>,
    /// Every property present on at least one item (or on the object), sorted.
    pub properties: Vec<String>,
}

/// One HTTP request to Graph. Never carries a token or a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub url: String,
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub status: u16,
    pub request_id: Option<String>,
    pub duration_ms: u64,
    pub items: u64,
    /// The raw/ file the body was written to, e.g. `users-0003.json`.
    #[serde(default)]
    pub file: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A collection record as the versions with string-typed names, statuses and kinds wrote it
    /// into `provenance.json` and `snapshot.json`.
    const STORED: &str = r#"{
  "source_kind": "graph",
  "collected_by": "mfa-evidence 0.1.0",
  "graph_endpoint": "https://graph.microsoft.com",
  "token_roles": [
    "User.Read.All"
  ],
  "sources": [
    {
      "name": "users",
      "endpoint": "/v1.0/users?$top=999",
      "required": true,
      "status": "collected",
      "error": null,
      "pages": 1,
      "items": 2,
      "requests": [
        {
          "url": "https://graph.microsoft.com/v1.0/users?$top=999",
          "time": "2026-10-31T06:00:00.123Z",
          "status": 200,
          "request_id": "r-1",
          "duration_ms": 80,
          "items": 2,
          "file": "users-0001.json"
        }
      ]
    },
    {
      "name": "breakGlassMembers",
      "endpoint": "/v1.0/groups/{group-id}/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName&$count=true",
      "required": false,
      "status": "not-configured",
      "error": null,
      "pages": 0,
      "items": 0,
      "requests": []
    },
    {
      "name": "conditionalAccessPolicies",
      "endpoint": "/v1.0/identity/conditionalAccess/policies",
      "required": false,
      "status": "missing",
      "error": "Graph answered HTTP 403",
      "pages": 0,
      "items": 0,
      "requests": []
    }
  ]
}"#;

    #[test]
    fn stored_records_read_back_to_the_same_values_and_bytes() {
        let record: CollectionRecord = serde_json::from_str(STORED).unwrap();
        assert_eq!(record.source_kind, SourceKind::Graph);
        let sources: Vec<(Source, SourceStatus)> =
            record.sources.iter().map(|s| (s.name, s.status)).collect();
        assert_eq!(
            sources,
            [
                (Source::Users, SourceStatus::Collected),
                (Source::BreakGlass, SourceStatus::NotConfigured),
                (Source::ConditionalAccess, SourceStatus::Missing),
            ]
        );
        assert_eq!(serde_json::to_string_pretty(&record).unwrap(), STORED);
        for kind in ["import", "sample"] {
            let text = STORED.replace("\"graph\"", &format!("\"{kind}\""));
            let record: CollectionRecord = serde_json::from_str(&text).unwrap();
            assert_eq!(record.source_kind.as_str(), kind);
        }
    }
}
