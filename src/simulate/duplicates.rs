//! The simulator's duplicates of recent posts: the same post delivered again (`exact`),
//! reposts with or without `repost_of` (`repost`), and copy-paste variants (`near`), each with
//! its ground truth naming the original.

use rand::Rng;
use serde_json::json;

use super::corpus::BRANDS;
use super::{pick, text, DupTruth, Original, SimItem, Simulator, Truth, PLATFORMS};
use crate::clock::Millis;

impl Simulator {
    pub(super) fn remember(&mut self, o: Original) {
        if self.recent.len() >= 2000 {
            self.recent.pop_front();
        }
        self.recent.push_back(o);
    }

    fn pick_recent(&mut self) -> usize {
        // Recent posts are re-shared more than old ones.
        let n = self.recent.len();
        let back = ((self.rng.gen::<f64>().powi(3)) * n as f64) as usize;
        n - 1 - back.min(n - 1)
    }

    /// Ground truth of a copy of recent post `i`: a new post (`id`, at `t`, no personal data,
    /// no incident) with the original's brand, language and intent. Callers set the platform
    /// and whether its author is an influencer.
    fn copy_truth(&self, i: usize, seq: u64, id: String, t: Millis, kind: &'static str) -> Truth {
        let o = &self.recent[i];
        Truth {
            seq,
            id: Some(id),
            malformed: None,
            brand: BRANDS[o.brand].id,
            platform: o.truth.platform,
            lang: o.lang,
            intent: o.intent,
            created_at_ms: t,
            dup: Some(DupTruth {
                kind,
                of: o.id.clone(),
            }),
            incident: None,
            pii: Vec::new(),
            influencer: false,
            misspelled_brand: false,
        }
    }

    pub(super) fn exact_dup(&mut self, seq: u64) -> SimItem {
        let i = self.pick_recent();
        let o = &self.recent[i];
        let mut truth = o.truth.clone();
        truth.seq = seq;
        truth.dup = Some(DupTruth {
            kind: "exact",
            of: o.id.clone(),
        });
        let (payload, brand) = (o.payload.clone(), o.brand);
        self.item(seq, payload, brand, truth)
    }

    pub(super) fn repost(&mut self, seq: u64, t: Millis) -> SimItem {
        let i = self.pick_recent();
        let (orig_id, orig_text, orig_handle, brand, lang) = {
            let o = &self.recent[i];
            (
                o.id.clone(),
                o.text.clone(),
                o.handle.clone(),
                o.brand,
                o.lang,
            )
        };
        let author = text::author(&mut self.rng);
        let id = format!("{}", 1_000_000 + seq);
        let with_field = self.rng.gen::<f64>() < 0.6;
        let body = if with_field && self.rng.gen::<f64>() < 0.5 {
            orig_text.clone()
        } else {
            format!("RT {orig_handle}: {orig_text}")
        };
        let mut obj = self.base_object(&id, "twitter", t, &body, &author, lang, brand);
        if with_field {
            obj.insert("repost_of".into(), json!(orig_id));
        }
        let truth = Truth {
            platform: "twitter",
            influencer: author.followers >= 100_000,
            ..self.copy_truth(i, seq, id, t, "repost")
        };
        let payload = serde_json::to_vec(&obj).unwrap_or_default();
        self.item(seq, payload, brand, truth)
    }

    pub(super) fn near_dup(&mut self, seq: u64, t: Millis) -> SimItem {
        let i = self.pick_recent();
        let (orig_text, brand, lang) = {
            let o = &self.recent[i];
            (o.text.clone(), o.brand, o.lang)
        };
        let body = text::light_edit(&mut self.rng, &orig_text);
        let author = text::author(&mut self.rng);
        let platform = *pick(&mut self.rng, PLATFORMS);
        let id = format!("{}", 1_000_000 + seq);
        let obj = self.base_object(&id, platform, t, &body, &author, lang, brand);
        let truth = Truth {
            platform,
            influencer: author.followers >= 100_000,
            ..self.copy_truth(i, seq, id, t, "near")
        };
        let payload = serde_json::to_vec(&obj).unwrap_or_default();
        self.item(seq, payload, brand, truth)
    }
}
