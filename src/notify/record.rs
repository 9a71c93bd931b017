//! The store's record of the alerts sent: `<store>/<tenant>/notifications.jsonl`, one JSON line
//! per alert and channel (when, for which snapshot, why, delivered or not, after how many
//! attempts, and the error, which never holds a secret), appended and never rewritten.
//!
//! The record sits beside the ledger but outside its chain, and no package ever carries it: a
//! package stays a function of the snapshots and the config. A period report reads one number
//! from it, the deviations signalled: deviating snapshots of the period whose alert was delivered.
//! An alert about a collection that failed before the tenant was known goes to
//! `<store>/notifications.jsonl`; none is written where there is no store yet.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::deliver::{Channel, Delivery};
use super::{Alert, AlertKind};
use crate::evaluate::ControlResult;

pub const NOTIFICATIONS_FILE: &str = "notifications.jsonl";

/// One alert sent on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// When the last attempt ended.
    #[serde(with = "crate::time::secs")]
    pub sent_at: DateTime<Utc>,
    pub kind: AlertKind,
    /// The snapshot the alert is about (its ledger sequence and collection time); none for a
    /// failed collection.
    pub sequence: Option<u64>,
    #[serde(with = "crate::time::secs_opt")]
    pub collected_at: Option<DateTime<Utc>>,
    /// The snapshot's point-in-time result.
    pub result: Option<ControlResult>,
    pub channel: Channel,
    pub delivered: bool,
    pub attempts: u32,
    pub error: Option<String>,
    pub recorded_by: String,
}

impl NotificationRecord {
    pub fn new(alert: &Alert, delivery: &Delivery) -> NotificationRecord {
        let (sequence, collected_at, result) = match alert {
            Alert::Control(a) => (Some(a.sequence), Some(a.as_of), Some(a.result)),
            Alert::CollectionFailed(_) => (None, None, None),
        };
        NotificationRecord {
            sent_at: delivery.finished_at,
            kind: alert.kind(),
            sequence,
            collected_at,
            result,
            channel: delivery.channel,
            delivered: delivery.delivered,
            attempts: delivery.attempts,
            error: delivery.error.clone(),
            recorded_by: crate::tool_id(),
        }
    }
}

/// The record file of `tenant_id`, or of the store itself for alerts about no known tenant.
pub fn path(store_root: &Path, tenant_id: Option<&str>) -> Result<PathBuf> {
    match tenant_id {
        None => Ok(store_root.join(NOTIFICATIONS_FILE)),
        Some(id) => {
            // The store's rule for a tenant folder: a GUID or a domain name, nothing else.
            let safe = !id.is_empty()
                && !id.starts_with('.')
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
            if !safe {
                bail!(
                    "tenant id {id:?} cannot name a store folder: expected a GUID or a domain name"
                );
            }
            Ok(store_root.join(id).join(NOTIFICATIONS_FILE))
        }
    }
}

/// Appends `records`, one line each, and syncs the file. The folder must exist already: the
/// record never creates a store or a tenant folder of its own. Returns the file written, or
/// `None` when there was no folder to write into.
pub fn append(
    store_root: &Path,
    tenant_id: Option<&str>,
    records: &[NotificationRecord],
) -> Result<Option<PathBuf>> {
    let file = path(store_root, tenant_id)?;
    if records.is_empty() || !file.parent().is_some_and(Path::is_dir) {
        return Ok(None);
    }
    let text = lines(records)?;
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .with_context(|| format!("cannot open the notification record {}", file.display()))?;
    // One write for all lines, so a concurrent run's lines never interleave with these.
    out.write_all(text.as_bytes())
        .and_then(|()| out.sync_all())
        .with_context(|| {
            format!(
                "cannot append to the notification record {}",
                file.display()
            )
        })?;
    Ok(Some(file))
}

/// The records as the file holds them: one JSON line each.
pub fn lines(records: &[NotificationRecord]) -> Result<String> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    Ok(text)
}

/// Every record of `tenant_id`, oldest first; an empty list when there is none. A line that is not
/// a record (a write cut short, a hand edit) is skipped with a warning: it can only lower the
/// count of deviations signalled, never raise it.
pub fn read(store_root: &Path, tenant_id: Option<&str>) -> Result<Vec<NotificationRecord>> {
    let file = path(store_root, tenant_id)?;
    let text = match fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e).with_context(|| {
                format!("cannot read the notification record {}", file.display())
            });
        }
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(r) => out.push(r),
            Err(e) => warn!(
                "{} line {} is not a notification record ({e}): skipped",
                file.display(),
                i + 1
            ),
        }
    }
    Ok(out)
}

/// The snapshots whose not-passing alert reached at least one channel, by ledger sequence and
/// collection time (both, so a store started afresh does not match old lines).
#[derive(Debug, Clone, Default)]
pub struct Signalled {
    delivered: HashSet<(u64, DateTime<Utc>)>,
}

impl Signalled {
    pub fn from_records(records: &[NotificationRecord]) -> Signalled {
        let delivered = records
            .iter()
            .filter(|r| r.delivered && r.kind == AlertKind::NotPassing)
            .filter_map(|r| Some((r.sequence?, r.collected_at?)))
            .collect();
        Signalled { delivered }
    }

    /// Whether the snapshot `sequence`, collected at `collected_at`, was signalled.
    pub fn contains(&self, sequence: u64, collected_at: DateTime<Utc>) -> bool {
        self.delivered.contains(&(sequence, collected_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        crate::time::parse_rfc3339(text).unwrap()
    }

    fn record(sequence: u64, at: &str, kind: AlertKind, delivered: bool) -> NotificationRecord {
        NotificationRecord {
            sent_at: t("2026-10-31T06:01:00Z"),
            kind,
            sequence: Some(sequence),
            collected_at: Some(t(at)),
            result: Some(ControlResult::Fail),
            channel: Channel::Webhook,
            delivered,
            attempts: 1,
            error: None,
            recorded_by: crate::tool_id(),
        }
    }

    #[test]
    fn only_delivered_not_passing_alerts_count_as_signalled() {
        let s = Signalled::from_records(&[
            record(3, "2026-10-03T06:00:00Z", AlertKind::NotPassing, true),
            record(4, "2026-10-04T06:00:00Z", AlertKind::NotPassing, false),
            record(5, "2026-10-05T06:00:00Z", AlertKind::Recovered, true),
        ]);
        assert!(s.contains(3, t("2026-10-03T06:00:00Z")));
        assert!(s.contains(3, t("2026-10-03T06:00:00+00:00")));
        assert!(
            !s.contains(3, t("2026-10-02T06:00:00Z")),
            "another store's snapshot 3"
        );
        assert!(!s.contains(4, t("2026-10-04T06:00:00Z")), "not delivered");
        assert!(
            !s.contains(5, t("2026-10-05T06:00:00Z")),
            "a recovery is no deviation"
        );
    }

    #[test]
    fn records_round_trip_and_damaged_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let tenant = "9ad8c6d4-c793-4206-b09d-4ed13a9152d1";
        let none = append(
            dir.path(),
            Some(tenant),
            &[record(
                1,
                "2026-10-01T06:00:00Z",
                AlertKind::NotPassing,
                true,
            )],
        )
        .unwrap();
        assert_eq!(none, None, "no tenant folder, no record");
        fs::create_dir(dir.path().join(tenant)).unwrap();
        let a = record(1, "2026-10-01T06:00:00Z", AlertKind::NotPassing, true);
        let b = record(2, "2026-10-02T06:00:00Z", AlertKind::Recovered, false);
        let file = append(dir.path(), Some(tenant), std::slice::from_ref(&a))
            .unwrap()
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&file).unwrap();
        f.write_all(b"{\"sent_at\": \"cut sh").unwrap();
        f.write_all(b"\n").unwrap();
        append(dir.path(), Some(tenant), std::slice::from_ref(&b)).unwrap();
        assert_eq!(read(dir.path(), Some(tenant)).unwrap(), vec![a, b]);
        assert!(read(dir.path(), None).unwrap().is_empty());
        assert!(path(dir.path(), Some("../x")).is_err());
    }
}
