//! Tocsin: a stream processor for social-media mentions.
//!
//! The crate is laid out the way data flows (see README "Architecture"):
//! sources → decode/validate (dead-letter on failure) → stages → sinks, with
//! Prometheus metrics and a small HTTP server beside it.

pub mod alerting;
pub mod archive;
pub mod assemble;
pub mod backtest;
pub mod chain;
pub mod clock;
pub mod config;
pub mod demo;
pub mod detect_spikes;
pub mod language_files;
pub mod logging;
pub mod mention;
pub mod metrics;
pub mod pipeline;
pub mod prefetch;
pub mod server;
pub mod simulate;
pub mod sinks;
pub mod sources;
pub mod stages;
