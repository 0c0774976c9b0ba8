//! The mass-incident broadcast rule and its drafts.
//!
//! When many customers share one problem, the brand should post one public status update
//! instead of answering each person. [`Rule::evaluate`] decides from an incident event whether
//! that point is reached; [`Drafter::draft`] writes the status update and the short reply for
//! affected customers in the incident's main languages, from editable templates
//! (`pipelines/templates/<lang>.toml`, compiled in; `alerting.broadcast.templates` points at an
//! operator's folder).
//!
//! The rule runs inside the spike stage, in event time, so backtests reproduce it exactly.
//! Contract: one `initial` broadcast per incident, `reminder`s every `reminder_every_secs`
//! while it stays open, one `resolved` when it resolves.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::event::IncidentEvent;
use super::templates::render;
pub use super::templates::{Template, TemplateError, Templates, BUILTIN};

/// `[alerting.broadcast]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BroadcastConfig {
    pub enabled: bool,
    /// Always required: this many unique authors in the incident's window (0 = no gate).
    pub min_unique_authors: u64,
    /// Any one of these triggers, when the gate holds (0 disables a trigger):
    /// the incident's severity (1–10) …
    pub min_severity: u8,
    /// … the share of outage, safety and security intents …
    pub min_critical_share: f64,
    /// … growth: observed / expected …
    pub min_growth: f64,
    /// … an author with at least this many followers among the top influencers.
    pub influencer_followers: u64,
    /// A reminder draft this often while the incident stays open (0 = none).
    pub reminder_every_secs: u64,
    /// The public status page the drafts link to.
    pub status_url: String,
    /// At most this many draft languages, those with at least `min_language_share`.
    pub languages: usize,
    pub min_language_share: f64,
    /// Used when no main language of the incident has a template.
    pub default_language: String,
    /// A folder of `<lang>.toml` templates (relative to the pipeline file); the built-in
    /// ones when unset. Files there replace built-in languages and add new ones.
    pub templates: Option<String>,
    /// Affected mention ids listed in a broadcast.
    pub affected_ids: usize,
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Default for BroadcastConfig {
    fn default() -> Self {
        BroadcastConfig {
            enabled: true,
            min_unique_authors: 25,
            min_severity: 7,
            min_critical_share: 0.4,
            min_growth: 8.0,
            influencer_followers: 250_000,
            reminder_every_secs: 1800,
            status_url: "https://status.example.com".into(),
            languages: 3,
            min_language_share: 0.15,
            default_language: "en".into(),
            templates: None,
            affected_ids: 500,
            base_dir: PathBuf::from("."),
        }
    }
}

impl BroadcastConfig {
    pub fn validate(&self, bad: &mut dyn FnMut(&str, &str)) {
        if !(0.0..=1.0).contains(&self.min_critical_share) {
            bad(
                "alerting.broadcast.min_critical_share",
                "must be between 0 and 1",
            );
        }
        if !(0.0..=1.0).contains(&self.min_language_share) {
            bad(
                "alerting.broadcast.min_language_share",
                "must be between 0 and 1",
            );
        }
        if self.min_severity > 10 {
            bad("alerting.broadcast.min_severity", "must be 0–10");
        }
        if self.languages == 0 {
            bad("alerting.broadcast.languages", "must be at least 1");
        }
        match Templates::load(self) {
            Err(e) => bad("alerting.broadcast.templates", &e.to_string()),
            Ok(t) if !t.by_lang.contains_key(&self.default_language) => bad(
                "alerting.broadcast.default_language",
                &format!(
                    "has no template; add {}.toml to the templates folder",
                    self.default_language
                ),
            ),
            Ok(_) => {}
        }
    }
}

/// What a broadcast event carries (the `broadcast` field of an incident event).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Broadcast {
    /// `initial`, `reminder` or `resolved`.
    pub kind: String,
    /// Why the rule holds: "142 unique authors ≥ 25", "outage/safety share 0.71 ≥ 0.40".
    pub reasons: Vec<String>,
    /// Drafts in the incident's main languages, most common first.
    pub drafts: Vec<Draft>,
    pub status_url: String,
    /// Mentions the update covers (their individual replies can point to it).
    pub affected_mention_ids: Vec<String>,
    pub affected_authors: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Draft {
    pub lang: String,
    /// The public post: a status update, a reminder, or the resolution.
    pub status_update: String,
    /// The short reply to each affected customer.
    pub customer_reply: String,
}

/// The decision part: thresholds only.
pub struct Rule<'a>(pub &'a BroadcastConfig);

impl Rule<'_> {
    /// `Some(reasons)` when the incident needs a public update.
    pub fn evaluate(&self, ev: &IncidentEvent) -> Option<Vec<String>> {
        let c = self.0;
        if !c.enabled {
            return None;
        }
        let authors = ev.explanation.unique_authors;
        if authors < c.min_unique_authors {
            return None;
        }
        let mut reasons = vec![format!(
            "{authors} unique authors ≥ {}",
            c.min_unique_authors
        )];
        let n = reasons.len();
        if c.min_severity > 0 && ev.severity >= c.min_severity {
            reasons.push(format!("severity {} ≥ {}", ev.severity, c.min_severity));
        }
        let critical = ev.critical_share();
        if c.min_critical_share > 0.0 && critical >= c.min_critical_share {
            reasons.push(format!(
                "outage/safety/security share {critical:.2} ≥ {:.2}",
                c.min_critical_share
            ));
        }
        if c.min_growth > 0.0 && ev.stats.ratio >= c.min_growth {
            reasons.push(format!(
                "{:.1}× the expected volume ≥ {:.1}×",
                ev.stats.ratio, c.min_growth
            ));
        }
        if c.influencer_followers > 0 {
            if let Some(i) = ev
                .explanation
                .top_influencers
                .iter()
                .find(|i| i.followers >= c.influencer_followers)
            {
                reasons.push(format!(
                    "influencer @{} ({} followers) involved",
                    i.author, i.followers
                ));
            }
        }
        (reasons.len() > n).then_some(reasons)
    }
}

/// Writes drafts from templates.
pub struct Drafter {
    cfg: BroadcastConfig,
    templates: Templates,
}

impl Drafter {
    pub fn new(cfg: &BroadcastConfig) -> Result<Self, TemplateError> {
        Ok(Drafter {
            cfg: cfg.clone(),
            templates: Templates::load(cfg)?,
        })
    }

    pub fn config(&self) -> &BroadcastConfig {
        &self.cfg
    }

    /// The incident's main languages that have a template, most common first.
    pub fn languages(&self, ev: &IncidentEvent) -> Vec<String> {
        let mut langs: Vec<String> = ev
            .explanation
            .languages
            .iter()
            .filter(|s| s.share >= self.cfg.min_language_share)
            .map(|s| s.value.clone())
            .filter(|l| self.templates.by_lang.contains_key(l))
            .take(self.cfg.languages)
            .collect();
        if langs.is_empty() {
            langs.push(self.cfg.default_language.clone());
        }
        langs
    }

    /// The reply a covered mention in `lang` gets (the default language's when `lang` has
    /// no template).
    pub fn reply(&self, lang: &str, ev: &IncidentEvent, brand_name: &str) -> String {
        let t = self.template(lang);
        render(&t.customer_reply, &self.vars(t, ev, ev, brand_name))
    }

    fn template(&self, lang: &str) -> &Template {
        self.templates
            .by_lang
            .get(lang)
            .or_else(|| self.templates.by_lang.get(&self.cfg.default_language))
            .or_else(|| self.templates.by_lang.get("en"))
            .expect("the built-in English template exists")
    }

    /// Placeholder values: what the problem is from `about`, how long and how many from `ev`.
    fn vars<'a>(
        &'a self,
        t: &'a Template,
        about: &'a IncidentEvent,
        ev: &'a IncidentEvent,
        brand_name: &'a str,
    ) -> Vec<(&'a str, String)> {
        let intent = about.main("intent");
        let problem = t
            .problems
            .get(&intent)
            .or_else(|| t.problems.get("other"))
            .cloned()
            .unwrap_or_default();
        let opened = IncidentEvent::secs(&ev.opened_at);
        let since = chrono::DateTime::from_timestamp(opened, 0)
            .map(|d| d.format("%H:%M").to_string())
            .unwrap_or_default();
        let end = ev
            .resolved_at
            .as_deref()
            .map_or(IncidentEvent::secs(&ev.at), IncidentEvent::secs);
        let mins = ((end - opened).max(0) + 59) / 60;
        vec![
            ("brand", brand_name.to_string()),
            ("problem", problem),
            ("since", since),
            ("duration", format!("{mins} min")),
            ("affected", ev.explanation.unique_authors.to_string()),
            ("status_url", self.cfg.status_url.clone()),
            (
                "theme",
                about
                    .explanation
                    .themes
                    .first()
                    .map(|t| t.label.clone())
                    .unwrap_or_default(),
            ),
        ]
    }

    /// Drafts of `kind` (`initial`, `reminder`, `resolved`) at `ev`, about the incident as
    /// `about` announced it: a reminder or an all-clear speaks the languages of the first
    /// update and names the same problem (after the surge, the latest event's mentions are
    /// ordinary traffic, mostly English and not about the outage); durations and counts are
    /// `ev`'s.
    pub fn draft(
        &self,
        about: &IncidentEvent,
        ev: &IncidentEvent,
        kind: &str,
        reasons: Vec<String>,
        brand_name: &str,
    ) -> Broadcast {
        let drafts = self
            .languages(about)
            .into_iter()
            .map(|lang| {
                let t = self.template(&lang);
                let vars = self.vars(t, about, ev, brand_name);
                let (status, reply) = match kind {
                    "resolved" => (&t.status_resolved, &t.resolved_reply),
                    "reminder" => (&t.status_reminder, &t.customer_reply),
                    _ => (&t.status_update, &t.customer_reply),
                };
                Draft {
                    lang,
                    status_update: render(status, &vars),
                    customer_reply: render(reply, &vars),
                }
            })
            .collect();
        Broadcast {
            kind: kind.to_string(),
            reasons,
            drafts,
            status_url: self.cfg.status_url.clone(),
            affected_mention_ids: ev
                .explanation
                .mention_ids
                .iter()
                .take(self.cfg.affected_ids)
                .cloned()
                .collect(),
            affected_authors: ev.explanation.unique_authors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::spikes::explain::{Influencer, Share};

    fn event() -> IncidentEvent {
        let mut ev = IncidentEvent {
            event: "opened".into(),
            incident_id: "northwind-20261123T1000Z".into(),
            brand: "northwind".into(),
            opened_at: "2026-11-23T10:00:00Z".into(),
            at: "2026-11-23T10:03:00Z".into(),
            severity: 5,
            ..Default::default()
        };
        ev.stats.ratio = 3.0;
        ev.explanation.unique_authors = 40;
        ev.explanation.languages = vec![
            Share {
                value: "fr".into(),
                share: 0.7,
            },
            Share {
                value: "en".into(),
                share: 0.2,
            },
            Share {
                value: "xx".into(),
                share: 0.1,
            },
        ];
        ev.explanation.intents = vec![
            Share {
                value: "outage".into(),
                share: 0.5,
            },
            Share {
                value: "complaint".into(),
                share: 0.3,
            },
        ];
        ev.explanation.mention_ids = vec!["a".into(), "b".into()];
        ev
    }

    #[test]
    fn the_rule_needs_the_gate_and_one_trigger() {
        let cfg = BroadcastConfig::default();
        let mut ev = event();
        let reasons = Rule(&cfg).evaluate(&ev).expect("outage share 0.5 ≥ 0.4");
        assert!(reasons[1].contains("outage/safety/security share 0.50"));
        ev.explanation.unique_authors = 10;
        assert!(Rule(&cfg).evaluate(&ev).is_none(), "below the author gate");
        ev.explanation.unique_authors = 40;
        ev.explanation.intents[0].value = "question".into();
        assert!(Rule(&cfg).evaluate(&ev).is_none(), "no trigger holds");
        ev.explanation.top_influencers = vec![Influencer {
            author: "bigvoice".into(),
            followers: 900_000,
            verified: true,
            mention_id: "m".into(),
        }];
        let r = Rule(&cfg).evaluate(&ev).unwrap();
        assert!(r.iter().any(|r| r.contains("@bigvoice")), "{r:?}");
        let off = BroadcastConfig {
            enabled: false,
            ..cfg
        };
        assert!(Rule(&off).evaluate(&ev).is_none());
    }

    fn langs(b: &Broadcast) -> Vec<&str> {
        b.drafts.iter().map(|d| d.lang.as_str()).collect()
    }

    fn assert_first_status_says(b: &Broadcast, text: &str) {
        let s = &b.drafts[0].status_update;
        assert!(s.contains(text), "{s}");
    }

    #[test]
    fn drafts_follow_the_incident_languages() {
        let d = Drafter::new(&BroadcastConfig::default()).unwrap();
        let b = d.draft(&event(), &event(), "initial", vec![], "Northwind Air");
        assert_eq!(
            langs(&b),
            ["fr", "en"],
            "xx is under the share and has no template"
        );
        assert_first_status_says(
            &b,
            "une interruption de service avec Northwind Air depuis 10:00 UTC",
        );
        assert!(b.drafts[0]
            .status_update
            .contains("https://status.example.com"));
        assert!(b.drafts[1].customer_reply.contains("a service disruption"));
        assert_eq!(b.affected_mention_ids, ["a", "b"]);
        let r = d.draft(&event(), &event(), "resolved", vec![], "Northwind Air");
        assert!(r.drafts[0].status_update.starts_with("Résolu"));
        assert!(!r.drafts[0].status_update.contains('{'));
    }

    #[test]
    fn reminders_keep_the_announced_languages_and_problem() {
        let d = Drafter::new(&BroadcastConfig::default()).unwrap();
        let about = event();
        // Later, the latest window is ordinary English traffic about nothing in particular.
        let mut now = event();
        now.explanation.languages = vec![Share {
            value: "en".into(),
            share: 1.0,
        }];
        now.explanation.intents = vec![Share {
            value: "question".into(),
            share: 1.0,
        }];
        now.explanation.unique_authors = 4321;
        let b = d.draft(&about, &now, "reminder", vec![], "Northwind Air");
        assert_eq!(langs(&b), ["fr", "en"]);
        assert_first_status_says(&b, "interruption de service");
        assert_eq!(b.affected_authors, 4321);
        // Drafted from the latest event alone, it would have switched.
        let alone = d.draft(&now, &now, "reminder", vec![], "Northwind Air");
        assert_eq!(alone.drafts.len(), 1);
        assert_eq!(alone.drafts[0].lang, "en");
    }

    #[test]
    fn every_builtin_template_renders_without_leftover_placeholders() {
        let d = Drafter::new(&BroadcastConfig::default()).unwrap();
        for lang in ["en", "fr", "de", "es", "ru", "is", "pt", "it", "nl"] {
            let mut ev = event();
            ev.explanation.languages = vec![Share {
                value: lang.into(),
                share: 1.0,
            }];
            for kind in ["initial", "reminder", "resolved"] {
                let b = d.draft(&ev, &ev, kind, vec![], "Globex");
                assert_eq!(b.drafts.len(), 1);
                for s in [&b.drafts[0].status_update, &b.drafts[0].customer_reply] {
                    assert!(!s.contains('{') && !s.contains('}'), "{lang} {kind}: {s}");
                }
                assert_eq!(b.drafts[0].lang, lang);
            }
        }
    }

    #[test]
    fn unknown_placeholders_and_wrong_file_names_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let en = BUILTIN[0].1.replace("{status_url}.\"", "{status_link}.\"");
        std::fs::write(dir.path().join("en.toml"), en).unwrap();
        let cfg = BroadcastConfig {
            templates: Some(dir.path().display().to_string()),
            ..Default::default()
        };
        let e = Templates::load(&cfg).unwrap_err().to_string();
        assert!(e.contains("{status_link}"), "{e}");
        std::fs::write(dir.path().join("en.toml"), BUILTIN[0].1).unwrap();
        std::fs::rename(dir.path().join("en.toml"), dir.path().join("xx.toml")).unwrap();
        let e = Templates::load(&cfg).unwrap_err().to_string();
        assert!(e.contains("must match the file name"), "{e}");
    }
}
