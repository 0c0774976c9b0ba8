//! Derives Tocsin's language-identification model at build time, so no binary model is
//! committed and its provenance is plain:
//!
//! - 75 languages: the character n-gram probability models (`ngrams.fst`) of lingua-rs's
//!   language-model crates (Apache-2.0, © Peter M. Stahl), orders 1–4 kept whole and the
//!   most probable 5-grams of each language (by joint probability) kept as well;
//! - Galician and Maltese, which lingua lacks: counted here from the short texts written by
//!   this project in `data/language/` (same licence as Tocsin).
//!
//! The result, `$OUT_DIR/language.model`, is an open-addressed hash table (n-gram hash →
//! per-language quantised log-probabilities) that the detector reads in place from the binary
//! (`include_bytes!`): nothing is parsed at start-up. Format: see
//! `src/stages/language/model.rs`.

use std::collections::HashMap;
use std::io::Write;

include!("src/stages/language/ngram_hash.rs");

/// Longest n-gram kept from lingua's models.
const MAX_ORDER: usize = 5;
/// 5-grams kept per lingua language, the most probable first. All of them (185 MB) gain 0.07
/// points on clean sentences over 50k (91 MB); 30k–80k measure the same.
const FIVEGRAMS_PER_LANGUAGE: usize = 50_000;
/// Longest n-gram counted from this project's own few-kilobyte texts: longer contexts are
/// too rarely seen there to estimate.
const OWN_MAX_ORDER: usize = 4;
/// Log-probabilities are stored as `round(-ln p × QUANT)` in one byte.
const QUANT: f64 = 16.0;

type Models = &'static include_dir::Dir<'static>;

const LINGUA: &[(&str, Models)] = &[
    (
        "af",
        &lingua_afrikaans_language_model::AFRIKAANS_MODELS_DIRECTORY,
    ),
    (
        "sq",
        &lingua_albanian_language_model::ALBANIAN_MODELS_DIRECTORY,
    ),
    ("ar", &lingua_arabic_language_model::ARABIC_MODELS_DIRECTORY),
    (
        "hy",
        &lingua_armenian_language_model::ARMENIAN_MODELS_DIRECTORY,
    ),
    (
        "az",
        &lingua_azerbaijani_language_model::AZERBAIJANI_MODELS_DIRECTORY,
    ),
    ("eu", &lingua_basque_language_model::BASQUE_MODELS_DIRECTORY),
    (
        "be",
        &lingua_belarusian_language_model::BELARUSIAN_MODELS_DIRECTORY,
    ),
    (
        "bn",
        &lingua_bengali_language_model::BENGALI_MODELS_DIRECTORY,
    ),
    ("nb", &lingua_bokmal_language_model::BOKMAL_MODELS_DIRECTORY),
    (
        "bs",
        &lingua_bosnian_language_model::BOSNIAN_MODELS_DIRECTORY,
    ),
    (
        "bg",
        &lingua_bulgarian_language_model::BULGARIAN_MODELS_DIRECTORY,
    ),
    (
        "ca",
        &lingua_catalan_language_model::CATALAN_MODELS_DIRECTORY,
    ),
    (
        "zh",
        &lingua_chinese_language_model::CHINESE_MODELS_DIRECTORY,
    ),
    (
        "hr",
        &lingua_croatian_language_model::CROATIAN_MODELS_DIRECTORY,
    ),
    ("cs", &lingua_czech_language_model::CZECH_MODELS_DIRECTORY),
    ("da", &lingua_danish_language_model::DANISH_MODELS_DIRECTORY),
    ("nl", &lingua_dutch_language_model::DUTCH_MODELS_DIRECTORY),
    (
        "en",
        &lingua_english_language_model::ENGLISH_MODELS_DIRECTORY,
    ),
    (
        "eo",
        &lingua_esperanto_language_model::ESPERANTO_MODELS_DIRECTORY,
    ),
    (
        "et",
        &lingua_estonian_language_model::ESTONIAN_MODELS_DIRECTORY,
    ),
    (
        "fi",
        &lingua_finnish_language_model::FINNISH_MODELS_DIRECTORY,
    ),
    ("fr", &lingua_french_language_model::FRENCH_MODELS_DIRECTORY),
    ("lg", &lingua_ganda_language_model::GANDA_MODELS_DIRECTORY),
    (
        "ka",
        &lingua_georgian_language_model::GEORGIAN_MODELS_DIRECTORY,
    ),
    ("de", &lingua_german_language_model::GERMAN_MODELS_DIRECTORY),
    ("el", &lingua_greek_language_model::GREEK_MODELS_DIRECTORY),
    (
        "gu",
        &lingua_gujarati_language_model::GUJARATI_MODELS_DIRECTORY,
    ),
    ("he", &lingua_hebrew_language_model::HEBREW_MODELS_DIRECTORY),
    ("hi", &lingua_hindi_language_model::HINDI_MODELS_DIRECTORY),
    (
        "hu",
        &lingua_hungarian_language_model::HUNGARIAN_MODELS_DIRECTORY,
    ),
    (
        "is",
        &lingua_icelandic_language_model::ICELANDIC_MODELS_DIRECTORY,
    ),
    (
        "id",
        &lingua_indonesian_language_model::INDONESIAN_MODELS_DIRECTORY,
    ),
    ("ga", &lingua_irish_language_model::IRISH_MODELS_DIRECTORY),
    (
        "it",
        &lingua_italian_language_model::ITALIAN_MODELS_DIRECTORY,
    ),
    (
        "ja",
        &lingua_japanese_language_model::JAPANESE_MODELS_DIRECTORY,
    ),
    ("kk", &lingua_kazakh_language_model::KAZAKH_MODELS_DIRECTORY),
    ("ko", &lingua_korean_language_model::KOREAN_MODELS_DIRECTORY),
    ("la", &lingua_latin_language_model::LATIN_MODELS_DIRECTORY),
    (
        "lv",
        &lingua_latvian_language_model::LATVIAN_MODELS_DIRECTORY,
    ),
    (
        "lt",
        &lingua_lithuanian_language_model::LITHUANIAN_MODELS_DIRECTORY,
    ),
    (
        "mk",
        &lingua_macedonian_language_model::MACEDONIAN_MODELS_DIRECTORY,
    ),
    ("ms", &lingua_malay_language_model::MALAY_MODELS_DIRECTORY),
    ("mi", &lingua_maori_language_model::MAORI_MODELS_DIRECTORY),
    (
        "mr",
        &lingua_marathi_language_model::MARATHI_MODELS_DIRECTORY,
    ),
    (
        "mn",
        &lingua_mongolian_language_model::MONGOLIAN_MODELS_DIRECTORY,
    ),
    (
        "nn",
        &lingua_nynorsk_language_model::NYNORSK_MODELS_DIRECTORY,
    ),
    (
        "fa",
        &lingua_persian_language_model::PERSIAN_MODELS_DIRECTORY,
    ),
    ("pl", &lingua_polish_language_model::POLISH_MODELS_DIRECTORY),
    (
        "pt",
        &lingua_portuguese_language_model::PORTUGUESE_MODELS_DIRECTORY,
    ),
    (
        "pa",
        &lingua_punjabi_language_model::PUNJABI_MODELS_DIRECTORY,
    ),
    (
        "ro",
        &lingua_romanian_language_model::ROMANIAN_MODELS_DIRECTORY,
    ),
    (
        "ru",
        &lingua_russian_language_model::RUSSIAN_MODELS_DIRECTORY,
    ),
    (
        "sr",
        &lingua_serbian_language_model::SERBIAN_MODELS_DIRECTORY,
    ),
    ("sn", &lingua_shona_language_model::SHONA_MODELS_DIRECTORY),
    ("sk", &lingua_slovak_language_model::SLOVAK_MODELS_DIRECTORY),
    (
        "sl",
        &lingua_slovene_language_model::SLOVENE_MODELS_DIRECTORY,
    ),
    ("so", &lingua_somali_language_model::SOMALI_MODELS_DIRECTORY),
    ("st", &lingua_sotho_language_model::SOTHO_MODELS_DIRECTORY),
    (
        "es",
        &lingua_spanish_language_model::SPANISH_MODELS_DIRECTORY,
    ),
    (
        "sw",
        &lingua_swahili_language_model::SWAHILI_MODELS_DIRECTORY,
    ),
    (
        "sv",
        &lingua_swedish_language_model::SWEDISH_MODELS_DIRECTORY,
    ),
    (
        "tl",
        &lingua_tagalog_language_model::TAGALOG_MODELS_DIRECTORY,
    ),
    ("ta", &lingua_tamil_language_model::TAMIL_MODELS_DIRECTORY),
    ("te", &lingua_telugu_language_model::TELUGU_MODELS_DIRECTORY),
    ("th", &lingua_thai_language_model::THAI_MODELS_DIRECTORY),
    ("ts", &lingua_tsonga_language_model::TSONGA_MODELS_DIRECTORY),
    ("tn", &lingua_tswana_language_model::TSWANA_MODELS_DIRECTORY),
    (
        "tr",
        &lingua_turkish_language_model::TURKISH_MODELS_DIRECTORY,
    ),
    (
        "uk",
        &lingua_ukrainian_language_model::UKRAINIAN_MODELS_DIRECTORY,
    ),
    ("ur", &lingua_urdu_language_model::URDU_MODELS_DIRECTORY),
    (
        "vi",
        &lingua_vietnamese_language_model::VIETNAMESE_MODELS_DIRECTORY,
    ),
    ("cy", &lingua_welsh_language_model::WELSH_MODELS_DIRECTORY),
    ("xh", &lingua_xhosa_language_model::XHOSA_MODELS_DIRECTORY),
    ("yo", &lingua_yoruba_language_model::YORUBA_MODELS_DIRECTORY),
    ("zu", &lingua_zulu_language_model::ZULU_MODELS_DIRECTORY),
];

/// ln(1e-4): letters rarer than this in a lingua model are treated as foreign.
const RARE_LETTER: f64 = -9.21;

/// Absolute discount and minimum context count for the small texts (see `train`).
const OWN_DISCOUNT: f64 = 1.0;
const OWN_MIN_CONTEXT: u32 = 4;

/// Languages counted from this project's own texts.
const OWN: &[(&str, &str)] = &[
    ("gl", "data/language/gl.txt"),
    ("mt", "data/language/mt.txt"),
];

fn quantise(ln_p: f64) -> u8 {
    (-ln_p * QUANT).round().clamp(0.0, 255.0) as u8
}

fn key(ngram: &str) -> u64 {
    ngram_hash_finish(ngram_hash_extend(NGRAM_HASH_SEED, ngram.as_bytes()))
}

/// Conditional relative frequencies as lingua computes them: P(last char | the n-1 before).
fn train(text: &str) -> Vec<(String, f64)> {
    let mut counts: Vec<HashMap<String, u32>> = vec![HashMap::new(); OWN_MAX_ORDER + 1];
    for word in text
        .to_lowercase()
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
    {
        let chars: Vec<char> = word.chars().collect();
        for (n, count) in counts.iter_mut().enumerate().skip(1) {
            for win in chars.windows(n) {
                *count.entry(win.iter().collect()).or_default() += 1;
            }
        }
    }
    // A few kilobytes of text overstate what they saw: discount every count (absolute
    // discounting), and keep a context only when it was seen often enough to mean something,
    // so rarer n-grams back off to shorter ones as they would in a large corpus.
    let total: u32 = counts[1].values().sum();
    let mut out = Vec::new();
    for n in 1..=OWN_MAX_ORDER {
        for (g, &c) in &counts[n] {
            let denom = if n == 1 {
                total
            } else {
                let prefix: String = g.chars().take(n - 1).collect();
                counts[n - 1][&prefix]
            };
            if n > 1 && denom < OWN_MIN_CONTEXT {
                continue;
            }
            let p = (c as f64 - OWN_DISCOUNT).max(0.1) / denom as f64;
            out.push((g.clone(), p.ln()));
        }
    }
    out
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/stages/language/ngram_hash.rs");
    let mut codes: Vec<&str> = Vec::new();
    let mut max_orders: Vec<u8> = Vec::new();
    let mut table: HashMap<u64, Vec<(u8, u8)>> = HashMap::new();
    for (code, dir) in LINGUA {
        let id = codes.len() as u8;
        codes.push(code);
        max_orders.push(MAX_ORDER as u8);
        let file = dir
            .get_file("ngrams.fst")
            .unwrap_or_else(|| panic!("lingua's model crate for {code} has no ngrams.fst"));
        let map = fst::Map::new(file.contents()).expect("lingua model is a valid FST");
        // Orders 1–4 go in whole; 5-grams wait until every prefix's probability is known.
        let mut lower: HashMap<String, f64> = HashMap::new();
        let mut fives: Vec<(String, f64)> = Vec::new();
        let mut stream = fst::IntoStreamer::into_stream(&map);
        while let Some((k, v)) = fst::Streamer::next(&mut stream) {
            let Ok(k) = std::str::from_utf8(k) else {
                continue;
            };
            let n = k.chars().count();
            if n > MAX_ORDER {
                continue;
            }
            if n == MAX_ORDER {
                fives.push((k.to_string(), f64::from_bits(v)));
                continue;
            }
            lower.insert(k.to_string(), f64::from_bits(v));
            // A letter rarer than 1 in 10,000 in a language's corpus is foreign text in it
            // (Czech ř in the Slovak corpus): leave it out so it counts as foreign.
            if n == 1 && f64::from_bits(v) < RARE_LETTER {
                continue;
            }
            table
                .entry(key(k))
                .or_default()
                .push((id, quantise(f64::from_bits(v))));
        }
        // Rank 5-grams by how often they occur (the product of their conditionals down the
        // chain), not by their own conditional: a rare context with a certain continuation
        // says little about a language.
        let mut ranked: Vec<(f64, String, f64)> = fives
            .into_iter()
            .filter_map(|(g, ln_p)| {
                let prefixes: Option<f64> = g
                    .char_indices()
                    .skip(1)
                    .map(|(i, _)| lower.get(&g[..i]).copied())
                    .sum();
                Some((prefixes? + ln_p, g, ln_p))
            })
            .collect();
        ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (_, g, ln_p) in ranked.into_iter().take(FIVEGRAMS_PER_LANGUAGE) {
            table.entry(key(&g)).or_default().push((id, quantise(ln_p)));
        }
    }
    for (code, path) in OWN {
        println!("cargo:rerun-if-changed={path}");
        let id = codes.len() as u8;
        codes.push(code);
        max_orders.push(OWN_MAX_ORDER as u8);
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for (g, ln_p) in train(&text) {
            table.entry(key(&g)).or_default().push((id, quantise(ln_p)));
        }
    }

    // Layout (little-endian): b"TLID", version u32 (2), n_langs u32, codes (2 bytes each),
    // longest order per language (1 byte each), slots_log2 u32, slots [(fingerprint u32,
    // offset u32)], entries_len u32, entries [count u8, (lang u8, q u8) × count]. Fingerprint 0 marks an empty slot.
    let slots_log2 = (table.len() as f64 * 1.6).log2().ceil() as u32;
    let mask = (1u64 << slots_log2) - 1;
    let mut slots = vec![(0u32, 0u32); 1 << slots_log2];
    let mut entries: Vec<u8> = Vec::new();
    let mut keys: Vec<u64> = table.keys().copied().collect();
    keys.sort_unstable();
    for h in keys {
        let list = &table[&h];
        let mut i = (h & mask) as usize;
        while slots[i].0 != 0 {
            i = (i + 1) & mask as usize;
        }
        slots[i] = (((h >> 32) as u32) | 1, entries.len() as u32);
        entries.push(list.len() as u8);
        for &(l, q) in list {
            entries.extend_from_slice(&[l, q]);
        }
    }
    let mut out = Vec::with_capacity(slots.len() * 8 + entries.len() + 512);
    out.extend_from_slice(b"TLID");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(codes.len() as u32).to_le_bytes());
    for c in &codes {
        out.extend_from_slice(c.as_bytes());
    }
    out.extend_from_slice(&max_orders);
    out.extend_from_slice(&slots_log2.to_le_bytes());
    for (fp, off) in &slots {
        out.extend_from_slice(&fp.to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
    }
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    out.extend_from_slice(&entries);
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("language.model");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(&out))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
