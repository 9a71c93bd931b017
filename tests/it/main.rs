//! The one integration-test crate: each module tests one stage or the built binary.

mod pdf;
