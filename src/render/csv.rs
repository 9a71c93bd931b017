//! The CSV user lists. They open cleanly in Excel: UTF-8 with a byte-order mark, RFC 4180 quoting
//! and CRLF line ends; a cell that a spreadsheet would run as a formula is neutralised.

use std::io::Write;

use anyhow::Result;

use crate::cores;
use crate::evaluate::{Classification, Evaluation};
use crate::evidence::reason_text;

const BOM: &[u8] = b"\xEF\xBB\xBF";

pub const POPULATION_COLUMNS: [&str; 14] = [
    "user_id",
    "user_principal_name",
    "display_name",
    "classification",
    "reason",
    "account_enabled",
    "user_type",
    "in_registration_report",
    "methods_registered",
    "registered",
    "is_mfa_registered",
    "is_mfa_capable",
    "phishing_resistant",
    "report_last_updated",
];

/// A CSV writer with the package's conventions; the BOM is written first.
pub fn writer<W: Write>(mut out: W) -> Result<csv::Writer<W>> {
    out.write_all(BOM)?;
    Ok(conventions().from_writer(out))
}

/// RFC 4180 quoting (the csv crate's default) with CRLF line ends.
fn conventions() -> csv::WriterBuilder {
    let mut builder = csv::WriterBuilder::new();
    builder.terminator(csv::Terminator::CRLF);
    builder
}

/// Cells starting with `=`, `+`, `-`, `@`, tab or carriage return are run as formulas by
/// spreadsheets (CSV injection); a leading apostrophe makes them text.
pub fn cell(value: &str) -> std::borrow::Cow<'_, str> {
    match value.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{value}").into(),
        _ => value.into(),
    }
}

fn flag(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    }
}

/// One row per user from /users.
pub fn write_population<W: Write>(evaluation: &Evaluation, out: W) -> Result<W> {
    write_on_cores(out, &POPULATION_COLUMNS, &evaluation.users, |w, row| {
        let reg = row.registration;
        let methods = row.methods().join(";");
        w.write_record([
            cell(&row.user.id).as_ref(),
            &cell(&row.user.user_principal_name),
            &cell(&row.user.display_name),
            row.classification().as_str(),
            &cell(&reason_text(row, evaluation)),
            flag(row.user.account_enabled),
            &cell(&row.user.user_type),
            if reg.is_some() { "true" } else { "false" },
            &cell(&methods),
            flag(row.registered),
            flag(reg.and_then(|r| r.is_mfa_registered)),
            flag(reg.and_then(|r| r.is_mfa_capable)),
            flag(Some(row.phishing_resistant())),
            &cell(
                reg.and_then(|r| r.last_updated.as_ref())
                    .map_or("", |t| t.as_str()),
            ),
        ])
    })
}

/// Writes `header`, then a record of each of `rows`, the records formatted on every core a
/// block at a time (a window of blocks held at once) and written in order: the bytes one writer
/// would write, for a list of a million users.
fn write_on_cores<W: Write, T: Sync>(
    out: W,
    header: &[&str],
    rows: &[T],
    record: impl Fn(&mut csv::Writer<Vec<u8>>, &T) -> csv::Result<()> + Sync,
) -> Result<W> {
    const BLOCK: usize = 8192;
    let mut w = writer(out)?;
    w.write_record(header)?;
    let mut out = w.into_inner().map_err(|e| e.into_error())?;
    let blocks: Vec<&[T]> = rows.chunks(BLOCK).collect();
    cores::in_windows(
        &blocks,
        |block| -> Result<Vec<u8>> {
            let mut w = conventions().from_writer(Vec::new());
            for row in *block {
                record(&mut w, row)?;
            }
            Ok(w.into_inner().map_err(|e| e.into_error())?)
        },
        |text| -> Result<()> { Ok(out.write_all(&text?)?) },
    )?;
    Ok(out)
}

/// In-scope users without a qualifying method.
pub fn write_unregistered<W: Write>(evaluation: &Evaluation, out: W) -> Result<W> {
    let mut w = writer(out)?;
    w.write_record([
        "user_id",
        "user_principal_name",
        "display_name",
        "in_registration_report",
        "methods_registered",
        "reason",
        "is_mfa_registered",
        "account_created",
    ])?;
    for row in evaluation
        .users
        .iter()
        .filter(|r| r.registered == Some(false))
    {
        w.write_record([
            cell(&row.user.id).as_ref(),
            &cell(&row.user.user_principal_name),
            &cell(&row.user.display_name),
            if row.registration.is_some() {
                "true"
            } else {
                "false"
            },
            &cell(&row.methods().join(";")),
            &cell(&reason_text(row, evaluation)),
            flag(row.registration.and_then(|r| r.is_mfa_registered)),
            &cell(row.user.created.as_ref().map_or("", |t| t.as_str())),
        ])?;
    }
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}

/// Users excluded from the figure: break-glass, disabled, guests, exceptions.
pub fn write_excluded<W: Write>(evaluation: &Evaluation, out: W) -> Result<W> {
    let mut w = writer(out)?;
    w.write_record([
        "user_id",
        "user_principal_name",
        "display_name",
        "classification",
        "reason",
        "methods_registered",
        "phishing_resistant",
        "approved_by",
        "expires",
    ])?;
    for row in evaluation
        .users
        .iter()
        .filter(|r| r.classification() != Classification::InScope)
    {
        w.write_record([
            cell(&row.user.id).as_ref(),
            &cell(&row.user.user_principal_name),
            &cell(&row.user.display_name),
            row.classification().as_str(),
            &cell(&reason_text(row, evaluation)),
            &cell(&row.methods().join(";")),
            flag(Some(row.phishing_resistant())),
            &cell(row.exception().map_or("", |e| e.approved_by.as_str())),
            &row.exception()
                .map_or(String::new(), |e| e.expires.to_string()),
        ])?;
    }
    Ok(w.into_inner().map_err(|e| e.into_error())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM"), "'@SUM");
        assert_eq!(cell("Zoë"), "Zoë");
        assert_eq!(cell(""), "");
    }
}
