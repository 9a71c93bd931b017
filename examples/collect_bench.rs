//! Collects a generated tenant (1,000,000 users by default) from a Graph on loopback, to show
//! that collection runs in flat memory and to measure its speed.
//!
//! The tenant is written by the generator (`demo::synth::write_tenant`) into a temporary folder
//! first (about 800 MB for a million users, and as much again for the collected copy). A server
//! in this process answers from that folder through `demo::synth::serve::FolderGraph`, beside a
//! token endpoint that grants every request; the peak RSS measured covers both.
//!
//! ```text
//! cargo build --release --example collect_bench
//! /usr/bin/time -v target/release/examples/collect_bench 1000000
//! ```
//!
//! With `--store <folder or az://... / s3://... URL>` it runs the whole `collect` job instead:
//! the collection into the store's working folder, the import and the store's append (on
//! object storage with the storage variables of the environment), and prints that job's time.
//! `bench/objstore.sh` runs it against a local folder and against Azurite side by side.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use mfa_evidence::collect::graph::{AuthEnv, CollectOptions, collect};
use mfa_evidence::config::{Config, ObjectUrl, StoreLocation};
use mfa_evidence::demo::synth::serve::FolderGraph;
use mfa_evidence::demo::synth::{TenantSpec, write_tenant};

const CLIENT_ID: &str = "66666666-7777-8888-9999-000000000000";

struct Server {
    url: String,
    folder: FolderGraph,
}

/// Any client credentials get a token with the permissions the collector asks for.
async fn token() -> Response {
    let claims = r#"{"roles":["AuditLog.Read.All","GroupMember.Read.All","Policy.Read.All","User.Read.All"]}"#;
    let token = format!("e30.{}.bench", URL_SAFE_NO_PAD.encode(claims));
    let body =
        serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": token});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn graph(State(server): State<Arc<Server>>, uri: Uri) -> Response {
    let query = uri.query().unwrap_or("");
    match server.folder.answer(&server.url, uri.path(), query) {
        Ok(Some(body)) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such page").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let usage = "usage: collect_bench [USERS] [--store FOLDER|az://...|s3://...]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let users: usize = match args.first().filter(|a| !a.starts_with("--")) {
        Some(n) => n.parse().context(usage)?,
        None => 1_000_000,
    };
    let store = match args.iter().position(|a| a == "--store") {
        Some(i) => {
            let place = args.get(i + 1).context(usage)?;
            Some(if place.contains("://") {
                StoreLocation::Url(ObjectUrl::parse(place)?)
            } else {
                StoreLocation::Path(place.into())
            })
        }
        None => None,
    };
    let tenant = tempfile::tempdir()?;
    let generated = Instant::now();
    let collected_at = Utc.with_ymd_and_hms(2026, 10, 31, 6, 0, 0).unwrap();
    let summary = write_tenant(&TenantSpec::new(users, 1, collected_at), tenant.path())?;
    eprintln!(
        "generated {users} users in {:.1} s",
        generated.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = Arc::new(Server {
        url: url.clone(),
        folder: FolderGraph::new(tenant.path()),
    });
    let app = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .fallback(graph)
        .with_state(server);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut config = Config::default();
    config.tenant.id = Some(summary.tenant_id.clone());
    config.tenant.client_id = Some(CLIENT_ID.into());
    config.tenant.login_endpoint = Some(url.clone());
    config.tenant.graph_endpoint = Some(url);
    config.control.break_glass.group_id = Some(summary.break_glass_group_id.clone());
    let env = AuthEnv {
        client_secret: Some("bench-secret".into()),
        ..AuthEnv::default()
    };
    if let Some(store) = store {
        config.store = store;
        #[allow(clippy::disallowed_methods, reason = "a collection runs now")]
        let now = Utc::now();
        let request = mfa_evidence::collect::CollectRequest {
            now,
            device_code: false,
            progress: false,
            env,
        };
        // The job builds its own runtimes: run it off this one.
        let started = Instant::now();
        let collected =
            tokio::task::spawn_blocking(move || mfa_evidence::collect::run(&config, &request))
                .await??;
        println!(
            "collect + store into {}: snapshot {} ({}) in {:.2} s",
            collected.stored.entry.tenant_id,
            collected.stored.entry.sequence,
            collected.stored.entry.snapshot_sha256,
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
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
