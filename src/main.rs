//! The command line: parses arguments, sets up logging, runs one job, prints the error chain and
//! maps the outcome to an exit code (0 pass, 1 fail or insufficient evidence or an alert not
//! delivered, 2 error). Also writes shell completions and the man page, both from these clap
//! definitions.
//!
//! Apart from the request times the collector records, the clock is read here: for `collect`
//! (the run's time) and `import` (no collection lies in the future), and passed in.

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use mfa_evidence::archive::{self, Archived, ArchivedFile};
use mfa_evidence::attest::{self, StampOutcome, signing::read_allowed_signers};
use mfa_evidence::collect::graph::AuthEnv;
use mfa_evidence::config::{Config, ObjectUrl};
use mfa_evidence::evidence::words::counted;
use mfa_evidence::notify::deliver::{Notifier, NotifyEnv};
use mfa_evidence::notify::job::{self, NotifyOutcome};
use mfa_evidence::objects::StorageEnv;
use mfa_evidence::report::{self, ReportRequest};
use mfa_evidence::store::{Depth, Store};
use mfa_evidence::tenants;
use mfa_evidence::time::secs_text;
use mfa_evidence::{collect, demo, verify};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// More logging on stderr (-v: each step with its duration; -vv: every request too)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Colour in log lines: auto (only when stderr is a terminal and NO_COLOR is unset)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether log lines carry ANSI colour codes: never into a file or a pipe unless asked.
    fn ansi(self) -> bool {
        use std::io::IsTerminal;
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
            }
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole job on the built-in sample tenant: six months of daily history -> ./evidence/
    Demo {
        /// Where the package goes
        #[arg(long, value_name = "DIR", default_value = "./evidence")]
        out: PathBuf,
        /// A sample tenant folder to use instead of the one built into the binary
        #[arg(long, value_name = "DIR")]
        samples: Option<PathBuf>,
    },
    /// Collect a snapshot from Microsoft Graph into the store (secrets from AZURE_* variables)
    Collect {
        /// Sign in interactively with a device code instead of the app's credentials
        #[arg(long, conflicts_with = "all_tenants")]
        device_code: bool,
        /// Send no alert for this run, whatever [notify] configures
        #[arg(long)]
        no_notify: bool,
        /// The tenant of a [[tenants]] config to collect (its directory id)
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
        /// Collect every tenant of a [[tenants]] config; one that fails does not stop the others
        #[arg(long, conflicts_with = "tenant")]
        all_tenants: bool,
        /// With --all-tenants: how many tenants are collected at once [default: 4]
        #[arg(long, value_name = "N", requires = "all_tenants", value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: Option<u16>,
    },
    /// Import an export folder as a snapshot: Graph response bodies, Entra admin center downloads
    /// or Microsoft Graph PowerShell output
    Import {
        /// The folder: organization.json, users.json or users-0001.json..., userRegistrationDetails...,
        /// or the admin center's CSV downloads and PowerShell JSON, recognised by their content
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The directory (tenant) id, for exports that name no tenant (admin center downloads,
        /// PowerShell output without Get-MgOrganization); refused when the folder names another
        #[arg(long, value_name = "ID")]
        tenant_id: Option<String>,
        /// The tenant's name, shown in the report and the package name, with --tenant-id
        #[arg(long, value_name = "NAME", requires = "tenant_id")]
        tenant_name: Option<String>,
        /// When the data was collected, if the folder has no provenance.json: RFC 3339 with a
        /// time, e.g. 2026-10-31T06:00:00Z (a bare date is refused)
        ///
        /// Not ahead of this machine's clock (by more than 5 minutes), and not before the newest
        /// lastUpdatedDateTime of the registration report: the data cannot predate itself.
        #[arg(long, value_name = "TIME")]
        collected_at: Option<String>,
        /// Send no alert for this run, whatever [notify] configures
        #[arg(long)]
        no_notify: bool,
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
        /// The tenant, when the store holds several (or the config lists several in [[tenants]])
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
        /// One package per tenant of a [[tenants]] config, and portfolio.csv beside them
        #[arg(long, conflicts_with = "tenant")]
        all_tenants: bool,
        /// Upload the package create-only to az://CONTAINER/PREFIX or s3://BUCKET/PREFIX
        /// [default: [archive] url] (credentials from AZURE_STORAGE_* or AWS_* variables)
        #[arg(long, value_name = "URL")]
        archive: Option<String>,
        /// With --all-tenants: how many packages are written at once [default: 1]
        #[arg(long, value_name = "N", requires = "all_tenants", value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: Option<u16>,
        /// Print one JSON summary on stdout instead of text (result, figure, findings, package)
        #[arg(long)]
        json: bool,
    },
    /// Check a package: every hash, the figure re-computed from population.csv, the signature
    /// and the time-stamp tokens
    Verify {
        /// The package zip
        package: PathBuf,
        /// An OpenSSH allowed_signers file: the package must be signed by a key it lists
        #[arg(long, value_name = "FILE")]
        allowed_signers: Option<PathBuf>,
        /// Print one JSON object on stdout instead of text (verdict, each check)
        #[arg(long)]
        json: bool,
    },
    /// Inspect the evidence store
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
    /// Print a shell completion script: bash, zsh, fish, powershell or elvish
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff): mfa-evidence man > mfa-evidence.1
    Man,
}

#[derive(Subcommand)]
enum StoreAction {
    /// Recompute the ledger chain, its signatures and tokens, and every snapshot's hash; name
    /// the first broken link
    Verify {
        /// Only this tenant (directory id) [default: every tenant of the store]
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
        /// Packages handed over earlier: the store must still hold, unchanged, the ledger lines
        /// each one carries (fails naming the first line that no longer matches)
        #[arg(long, value_name = "OLD.zip")]
        against: Vec<PathBuf>,
        /// Also derive every snapshot again from its raw pages and compare it with what is stored
        /// (the compact record, or snapshot.json): slower, it decompresses and parses every page
        #[arg(long)]
        deep: bool,
    },
    /// List the stored snapshots
    List {
        /// Only this tenant (directory id) [default: every tenant of the store]
        #[arg(long, value_name = "ID")]
        tenant: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.color.ansi());
    let mut out = Out { closed: false };
    match run(cli, &mut out) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Nothing useful is left to do if stderr is gone too.
            let _ = writeln!(io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Standard output, for the lines a command prints. Once its reader has gone (`report | head`)
/// the rest is dropped without a word: a closed pipe is the reader's choice, not a failure of the
/// run, whose exit code stands (as in ripgrep and the classic Unix tools). Rust ignores SIGPIPE,
/// so without this `println!` would panic.
struct Out {
    closed: bool,
}

impl Out {
    fn line(&mut self, args: fmt::Arguments) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let mut stdout = io::stdout().lock();
        match stdout
            .write_fmt(args)
            .and_then(|()| stdout.write_all(b"\n"))
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(e).context("cannot write to standard output"),
        }
    }
}

/// `println!` through [`Out`].
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        $out.line(format_args!($($arg)*))?
    };
}

/// A warning on stderr, which the operator (or the scheduler's log) reads.
fn warn(text: &str) {
    let _ = writeln!(io::stderr(), "warning: {text}");
}

fn init_logging(verbose: u8, ansi: bool) {
    // -v: our steps (info); -vv: our requests and details (debug), other crates' info.
    let level = match verbose {
        0 => "warn",
        1 => "warn,mfa_evidence=info",
        _ => "info,mfa_evidence=debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
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

/// A moment, RFC 3339 with a time. A bare date is refused: as a collection time it would be a
/// guess at midnight, which can predate the data or misplace the snapshot in the history.
fn parse_moment(text: &str, flag: &str) -> Result<DateTime<Utc>> {
    if NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() {
        bail!(
            "{flag} {text} is a date without a time: give the time the export was made, e.g. {text}T06:00:00Z (a bare date would be a guess at midnight)"
        );
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| {
            format!("{flag} {text:?} is not a time: write RFC 3339 such as 2026-10-31T06:00:00Z")
        })
}

/// `FROM..TO`; a date as FROM means its start, as TO its end.
fn parse_period(text: &str) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let (from, to) = text.split_once("..").with_context(|| {
        format!("--period {text:?} is not FROM..TO: write e.g. 2026-05-01..2026-10-31")
    })?;
    Ok((parse_time(from, false)?, parse_time(to, true)?))
}

fn run(cli: Cli, out: &mut Out) -> Result<u8> {
    // `verify` is the auditor's command: it reads only the zip, so a config file it does not
    // use (an unrelated, perhaps broken ./mfa-evidence.toml) must not stop it.
    let config = match &cli.command {
        Command::Verify { .. } | Command::Completions { .. } | Command::Man => Config::default(),
        _ => Config::load(cli.config.as_deref())?,
    };
    match cli.command {
        Command::Completions { shell } => {
            // Into a buffer first: the generator panics on a write error (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mfa-evidence", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .context("cannot write the completion script")?;
            Ok(0)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .context("cannot write the man page")?;
            Ok(0)
        }
        Command::Demo { out: dest, samples } => {
            let outcome = demo::run(samples.as_deref(), &dest)?;
            print_outcome(out, &outcome)?;
            // The demo's story has deviations on purpose; `report` on the same store would exit
            // with the conclusion's code, the demo succeeds when its package is written.
            say!(
                out,
                "demo: `report` would exit {} for this result",
                outcome.exit_code()
            );
            Ok(0)
        }
        Command::Collect {
            device_code,
            no_notify,
            tenant,
            all_tenants,
            jobs,
        } => {
            // A channel that cannot work is a configuration error, found before collecting.
            let notifier = notifier(&config, no_notify)?;
            #[allow(
                clippy::disallowed_methods,
                reason = "a live collection runs now; its default audit window ends now"
            )]
            let now = Utc::now();
            if all_tenants {
                let jobs = jobs.map_or(tenants::DEFAULT_COLLECT_JOBS, usize::from);
                return collect_all_tenants(out, &config, now, jobs, notifier.as_ref());
            }
            if tenant.is_some() && config.tenants.is_empty() {
                bail!(
                    "--tenant picks one tenant of a [[tenants]] config, and this config has none: [tenant] id names the tenant to collect"
                );
            }
            let config = config.select_tenant(tenant.as_deref())?;
            let env = tenants::auth_env(&config.tenant, &AuthEnv::from_process_env(), env_var)?;
            let tenant = config.tenant.id.clone().or_else(|| env.tenant_id.clone());
            let request = collect::CollectRequest {
                now,
                device_code,
                // Progress lines and -v log lines would both write to stderr and garble each other.
                progress: cli.verbose == 0,
                env,
            };
            let collected = match collect::run(&config, &request) {
                Ok(collected) => collected,
                Err(e) => {
                    // A broken collection is news too; the run still ends with its error.
                    if let Some(n) = &notifier {
                        match job::after_failure(&config, n, tenant.as_deref(), now, &e) {
                            Ok(outcome) => print_alert(out, &outcome)?,
                            Err(alert) => warn(&format!("the failure alert: {alert:#}")),
                        }
                    }
                    return Err(e);
                }
            };
            let entry = &collected.stored.entry;
            say!(
                out,
                "stored snapshot {} ({}) collected at {}; sha256 {}",
                entry.sequence,
                entry.tenant_id,
                secs_text(entry.collected_at),
                entry.snapshot_sha256
            );
            for w in &collected.warnings {
                warn(&w.text);
            }
            print_stamps(out, &collected.stamps)?;
            let alerted = match &notifier {
                None => 0,
                Some(n) => {
                    let snapshot = &collected.snapshot;
                    let outcome = job::after_stored(&config, n, &collected.stored, snapshot);
                    alert_code(out, outcome)?
                }
            };
            Ok(collected.exit_code().max(alerted))
        }
        Command::Import {
            dir,
            tenant_id,
            tenant_name,
            collected_at,
            no_notify,
        } => {
            let notifier = notifier(&config, no_notify)?;
            let collected_at = collected_at
                .as_deref()
                .map(|t| parse_moment(t, "--collected-at"))
                .transpose()?;
            #[allow(
                clippy::disallowed_methods,
                reason = "no collection lies ahead of this machine's clock"
            )]
            let now = Utc::now();
            let request = collect::ImportRequest {
                dir,
                collected_at,
                tenant_id,
                tenant_name,
                now,
            };
            let imported = collect::run_import(&config, &request)?;
            // run_import stores only a tenant [[tenants]] lists; its alert uses its settings.
            let config = match config.tenant_entry(&imported.tenant.id) {
                Some(entry) => config.for_tenant(entry),
                None => config,
            };
            say!(
                out,
                "stored snapshot {} of {} ({}): {} users, {} report rows; sha256 {}",
                imported.stored.entry.sequence,
                imported.tenant.name,
                imported.tenant.id,
                imported.users,
                imported.registrations,
                imported.stored.entry.snapshot_sha256
            );
            if imported.source_kind.is_file_export() {
                say!(
                    out,
                    "read from {} files: no request-ids; the report states that its evidence rests on the operator's export",
                    imported.source_kind
                );
            }
            let stamp_code = print_stamps(out, &imported.stamps)?;
            if imported.matched_by_upn + imported.unmatched > 0 {
                say!(
                    out,
                    "registration rows without an object id matched to users by UPN: {}; matching no user: {}",
                    imported.matched_by_upn,
                    imported.unmatched
                );
            }
            let alerted = match &notifier {
                None => 0,
                Some(n) => {
                    let snapshot = &imported.snapshot;
                    alert_code(
                        out,
                        job::after_stored(&config, n, &imported.stored, snapshot),
                    )?
                }
            };
            Ok(stamp_code.max(alerted))
        }
        Command::Report {
            out: dest,
            period,
            as_of,
            allow_broken_history,
            tenant,
            all_tenants,
            jobs,
            archive,
            json,
        } => {
            let archive = match archive {
                Some(url) => Some(ObjectUrl::parse(&url).context("--archive")?),
                None => config.archive.clone(),
            };
            let mut request = ReportRequest {
                out_dir: dest,
                tenant,
                as_of: as_of.as_deref().map(|t| parse_time(t, true)).transpose()?,
                period: period.as_deref().map(parse_period).transpose()?,
                allow_broken_history,
            };
            if all_tenants {
                let jobs = jobs.map_or(tenants::DEFAULT_REPORT_JOBS, usize::from);
                return report_all_tenants(out, &config, &request, jobs, json, archive.as_ref());
            }
            // A [[tenants]] config: the tenant's own settings, and its folder of the store.
            let config = if config.tenants.is_empty() {
                config
            } else {
                let chosen = config.select_tenant(request.tenant.as_deref())?;
                request.tenant.clone_from(&chosen.tenant.id);
                chosen
            };
            let outcome = report::run(&config, &request)?;
            let archived = match &archive {
                Some(url) => archive_package(url, &outcome.zip)?,
                None => Vec::new(),
            };
            if json {
                let mut v = report_json(&outcome)?;
                v["archived"] = archived_json(&archived);
                say!(out, "{v}");
            } else {
                print_outcome(out, &outcome)?;
                print_archived(out, &archived)?;
            }
            Ok(outcome.exit_code() as u8)
        }
        Command::Verify {
            package,
            allowed_signers,
            json,
        } => {
            let allowed = allowed_signers
                .as_deref()
                .map(read_allowed_signers)
                .transpose()?;
            let v = verify::verify_package_with(&package, allowed.as_deref())?;
            if json {
                say!(out, "{}", verify_json(&package, &v));
            } else {
                for line in &v.checked {
                    say!(out, "ok: {line}");
                }
                for line in &v.skipped {
                    say!(out, "skipped: {line}");
                }
            }
            let code = if v.failure.is_none() { 0 } else { 1 };
            if !json {
                match &v.failure {
                    None if v.skipped.is_empty() => say!(out, "VERIFIED: {}", package.display()),
                    None => say!(
                        out,
                        "VERIFIED: {} (its contents; see skipped above)",
                        package.display()
                    ),
                    Some(why) => say!(out, "FAILED: {why}"),
                }
            }
            Ok(code)
        }
        Command::Store { action } => {
            let store = Store::open(&config.store)?;
            let (StoreAction::Verify { tenant, .. } | StoreAction::List { tenant }) = &action;
            // Without --tenant, every tenant of the store (an MSP's store holds several).
            let tenants = match tenant {
                Some(_) => vec![store.pick_tenant(tenant.as_deref())?],
                None if store.tenants()?.is_empty() => vec![store.pick_tenant(None)?],
                None => store.tenants()?,
            };
            let mut code = 0;
            let mut compared = std::collections::BTreeSet::new();
            for tenant in &tenants {
                let tenant_code = match &action {
                    StoreAction::Verify { against, deep, .. } => {
                        let depth = if *deep { Depth::Deep } else { Depth::Stored };
                        store_verify(out, &config, &store, tenant, depth, against, &mut compared)?
                    }
                    StoreAction::List { .. } => store_list(out, &store, tenant, tenants.len() > 1)?,
                };
                code = code.max(tenant_code);
            }
            if let StoreAction::Verify { against, .. } = &action
                && let Some(other) = against.iter().find(|p| !compared.contains(*p))
            {
                bail!(
                    "{} is a package of a tenant this store does not hold (or was not asked to verify with --tenant): compare it with the store it was made from",
                    other.display()
                );
            }
            Ok(code)
        }
    }
}

/// A variable of the process environment, as a tenant's `client_secret_env` names it.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn needs_tenants(config: &Config, flag: &str) -> Result<()> {
    if config.tenants.is_empty() {
        bail!(
            "{flag} runs every tenant of a [[tenants]] config, and this config lists none: list the tenants in [[tenants]] tables (see the README's \"Many tenants\")"
        );
    }
    Ok(())
}

/// `collect --all-tenants`: one line per tenant, in config order, then the overall exit code.
fn collect_all_tenants(
    out: &mut Out,
    config: &Config,
    now: DateTime<Utc>,
    jobs: usize,
    notifier: Option<&Notifier>,
) -> Result<u8> {
    needs_tenants(config, "--all-tenants")?;
    let template = collect::CollectRequest {
        now,
        device_code: false,
        progress: false,
        env: AuthEnv::from_process_env(),
    };
    let runs = tenants::collect_all(config, &template, jobs, notifier, &env_var);
    for run in &runs {
        let who = format!("tenant {} ({})", run.name, run.id);
        match &run.outcome {
            Err(e) => {
                let _ = writeln!(io::stderr(), "error: {who}: {e:#}");
            }
            Ok(c) => {
                let entry = &c.collected.stored.entry;
                let figure = if c.figure.in_scope == 0 {
                    "no user in scope".to_string()
                } else {
                    format!(
                        "{} of {} registered, {} %",
                        c.figure.registered,
                        c.figure.in_scope,
                        mfa_evidence::evidence::words::percent_floor(
                            c.figure.registered,
                            c.figure.in_scope
                        )
                    )
                };
                say!(
                    out,
                    "{who}: stored snapshot {} collected at {}: {} ({figure}); sha256 {}",
                    entry.sequence,
                    secs_text(entry.collected_at),
                    c.result,
                    entry.snapshot_sha256
                );
                for w in &c.collected.warnings {
                    warn(&format!("{who}: {}", w.text));
                }
                match &c.alert {
                    None => {}
                    Some(Ok(outcome)) => {
                        for (delivered, line) in outcome.lines() {
                            if delivered {
                                say!(out, "{who}: {line}");
                            } else {
                                let _ = writeln!(io::stderr(), "{who}: {line}");
                            }
                        }
                    }
                    Some(Err(e)) => {
                        let _ = writeln!(
                            io::stderr(),
                            "error: {who}: the snapshot is stored, but the alert step failed: {e:#}"
                        );
                    }
                }
            }
        }
    }
    let code = tenants::exit_code(runs.iter().map(tenants::TenantCollect::exit_code));
    let broken = runs.iter().filter(|r| r.outcome.is_err()).count();
    say!(
        out,
        "collected {} of {}{}",
        counted((runs.len() - broken) as u64, "tenant", "tenants"),
        runs.len(),
        if broken > 0 {
            format!("; {broken} broke (see above)")
        } else {
            String::new()
        }
    );
    Ok(code)
}

/// `report --all-tenants`: a line per tenant, the portfolio, the overall exit code.
fn report_all_tenants(
    out: &mut Out,
    config: &Config,
    request: &ReportRequest,
    jobs: usize,
    json: bool,
    archive: Option<&ObjectUrl>,
) -> Result<u8> {
    needs_tenants(config, "--all-tenants")?;
    let portfolio = tenants::report_all(config, request, jobs)?;
    let mut code = tenants::exit_code(
        portfolio
            .tenants
            .iter()
            .map(tenants::TenantReport::exit_code),
    );
    // Each written package is archived; one that cannot be is an error of its tenant.
    let mut archived = Vec::new();
    for t in &portfolio.tenants {
        archived.push(match (&t.outcome, archive) {
            (Ok((outcome, _)), Some(url)) => match archive_package(url, &outcome.zip) {
                Ok(files) => Some(Ok(files)),
                Err(e) => {
                    code = 2;
                    Some(Err(e))
                }
            },
            _ => None,
        });
    }
    if json {
        let mut list = Vec::new();
        for (t, archived) in portfolio.tenants.iter().zip(&archived) {
            list.push(match &t.outcome {
                Ok((outcome, _)) => {
                    let mut v = report_json(outcome)?;
                    v["tenant_name"] = serde_json::json!(t.name);
                    match archived {
                        None => {}
                        Some(Ok(files)) => v["archived"] = archived_json(files),
                        Some(Err(e)) => v["archive_error"] = serde_json::json!(format!("{e:#}")),
                    }
                    v
                }
                Err(e) => serde_json::json!({
                    "tenant_id": t.id, "tenant_name": t.name, "error": format!("{e:#}"), "exit_code": 2,
                }),
            });
        }
        say!(
            out,
            "{}",
            serde_json::json!({
                "tenants": list,
                "portfolio": portfolio.file.display().to_string(),
                "exit_code": code,
            })
        );
        return Ok(code);
    }
    for (t, archived) in portfolio.tenants.iter().zip(&archived) {
        let who = format!("tenant {} ({})", t.name, t.id);
        match &t.outcome {
            Ok((outcome, _)) => {
                say!(out, "{who}:");
                print_outcome(out, outcome)?;
                match archived {
                    None => {}
                    Some(Ok(files)) => print_archived(out, files)?,
                    Some(Err(e)) => {
                        let _ = writeln!(io::stderr(), "error: {who}: {e:#}");
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(io::stderr(), "error: {who}: {e:#}");
            }
        }
    }
    say!(out, "portfolio: {}", portfolio.file.display());
    Ok(code)
}

/// Uploads a written package create-only; an error says the package is written all the same.
fn archive_package(url: &ObjectUrl, zip: &std::path::Path) -> Result<Vec<ArchivedFile>> {
    archive::archive(
        url,
        &StorageEnv::from_process_env(),
        &archive::package_files(zip),
    )
    .with_context(|| {
        format!(
            "the package {} is written, but archiving it to {url} failed",
            zip.display()
        )
    })
}

fn print_archived(out: &mut Out, files: &[ArchivedFile]) -> Result<()> {
    for f in files {
        match f.outcome {
            Archived::Uploaded => say!(out, "archived: {}", f.location),
            Archived::AlreadyThere => {
                say!(out, "archived: {} (already there, same bytes)", f.location)
            }
        }
    }
    Ok(())
}

fn archived_json(files: &[ArchivedFile]) -> serde_json::Value {
    files
        .iter()
        .map(|f| {
            serde_json::json!({
                "location": f.location,
                "outcome": match f.outcome {
                    Archived::Uploaded => "uploaded",
                    Archived::AlreadyThere => "already-there",
                },
            })
        })
        .collect()
}

/// The alert channels `[notify]` configures, with their secrets from the environment; none with
/// `--no-notify` or without `[notify]`.
fn notifier(config: &Config, no_notify: bool) -> Result<Option<Notifier>> {
    if no_notify {
        return Ok(None);
    }
    Notifier::new(&config.notify, &NotifyEnv::from_process_env())
}

/// Says what the alert step did: what was sent on stdout, what was not delivered on stderr.
fn print_alert(out: &mut Out, outcome: &NotifyOutcome) -> Result<()> {
    for (delivered, line) in outcome.lines() {
        if delivered {
            say!(out, "{line}");
        } else {
            let _ = writeln!(io::stderr(), "{line}");
        }
    }
    Ok(())
}

/// 1 when an alert was not delivered (the snapshot is stored all the same), else 0.
fn alert_code(out: &mut Out, outcome: Result<NotifyOutcome>) -> Result<u8> {
    let outcome = outcome.context("the snapshot is stored, but the alert step failed")?;
    print_alert(out, &outcome)?;
    if outcome.undelivered().next().is_none() {
        return Ok(0);
    }
    let _ = writeln!(
        io::stderr(),
        "error: an alert was not delivered (see above); the snapshot is stored"
    );
    Ok(1)
}

/// Says which ledger lines got a token and which wait; 1 when a TSA failed (the snapshot is
/// stored all the same).
fn print_stamps(out: &mut Out, stamps: &StampOutcome) -> Result<u8> {
    for (sequence, at) in &stamps.stamped {
        say!(
            out,
            "time-stamped ledger line {sequence}: token time {}",
            secs_text(*at)
        );
    }
    match stamps.failure_text() {
        None => Ok(0),
        Some(text) => {
            let _ = writeln!(io::stderr(), "error: {text}");
            Ok(1)
        }
    }
}

fn store_verify(
    out: &mut Out,
    config: &Config,
    store: &Store,
    tenant: &str,
    depth: Depth,
    against: &[PathBuf],
    compared: &mut std::collections::BTreeSet<PathBuf>,
) -> Result<u8> {
    let expected_key = attest::configured_public_key(config)?;
    let stamping = config
        .timestamping
        .clone()
        .map(attest::Stamping::new)
        .transpose()?;
    let report = store.verify_with(tenant, depth, expected_key, stamping.as_ref())?;
    let mut code = 0;
    for package in against {
        match attest::check_against(store, tenant, package)? {
            attest::Against::OtherTenant(_) => continue,
            attest::Against::Held(text) => say!(out, "ok: {text}"),
            attest::Against::Broken(why) => {
                say!(out, "BROKEN: against {}: {why}", package.display());
                code = 1;
            }
        }
        compared.insert(package.clone());
    }
    for note in &report.notes {
        say!(out, "note: {note}");
    }
    let verified = counted(report.verified, "snapshot", "snapshots");
    let mut proof = String::new();
    if let Some(fp) = &report.signer {
        proof.push_str(&format!(
            "; {} signed by {fp}",
            counted(report.signed, "line", "lines")
        ));
    }
    if stamping.is_some() {
        proof.push_str(&format!(
            "; {} checked",
            counted(report.tokens, "time-stamp token", "time-stamp tokens")
        ));
    }
    match report.broken {
        None => {
            let deep = if depth == Depth::Deep {
                ", each derived again from its raw pages and agreeing with what is stored"
            } else {
                ""
            };
            say!(
                out,
                "ledger of {tenant}: {verified}, chain intact{deep}{proof}"
            );
            Ok(code)
        }
        Some(why) => {
            say!(
                out,
                "BROKEN: ledger of {tenant}: {why} ({verified} verified before it)"
            );
            Ok(1)
        }
    }
}

fn store_list(out: &mut Out, store: &Store, tenant: &str, name_it: bool) -> Result<u8> {
    if name_it {
        say!(out, "tenant {tenant}");
    }
    say!(
        out,
        "{:>6}  {:<20}  {:<30}  sha256",
        "seq",
        "collected at",
        "folder"
    );
    for s in store.ledger(tenant)? {
        say!(
            out,
            "{:>6}  {:<20}  {:<30}  {}",
            s.entry.sequence,
            secs_text(s.entry.collected_at),
            s.entry.folder,
            s.entry.snapshot_sha256
        );
    }
    Ok(0)
}

/// `report --json`: one object for a CI job to branch on.
fn report_json(outcome: &report::ReportOutcome) -> Result<serde_json::Value> {
    let e = &outcome.evidence;
    let p = &e.point_in_time;
    let sha256 = mfa_evidence::digest::hash_file(&outcome.zip)
        .with_context(|| format!("cannot read {}", outcome.zip.display()))?;
    Ok(serde_json::json!({
        "result": p.result,
        "in_scope": p.in_scope,
        "registered": p.registered,
        "percent": p.percent,
        "threshold_percent": p.threshold_percent,
        "as_of": secs_text(e.as_of),
        "tenant_id": e.tenant.id,
        "period_conclusion": e.period.as_ref().map(|p| p.conclusion),
        "findings": e.findings.iter().map(|f| f.code).collect::<Vec<_>>(),
        "package": outcome.zip.display().to_string(),
        "sha256": sha256,
        "exit_code": outcome.exit_code(),
    }))
}

/// `verify --json`: the verdict and each check with its outcome.
fn verify_json(package: &std::path::Path, v: &verify::Verification) -> serde_json::Value {
    let mut checks: Vec<serde_json::Value> = v
        .checked
        .iter()
        .map(|c| serde_json::json!({"check": c, "outcome": "passed"}))
        .collect();
    checks.extend(
        v.skipped
            .iter()
            .map(|c| serde_json::json!({"check": c, "outcome": "skipped"})),
    );
    if let Some(why) = &v.failure {
        checks.push(serde_json::json!({"check": why, "outcome": "failed"}));
    }
    serde_json::json!({
        "package": package.display().to_string(),
        "verdict": if v.failure.is_none() { "verified" } else { "failed" },
        "checks": checks,
    })
}

fn print_outcome(out: &mut Out, outcome: &report::ReportOutcome) -> Result<()> {
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
    say!(
        out,
        "ID-01 {} as of {}: {} ({figure}; threshold {} %)",
        e.tenant.name,
        secs_text(e.as_of),
        p.result,
        p.threshold_percent
    );
    if let Some(period) = &e.period {
        say!(
            out,
            "period {} to {}: {} ({}, {})",
            secs_text(period.from),
            secs_text(period.to),
            period.conclusion,
            counted(period.snapshots, "snapshot", "snapshots"),
            counted(period.deviations.len() as u64, "deviation", "deviations")
        );
    }
    for f in &e.findings {
        say!(out, "finding {} ({}): {}", f.code, f.severity, f.detail);
    }
    say!(out, "package: {}", outcome.zip.display());
    Ok(())
}
