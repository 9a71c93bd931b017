//! Sources of snapshots: live Microsoft Graph, offline export folders, the sample tenant.

pub mod graph;
pub mod import;
pub mod wire;
