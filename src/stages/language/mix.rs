//! The stream's own language mix, learned as it flows: a prior that knows a Spanish bank's
//! mentions are mostly Spanish without anyone configuring it.
//!
//! Counts confident detections (confidence ≥ [`COUNT_ABOVE`]) with exponential forgetting
//! (half-life `half_life` posts), and blends them with the detector's static prior as
//! `P(l) = (count_l + k·base_l) / (total + k)`: until `k` confident posts are seen the static
//! prior dominates; after that the stream does, while no candidate ever drops below
//! `base_l · k / (total + k)`. Deterministic: the same posts in the same order give the same
//! prior.

use super::detector::{Context, Detection, Detector};

/// Detections at least this confident are counted.
pub const COUNT_ABOVE: f32 = 0.8;
/// Pseudo-count of the static prior.
const K: f32 = 300.0;
/// The prior is recomputed after this many observations (it moves slowly).
const REFRESH: u32 = 64;

#[derive(Debug, Clone)]
pub struct LanguageMix {
    counts: Vec<f32>,
    total: f32,
    /// Per-observation forgetting factor.
    keep: f32,
    /// Static prior as probabilities (renormalised over candidates).
    base: Vec<f32>,
    log_prior: Vec<f32>,
    since_refresh: u32,
}

impl LanguageMix {
    pub fn new(det: &Detector, half_life: f32) -> LanguageMix {
        let lp = det.log_prior();
        let m = lp.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = lp.iter().map(|p| (p - m).exp()).sum();
        let base: Vec<f32> = lp.iter().map(|p| (p - m).exp() / z).collect();
        LanguageMix {
            counts: vec![0.0; base.len()],
            total: 0.0,
            keep: 0.5f32.powf(1.0 / half_life.max(1.0)),
            log_prior: lp.to_vec(),
            base,
            since_refresh: 0,
        }
    }

    /// The current log prior per language id (`-inf` outside the candidates).
    pub fn log_prior(&self) -> &[f32] {
        &self.log_prior
    }

    /// Detects the next post of the stream with the mix as prior, then learns from it: what
    /// the stage does, one post at a time (evaluation, the command line).
    pub fn detect_next(&mut self, det: &Detector, text: &str) -> Detection {
        let ctx = Context {
            prior: Some(self.log_prior()),
            ..Default::default()
        };
        let d = det.detect(text, ctx);
        self.observe(d.id, d.confidence);
        d
    }

    /// Records one detection (language id and confidence).
    pub fn observe(&mut self, id: Option<u8>, confidence: f32) {
        let (Some(id), true) = (id, confidence >= COUNT_ABOVE) else {
            return;
        };
        for c in &mut self.counts {
            *c *= self.keep;
        }
        self.total = self.total * self.keep + 1.0;
        if let Some(c) = self.counts.get_mut(id as usize) {
            *c += 1.0;
        }
        self.since_refresh += 1;
        if self.since_refresh >= REFRESH {
            self.refresh();
        }
    }

    fn refresh(&mut self) {
        self.since_refresh = 0;
        let denom = self.total + K;
        for ((lp, c), b) in self.log_prior.iter_mut().zip(&self.counts).zip(&self.base) {
            *lp = if *b > 0.0 {
                ((c + K * b) / denom).ln()
            } else {
                f32::NEG_INFINITY
            };
        }
    }
}
