//! The routing tree: which receivers get an alert, decided on its labels, with Alertmanager's
//! semantics so operators need not learn a second model.
//!
//! A node matches when all its matchers do. An alert descends into the first matching child;
//! a child with `continue = true` lets the search go on to its later siblings. When no child
//! matches, the node itself takes the alert. A node without `receiver` inherits its parent's.
//! Matchers are Alertmanager's (`label="v"`, `!=`, `=~` and `!~` with anchored regexes) plus
//! numeric `>=` and `<=` (for `level>=7`).

use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[alerting.route]` and its nested `[[…routes]]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default)]
    pub receiver: Option<String>,
    /// Alertmanager-style matchers, all of which must hold: `brand="northwind"`,
    /// `severity=~"critical|warning"`, `level>=7`.
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Keep looking at later sibling routes after this one matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

#[derive(Debug, Clone)]
enum Op {
    Eq(String),
    Ne(String),
    Re(Regex),
    NotRe(Regex),
    Ge(f64),
    Le(f64),
}

#[derive(Debug, Clone)]
pub struct Matcher {
    label: String,
    op: Op,
}

impl Matcher {
    /// Parses `name<op>value`; the value may be double-quoted.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let ops = ["=~", "!~", "!=", ">=", "<=", "="];
        let (at, op) = ops
            .iter()
            .filter_map(|op| s.find(op).map(|i| (i, *op)))
            .min_by_key(|(i, op)| (*i, std::cmp::Reverse(op.len())))
            .ok_or_else(|| {
                format!("`{s}` has no operator; write label=\"value\" (or != =~ !~ >= <=)")
            })?;
        let label = s[..at].trim();
        if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{s}`: `{label}` is not a label name"));
        }
        let raw = s[at + op.len()..].trim();
        let value = raw
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(raw)
            .to_string();
        let re = |v: &str| {
            Regex::new(&format!("^(?:{v})$")).map_err(|e| format!("`{s}`: bad regex: {e}"))
        };
        let num = |v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("`{s}`: {op} needs a number"))
        };
        let op = match op {
            "=~" => Op::Re(re(&value)?),
            "!~" => Op::NotRe(re(&value)?),
            "!=" => Op::Ne(value),
            ">=" => Op::Ge(num(&value)?),
            "<=" => Op::Le(num(&value)?),
            _ => Op::Eq(value),
        };
        Ok(Matcher {
            label: label.to_string(),
            op,
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.label).map_or("", String::as_str);
        match &self.op {
            Op::Eq(x) => v == x,
            Op::Ne(x) => v != x,
            Op::Re(r) => r.is_match(v),
            Op::NotRe(r) => !r.is_match(v),
            Op::Ge(x) => v.parse::<f64>().is_ok_and(|n| n >= *x),
            Op::Le(x) => v.parse::<f64>().is_ok_and(|n| n <= *x),
        }
    }
}

/// A compiled routing tree.
#[derive(Debug, Clone)]
pub struct Route {
    receiver: String,
    matchers: Vec<Matcher>,
    continue_matching: bool,
    routes: Vec<Route>,
}

impl Route {
    /// Compiles `cfg`; `path` names it in errors (`alerting.route`).
    pub fn compile(
        cfg: &RouteConfig,
        parent_receiver: Option<&str>,
        path: &str,
        receivers: &[&str],
    ) -> Result<Self, (String, String)> {
        let receiver = cfg.receiver.as_deref().or(parent_receiver).ok_or_else(|| {
            (
                format!("{path}.receiver"),
                "the top route needs a receiver (the default)".to_string(),
            )
        })?;
        if !receivers.contains(&receiver) {
            return Err((
                format!("{path}.receiver"),
                format!(
                    "`{receiver}` is not a configured receiver (have: {})",
                    receivers.join(", ")
                ),
            ));
        }
        let matchers = cfg
            .matchers
            .iter()
            .enumerate()
            .map(|(i, m)| Matcher::parse(m).map_err(|e| (format!("{path}.matchers[{i}]"), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let routes = cfg
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Route::compile(r, Some(receiver), &format!("{path}.routes[{i}]"), receivers)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Route {
            receiver: receiver.to_string(),
            matchers,
            continue_matching: cfg.continue_matching,
            routes,
        })
    }

    /// The receivers for an alert with `labels`, in tree order, each once.
    pub fn receivers(&self, labels: &BTreeMap<String, String>) -> Vec<String> {
        let mut out = Vec::new();
        // The root matches every alert, as in Alertmanager.
        for r in self.matching(labels, true) {
            if !out.contains(&r.receiver) {
                out.push(r.receiver.clone());
            }
        }
        out
    }

    fn matching<'a>(&'a self, labels: &BTreeMap<String, String>, root: bool) -> Vec<&'a Route> {
        if !root && !self.matchers.iter().all(|m| m.matches(labels)) {
            return Vec::new();
        }
        let mut found = Vec::new();
        for child in &self.routes {
            let m = child.matching(labels, false);
            if !m.is_empty() {
                found.extend(m);
                if !child.continue_matching {
                    break;
                }
            }
        }
        if found.is_empty() {
            found.push(self);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn tree() -> Route {
        let cfg: RouteConfig = toml::from_str(
            r#"
receiver = "am"
[[routes]]
matchers = ['alertname="broadcast_update_needed"']
receiver = "comms"
continue = true
[[routes]]
matchers = ['level>=8']
receiver = "pager"
[[routes]]
matchers = ['brand=~"globex|skyline"', 'lang!="en"']
receiver = "emea"
  [[routes.routes]]
  matchers = ['intent="safety"']
  receiver = "safety"
"#,
        )
        .unwrap();
        Route::compile(
            &cfg,
            None,
            "alerting.route",
            &["am", "comms", "pager", "emea", "safety"],
        )
        .unwrap()
    }

    #[test]
    fn first_match_wins_unless_continue() {
        let t = tree();
        let base = [
            ("alertname", "tocsin_incident"),
            ("brand", "northwind"),
            ("level", "5"),
        ];
        assert_eq!(
            t.receivers(&labels(&base)),
            ["am"],
            "no child matches: the root"
        );
        let high = [
            ("alertname", "tocsin_incident"),
            ("brand", "globex"),
            ("level", "9"),
        ];
        assert_eq!(
            t.receivers(&labels(&high)),
            ["pager"],
            "first match stops the search"
        );
        let b = [
            ("alertname", "broadcast_update_needed"),
            ("brand", "northwind"),
            ("level", "9"),
        ];
        assert_eq!(
            t.receivers(&labels(&b)),
            ["comms", "pager"],
            "continue goes on"
        );
    }

    #[test]
    fn nested_routes_and_negative_matchers() {
        let t = tree();
        let fr = [("brand", "globex"), ("lang", "fr"), ("level", "3")];
        assert_eq!(t.receivers(&labels(&fr)), ["emea"]);
        let safety = [("brand", "skyline"), ("lang", "de"), ("intent", "safety")];
        assert_eq!(t.receivers(&labels(&safety)), ["safety"]);
        let en = [("brand", "globex"), ("lang", "en")];
        assert_eq!(t.receivers(&labels(&en)), ["am"]);
        let partial = [("brand", "globex-uk"), ("lang", "fr")];
        assert_eq!(
            t.receivers(&labels(&partial)),
            ["am"],
            "regexes are anchored"
        );
    }

    #[test]
    fn bad_matchers_and_receivers_name_their_path() {
        for (m, want) in [
            ("brand", "no operator"),
            ("brand=~\"(\"", "bad regex"),
            ("level>=high", "needs a number"),
            ("bad label=x", "not a label name"),
        ] {
            let cfg = RouteConfig {
                receiver: Some("am".into()),
                routes: vec![RouteConfig {
                    matchers: vec![m.into()],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let (path, e) = Route::compile(&cfg, None, "alerting.route", &["am"]).unwrap_err();
            assert_eq!(path, "alerting.route.routes[0].matchers[0]");
            assert!(e.contains(want), "{m}: {e}");
        }
        let cfg = RouteConfig {
            receiver: Some("nope".into()),
            ..Default::default()
        };
        let (path, e) = Route::compile(&cfg, None, "alerting.route", &["am"]).unwrap_err();
        assert_eq!(path, "alerting.route.receiver");
        assert!(e.contains("not a configured receiver"), "{e}");
    }
}
