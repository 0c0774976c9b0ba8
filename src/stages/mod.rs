//! The processing stages, in pipeline order. Each stage lives in its own module and implements
//! [`crate::pipeline::Stage`] (stateful) or [`crate::pipeline::MapStage`] (stateless, run
//! batch-parallel).

pub mod brand_router;
pub mod dedup;
pub mod language;
pub mod scoring;
pub mod spikes;

use crate::clock::SharedClock;
use crate::config::PipelineConfig;
use crate::metrics::Metrics;
use crate::pipeline::{Parallel, Stage};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Scoring(#[from] scoring::ScoringError),
    #[error(transparent)]
    Templates(#[from] crate::alerting::broadcast::TemplateError),
}

/// The configured stages, in order: dedup, language, scoring, spikes.
///
/// Fails when a file a stage needs (lexicons, model, dictionary, broadcast templates) cannot be
/// loaded; `validate` reports the same problems with their field paths.
pub fn build(
    cfg: &PipelineConfig,
    clock: SharedClock,
    metrics: Arc<Metrics>,
) -> Result<Vec<Box<dyn Stage>>, BuildError> {
    let mut stages: Vec<Box<dyn Stage>> = Vec::new();
    if cfg.stages.dedup.enabled {
        stages.push(Box::new(dedup::DedupStage::new(
            &cfg.stages.dedup,
            &cfg.brands,
            metrics.clone(),
        )));
    }
    if cfg.stages.language.enabled {
        stages.push(Box::new(language::LanguageStage::new(
            &cfg.stages.language,
            &cfg.brands,
        )));
    }
    if cfg.stages.scoring.enabled {
        let scorer = scoring::Scorer::new(&cfg.stages.scoring, &cfg.brands)?;
        stages.push(Box::new(Parallel(scoring::ScoringStage::new(
            scorer,
            metrics.clone(),
        ))));
    }
    if cfg.stages.spikes.enabled {
        let b = &cfg.alerting.broadcast;
        let drafter = if b.enabled {
            Some(crate::alerting::broadcast::Drafter::new(b)?)
        } else {
            None
        };
        let mut stage =
            spikes::SpikeStage::new(&cfg.stages.spikes, &cfg.brands, drafter, clock, metrics);
        stage.restore_configured();
        stages.push(Box::new(stage));
    }
    Ok(stages)
}
