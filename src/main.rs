//! The command line: parses arguments, sets up logging, runs one job, prints the error chain and
//! maps the outcome to an exit code (0 pass, 1 fail or insufficient evidence, 2 error).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Parser, Subcommand};

use mfa_evidence::collect::graph::AuthEnv;
use mfa_evidence::config::Config;
use mfa_evidence::evidence::words::counted;
use mfa_evidence::report::{self, ReportRequest};
use mfa_evidence::store::Store;
use mfa_evidence::time::secs_text;
use mfa_evidence::{collect, demo, verify};

#[derive(Parser)]
#[command(
    name = "mfa-evidence",
    version,
    about = "SOC 2 evidence for control ID-01 (user MFA registration) from Microsoft Entra ID"
)]
struct Cli {
    /// The configuration file [default: ./mfa-evidence.toml when present]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// More logging (-v: requests and steps; -vv: everything)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole job on the built-in sample tenant: six months of daily history -> ./evidence/
    Demo {
        /// Where the package goes
        #[arg(long, value_name = "DIR", default_value = "./evidence")]
        out: PathBuf,
        /// The sample tenant folder [default: the samples/ folder of this source tree, or ./samples]
        #[arg(long, value_name = "DIR")]
        samples: Option<PathBuf>,
    },
    /// Collect a snapshot from Microsoft Graph into the store (secrets from AZURE_* variables)
    Collect {
        /// Sign in interactively with a device code instead of the app's credentials
        #[arg(long)]
        device_code: bool,
    },
    /// Import a folder of Graph response bodies (offline exports) as a snapshot
    Import {
        /// The folder: organization.json, users.json or users-0001.json..., userRegistrationDetails..., ...
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// When the data was collected, if the folder has no provenance.json (RFC 3339, UTC)
        #[arg(long, value_name = "TIME")]
        collected_at: Option<String>,
    },
    /// Evaluate ID-01 and write the evidence package
    Report {
        /// Where the package goes
        #[arg(long, value_name = "DIR", default_value = "./evidence")]
        out: PathBuf,
        /// The audit period, FROM..TO (YYYY-MM-DD or RFC 3339, UTC) [default: the first stored
        /// snapshot to the newest]
        #[arg(long, value_name = "FROM..TO")]
        period: Option<String>,
        /// The point in time: the newest snapshot at or before this time (YYYY-MM-DD or RFC 3339,
        /// UTC); alone, it gives a point-in-time package without a period
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// Report a period over a broken ledger, stating the break as a deviation
        #[arg(long)]
        allow_broken_history: bool,
        /// The tenant, when the store holds several
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
    },
    /// Check a package: every hash, and the figure re-computed from population.csv
    Verify {
        /// The package zip
        package: PathBuf,
    },
    /// Inspect the evidence store
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
}

#[derive(Subcommand)]
enum StoreAction {
    /// Recompute the ledger chain and every snapshot's hash; name the first broken link
    Verify {
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
    },
    /// List the stored snapshots
    List {
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info,mfa_evidence=debug",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_target(false)
        .init();
}

/// `2026-10-31` (midnight UTC, or the end of that day for an upper bound) or RFC 3339.
fn parse_time(text: &str, end_of_day: bool) -> Result<DateTime<Utc>> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let time = if end_of_day {
            date.and_hms_opt(23, 59, 59)
        } else {
            date.and_hms_opt(0, 0, 0)
        };
        return Ok(time.context("invalid date")?.and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| {
            format!(
                "{text:?} is not a time: write YYYY-MM-DD or RFC 3339 such as 2026-10-31T06:00:00Z"
            )
        })
}

/// `FROM..TO`; a date as FROM means its start, as TO its end.
fn parse_period(text: &str) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let (from, to) = text.split_once("..").with_context(|| {
        format!("--period {text:?} is not FROM..TO: write e.g. 2026-05-01..2026-10-31")
    })?;
    Ok((parse_time(from, false)?, parse_time(to, true)?))
}

fn run(cli: Cli) -> Result<u8> {
    // `verify` is the auditor's command: it reads only the zip, so a config file it does not
    // use (an unrelated, perhaps broken ./mfa-evidence.toml) must not stop it.
    let config = match &cli.command {
        Command::Verify { .. } => Config::default(),
        _ => Config::load(cli.config.as_deref())?,
    };
    match cli.command {
        Command::Demo { out, samples } => {
            let samples = samples.unwrap_or_else(default_samples_dir);
            let outcome = demo::run(&samples, &out)?;
            print_outcome(&outcome);
            // The demo's story has deviations on purpose; `report` on the same store would exit
            // with the conclusion's code, the demo succeeds when its package is written.
            println!(
                "demo: `report` would exit {} for this result",
                outcome.exit_code()
            );
            Ok(0)
        }
        Command::Collect { device_code } => {
            #[allow(
                clippy::disallowed_methods,
                reason = "a live collection runs now; its default audit window ends now"
            )]
            let now = Utc::now();
            let request = collect::CollectRequest {
                now,
                device_code,
                // Progress lines and -v log lines would both write to stderr and garble each other.
                progress: cli.verbose == 0,
                env: AuthEnv::from_process_env(),
            };
            let stored = collect::run(&config, &request)?;
            println!(
                "stored snapshot {} ({}) collected at {}; sha256 {}",
                stored.entry.sequence,
                stored.entry.tenant_id,
                secs_text(stored.entry.collected_at),
                stored.entry.snapshot_sha256
            );
            Ok(0)
        }
        Command::Import { dir, collected_at } => {
            let collected_at = collected_at
                .as_deref()
                .map(|t| parse_time(t, false))
                .transpose()?;
            let imported = collect::import::import_dir(&dir, collected_at)?;
            let store = Store::new(&config.store_path);
            let stored = store.add(&imported)?;
            println!(
                "stored snapshot {} of {} ({}): {} users, {} report rows; sha256 {}",
                stored.entry.sequence,
                imported.snapshot.tenant.name,
                imported.snapshot.tenant.id,
                imported.snapshot.users.len(),
                imported.snapshot.registrations.len(),
                stored.entry.snapshot_sha256
            );
            Ok(0)
        }
        Command::Report {
            out,
            period,
            as_of,
            allow_broken_history,
            tenant,
        } => {
            let request = ReportRequest {
                out_dir: out,
                tenant,
                as_of: as_of.as_deref().map(|t| parse_time(t, true)).transpose()?,
                period: period.as_deref().map(parse_period).transpose()?,
                allow_broken_history,
            };
            let outcome = report::run(&config, &request)?;
            print_outcome(&outcome);
            Ok(outcome.exit_code() as u8)
        }
        Command::Verify { package } => {
            let v = verify::verify_package(&package)?;
            for line in &v.checked {
                println!("ok: {line}");
            }
            match v.failure {
                None => {
                    println!("VERIFIED: {}", package.display());
                    Ok(0)
                }
                Some(why) => {
                    println!("FAILED: {why}");
                    Ok(1)
                }
            }
        }
        Command::Store { action } => {
            let store = Store::new(&config.store_path);
            match action {
                StoreAction::Verify { tenant } => {
                    let tenant = store.pick_tenant(tenant.as_deref())?;
                    let report = store.verify(&tenant)?;
                    for note in &report.notes {
                        println!("note: {note}");
                    }
                    match report.broken {
                        None => {
                            println!(
                                "ledger of {tenant}: {}, chain intact",
                                counted(report.verified, "snapshot", "snapshots")
                            );
                            Ok(0)
                        }
                        Some(why) => {
                            println!(
                                "BROKEN: {why} ({} verified before it)",
                                counted(report.verified, "snapshot", "snapshots")
                            );
                            Ok(1)
                        }
                    }
                }
                StoreAction::List { tenant } => {
                    let tenant = store.pick_tenant(tenant.as_deref())?;
                    println!(
                        "{:>6}  {:<20}  {:<30}  sha256",
                        "seq", "collected at", "folder"
                    );
                    for s in store.ledger(&tenant)? {
                        println!(
                            "{:>6}  {:<20}  {:<30}  {}",
                            s.entry.sequence,
                            secs_text(s.entry.collected_at),
                            s.entry.folder,
                            s.entry.snapshot_sha256
                        );
                    }
                    Ok(0)
                }
            }
        }
    }
}

fn default_samples_dir() -> PathBuf {
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples");
    if built.is_dir() {
        built
    } else {
        PathBuf::from("samples")
    }
}

fn print_outcome(outcome: &report::ReportOutcome) {
    let e = &outcome.evidence;
    let p = &e.point_in_time;
    let figure = if p.in_scope == 0 {
        "no user was in scope".to_string()
    } else {
        format!(
            "{} of {} in scope registered, {} %",
            p.registered, p.in_scope, p.percent
        )
    };
    println!(
        "ID-01 {} as of {}: {} ({figure}; threshold {} %)",
        e.tenant.name,
        secs_text(e.as_of),
        p.result,
        p.threshold_percent
    );
    if let Some(period) = &e.period {
        println!(
            "period {} to {}: {} ({}, {})",
            secs_text(period.from),
            secs_text(period.to),
            period.conclusion,
            counted(period.snapshots, "snapshot", "snapshots"),
            counted(period.deviations.len() as u64, "deviation", "deviations")
        );
    }
    for f in &e.findings {
        println!("finding {} ({}): {}", f.code, f.severity, f.detail);
    }
    println!("package: {}", outcome.zip.display());
}
