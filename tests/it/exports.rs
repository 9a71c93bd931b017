//! Exports an admin can make without registering an application: the Entra admin center's CSV
//! downloads and Microsoft Graph PowerShell output, in every encoding and shape Windows writes.
//!
//! One synthetic tenant (`demo::synth`) is written as Graph pages and converted here into each
//! export shape, so the figure of every route can be compared with the Graph pages' own. Where
//! each shape comes from is said at its writer.

use std::path::{Path, PathBuf};

use mfa_evidence::collect::import::{ImportOptions, import_dir, import_dir_with};
use mfa_evidence::config::Config;
use mfa_evidence::demo::synth::{self, TenantSpec, TenantSummary};
use mfa_evidence::evaluate::{Figure, evaluate};
use mfa_evidence::snapshot::{Imported, Registration, Snapshot, TextEncoding, User};
use mfa_evidence::source::{Source, SourceKind, SourceStatus};
use serde_json::{Value, json};

use crate::util::{AS_OF, Workdir, as_of, assert_contains, zip_entries};

struct Tenant {
    _tmp: tempfile::TempDir,
    graph: PathBuf,
    snapshot: Snapshot,
    config: Config,
    summary: TenantSummary,
}

fn tenant() -> Tenant {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    let summary = synth::write_tenant(&TenantSpec::new(300, 14, as_of()), &graph).unwrap();
    let snapshot = import_dir(&graph, Some(as_of())).unwrap().snapshot;
    let config = Config::from_toml(&synth::config_toml(&summary)).unwrap();
    Tenant {
        _tmp: tmp,
        graph,
        snapshot,
        config,
        summary,
    }
}

impl Tenant {
    /// A folder holding the tenant's Graph pages of every source but users and the registration
    /// report (and provenance.json), plus `files`.
    fn folder(&self, name: &str, keep_organization: bool, files: &[(&str, Vec<u8>)]) -> PathBuf {
        let dir = self._tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&self.graph).unwrap() {
            let entry = entry.unwrap();
            let file = entry.file_name().to_string_lossy().into_owned();
            let population =
                file.starts_with("users") || file.starts_with("userRegistrationDetails");
            if population
                || file == "provenance.json"
                || (!keep_organization && file.starts_with("organization"))
            {
                continue;
            }
            std::fs::copy(entry.path(), dir.join(&file)).unwrap();
        }
        for (file, bytes) in files {
            std::fs::write(dir.join(file), bytes).unwrap();
        }
        dir
    }

    fn figure(&self, snapshot: &Snapshot) -> (Figure, String) {
        let e = evaluate(snapshot, &self.config.control);
        (e.figure(), format!("{:?}", e.tally.reconciliation))
    }
}

// ---------------------------------------------------------------------------------------------
// The shapes.

/// A CSV cell: quoted when it must be (RFC 4180).
fn cell(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn utf8_bom(text: &str) -> Vec<u8> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    out.extend(text.as_bytes());
    out
}

fn utf16le_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    out
}

fn true_false(flag: Option<bool>) -> &'static str {
    match flag {
        Some(true) => "True",
        Some(false) => "False",
        None => "",
    }
}

/// The admin center's Users › All users › Download users. Columns as Microsoft's page on it
/// (users-bulk-download) lists them, in its order (the id column `objectId`); booleans
/// `True`/`False`; UTF-8 with a byte-order mark and CRLF line ends, as Windows tools write CSV
/// for Excel.
fn portal_users_csv(users: &[User]) -> Vec<u8> {
    portal_users_csv_without(users, None)
}

/// The same, with one column left out.
fn portal_users_csv_without(users: &[User], drop: Option<&str>) -> Vec<u8> {
    let header = [
        "userPrincipalName",
        "displayName",
        "surname",
        "mail",
        "givenName",
        "objectId",
        "userType",
        "jobTitle",
        "department",
        "accountEnabled",
        "usageLocation",
        "streetAddress",
        "state",
        "country",
        "physicalDeliveryOfficeName",
        "city",
        "postalCode",
        "telephoneNumber",
        "mobile",
        "authenticationAlternativePhoneNumber",
        "authenticationEmail",
        "alternateEmailAddress",
        "ageGroup",
        "consentProvidedForMinor",
        "legalAgeGroupClassification",
    ];
    let keep = |i: &usize| drop != Some(header[*i]);
    let columns: Vec<usize> = (0..header.len()).filter(keep).collect();
    let mut text = columns
        .iter()
        .map(|&i| header[i])
        .collect::<Vec<_>>()
        .join(",")
        + "\r\n";
    for u in users {
        let mut row = vec![String::new(); header.len()];
        row[0] = cell(&u.user_principal_name);
        row[1] = cell(&u.display_name);
        row[3] = cell(&u.user_principal_name);
        row[5] = u.id.clone();
        row[6] = u.user_type.clone();
        row[9] = true_false(u.account_enabled).to_string();
        text += &columns
            .iter()
            .map(|&i| row[i].as_str())
            .collect::<Vec<_>>()
            .join(",");
        text += "\r\n";
    }
    utf8_bom(&text)
}

/// The header of the admin center's Protection › Authentication methods › User registration
/// details › Download, as a real file has it.
const REGISTRATION_HEADER: &str = "userPrincipalName,userDisplayName,isMfaCapable,isPasswordlessCapable,isSsprCapable,defaultMfaMethod,methodsRegistered,lastUpdatedDateTime";

/// That download: `True`/`False`, `methodsRegistered` a JSON array in one quoted cell
/// (`"[""microsoftAuthenticatorPush"",""softwareOneTimePasscode""]"`, `[]` for none), no object
/// id, no userType, no isMfaRegistered. Every cell quoted, UTF-8 with a byte-order mark, CRLF.
fn portal_registrations_csv(rows: &[Registration]) -> Vec<u8> {
    let mut text = REGISTRATION_HEADER.to_string() + "\r\n";
    for r in rows {
        let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let methods = serde_json::to_string(&r.methods_registered).unwrap();
        let line = [
            quoted(&r.user_principal_name),
            quoted(&r.display_name),
            quoted(true_false(r.is_mfa_capable)),
            quoted(true_false(r.is_passwordless_capable)),
            quoted("False"),
            quoted(r.methods_registered.first().map_or("none", String::as_str)),
            quoted(&methods),
            quoted(r.last_updated.as_ref().map_or("", |t| t.as_str())),
        ];
        text += &line.join(",");
        text += "\r\n";
    }
    utf8_bom(&text)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shell {
    /// PowerShell 7: a JSON array, ISO dates.
    Seven,
    /// Windows PowerShell 5.1: `"\/Date(ms)\/"` dates, a bare object for one item.
    FiveOne,
}

fn ps_date(text: Option<&str>, shell: Shell) -> Value {
    match (text, shell) {
        (None, _) => Value::Null,
        (Some(t), Shell::Seven) => json!(t),
        (Some(t), Shell::FiveOne) => {
            let ms = mfa_evidence::time::parse_rfc3339(t)
                .unwrap()
                .timestamp_millis();
            json!(format!("/Date({ms})/"))
        }
    }
}

/// `ConvertTo-Json -Depth 5` of a list: an array, or for Windows PowerShell 5.1 one item bare;
/// 5.1 escapes the slashes of its dates (`"\/Date(1761890400000)\/"`).
fn ps_json(items: Vec<Value>, shell: Shell) -> String {
    let value = if shell == Shell::FiveOne && items.len() == 1 {
        items.into_iter().next().unwrap()
    } else {
        Value::Array(items)
    };
    let text = serde_json::to_string_pretty(&value).unwrap();
    match shell {
        Shell::Seven => text,
        Shell::FiveOne => text
            .replace("\"/Date(", "\"\\/Date(")
            .replace(")/\"", ")\\/\""),
    }
}

/// `Get-MgUser -All -Property Id,UserPrincipalName,DisplayName,AccountEnabled,UserType,
/// CreatedDateTime,OnPremisesSyncEnabled | ConvertTo-Json -Depth 5`: the SDK's user type with
/// PascalCase names, the properties not selected `null` (a few shown here of the many), and
/// `AdditionalProperties`.
fn ps_users(users: &[User], shell: Shell) -> String {
    let items = users
        .iter()
        .map(|u| {
            json!({
                "AboutMe": null,
                "AccountEnabled": u.account_enabled,
                "AgeGroup": null,
                "AssignedLicenses": [],
                "City": null,
                "CreatedDateTime": ps_date(u.created.as_ref().map(|t| t.as_str()), shell),
                "Department": null,
                "DisplayName": u.display_name,
                "Id": u.id,
                "Mail": null,
                "OnPremisesSyncEnabled": u.on_premises_sync_enabled,
                "UserPrincipalName": u.user_principal_name,
                "UserType": if u.user_type.is_empty() { Value::Null } else { json!(u.user_type) },
                "AdditionalProperties": {}
            })
        })
        .collect();
    ps_json(items, shell)
}

/// `Get-MgOrganization | ConvertTo-Json -Depth 5`: one tenant (a bare object in 5.1).
fn ps_organization(tenant: &mfa_evidence::snapshot::Tenant, shell: Shell) -> String {
    ps_json(
        vec![json!({
            "AssignedPlans": [],
            "City": null,
            "CountryLetterCode": "US",
            "DisplayName": tenant.name,
            "Id": tenant.id,
            "TenantType": "AAD",
            "VerifiedDomains": [{
                "Capabilities": "Email, OfficeCommunicationsOnline",
                "IsDefault": true,
                "IsInitial": false,
                "Name": "contoso.com",
                "Type": "Managed",
                "AdditionalProperties": {}
            }],
            "AdditionalProperties": {}
        })],
        shell,
    )
}

/// `Get-MgReportAuthenticationMethodUserRegistrationDetail -All | ConvertTo-Json -Depth 5`.
fn ps_registrations(rows: &[Registration], shell: Shell) -> String {
    let items = rows
        .iter()
        .map(|r| {
            json!({
                "Id": r.id,
                "IsAdmin": r.is_admin,
                "IsMfaCapable": r.is_mfa_capable,
                "IsMfaRegistered": r.is_mfa_registered,
                "IsPasswordlessCapable": r.is_passwordless_capable,
                "IsSsprCapable": false,
                "IsSsprEnabled": false,
                "IsSsprRegistered": false,
                "IsSystemPreferredAuthenticationMethodEnabled": false,
                "LastUpdatedDateTime": ps_date(r.last_updated.as_ref().map(|t| t.as_str()), shell),
                "MethodsRegistered": r.methods_registered,
                "SystemPreferredAuthenticationMethods": [],
                "UserDisplayName": r.display_name,
                "UserPreferredMethodForSecondaryAuthentication": "none",
                "UserPrincipalName": r.user_principal_name,
                "UserType": r.user_type,
                "AdditionalProperties": {}
            })
        })
        .collect();
    ps_json(items, shell)
}

fn import_exports(dir: &Path, tenant_id: Option<&str>) -> anyhow::Result<Imported> {
    import_dir_with(
        dir,
        &ImportOptions {
            collected_at: Some(as_of()),
            tenant_id: tenant_id.map(str::to_string),
            tenant_name: tenant_id.map(|_| "Contoso Ltd".to_string()),
        },
    )
}

fn source_record(s: &Snapshot, source: Source) -> &mfa_evidence::snapshot::SourceRecord {
    s.collection
        .sources
        .iter()
        .find(|r| r.name == source)
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Each route gives the Graph pages' figure.

#[test]
fn admin_center_downloads_give_the_figure_of_the_same_tenant_as_graph_pages() {
    let t = tenant();
    let dir = t.folder(
        "portal",
        true,
        &[
            (
                "exportUsers_2026-10-31.csv",
                portal_users_csv(&t.snapshot.users),
            ),
            (
                "UserRegistrationDetails_2026-10-31.csv",
                portal_registrations_csv(&t.snapshot.registrations),
            ),
        ],
    );
    let snap = import_exports(&dir, None)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .snapshot;
    assert_eq!(t.figure(&snap), t.figure(&t.snapshot));
    let graph = t.figure(&t.snapshot).0;
    assert_eq!(
        (graph.in_scope, graph.registered),
        (t.summary.in_scope, t.summary.registered)
    );
    assert_eq!(snap.collection.source_kind, SourceKind::PortalExport);
    // The tenant came from the organization page beside the downloads.
    assert_eq!(snap.tenant, t.snapshot.tenant);

    // The download has no id: every row matched its user by UPN; what it lacks is absent.
    let reg = source_record(&snap, Source::Registration);
    let export = reg.export.as_ref().unwrap();
    assert_eq!(
        (export.kind, export.encoding, export.rows),
        (
            SourceKind::PortalExport,
            TextEncoding::Utf8Bom,
            t.snapshot.registrations.len() as u64
        )
    );
    assert_eq!(export.matched_by_upn + export.unmatched, export.rows);
    assert!(
        snap.registrations
            .iter()
            .all(|r| r.is_mfa_registered.is_none()
                && r.user_type.is_empty()
                && r.is_admin.is_none())
    );
    let e = evaluate(&snap, &t.config.control);
    assert_eq!(
        e.tally.microsoft.is_mfa_registered, None,
        "not in this export, not 0"
    );
    assert!(e.tally.microsoft.is_mfa_capable.is_some());
    assert_eq!(e.result, evaluate(&t.snapshot, &t.config.control).result);
}

#[test]
fn registration_rows_match_users_by_upn_whatever_its_case() {
    let t = tenant();
    let mut rows = t.snapshot.registrations.clone();
    for r in &mut rows {
        r.user_principal_name = r.user_principal_name.to_uppercase();
    }
    let mut left = rows[0].clone();
    left.user_principal_name = "left.the.company@contoso.com".to_string();
    rows.push(left);
    let dir = t.folder(
        "upn-case",
        true,
        &[
            ("u.csv", portal_users_csv(&t.snapshot.users)),
            ("r.csv", portal_registrations_csv(&rows)),
        ],
    );
    let snap = import_exports(&dir, None).unwrap().snapshot;
    assert_eq!(t.figure(&snap).0, t.figure(&t.snapshot).0);
    let user_ids: std::collections::HashSet<&str> =
        t.snapshot.users.iter().map(|u| u.id.as_str()).collect();
    let orphans = t
        .snapshot
        .registrations
        .iter()
        .filter(|r| !user_ids.contains(r.id.as_str()))
        .count() as u64;
    let export = source_record(&snap, Source::Registration)
        .export
        .clone()
        .unwrap();
    assert_eq!(
        (export.matched_by_upn, export.unmatched),
        (rows.len() as u64 - orphans - 1, orphans + 1)
    );
    let e = evaluate(&snap, &t.config.control);
    let without = e
        .findings
        .iter()
        .find(|f| f.code == mfa_evidence::evaluate::Code::RegistrationRowWithoutUser)
        .expect("the row that matched no user is reported");
    assert_eq!(without.count, orphans + 1);
    assert!(
        without
            .examples
            .iter()
            .any(|x| x == "left.the.company@contoso.com (no id in the export)"),
        "{:?}",
        without.examples
    );
}

#[test]
fn powershell_7_and_windows_powershell_5_1_output_give_the_same_figure() {
    let t = tenant();
    let expected = t.figure(&t.snapshot);
    let cases = [
        (Shell::Seven, TextEncoding::Utf8),
        (Shell::Seven, TextEncoding::Utf8Bom),
        (Shell::FiveOne, TextEncoding::Utf16LeBom),
        (Shell::FiveOne, TextEncoding::Utf8Bom),
    ];
    for (n, (shell, encoding)) in cases.into_iter().enumerate() {
        let encode = |text: String| match encoding {
            TextEncoding::Utf8 => text.into_bytes(),
            TextEncoding::Utf8Bom => utf8_bom(&text),
            _ => utf16le_bom(&text),
        };
        // Names as an admin would type them: content decides, not the name. The tenant from
        // Get-MgOrganization output, or on the operator's word.
        let with_org = shell == Shell::FiveOne;
        let mut files = vec![
            ("mg-users.json", encode(ps_users(&t.snapshot.users, shell))),
            (
                "registration.txt",
                encode(ps_registrations(&t.snapshot.registrations, shell)),
            ),
        ];
        if with_org {
            files.push((
                "tenant.json",
                encode(ps_organization(&t.snapshot.tenant, shell)),
            ));
        }
        let dir = t.folder(&format!("ps-{n}"), false, &files);
        let label = format!("{shell:?} {encoding}");
        let given = (!with_org).then_some(t.summary.tenant_id.as_str());
        let snap = import_exports(&dir, given)
            .unwrap_or_else(|e| panic!("{label}: {e:#}"))
            .snapshot;
        assert_eq!(t.figure(&snap), expected, "{label}");
        assert_eq!(snap.collection.source_kind, SourceKind::PowershellExport);
        let users = source_record(&snap, Source::Users).export.clone().unwrap();
        assert_eq!(users.encoding, encoding, "{label}");
        // Dates read to the same instants, whichever way they were written.
        for (a, b) in snap.users.iter().zip(&t.snapshot.users) {
            assert_eq!(
                (&a.id, a.account_enabled, &a.user_type),
                (&b.id, b.account_enabled, &b.user_type)
            );
            assert_eq!(
                a.created.as_ref().map(|c| c.at()),
                b.created.as_ref().map(|c| c.at()),
                "{label}"
            );
        }
        assert_eq!(
            snap.registrations,
            t.snapshot
                .registrations
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    if shell == Shell::FiveOne {
                        r.last_updated = r.last_updated.map(|t| {
                            mfa_evidence::time::GraphTime::parse(
                                &t.at().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                            )
                            .unwrap()
                        });
                    }
                    r
                })
                .collect::<Vec<_>>(),
            "{label}"
        );
        let org = source_record(&snap, Source::Organization);
        if with_org {
            assert_eq!(org.status, SourceStatus::Collected, "{label}");
            assert_eq!(snap.tenant, t.snapshot.tenant, "{label}");
        } else {
            assert_eq!(org.status, SourceStatus::OperatorGiven, "{label}");
            assert_eq!(snap.tenant.id, t.summary.tenant_id);
        }
    }
}

/// Windows PowerShell 5.1's `Get-MgUser ... | Export-Csv users.csv -Encoding UTF8`: a `#TYPE`
/// line (no -NoTypeInformation), every cell quoted, the SDK's PascalCase names, `null` as an
/// empty cell, and a dictionary written as its type name.
fn ps_users_export_csv(users: &[User]) -> Vec<u8> {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut text = "#TYPE Microsoft.Graph.PowerShell.Models.MicrosoftGraphUser\r\n".to_string();
    text += "\"AboutMe\",\"AccountEnabled\",\"City\",\"DisplayName\",\"Id\",\"Mail\",\"UserPrincipalName\",\"UserType\",\"AdditionalProperties\"\r\n";
    for u in users {
        let row = [
            q(""),
            q(true_false(u.account_enabled)),
            q(""),
            q(&u.display_name),
            q(&u.id),
            q(""),
            q(&u.user_principal_name),
            q(&u.user_type),
            q("System.Collections.Generic.Dictionary`2[System.String,System.Object]"),
        ];
        text += &row.join(",");
        text += "\r\n";
    }
    utf8_bom(&text)
}

#[test]
fn powershell_export_csv_reads_for_users_and_is_refused_for_methods() {
    let t = tenant();
    let dir = t.folder(
        "export-csv",
        true,
        &[
            ("users.csv", ps_users_export_csv(&t.snapshot.users)),
            (
                "registration.json",
                ps_registrations(&t.snapshot.registrations, Shell::Seven).into_bytes(),
            ),
        ],
    );
    let snap = import_exports(&dir, None).unwrap().snapshot;
    assert_eq!(t.figure(&snap), t.figure(&t.snapshot));
    let users = source_record(&snap, Source::Users).export.clone().unwrap();
    assert_eq!(users.kind, SourceKind::PowershellExport);

    // Export-Csv of the registration report loses the methods: refused, the line named.
    let mut text = "#TYPE Microsoft.Graph.PowerShell.Models.MicrosoftGraphUserRegistrationDetails\r\n\"Id\",\"MethodsRegistered\",\"UserPrincipalName\"\r\n".to_string();
    let r = &t.snapshot.registrations[0];
    text += &format!(
        "\"{}\",\"System.String[]\",\"{}\"\r\n",
        r.id, r.user_principal_name
    );
    let dir = t.folder(
        "export-csv-methods",
        true,
        &[
            ("users.csv", ps_users_export_csv(&t.snapshot.users)),
            ("reg.csv", utf8_bom(&text)),
        ],
    );
    let err = format!("{:#}", import_exports(&dir, None).unwrap_err());
    assert_contains(
        "Export-Csv methods",
        &err,
        &["reg.csv line 3", "System.String[]", "ConvertTo-Json"],
    );
}

#[test]
fn one_item_is_a_bare_object_and_zero_items_an_empty_file() {
    let t = tenant();
    let one = &t.snapshot.registrations[..1];
    let text = ps_registrations(one, Shell::FiveOne);
    assert!(
        text.trim_start().starts_with('{'),
        "5.1 writes one item bare"
    );
    let dir = t.folder(
        "bare",
        true,
        &[
            (
                "users.ps.json",
                utf16le_bom(&ps_users(&t.snapshot.users, Shell::FiveOne)),
            ),
            ("one.json", utf16le_bom(&text)),
        ],
    );
    let snap = import_exports(&dir, None).unwrap().snapshot;
    assert_eq!(snap.registrations.len(), 1);
    assert_eq!(snap.registrations[0].id, one[0].id);

    // Nothing at all for zero items: the one population source no other file provides.
    let dir = t.folder(
        "empty",
        true,
        &[
            (
                "users.ps.json",
                utf16le_bom(&ps_users(&t.snapshot.users, Shell::FiveOne)),
            ),
            ("registrations.json", Vec::new()),
        ],
    );
    let snap = import_exports(&dir, None).unwrap().snapshot;
    assert!(snap.registrations.is_empty());
    assert_eq!(
        source_record(&snap, Source::Registration).status,
        SourceStatus::Collected
    );
    let e = evaluate(&snap, &t.config.control);
    assert_eq!(e.figure().registered, 0);
}

#[test]
fn the_tenant_is_the_operators_word_only_where_the_folder_names_none() {
    let t = tenant();
    let files = [
        ("users.csv", portal_users_csv(&t.snapshot.users)),
        (
            "reg.csv",
            portal_registrations_csv(&t.snapshot.registrations),
        ),
    ];
    let bare = t.folder("no-org", false, &files);
    let err = format!("{:#}", import_exports(&bare, None).unwrap_err());
    assert_contains("no tenant", &err, &["organization", "--tenant-id"]);
    let err = format!("{:#}", import_exports(&bare, Some("../etc")).unwrap_err());
    assert_contains("unsafe id", &err, &["is not a tenant id"]);
    let snap = import_exports(&bare, Some(&t.summary.tenant_id.to_uppercase()))
        .unwrap()
        .snapshot;
    assert_eq!(snap.tenant.id, t.summary.tenant_id);
    assert_eq!(snap.tenant.name, "Contoso Ltd");

    let with_org = t.folder("with-org", true, &files);
    let err = format!(
        "{:#}",
        import_exports(&with_org, Some("00000000-0000-0000-0000-000000000009")).unwrap_err()
    );
    assert_contains(
        "another tenant",
        &err,
        &[
            "names tenant",
            &t.summary.tenant_id,
            "00000000-0000-0000-0000-000000000009",
        ],
    );
}

#[test]
fn exports_beside_a_collectors_record_or_an_unknown_csv_are_refused() {
    let t = tenant();
    let dir = t._tmp.path().join("with-provenance");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&t.graph).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    std::fs::write(
        dir.join("reg.csv"),
        portal_registrations_csv(&t.snapshot.registrations),
    )
    .unwrap();
    let err = format!("{:#}", import_exports(&dir, None).unwrap_err());
    assert_contains(
        "provenance",
        &err,
        &[
            "provenance.json",
            "collector's record",
            "reg.csv",
            "portal-export",
        ],
    );

    let dir = t.folder(
        "unknown-csv",
        true,
        &[
            ("users.csv", portal_users_csv(&t.snapshot.users)),
            (
                "reg.csv",
                portal_registrations_csv(&t.snapshot.registrations),
            ),
            ("licences.csv", b"sku,count\r\nE5,300\r\n".to_vec()),
        ],
    );
    let err = format!("{:#}", import_exports(&dir, None).unwrap_err());
    assert_contains(
        "unknown csv",
        &err,
        &["licences.csv is not an admin center download", "sku,count"],
    );
}

// ---------------------------------------------------------------------------------------------
// Bad inputs, through the binary.

/// Imports `files` (beside the tenant's organization page) with the built binary: refused with
/// exit 2, every needle in the message, and nothing stored.
#[track_caller]
fn refused(t: &Tenant, files: &[(&str, Vec<u8>)], needles: &[&str]) {
    let w = Workdir::new();
    let dir = w.join("exports");
    std::fs::create_dir_all(&dir).unwrap();
    for (file, bytes) in files {
        std::fs::write(dir.join(file), bytes).unwrap();
    }
    let run = w.run(&[
        "import",
        "--dir",
        dir.to_str().unwrap(),
        "--collected-at",
        AS_OF,
        "--tenant-id",
        &t.summary.tenant_id,
        "--no-notify",
    ]);
    run.expect_code(2);
    assert_contains("the refusal", &run.stderr, needles);
    assert!(
        !w.join("evidence-store")
            .join(&t.summary.tenant_id)
            .join("ledger.jsonl")
            .exists(),
        "nothing may be stored"
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes[3..].to_vec()).unwrap()
}

#[test]
fn broken_exports_are_refused_naming_the_file_and_the_row() {
    let t = tenant();
    let users = portal_users_csv(&t.snapshot.users);
    let regs = portal_registrations_csv(&t.snapshot.registrations);
    let regs_text = text(&regs);

    // Cut inside the quoted methods cell of the last row, as an interrupted download is.
    let at = regs_text.rfind("[\"\"").unwrap() + 5;
    refused(
        &t,
        &[
            ("users.csv", users.clone()),
            ("reg.csv", utf8_bom(&regs_text[..at])),
        ],
        &["reg.csv", "ends inside the quoted cell", "truncated"],
    );
    // Cut after a row's third cell.
    let lines: Vec<&str> = regs_text.split("\r\n").collect();
    let cut = format!(
        "{}\r\n{}\r\n{}",
        lines[0],
        lines[1],
        lines[2]
            .splitn(4, ',')
            .take(3)
            .collect::<Vec<_>>()
            .join(",")
    );
    refused(
        &t,
        &[("users.csv", users.clone()), ("reg.csv", utf8_bom(&cut))],
        &["reg.csv line 3", "has 3 cells where the header has 8"],
    );
    // A column missing: accountEnabled decides who is in scope.
    let without = portal_users_csv_without(&t.snapshot.users, Some("accountEnabled"));
    refused(
        &t,
        &[("users.csv", without), ("reg.csv", regs.clone())],
        &[
            "users.csv has no accountEnabled column",
            "download it again",
        ],
    );
    // A boolean that is not True or False.
    let yes = regs_text.replacen("\"True\"", "\"Yes\"", 1);
    let line = yes.lines().position(|l| l.contains("\"Yes\"")).unwrap() + 1;
    refused(
        &t,
        &[("users.csv", users.clone()), ("reg.csv", utf8_bom(&yes))],
        &[
            &format!("reg.csv line {line}"),
            "\"Yes\", not True or False",
        ],
    );
    // A methods cell that is not JSON (a spreadsheet rewrote it).
    let first = &t.snapshot.registrations[0];
    let json_cell = serde_json::to_string(&first.methods_registered)
        .unwrap()
        .replace('"', "\"\"");
    let flat = regs_text.replacen(
        &format!("\"{json_cell}\""),
        &format!("\"{}\"", first.methods_registered.join(";")),
        1,
    );
    refused(
        &t,
        &[("users.csv", users.clone()), ("reg.csv", utf8_bom(&flat))],
        &["reg.csv line 2", "methodsRegistered", "not a JSON list"],
    );
    // One UPN held by two users (differing in case): both rows named.
    let mut doubled = t.snapshot.users.clone();
    let mut twin = doubled[0].clone();
    twin.id = "99999999-9999-9999-9999-999999999999".to_string();
    twin.user_principal_name = twin.user_principal_name.to_uppercase();
    doubled.push(twin);
    refused(
        &t,
        &[
            ("users.csv", portal_users_csv(&doubled)),
            ("reg.csv", regs.clone()),
        ],
        &[
            "users.csv line 2",
            &format!("line {}", doubled.len() + 1),
            "both hold the userPrincipalName",
        ],
    );
    // Users from Graph pages, where two hold one UPN: the registration row's match names both.
    let page_name = if t.graph.join("users.json").exists() {
        "users.json"
    } else {
        "users-0001.json"
    };
    let mut page: Value =
        serde_json::from_slice(&std::fs::read(t.graph.join(page_name)).unwrap()).unwrap();
    let first_user = page["value"][0].clone();
    let mut twin = first_user.clone();
    twin["id"] = json!("99999999-9999-9999-9999-999999999999");
    twin["userPrincipalName"] = json!(
        first_user["userPrincipalName"]
            .as_str()
            .unwrap()
            .to_uppercase()
    );
    page["value"].as_array_mut().unwrap().push(twin);
    let upn = first_user["userPrincipalName"].as_str().unwrap();
    let reg_line = t
        .snapshot
        .registrations
        .iter()
        .position(|r| r.user_principal_name == upn)
        .expect("the first user has a registration row")
        + 2;
    refused(
        &t,
        &[
            (page_name, serde_json::to_vec(&page).unwrap()),
            ("reg.csv", regs.clone()),
        ],
        &[
            &format!("reg.csv line {reg_line}"),
            "matches two users",
            first_user["id"].as_str().unwrap(),
            "99999999-9999-9999-9999-999999999999",
        ],
    );
    // Users twice, as Graph pages and as a download.
    refused(
        &t,
        &[
            (
                "users.json",
                std::fs::read(t.graph.join("users.json"))
                    .unwrap_or_else(|_| std::fs::read(t.graph.join("users-0001.json")).unwrap()),
            ),
            ("users.csv", users.clone()),
            ("reg.csv", regs.clone()),
        ],
        &[
            "users comes both as Graph pages (users.json)",
            "users.csv",
            "one kind of export",
        ],
    );
    // An empty file when nothing says which source it stands for.
    refused(
        &t,
        &[("a.json", Vec::new()), ("reg.csv", regs.clone())],
        &["a.json is empty", "a users export is never empty"],
    );
}

// ---------------------------------------------------------------------------------------------
// What the package says.

#[test]
fn the_package_states_what_export_evidence_rests_on_and_keeps_the_files() {
    let t = tenant();
    let w = Workdir::new();
    let dir = w.join("exports");
    std::fs::create_dir_all(&dir).unwrap();
    let users = portal_users_csv(&t.snapshot.users);
    let regs = portal_registrations_csv(&t.snapshot.registrations);
    std::fs::write(dir.join("exportUsers.csv"), &users).unwrap();
    std::fs::write(dir.join("UserRegistrationDetails.csv"), &regs).unwrap();
    std::fs::write(w.join("mfa-evidence.toml"), synth::config_toml(&t.summary)).unwrap();
    // The break-glass group comes as a Graph page: a source of its own kind.
    for entry in std::fs::read_dir(&t.graph).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("breakGlassMembers") {
            std::fs::copy(t.graph.join(&name), dir.join(&name)).unwrap();
        }
    }
    w.run(&[
        "import",
        "--dir",
        "exports",
        "--collected-at",
        AS_OF,
        "--tenant-id",
        &t.summary.tenant_id,
        "--tenant-name",
        "Contoso Ltd",
        "--no-notify",
    ])
    .expect_code(0)
    .expect_output("read from portal-export files")
    .expect_output(&format!(
        "matched to users by UPN: {}; matching no user: 0",
        t.snapshot.registrations.len()
    ));
    let run = w.run(&["report", "--out", "out", "--json"]);
    let summary: Value = serde_json::from_str(&run.stdout).unwrap();
    let expected = t.figure(&t.snapshot).0;
    assert_eq!(
        (summary["in_scope"].as_u64(), summary["registered"].as_u64()),
        (Some(expected.in_scope), Some(expected.registered))
    );
    let entries = zip_entries(Path::new(&w.join(summary["package"].as_str().unwrap())));
    let find = |suffix: &str| {
        entries
            .iter()
            .find(|(n, _)| n.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix} in the package"))
            .1
            .clone()
    };
    // An auditor's check of the package holds with the export files in it.
    w.run(&["verify", summary["package"].as_str().unwrap()])
        .expect_code(0);
    // Kept byte for byte, byte-order mark included.
    assert_eq!(find("raw/exportUsers.csv"), users);
    assert_eq!(find("raw/UserRegistrationDetails.csv"), regs);
    let evidence: Value = serde_json::from_slice(&find("evidence.json")).unwrap();
    let prov = &evidence["provenance"];
    assert_eq!(prov["source_kind"], "portal-export");
    let assurance: Vec<&str> = prov["assurance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let all = assurance.join("\n");
    assert_contains(
        "assurance",
        &all,
        &[
            "admin center downloads",
            "no Graph request-ids",
            "matched to users by user principal name",
            "given by the operator (import --tenant-id)",
            "the time the operator gave (import --collected-at)",
            "not in this export, never as false",
        ],
    );
    assert!(evidence["point_in_time"]["microsoft"]["is_mfa_registered"].is_null());
    let pdf = find("report.pdf");
    let text: String = pdf_extract::extract_text_from_mem(&pdf)
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("exports-report.txt"),
        &text,
    )
    .unwrap();
    for needle in [
        "Whatthisevidencerestson",
        "MicrosoftEntraadmincenterdownloads",
        "matchedtousersbyuserprincipalname",
        "—notinthisexport",
        "exportUsers.csv",
    ] {
        assert!(text.contains(needle), "the PDF lacks {needle:?}");
    }
}
