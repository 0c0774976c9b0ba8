//! Measuring the detector on labelled posts (`lang<TAB>text[<TAB>…]`, an optional header
//! line starting `lang\t`): accuracy overall and per language, the commonest confusions,
//! calibration of the confidence, and throughput on one thread.

use super::detector::{canonical, Context, Detector};
use super::mix::LanguageMix;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

/// Labelled posts, read from TSV text. Lines without a tab are skipped.
pub fn parse_tsv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with("lang\t"))
        .filter_map(|l| {
            let mut f = l.split('\t');
            let lang = f.next()?.trim();
            let text = f.next()?;
            Some((canonical(lang).to_string(), text.to_string()))
        })
        .collect()
}

#[derive(Debug, Default)]
pub struct Report {
    pub total: usize,
    pub correct: usize,
    /// Per gold language: (posts, correct).
    pub per_lang: BTreeMap<String, (usize, usize)>,
    /// (gold, predicted) → count, errors only.
    pub confusion: BTreeMap<(String, String), usize>,
    /// Confidence deciles: (posts, correct).
    pub calibration: [(usize, usize); 10],
    pub seconds: f64,
}

impl Report {
    pub fn accuracy(&self) -> f64 {
        100.0 * self.correct as f64 / self.total.max(1) as f64
    }
    pub fn per_second(&self) -> f64 {
        self.total as f64 / self.seconds.max(1e-9)
    }
}

/// Detects every post on this thread in file order, timing detection only. With `adaptive`,
/// the stream's language mix is learned as the stage learns it (causally, post by post).
pub fn evaluate(det: &Detector, rows: &[(String, String)], adaptive: bool) -> Report {
    let start = Instant::now();
    let mut mix = LanguageMix::new(det, 20_000.0);
    let preds: Vec<_> = rows
        .iter()
        .map(|(_, t)| {
            if adaptive {
                mix.detect_next(det, t)
            } else {
                det.detect(t, Context::default())
            }
        })
        .collect();
    let mut r = Report {
        seconds: start.elapsed().as_secs_f64(),
        total: rows.len(),
        ..Default::default()
    };
    for ((gold, _), p) in rows.iter().zip(&preds) {
        let ok = gold == p.lang;
        let e = r.per_lang.entry(gold.clone()).or_default();
        e.0 += 1;
        e.1 += ok as usize;
        r.correct += ok as usize;
        let bin = ((p.confidence * 10.0) as usize).min(9);
        r.calibration[bin].0 += 1;
        r.calibration[bin].1 += ok as usize;
        if !ok {
            *r.confusion
                .entry((gold.clone(), p.lang.to_string()))
                .or_default() += 1;
        }
    }
    r
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "accuracy {:.2}% ({} of {}), {:.0} posts/s on one thread",
            self.accuracy(),
            self.correct,
            self.total,
            self.per_second()
        )?;
        writeln!(f, "\nlang   posts  accuracy  most often taken for")?;
        for (lang, (n, ok)) in &self.per_lang {
            let mut wrong: Vec<_> = self
                .confusion
                .iter()
                .filter(|((g, _), _)| g == lang)
                .map(|((_, p), c)| (*c, p.as_str()))
                .collect();
            wrong.sort_by(|a, b| b.cmp(a));
            let top: Vec<String> = wrong
                .iter()
                .take(4)
                .map(|(c, p)| format!("{p} {c}"))
                .collect();
            writeln!(
                f,
                "{lang:<5} {n:>6}  {:>7.2}%  {}",
                100.0 * *ok as f64 / *n as f64,
                top.join(", ")
            )?;
        }
        let mut conf: Vec<_> = self.confusion.iter().collect();
        conf.sort_by(|a, b| b.1.cmp(a.1));
        writeln!(f, "\ncommonest confusions (gold → detected):")?;
        for ((g, p), c) in conf.iter().take(12) {
            writeln!(f, "  {g} → {p}: {c}")?;
        }
        writeln!(f, "\nconfidence  posts  accuracy")?;
        for (i, (n, ok)) in self.calibration.iter().enumerate() {
            if *n > 0 {
                writeln!(
                    f,
                    "  {:.1}–{:.1}  {n:>6}  {:>6.2}%",
                    i as f32 / 10.0,
                    (i + 1) as f32 / 10.0,
                    100.0 * *ok as f64 / *n as f64
                )?;
            }
        }
        Ok(())
    }
}
