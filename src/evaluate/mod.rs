//! Evaluation of ID-01: pure functions of a snapshot and the settings, no I/O, no clock.

pub mod methods;
