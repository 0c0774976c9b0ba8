//! The end-to-end and quality tests, as modules of ONE test binary.
//!
//! Every integration-test binary links the whole crate (DataFusion, rdkafka, reqwest, the
//! language model): about 220 MB and a long link each. One binary instead of thirteen keeps the
//! clean-checkout build within CI's disk and time. Run one area with a filter, e.g.
//! `cargo test --test e2e kafka_pipeline::` or `cargo test --test e2e archive::`.

mod common;

mod alerting;
mod archive;
mod cli;
mod compose;
mod config_golden;
mod dashboards;
mod dedup_quality;
mod kafka_pipeline;
mod language;
mod prometheus_rules;
mod prometheus_stack;
mod scoring;
mod spikes;
