//! The PDF narrative: rendered from evidence.json, checked through its extracted text and bytes.
//!
//! Besides the demo fixture, two variants are built here from it: a 100,000-user tenant (same
//! caps, bigger counts) and one with right-to-left, CJK and very long names. Each test writes its
//! PDF under `target/tmp/` so a person can look at it.

use mfa_evidence::evidence::words::thousands;
use mfa_evidence::evidence::{Code, ControlResult, Severity};
use mfa_evidence::evidence::{
    Evidence, Finding, OpenItem, PackageFile, RemediatedUser, SAMPLE_CAP, UserBrief,
};
use mfa_evidence::render::pdf::{RenderError, render_report, render_with_template};
use mfa_evidence::time::{parse_rfc3339, secs_text};

const DEMO: &str = include_str!("../fixtures/evidence-demo.json");
const DEMO_FILES: &str = include_str!("../fixtures/evidence-demo.files.json");

fn demo() -> Evidence {
    serde_json::from_str(DEMO).expect("the demo fixture is an evidence document")
}

fn demo_files() -> Vec<PackageFile> {
    serde_json::from_str(DEMO_FILES).expect("the demo file list is a list of package files")
}

fn render(evidence: &Evidence, name: &str) -> Vec<u8> {
    let json = serde_json::to_vec_pretty(evidence).unwrap();
    let pdf = render_report(&json, &demo_files()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pdf");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.pdf")), &pdf).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), &json).unwrap();
    pdf
}

/// The PDF's text with all white space removed: the extractor puts spaces where a line may
/// break inside a string (UPNs, ids), so checks compare text without any.
fn text(pdf: &[u8]) -> String {
    let raw = pdf_extract::extract_text_from_mem(pdf).expect("the pdf's text can be extracted");
    raw.chars().filter(|c| !c.is_whitespace()).collect()
}

#[track_caller]
fn assert_has(text: &str, needle: &str) {
    let needle: String = needle.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        text.contains(&needle),
        "expected the pdf text to contain\n  {needle:?}\nbut it was:\n{text}"
    );
}

/// The demo scaled to a 100,000-user tenant: counts grow, lists stay at their caps.
fn hundred_thousand() -> Evidence {
    let mut ev = demo();
    ev.tenant.name = "Northwind Traders International".to_owned();
    let rec = &mut ev.point_in_time.reconciliation;
    rec.users_listed = 100_000;
    rec.break_glass = 2;
    rec.disabled = 3_912;
    rec.guest = 4_406;
    rec.exception = 1;
    rec.in_scope = 100_000 - 2 - 3_912 - 4_406 - 1;
    rec.in_scope_missing_from_report = 37;
    rec.report_rows = 99_980;
    rec.report_rows_without_user = 17;
    let in_scope = rec.in_scope;
    let pit = &mut ev.point_in_time;
    pit.in_scope = in_scope;
    pit.unregistered = 3_571;
    pit.registered = in_scope - pit.unregistered;
    pit.percent = "96.11".to_owned();
    pit.result_reason = format!(
        "{} of {} in-scope users (96.11 %) hold a qualifying method, at or above the 95.00 % threshold",
        pit.registered, in_scope
    );
    pit.microsoft.is_mfa_registered = Some(pit.registered + 211);
    pit.microsoft.is_mfa_capable = Some(pit.registered - 1_024);
    pit.microsoft.disagreements = 1_406;
    let template = pit.unregistered_sample[0].clone();
    pit.unregistered_sample = (0..SAMPLE_CAP)
        .map(|i| UserBrief {
            user_id: format!("00000000-0000-4000-8000-{i:012}"),
            user_principal_name: format!(
                "user{i:06}.with.a.longer.name@northwind-traders.example.com"
            ),
            display_name: format!("User {i:06}"),
            ..template.clone()
        })
        .collect();
    pit.microsoft.disagreement_sample = pit.unregistered_sample.clone();
    for g in &mut pit.method_groups {
        g.users *= 340;
    }
    let period = ev.period.as_mut().unwrap();
    for p in &mut period.series {
        p.in_scope *= 322;
        p.registered *= 322;
    }
    let rem = &mut period.remediation;
    rem.remediated_users = 8_120;
    rem.with_audit_event = 7_902;
    rem.still_unregistered = 3_571;
    let r0 = rem.remediated_sample[0].clone();
    rem.remediated_sample = (0..SAMPLE_CAP)
        .map(|i| RemediatedUser {
            user_principal_name: format!("remediated{i:05}@northwind-traders.example.com"),
            ..r0.clone()
        })
        .collect();
    rem.still_unregistered_sample = (0..SAMPLE_CAP)
        .map(|i| OpenItem {
            user_id: format!("00000000-0000-4000-8000-{i:012}"),
            user_principal_name: format!("open{i:05}@northwind-traders.example.com"),
            first_seen_unregistered: parse_rfc3339("2025-05-01T06:00:12Z").unwrap(),
            days_open: 63,
        })
        .collect();
    period.population_changes.joiners = 14_388;
    period.population_changes.leavers = 11_902;
    period.audit_events.total = 61_544;
    ev
}

/// The demo with names in Arabic, Hebrew, Chinese and Japanese, emoji, and very long strings.
fn unicode_names() -> Evidence {
    let mut ev = demo();
    ev.tenant.name = "شركة كونتوسو المحدودة · קונטוסו בע״מ · 康托索有限公司".to_owned();
    let long_word = "Wolfeschlegelsteinhausenbergerdorffwelchevoralternwarengewissenhaftschaferswessenschafewarenwohlgepflegeundsorgfaltigkeitbeschutzen";
    let names = [
        "محمد عبد الله الهاشمي",
        "דוד בן־גוריון",
        "王小明",
        "山田 太郎",
        "Zoë Ångström-Łukasiewicz",
        "Renée 🚀 O'Brien",
        long_word,
        "Ñoño Ibáñez de la Peña y Fernández de Córdoba y Figueroa de la Cerda Sandoval Rojas",
    ];
    for (u, name) in ev.point_in_time.unregistered_sample.iter_mut().zip(names) {
        u.display_name = name.to_owned();
    }
    let long_upn = format!(
        "{}@{}.onmicrosoft.com",
        long_word.to_lowercase(),
        "averyveryverylongsubdomainnamewithoutanybreaks"
    );
    ev.point_in_time.unregistered_sample[6].user_principal_name = long_upn.clone();
    ev.point_in_time.exceptions[0].reason = format!("{long_word} {long_word}");
    ev.point_in_time.break_glass_accounts[0].display_name = "חשבון חירום 01".to_owned();
    ev.point_in_time.break_glass_accounts[1].display_name = "حساب الطوارئ ٠٢".to_owned();
    ev.findings.push(Finding {
        code: Code::OptionalSourceMissing,
        severity: Severity::Info,
        title: "Names in many scripts: 王小明, محمد, דוד".to_owned(),
        detail: long_word.repeat(3),
        what_to_do: "Nothing.".to_owned(),
        count: 3,
        examples: vec![long_upn, "王小明@contoso.com".to_owned()],
    });
    ev
}

#[test]
fn demo_fixture_is_an_evidence_document_within_the_caps() {
    let ev = demo();
    assert_eq!(ev.control.id, "ID-01");
    let period = ev.period.as_ref().expect("the demo covers a period");
    // Six months of daily collections, one day missed.
    assert_eq!(period.series.len(), 183);
    assert_eq!(period.snapshots, 183);
    assert!(period.gaps.iter().any(|g| g.exceeds_limit));
    assert!(ev.point_in_time.unregistered_sample.len() <= SAMPLE_CAP);
    assert_eq!(ev.point_in_time.break_glass_accounts.len(), 2);
    // One approved exception honoured, one past its expiry.
    let statuses: Vec<&str> = ev
        .point_in_time
        .exceptions
        .iter()
        .map(|e| e.status.as_str())
        .collect();
    assert_eq!(statuses, ["honoured", "expired"]);
    let rec = &ev.point_in_time.reconciliation;
    assert_eq!(
        rec.users_listed - rec.break_glass - rec.disabled - rec.guest - rec.exception,
        rec.in_scope
    );
}

#[test]
fn demo_report_states_tenant_figure_result_and_reconciliation() {
    let ev = demo();
    let t = text(&render(&ev, "demo"));
    let pit = &ev.point_in_time;
    let rec = &pit.reconciliation;
    assert_has(&t, &ev.tenant.name);
    assert_has(&t, &ev.tenant.id);
    assert_has(&t, &format!("{} %", pit.percent));
    assert_has(&t, "Pass");
    assert_has(&t, &format!("threshold {} %", pit.threshold_percent));
    assert_has(
        &t,
        &format!("Users listed by /users {}", thousands(rec.users_listed)),
    );
    assert_has(
        &t,
        &format!("less disabled accounts −{}", thousands(rec.disabled)),
    );
    assert_has(&t, &format!("less guests −{}", thousands(rec.guest)));
    assert_has(&t, &format!("In scope {}", thousands(rec.in_scope)));
    assert_has(&t, "Deviations noted");
    assert_has(&t, "Page 2 of");
    assert_has(&t, "SHA256SUMS");
    for f in demo_files() {
        assert_has(&t, &f.sha256);
    }
}

#[test]
fn renders_are_byte_identical() {
    let ev = demo();
    let a = render(&ev, "demo-a");
    let b = render(&ev, "demo-b");
    assert!(a == b, "two renders of the same evidence differ");
}

#[test]
fn report_is_pdf_a_2b_with_metadata() {
    let ev = demo();
    let pdf = render(&ev, "demo-pdfa");
    let has = |needle: &str| pdf.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        has("pdfaid:part"),
        "no PDF/A identification in the XMP metadata"
    );
    assert!(has("<pdfaid:part>2</pdfaid:part>") || has("pdfaid:part=\"2\""));
    assert!(has(&ev.package_id), "keywords carry the package id");
    // The document date is the as-of time (XMP writes it without the `Z`).
    assert!(
        has(secs_text(ev.as_of).trim_end_matches('Z')),
        "the document date is the as-of time"
    );
}

#[test]
fn broken_template_error_names_the_line() {
    let template =
        "#let ev = json(\"/evidence.json\")\n= Title\n\n#ev.tenant.name\n#no-such-thing(1)\n";
    let err = render_with_template(template, DEMO.as_bytes(), &demo_files()).unwrap_err();
    match &err {
        RenderError::Template { at, message } => {
            assert_eq!(at.line, Some(5), "{err}");
            assert_eq!(at.column, Some(2), "{err}");
            assert!(message.contains("unknown variable"), "{err}");
        }
        other => panic!("expected a template error, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.contains("line 5"), "{shown}");

    let syntax = render_with_template("#let x = (\n\n", DEMO.as_bytes(), &[]).unwrap_err();
    assert!(
        matches!(&syntax, RenderError::Template { at, .. } if at.line.is_some()),
        "{syntax}"
    );
}

#[test]
fn evidence_that_is_not_an_evidence_document_is_refused() {
    let err = render_report(b"{\"schema_version\": 1}", &[]).unwrap_err();
    assert!(matches!(err, RenderError::Evidence(_)), "{err}");
    // The as-of time is parsed with the document: an unreadable one is no evidence document.
    let mut ev = serde_json::to_value(demo()).unwrap();
    ev["as_of"] = "yesterday".into();
    let err = render_report(&serde_json::to_vec(&ev).unwrap(), &[]).unwrap_err();
    assert!(matches!(err, RenderError::Evidence(_)), "{err}");
}

#[test]
fn hundred_thousand_users_render_with_capped_lists() {
    let ev = hundred_thousand();
    let t = text(&render(&ev, "evidence-100k"));
    let rec = &ev.point_in_time.reconciliation;
    assert_has(&t, "Northwind Traders International");
    assert_has(&t, "96.11 %");
    assert_has(
        &t,
        &format!("Users listed by /users {}", thousands(rec.users_listed)),
    );
    assert_has(&t, &format!("In scope {}", thousands(rec.in_scope)));
    assert_has(&t, "The first 50 of 3,571 are listed");
}

/// The page count the footer states ("Page 1 of N").
fn page_count(text: &str) -> u32 {
    let after = &text[text.find("Page1of").expect("a page footer") + "Page1of".len()..];
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

/// The demo's files with `pages` pages of /users instead of one.
fn files_with_user_pages(pages: u32) -> Vec<PackageFile> {
    let mut files: Vec<PackageFile> = demo_files()
        .into_iter()
        .filter(|f| f.path != "raw/users-0001.json")
        .collect();
    files.extend((1..=pages).map(|n| PackageFile {
        path: format!("raw/users-{n:04}.json"),
        size: 238_000,
        sha256: format!("{n:064x}"),
    }));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

#[test]
fn the_manifest_does_not_grow_with_the_tenants_pages() {
    let json = serde_json::to_vec(&demo()).unwrap();
    let render_with = |pages| text(&render_report(&json, &files_with_user_pages(pages)).unwrap());
    // 500,000 users (500 pages of /users) and 1,000,000 users (1,001 pages): the same rows,
    // with numbers of as many digits (a wider number narrows the path column).
    let (small, large) = (render_with(500), render_with(1001));

    assert_eq!(page_count(&large), page_count(&small));
    assert_has(&large, "raw/users-0001.json");
    assert_has(&large, &format!("{:064x}", 2));
    assert_has(
        &large,
        "raw/users-0003.json to raw/users-1001.json 237,762,000 999 more pages of this source",
    );
    assert!(
        !large.contains(&format!("{:064x}", 3)),
        "a folded page's hash is shown"
    );
    // Three pages or fewer are listed one by one.
    let three = text(&render_report(&json, &files_with_user_pages(3)).unwrap());
    assert_has(&three, &format!("{:064x}", 3));
}

#[test]
fn unicode_rtl_and_long_names_render() {
    let ev = unicode_names();
    let t = text(&render(&ev, "evidence-unicode"));
    assert_has(&t, "Zoë Ångström");
    assert_has(&t, &format!("{} %", ev.point_in_time.percent));
    // CJK and emoji have no glyph in the embedded fonts: they are replaced, and the report says so.
    assert_has(&t, "printed as");
}

#[test]
fn point_in_time_only_without_config_state() {
    let mut ev = demo();
    ev.period = None;
    ev.config_state = Default::default();
    ev.point_in_time.result = ControlResult::InsufficientEvidence;
    let t = text(&render(&ev, "point-in-time"));
    assert_has(&t, "Insufficient evidence");
    assert_has(&t, "Point in time only");
    assert_has(&t, "authentication methods policy was not collected");
    assert!(
        !t.contains("Theauditperiod"),
        "no period section without a period"
    );
}

#[test]
fn broken_ledger_is_stated_on_the_summary() {
    let mut ev = demo();
    let period = ev.period.as_mut().unwrap();
    period.ledger.verified = false;
    period.ledger.broken_link = Some("line 97: previous hash mismatch".to_owned());
    let pdf = render(&ev, "broken-ledger");
    let t = text(&pdf);
    let summary = t.rfind("1Summary").expect("a summary");
    let stated = t[summary..]
        .find("Thehistoryledgerisbroken")
        .expect("stated");
    let next = t[summary..].find("2Thecontrol").expect("a control section");
    assert!(stated < next, "the broken ledger is stated on the summary");
}

#[test]
fn periods_of_any_length_render() {
    let base = demo();
    let series = base.period.as_ref().unwrap().series.clone();
    let cases: [(&str, usize, &str); 4] = [
        ("period-empty", 0, "2025-01-01T00:00:00Z"),
        ("period-one", 1, "2025-01-01T00:00:00Z"),
        ("period-week", 7, "2025-01-01T00:00:00Z"),
        ("period-three-years", 182, "2022-07-01T00:00:00Z"),
    ];
    for (name, n, from) in cases {
        let mut ev = base.clone();
        let period = ev.period.as_mut().unwrap();
        period.series = series[..n].to_vec();
        period.snapshots = n as u64;
        period.from = parse_rfc3339(from).unwrap();
        if n > 0 {
            period.to = series[n - 1].collected_at;
        }
        let t = text(&render(&ev, name));
        assert_has(&t, "6.1 Trend");
    }
}

#[test]
fn no_file_list_is_said() {
    let json = serde_json::to_vec(&demo()).unwrap();
    let t = text(&render_report(&json, &[]).unwrap());
    assert_has(&t, "No file list was given to the renderer");
}

#[test]
fn today_is_the_as_of_date_not_the_clock() {
    let template = "#set text(font: \"Inter\")\nToday is #datetime.today().display() and #datetime.today(offset: 20).display().";
    let pdf = render_with_template(template, DEMO.as_bytes(), &[]).unwrap();
    let t = text(&pdf);
    // The demo's as-of time is 2026-10-31T06:00:00Z.
    assert_has(&t, "Today is 2026-10-31 and 2026-11-01.");
}

/// Every identifier the report shows (method strings, source names, UPNs, package file names) is
/// set whole: a text extractor finds each one on one line, never split where a column wrapped it.
#[test]
fn identifiers_are_never_broken_inside() {
    let ev = demo();
    let pdf = render(&ev, "identifiers");
    let raw = pdf_extract::extract_text_from_mem(&pdf).expect("the pdf's text can be extracted");
    let mut identifiers: Vec<String> = Vec::new();
    for g in &ev.control.method_groups {
        identifiers.extend(g.methods.iter().cloned());
    }
    identifiers.extend(ev.provenance.sources.iter().map(|s| s.name.to_string()));
    let pit = &ev.point_in_time;
    identifiers.extend(
        pit.unregistered_sample
            .iter()
            .map(|u| u.user_principal_name.clone()),
    );
    identifiers.extend(
        pit.unregistered_sample
            .iter()
            .flat_map(|u| u.methods.clone()),
    );
    identifiers.extend(
        pit.break_glass_accounts
            .iter()
            .map(|a| a.user_principal_name.clone()),
    );
    if let Some(period) = &ev.period {
        let rem = &period.remediation;
        identifiers.extend(
            rem.remediated_sample
                .iter()
                .map(|r| r.user_principal_name.clone()),
        );
        identifiers.extend(
            rem.still_unregistered_sample
                .iter()
                .map(|o| o.user_principal_name.clone()),
        );
    }
    identifiers.extend(
        demo_files()
            .iter()
            .filter(|f| !f.path.starts_with("raw/") && !f.path.starts_with("config-state/"))
            .map(|f| f.path.clone()),
    );
    identifiers.retain(|i| !i.is_empty());
    identifiers.sort();
    identifiers.dedup();
    let broken: Vec<&String> = identifiers
        .iter()
        .filter(|i| !raw.contains(i.as_str()))
        .collect();
    assert!(
        broken.is_empty(),
        "{} of {} identifiers are not whole in the extracted text: {broken:?}",
        broken.len(),
        identifiers.len()
    );
}
