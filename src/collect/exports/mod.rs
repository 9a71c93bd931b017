//! Exports an admin can make without registering an application: the Microsoft Entra admin
//! center's downloads (`portal`: "Download users" and the "User registration details" download,
//! both CSV) and Microsoft Graph PowerShell output saved with `ConvertTo-Json` (`powershell`:
//! `Get-MgUser` and `Get-MgReportAuthenticationMethodUserRegistrationDetail`). `encoding` decodes
//! whatever Windows wrote (UTF-8 with or without a byte-order mark, UTF-16 behind one).
//!
//! `portal` also reads PowerShell's `Export-Csv` of the same objects (PascalCase, perhaps a
//! `#TYPE` line), as a PowerShell export; its users are whole, but it writes a registration's
//! `MethodsRegistered` as `System.String[]`, which is refused.
//!
//! A file is recognised by what it holds, never by its name: [`read_file`] says whether a file is
//! one of these exports, of which source, and reads its rows into `snapshot` types. What a file
//! does not carry stays `None` or empty ("not in this export"), never `false`. Joining users and
//! registration rows (by UPN where a row has no id), the tenant, and the record of what was read
//! are `import`'s.

mod encoding;
mod portal;
mod powershell;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::snapshot::{Registration, Tenant, TextEncoding, User};
use crate::source::{Source, SourceKind};
use crate::time::GraphTime;

/// One export file, read.
#[derive(Debug)]
pub(crate) struct ExportFile {
    pub(crate) path: PathBuf,
    /// [`SourceKind::PortalExport`] or [`SourceKind::PowershellExport`].
    pub(crate) kind: SourceKind,
    pub(crate) encoding: TextEncoding,
    /// The CSV header's names, or the properties present on the JSON items, sorted.
    pub(crate) properties: Vec<String>,
    pub(crate) rows: Rows,
}

/// What an export file holds.
#[derive(Debug)]
pub(crate) enum Rows {
    /// `Get-MgOrganization` output: the tenant.
    Organization(Vec<Row<Tenant>>),
    Users(Vec<Row<User>>),
    Registrations(Vec<Row<Registration>>),
    /// An empty file: Windows PowerShell 5.1's `ConvertTo-Json` writes nothing for zero items,
    /// so the file cannot say which source it is.
    Nothing,
}

/// An item and where it was read, for messages that name the row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row<T> {
    pub(crate) item: T,
    /// `line 12` (a CSV record, by the line it starts on; the header is line 1) or `item 3` (a
    /// JSON item, from 1).
    pub(crate) place: String,
}

impl ExportFile {
    /// The source the file holds; `None` for an empty PowerShell file.
    pub(crate) fn source(&self) -> Option<Source> {
        match self.rows {
            Rows::Organization(_) => Some(Source::Organization),
            Rows::Users(_) => Some(Source::Users),
            Rows::Registrations(_) => Some(Source::Registration),
            Rows::Nothing => None,
        }
    }

    pub(crate) fn name(&self) -> String {
        file_name(&self.path)
    }

    pub(crate) fn len(&self) -> usize {
        match &self.rows {
            Rows::Organization(r) => r.len(),
            Rows::Users(r) => r.len(),
            Rows::Registrations(r) => r.len(),
            Rows::Nothing => 0,
        }
    }

    /// `users.csv line 12`.
    pub(crate) fn at(&self, place: &str) -> String {
        format!("{} {place}", self.name())
    }
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads `path` as an export when its content is one. `Ok(None)`: not an export this tool knows
/// (the caller decides whether that is an error). A file that is recognisably an export but is
/// broken (a truncated CSV, a missing column, a cell that does not read) is an error naming the
/// file, the row and what to do.
pub(crate) fn read_file(path: &Path) -> Result<Option<ExportFile>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let (text, encoding) = match encoding::decode(&bytes) {
        Ok(decoded) => decoded,
        // A .csv or .json that is not text is a broken export; anything else is not ours.
        Err(e) if extension == "csv" || extension == "json" => {
            bail!("{} cannot be read: {}", path.display(), e.describe())
        }
        Err(_) => return Ok(None),
    };
    let body = text.trim_start_matches('\u{feff}').trim();
    if body.is_empty() {
        return match extension.as_str() {
            "json" | "txt" => Ok(Some(ExportFile {
                path: path.to_path_buf(),
                kind: SourceKind::PowershellExport,
                encoding,
                properties: Vec::new(),
                rows: Rows::Nothing,
            })),
            "csv" => bail!(
                "{} is empty: an admin center download always has a header line; download it again",
                path.display()
            ),
            _ => Ok(None),
        };
    }
    let read = if body.starts_with('[') || body.starts_with('{') {
        powershell::read(path, body)?
            .map(|(properties, rows)| (SourceKind::PowershellExport, properties, rows))
    } else {
        portal::read(path, body, extension == "csv")?
    };
    Ok(read.map(|(kind, properties, rows)| ExportFile {
        path: path.to_path_buf(),
        kind,
        encoding,
        properties,
        rows,
    }))
}

/// `True`/`False` as the admin center writes them, `true`/`false` as well; an empty cell is not
/// in this export (`None`). Anything else is refused by the caller with the cell named.
pub(super) fn parse_bool(text: &str) -> Result<Option<bool>, ()> {
    let text = text.trim();
    if text.is_empty() {
        Ok(None)
    } else if text.eq_ignore_ascii_case("true") {
        Ok(Some(true))
    } else if text.eq_ignore_ascii_case("false") {
        Ok(Some(false))
    } else {
        Err(())
    }
}

/// An RFC 3339 time, or Windows PowerShell 5.1's `/Date(1730354400000)/` (milliseconds since
/// 1970, perhaps with a `+0100` offset that does not change the instant), turned into RFC 3339
/// text so the snapshot stores one form.
pub(super) fn parse_time(text: &str) -> Option<GraphTime> {
    let text = text.trim();
    if let Some(inner) = text
        .strip_prefix("/Date(")
        .and_then(|rest| rest.strip_suffix(")/"))
    {
        let digits_end = inner
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == '+' || *c == '-')
            .map_or(inner.len(), |(i, _)| i);
        let (ms, offset) = inner.split_at(digits_end);
        let offset_ok = offset.is_empty()
            || (offset.len() == 5 && offset[1..].bytes().all(|b| b.is_ascii_digit()));
        if !offset_ok {
            return None;
        }
        let ms: i64 = ms.parse().ok()?;
        let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)?;
        return GraphTime::parse(&at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)).ok();
    }
    GraphTime::parse(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_powershell_dates_become_rfc3339() {
        let t = parse_time("/Date(1761890400000)/").unwrap();
        assert_eq!(t.as_str(), "2025-10-31T06:00:00.000Z");
        assert_eq!(
            parse_time("/Date(1761890400000+0100)/").unwrap().at(),
            t.at()
        );
        assert_eq!(parse_time("2025-10-31T06:00:00Z").unwrap().at(), t.at());
        for bad in ["/Date(abc)/", "/Date(1+1)/", "31/10/2025 06:00", ""] {
            assert!(parse_time(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn booleans_as_the_admin_center_writes_them() {
        assert_eq!(parse_bool("True"), Ok(Some(true)));
        assert_eq!(parse_bool("false"), Ok(Some(false)));
        assert_eq!(parse_bool(" "), Ok(None));
        assert_eq!(parse_bool("Yes"), Err(()));
    }
}
