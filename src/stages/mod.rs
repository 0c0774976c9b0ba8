//! The processing stages, in pipeline order. Each stage lives in its own module and implements
//! [`crate::pipeline::Stage`] (stateful) or [`crate::pipeline::MapStage`] (stateless, run
//! batch-parallel).

use crate::clock::SharedClock;
use crate::config::PipelineConfig;
use crate::metrics::Metrics;
use crate::pipeline::Stage;
use std::sync::Arc;

/// The configured stages, in order.
pub fn build(
    _cfg: &PipelineConfig,
    _clock: SharedClock,
    _metrics: Arc<Metrics>,
) -> Vec<Box<dyn Stage>> {
    Vec::new()
}
