//! Microsoft Graph PowerShell output saved with `ConvertTo-Json -Depth 5`:
//!
//! - `Get-MgUser -All -Property Id,UserPrincipalName,DisplayName,AccountEnabled,UserType`: every
//!   property of the SDK's user type, PascalCase (`Id`, `UserPrincipalName`, `AccountEnabled`,
//!   `UserType`, ...), `null` where not selected, and an `AdditionalProperties` object for what the
//!   type does not declare.
//! - `Get-MgOrganization`: `Id`, `DisplayName`, `VerifiedDomains`, ...: the tenant.
//! - `Get-MgReportAuthenticationMethodUserRegistrationDetail -All`: `Id`, `UserPrincipalName`,
//!   `UserDisplayName`, `UserType`, `IsAdmin`, `IsMfaRegistered`, `IsMfaCapable`,
//!   `IsPasswordlessCapable`, `LastUpdatedDateTime`, `MethodsRegistered`, ...
//!
//! PowerShell 7 writes a JSON array with ISO dates. Windows PowerShell 5.1 writes dates as
//! `"\/Date(ms)\/"`, a single item as a bare object (it has no `-AsArray`), and nothing at all for
//! zero items (an empty file, handled by the caller). Names are matched case-insensitively, and
//! looked up in `AdditionalProperties` when the item itself does not have them, so the camelCase
//! of `Invoke-MgGraphRequest` items reads too. `null` is "not in this export", never `false`.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Result, bail};
use serde_json::{Map, Value};

use super::{Row, Rows, parse_time};
use crate::snapshot::{Registration, Tenant, User};
use crate::time::GraphTime;

/// Reads `text` (starting with `[` or `{`) as PowerShell output. `Ok(None)`: JSON, but not items
/// of a source this tool reads (a Graph page, say, which has its own naming rules).
pub(super) fn read(path: &Path, text: &str) -> Result<Option<(Vec<String>, Rows)>> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => bail!(
            "{} is not valid JSON ({e}): save the PowerShell output again with ConvertTo-Json -Depth 5 (the file may be cut short)",
            path.display()
        ),
    };
    let items: Vec<Value> = match value {
        // A Graph page or error body: not PowerShell's shape.
        Value::Object(ref map) if map.contains_key("value") || map.contains_key("error") => {
            return Ok(None);
        }
        Value::Object(_) => vec![value],
        Value::Array(list) => list,
        _ => return Ok(None),
    };
    let Some(Value::Object(first)) = items.first() else {
        // `[]` (PowerShell 7 with -AsArray and zero items) says no more than an empty file.
        if items.is_empty() {
            return Ok(Some((Vec::new(), Rows::Nothing)));
        }
        return Ok(None);
    };
    let first = Item(first);
    // `Get-MgOrganization`: the tenant's id and name, beside its verified domains.
    let is_organization = first.has("verifieddomains") && first.has("id");
    let is_registration = !is_organization && first.has("methodsregistered");
    let is_users = !is_organization
        && !is_registration
        && first.has("userprincipalname")
        && ["accountenabled", "usertype", "id"]
            .iter()
            .any(|k| first.has(k));
    if !is_organization && !is_registration && !is_users {
        return Ok(None);
    }
    let mut properties = BTreeSet::new();
    let mut objects = Vec::with_capacity(items.len());
    for (n, value) in items.iter().enumerate() {
        let Value::Object(map) = value else {
            bail!(
                "{} item {}: not an object like the others: save the PowerShell output again unchanged",
                path.display(),
                n + 1
            );
        };
        properties.extend(map.keys().filter(|k| *k != "AdditionalProperties").cloned());
        if let Some(Value::Object(extra)) = map.get("AdditionalProperties") {
            properties.extend(extra.keys().filter(|k| !k.starts_with('@')).cloned());
        }
        objects.push((Item(map), format!("item {}", n + 1)));
    }
    let reader = Reader { path };
    let rows = if is_organization {
        Rows::Organization(
            objects
                .into_iter()
                .map(|(item, place)| {
                    let tenant = Tenant {
                        id: reader.required(&item, "id", "Id", &place)?,
                        name: reader.text(&item, "displayname", &place)?,
                    };
                    Ok(Row {
                        item: tenant,
                        place,
                    })
                })
                .collect::<Result<_>>()?,
        )
    } else if is_registration {
        Rows::Registrations(
            objects
                .into_iter()
                .map(|(item, place)| {
                    let registration = reader.registration(&item, &place)?;
                    Ok(Row {
                        item: registration,
                        place,
                    })
                })
                .collect::<Result<_>>()?,
        )
    } else {
        Rows::Users(
            objects
                .into_iter()
                .map(|(item, place)| {
                    let user = reader.user(&item, &place)?;
                    Ok(Row { item: user, place })
                })
                .collect::<Result<_>>()?,
        )
    };
    Ok(Some((properties.into_iter().collect(), rows)))
}

/// A date as PowerShell writes one: a string, or, where Windows PowerShell 5.1 serialises the
/// object rather than the date, `{"value": "\/Date(ms)\/", ...}` (a date carrying PowerShell's
/// own properties) or a `DateTimeOffset`'s properties, of which `UtcDateTime` is the instant.
fn time_of(value: &Value) -> Option<GraphTime> {
    match value {
        Value::String(s) => parse_time(s),
        Value::Object(map) => ["UtcDateTime", "value"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .and_then(parse_time),
        _ => None,
    }
}

/// One item, its members found case-insensitively, `AdditionalProperties` second.
struct Item<'a>(&'a Map<String, Value>);

impl<'a> Item<'a> {
    fn get(&self, lower: &str) -> Option<(&'a str, &'a Value)> {
        let find = |map: &'a Map<String, Value>| {
            map.iter()
                .find(|(k, v)| k.eq_ignore_ascii_case(lower) && !v.is_null())
                .map(|(k, v)| (k.as_str(), v))
        };
        find(self.0).or_else(|| match self.0.get("AdditionalProperties") {
            Some(Value::Object(extra)) => find(extra),
            _ => None,
        })
    }

    fn has(&self, lower: &str) -> bool {
        self.0.keys().any(|k| k.eq_ignore_ascii_case(lower))
            || matches!(self.0.get("AdditionalProperties"), Some(Value::Object(extra)) if extra.keys().any(|k| k.eq_ignore_ascii_case(lower)))
    }
}

struct Reader<'a> {
    path: &'a Path,
}

impl Reader<'_> {
    fn wrong(&self, place: &str, key: &str, value: &Value, wanted: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "{} {place}: {key} is {value}, not {wanted}: save the PowerShell output again with ConvertTo-Json -Depth 5, unchanged",
            self.path.display()
        )
    }

    fn text(&self, item: &Item, key: &str, place: &str) -> Result<String> {
        match item.get(key) {
            None => Ok(String::new()),
            Some((_, Value::String(s))) => Ok(s.trim().to_string()),
            Some((name, other)) => Err(self.wrong(place, name, other, "a string")),
        }
    }

    fn required(&self, item: &Item, key: &str, name: &str, place: &str) -> Result<String> {
        let text = self.text(item, key, place)?;
        if text.is_empty() {
            bail!(
                "{} {place} has no {name}: every item needs it; select it in the PowerShell command (-Property) and save again",
                self.path.display()
            );
        }
        Ok(text)
    }

    fn flag(&self, item: &Item, key: &str, place: &str) -> Result<Option<bool>> {
        match item.get(key) {
            None => Ok(None),
            Some((_, Value::Bool(b))) => Ok(Some(*b)),
            Some((name, other)) => Err(self.wrong(place, name, other, "true, false or null")),
        }
    }

    fn time(&self, item: &Item, key: &str, place: &str) -> Result<Option<GraphTime>> {
        match item.get(key) {
            None => Ok(None),
            Some((name, value)) => time_of(value)
                .map(Some)
                .ok_or_else(|| self.wrong(place, name, value, "a date")),
        }
    }

    /// An enum the SDK writes as its name; Windows PowerShell 5.1 may write an enum's number,
    /// which names nothing this tool can check: not in this export.
    fn enum_text(&self, item: &Item, key: &str, place: &str) -> Result<String> {
        match item.get(key) {
            Some((_, Value::Number(_))) => Ok(String::new()),
            _ => self.text(item, key, place),
        }
    }

    fn user(&self, item: &Item, place: &str) -> Result<User> {
        Ok(User {
            id: self.required(item, "id", "Id", place)?,
            user_principal_name: self.required(
                item,
                "userprincipalname",
                "UserPrincipalName",
                place,
            )?,
            display_name: self.text(item, "displayname", place)?,
            account_enabled: self.flag(item, "accountenabled", place)?,
            user_type: self.enum_text(item, "usertype", place)?,
            created: self.time(item, "createddatetime", place)?,
            on_premises_sync_enabled: self.flag(item, "onpremisessyncenabled", place)?,
        })
    }

    fn registration(&self, item: &Item, place: &str) -> Result<Registration> {
        let methods_registered = match item.get("methodsregistered") {
            None => Vec::new(),
            // Windows PowerShell 5.1 unrolls a one-element array only in the pipeline, not in a
            // property, but a hand-made file may hold a bare string.
            Some((_, Value::String(s))) => vec![s.clone()],
            Some((name, value @ Value::Array(list))) => list
                .iter()
                .map(|m| m.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| self.wrong(place, name, value, "a list of method names"))?,
            Some((name, other)) => {
                return Err(self.wrong(place, name, other, "a list of method names"));
            }
        };
        Ok(Registration {
            id: self.text(item, "id", place)?,
            user_principal_name: self.required(
                item,
                "userprincipalname",
                "UserPrincipalName",
                place,
            )?,
            display_name: self.text(item, "userdisplayname", place)?,
            user_type: self.enum_text(item, "usertype", place)?,
            is_admin: self.flag(item, "isadmin", place)?,
            is_mfa_registered: self.flag(item, "ismfaregistered", place)?,
            is_mfa_capable: self.flag(item, "ismfacapable", place)?,
            is_passwordless_capable: self.flag(item, "ispasswordlesscapable", place)?,
            last_updated: self.time(item, "lastupdateddatetime", place)?,
            methods_registered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_in_every_form_windows_powershell_writes() {
        let at = |v: Value| time_of(&v).map(|t| t.at().timestamp());
        assert_eq!(at(json!("2026-10-31T06:00:00Z")), Some(1_793_426_400));
        assert_eq!(at(json!("/Date(1793426400000)/")), Some(1_793_426_400));
        assert_eq!(
            at(json!({"value": "/Date(1793426400000)/", "DisplayHint": 2})),
            Some(1_793_426_400)
        );
        assert_eq!(
            at(
                json!({"DateTime": "/Date(1793430000000)/", "UtcDateTime": "/Date(1793426400000)/", "Offset": {}})
            ),
            Some(1_793_426_400)
        );
        assert_eq!(at(json!(1793426400)), None);
        assert_eq!(at(json!({"Ticks": 1})), None);
    }
}
