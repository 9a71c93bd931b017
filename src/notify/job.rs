//! The alert step of `collect` and `import`, run only after the store holds the snapshot (or
//! after a collection failed): evaluate the snapshot and the one before it, decide, send on every
//! configured channel, and append what happened to the tenant's notification record.
//!
//! Nothing here can lose a snapshot: it is stored before this runs, and an alert that is not
//! delivered only makes the run say so (and exit 1).

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tracing::warn;

use super::deliver::{Delivery, Notifier};
use super::record::{self, NotificationRecord};
use super::{
    Alert, AlertKind, CollectionFailure, ControlAlert, Population, decide, package_command,
};
use crate::config::Config;
use crate::evaluate::{ControlResult, evaluate};
use crate::snapshot::Snapshot;
use crate::store::{Store, StoredSnapshot};

/// What the alert step did.
#[derive(Debug, Clone, Default)]
pub struct NotifyOutcome {
    /// The alert sent, if the snapshot was news.
    pub kind: Option<AlertKind>,
    pub deliveries: Vec<Delivery>,
    /// The notification record the deliveries were appended to (none without a store folder).
    pub record: Option<PathBuf>,
}

impl NotifyOutcome {
    /// The deliveries that did not reach their channel.
    pub fn undelivered(&self) -> impl Iterator<Item = &Delivery> {
        self.deliveries.iter().filter(|d| !d.delivered)
    }

    /// Lines for the run's output, each with whether it reports a delivery (else a failure):
    /// what was sent where, and what was not delivered and why.
    pub fn lines(&self) -> Vec<(bool, String)> {
        let Some(kind) = self.kind else {
            return vec![(
                true,
                "alert: none (a pass is news only after a snapshot that did not pass)".to_string(),
            )];
        };
        self.deliveries
            .iter()
            .map(|d| match &d.error {
                None => (
                    true,
                    format!(
                        "alert {kind} sent by {} ({})",
                        d.channel,
                        attempts(d.attempts)
                    ),
                ),
                Some(why) => (
                    false,
                    format!(
                        "alert {kind} NOT delivered by {} ({}): {why}",
                        d.channel,
                        attempts(d.attempts)
                    ),
                ),
            })
            .collect()
    }
}

fn attempts(n: u32) -> String {
    crate::evidence::words::counted(n, "attempt", "attempts")
}

/// After `stored` (whose parsed snapshot is `snapshot`) was added to the store: compares it with
/// the tenant's previous snapshot and sends an alert when it is news. The previous snapshot is
/// loaded and evaluated with today's settings, so a change of threshold is not mistaken for a
/// change of the tenant; only its population is kept.
pub fn after_stored(
    config: &Config,
    notifier: &Notifier,
    stored: &StoredSnapshot,
    snapshot: &Snapshot,
) -> Result<NotifyOutcome> {
    let store = Store::open(&config.store)?;
    let tenant = &stored.entry.tenant_id;
    let previous = store
        .ledger(tenant)?
        .into_iter()
        .rev()
        .find(|s| s.entry.sequence < stored.entry.sequence);
    let previous = match previous.map(|p| store.fetch(&[&p]).and_then(|()| p.load())) {
        None => None,
        Some(Ok(snapshot)) => {
            let evaluation = evaluate(&snapshot, &config.control);
            Some((evaluation.result, Population::of(&evaluation)))
        }
        // The snapshot is stored either way: compare with nothing rather than send nothing.
        Some(Err(e)) => {
            warn!(
                "the previous snapshot cannot be read to compare with ({e:#}): run `mfa-evidence store verify`"
            );
            None
        }
    };
    let evaluation = evaluate(snapshot, &config.control);
    let Some(kind) = decide(previous.as_ref().map(|(r, _)| *r), evaluation.result) else {
        return Ok(NotifyOutcome::default());
    };
    let alert = Alert::Control(ControlAlert::new(
        &snapshot.tenant,
        stored.entry.sequence,
        &evaluation,
        previous.as_ref().map(|(r, p)| (*r, p)),
        package_command(config.source.as_deref(), tenant),
    ));
    debug_assert_eq!(alert.kind(), kind);
    send_and_record(&store, Some(tenant), notifier, &alert)
}

/// After a collection failed (nothing was stored): tells the channels, with the error and how
/// old the newest stored snapshot of the tenant is. `tenant` is the tenant as configured.
pub fn after_failure(
    config: &Config,
    notifier: &Notifier,
    tenant: Option<&str>,
    attempted_at: DateTime<Utc>,
    error: &anyhow::Error,
) -> Result<NotifyOutcome> {
    let store = Store::open(&config.store)?;
    // The store keys tenants by the GUID Graph returns: a tenant configured by domain name, or
    // one never collected, has no folder, and its record goes to the store's own.
    let known = match tenant {
        Some(t) => store
            .tenants()?
            .into_iter()
            .find(|s| s.eq_ignore_ascii_case(t)),
        None => None,
    };
    let last = match &known {
        Some(t) => store.ledger(t)?.last().map(|s| s.entry.collected_at),
        None => None,
    };
    let alert = Alert::CollectionFailed(CollectionFailure::new(
        tenant,
        attempted_at,
        last,
        &format!("{error:#}"),
        config.max_gap_hours,
    ));
    send_and_record(&store, known.as_deref(), notifier, &alert)
}

fn send_and_record(
    store: &Store,
    tenant: Option<&str>,
    notifier: &Notifier,
    alert: &Alert,
) -> Result<NotifyOutcome> {
    // Called from synchronous code, after the collection's own runtime has finished.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime to send the alert")?;
    let deliveries = runtime.block_on(notifier.send(alert));
    let records: Vec<NotificationRecord> = deliveries
        .iter()
        .map(|d| NotificationRecord::new(alert, d))
        .collect();
    let record = record::append(store.root(), tenant, &records)
        .and_then(|written| {
            if written.is_some() {
                store.publish_notifications(tenant, record::lines(&records)?.as_bytes())?;
            }
            Ok(written)
        })
        .context("the alert was sent but cannot be recorded in the store")?;
    Ok(NotifyOutcome {
        kind: Some(alert.kind()),
        deliveries,
        record,
    })
}

/// How many of the period's deviating snapshots (`fail` or `insufficient-evidence`) had their
/// alert delivered, by the tenant's notification record.
pub fn deviations_signalled(
    store: &Store,
    tenant: &str,
    series: &[crate::evidence::HistoryPoint],
) -> Result<u64> {
    store.fetch_notifications(Some(tenant), &record::path(store.root(), Some(tenant))?)?;
    let signalled = record::Signalled::from_records(&record::read(store.root(), Some(tenant))?);
    Ok(series
        .iter()
        .filter(|p| {
            p.result != ControlResult::Pass && signalled.contains(p.sequence, p.collected_at)
        })
        .count() as u64)
}
