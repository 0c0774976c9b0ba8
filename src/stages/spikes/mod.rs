//! Spike stage: counts mentions per key in event-time buckets, runs the [`detector`] on each
//! key, and turns its decisions into incidents (`opened` → `updated` → `resolved` JSON events).
//!
//! - **Keys**: the brand, and brand × each configured dimension (`platform`, `lang`, `intent`,
//!   and `theme`: the brand's most frequent terms, see [`themes`]). Keys are capped by
//!   `max_keys`; updates past the cap are counted in a metric, never silently lost.
//! - **What is counted**: unique authors of the mentions that are not exact duplicates or
//!   reposts. Near-duplicates count (five hundred customers typing "app down?" is the
//!   signal), one author posting fifty times does not (bots).
//! - **Event time**: a bucket closes when the watermark passes its end plus
//!   `allowed_lateness_secs`; later mentions are counted in `tocsin_spike_late_events_total`.
//!   The watermark is the slowest active Kafka partition's newest event time ([`watermark`]),
//!   so a backlog read unevenly across partitions is not taken for late mentions.
//!   When no mention arrives, processing time moves the watermark on, so incidents resolve
//!   during silence.
//! - **One incident per surge**: a brand has at most one open incident; other keys of the brand
//!   that fire while it is open become its `dimensions` (an `updated` event), and it resolves
//!   when all of them have.
//!
//! Incident events are emitted through [`crate::pipeline::Stage::drain_outputs`], so they are
//! durable before the offsets of the batch that caused them are committed.

pub mod broadcasting;
mod checkpoint;
pub mod config;
pub mod detector;
mod events;
pub mod explain;
mod state;
pub mod themes;
pub mod watermark;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;

use crate::clock::{Millis, SharedClock};
use crate::config::BrandConfig;
use crate::mention::{DedupStatus, Mention};
use crate::metrics::Metrics;
use crate::pipeline::Stage;
use crate::sinks::OutRecord;
use crate::stages::brand_router::BrandRouter;
use broadcasting::{Broadcaster, Moment};
pub use checkpoint::{CheckpointError, Restored};
pub use config::{Dimension, SpikesConfig};
use detector::{Detector, Params, Transition, Values};
use explain::{Recent, RecentBuffer};
use rustc_hash::{FxBuildHasher, FxHashMap};
use state::{Agg, Incident, Series, SeriesKey};
use themes::ThemeSketch;

/// Index slots per brand: the brand itself, then one per [`Dimension`] variant up to `Intent`
/// (themes are found by term hash in their brand's [`ThemeSketch`]).
const KEY_SLOTS: usize = 4;
const _: () = assert!(Dimension::Intent as usize + 2 == KEY_SLOTS);

pub struct SpikeStage {
    cfg: SpikesConfig,
    params: Params,
    /// Stricter parameters for brand × dimension series.
    key_params: Params,
    router: BrandRouter,
    /// Series index by key: one map per brand × dimension slot (see [`KEY_SLOTS`]), from the
    /// dimension's value (empty for the brand itself).
    index: Vec<FxHashMap<Box<str>, usize>>,
    series: Vec<Series>,
    /// Open buckets: bucket number → series index → counts.
    open: BTreeMap<i64, FxHashMap<usize, Agg>>,
    /// Reused per mention: the series it counts in.
    scratch: Vec<usize>,
    /// Per brand, with the `theme` dimension: frequent terms and tracked themes.
    themes: Vec<ThemeSketch>,
    /// The next bucket to close; `None` before the first mention.
    next_close: Option<i64>,
    /// `next_close` when the last checkpoint was taken (see [`checkpoint`]).
    last_checkpoint_bucket: Option<i64>,
    max_event_ms: Millis,
    /// Per-partition event time: buckets close at the slowest active partition.
    watermarks: watermark::Watermarks,
    closed_any: bool,
    /// Processing time of the last mention, for the idle watermark.
    last_input_at: Option<Millis>,
    idle_advanced_ms: Millis,
    recent: RecentBuffer,
    incidents: HashMap<u16, Incident>,
    broadcaster: Option<Broadcaster>,
    outputs: Vec<OutRecord>,
    metrics: Arc<Metrics>,
    clock: SharedClock,
}

impl SpikeStage {
    pub fn new(
        cfg: &SpikesConfig,
        brands: &[BrandConfig],
        drafter: Option<crate::alerting::broadcast::Drafter>,
        clock: SharedClock,
        metrics: Arc<Metrics>,
    ) -> Self {
        let router = BrandRouter::new(brands);
        let broadcaster =
            drafter.map(|d| Broadcaster::new(d, brands, cfg.bucket_secs, metrics.clone()));
        SpikeStage {
            params: Params::new(&cfg.detector, cfg.bucket_secs, Values::Counts),
            key_params: {
                let mut d = cfg.detector.clone();
                d.threshold *= cfg.dimension_threshold_factor;
                d.min_z += 1.0;
                Params::new(&d, cfg.bucket_secs, Values::Counts)
            },
            cfg: cfg.clone(),
            router,
            index: Vec::new(),
            series: Vec::new(),
            open: BTreeMap::new(),
            scratch: Vec::new(),
            themes: Vec::new(),
            next_close: None,
            last_checkpoint_bucket: None,
            max_event_ms: Millis::MIN,
            watermarks: watermark::Watermarks::new(cfg.partition_idle_secs as i64 * 1000),
            closed_any: false,
            last_input_at: None,
            idle_advanced_ms: 0,
            recent: RecentBuffer::new(cfg.explain_buffer),
            incidents: HashMap::new(),
            broadcaster,
            outputs: Vec::new(),
            metrics,
            clock,
        }
    }

    fn bucket_ms(&self) -> i64 {
        self.cfg.bucket_secs as i64 * 1000
    }

    /// Counters of each brand's frequent-terms summary.
    fn theme_capacity(&self) -> usize {
        (25 * self.cfg.theme_keys).max(1024)
    }

    /// The [`Self::index`] slot of `brand` × `dim`.
    fn index_slot(brand: u16, dim: Option<Dimension>) -> usize {
        brand as usize * KEY_SLOTS + dim.map_or(0, |d| d as usize + 1)
    }

    /// Indexes series `i` as `brand` × `dim` = `value` (themes are indexed by their sketch).
    fn index_series(&mut self, brand: u16, dim: Option<Dimension>, value: &str, i: usize) {
        let slot = Self::index_slot(brand, dim);
        if self.index.len() <= slot {
            self.index.resize_with(slot + 1, FxHashMap::default);
        }
        self.index[slot].insert(value.into(), i);
    }

    /// The series of `brand` × `dim` = `value`, created on first sight (up to `max_keys`).
    /// Looked up by `&str`: nothing is allocated for a key already tracked.
    fn series_index(&mut self, brand: u16, dim: Option<Dimension>, value: &str) -> Option<usize> {
        let slot = Self::index_slot(brand, dim);
        if let Some(&i) = self.index.get(slot).and_then(|m| m.get(value)) {
            return Some(i);
        }
        let i = self.new_series(brand, dim, value)?;
        self.index_series(brand, dim, value, i);
        Some(i)
    }

    /// A new series for `brand` × `dim` = `value` at the end of the list, unless `max_keys`
    /// series exist already (counted in a metric).
    fn new_series(&mut self, brand: u16, dim: Option<Dimension>, value: &str) -> Option<usize> {
        if self.series.len() >= self.cfg.max_keys {
            self.metrics
                .spike_dropped_events
                .with_label_values(&["max_keys"])
                .inc();
            return None;
        }
        self.series.push(self.fresh_series(brand, dim, value));
        Some(self.series.len() - 1)
    }

    fn fresh_series(&self, brand: u16, dim: Option<Dimension>, value: &str) -> Series {
        let params = if dim.is_some() {
            &self.key_params
        } else {
            &self.params
        };
        Series {
            key: SeriesKey {
                brand,
                dim,
                value: value.to_string(),
            },
            det: Detector::new(params),
            last: None,
        }
    }

    /// Makes each brand's most frequent terms its themes (once an hour of event time). A
    /// newcomer takes the series of the weakest theme that is no longer wanted and is not
    /// part of an open incident; that series starts again from nothing.
    fn review_themes(&mut self) {
        let (keys, min) = (self.cfg.theme_keys, self.cfg.theme_min_mentions);
        for brand in 0..self.themes.len() {
            let wanted = self.themes[brand].wanted(keys, min);
            for &h in &wanted {
                let sk = &self.themes[brand];
                if sk.tracked.contains_key(&h) {
                    continue;
                }
                let Some(name) = sk.name(h).map(str::to_string) else {
                    continue;
                };
                let b = brand as u16;
                let slot = if sk.tracked.len() < keys {
                    self.new_series(b, Some(Dimension::Theme), &name)
                } else {
                    let in_incident = |i: usize| {
                        self.incidents
                            .get(&b)
                            .is_some_and(|inc| inc.members.contains(&i))
                    };
                    let victim = sk
                        .tracked
                        .iter()
                        .filter(|(th, &i)| !wanted.contains(th) && !in_incident(i))
                        .map(|(&th, &i)| (sk.count(th), th, i))
                        .min();
                    let Some((_, th, i)) = victim else { break };
                    self.themes[brand].tracked.remove(&th);
                    self.series[i] = self.fresh_series(b, Some(Dimension::Theme), &name);
                    for aggs in self.open.values_mut() {
                        aggs.remove(&i);
                    }
                    Some(i)
                };
                if let Some(i) = slot {
                    self.themes[brand].tracked.insert(h, i);
                }
            }
        }
        let n: usize = self.themes.iter().map(|t| t.tracked.len()).sum();
        self.metrics.spike_theme_entries.set(n as i64);
    }

    /// Counts one mention (called in batch order).
    fn count(&mut self, m: &Mention, now_ms: Millis) {
        let bms = self.bucket_ms();
        let bucket = m.created_at_ms.div_euclid(bms);
        self.last_input_at = Some(now_ms);
        self.idle_advanced_ms = 0;
        // Until the first bucket closes, the earliest bucket seen is where closing starts.
        match self.next_close {
            Some(n) if n <= bucket || self.closed_any => {}
            _ => self.next_close = Some(bucket),
        }
        self.max_event_ms = self.max_event_ms.max(m.created_at_ms);
        self.watermarks.observe(&m.origin, m.created_at_ms, now_ms);
        if bucket < self.next_close.unwrap_or(bucket) {
            self.metrics.spike_late_events.inc();
            return;
        }
        // Mentions of no configured brand have no owner to alert.
        let Some(brand) = self.router.route_index(m) else {
            return;
        };
        let brand = brand as u16;
        let counted = !matches!(
            m.enrich.dedup.as_ref().map(|d| d.status),
            Some(DedupStatus::Exact | DedupStatus::Repost)
        );
        let lang = m.language().unwrap_or("und");
        let author_hash = FxBuildHasher.hash_one(&m.author.id);
        let recent = Recent::of(m, bucket, brand, lang, counted, author_hash);
        // Indexes first (they may create series), then one lookup of the open bucket.
        let mut keys = std::mem::take(&mut self.scratch);
        keys.clear();
        keys.extend(self.series_index(brand, None, ""));
        for d in 0..self.cfg.dimensions.len() {
            let dim = self.cfg.dimensions[d];
            let value = match dim {
                Dimension::Theme => continue,
                Dimension::Platform => m.platform.as_str(),
                Dimension::Lang => lang,
                Dimension::Intent => m
                    .enrich
                    .score
                    .as_ref()
                    .map_or("other", |s| s.intent.as_str()),
            };
            keys.extend(self.series_index(brand, Some(dim), value));
        }
        // Repeats and reposts add no authors: only counted mentions need their terms.
        if counted && self.cfg.dimensions.contains(&Dimension::Theme) {
            if self.themes.len() <= brand as usize {
                let cap = self.theme_capacity();
                self.themes
                    .resize_with(brand as usize + 1, || ThemeSketch::new(cap));
            }
            let sketch = &mut self.themes[brand as usize];
            match m.enrich.dedup.as_ref().filter(|d| !d.terms.is_empty()) {
                Some(d) => sketch.observe_hashes(&d.terms, &recent.text, &mut keys),
                None => sketch.observe(&recent.text, &mut keys),
            }
        }
        self.recent.push(recent);
        let aggs = self.open.entry(bucket).or_default();
        for &i in &keys {
            let agg = aggs.entry(i).or_default();
            if counted {
                agg.authors.insert(author_hash);
            }
        }
        self.scratch = keys;
    }

    /// Closes every bucket that ends (plus lateness) at or before `watermark_ms`.
    fn close_until(&mut self, watermark_ms: Millis) {
        let Some(mut next) = self.next_close else {
            return;
        };
        let bms = self.bucket_ms();
        let lateness = self.cfg.allowed_lateness_secs as i64 * 1000;
        let last_closable = (watermark_ms - lateness).div_euclid(bms) - 1;
        // After a long gap, feed at most a calibration span of empty buckets.
        let max_gap = (self.cfg.detector.calibration_days as i64 + 1) * 86_400_000 / bms;
        if last_closable - next > max_gap {
            next = last_closable - max_gap;
            self.open.retain(|&b, _| b >= next);
        }
        while next <= last_closable {
            self.close_bucket(next);
            next += 1;
        }
        self.next_close = Some(next);
        self.maybe_checkpoint(false);
    }

    fn close_bucket(&mut self, bucket: i64) {
        self.closed_any = true;
        let aggs = self.open.remove(&bucket).unwrap_or_default();
        let start_secs = bucket * self.cfg.bucket_secs as i64;
        if !self.themes.is_empty() {
            let bs = self.cfg.bucket_secs as i64;
            if (start_secs + bs).rem_euclid(86_400) < bs {
                self.themes.iter_mut().for_each(ThemeSketch::decay);
            }
            if (start_secs + bs).rem_euclid(3_600) < bs {
                self.review_themes();
            }
        }
        let mut fired: Vec<(usize, Transition)> = Vec::new();
        for (i, s) in self.series.iter_mut().enumerate() {
            let x = aggs.get(&i).map_or(0, |a| a.authors.len()) as f64;
            let params = if s.key.dim.is_some() {
                &self.key_params
            } else {
                &self.params
            };
            let step = s.det.observe(params, start_secs, x);
            if let Some(t) = step.transition {
                fired.push((i, t));
            }
            let brand = self.router.id(s.key.brand as usize);
            let m = &self.metrics;
            match s.key.dim {
                None => {
                    m.spike_observed.with_label_values(&[brand]).set(x);
                    m.spike_expected
                        .with_label_values(&[brand])
                        .set(step.expected_bucket);
                    m.spike_score.with_label_values(&[brand]).set(step.score);
                }
                // Terms are free text: themes are incident dimensions, not metric labels.
                Some(Dimension::Theme) => {}
                Some(d) => {
                    // Language hints are free text: bounded like every language label.
                    let value = match d {
                        Dimension::Lang => crate::metrics::language_label(Some(&s.key.value)),
                        _ => s.key.value.as_str(),
                    };
                    let l = [brand, d.as_str(), value];
                    m.spike_key_observed.with_label_values(&l).set(x);
                    m.spike_key_expected
                        .with_label_values(&l)
                        .set(step.expected_bucket);
                    m.spike_key_score.with_label_values(&l).set(step.score);
                }
            }
            s.last = Some(step);
        }
        // Brand keys first, so a surge opens its incident on the brand.
        fired.sort_by_key(|(i, _)| (self.series[*i].key.dim.is_some(), *i));
        for (i, t) in fired {
            match t {
                Transition::Opened => self.on_open(i, bucket),
                Transition::Resolved => self.on_resolve(i, bucket),
            }
        }
        self.escalations(bucket);
        self.metrics
            .spike_state_entries
            .set(self.series.len() as i64);
        let bytes: usize = self
            .series
            .iter()
            .map(|s| s.det.size_bytes() + 64)
            .sum::<usize>()
            + self.recent.bytes()
            + self
                .themes
                .iter()
                .map(ThemeSketch::size_bytes)
                .sum::<usize>();
        self.metrics.spike_state_bytes.set(bytes as i64);
        self.metrics.incidents_open.set(self.incidents.len() as i64);
    }

    fn on_open(&mut self, i: usize, bucket: i64) {
        let brand = self.series[i].key.brand;
        let sev = self.series[i]
            .last
            .map_or(1, |s| s.severity(self.cfg.detector.threshold));
        if let Some(inc) = self.incidents.get_mut(&brand) {
            if !inc.members.contains(&i) {
                inc.members.push(i);
            }
            inc.open_members.insert(i);
            inc.peak_severity = inc.peak_severity.max(sev);
            inc.joined = true;
            return;
        }
        let at = chrono::DateTime::from_timestamp(bucket * self.cfg.bucket_secs as i64, 0)
            .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_default();
        let id = format!("{}-{at}", self.router.id(brand as usize));
        self.incidents.insert(
            brand,
            Incident {
                id,
                members: vec![i],
                open_members: HashSet::from([i]),
                opened_bucket: bucket,
                last_update_bucket: bucket,
                last_severity: sev,
                peak_severity: sev,
                labels: serde_json::Value::Null,
                joined: false,
                fresh: true,
            },
        );
    }

    fn on_resolve(&mut self, i: usize, bucket: i64) {
        let brand = self.series[i].key.brand;
        let Some(inc) = self.incidents.get_mut(&brand) else {
            return;
        };
        inc.open_members.remove(&i);
        if inc.open_members.is_empty() {
            self.emit("resolved", brand, bucket, None, Moment::Lifecycle);
            self.incidents.remove(&brand);
            if let Some(b) = self.broadcaster.as_mut() {
                b.forget(brand);
            }
        }
    }

    /// `updated` when an open incident's severity rises, at most every `update_every_secs`.
    fn escalations(&mut self, bucket: i64) {
        let every = (self.cfg.update_every_secs / self.cfg.bucket_secs).max(1) as i64;
        let thr = self.cfg.detector.threshold;
        let mut due = Vec::new();
        let mut opened = Vec::new();
        for (&brand, inc) in &mut self.incidents {
            if inc.fresh {
                // Keys of the brand that fired in the same bucket are part of the opening.
                inc.fresh = false;
                inc.joined = false;
                opened.push((brand, inc.members[0]));
                continue;
            }
            let sev = inc
                .open_members
                .iter()
                .filter_map(|&i| self.series[i].last.map(|s| s.severity(thr)))
                .max()
                .unwrap_or(0);
            inc.peak_severity = inc.peak_severity.max(sev);
            // At most one `updated` per `update_every_secs`, whatever changed (no storms).
            let changed = sev > inc.last_severity || inc.joined;
            if changed && bucket - inc.last_update_bucket >= every {
                inc.last_severity = inc.last_severity.max(sev);
                inc.last_update_bucket = bucket;
                inc.joined = false;
                due.push(brand);
            }
        }
        opened.sort_unstable();
        for (brand, trigger) in opened {
            self.emit("opened", brand, bucket, Some(trigger), Moment::Lifecycle);
        }
        // Same order in every run (backtests are deterministic).
        due.sort_unstable();
        // Reminders of a public update, and the broadcast rule between lifecycle events.
        let mut moments: Vec<(u16, Moment)> =
            due.into_iter().map(|b| (b, Moment::Lifecycle)).collect();
        if let Some(b) = &self.broadcaster {
            let mut brands: Vec<u16> = self.incidents.keys().copied().collect();
            brands.sort_unstable();
            for brand in brands {
                if moments.iter().any(|(x, _)| *x == brand) {
                    continue;
                }
                if b.is_broadcasting(brand) {
                    if b.reminder_due(brand, bucket) {
                        moments.push((brand, Moment::Reminder));
                    }
                } else if self
                    .build_event("updated", brand, bucket, None)
                    .is_some_and(|body| b.rule_holds(&body))
                {
                    moments.push((brand, Moment::Lifecycle));
                }
            }
        }
        for (brand, moment) in moments {
            self.emit("updated", brand, bucket, None, moment);
        }
    }
}

impl Stage for SpikeStage {
    fn name(&self) -> &'static str {
        "spikes"
    }

    fn process(&mut self, batch: &mut [Mention]) {
        let now = self.clock.now_ms();
        for m in batch.iter() {
            self.count(m, now);
        }
        let watermark = self.watermarks.current(now);
        if watermark > Millis::MIN {
            self.close_until(watermark);
        }
        if let Some(b) = self.broadcaster.as_mut() {
            for m in batch.iter_mut() {
                let Some(brand) = self.router.route_index(m) else {
                    continue;
                };
                if b.is_broadcasting(brand as u16) {
                    let lang = m.language().unwrap_or("und").to_string();
                    b.cover(m, brand as u16, &lang);
                }
            }
        }
    }

    /// Processing time moves the watermark on while no mention arrives.
    fn tick(&mut self, now_ms: Millis) {
        let Some(last) = self.last_input_at else {
            return;
        };
        let idle = now_ms - last;
        let grace = self.bucket_ms() + self.cfg.allowed_lateness_secs as i64 * 1000;
        if idle > grace && idle > self.idle_advanced_ms {
            self.idle_advanced_ms = idle;
            self.close_until(self.max_event_ms + idle);
        }
    }

    fn drain_outputs(&mut self) -> Vec<OutRecord> {
        std::mem::take(&mut self.outputs)
    }

    fn shutdown(&mut self) {
        self.maybe_checkpoint(true);
    }
}
