//! mfa-evidence: SOC 2 evidence for control ID-01 (user MFA registration) from Microsoft Entra ID.
//!
//! The stages, one module each, data flowing one way (see ARCHITECTURE.md):
//! `collect` (Graph, offline exports, the sample tenant) -> `snapshot` -> `store` (ledger) ->
//! `evaluate` -> `evidence` -> `render` (CSV, PDF) -> `package` (zip + manifest) -> `verify`.

pub mod collect;
pub mod config;
pub mod demo;
pub mod evaluate;
pub mod evidence;
pub mod findings;
pub mod package;
pub mod render;
pub mod report;
pub mod snapshot;
pub mod store;
pub mod verify;

/// `mfa-evidence <version>`: recorded in snapshots, the ledger and packages.
pub fn tool_id() -> String {
    format!("mfa-evidence {}", env!("CARGO_PKG_VERSION"))
}
