//! Dedup quality on real posts from `../shared/data` (present in CI, never copied into the
//! project): the targets of the dedup issue, as regression tests. The full report is
//! `cargo run --release --example dedup_eval`.

use std::path::PathBuf;
use tocsin::stages::dedup::{eval, DedupConfig};

#[test]
fn dedup_meets_its_quality_targets_on_real_tweets() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if !dir.join("twcs/tweets.csv").exists() {
        eprintln!("skipped: {} not found", dir.display());
        return;
    }
    let report = eval::run(&dir, &DedupConfig::default(), 42).expect("evaluation data readable");
    println!("{report}");
    assert!(
        report.recall_up_to_15() >= 0.97,
        "recall on variants with <= 15 % of words changed: {:.4}",
        report.recall_up_to_15()
    );
    assert!(
        report.false_merge_rate() <= 0.001,
        "distinct real tweets merged: {:.4}",
        report.false_merge_rate()
    );
    assert_eq!(
        report.buckets[0].detected, report.buckets[0].variants,
        "noise-only edits"
    );
    assert!(report.distinct > 9000 && report.paraphrase_pairs > 40_000);
}
