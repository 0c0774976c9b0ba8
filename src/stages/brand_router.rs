//! Which configured brand a mention is about, for stages that key their state by brand.
//!
//! The collector's `brand` tag wins; an untagged mention (reposts often lack it) goes to the
//! first brand the scoring stage found in its text (misspellings included) or, when scoring
//! did not run, the first configured brand whose name, handle or hashtag its text contains;
//! anything else is `_other`.

use crate::config::BrandConfig;
use crate::mention::Mention;

/// The key of mentions that name no configured brand.
pub const OTHER: &str = "_other";

#[derive(Debug, Clone)]
pub struct BrandRouter {
    /// Brand ids with their lowercase names, handles and hashtags.
    brands: Vec<(String, Vec<String>)>,
}

impl BrandRouter {
    pub fn new(brands: &[BrandConfig]) -> Self {
        BrandRouter {
            brands: brands
                .iter()
                .map(|b| {
                    let needles = b
                        .names
                        .iter()
                        .chain(&b.handles)
                        .chain(&b.hashtags)
                        .map(|n| n.to_lowercase())
                        .filter(|n| !n.is_empty())
                        .collect();
                    (b.id.clone(), needles)
                })
                .collect(),
        }
    }

    /// Configured brands.
    pub fn len(&self) -> usize {
        self.brands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.brands.is_empty()
    }

    /// The index of the brand with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.brands.iter().position(|(b, _)| b == id)
    }

    /// The id of brand `i` (an index from [`BrandRouter::route_index`]).
    pub fn id(&self, i: usize) -> &str {
        &self.brands[i].0
    }

    /// The brand id of `m`, or [`OTHER`].
    pub fn route<'a>(&'a self, m: &Mention) -> &'a str {
        self.route_index(m).map_or(OTHER, |i| self.id(i))
    }

    /// The config index of `m`'s brand, or `None` when it names no configured brand.
    pub fn route_index(&self, m: &Mention) -> Option<usize> {
        if let Some(b) = m.brand.as_deref() {
            if let Some(i) = self.brands.iter().position(|(id, _)| id == b) {
                return Some(i);
            }
        }
        if let Some(s) = m.enrich.score.as_deref() {
            return s
                .brands
                .iter()
                .find_map(|h| self.brands.iter().position(|(id, _)| **id == *h.id));
        }
        let lower = m.text.to_lowercase();
        self.brands
            .iter()
            .position(|(_, needles)| needles.iter().any(|n| lower.contains(n.as_str())))
    }
}
