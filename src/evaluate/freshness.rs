//! Stage 5, freshness: how old the registration report's rows were at collection.

use chrono::{DateTime, Utc};

use crate::config::ControlSettings;
use crate::snapshot::{Registration, Snapshot};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Freshness {
    pub oldest_row_updated: Option<DateTime<Utc>>,
    pub newest_row_updated: Option<DateTime<Utc>>,
    /// Rows whose `lastUpdatedDateTime` is older than `max_report_age_hours` at collection.
    pub stale_rows: u64,
}

/// A row last updated more than `max_report_age_hours` before the as-of time.
pub(crate) fn is_stale(r: &Registration, as_of: DateTime<Utc>, settings: &ControlSettings) -> bool {
    r.last_updated.as_ref().is_some_and(|t| {
        (as_of - t.at()).num_seconds() > i64::from(settings.max_report_age_hours) * 3600
    })
}

pub(crate) fn freshness(
    snapshot: &Snapshot,
    settings: &ControlSettings,
    as_of: DateTime<Utc>,
) -> Freshness {
    let mut freshness = Freshness::default();
    for r in &snapshot.registrations {
        let Some(t) = r.last_updated.as_ref().map(|t| t.at()) else {
            continue;
        };
        if is_stale(r, as_of, settings) {
            freshness.stale_rows += 1;
        }
        freshness.oldest_row_updated = Some(freshness.oldest_row_updated.map_or(t, |o| o.min(t)));
        freshness.newest_row_updated = Some(freshness.newest_row_updated.map_or(t, |n| n.max(t)));
    }
    freshness
}
