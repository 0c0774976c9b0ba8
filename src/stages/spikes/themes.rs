//! Theme keys: the terms a brand's customers keep writing about ("login", "delivery",
//! "refund"), learned from the stream, each detected as its own brand × theme series.
//!
//! Why: a login outage at a busy brand can be a few percent of its volume, lost in the brand
//! series' noise but unmistakable in the "login" series. Platform, language and intent cannot
//! say that; the terms can.
//!
//! Contract:
//! - Per brand, a Misra–Gries summary over the distinct content terms of the counted mentions
//!   (not exact duplicates or reposts) finds the frequent terms in bounded memory: at most
//!   `2 × capacity` counters, keyed by hash (the stage uses `max(25 × theme_keys, 1024)`, so a
//!   term in 1 % of tweet-length mentions is never lost to the long tail); a term's text is kept only once it has been seen
//!   [`NAME_AT`] times. Counts halve every day, so the set follows what customers write now.
//! - At each [`ThemeSketch::wanted`] review the `theme_keys` most frequent terms carried by at
//!   least `theme_min_mentions` mentions become themes. A term carried by more than half of
//!   the brand's mentions (its own name, "app" for an app brand) is not a theme: it is the
//!   brand series again.
//! - Themes must recur to have a baseline: a brand-new series calibrates for
//!   `min_calibration_days` like any other, so a term never seen before cannot fire on its own.
//!   The brand series and the incident's explanation (which finds the spike's terms after the
//!   fact) cover that case.
//! - The terms come from the redacted text and exclude numbers, so no card or account number
//!   becomes a theme. They are not metric labels (free text), only incident dimensions.

use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use crate::stages::dedup::text::{
    for_each_token, for_each_token_in, is_stopword_hash, word_hash, word_hash_set, HashSet64,
};

/// Seen this many times (after decay) before the term's text is kept.
pub const NAME_AT: u32 = 3;
/// Distinct terms taken from one mention.
const MAX_TERMS: usize = 24;

/// Words that say nothing about what a spike is about, beyond the function words dedup
/// already leaves out ([`is_stopword_hash`], not repeated here): adverbs of time and degree, prepositions,
/// auxiliaries, pronouns, greetings and the clock words of "since this morning", in the
/// languages of the reply templates but Icelandic. Without them a French outage was
/// labelled "depuis chaque fois" ("since each time"). Words that can name a problem stay
/// terms, even where general stop lists (the ISO lists of the `stop-words` crate, say) drop
/// them: "down", "working", "problem", "back", "mal" (Spanish "badly"); so do words that are
/// fillers in one language and things in another ("car", "door", "hat").
const FILLER_WORDS: &str = "\
    since already even ever never always every each today tonight yesterday tomorrow \
    morning evening night week weeks hour hours minute minutes day days time times anymore \
    really literally actually anyone someone something anything everything nothing everyone \
    because though although while until after before during without within through around \
    like well lol omg wtf guys keep keeps going gonna wanna trying tried try want need needs \
    make made know think seems seem say said tell told lets let whats theres isnt \
    doesnt didnt wont cannot youve weve theyre hello \
    depuis chaque fois plus encore toujours jamais déjà deja aussi très tres trop bien tout \
    tous toute toutes rien chez avant après apres pendant vers contre entre sous matin soir \
    aujourd hui demain hier heure heures minute jour jours semaine maintenant vraiment quand \
    comme alors donc parce puis même autre autres quelqu quelque fait faire être etre \
    avoir suis êtes sommes ont avez avons était etait été ete peut peux veux faut merci bonjour \
    svp stp ça cela ceci celui celle leur leurs notre votre nos vos moi toi eux \
    seit immer noch schon wieder nie jetzt heute gestern morgen abend stunden stunde minuten \
    tag tage woche sehr auch nur doch eben bitte danke hallo kann können kannst geht gibt \
    habe haben bist waren wird werden wurde sich uns euch ihm ihn ihnen diese \
    dieser dieses weil wenn als alle alles etwas nichts jemand warum wieso \
    gerade \
    desde cada vez veces todavía todavia aún aun siempre nunca hoy ayer mañana manana tarde \
    noche horas hora minutos día dia días dias semana ahora también tambien solo sólo otra \
    otro otros todo todos toda todas nada algo alguien porque cuando como donde esta este esto \
    estos estas eso ese esa hay hace estoy está están estan estar ser soy fue tengo tiene \
    tienen puedo puede gracias hola favor sin entre hasta sobre durante antes después despues \
    \
    vezes ainda sempre hoje ontem amanhã amanha manhã manha noite dia agora muito também só \
    outra outro alguém alguem quando onde isso isto esse essa estão estao estou sou foi tenho \
    tem têm posso pode obrigado obrigada olá ola favor sem até depois já \
    ogni volta volte ancora mai già gia oggi ieri domani mattina sera notte ore ora minuti \
    giorno giorni settimana adesso molto anche altra altro tutto tutti tutta tutte niente \
    qualcosa qualcuno perché perche quando come dove questa questo quello quella sto sta \
    stanno essere era stato hai hanno posso può puo grazie ciao senza tra fra fino sopra \
    prima dopo più piu \
    sinds elke keer weer nog steeds altijd nooit vandaag gisteren ochtend avond nacht uur \
    uren minuten dagen week erg alleen andere alles iets niets iemand waarom omdat \
    wanneer als hoe waar deze dit bent heeft hebben kan kunnen wordt worden werd \
    bedankt dank hallo zonder tussen tot tijdens bij naar uit \
    уже еще ещё всегда никогда сегодня вчера завтра утра утром вечером часа часов минут день \
    дня дней неделю сейчас очень тоже также только все всё ничего что это как когда где \
    почему потому если или для без при меня мне мой моя наш ваш его её их они так там тут вот";

fn fillers() -> &'static HashSet64 {
    static SET: OnceLock<HashSet64> = OnceLock::new();
    SET.get_or_init(|| word_hash_set(FILLER_WORDS))
}

/// Whether a token hash ([`word_hash`]) is a function or filler word: never a theme.
fn is_filler_hash(h: u64) -> bool {
    is_stopword_hash(h) || fillers().contains(&h)
}

/// A content term's hash, or `None` for function and filler words, numbers and words of one
/// or two letters as written (`raw`: "app" is a term though its token is "ap").
fn term(token: &str, raw: &str) -> Option<u64> {
    if raw.chars().nth(2).is_none() || token.chars().all(char::is_numeric) {
        return None;
    }
    let h = word_hash(token);
    (!is_filler_hash(h)).then_some(h)
}

/// The hash a term is known by: that of its dedup token ("App", "app" and "appp" are one
/// term), so dedup's hashes of a mention's words are terms as they are.
pub fn term_hash(t: &str) -> u64 {
    let mut h = None;
    for_each_token(t, |tok| {
        h.get_or_insert_with(|| word_hash(tok));
    });
    h.unwrap_or_else(|| word_hash(t))
}

/// Calls `f` once per distinct content term of `text`, with its hash and its name (the word
/// as first written, lowercased: "error", not the token "eror"), in text order.
pub fn for_each_term(text: &str, mut f: impl FnMut(u64, &str)) {
    let mut seen = [0u64; MAX_TERMS];
    let mut n = 0;
    let mut name = String::new();
    for_each_token_in(text, |t, raw| {
        if n == MAX_TERMS {
            return;
        }
        let Some(h) = term(t, raw) else { return };
        if seen[..n].contains(&h) {
            return;
        }
        seen[n] = h;
        n += 1;
        name.clear();
        name.extend(raw.chars().flat_map(char::to_lowercase));
        f(h, &name);
    });
}

/// One brand's frequent terms and its tracked themes.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ThemeSketch {
    counts: FxHashMap<u64, u32>,
    names: FxHashMap<u64, Box<str>>,
    capacity: usize,
    /// Counted mentions observed (decayed like the counts).
    total: u32,
    /// Tracked themes: term hash → series index.
    pub tracked: FxHashMap<u64, usize>,
}

impl ThemeSketch {
    pub fn new(capacity: usize) -> Self {
        ThemeSketch {
            capacity: capacity.max(16),
            ..Default::default()
        }
    }

    /// Feeds one counted mention's text and appends the series of its tracked themes to `out`.
    pub fn observe(&mut self, text: &str, out: &mut Vec<usize>) {
        let mut hashes = [0u64; MAX_TERMS];
        let mut n = 0;
        for_each_term(text, |h, _| {
            hashes[n] = h;
            n += 1;
        });
        self.observe_hashes(&hashes[..n], text, out);
    }

    /// [`Self::observe`] from the distinct content-word hashes dedup computed already
    /// ([`crate::mention::DedupInfo::terms`]): no tokenising, except to name a term the
    /// first time it becomes frequent. Names come from `text` (the redacted text) through the
    /// same filter as [`for_each_term`], so a hash that is a number, a short word or redacted
    /// personal data gets no name and never becomes a theme.
    pub fn observe_hashes(&mut self, hashes: &[u64], text: &str, out: &mut Vec<usize>) {
        self.total = self.total.saturating_add(1);
        let mut unnamed = false;
        // Dedup's terms leave out its function words only: fillers would take counters.
        for &h in hashes
            .iter()
            .take(MAX_TERMS)
            .filter(|&&h| !fillers().contains(&h))
        {
            let c = self.counts.entry(h).or_insert(0);
            *c += 1;
            if *c == NAME_AT {
                unnamed |= !self.names.contains_key(&h);
            }
            if let Some(&i) = self.tracked.get(&h) {
                out.push(i);
            }
        }
        if unnamed {
            let (counts, names) = (&self.counts, &mut self.names);
            for_each_term(text, |h, t| {
                if counts.get(&h).is_some_and(|&c| c >= NAME_AT) && !names.contains_key(&h) {
                    names.insert(h, t.into());
                }
            });
        }
        if self.counts.len() > 2 * self.capacity {
            self.compact();
        }
    }

    /// Misra–Gries step: subtracts the (capacity + 1)-th largest count from every counter and
    /// drops those left at zero, so at most `capacity` survive. Amortised O(1) per term.
    fn compact(&mut self) {
        let mut v: Vec<u32> = self.counts.values().copied().collect();
        let k = self.capacity.min(v.len() - 1);
        let (_, &mut cut, _) = v.select_nth_unstable_by(k, |a, b| b.cmp(a));
        self.counts.retain(|_, c| {
            *c = c.saturating_sub(cut);
            *c > 0
        });
        self.forget_names();
    }

    fn forget_names(&mut self) {
        let (counts, tracked) = (&self.counts, &self.tracked);
        self.names
            .retain(|h, _| tracked.contains_key(h) || counts.get(h).is_some_and(|&c| c >= NAME_AT));
    }

    /// Halves every count (once a day): old habits fade.
    pub fn decay(&mut self) {
        self.total /= 2;
        self.counts.retain(|_, c| {
            *c /= 2;
            *c > 0
        });
        self.forget_names();
    }

    /// The terms that should be themes now, most frequent first (ties by hash: the same
    /// input gives the same themes).
    pub fn wanted(&self, keys: usize, min_mentions: u32) -> Vec<u64> {
        let half = self.total / 2;
        let mut v: Vec<(u64, u32)> = self
            .counts
            .iter()
            .filter(|(h, &c)| {
                c >= min_mentions.max(NAME_AT) && c <= half && self.names.contains_key(h)
            })
            .map(|(&h, &c)| (h, c))
            .collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(keys);
        v.into_iter().map(|(h, _)| h).collect()
    }

    pub fn name(&self, h: u64) -> Option<&str> {
        self.names.get(&h).map(|s| &**s)
    }

    /// Current count of a term (0 when it fell out of the summary).
    pub fn count(&self, h: u64) -> u32 {
        self.counts.get(&h).copied().unwrap_or(0)
    }

    pub fn size_bytes(&self) -> usize {
        self.counts.capacity() * 16
            + self.names.capacity() * 24
            + self.names.values().map(|s| s.len()).sum::<usize>()
            + self.tracked.capacity() * 16
    }
}

/// Whether `text` carries the term (what an incident's theme key selects).
pub fn has_term(text: &str, term: &str) -> bool {
    let h = term_hash(term);
    let mut found = false;
    for_each_term(text, |x, _| found |= x == h);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut ThemeSketch, text: &str) -> Vec<usize> {
        let mut out = Vec::new();
        s.observe(text, &mut out);
        out
    }

    #[test]
    fn frequent_terms_become_wanted_and_the_brand_name_does_not() {
        let mut s = ThemeSketch::new(64);
        for i in 0..2_000 {
            let text = match i % 10 {
                0..=2 => format!("acme login broken {i}"),
                3 => format!("acme delivery late word{i}"),
                _ => format!("acme thing{i} other{i} stuff{i}"),
            };
            feed(&mut s, &text);
        }
        let wanted: Vec<&str> = s
            .wanted(5, 50)
            .into_iter()
            .filter_map(|h| s.name(h))
            .collect();
        let mut top2 = wanted[..2].to_vec();
        top2.sort_unstable();
        assert_eq!(top2, vec!["broken", "login"], "{wanted:?}");
        assert!(wanted.contains(&"delivery"), "{wanted:?}");
        assert!(
            !wanted.contains(&"acme"),
            "carried by every mention: {wanted:?}"
        );
        assert!(s.counts.len() <= 2 * 64 + 1);
    }

    fn terms_of(text: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each_term(text, |_, t| v.push(t.to_string()));
        v
    }

    #[test]
    fn filler_words_are_not_terms_and_problem_words_are() {
        assert_eq!(
            terms_of("panne chez Acme ? l'appli ne marche plus depuis ce matin, elle plante à chaque fois"),
            ["panne", "acme", "appli", "marche", "plante"]
        );
        assert_eq!(
            terms_of("seit heute morgen geht die App nicht, immer noch Fehler"),
            ["app", "fehler"]
        );
        assert_eq!(
            terms_of("la app funciona mal desde hoy, todavía no puedo entrar"),
            ["app", "funciona", "mal", "entrar"]
        );
        assert_eq!(
            terms_of("site still down since this morning, app not working, every time an error"),
            ["site", "down", "app", "working", "error"]
        );
        // Dedup's hashes go through the same filter: a filler never takes a counter.
        let mut s = ThemeSketch::new(16);
        let text = "depuis ce matin toujours panne";
        s.observe_hashes(
            &crate::stages::dedup::sketch::Sketch::of(text).content_hashes,
            text,
            &mut Vec::new(),
        );
        assert_eq!(s.counts.len(), 1, "only \"panne\" is counted");
    }

    #[test]
    fn tracked_terms_route_mentions_to_their_series() {
        let mut s = ThemeSketch::new(16);
        s.tracked.insert(term_hash("login"), 7);
        assert_eq!(feed(&mut s, "Cannot LOGIN, login fails"), vec![7]);
        assert!(feed(&mut s, "all good").is_empty());
        assert!(has_term("cannot login!!", "login"));
        assert!(!has_term("loginx", "login"));
    }

    #[test]
    fn dedup_hashes_count_like_the_text_and_name_only_real_terms() {
        use crate::stages::dedup::sketch::Sketch;
        let (mut a, mut b) = (ThemeSketch::new(64), ThemeSketch::new(64));
        for i in 0..40 {
            let text = if i % 5 < 2 {
                format!("card 4111111111111111 declined at shop{}", i % 3)
            } else {
                format!("lovely thing{i}")
            };
            a.observe(&text, &mut Vec::new());
            b.observe_hashes(&Sketch::of(&text).content_hashes, &text, &mut Vec::new());
        }
        let names = |s: &ThemeSketch| {
            let mut v: Vec<String> = s
                .wanted(10, 3)
                .into_iter()
                .filter_map(|h| s.name(h).map(str::to_string))
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&a), names(&b));
        // "lovely" is in more than half the mentions; the card number is never a term.
        assert_eq!(names(&b), ["card", "declined", "shop0", "shop1", "shop2"]);
    }

    #[test]
    fn numbers_and_stopwords_are_not_terms() {
        let mut got = Vec::new();
        for_each_term("the card 4111111111111111 was declined at 10", |_, t| {
            got.push(t.to_string())
        });
        assert_eq!(got, vec!["card", "declined"]);
    }

    #[test]
    fn decay_forgets() {
        let mut s = ThemeSketch::new(16);
        for _ in 0..100 {
            feed(&mut s, "refund please");
        }
        for _ in 0..8 {
            s.decay();
        }
        assert!(s.wanted(5, 1).is_empty());
        assert_eq!(s.count(term_hash("refund")), 0);
    }
}
