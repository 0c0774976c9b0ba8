//! The detector's unit tests, on simulated Poisson series: causality, quiet seasonal series,
//! surges, resolution, escalation past the cooldown, checkpoints from before it.

use super::*;
use rand::{rngs::SmallRng, SeedableRng};

fn poisson(rng: &mut SmallRng, mean: f64) -> f64 {
    crate::simulate::poisson(rng, mean) as f64
}

fn seasonal(t: i64) -> f64 {
    let hour = (t.rem_euclid(86_400)) as f64 / 3600.0;
    1.0 + 0.6 * (2.0 * std::f64::consts::PI * (hour - 15.0) / 24.0).cos()
}

/// 10 days of 5-minute Poisson counts with a daily cycle; `surge` adds to some buckets.
fn run(surge: impl Fn(usize) -> f64, seed: u64) -> Vec<Step> {
    let p = Params::new(&DetectorConfig::default(), 300, Values::Counts);
    let mut d = Detector::new(&p);
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..288 * 10)
        .map(|i| {
            let t = i as i64 * 300;
            let x = poisson(&mut rng, 20.0 * seasonal(t)) + surge(i);
            d.observe(&p, t, x)
        })
        .collect()
}

#[test]
fn quiet_seasonal_series_never_opens() {
    for seed in 0..5 {
        let steps = run(|_| 0.0, seed);
        let opened = steps
            .iter()
            .filter(|s| s.transition == Some(Transition::Opened))
            .count();
        assert_eq!(opened, 0, "seed {seed}");
    }
}

#[test]
fn surge_opens_once_early_and_resolves() {
    let start = 288 * 8;
    let steps = run(
        |i| {
            if (start..start + 36).contains(&i) {
                60.0
            } else {
                0.0
            }
        },
        7,
    );
    let opened: Vec<usize> = (0..steps.len())
        .filter(|&i| steps[i].transition == Some(Transition::Opened))
        .collect();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(opened[0] >= start && opened[0] <= start + 2, "{opened:?}");
    let s = &steps[opened[0]];
    assert!(s.observed > s.expected && s.probability < 1e-4, "{s:?}");
    assert!(s.severity(1.7) >= 3);
    let resolved = (0..steps.len())
        .find(|&i| steps[i].transition == Some(Transition::Resolved))
        .expect("resolves");
    assert!(
        resolved > start + 36 && resolved < start + 36 + 24,
        "{resolved}"
    );
}

/// A small key (about 5 mentions a minute at its peak, 1-minute buckets) resolves about
/// `resolve_after_secs` after its surge ends, at any hour: noise alone must not keep it
/// open. Returns how many buckets after the surge each seed resolved.
fn resolve_delays(start_hour: usize) -> Vec<usize> {
    let p = Params::new(&DetectorConfig::default(), 60, Values::Counts);
    let (start, len) = (1440 * 3 + start_hour * 60, 60);
    (0..8)
        .map(|seed| {
            let mut d = Detector::new(&p);
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut opened = false;
            (0..1440 * 5)
                .find_map(|i| {
                    let t = i as i64 * 60;
                    let surge = if (start..start + len).contains(&i) {
                        25.0
                    } else {
                        0.0
                    };
                    let x = poisson(&mut rng, 3.0 * seasonal(t)) + surge;
                    let tr = d.observe(&p, t, x).transition;
                    opened |= tr == Some(Transition::Opened);
                    // A resolution during the surge counts as 0, which the assertion reports.
                    (opened && tr == Some(Transition::Resolved))
                        .then(|| i.saturating_sub(start + len))
                })
                .unwrap_or(usize::MAX)
        })
        .collect()
}

#[test]
fn small_keys_resolve_an_hour_after_the_surge_at_busy_and_quiet_hours() {
    for hour in [15, 3] {
        let mut delays = resolve_delays(hour);
        eprintln!("surge at {hour}:00, resolved after {delays:?} buckets");
        delays.sort();
        // Never during the surge; usually the hour after it, and never hours later.
        assert!(delays[0] >= 60 && delays[7] <= 150, "{delays:?}");
        assert!(delays[3] <= 75, "median of {delays:?}");
    }
}

/// Within the cooldown, a second surge like the first stays quiet, and one far bigger than
/// the first opens a new incident.
#[test]
fn only_a_far_bigger_surge_opens_within_the_cooldown() {
    let start = 288 * 8;
    let openings = |second: f64| {
        let steps = run(
            |i| {
                if (start..start + 12).contains(&i) {
                    60.0
                } else if (start + 72..start + 84).contains(&i) {
                    second
                } else {
                    0.0
                }
            },
            11,
        );
        let opened: Vec<usize> = (0..steps.len())
            .filter(|&i| steps[i].transition == Some(Transition::Opened))
            .collect();
        let resolved =
            (start..start + 72).any(|i| steps[i].transition == Some(Transition::Resolved));
        (opened, resolved)
    };
    let (same, resolved) = openings(60.0);
    assert!(
        resolved,
        "the first incident resolves before the second surge"
    );
    assert_eq!(same.len(), 1, "{same:?}");
    let (bigger, _) = openings(600.0);
    assert_eq!(bigger.len(), 2, "{bigger:?}");
    assert!(
        bigger[1] >= start + 72 && bigger[1] <= start + 74,
        "{bigger:?}"
    );
}

/// A checkpoint saved before escalations existed (no `opened_score`) still restores, with
/// no escalation until the next opening.
#[test]
fn detectors_saved_without_an_opening_score_restore() {
    let p = Params::new(&DetectorConfig::default(), 300, Values::Counts);
    let mut d = Detector::new(&p);
    d.opened_score = 3.5;
    let mut saved = Vec::new();
    ciborium::into_writer(&d, &mut saved).unwrap();
    let mut old: ciborium::Value = ciborium::from_reader(&saved[..]).unwrap();
    let fields = old.as_map_mut().expect("a detector is saved as a map");
    let before = fields.len();
    fields.retain(|(k, _)| k.as_text() != Some("opened_score"));
    assert_eq!(fields.len(), before - 1);
    let mut old_bytes = Vec::new();
    ciborium::into_writer(&old, &mut old_bytes).unwrap();
    let restored: Detector = ciborium::from_reader(&old_bytes[..]).unwrap();
    assert_eq!(restored.opened_score, 0.0);
    assert_eq!(restored.cooldown_until, d.cooldown_until);
}

#[test]
fn is_causal_future_values_do_not_change_past_steps() {
    let a = run(|_| 0.0, 3);
    let b = run(|i| if i > 2000 { 500.0 } else { 0.0 }, 3);
    assert_eq!(a[..2001], b[..2001]);
}

#[test]
fn tail_probability_is_accurate() {
    assert!((upper_tail(0.0) - 0.5).abs() < 1e-6);
    assert!((upper_tail(1.959_964) - 0.025).abs() < 1e-5);
    assert!((upper_tail(6.0) / 9.865_876e-10 - 1.0).abs() < 0.01);
}

#[test]
fn config_validation_names_fields() {
    let cfg = DetectorConfig {
        threshold: 0.5,
        resolve_ratio: 0.8,
        scales: vec![],
        ..DetectorConfig::default()
    };
    let mut errs = Vec::new();
    cfg.validate("stages.spikes.detector", &mut |p, m| {
        errs.push(format!("{p}: {m}"))
    });
    assert!(errs
        .iter()
        .any(|e| e.starts_with("stages.spikes.detector.scales")));
    assert!(errs
        .iter()
        .any(|e| e.starts_with("stages.spikes.detector.resolve_ratio")));
}
