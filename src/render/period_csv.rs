//! The period's CSVs: history, remediation, audit events and population changes. Same
//! conventions as the user lists (BOM, RFC 4180, CRLF, formula cells neutralised).

use std::io::Write;

use anyhow::Result;

use super::csv::{cell, writer};
use crate::evaluate::period::PeriodFacts;
use crate::evidence::Period;
use crate::time::secs_text;

/// One row per snapshot of the period.
pub fn write_history<W: Write>(period: &Period, out: W) -> Result<W> {
    let mut w = writer(out)?;
    w.write_record([
        "sequence",
        "collected_at",
        "in_scope",
        "registered",
        "percent",
        "result",
        "joiners",
        "leavers",
        "snapshot_sha256",
    ])?;
    for p in &period.series {
        w.write_record([
            p.sequence.to_string().as_str(),
            &secs_text(p.collected_at),
            &p.in_scope.to_string(),
            &p.registered.to_string(),
            &p.percent,
            p.result.as_str(),
            &p.joiners.to_string(),
            &p.leavers.to_string(),
            &p.sha256,
        ])?;
    }
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}

/// Users brought into compliance (`remediated`), then users still unregistered at the end of the
/// period (`still-unregistered`), in one file with a status column.
pub fn write_remediation<W: Write>(facts: &PeriodFacts, out: W) -> Result<W> {
    let mut w = writer(out)?;
    w.write_record([
        "status",
        "user_id",
        "user_principal_name",
        "first_seen_unregistered",
        "first_seen_registered",
        "days_open",
        "audit_event_ids",
    ])?;
    for r in &facts.remediated {
        w.write_record([
            "remediated",
            &cell(&r.user_id),
            &cell(&r.user_principal_name),
            &secs_text(r.first_seen_unregistered),
            &secs_text(r.first_seen_registered),
            &r.days_open.to_string(),
            &cell(&r.audit_event_ids.join(";")),
        ])?;
    }
    for o in &facts.still_unregistered {
        w.write_record([
            "still-unregistered",
            &cell(&o.user_id),
            &cell(&o.user_principal_name),
            &secs_text(o.first_seen_unregistered),
            "",
            &o.days_open.to_string(),
            "",
        ])?;
    }
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}

/// The Authentication Methods audit events of the period, each once.
pub fn write_audit_events<W: Write>(facts: &PeriodFacts, out: W) -> Result<W> {
    let mut w = writer(out)?;
    w.write_record([
        "id",
        "activity_date_time",
        "activity",
        "result",
        "target_user_id",
        "target_user_principal_name",
        "initiated_by",
        "first_collected_in_snapshot",
    ])?;
    for (e, seq) in &facts.audit_events {
        w.write_record([
            cell(&e.id).as_ref(),
            &cell(e.activity_date_time.as_str()),
            &cell(&e.activity),
            &cell(&e.result),
            &cell(e.target_user_id.as_deref().unwrap_or_default()),
            &cell(e.target_user_principal_name.as_deref().unwrap_or_default()),
            &cell(e.initiated_by.as_deref().unwrap_or_default()),
            &seq.to_string(),
        ])?;
    }
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}

/// Joiners and leavers of the in-scope population, snapshot by snapshot.
pub fn write_population_changes<W: Write>(facts: &PeriodFacts, out: W) -> Result<W> {
    let mut w = writer(out)?;
    w.write_record([
        "sequence",
        "collected_at",
        "change",
        "user_id",
        "user_principal_name",
    ])?;
    for c in &facts.population_changes {
        w.write_record([
            c.sequence.to_string().as_str(),
            &secs_text(c.collected_at),
            c.change.as_str(),
            &cell(&c.user_id),
            &cell(&c.user_principal_name),
        ])?;
    }
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}
