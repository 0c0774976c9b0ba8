//! Language identification, side by side: Tocsin's detector, whatlang 0.18 and lingua 1.8
//! (high and low accuracy), one thread each, in one run.
//!
//! `cargo bench --bench language --features compare` measures, for each detector: accuracy on real tweets
//! (`../shared/data/langid/tweets_dev.tsv`, or `TOCSIN_LANGID_TSV`; skipped when absent) with
//! every language enabled and restricted to the set's languages, accuracy on lingua's own
//! clean test data (sentences, word pairs, single words of 29 languages all three support,
//! each detector restricted to those 29), throughput, start-up time (build + first post) and
//! the resident memory it added by the end of its tweet run.
//! `LANG_BENCH_LIMIT=N` caps posts per test for a quick run.

use lingua::{IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder};
use std::str::FromStr;
use std::time::Instant;
use tocsin::stages::language::detector::{Context, Detector};
use tocsin::stages::language::eval::parse_tsv;
use tocsin::stages::language::mix::LanguageMix;
use tocsin::stages::language::LanguageConfig;

const CLEAN: &[(&str, &include_dir::Dir<'static>)] = &[
    (
        "ar",
        &lingua_arabic_language_model::ARABIC_TESTDATA_DIRECTORY,
    ),
    (
        "bg",
        &lingua_bulgarian_language_model::BULGARIAN_TESTDATA_DIRECTORY,
    ),
    (
        "ca",
        &lingua_catalan_language_model::CATALAN_TESTDATA_DIRECTORY,
    ),
    ("cs", &lingua_czech_language_model::CZECH_TESTDATA_DIRECTORY),
    (
        "da",
        &lingua_danish_language_model::DANISH_TESTDATA_DIRECTORY,
    ),
    (
        "de",
        &lingua_german_language_model::GERMAN_TESTDATA_DIRECTORY,
    ),
    ("el", &lingua_greek_language_model::GREEK_TESTDATA_DIRECTORY),
    (
        "en",
        &lingua_english_language_model::ENGLISH_TESTDATA_DIRECTORY,
    ),
    (
        "es",
        &lingua_spanish_language_model::SPANISH_TESTDATA_DIRECTORY,
    ),
    (
        "et",
        &lingua_estonian_language_model::ESTONIAN_TESTDATA_DIRECTORY,
    ),
    (
        "fi",
        &lingua_finnish_language_model::FINNISH_TESTDATA_DIRECTORY,
    ),
    (
        "fr",
        &lingua_french_language_model::FRENCH_TESTDATA_DIRECTORY,
    ),
    (
        "he",
        &lingua_hebrew_language_model::HEBREW_TESTDATA_DIRECTORY,
    ),
    (
        "hr",
        &lingua_croatian_language_model::CROATIAN_TESTDATA_DIRECTORY,
    ),
    (
        "hu",
        &lingua_hungarian_language_model::HUNGARIAN_TESTDATA_DIRECTORY,
    ),
    (
        "id",
        &lingua_indonesian_language_model::INDONESIAN_TESTDATA_DIRECTORY,
    ),
    (
        "it",
        &lingua_italian_language_model::ITALIAN_TESTDATA_DIRECTORY,
    ),
    (
        "lt",
        &lingua_lithuanian_language_model::LITHUANIAN_TESTDATA_DIRECTORY,
    ),
    (
        "lv",
        &lingua_latvian_language_model::LATVIAN_TESTDATA_DIRECTORY,
    ),
    ("nl", &lingua_dutch_language_model::DUTCH_TESTDATA_DIRECTORY),
    (
        "pl",
        &lingua_polish_language_model::POLISH_TESTDATA_DIRECTORY,
    ),
    (
        "pt",
        &lingua_portuguese_language_model::PORTUGUESE_TESTDATA_DIRECTORY,
    ),
    (
        "ro",
        &lingua_romanian_language_model::ROMANIAN_TESTDATA_DIRECTORY,
    ),
    (
        "ru",
        &lingua_russian_language_model::RUSSIAN_TESTDATA_DIRECTORY,
    ),
    (
        "sk",
        &lingua_slovak_language_model::SLOVAK_TESTDATA_DIRECTORY,
    ),
    (
        "sl",
        &lingua_slovene_language_model::SLOVENE_TESTDATA_DIRECTORY,
    ),
    (
        "sv",
        &lingua_swedish_language_model::SWEDISH_TESTDATA_DIRECTORY,
    ),
    (
        "tr",
        &lingua_turkish_language_model::TURKISH_TESTDATA_DIRECTORY,
    ),
    (
        "uk",
        &lingua_ukrainian_language_model::UKRAINIAN_TESTDATA_DIRECTORY,
    ),
];

fn rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// ISO 639-1 → whatlang's language (ISO 639-3, with whatlang's own codes for a few).
fn whatlang_lang(code: &str) -> Option<whatlang::Lang> {
    let lang = Language::from_iso_code_639_1(&IsoCode639_1::from_str(code).ok()?);
    let three = match lang.iso_code_639_3().to_string().as_str() {
        "zho" => "cmn".to_string(),
        "fas" => "pes".to_string(),
        t => t.to_string(),
    };
    whatlang::Lang::from_code(three)
}

fn whatlang_code(l: whatlang::Lang) -> String {
    let three = match l.code() {
        "cmn" => "zho",
        "pes" => "fas",
        c => c,
    };
    lingua::IsoCode639_3::from_str(three)
        .map(|c| {
            Language::from_iso_code_639_3(&c)
                .iso_code_639_1()
                .to_string()
        })
        .unwrap_or_else(|_| l.code().to_string())
}

enum Which {
    Tocsin(Detector, bool),
    Whatlang(whatlang::Detector),
    Lingua(LanguageDetector),
}

struct Candidate {
    name: String,
    which: Which,
    startup_ms: f64,
    /// Resident memory before the detector was built (the run reports the growth).
    rss_before: f64,
}

fn build(kind: &str, langs: &[&str]) -> Candidate {
    let before = rss_mb();
    let t = Instant::now();
    // Start-up is building the detector and answering a first post (lingua loads its models
    // lazily otherwise).
    let which = match kind {
        "tocsin" | "tocsin-static" => {
            let cfg = LanguageConfig {
                languages: langs.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            };
            let d = cfg.detector(&[]);
            d.detect("warm up the model", Context::default());
            Which::Tocsin(d, kind == "tocsin")
        }
        "whatlang" => Which::Whatlang(if langs.is_empty() {
            whatlang::Detector::new()
        } else {
            whatlang::Detector::with_allowlist(
                langs.iter().filter_map(|c| whatlang_lang(c)).collect(),
            )
        }),
        _ => {
            let mut b = if langs.is_empty() {
                LanguageDetectorBuilder::from_all_languages()
            } else {
                let codes: Vec<IsoCode639_1> = langs
                    .iter()
                    .filter_map(|c| IsoCode639_1::from_str(c).ok())
                    .filter(|c| Language::all().iter().any(|l| l.iso_code_639_1() == *c))
                    .collect();
                LanguageDetectorBuilder::from_iso_codes_639_1(&codes)
            };
            b.with_preloaded_language_models();
            if kind == "lingua-low" {
                b.with_low_accuracy_mode();
            }
            let d = b.build();
            d.detect_language_of("warm up the model");
            Which::Lingua(d)
        }
    };
    Candidate {
        name: kind.to_string(),
        which,
        startup_ms: t.elapsed().as_secs_f64() * 1e3,
        rss_before: before,
    }
}

/// Accuracy (%) and posts per second on one thread, in file order.
fn run(c: &Candidate, rows: &[(String, String)]) -> (f64, f64) {
    let t = Instant::now();
    let mut ok = 0;
    match &c.which {
        Which::Tocsin(d, adaptive) => {
            let mut mix = LanguageMix::new(d, 20_000.0);
            for (gold, text) in rows {
                let r = if *adaptive {
                    mix.detect_next(d, text)
                } else {
                    d.detect(text, Context::default())
                };
                ok += (r.lang == gold) as usize;
            }
        }
        Which::Whatlang(d) => {
            for (gold, text) in rows {
                let got = d.detect(text).map(|i| whatlang_code(i.lang()));
                ok += (got.as_deref() == Some(gold.as_str())) as usize;
            }
        }
        Which::Lingua(d) => {
            for (gold, text) in rows {
                let got = d
                    .detect_language_of(text.as_str())
                    .map(|l| l.iso_code_639_1().to_string());
                ok += (got.as_deref() == Some(gold.as_str())) as usize;
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    (
        100.0 * ok as f64 / rows.len().max(1) as f64,
        rows.len() as f64 / secs,
    )
}

fn limit(mut rows: Vec<(String, String)>) -> Vec<(String, String)> {
    if let Some(n) = std::env::var("LANG_BENCH_LIMIT")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        // Every k-th row keeps the language mix of the file.
        let k = (rows.len() / n.max(1)).max(1);
        rows = rows.into_iter().step_by(k).collect();
    }
    rows
}

fn clean_rows(file: &str) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    for (code, dir) in CLEAN {
        let text = dir
            .get_file(file)
            .and_then(|f| f.contents_utf8())
            .unwrap_or("");
        rows.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| (code.to_string(), l.to_string())),
        );
    }
    limit(rows)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let kinds = [
        "tocsin",
        "tocsin-static",
        "whatlang",
        "lingua-high",
        "lingua-low",
    ];
    let tsv = std::env::var("TOCSIN_LANGID_TSV")
        .unwrap_or_else(|_| "../shared/data/langid/tweets_dev.tsv".into());
    println!("language identification, one thread per detector\n");
    match std::fs::read_to_string(&tsv) {
        Ok(text) => {
            let rows = limit(parse_tsv(&text));
            let mut set: Vec<&str> = rows.iter().map(|(l, _)| l.as_str()).collect();
            set.sort_unstable();
            set.dedup();
            println!("{tsv}: {} tweets in {}", rows.len(), set.join(" "));
            println!(
                "{:<14} {:>9} {:>12} {:>11} {:>12} {:>10}",
                "detector", "all langs", "set's langs", "tweets/s", "start-up ms", "memory MB"
            );
            for kind in kinds {
                let all = build(kind, &[]);
                let (acc_all, speed) = run(&all, &rows);
                let (startup, added) = (all.startup_ms, rss_mb() - all.rss_before);
                drop(all);
                let restricted = build(kind, &set);
                let (acc_set, _) = run(&restricted, &rows);
                println!(
                    "{:<14} {:>8.2}% {:>11.2}% {:>11.0} {:>12.1} {:>10.1}",
                    restricted.name, acc_all, acc_set, speed, startup, added
                );
            }
        }
        Err(e) => println!("{tsv}: {e} (set TOCSIN_LANGID_TSV); tweets skipped"),
    }
    let langs: Vec<&str> = CLEAN.iter().map(|(c, _)| *c).collect();
    println!(
        "\nlingua's clean test data, {} languages ({}), each detector restricted to them",
        langs.len(),
        langs.join(" ")
    );
    let sets = [
        ("sentences", clean_rows("sentences.txt")),
        ("word pairs", clean_rows("word-pairs.txt")),
        ("single words", clean_rows("single-words.txt")),
    ];
    println!(
        "{:<14} {:>10} {:>11} {:>13} {:>14}",
        "detector", "sentences", "word pairs", "single words", "sentences/s"
    );
    for kind in ["tocsin-static", "whatlang", "lingua-high", "lingua-low"] {
        let c = build(kind, &langs);
        let r: Vec<(f64, f64)> = sets.iter().map(|(_, rows)| run(&c, rows)).collect();
        println!(
            "{:<14} {:>9.2}% {:>10.2}% {:>12.2}% {:>14.0}",
            kind, r[0].0, r[1].0, r[2].0, r[0].1
        );
    }
    let model = tocsin::stages::language::model::Model::get();
    println!(
        "\ntocsin model: {} languages, {:.1} MB compiled in (read in place; start-up parses a header)",
        model.codes().len(),
        model.size_bytes() as f64 / 1e6
    );
}
