//! The one integration-test crate: each module tests one stage or the built binary.

mod collect;
mod fake_graph;
mod pdf;
mod period;
mod synth;
