//! Where snapshots come from: live Microsoft Graph (`graph`), which writes the import layout, and
//! `import`, the one parser of that layout (offline exports, live collections, stored raw/
//! folders). Graph's wire types (`wire`) stay inside this module.

pub mod graph;
pub mod import;
mod wire;
