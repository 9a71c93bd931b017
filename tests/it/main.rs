//! The one integration-test crate: each module tests one stage or the built binary.

mod archive;
mod attest;
mod azurite;
mod cli;
mod collect;
mod evaluate;
mod exports;
mod fake_graph;
mod formats;
mod honest;
mod notify;
mod objstore;
mod operator;
mod oscal;
mod package;
mod pdf;
mod period;
mod store;
mod synth;
mod tenants;
mod util;
