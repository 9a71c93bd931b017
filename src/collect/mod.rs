//! Where snapshots come from: live Microsoft Graph (`graph`), which writes the import layout, and
//! `import`, the one parser of that layout (offline exports, live collections, stored raw/
//! folders). Graph's wire types (`wire`) stay inside this module.
//!
//! [`run`] is the `collect` job: a live collection into the store.

pub mod graph;
pub mod import;
mod wire;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use self::graph::{AuthEnv, CollectOptions};
use crate::config::Config;
use crate::store::{Store, StoredSnapshot};

/// One `collect` run.
#[derive(Debug, Clone)]
pub struct CollectRequest {
    /// The run's time, read from the clock by the caller: the default audit window ends here.
    pub now: DateTime<Utc>,
    /// Sign in interactively with the device code flow instead of client credentials.
    pub device_code: bool,
    /// Show progress at a terminal (only when stderr is one).
    pub progress: bool,
    /// Secrets and ids from the environment.
    pub env: AuthEnv,
}

/// The `collect` job: collects every source from Graph into a folder inside the store (same file
/// system, removed whatever happens), then stores it like an import, so a collection that fails
/// stores nothing. Audit events are read from the previous snapshot of the tenant on. Builds its
/// own async runtime: call it from synchronous code.
pub fn run(config: &Config, request: &CollectRequest) -> Result<StoredSnapshot> {
    let store = Store::new(&config.store_path);
    let created_root = !store.root().exists();
    crate::files::create_private_dir_all(store.root()).with_context(|| {
        format!(
            "cannot create the store {}: check [store] path",
            store.root().display()
        )
    })?;
    let mut options = CollectOptions::new(request.now);
    options.device_code = request.device_code;
    options.progress = request.progress;
    options.audit_since = audit_since(&store, config, &request.env)?;
    let folder = tempfile::Builder::new()
        .prefix(".collect-")
        .tempdir_in(store.root())
        .context("cannot create a collection folder in the store")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for the collection")?;
    let collected = runtime.block_on(graph::collect(
        config,
        &request.env,
        &options,
        folder.path(),
    ));
    if let Err(e) = collected {
        drop(folder);
        if created_root {
            // A failed first collection leaves no empty store behind.
            let _ = std::fs::remove_dir(store.root());
        }
        return Err(e);
    }
    let imported = import::import_dir(folder.path(), None)?;
    store.add(&imported)
}

/// Audit events since the previous snapshot of the same tenant, overlapping by a day, so none
/// falls between runs. The store keys tenants by the GUID Graph returns; the tenant collected is
/// [tenant] id, else AZURE_TENANT_ID (as in `graph::collect`). Only a GUID can be matched before
/// collecting: a domain name, or a GUID with no history, gets None (the full 30 days, Graph's
/// retention, so nothing is lost), never another tenant's time, which could skip events.
fn audit_since(store: &Store, config: &Config, env: &AuthEnv) -> Result<Option<DateTime<Utc>>> {
    let tenant = config.tenant.id.as_deref().or(env.tenant_id.as_deref());
    let previous = match tenant.filter(|t| is_guid(t)) {
        Some(id) => store
            .tenants()?
            .into_iter()
            .find(|t| t.eq_ignore_ascii_case(id)),
        None => None,
    };
    if let Some(tenant) = previous
        && let Some(last) = store.ledger(&tenant)?.last()
    {
        return Ok(Some(last.entry.collected_at - chrono::Duration::days(1)));
    }
    Ok(None)
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits: a directory (tenant) id, not a domain.
fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_guids_and_domains() {
        assert!(is_guid("11111111-2222-3333-4444-555555555555"));
        assert!(is_guid("AbCdEf01-2222-3333-4444-555555555555"));
        for not in [
            "contoso.onmicrosoft.com",
            "11111111-2222-3333-4444-55555555555",
            "11111111-2222-3333-4444-555555555555-6",
            "1111111g-2222-3333-4444-555555555555",
            "",
        ] {
            assert!(!is_guid(not), "{not}");
        }
    }
}
