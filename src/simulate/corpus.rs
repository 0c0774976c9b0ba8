//! The simulator's vocabulary, written by the project: invented brands, cities, intents and
//! languages with their shares, emoji, hashtags and names. The message templates are in
//! [`super::templates`], with placeholders `{b}` brand name, `{p}` product, `{n}` a small
//! number, `{c}` a city.

pub struct SimBrand {
    pub id: &'static str,
    pub name: &'static str,
    pub handle: &'static str,
    pub products: &'static [&'static str],
    /// Relative share of all mentions.
    pub weight: f64,
}

pub const BRANDS: &[SimBrand] = &[
    SimBrand {
        id: "northwind",
        name: "Northwind Air",
        handle: "@NorthwindAir",
        products: &["app", "flight", "booking", "lounge", "check-in"],
        weight: 0.30,
    },
    SimBrand {
        id: "globex",
        name: "Globex Bank",
        handle: "@GlobexBank",
        products: &["app", "card", "transfer", "account", "online banking"],
        weight: 0.25,
    },
    SimBrand {
        id: "skyline",
        name: "Skyline Mobile",
        handle: "@SkylineMobile",
        products: &["network", "4G", "app", "bill", "router"],
        weight: 0.20,
    },
    SimBrand {
        id: "fjord",
        name: "Fjord Energy",
        handle: "@FjordEnergy",
        products: &["bill", "meter", "app", "contract"],
        weight: 0.15,
    },
    SimBrand {
        id: "lumo",
        name: "Lumo Foods",
        handle: "@LumoFoods",
        products: &["yoghurt", "delivery", "order", "app"],
        weight: 0.10,
    },
];

pub const CITIES: &[&str] = &[
    "Paris",
    "Lyon",
    "Berlin",
    "Madrid",
    "Reykjavik",
    "Moscow",
    "London",
    "Lisbon",
    "Rome",
    "Amsterdam",
    "Akureyri",
    "Hamburg",
    "Sevilla",
];

/// Intents in the order used by [`TEMPLATES`] rows.
pub const INTENTS: &[&str] = &[
    "outage",
    "safety",
    "security",
    "complaint",
    "question",
    "praise",
    "other",
];

/// Share of each intent in normal traffic (same order as [`INTENTS`]).
pub const INTENT_WEIGHTS: &[f64] = &[0.05, 0.015, 0.025, 0.25, 0.22, 0.16, 0.28];

/// Languages and their share of normal traffic.
pub const LANGS: &[(&str, f64)] = &[
    ("en", 0.42),
    ("fr", 0.14),
    ("de", 0.10),
    ("es", 0.10),
    ("ru", 0.08),
    ("is", 0.04),
    ("pt", 0.05),
    ("it", 0.04),
    ("nl", 0.03),
];

/// Decorations appended or prepended to texts, as real posts carry them.
pub const EMOJI: &[&str] = &["😡", "🙄", "😤", "👍", "❤️", "😭", "🔥", "🤬", "😂", "🙏"];
pub const HASHTAGS: &[&str] = &[
    "#fail",
    "#help",
    "#customerservice",
    "#outage",
    "#thanks",
    "#wtf",
    "#support",
];

pub const FIRST_NAMES: &[&str] = &[
    "ana", "jon", "marie", "lukas", "sofia", "olga", "gunnar", "pedro", "giulia", "sanne", "tom",
    "lea", "ivan", "sigrun", "carlos", "emma",
];
