//! `portfolio.csv`: one row per tenant of a `report --all-tenants` run, the figure of each
//! package and the file and SHA-256 that prove it, for an MSP's overview. Same conventions as
//! the package's CSVs (BOM, CRLF, formula cells neutralised). A tenant whose report broke has a
//! row too, with `result` = `error` and the error, so no tenant silently drops out.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::evaluate::period::Conclusion;
use crate::evidence::PointInTime;
use crate::render::csv::{cell, writer};
use crate::time::secs_text;

pub const COLUMNS: [&str; 11] = [
    "tenant_id",
    "tenant_name",
    "as_of",
    "in_scope",
    "registered",
    "percent",
    "result",
    "period_conclusion",
    "package",
    "package_sha256",
    "error",
];

/// One tenant's line.
pub enum PortfolioRow<'a> {
    Reported {
        tenant_id: &'a str,
        tenant_name: &'a str,
        as_of: DateTime<Utc>,
        point: &'a PointInTime,
        period_conclusion: Option<Conclusion>,
        /// The zip's file name, beside `portfolio.csv`.
        package: String,
        sha256: &'a str,
    },
    Broken {
        tenant_id: &'a str,
        tenant_name: &'a str,
        error: String,
    },
}

pub fn write<W: Write>(rows: &[PortfolioRow], out: W) -> Result<W> {
    let mut w = writer(out)?;
    w.write_record(COLUMNS)?;
    for row in rows {
        match row {
            PortfolioRow::Reported {
                tenant_id,
                tenant_name,
                as_of,
                point,
                period_conclusion,
                package,
                sha256,
            } => w.write_record([
                cell(tenant_id).as_ref(),
                &cell(tenant_name),
                &secs_text(*as_of),
                &point.in_scope.to_string(),
                &point.registered.to_string(),
                &point.percent,
                point.result.as_str(),
                period_conclusion.map_or("", Conclusion::as_str),
                &cell(package),
                sha256,
                "",
            ])?,
            PortfolioRow::Broken {
                tenant_id,
                tenant_name,
                error,
            } => w.write_record([
                cell(tenant_id).as_ref(),
                &cell(tenant_name),
                "",
                "",
                "",
                "",
                "error",
                "",
                "",
                "",
                &cell(error),
            ])?,
        }
    }
    w.into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write the portfolio: {}", e.error()))
}

/// Writes the portfolio aside and renames it into place, so a reader never sees half of it.
pub fn write_file(path: &Path, rows: &[PortfolioRow]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::files::create_private_dir_all(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let file = tempfile::Builder::new()
        .prefix(".portfolio-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let mut out = write(rows, std::io::BufWriter::new(file))?
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write the portfolio: {}", e.error()))?;
    out.flush()?;
    out.as_file()
        .sync_all()
        .with_context(|| format!("cannot write {}", path.display()))?;
    out.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
