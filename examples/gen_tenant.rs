//! Writes a synthetic tenant in the import layout, for benchmarks and manual tests, and
//! regenerates the committed data the tests compare with what the code writes now.
//!
//! ```text
//! cargo run --release --example gen_tenant -- USERS OUT_DIR [SEED]   # a tenant of USERS users
//! cargo run --release --example gen_tenant -- samples [DIR]          # regenerate samples/
//! cargo run --release --example gen_tenant -- history SAMPLES OUT    # the demo history
//! cargo run --release --example gen_tenant -- fixtures [DIR]         # regenerate tests/fixtures/evidence-demo*.json
//! ```
//! A tenant's matching configuration is written as `OUT_DIR/mfa-evidence.toml`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use mfa_evidence::demo::{self, synth};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_tenant: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    match args.first().map(String::as_str) {
        Some("samples") => {
            let dir = PathBuf::from(args.get(1).map_or("samples", String::as_str));
            let s = synth::write_samples(&dir)?;
            print_summary(&s);
        }
        Some("fixtures") => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let dir = args
                .get(1)
                .map_or(root.join("tests/fixtures"), PathBuf::from);
            for (name, bytes) in demo::fixtures(&root.join("samples"))? {
                std::fs::write(dir.join(name), bytes)?;
                println!("wrote {}", dir.join(name).display());
            }
        }
        Some("history") if args.len() == 3 => {
            let days =
                synth::write_demo_history(&PathBuf::from(&args[1]), &PathBuf::from(&args[2]))?;
            println!(
                "{} collections, {} .. {}",
                days.len(),
                days[0].collected_at,
                days[days.len() - 1].collected_at
            );
        }
        Some(users) if args.len() == 2 || args.len() == 3 => {
            let users: usize = users
                .parse()
                .map_err(|_| anyhow::anyhow!("USERS must be a number"))?;
            let dir = PathBuf::from(&args[1]);
            let seed: u64 = match args.get(2) {
                Some(s) => s
                    .parse()
                    .map_err(|_| anyhow::anyhow!("SEED must be a number"))?,
                None => 1,
            };
            let collected_at = Utc.with_ymd_and_hms(2026, 10, 31, 6, 0, 0).unwrap();
            let spec = synth::TenantSpec::new(users, seed, collected_at);
            let s = synth::write_tenant(&spec, &dir)?;
            std::fs::write(dir.join("mfa-evidence.toml"), synth::config_toml(&s))?;
            print_summary(&s);
        }
        _ => anyhow::bail!(
            "usage: gen_tenant USERS OUT_DIR [SEED] | samples [DIR] | history SAMPLES OUT | fixtures [DIR]"
        ),
    }
    eprintln!("took {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn print_summary(s: &synth::TenantSummary) {
    println!(
        "{} ({}): {} users, {} guests, {} disabled, {} break-glass, {} exceptions; {} in scope, {} registered ({} %), {} missing from the report; {} registration rows, {} audit events",
        s.tenant_name,
        s.tenant_id,
        s.users,
        s.guests,
        s.disabled,
        s.break_glass.len(),
        s.exceptions.len(),
        s.in_scope,
        s.registered,
        s.percent(),
        s.missing_from_report,
        s.registration_rows,
        s.audit_events
    );
}
