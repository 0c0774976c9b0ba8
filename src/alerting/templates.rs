//! Broadcast templates: one TOML file per language (`pipelines/templates/<lang>.toml`, compiled
//! in; an operator's folder replaces or adds languages). Placeholders are checked at load, so
//! `tocsin validate` catches a typo before an incident does.

use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

use super::broadcast::BroadcastConfig;

/// One language's templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub language: String,
    pub status_update: String,
    pub status_reminder: String,
    pub status_resolved: String,
    pub customer_reply: String,
    pub resolved_reply: String,
    /// intent → how the language names the problem ("a service disruption").
    pub problems: HashMap<String, String>,
}

const PLACEHOLDERS: &[&str] = &[
    "brand",
    "problem",
    "since",
    "duration",
    "affected",
    "status_url",
    "theme",
];

pub const BUILTIN: &[(&str, &str)] = &[
    ("en", include_str!("../../pipelines/templates/en.toml")),
    ("fr", include_str!("../../pipelines/templates/fr.toml")),
    ("de", include_str!("../../pipelines/templates/de.toml")),
    ("es", include_str!("../../pipelines/templates/es.toml")),
    ("ru", include_str!("../../pipelines/templates/ru.toml")),
    ("is", include_str!("../../pipelines/templates/is.toml")),
    ("pt", include_str!("../../pipelines/templates/pt.toml")),
    ("it", include_str!("../../pipelines/templates/it.toml")),
    ("nl", include_str!("../../pipelines/templates/nl.toml")),
];

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read templates {file}: {source}; check `alerting.broadcast.templates`")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}; fix the template (see pipelines/templates/en.toml)")]
    Parse { file: String, message: String },
}

/// Every language's templates.
#[derive(Debug, Clone)]
pub struct Templates {
    pub(super) by_lang: HashMap<String, Template>,
}

impl Templates {
    pub fn load(cfg: &BroadcastConfig) -> Result<Self, TemplateError> {
        let mut by_lang = HashMap::new();
        for (lang, text) in BUILTIN {
            let t = parse(text, &format!("built-in {lang}.toml"))?;
            by_lang.insert(t.language.clone(), t);
        }
        if let Some(dir) = &cfg.templates {
            let dir = cfg.base_dir.join(dir);
            for t in load_dir(&dir)? {
                by_lang.insert(t.language.clone(), t);
            }
        }
        Ok(Templates { by_lang })
    }

    pub fn languages(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.by_lang.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

fn load_dir(dir: &Path) -> Result<Vec<Template>, TemplateError> {
    let files = crate::language_files::read_dir(dir)
        .map_err(|(file, source)| TemplateError::Read { file, source })?;
    let mut out = Vec::new();
    for f in files {
        let t = parse(&f.text, &f.file)?;
        if t.language != f.stem {
            return Err(TemplateError::Parse {
                file: f.file,
                message: format!("`language = \"{}\"` must match the file name", t.language),
            });
        }
        out.push(t);
    }
    Ok(out)
}

fn parse(text: &str, file: &str) -> Result<Template, TemplateError> {
    let t: Template = toml::from_str(text).map_err(|e| TemplateError::Parse {
        file: file.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    for (field, s) in [
        ("status_update", &t.status_update),
        ("status_reminder", &t.status_reminder),
        ("status_resolved", &t.status_resolved),
        ("customer_reply", &t.customer_reply),
        ("resolved_reply", &t.resolved_reply),
    ] {
        if let Some(bad) = placeholders(s).find(|p| !PLACEHOLDERS.contains(p)) {
            return Err(TemplateError::Parse {
                file: file.to_string(),
                message: format!(
                    "`{field}` uses unknown placeholder {{{bad}}}; known: {}",
                    PLACEHOLDERS.join(", ")
                ),
            });
        }
    }
    if !t.problems.contains_key("other") {
        return Err(TemplateError::Parse {
            file: file.to_string(),
            message: "[problems] needs at least `other`".into(),
        });
    }
    Ok(t)
}

fn placeholders(s: &str) -> impl Iterator<Item = &str> {
    s.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

pub(super) fn render(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}
