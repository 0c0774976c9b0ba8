//! The detector: a naive-Bayes score over character 1–5-grams with back-off, a prior from how
//! many people write each language online, optional priors from the platform's hint and the
//! author's recent languages, and the writing system as a fast path.
//!
//! Contract: [`Detector::detect`] is a pure function of its inputs (text, hint, recent
//! languages), thread-safe, allocation-light (the cleaned text), and returns `und` with
//! confidence 0 when the post has no letters.

use super::clean::{clean, remove_phrases, Cleaned, Script};
use super::model::{ngram_hash_extend, ngram_hash_finish, Model, NGRAM_HASH_SEED, QUANT};

/// Longest n-gram looked up (the model keeps orders 1–4 whole and frequent 5-grams).
const MAX_ORDER: usize = 5;
/// Charged per order a language has to back off, in nats: ln(1/0.4), the factor of Brants et
/// al.'s "stupid back-off". Without it a language that lacks a 5-gram would score its shorter
/// n-gram's higher probability in its place and gain from not knowing the longer one.
const BACKOFF: f32 = 0.92;
/// Log-probability charged to a language that has no n-gram at a position, not even the
/// character: the letter is foreign to it.
const FLOOR: f32 = -12.0;
/// Scores are sums over five correlated orders; confidence treats them as this many nats.
const CONFIDENCE_SCALE: f32 = 0.25;

/// Approximate people writing each language online, in millions (rounded public figures of
/// internet users by first language; small and classical languages get small numbers). The
/// prior is `prior_weight × ln(users / 1200)`. Operators override any entry in config.
pub const ONLINE_MILLIONS: &[(&str, f32)] = &[
    ("af", 7.0),
    ("ar", 240.0),
    ("az", 10.0),
    ("be", 5.0),
    ("bg", 7.0),
    ("bn", 100.0),
    ("bs", 3.0),
    ("ca", 10.0),
    ("cs", 10.0),
    ("cy", 0.9),
    ("da", 5.5),
    ("de", 95.0),
    ("el", 11.0),
    ("en", 1200.0),
    ("eo", 0.2),
    ("es", 360.0),
    ("et", 1.2),
    ("eu", 0.8),
    ("fa", 70.0),
    ("fi", 5.5),
    ("fr", 150.0),
    ("ga", 0.3),
    ("gl", 2.5),
    ("gu", 30.0),
    ("he", 8.0),
    ("hi", 200.0),
    ("hr", 4.0),
    ("hu", 9.0),
    ("hy", 3.0),
    ("id", 200.0),
    ("is", 0.35),
    ("it", 60.0),
    ("ja", 118.0),
    ("ka", 3.0),
    ("kk", 12.0),
    ("ko", 78.0),
    ("la", 0.05),
    ("lg", 2.0),
    ("lt", 3.0),
    ("lv", 2.0),
    ("mi", 0.1),
    ("mk", 2.0),
    ("mn", 3.0),
    ("mr", 40.0),
    ("ms", 40.0),
    ("mt", 0.5),
    ("nb", 5.0),
    ("nl", 24.0),
    ("nn", 0.7),
    ("pa", 25.0),
    ("pl", 33.0),
    ("pt", 170.0),
    ("ro", 20.0),
    ("ru", 116.0),
    ("sk", 5.0),
    ("sl", 2.0),
    ("sn", 5.0),
    ("so", 4.0),
    ("sq", 5.0),
    ("sr", 8.0),
    ("st", 3.0),
    ("sv", 10.0),
    ("sw", 20.0),
    ("ta", 40.0),
    ("te", 40.0),
    ("th", 55.0),
    ("tl", 60.0),
    ("tn", 2.0),
    ("tr", 70.0),
    ("ts", 2.0),
    ("uk", 30.0),
    ("ur", 60.0),
    ("vi", 70.0),
    ("xh", 4.0),
    ("yo", 15.0),
    ("zh", 900.0),
    ("zu", 8.0),
];

/// Codes people and platforms use that the model spells differently.
pub fn canonical(code: &str) -> &str {
    match code {
        "no" => "nb",
        "iw" => "he",
        "in" => "id",
        "zh-cn" | "zh-tw" | "zh-Hans" | "zh-Hant" => "zh",
        "fil" => "tl",
        c => c,
    }
}

/// A detection: ISO 639-1 code (`und` when there is nothing to go on) and a 0–1 confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub lang: &'static str,
    pub confidence: f32,
    /// The model's id of `lang` (`None` for `und`), for priors that learn from detections.
    pub id: Option<u8>,
}

impl Detection {
    pub const UND: Detection = Detection {
        lang: "und",
        confidence: 0.0,
        id: None,
    };
}

/// What the caller knows about the post besides its text.
#[derive(Debug, Default, Clone, Copy)]
pub struct Context<'a> {
    /// The platform's language hint (`lang` on input).
    pub hint: Option<&'a str>,
    /// The author's recently detected languages (model ids), most recent last.
    pub recent: &'a [u8],
    /// A log prior per language id replacing the static one (the stream's learned mix,
    /// [`super::mix::LanguageMix`]).
    pub prior: Option<&'a [f32]>,
}

/// Tunable weights (nats); defaults in [`super::LanguageConfig`].
#[derive(Debug, Clone)]
pub struct Weights {
    pub prior: f32,
    pub hint: f32,
    pub author: f32,
    pub min_confidence: f32,
}

pub struct Detector {
    model: &'static Model,
    /// Log prior per language id; `-inf` for languages outside the candidate set.
    prior: Vec<f32>,
    /// Back-off charge per order (index order − 1) and language id: nothing beyond the longest
    /// order a language's model holds, so a language without 5-grams is not charged for them.
    backoff: Vec<Vec<f32>>,
    /// Scripts only one candidate writes, with that language.
    by_script: Vec<(Script, u8)>,
    /// The script each language is written in, by language id.
    scripts: Vec<Script>,
    /// Cleaned names removed before scoring.
    ignore: Vec<String>,
    w: Weights,
}

/// The script of a language the model knows (Latin unless listed).
pub fn script_of(code: &str) -> Script {
    match code {
        "be" | "bg" | "kk" | "mk" | "mn" | "ru" | "sr" | "uk" => Script::Cyrillic,
        "ar" | "fa" | "ur" => Script::Arabic,
        "hi" | "mr" => Script::Devanagari,
        "el" => Script::Greek,
        "he" => Script::Hebrew,
        "bn" => Script::Bengali,
        "pa" => Script::Gurmukhi,
        "gu" => Script::Gujarati,
        "ta" => Script::Tamil,
        "te" => Script::Telugu,
        "th" => Script::Thai,
        "ka" => Script::Georgian,
        "hy" => Script::Armenian,
        "ko" => Script::Hangul,
        "ja" => Script::Kana,
        "zh" => Script::Han,
        _ => Script::Latin,
    }
}

impl Detector {
    /// `candidates`: the languages to choose from (model codes; empty = all). `millions`
    /// overrides entries of [`ONLINE_MILLIONS`]. Unknown codes are the caller's to reject
    /// (config validation does).
    pub fn new(candidates: &[String], millions: &[(String, f32)], w: Weights) -> Detector {
        let model = Model::get();
        let codes = model.codes();
        let allowed =
            |c: &str| candidates.is_empty() || candidates.iter().any(|k| canonical(k) == c);
        let users = |c: &str| {
            millions
                .iter()
                .find(|(k, _)| canonical(k) == c)
                .map(|(_, v)| *v)
                .or_else(|| {
                    ONLINE_MILLIONS
                        .iter()
                        .find(|(k, _)| *k == c)
                        .map(|(_, v)| *v)
                })
                .unwrap_or(1.0)
                .max(1e-3)
        };
        let prior = codes
            .iter()
            .map(|c| {
                if allowed(c) {
                    w.prior * (users(c) / 1200.0).ln()
                } else {
                    f32::NEG_INFINITY
                }
            })
            .collect();
        // A script that only one candidate writes decides alone.
        let scripts: Vec<Script> = codes.iter().map(|c| script_of(c)).collect();
        let candidates: Vec<u8> = (0..codes.len() as u8)
            .filter(|&i| allowed(codes[i as usize]))
            .collect();
        let by_script = candidates
            .iter()
            .map(|&i| (scripts[i as usize], i))
            .filter(|(s, _)| {
                candidates
                    .iter()
                    .filter(|&&j| scripts[j as usize].same_system(*s))
                    .count()
                    == 1
            })
            .collect();
        let backoff = (1..=MAX_ORDER)
            .map(|n| {
                model
                    .max_orders()
                    .iter()
                    .map(|&m| if n <= m as usize { BACKOFF } else { 0.0 })
                    .collect()
            })
            .collect();
        Detector {
            model,
            prior,
            backoff,
            by_script,
            scripts,
            ignore: Vec::new(),
            w,
        }
    }

    pub fn model(&self) -> &'static Model {
        self.model
    }

    /// Names (brands, products) to ignore: whole-word phrases, matched case-insensitively.
    pub fn ignoring(mut self, names: &[String]) -> Detector {
        self.ignore = names
            .iter()
            .map(|n| clean(n).text)
            .filter(|n| !n.is_empty())
            .collect();
        // Longest first, so "globex bank" goes before "globex".
        self.ignore.sort_by_key(|n| std::cmp::Reverse(n.len()));
        self
    }

    pub fn detect(&self, text: &str, ctx: Context<'_>) -> Detection {
        let mut cleaned = clean(text);
        if !self.ignore.is_empty() {
            remove_phrases(&mut cleaned.text, &self.ignore);
        }
        self.detect_cleaned(&cleaned, ctx)
    }

    pub fn detect_cleaned(&self, c: &Cleaned, ctx: Context<'_>) -> Detection {
        let Some(script) = c.script() else {
            return Detection::UND;
        };
        if let Some(&(_, id)) = self.by_script.iter().find(|(s, _)| s.same_system(script)) {
            let share = c.count(script) as f32 / c.letter_count() as f32;
            return Detection {
                lang: self.model.codes()[id as usize],
                confidence: 0.5 + 0.49 * share,
                id: Some(id),
            };
        }
        let mut scores = self.scores(&c.text, script);
        self.add_priors(&mut scores, ctx);
        // Only languages written in the post's script compete (lingua's models carry stray
        // letters of other scripts, e.g. Cyrillic in Latin's).
        for (s, ls) in scores.iter_mut().zip(&self.scripts) {
            if !ls.same_system(script) {
                *s = f32::NEG_INFINITY;
            }
        }
        self.decide(&scores)
    }

    /// Log-likelihood under each language of the cleaned text's words written in `script`
    /// (no priors). Words in other scripts (a brand name in a Russian post) are skipped.
    pub fn scores(&self, text: &str, script: Script) -> Vec<f32> {
        let n = self.prior.len();
        let mut total = vec![0f32; n];
        let mut cur = vec![FLOOR; n];
        let mut buf = [0u8; 4];
        // A word's n-grams (hash, order), then where each one's entry is: the table is far
        // larger than the caches, so all of a word's slots are requested before any is read,
        // then all its entries, and the misses overlap instead of queueing.
        let mut grams: Vec<(u64, usize)> = Vec::with_capacity(64);
        let mut found: Vec<Option<usize>> = Vec::with_capacity(64);
        for word in text.split(' ') {
            let first = word.chars().next();
            if !first.is_some_and(|c| Script::of(c).same_system(script)) {
                continue;
            }
            grams.clear();
            for (start, _) in word.char_indices() {
                let mut h = NGRAM_HASH_SEED;
                for (order, ch) in word[start..].chars().take(MAX_ORDER).enumerate() {
                    h = ngram_hash_extend(h, ch.encode_utf8(&mut buf).as_bytes());
                    let g = ngram_hash_finish(h);
                    self.model.prefetch_slot(g);
                    grams.push((g, order));
                }
            }
            found.clear();
            found.extend(grams.iter().map(|&(g, _)| {
                let off = self.model.locate(g);
                if let Some(off) = off {
                    self.model.prefetch_entry(off);
                }
                off
            }));
            // At each start, every order adds, per language, the longest n-gram it knows from
            // there (back-off), or FLOOR when it knows not even the letter.
            for (&(_, order), off) in grams.iter().zip(&found) {
                if order == 0 {
                    cur.fill(FLOOR);
                }
                for (c, b) in cur.iter_mut().zip(&self.backoff[order]) {
                    *c -= b;
                }
                if let Some(off) = *off {
                    for p in self.model.entry(off).chunks_exact(2) {
                        cur[p[0] as usize] = -(p[1] as f32) / QUANT;
                    }
                }
                for (t, c) in total.iter_mut().zip(&cur) {
                    *t += c;
                }
            }
        }
        total
    }

    /// The static log prior per language id (`-inf` outside the candidates).
    pub fn log_prior(&self) -> &[f32] {
        &self.prior
    }

    fn add_priors(&self, scores: &mut [f32], ctx: Context<'_>) {
        for (s, p) in scores.iter_mut().zip(ctx.prior.unwrap_or(&self.prior)) {
            *s += p;
        }
        if let Some(id) = ctx.hint.and_then(|h| self.model.id_of(canonical(h))) {
            scores[id as usize] += self.w.hint;
        }
        if !ctx.recent.is_empty() {
            let share = self.w.author / ctx.recent.len() as f32;
            for &id in ctx.recent {
                if let Some(s) = scores.get_mut(id as usize) {
                    *s += share;
                }
            }
        }
    }

    fn decide(&self, scores: &[f32]) -> Detection {
        let (best, top) =
            scores
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv {
                        (i, v)
                    } else {
                        (bi, bv)
                    }
                });
        if !top.is_finite() {
            return Detection::UND;
        }
        let z: f32 = scores
            .iter()
            .filter(|s| s.is_finite())
            .map(|s| ((s - top) * CONFIDENCE_SCALE).exp())
            .sum();
        let confidence = 1.0 / z;
        if confidence < self.w.min_confidence {
            return Detection::UND;
        }
        Detection {
            lang: self.model.codes()[best],
            confidence,
            id: Some(best as u8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(candidates: &[&str]) -> Detector {
        let c: Vec<String> = candidates.iter().map(|s| s.to_string()).collect();
        Detector::new(
            &c,
            &[],
            Weights {
                prior: 1.0,
                hint: 2.0,
                author: 2.0,
                min_confidence: 0.0,
            },
        )
    }

    #[test]
    fn common_languages_on_short_posts() {
        let d = det(&[]);
        for (text, want) in [
            ("@acme my card was charged twice and nobody answers", "en"),
            (
                "@acme je n'arrive plus à me connecter depuis ce matin",
                "fr",
            ),
            ("@acme no puedo entrar en la aplicación desde ayer", "es"),
            ("@acme a aplicação não funciona desde ontem", "pt"),
            ("@acme die App funktioniert seit gestern nicht mehr", "de"),
            ("@acme non riesco ad accedere all'app da ieri", "it"),
            ("@acme ik kan sinds gisteren niet inloggen", "nl"),
            ("@acme не могу войти в приложение со вчерашнего дня", "ru"),
            ("@acme не можу увійти в застосунок з учора", "uk"),
            ("@acme ég kemst ekki inn í appið síðan í gær", "is"),
            ("@acme no puc entrar a l'aplicació des d'ahir", "ca"),
            ("@acme ezin naiz aplikaziora sartu atzo arratsaldetik", "eu"),
            (
                "@acme non podo entrar na aplicación dende onte, xa estou farto",
                "gl",
            ),
            ("@acme ma nistax nidħol fl-applikazzjoni mill-bieraħ", "mt"),
            ("@acme uygulamaya dünden beri giremiyorum", "tr"),
            ("@acme لا أستطيع الدخول إلى التطبيق منذ أمس", "ar"),
            ("@acme אני לא מצליח להתחבר לאפליקציה", "he"),
            ("@acme मैं कल से ऐप में लॉग इन नहीं कर पा रहा हूं", "hi"),
            ("@acme 昨天开始无法登录应用", "zh"),
            ("@acme 昨日からアプリにログインできません", "ja"),
            ("@acme 어제부터 앱에 로그인할 수 없어요", "ko"),
            ("@acme ฉันเข้าสู่ระบบแอปไม่ได้ตั้งแต่เมื่อวาน", "th"),
            (
                "@acme tôi không thể đăng nhập vào ứng dụng từ hôm qua",
                "vi",
            ),
            (
                "@acme saya tidak bisa masuk ke aplikasi sejak kemarin",
                "id",
            ),
        ] {
            let got = d.detect(text, Context::default());
            assert_eq!(got.lang, want, "{text}: {got:?}");
            assert!(got.confidence > 0.3, "{text}: {got:?}");
        }
    }

    proptest::proptest! {
        // Handles, links, the RT marker and numbers are not language: adding them anywhere
        // never changes the answer.
        #[test]
        fn social_noise_never_changes_the_language(
            base in proptest::sample::select(vec![
                "the app has been down since this morning",
                "je n'arrive plus à me connecter depuis ce matin",
                "ich kann mich seit heute morgen nicht anmelden",
                "не могу войти в приложение с утра",
                "ma nistax nidħol fl-applikazzjoni",
            ]),
            handle in "@[A-Za-z0-9_]{1,15}",
            url in "https?://[a-z]{1,10}\\.[a-z]{2,3}/[A-Za-z0-9]{0,12}",
            n in 0u32..100_000,
            at in 0usize..8,
        ) {
            let d = det(&[]);
            let want = d.detect(base, Context::default()).lang;
            let mut words: Vec<String> = base.split(' ').map(str::to_string).collect();
            let at = at.min(words.len());
            words.insert(at, format!("{handle} {url} {n}"));
            let noisy = format!("RT {}", words.join(" "));
            proptest::prop_assert_eq!(d.detect(&noisy, Context::default()).lang, want);
        }
    }

    #[test]
    fn nothing_to_go_on_is_und() {
        let d = det(&[]);
        assert_eq!(
            d.detect("@acme 😡😡 http://t.co/x 123", Context::default()),
            Detection::UND
        );
    }

    #[test]
    fn candidates_restrict_and_hints_tip_close_calls() {
        let d = det(&["es", "pt"]);
        let got = d.detect("vamos lá", Context::default());
        assert!(["es", "pt"].contains(&got.lang), "{got:?}");
        // A short, ambiguous post follows a hint, a long clear one does not.
        let all = det(&[]);
        let short = "que bom";
        assert_eq!(
            all.detect(
                short,
                Context {
                    hint: Some("pt"),
                    ..Default::default()
                }
            )
            .lang,
            "pt"
        );
        let clear = "the application has not been working since yesterday morning";
        assert_eq!(
            all.detect(
                clear,
                Context {
                    hint: Some("de"),
                    ..Default::default()
                }
            )
            .lang,
            "en"
        );
        // The author's recent languages weigh in the same way.
        let m = Model::get();
        let fr = [m.id_of("fr").unwrap(); 4];
        let alone = all.detect("si", Context::default());
        let with = all.detect(
            "si",
            Context {
                recent: &fr,
                ..Default::default()
            },
        );
        assert_ne!(alone.lang, "fr");
        assert_eq!(with.lang, "fr", "{alone:?} {with:?}");
    }
}
