//! The floor the import and report of one snapshot are measured against: read every raw page of
//! an export folder once, SHA-256 it and parse it from the slice into structs holding the fields
//! the evaluation needs, on one thread. Nothing is written.
//!
//! ```text
//! cargo run --release --example floor -- EXPORT_DIR
//! ```

use std::path::PathBuf;
use std::time::Instant;

use serde::Deserialize;
use sha2::{Digest, Sha256};

#[derive(Deserialize)]
struct Page<T> {
    #[allow(dead_code)]
    value: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct User {
    id: String,
    user_principal_name: Option<String>,
    display_name: Option<String>,
    account_enabled: Option<bool>,
    user_type: Option<String>,
    created_date_time: Option<String>,
    on_premises_sync_enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Registration {
    id: String,
    user_principal_name: Option<String>,
    user_display_name: Option<String>,
    user_type: Option<String>,
    is_admin: Option<bool>,
    is_mfa_registered: Option<bool>,
    is_mfa_capable: Option<bool>,
    is_passwordless_capable: Option<bool>,
    last_updated_date_time: Option<String>,
    methods_registered: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: floor EXPORT_DIR"));
    let started = Instant::now();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    names.sort();
    let (mut bytes_read, mut items) = (0u64, 0usize);
    for path in names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let bytes = std::fs::read(path)?;
        bytes_read += bytes.len() as u64;
        std::hint::black_box(Sha256::digest(&bytes));
        let name = path.file_name().unwrap().to_string_lossy();
        items += if name.starts_with("users") {
            serde_json::from_slice::<Page<User>>(&bytes)?.value.len()
        } else if name.starts_with("userRegistrationDetails") {
            serde_json::from_slice::<Page<Registration>>(&bytes)?
                .value
                .len()
        } else {
            std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&bytes)?);
            1
        };
    }
    println!(
        "floor: {:.2} s for {} MB, {items} items",
        started.elapsed().as_secs_f64(),
        bytes_read / 1_000_000
    );
    Ok(())
}
