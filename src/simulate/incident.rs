//! Incidents the simulator injects: parsed from `--incident` specs, with the surge's shape over
//! time (ground truth for the spike tests and the demo).

use serde::Serialize;

use super::corpus::{BRANDS, LANGS};

/// An injected incident: `brand`'s mentions in `lang` surge by `factor` × that brand's normal
/// volume, mostly outage complaints about `product`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentSpec {
    pub name: String,
    pub brand: String,
    pub lang: String,
    pub product: String,
    pub start_min: f64,
    pub duration_min: f64,
    pub factor: f64,
}

impl IncidentSpec {
    /// Parses `brand=northwind,lang=fr,start=120,duration=45,factor=5,product=app` (minutes
    /// from the simulation start). Every key is optional.
    pub fn parse(spec: &str, n: usize) -> Result<Self, String> {
        let mut s = IncidentSpec {
            name: format!("incident-{n}"),
            brand: "northwind".into(),
            lang: "fr".into(),
            product: "app".into(),
            start_min: 30.0,
            duration_min: 40.0,
            factor: 5.0,
        };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not key=value"))?;
            let num = || {
                v.parse::<f64>()
                    .map_err(|_| format!("`{k}` needs a number, got `{v}`"))
            };
            match k {
                "name" => s.name = v.into(),
                "brand" => s.brand = v.into(),
                "lang" => s.lang = v.into(),
                "product" => s.product = v.into(),
                "start" => s.start_min = num()?,
                "duration" => s.duration_min = num()?,
                "factor" => s.factor = num()?,
                _ => {
                    return Err(format!(
                        "unknown key `{k}` (name, brand, lang, product, start, duration, factor)"
                    ))
                }
            }
        }
        if !BRANDS.iter().any(|b| b.id == s.brand) {
            let ids: Vec<_> = BRANDS.iter().map(|b| b.id).collect();
            return Err(format!(
                "unknown brand `{}`; the simulator knows {}",
                s.brand,
                ids.join(", ")
            ));
        }
        if !LANGS.iter().any(|(l, _)| *l == s.lang) {
            return Err(format!("unsupported lang `{}`", s.lang));
        }
        if s.duration_min <= 0.0 || s.factor <= 0.0 {
            return Err("duration and factor must be positive".into());
        }
        Ok(s)
    }

    /// Surge shape in [0, 1] at `minute`: ramps up over the first fifth, decays over the last
    /// third.
    pub fn intensity(&self, minute: f64) -> f64 {
        let x = (minute - self.start_min) / self.duration_min;
        if !(0.0..1.0).contains(&x) {
            0.0
        } else if x < 0.2 {
            0.3 + 0.7 * x / 0.2
        } else if x > 0.67 {
            (1.0 - x) / 0.33
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_spec_errors_are_helpful() {
        assert!(IncidentSpec::parse("brand=nope", 0)
            .unwrap_err()
            .contains("northwind"));
        assert!(IncidentSpec::parse("factor=x", 0)
            .unwrap_err()
            .contains("number"));
    }
}
