//! Collects a generated tenant (1,000,000 users by default) from the fake Graph on loopback, to
//! show that collection runs in flat memory and to measure its speed. The fake server runs in the
//! same process, so the peak RSS measured covers both.
//!
//! ```text
//! cargo build --release --example collect_bench
//! /usr/bin/time -v target/release/examples/collect_bench 1000000
//! ```

#[allow(dead_code)]
#[path = "../tests/it/fake_graph.rs"]
mod fake_graph;

use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use fake_graph::{CLIENT_ID, FakeGraph, GROUP_ID, Scenario, TENANT};
use mfa_evidence::collect::graph::{AuthEnv, CollectOptions, collect};
use mfa_evidence::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let users: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse().context("usage: collect_bench [USERS]")?,
        None => 1_000_000,
    };
    let fake = FakeGraph::start(Scenario {
        users,
        registrations: users,
        ..Scenario::default()
    })
    .await;
    let mut config = Config::default();
    config.tenant.id = Some(TENANT.into());
    config.tenant.client_id = Some(CLIENT_ID.into());
    config.tenant.login_endpoint = Some(fake.url.clone());
    config.tenant.graph_endpoint = Some(fake.url.clone());
    config.control.break_glass.group_id = Some(GROUP_ID.into());
    let env = AuthEnv {
        client_secret: Some("fake-secret".into()),
        ..AuthEnv::default()
    };
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    #[allow(clippy::disallowed_methods, reason = "a collection runs now")]
    let record = collect(&config, &env, &CollectOptions::new(Utc::now()), dir.path()).await?;
    let elapsed = started.elapsed().as_secs_f64();

    let mut bytes = 0u64;
    let mut files = 0u64;
    for entry in std::fs::read_dir(dir.path())? {
        bytes += entry?.metadata()?.len();
        files += 1;
    }
    let items: u64 = record.sources.iter().map(|s| s.items).sum();
    let requests: usize = record.sources.iter().map(|s| s.requests.len()).sum();
    for s in &record.sources {
        println!(
            "{:<28} {:>6} pages {:>9} items  {}",
            s.name, s.pages, s.items, s.status
        );
    }
    println!(
        "{items} items, {requests} requests, {files} files, {:.1} MB written in {elapsed:.1} s: {:.0} items/s",
        bytes as f64 / 1e6,
        items as f64 / elapsed
    );
    Ok(())
}
