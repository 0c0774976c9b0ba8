//! Inputs shared by the benches.

use tocsin::mention::{decode, Mention};
use tocsin::simulate::{SimConfig, Simulator};

/// `n` decoded simulated mentions (2,000 per simulated minute, no malformed records).
pub fn mentions(n: usize, minutes: u64) -> Vec<Mention> {
    let sim = Simulator::new(SimConfig {
        per_minute: 2000.0,
        minutes,
        malformed_rate: 0.0,
        ..SimConfig::default()
    });
    let limits = tocsin::demo::default_config()
        .unwrap()
        .limits
        .decode_limits();
    sim.filter_map(|i| decode(i.record, &limits, i.truth.created_at_ms).ok())
        .take(n)
        .collect()
}
