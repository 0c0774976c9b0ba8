//! The streaming spike detector for one series: one call per closed bucket, decisions from the
//! past only (causal).
//!
//! Model, per series:
//! - **Baseline.** `expected = level × hour_of_day_factor`. The level is an exponentially
//!   weighted mean of de-seasonalised counts (time constant `level_window_secs`, so it follows
//!   slow growth); the 24 hour-of-day factors learn multiplicatively, each remembering about
//!   `seasonal_window_days` of its hour whatever the bucket size. (A per-bucket rate of 0.02
//!   moved an hour's factor 70 % of the way to a one-hour surge at one-minute buckets, 21 % at
//!   five-minute ones, and, through the factors' normalisation, lowered every other hour's:
//!   small keys then sat near the resolve ratio for hours after the surge.) Both learn from values
//!   clipped at `clip` spreads above the expectation, so a surge does not become the new normal.
//! - **Test, at several time scales.** For each scale of `k` buckets the observed and expected
//!   sums over the last `k` buckets are compared on the square-root scale (Anscombe: it makes
//!   Poisson noise about constant), divided by a robust spread of that difference (an
//!   exponentially weighted mean absolute deviation, clipped the same way). That gives `z_k`:
//!   one bucket catches a sudden burst, twelve catch a slower swell.
//! - **Calibration by the series' own extremes.** Real mention streams have heavy tails (bots,
//!   a celebrity reply, a daily news slot), so a fixed z threshold alerts every day on busy
//!   series and never on quiet ones. Each scale therefore keeps the maximum of `z_k` of each of
//!   the last `calibration_days` days; the score is `z_k / median(those daily maxima)` and the
//!   series alerts when the score passes `threshold` (1.7: "70 % beyond a normal day's worst
//!   moment"). The decision needs at least `min_calibration_days` of history.
//! - **Guards.** `z ≥ min_z` and, for counts, at least `min_excess` mentions above the
//!   expectation in the bucket: tiny streams never page anyone.
//! - **Lifecycle.** An alert opens an incident; it resolves after `resolve_after_secs` in which
//!   the longest scale's score stayed below `resolve_ratio` and no scale alerted again; a new
//!   incident cannot open within `cooldown_secs` of the last opening unless its score reaches
//!   `escalation_factor` × the score that opened the last one. A surge gives one incident, not
//!   a storm, and a small blip in the morning does not silence the outage of the afternoon.
//!
//! Why this design (measured on NAB realTweets with `tocsin detect-spikes`, README "Spikes"):
//! a plain EWMA z-score with the same baseline scores 58–68; calibrating each scale by its own
//! daily maxima lifts it to ~82 with one parameter set.

use serde::{Deserialize, Serialize};

/// Detector parameters. Durations are in seconds and converted to buckets of the series.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// Alert when a scale's z exceeds this multiple of its typical daily maximum.
    pub threshold: f64,
    /// And when that z is at least this high.
    pub min_z: f64,
    /// And, for counts, when the bucket has at least this many more mentions than expected.
    pub min_excess: f64,
    /// Time scales of the test, in buckets.
    pub scales: Vec<usize>,
    pub level_window_secs: u64,
    pub spread_window_secs: u64,
    /// Memory of an hour-of-day factor, in days of that hour (an exponential time constant,
    /// whatever the bucket size).
    pub seasonal_window_days: f64,
    pub calibration_days: usize,
    pub min_calibration_days: usize,
    /// Updates of the baseline are clipped at this many spreads above expectation.
    pub clip: f64,
    pub resolve_ratio: f64,
    pub resolve_after_secs: u64,
    pub cooldown_secs: u64,
    /// Within the cooldown, a new incident still opens when the score reaches this multiple of
    /// the score that opened the last one: a far bigger surge is news, not a repeat.
    pub escalation_factor: f64,
    /// Also alert on drops (for non-count series such as latency or temperature).
    pub two_sided: bool,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            threshold: 1.7,
            min_z: 3.0,
            min_excess: 3.0,
            scales: vec![1, 3, 12],
            level_window_secs: 86_400,
            spread_window_secs: 3 * 86_400,
            seasonal_window_days: 4.0,
            calibration_days: 7,
            min_calibration_days: 2,
            clip: 4.0,
            resolve_ratio: 0.8,
            resolve_after_secs: 3_600,
            cooldown_secs: 86_400,
            escalation_factor: 2.5,
            two_sided: false,
        }
    }
}

impl DetectorConfig {
    pub fn validate(&self, path: &str, bad: &mut dyn FnMut(&str, &str)) {
        let mut check = |ok: bool, field: &str, msg: &str| {
            if !ok {
                bad(&format!("{path}.{field}"), msg);
            }
        };
        check(
            self.threshold.is_finite() && self.threshold > 0.0,
            "threshold",
            "must be a positive number (1.7 by default)",
        );
        check(self.min_z >= 0.0, "min_z", "must be ≥ 0");
        check(self.min_excess >= 0.0, "min_excess", "must be ≥ 0");
        check(
            (1..=8).contains(&self.scales.len())
                && self.scales.iter().all(|&k| (1..=MAX_SCALE).contains(&k)),
            "scales",
            "needs 1 to 8 values, each between 1 and 64 buckets",
        );
        check(
            self.seasonal_window_days >= 1.0 && self.seasonal_window_days <= 365.0,
            "seasonal_window_days",
            "must be 1 to 365 days (4 by default)",
        );
        check(
            (1..=MAX_DAYS).contains(&self.calibration_days),
            "calibration_days",
            "must be 1 to 28",
        );
        check(
            self.min_calibration_days >= 1 && self.min_calibration_days <= self.calibration_days,
            "min_calibration_days",
            "must be between 1 and calibration_days",
        );
        check(self.clip > 0.0, "clip", "must be positive");
        check(
            self.escalation_factor >= 1.0,
            "escalation_factor",
            "must be ≥ 1 (2.5 by default; a large value lets nothing through the cooldown)",
        );
        check(
            self.resolve_ratio > 0.0 && self.resolve_ratio < self.threshold,
            "resolve_ratio",
            "must be positive and below threshold (hysteresis)",
        );
        check(
            self.level_window_secs > 0,
            "level_window_secs",
            "must be positive",
        );
        check(
            self.spread_window_secs > 0,
            "spread_window_secs",
            "must be positive",
        );
    }
}

const MAX_SCALE: usize = 64;
const MAX_DAYS: usize = 28;
const MAD_TO_SD: f64 = 1.2533;
const DAY_SECS: u64 = 86_400;

/// What kind of values a series holds. Counts get the square-root transform and the
/// `min_excess` guard; real values (latencies, temperatures) are compared as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    Counts,
    Real,
}

/// Parameters in buckets, shared by every series of a stage.
#[derive(Debug, Clone)]
pub struct Params {
    cfg: DetectorConfig,
    values: Values,
    max_scale: usize,
    a_level: f64,
    a_spread: f64,
    a_seasonal: f64,
    day_buckets: u64,
    resolve_buckets: u32,
    cooldown_buckets: u64,
}

impl Params {
    pub fn new(cfg: &DetectorConfig, bucket_secs: u64, values: Values) -> Self {
        let b = |secs: u64| (secs as f64 / bucket_secs.max(1) as f64).round().max(1.0);
        Params {
            cfg: cfg.clone(),
            values,
            max_scale: cfg.scales.iter().copied().max().unwrap_or(1),
            a_level: 1.0 / b(cfg.level_window_secs),
            a_spread: 1.0 / b(cfg.spread_window_secs),
            a_seasonal: 1.0 / (cfg.seasonal_window_days * b(3_600)),
            day_buckets: b(DAY_SECS) as u64,
            resolve_buckets: b(cfg.resolve_after_secs) as u32,
            cooldown_buckets: b(cfg.cooldown_secs) as u64,
        }
    }
}

/// An incident boundary decided at this bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened,
    Resolved,
}

/// The detector's view of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// Best calibrated score over the scales (alert at `threshold`); 0 while calibrating.
    pub score: f64,
    /// The z of the scale that gave `score`.
    pub z: f64,
    /// That scale, in buckets.
    pub scale: usize,
    /// Observed and expected sums over that scale.
    pub observed: f64,
    pub expected: f64,
    /// Expected value of this single bucket.
    pub expected_bucket: f64,
    /// One-sided normal tail probability of `z`.
    pub probability: f64,
    pub transition: Option<Transition>,
}

impl Step {
    /// Severity 1–10: how far past the threshold, and how many extra mentions.
    pub fn severity(&self, threshold: f64) -> u8 {
        let excess = (self.observed - self.expected).max(0.0);
        let s =
            3.0 + 4.0 * (self.score / threshold).max(1e-9).log2() + 1.5 * (1.0 + excess).log10();
        s.round().clamp(1.0, 10.0) as u8
    }
}

/// Per-scale state: the robust spread and the daily maxima of z.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ScaleState {
    spread: f64, // NaN until the first value
    day_max: f32,
    past_days: [f32; MAX_DAYS],
    n_days: u8,
    next_day: u8,
}

/// State of one series (≈ 0.5 KiB with three scales). Serialisable: the spike stage
/// checkpoints it so a restart does not recalibrate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Detector {
    level: f64, // NaN until the first value
    hod: [f32; 24],
    ring: Vec<(f32, f32)>, // last `max_scale` (observed, expected)
    ring_pos: usize,
    scales: Vec<ScaleState>,
    buckets: u64,
    open: bool,
    quiet: u32,
    cooldown_until: u64,
    /// The score that opened the last incident; 0 before any (and in checkpoints from before
    /// escalations: none passes the cooldown until the next opening).
    #[serde(default)]
    opened_score: f32,
}

impl Detector {
    pub fn new(p: &Params) -> Self {
        Detector {
            level: f64::NAN,
            hod: [1.0; 24],
            ring: Vec::with_capacity(p.max_scale),
            ring_pos: 0,
            scales: p
                .cfg
                .scales
                .iter()
                .map(|_| ScaleState {
                    spread: f64::NAN,
                    day_max: 0.0,
                    past_days: [0.0; MAX_DAYS],
                    n_days: 0,
                    next_day: 0,
                })
                .collect(),
            buckets: 0,
            open: false,
            quiet: 0,
            cooldown_until: 0,
            opened_score: 0.0,
        }
    }

    /// Approximate heap + inline size, for the state-size metric.
    pub fn size_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.ring.capacity() * 8
            + self.scales.capacity() * std::mem::size_of::<ScaleState>()
    }

    /// Feeds the value of the bucket starting at `bucket_start_secs` (Unix seconds, UTC) and
    /// returns the decision for it. Buckets must come in order, one per bucket, zeros included.
    pub fn observe(&mut self, p: &Params, bucket_start_secs: i64, x: f64) -> Step {
        let cfg = &p.cfg;
        let counts = p.values == Values::Counts;
        let hour = (bucket_start_secs.rem_euclid(DAY_SECS as i64) / 3600) as usize;
        if self.level.is_nan() {
            self.level = x;
        }
        let lam = if counts {
            (self.level * self.hod[hour] as f64).max(0.1)
        } else {
            self.level
        };
        if self.ring.len() < p.max_scale {
            self.ring.push((x as f32, lam as f32));
            self.ring_pos = self.ring.len() % p.max_scale;
        } else {
            self.ring[self.ring_pos] = (x as f32, lam as f32);
            self.ring_pos = (self.ring_pos + 1) % p.max_scale;
        }
        let calibrated =
            self.scales.first().map(|s| s.n_days as usize).unwrap_or(0) >= cfg.min_calibration_days;
        let mut best = Step {
            score: 0.0,
            z: 0.0,
            scale: cfg.scales[0],
            observed: x,
            expected: lam,
            expected_bucket: lam,
            probability: 0.5,
            transition: None,
        };
        let sd_min = if counts { 0.5 } else { 1e-9 };
        let n = self.ring.len();
        let mut sustained = 0.0f64;
        for (s, &k) in self.scales.iter_mut().zip(&cfg.scales) {
            if n < k {
                continue;
            }
            let (mut sx, mut sl) = (0.0f64, 0.0f64);
            for j in 0..k {
                let (o, e) = self.ring[(self.ring_pos + n - 1 - j) % n];
                sx += o as f64;
                sl += e as f64;
            }
            let mut d = if counts {
                (sx + 0.375).sqrt() - (sl + 0.375).sqrt()
            } else {
                (sx - sl) / k as f64
            };
            if cfg.two_sided {
                d = d.abs();
            }
            let z = if s.spread.is_nan() {
                0.0
            } else {
                d / (s.spread * MAD_TO_SD).max(sd_min)
            };
            if calibrated {
                let typical = median(&s.past_days[..s.n_days as usize]).max(2.0);
                let score = z / typical;
                if k == p.max_scale {
                    sustained = score;
                }
                if score > best.score {
                    best.score = score;
                    best.z = z;
                    best.scale = k;
                    best.observed = sx;
                    best.expected = sl;
                }
            }
            s.day_max = s.day_max.max(z as f32);
            let ad = d.abs();
            // A running mean until the window fills, then exponential forgetting: the first
            // values must not set the spread for days.
            let a = p.a_spread.max(1.0 / (self.buckets + 1) as f64);
            s.spread = if s.spread.is_nan() {
                ad
            } else {
                s.spread + a * (ad.min(s.spread * cfg.clip) - s.spread)
            };
        }
        self.buckets += 1;
        if self.buckets.is_multiple_of(p.day_buckets) {
            for s in &mut self.scales {
                s.past_days[s.next_day as usize] = s.day_max;
                s.next_day = ((s.next_day as usize + 1) % cfg.calibration_days) as u8;
                s.n_days = (s.n_days as usize + 1).min(cfg.calibration_days) as u8;
                s.day_max = 0.0;
            }
        }
        best.probability = upper_tail(best.z);

        // Lifecycle.
        let alerting = best.score >= cfg.threshold
            && best.z >= cfg.min_z
            && (!counts || x - lam >= cfg.min_excess);
        if self.open {
            // Open while the longest scale stays elevated or any scale alerts again; not while
            // any scale passes `resolve_ratio`. An ordinary hour's worst one-bucket moment is
            // about 0.75 of an ordinary day's (the maximum of 60 normal draws against that of
            // 1,440), so an hour with none above 0.8 could take hours to come on small keys.
            if sustained < cfg.resolve_ratio && !alerting {
                self.quiet += 1;
            } else {
                self.quiet = 0;
            }
            if self.quiet >= p.resolve_buckets {
                self.open = false;
                best.transition = Some(Transition::Resolved);
            }
        } else if alerting
            && (self.buckets > self.cooldown_until
                || (self.opened_score > 0.0
                    && best.score >= cfg.escalation_factor * self.opened_score as f64))
        {
            self.open = true;
            self.quiet = 0;
            self.cooldown_until = self.buckets + p.cooldown_buckets;
            self.opened_score = best.score as f32;
            best.transition = Some(Transition::Opened);
        }

        // Learn from a clipped value so a surge does not become the new normal.
        let spread = self
            .scales
            .first()
            .map(|s| if s.spread.is_nan() { 1.0 } else { s.spread })
            .unwrap_or(1.0)
            * MAD_TO_SD;
        if counts {
            let cap = ((lam + 0.375).sqrt() + cfg.clip * spread.max(0.5)).powi(2);
            let xc = x.min(cap);
            let f = self.hod[hour] as f64;
            let a = p.a_level.max(1.0 / self.buckets as f64);
            self.level += a * (xc / f.max(1e-6) - self.level);
            if self.level > 0.0 {
                self.hod[hour] += (p.a_seasonal * (xc / self.level - f)) as f32;
                let mean = self.hod.iter().sum::<f32>() / 24.0;
                if mean > 0.0 {
                    self.hod.iter_mut().for_each(|h| *h /= mean);
                }
            }
        } else {
            let xc = x.clamp(lam - cfg.clip * spread, lam + cfg.clip * spread);
            self.level += p.a_level.max(1.0 / self.buckets as f64) * (xc - self.level);
        }
        best
    }
}

fn median(v: &[f32]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = [0f32; MAX_DAYS];
    let s = &mut s[..v.len()];
    s.copy_from_slice(v);
    s.sort_unstable_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m] as f64
    } else {
        (s[m - 1] as f64 + s[m] as f64) / 2.0
    }
}

/// P(Z ≥ z) for a standard normal: Abramowitz–Stegun 7.1.26 below 5, the asymptotic series
/// above (where 7.1.26's absolute error would swamp the answer).
pub fn upper_tail(z: f64) -> f64 {
    if z < 0.0 {
        return 1.0 - upper_tail(-z);
    }
    if z >= 5.0 {
        let phi = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let z2 = z * z;
        return phi / z * (1.0 - 1.0 / z2 + 3.0 / (z2 * z2));
    }
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    0.5 * poly * (-x * x).exp()
}

#[cfg(test)]
mod tests;
