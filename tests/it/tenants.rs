//! Many tenants from one config, through the built binary against one fake Graph serving them
//! all: `collect --all-tenants` in parallel (a broken tenant does not stop the others),
//! `report --all-tenants` and its `portfolio.csv`, `--tenant` picking one, and each package
//! depending on its own tenant's settings only.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;

use crate::fake_graph::{CLIENT_ID, FakeGraph, FakeTenant, Fault, GROUP_ID, Scenario, TENANT};
use crate::util::{Run, Workdir, bin_in, entry, sha256_hex, zip_entries};

/// Eight tenants the fake serves and the config lists, then one the config lists whose secret
/// is wrong.
const GOOD: usize = 8;

pub(crate) fn tenant_id(i: usize) -> String {
    if i == 0 {
        TENANT.to_string()
    } else {
        format!("{i:08}-0000-4000-8000-00000000000{i}")
    }
}

pub(crate) fn tenant_name(i: usize) -> String {
    if i == 0 {
        "Contoso".to_string()
    } else {
        format!("Tenant {i}")
    }
}

pub(crate) fn secret(i: usize) -> String {
    if i == 0 {
        "fake-secret".to_string()
    } else {
        format!("s3cret-of-tenant-{i}")
    }
}

/// The config for tenants `0..n`, each with its own secret variable and break-glass group;
/// `extra` goes into tenant 2's table.
fn config(url: &str, store: &Path, n: usize, extra: &str) -> String {
    tenants_config(
        &format!("[store]\npath = \"{}\"\n", store.display()),
        url,
        n,
        extra,
    )
}

/// `store` (a `[store]` table), then tenants `0..n` as [`config`] lists them.
pub(crate) fn tenants_config(store: &str, url: &str, n: usize, extra: &str) -> String {
    let mut text = store.to_string();
    for i in 0..n {
        text.push_str(&format!(
            "\n[[tenants]]\nid = \"{}\"\nname = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n\
             client_secret_env = \"TENANT_{i}_SECRET\"\nlogin_endpoint = \"{url}\"\ngraph_endpoint = \"{url}\"\n\
             break_glass.group_id = \"{GROUP_ID}\"\n{}",
            tenant_id(i),
            tenant_name(i),
            if i == 2 { extra } else { "" }
        ));
    }
    text
}

/// The binary in `dir`, with every tenant's secret variable set.
fn run(dir: &Path, config: &Path, args: &[&str]) -> Run {
    let mut cmd = bin_in(dir);
    cmd.arg("--config").arg(config).args(args);
    for i in 0..=GOOD {
        // The last tenant's variable holds another tenant's secret: Entra refuses it.
        let value = if i == GOOD { secret(1) } else { secret(i) };
        cmd.env(format!("TENANT_{i}_SECRET"), value);
    }
    cmd.env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
        .env_remove("HTTPS_PROXY");
    Run::from(cmd.output().unwrap())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// The portfolio's rows, each a map from column to cell.
fn portfolio(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let bytes = std::fs::read(path).unwrap();
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").expect("a BOM")).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_tenants_are_collected_in_parallel_and_reported_each_with_its_own_settings() {
    let mut scenario = Scenario::default();
    // Slow enough that tenants collected one after another would never overlap.
    scenario
        .always
        .insert("users".into(), Fault::Delay(Duration::from_millis(300)));
    scenario.other_tenants = (1..=GOOD)
        .map(|i| FakeTenant {
            id: tenant_id(i),
            name: tenant_name(i),
            secret: secret(i),
        })
        .collect();
    let fake = FakeGraph::start(scenario).await;
    let work = Workdir::new();
    let store = work.join("store");
    let all = work.join("all.toml");
    std::fs::write(&all, config(&fake.url, &store, GOOD + 1, "")).unwrap();

    // Nine tenants, eight at a time: the one with a wrong secret breaks, the others are stored.
    let first = blocking({
        let (work, all) = (work.path().to_path_buf(), all.clone());
        move || run(&work, &all, &["collect", "--all-tenants", "--jobs", "8"])
    })
    .await;
    first.expect_code(2);
    for i in 0..GOOD {
        first.expect_output(&format!(
            "tenant {} ({}): stored snapshot 1 collected at",
            tenant_name(i),
            tenant_id(i)
        ));
    }
    first
        .expect_output(&format!(
            "error: tenant {} ({}):",
            tenant_name(GOOD),
            tenant_id(GOOD)
        ))
        .expect_output("AADSTS7000215")
        .expect_output("collected 8 tenants of 9; 1 broke");
    for i in 0..=GOOD {
        assert!(
            !first.stdout.contains(&secret(i)) && !first.stderr.contains(&secret(i)),
            "a secret in the output: {first:?}"
        );
    }
    let peak = fake.state.peak_users_in_flight.load(Ordering::SeqCst);
    assert!(
        peak >= 2,
        "tenants were collected one at a time (peak {peak})"
    );
    assert!(peak <= 8, "more than --jobs 8 at once (peak {peak})");
    let ledgers = mfa_evidence::store::Store::new(&store).tenants().unwrap();
    let mut expected: Vec<String> = (0..GOOD).map(tenant_id).collect();
    expected.sort();
    assert_eq!(ledgers, expected);

    // The eight good ones again: nothing broke, but the control fails in each (exit 1).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let good = work.join("good.toml");
    std::fs::write(&good, config(&fake.url, &store, GOOD, "")).unwrap();
    let second = blocking({
        let (work, good) = (work.path().to_path_buf(), good.clone());
        move || run(&work, &good, &["collect", "--all-tenants"])
    })
    .await;
    second
        .expect_code(1)
        .expect_output("collected 8 tenants of 8");
    for i in 0..GOOD {
        second.expect_output(&format!(
            "tenant {} ({}): stored snapshot 2 collected at",
            tenant_name(i),
            tenant_id(i)
        ));
    }
    second.expect_output(": fail (");

    // One package per tenant and the portfolio; the tenant without a snapshot is a row too.
    let report = blocking({
        let (work, all) = (work.path().to_path_buf(), all.clone());
        move || {
            run(
                &work,
                &all,
                &["report", "--all-tenants", "--jobs", "2", "--out", "out"],
            )
        }
    })
    .await;
    report
        .expect_code(2)
        .expect_output(&format!(
            "error: tenant {} ({}): the evidence store",
            tenant_name(GOOD),
            tenant_id(GOOD)
        ))
        .expect_output("portfolio: out/portfolio.csv");
    let rows = portfolio(&work.join("out/portfolio.csv"));
    assert_eq!(rows.len(), GOOD + 1);
    let mut config_hashes = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["tenant_id"], tenant_id(i));
        assert_eq!(row["tenant_name"], tenant_name(i));
        if i == GOOD {
            assert_eq!(row["result"], "error");
            assert!(row["error"].contains("holds no snapshot"), "{row:?}");
            assert_eq!(row["package"], "");
            continue;
        }
        let zip = work.join("out").join(&row["package"]);
        let bytes = std::fs::read(&zip).unwrap();
        assert_eq!(row["package_sha256"], sha256_hex(&bytes), "{row:?}");
        let entries = zip_entries(&zip);
        let evidence: Value = serde_json::from_slice(entry(&entries, "evidence.json")).unwrap();
        assert_eq!(evidence["tenant"]["id"], tenant_id(i));
        let point = &evidence["point_in_time"];
        assert_eq!(row["in_scope"], point["in_scope"].to_string());
        assert_eq!(row["registered"], point["registered"].to_string());
        assert_eq!(row["percent"], point["percent"].as_str().unwrap());
        assert_eq!(row["result"], point["result"].as_str().unwrap());
        assert_eq!(
            row["period_conclusion"],
            evidence["period"]["conclusion"].as_str().unwrap()
        );
        assert_eq!(row["as_of"], evidence["as_of"].as_str().unwrap());
        assert_eq!(row["error"], "");
        config_hashes.push(
            evidence["control"]["config_sha256"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let distinct: std::collections::BTreeSet<_> = config_hashes.iter().collect();
    assert_eq!(
        distinct.len(),
        GOOD,
        "each tenant has its own settings hash"
    );

    // Tenant 2 gets an exception: its package changes, every other one stays byte for byte.
    let edited = work.join("edited.toml");
    let exception = "[[tenants.exceptions]]\nupn = \"user4@contoso.com\"\nreason = \"no phone\"\n\
                     approved_by = \"CISO\"\nexpires = \"2099-01-01\"\n";
    std::fs::write(&edited, config(&fake.url, &store, GOOD + 1, exception)).unwrap();
    let again = blocking({
        let (work, edited) = (work.path().to_path_buf(), edited.clone());
        move || {
            run(
                &work,
                &edited,
                &["report", "--all-tenants", "--out", "again"],
            )
        }
    })
    .await;
    again.expect_code(2);
    let rows_again = portfolio(&work.join("again/portfolio.csv"));
    for (i, (before, after)) in rows.iter().zip(&rows_again).take(GOOD).enumerate() {
        assert_eq!(before["package"], after["package"]);
        if i == 2 {
            assert_ne!(before["package_sha256"], after["package_sha256"]);
        } else {
            assert_eq!(
                before["package_sha256"], after["package_sha256"],
                "editing tenant 2 changed the package of tenant {i}"
            );
        }
    }

    // --tenant picks one tenant of the config, with its settings: the same package.
    let one = blocking({
        let (work, all, id) = (work.path().to_path_buf(), all.clone(), tenant_id(3));
        move || run(&work, &all, &["report", "--tenant", &id, "--out", "one"])
    })
    .await;
    one.expect_code(1);
    let zip = work.join("one").join(&rows[3]["package"]);
    assert_eq!(
        sha256_hex(&std::fs::read(zip).unwrap()),
        rows[3]["package_sha256"]
    );

    // Without --tenant or --all-tenants a config of several tenants says what to do.
    let neither = blocking({
        let (work, all) = (work.path().to_path_buf(), all.clone());
        move || run(&work, &all, &["report", "--out", "x"])
    })
    .await;
    neither
        .expect_code(2)
        .expect_output("the config lists 9 tenants")
        .expect_output("--all-tenants");
}

#[test]
fn all_tenants_needs_a_tenants_config() {
    let work = Workdir::new();
    std::fs::write(
        work.join("mfa-evidence.toml"),
        "[control]\nthreshold_percent = 90\n",
    )
    .unwrap();
    for args in [
        &["collect", "--all-tenants"][..],
        &["report", "--all-tenants"][..],
    ] {
        work.run(args)
            .expect_code(2)
            .expect_output("lists none: list the tenants in [[tenants]]");
    }
    std::fs::write(
        work.join("mfa-evidence.toml"),
        format!(
            "[break_glass]\nupns = [\"bg@contoso.com\"]\n\n[[tenants]]\nid = \"{TENANT}\"\nname = \"A\"\n\
             client_id = \"{CLIENT_ID}\"\nclient_secret_env = \"A_SECRET\"\n"
        ),
    )
    .unwrap();
    work.run(&["report"])
        .expect_code(2)
        .expect_output("[break_glass] and [[tenants]] do not mix");
}
