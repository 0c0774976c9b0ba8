//! Dedup quality on real posts: `cargo run --release --example dedup_eval [DATA_DIR] [THRESHOLD]`.
//! DATA_DIR defaults to `../shared/data`; see `tocsin::stages::dedup::eval`.

use std::path::PathBuf;
use tocsin::stages::dedup::{eval, DedupConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "../shared/data".into()));
    let mut cfg = DedupConfig::default();
    if let Some(t) = args.next() {
        cfg.near_threshold = t.parse().expect("THRESHOLD is a number in (0, 1]");
    }
    if let Some(n) = args.next() {
        cfg.near_min_tokens = n.parse().expect("MIN_TOKENS is a whole number");
    }
    println!(
        "near_threshold {} near_min_tokens {}",
        cfg.near_threshold, cfg.near_min_tokens
    );
    match eval::run(&dir, &cfg, 42) {
        Ok(r) => print!("{r}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
