//! The snapshot derived again from its raw pages, by the same import that derived it when it was
//! stored. `store verify --deep` compares it with what the folder stores (the compact record, or
//! a plain folder's `snapshot.json`), and a report takes its as-of snapshot from it, so a
//! package's point-in-time figure is computed from the raw pages the package ships.

use anyhow::{Context, Result};

use chrono::{DateTime, Utc};

use super::layout::RawPages;
use super::record::Head;
use crate::collect::import::{ImportOptions, import_dir_with};
use crate::snapshot::{CollectionRecord, Snapshot, Tenant};
use crate::source::{Source, SourceStatus};

/// What the stored form says that the pages may not: when they were collected, and the tenant
/// when it was given on the operator's word.
pub(super) struct Basis {
    pub tenant: Tenant,
    pub collected_at: DateTime<Utc>,
    pub collection: CollectionRecord,
    /// A compact folder's record head.
    pub head: Option<Head>,
}

impl From<Head> for Basis {
    fn from(head: Head) -> Basis {
        Basis {
            tenant: head.tenant.clone(),
            collected_at: head.collected_at,
            collection: head.collection.clone(),
            head: Some(head),
        }
    }
}

/// Imports `pages` again with what the operator said when they were stored.
pub(super) fn derive(basis: &Basis, pages: &RawPages) -> Result<Snapshot> {
    let operator_tenant = basis
        .collection
        .sources
        .iter()
        .any(|s| s.name == Source::Organization && s.status == SourceStatus::OperatorGiven);
    let options = ImportOptions {
        collected_at: Some(basis.collected_at),
        tenant_id: operator_tenant.then(|| basis.tenant.id.clone()),
        tenant_name: operator_tenant.then(|| basis.tenant.name.clone()),
    };
    // The pages were imported once; the import's warnings about them were said then.
    Ok(import_dir_with(pages.dir(), &options)
        .context("the raw pages no longer import")?
        .snapshot)
}

/// The first part of the snapshot in which `stored` and `derived` differ, if any.
pub(super) fn first_difference(stored: &Snapshot, derived: &Snapshot) -> Option<&'static str> {
    let parts: [(&str, bool); 10] = [
        (
            "schema version",
            stored.schema_version == derived.schema_version,
        ),
        ("tenant", stored.tenant == derived.tenant),
        (
            "collection time",
            stored.collected_at == derived.collected_at,
        ),
        ("collection record", stored.collection == derived.collection),
        ("users", stored.users == derived.users),
        (
            "registration rows",
            stored.registrations == derived.registrations,
        ),
        (
            "break-glass members",
            stored.break_glass_members == derived.break_glass_members,
        ),
        ("audit events", stored.audit_events == derived.audit_events),
        (
            "authentication methods policy",
            stored.auth_methods_policy == derived.auth_methods_policy,
        ),
        (
            "conditional access policies",
            stored.conditional_access == derived.conditional_access,
        ),
    ];
    parts
        .into_iter()
        .find(|(_, same)| !same)
        .map(|(part, _)| part)
}
