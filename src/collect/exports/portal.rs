//! The Microsoft Entra admin center's CSV downloads, read by column name (columns come in any
//! order and have changed over time; names are matched case-insensitively).
//!
//! - "Download users" (Users › All users › Download users). Microsoft's page on it
//!   (users-bulk-download) lists `userPrincipalName`, `displayName`, `surname`, `mail`,
//!   `givenName`, `objectId`, `userType`, `jobTitle`, `department`, `accountEnabled`, ...; newer
//!   files name the id column `id`. Read: the id, `userPrincipalName`, `displayName`,
//!   `accountEnabled`, `userType` (all but `displayName` required), and `createdDateTime` and
//!   `directorySynced` where present.
//! - "User registration details" (Protection › Authentication methods › User registration
//!   details › Download): `userPrincipalName,userDisplayName,isMfaCapable,isPasswordlessCapable,
//!   isSsprCapable,defaultMfaMethod,methodsRegistered,lastUpdatedDateTime`, booleans `True` /
//!   `False`, `methodsRegistered` a JSON array in one quoted cell. It has no object id, no
//!   `userType` and no `isMfaRegistered`: those stay "not in this export" unless a column names
//!   them. `userPrincipalName` and `methodsRegistered` are required.
//!
//! The CSV itself is RFC 4180 (quoted cells, `""` for a quote, CRLF or LF), read here so that a
//! file cut inside a quoted cell is named as truncated rather than read short.

use std::path::Path;

use anyhow::{Result, bail};

use super::{Row, Rows, parse_bool, parse_time};
use crate::snapshot::{Registration, User};
use crate::source::SourceKind;

/// A header this file recognises as the registration download: any of its own columns.
const REGISTRATION_MARKERS: [&str; 6] = [
    "methodsregistered",
    "userdisplayname",
    "ismfacapable",
    "isssprcapable",
    "ispasswordlesscapable",
    "defaultmfamethod",
];

/// The columns that make a file the users download (beside `userPrincipalName`).
const USERS_MARKERS: [&str; 4] = ["objectid", "id", "accountenabled", "usertype"];

/// Reads `text` as an admin center download, or as PowerShell's `Export-Csv` of the same objects
/// (PascalCase names, perhaps behind a `#TYPE` line), which this tells apart and returns as
/// [`SourceKind::PowershellExport`]. `Ok(None)`: the header is not one of them (and the file is
/// not named `.csv`, which would make it an error).
pub(super) fn read(
    path: &Path,
    text: &str,
    named_csv: bool,
) -> Result<Option<(SourceKind, Vec<String>, Rows)>> {
    let file = path.display();
    // Windows PowerShell 5.1's Export-Csv writes `#TYPE <type name>` first unless told not to.
    // It is kept as a blank line, so line numbers stay the file's own.
    let typed = text.starts_with("#TYPE ");
    let text = if typed {
        text.find('\n').map_or("", |i| &text[i..])
    } else {
        text
    };
    let records = match parse_csv(text) {
        Ok(records) => records,
        Err(e) if named_csv => bail!("{file}: {e}: download the file again"),
        Err(_) => return Ok(None),
    };
    let Some(((_, header), rows)) = records.split_first() else {
        return Ok(None);
    };
    let names: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let lower: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    let has = |name: &str| lower.iter().any(|n| n == name);
    let is_registration = REGISTRATION_MARKERS.iter().any(|m| has(m));
    let is_users =
        !is_registration && has("userprincipalname") && USERS_MARKERS.iter().any(|m| has(m));
    if !is_registration && !is_users {
        if named_csv {
            bail!(
                "{file} is not an admin center download this tool reads: its header is {}; use Users › All users › Download users, or Authentication methods › User registration details › Download",
                names.join(",")
            );
        }
        return Ok(None);
    }
    // The admin center writes camelCase; PowerShell's Export-Csv the SDK's PascalCase.
    let kind = if typed || names.iter().any(|n| n == "UserPrincipalName") {
        SourceKind::PowershellExport
    } else {
        SourceKind::PortalExport
    };
    let table = Table {
        path,
        lower,
        names: names.clone(),
    };
    for (line, record) in rows {
        if record.len() != names.len() {
            bail!(
                "{file} line {line} has {} cells where the header has {}: the file is truncated or was edited; download it again",
                record.len(),
                names.len()
            );
        }
    }
    let mut properties = names;
    properties.sort();
    let rows = if is_registration {
        Rows::Registrations(table.registrations(rows)?)
    } else {
        Rows::Users(table.users(rows)?)
    };
    Ok(Some((kind, properties, rows)))
}

struct Table<'a> {
    path: &'a Path,
    names: Vec<String>,
    lower: Vec<String>,
}

impl Table<'_> {
    /// The column of `name` (as Microsoft spells it), matched case-insensitively.
    fn column(&self, name: &str) -> Option<usize> {
        let name = name.to_ascii_lowercase();
        self.lower.iter().position(|n| *n == name)
    }

    /// The first of `names` the header has, or an error naming what is missing.
    fn required(&self, names: &[&str], what: &str) -> Result<usize> {
        match names.iter().find_map(|n| self.column(n)) {
            Some(i) => Ok(i),
            None => bail!(
                "{} has no {} column (its header is {}): this is not the admin center's {what} as downloaded; download it again, unedited",
                self.path.display(),
                names.join(" or "),
                self.names.join(",")
            ),
        }
    }

    fn bool_at(&self, record: &[String], column: Option<usize>, line: u32) -> Result<Option<bool>> {
        let Some(i) = column else { return Ok(None) };
        parse_bool(&record[i]).or_else(|()| {
            bail!(
                "{} line {line}: {} is {:?}, not True or False: download the file again, unedited",
                self.path.display(),
                self.names[i],
                record[i]
            )
        })
    }

    fn time_at(
        &self,
        record: &[String],
        column: Option<usize>,
        line: u32,
    ) -> Result<Option<crate::time::GraphTime>> {
        let Some(i) = column else { return Ok(None) };
        if record[i].trim().is_empty() {
            return Ok(None);
        }
        match parse_time(&record[i]) {
            Some(t) => Ok(Some(t)),
            None => bail!(
                "{} line {line}: {} is {:?}, not an RFC 3339 time (e.g. 2026-10-31T06:00:00Z): download the file again, unedited",
                self.path.display(),
                self.names[i],
                record[i]
            ),
        }
    }

    fn text_at(record: &[String], column: Option<usize>) -> String {
        column
            .map(|i| record[i].trim().to_string())
            .unwrap_or_default()
    }

    fn non_empty(&self, record: &[String], column: usize, line: u32) -> Result<String> {
        let text = record[column].trim();
        if text.is_empty() {
            bail!(
                "{} line {line}: {} is empty: every row needs it; download the file again",
                self.path.display(),
                self.names[column]
            );
        }
        Ok(text.to_string())
    }

    fn users(&self, rows: &[(u32, Vec<String>)]) -> Result<Vec<Row<User>>> {
        let what = "users download";
        let id = self.required(&["objectId", "id"], what)?;
        let upn = self.required(&["userPrincipalName"], what)?;
        // Without these the population cannot be scoped: the download always has them.
        let enabled = self.required(&["accountEnabled"], what)?;
        let user_type = self.required(&["userType"], what)?;
        let display = self.column("displayName");
        let created = self.column("createdDateTime");
        let synced = ["directorySynced", "onPremisesSyncEnabled", "dirSyncEnabled"]
            .iter()
            .find_map(|n| self.column(n));
        rows.iter()
            .map(|(line, r)| {
                let line = *line;
                Ok(Row {
                    item: User {
                        id: self.non_empty(r, id, line)?,
                        user_principal_name: self.non_empty(r, upn, line)?,
                        display_name: Self::text_at(r, display),
                        account_enabled: self.bool_at(r, Some(enabled), line)?,
                        user_type: Self::text_at(r, Some(user_type)),
                        // Shown in a CSV only, and written in a local format by some
                        // versions of the download: unreadable is not in this export.
                        created: self.time_at(r, created, line).ok().flatten(),
                        on_premises_sync_enabled: self.bool_at(r, synced, line)?,
                    },
                    place: format!("line {line}"),
                })
            })
            .collect()
    }

    fn registrations(&self, rows: &[(u32, Vec<String>)]) -> Result<Vec<Row<Registration>>> {
        let what = "registration details download";
        let upn = self.required(&["userPrincipalName"], what)?;
        let methods = self.required(&["methodsRegistered"], what)?;
        let id = ["id", "objectId"].iter().find_map(|n| self.column(n));
        let display = self.column("userDisplayName");
        let user_type = self.column("userType");
        let admin = self.column("isAdmin");
        let mfa_registered = self.column("isMfaRegistered");
        let mfa_capable = self.column("isMfaCapable");
        let passwordless = self.column("isPasswordlessCapable");
        let updated = self.column("lastUpdatedDateTime");
        rows.iter()
            .map(|(line, r)| {
                let line = *line;
                let cell = r[methods].trim();
                let methods_registered: Vec<String> = match serde_json::from_str(cell) {
                    Ok(list) => list,
                    // Export-Csv writes a list property as its type name: the methods are lost.
                    Err(_) if cell.starts_with("System.") => bail!(
                        "{} line {line}: {} is {cell:?}: Export-Csv writes a list as its type name, so the methods are not in this file; save the PowerShell output with ConvertTo-Json -Depth 5 instead",
                        self.path.display(),
                        self.names[methods]
                    ),
                    Err(e) => bail!(
                        "{} line {line}: {} is {cell:?}, not a JSON list of method names such as [\"microsoftAuthenticatorPush\"] ({e}): download the file again, unedited (a spreadsheet that saves it can rewrite the cell)",
                        self.path.display(),
                        self.names[methods]
                    ),
                };
                Ok(Row {
                    item: Registration {
                        id: Self::text_at(r, id),
                        user_principal_name: self.non_empty(r, upn, line)?,
                        display_name: Self::text_at(r, display),
                        user_type: Self::text_at(r, user_type),
                        is_admin: self.bool_at(r, admin, line)?,
                        is_mfa_registered: self.bool_at(r, mfa_registered, line)?,
                        is_mfa_capable: self.bool_at(r, mfa_capable, line)?,
                        is_passwordless_capable: self.bool_at(r, passwordless, line)?,
                        last_updated: self.time_at(r, updated, line)?,
                        methods_registered,
                    },
                    place: format!("line {line}"),
                })
            })
            .collect()
    }
}

/// RFC 4180 records with the line each starts on (from 1). Blank lines between records are
/// skipped. A quote left open at the end of the text is an error: the file was cut short.
fn parse_csv(text: &str) -> Result<Vec<(u32, Vec<String>)>, String> {
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut cell = String::new();
    let mut line: u32 = 1;
    let mut start_line: u32 = 1;
    let mut quoted = false;
    let mut quote_line = 0;
    let mut cell_started = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    cell.push(c);
                }
                _ => cell.push(c),
            }
            continue;
        }
        match c {
            '"' if cell.is_empty() && !cell_started => {
                quoted = true;
                cell_started = true;
                quote_line = line;
            }
            '"' => return Err(format!("line {line} has a quote inside an unquoted cell")),
            ',' => {
                record.push(std::mem::take(&mut cell));
                cell_started = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                end_record(
                    &mut records,
                    &mut record,
                    &mut cell,
                    start_line,
                    cell_started,
                );
                cell_started = false;
                line += 1;
                start_line = line;
            }
            _ => {
                cell.push(c);
                cell_started = true;
            }
        }
    }
    if quoted {
        return Err(format!(
            "the file ends inside the quoted cell begun on line {quote_line}: it is truncated"
        ));
    }
    end_record(
        &mut records,
        &mut record,
        &mut cell,
        start_line,
        cell_started,
    );
    Ok(records)
}

fn end_record(
    records: &mut Vec<(u32, Vec<String>)>,
    record: &mut Vec<String>,
    cell: &mut String,
    line: u32,
    cell_started: bool,
) {
    if record.is_empty() && cell.is_empty() && !cell_started {
        return; // a blank line
    }
    record.push(std::mem::take(cell));
    records.push((line, std::mem::take(record)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4180_records_with_their_lines() {
        let text = "a,b\r\n\"x,1\",\"say \"\"hi\"\"\"\r\n\r\n\"two\nlines\",\r\nlast,\"\"";
        let records = parse_csv(text).unwrap();
        assert_eq!(
            records,
            [
                (1, vec!["a".to_string(), "b".to_string()]),
                (2, vec!["x,1".to_string(), "say \"hi\"".to_string()]),
                (4, vec!["two\nlines".to_string(), String::new()]),
                (6, vec!["last".to_string(), String::new()]),
            ]
        );
        assert!(parse_csv("a,b\n\"cut").unwrap_err().contains("line 2"));
    }
}
