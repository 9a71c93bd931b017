//! mfa-evidence: SOC 2 evidence for control ID-01 (user MFA registration) from Microsoft Entra ID.
//!
//! The stages, one module each, data flowing one way (see ARCHITECTURE.md):
//! `collect` (live Graph, offline exports) -> `snapshot` -> `store` (ledger; `attest` signs and
//! time-stamps its lines) -> `evaluate` ->
//! `evidence` -> `render` (CSV, PDF) -> `package` (zip + manifest) -> `verify`; `report` joins
//! them, and `tenants` runs `collect` and `report` for each tenant of a `[[tenants]]` config. Below them all: `control` (what ID-01 is), `source` (the table of the Graph sources),
//! `time`, `digest`, `files`, `cores` and `vocabulary`; `steps` tells the operator what a job is doing. `demo` (with its generator `demo::synth`) sits
//! at the edge and feeds the sample tenant in through the same import.

pub mod archive;
pub mod attest;
pub mod collect;
pub mod config;
pub mod control;
pub mod cores;
pub mod demo;
pub mod digest;
pub mod evaluate;
pub mod evidence;
pub mod files;
pub mod loopback;
pub mod notify;
pub mod objects;
mod order;
pub mod package;
pub mod render;
pub mod report;
pub mod snapshot;
pub mod source;
pub mod steps;
pub mod store;
pub mod tenants;
pub mod time;
pub mod verify;
pub mod vocabulary;

/// `mfa-evidence <version>`: recorded in snapshots, the ledger and packages.
pub fn tool_id() -> String {
    format!("mfa-evidence {}", env!("CARGO_PKG_VERSION"))
}
