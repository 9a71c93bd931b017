//! Many tenants from one config (`[[tenants]]`): `collect --all-tenants` and
//! `report --all-tenants`. Each tenant runs the one-tenant job with its own effective config
//! ([`Config::for_tenant`]) and its own credential, a few at a time ([`run_bounded`]); a tenant
//! whose run breaks is reported as such and never stops the others.
//!
//! Credentials are named in the config, never held there: a tenant's secret is read from the
//! variable its `client_secret_env` names, or its certificate from `certificate_file`. The
//! process's `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` and
//! `AZURE_CLIENT_CERTIFICATE_PATH` are not used for a `[[tenants]]` tenant: they would belong to
//! one tenant, and all the others would silently borrow them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};

use crate::collect::graph::AuthEnv;
use crate::collect::{self, CollectRequest, Collected};
use crate::config::{Config, CredentialRef, TenantEntry, TenantSettings};
use crate::evaluate::{self, ControlResult, Figure};
use crate::notify::deliver::Notifier;
use crate::notify::job::{self, NotifyOutcome};
use crate::render::portfolio::{self, PortfolioRow};
use crate::report::{self, ReportOutcome, ReportRequest};

/// The file `report --all-tenants` writes beside the packages.
pub const PORTFOLIO_FILE: &str = "portfolio.csv";

/// How many tenants `collect --all-tenants` collects at once unless `--jobs` says otherwise:
/// collection waits on Graph, not on this machine.
pub const DEFAULT_COLLECT_JOBS: usize = 4;
/// How many packages `report --all-tenants` writes at once unless `--jobs` says otherwise:
/// rendering is CPU and memory bound, one tenant's PDF at a time by default.
pub const DEFAULT_REPORT_JOBS: usize = 1;

/// `f` over every item, at most `jobs` at once, each on a thread of its own; the results in the
/// items' order. A panic in one propagates once all have finished.
pub fn run_bounded<T, R, F>(items: &[T], jobs: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = f(item);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// A `[[tenants]]` tenant's credential as the collector takes it: the secret read from the
/// variable the config names (through `var`, the process environment in the binary), or the
/// certificate file. `AZURE_AUTHORITY_HOST` (the login root of a cloud) is kept from `process`;
/// nothing else of it.
pub fn auth_env(
    settings: &TenantSettings,
    process: &AuthEnv,
    var: impl Fn(&str) -> Option<String>,
) -> Result<AuthEnv> {
    let mut env = AuthEnv {
        authority_host: process.authority_host.clone(),
        ..AuthEnv::default()
    };
    match &settings.credential {
        None => return Ok(process.clone()),
        Some(CredentialRef::SecretEnv(name)) => {
            let secret = var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .with_context(|| {
                    format!(
                        "the client secret of tenant {} is read from {name}, which is not set: set it in the environment of this run",
                        settings.id.as_deref().unwrap_or("?")
                    )
                })?;
            env.client_secret = Some(secret);
        }
        Some(CredentialRef::CertificateFile(file)) => {
            env.client_certificate_path = Some(file.clone());
        }
    }
    Ok(env)
}

/// One tenant's `collect`, as `collect --all-tenants` reports it.
pub struct TenantCollect {
    pub id: String,
    pub name: String,
    pub outcome: Result<CollectedTenant>,
}

/// A stored collection, its point-in-time result and what its alert step did.
pub struct CollectedTenant {
    pub collected: Collected,
    pub result: ControlResult,
    pub figure: Figure,
    /// `None` without alert channels (or with `--no-notify`).
    pub alert: Option<Result<NotifyOutcome>>,
}

impl TenantCollect {
    /// 2 when the run broke; 1 when the snapshot does not pass, cannot be evidence, or its
    /// alert was not delivered; else 0.
    pub fn exit_code(&self) -> u8 {
        let Ok(c) = &self.outcome else { return 2 };
        let alert_failed = match &c.alert {
            None => false,
            Some(Ok(outcome)) => outcome.undelivered().next().is_some(),
            Some(Err(_)) => true,
        };
        let failed = c.result != ControlResult::Pass || alert_failed;
        c.collected.exit_code().max(u8::from(failed))
    }
}

/// 2 when any run broke, else 1 when any needs attention, else 0.
pub fn exit_code(codes: impl IntoIterator<Item = u8>) -> u8 {
    codes.into_iter().max().unwrap_or(0)
}

/// `collect --all-tenants`: every tenant of the config, `jobs` at a time. `template` gives the
/// run's time and options; each tenant gets its own credential from `process` and `var`.
pub fn collect_all(
    config: &Config,
    template: &CollectRequest,
    jobs: usize,
    notifier: Option<&Notifier>,
    var: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Vec<TenantCollect> {
    run_bounded(&config.tenants, jobs, |entry| TenantCollect {
        id: entry.id.clone(),
        name: entry.name.clone(),
        outcome: collect_one(config, entry, template, notifier, var),
    })
}

fn collect_one(
    config: &Config,
    entry: &TenantEntry,
    template: &CollectRequest,
    notifier: Option<&Notifier>,
    var: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<CollectedTenant> {
    let config = config.for_tenant(entry);
    let request = CollectRequest {
        env: auth_env(&config.tenant, &template.env, var)?,
        // Several bars at once would garble each other.
        progress: false,
        ..template.clone()
    };
    let collected = match collect::run(&config, &request) {
        Ok(collected) => collected,
        Err(e) => {
            if let Some(n) = notifier
                && let Err(alert) =
                    job::after_failure(&config, n, Some(&entry.id), template.now, &e)
            {
                tracing::warn!("tenant {}: the failure alert: {alert:#}", entry.name);
            }
            return Err(e);
        }
    };
    let snapshot = &collected.snapshot;
    let (result, figure) = {
        let evaluation = evaluate::evaluate(snapshot, &config.control);
        (evaluation.result, evaluation.figure())
    };
    let alert = notifier.map(|n| job::after_stored(&config, n, &collected.stored, snapshot));
    Ok(CollectedTenant {
        collected,
        result,
        figure,
        alert,
    })
}

/// One tenant's package of `report --all-tenants`.
pub struct TenantReport {
    pub id: String,
    pub name: String,
    pub outcome: Result<(ReportOutcome, String)>,
}

impl TenantReport {
    pub fn exit_code(&self) -> u8 {
        match &self.outcome {
            Ok((report, _)) => report.exit_code() as u8,
            Err(_) => 2,
        }
    }
}

/// What `report --all-tenants` wrote.
pub struct Portfolio {
    pub tenants: Vec<TenantReport>,
    /// `portfolio.csv`, one row per tenant.
    pub file: PathBuf,
}

/// `report --all-tenants`: one package per tenant into `request.out_dir` (the request's period
/// and as-of for each), `jobs` at a time, then `portfolio.csv` beside them: one row per tenant
/// of the config, a broken one with its error.
pub fn report_all(config: &Config, request: &ReportRequest, jobs: usize) -> Result<Portfolio> {
    let tenants = run_bounded(&config.tenants, jobs, |entry| {
        let request = ReportRequest {
            tenant: Some(entry.id.clone()),
            ..request.clone()
        };
        let outcome = report::run(&config.for_tenant(entry), &request).and_then(|outcome| {
            let sha256 = crate::digest::hash_file(&outcome.zip)
                .with_context(|| format!("cannot read {}", outcome.zip.display()))?;
            Ok((outcome, sha256))
        });
        TenantReport {
            id: entry.id.clone(),
            name: entry.name.clone(),
            outcome,
        }
    });
    let rows: Vec<PortfolioRow> = tenants.iter().map(row).collect();
    let file = request.out_dir.join(PORTFOLIO_FILE);
    portfolio::write_file(&file, &rows)?;
    Ok(Portfolio { tenants, file })
}

fn row(t: &TenantReport) -> PortfolioRow<'_> {
    match &t.outcome {
        Ok((outcome, sha256)) => {
            let e = &outcome.evidence;
            PortfolioRow::Reported {
                tenant_id: &t.id,
                tenant_name: &t.name,
                as_of: e.as_of,
                point: &e.point_in_time,
                period_conclusion: e.period.as_ref().map(|p| p.conclusion),
                package: file_name(&outcome.zip),
                sha256,
            }
        }
        Err(e) => PortfolioRow::Broken {
            tenant_id: &t.id,
            tenant_name: &t.name,
            error: format!("{e:#}"),
        },
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_bounded_keeps_order_and_bounds_concurrency() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let items: Vec<u64> = (0..20).collect();
        let out = run_bounded(&items, 3, |i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert!(peak.load(Ordering::SeqCst) >= 2, "ran in parallel");
        assert!(run_bounded(&[] as &[u8], 4, |_| 0).is_empty());
    }

    #[test]
    fn a_tenant_secret_comes_from_its_variable_and_nothing_else_from_azure() {
        let config = Config::from_toml(
            "[[tenants]]\nid = \"11111111-2222-3333-4444-555555555555\"\nname = \"A\"\n\
             client_id = \"c\"\nclient_secret_env = \"A_SECRET\"\n",
        )
        .unwrap();
        let settings = &config.tenants[0].settings;
        let process = AuthEnv {
            tenant_id: Some("other".into()),
            client_id: Some("other".into()),
            client_secret: Some("the other tenant's".into()),
            client_certificate_path: Some("/other.pem".into()),
            authority_host: Some("https://login.microsoftonline.us".into()),
        };
        let env = auth_env(settings, &process, |v| {
            (v == "A_SECRET").then(|| "a-secret".to_string())
        })
        .unwrap();
        assert_eq!(env.client_secret.as_deref(), Some("a-secret"));
        assert_eq!(env.tenant_id, None);
        assert_eq!(env.client_id, None);
        assert_eq!(env.client_certificate_path, None);
        assert_eq!(env.authority_host, process.authority_host);
        let err = auth_env(settings, &process, |_| None).unwrap_err();
        assert!(
            format!("{err:#}").contains("A_SECRET, which is not set"),
            "{err:#}"
        );
    }
}
