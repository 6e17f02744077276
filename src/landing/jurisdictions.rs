//! The EEA and the countries with an EU adequacy decision, from `geoip/jurisdictions.toml`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use toml::Spanned;

use crate::problem::{Problem, Problems, is_country};

/// What a policy says about transfers, as the jurisdiction tables take it: its own
/// adequacy list (replacing the built-in one, for a newer decision) and the vendors it
/// lists as certified under the EU-US Data Privacy Framework.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransferLists<'a> {
    pub adequacy: Option<&'a [String]>,
    pub dpf_certified: &'a [String],
}

const EMBEDDED: &str = include_str!("../../geoip/jurisdictions.toml");
const EMBEDDED_NAME: &str = "geoip/jurisdictions.toml";

/// The country code the Data Privacy Framework condition applies to.
const DPF_COUNTRY: &str = "US";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    date: String,
    eea: ListSpec,
    adequacy: AdequacySpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListSpec {
    source: String,
    countries: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdequacySpec {
    source: String,
    countries: Vec<Spanned<String>>,
    #[serde(default)]
    conditions: BTreeMap<String, String>,
}

/// Which countries are in the EEA and which have an adequacy decision.
#[derive(Debug, Clone)]
pub struct Jurisdictions {
    pub date: String,
    pub eea_source: String,
    pub adequacy_source: String,
    eea: BTreeSet<String>,
    adequacy: BTreeSet<String>,
    /// Country → what its decision is limited to.
    pub conditions: BTreeMap<String, String>,
    /// Vendors confirmed as certified under the EU-US Data Privacy Framework.
    dpf_certified: BTreeSet<String>,
}

impl Jurisdictions {
    /// The built-in tables.
    ///
    /// # Errors
    /// Only if the build embedded a broken table.
    pub fn embedded() -> Result<Self, Problems> {
        Self::parse(EMBEDDED_NAME, EMBEDDED)
    }

    /// Tables from TOML text; `file` names it in problems.
    ///
    /// # Errors
    /// Syntax errors, unknown fields, and entries that are not country codes.
    pub fn parse(file: &str, text: &str) -> Result<Self, Problems> {
        let fail = |problems| Problems {
            what: "jurisdiction table",
            problems,
        };
        let spec: FileSpec =
            toml::from_str(text).map_err(|e| fail(vec![Problem::from_toml(file, text, &e)]))?;
        let mut problems = Vec::new();
        let mut codes = |list: &[Spanned<String>]| -> BTreeSet<String> {
            for c in list.iter().filter(|c| !is_country(c.get_ref())) {
                problems.push(Problem::at(
                    file,
                    text,
                    c.span().start,
                    None,
                    format!("{:?} is not an ISO 3166-1 alpha-2 code", c.get_ref()),
                ));
            }
            list.iter().map(|c| c.get_ref().clone()).collect()
        };
        let eea = codes(&spec.eea.countries);
        let adequacy = codes(&spec.adequacy.countries);
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(Self {
            date: spec.date,
            eea_source: spec.eea.source,
            adequacy_source: spec.adequacy.source,
            eea,
            adequacy,
            conditions: spec.adequacy.conditions,
            dpf_certified: BTreeSet::new(),
        })
    }

    /// The built-in tables with a policy's adequacy list and DPF-certified vendors.
    ///
    /// # Errors
    /// Only if the build embedded a broken table.
    pub fn with_lists(lists: Option<TransferLists<'_>>) -> Result<Self, Problems> {
        let mut j = Self::embedded()?;
        if let Some(l) = lists {
            if let Some(list) = l.adequacy {
                j.set_adequacy(list.iter().cloned());
            }
            j.set_dpf_certified(l.dpf_certified.iter().cloned());
        }
        Ok(j)
    }

    /// Replaces the adequacy list (a policy that tracks a newer decision).
    pub fn set_adequacy(&mut self, countries: impl IntoIterator<Item = String>) {
        self.adequacy = countries.into_iter().collect();
    }

    /// Records the vendors known to be certified under the EU-US Data Privacy Framework.
    pub fn set_dpf_certified(&mut self, vendors: impl IntoIterator<Item = String>) {
        self.dpf_certified = vendors.into_iter().collect();
    }

    /// Whether `country` is in the EEA; `EU` (a vendor's "in the EU") is.
    pub fn is_eea(&self, country: &str) -> bool {
        country == "EU" || self.eea.contains(country)
    }

    /// Whether a transfer of `vendor`'s flow to `country` is covered by an adequacy
    /// decision. The US decision covers only vendors certified under the Data Privacy
    /// Framework.
    pub fn is_adequate(&self, country: &str, vendor: &str) -> bool {
        self.adequacy.contains(country)
            && (country != DPF_COUNTRY || self.dpf_certified.contains(vendor))
    }

    /// Whether `country` has an adequacy decision at all (whatever its conditions).
    pub fn has_adequacy_decision(&self, country: &str) -> bool {
        self.adequacy.contains(country)
    }

    /// The countries with an adequacy decision.
    pub fn adequacy(&self) -> impl Iterator<Item = &str> {
        self.adequacy.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eea_is_the_eu_and_three_efta_states() {
        let j = Jurisdictions::embedded().unwrap();
        assert_eq!(j.eea.len(), 30);
        for c in ["DE", "IE", "NO", "IS", "LI", "EU"] {
            assert!(j.is_eea(c), "{c}");
        }
        for c in ["CH", "GB", "US", "CN"] {
            assert!(!j.is_eea(c), "{c}");
        }
    }

    #[test]
    fn the_us_is_adequate_only_for_dpf_certified_vendors() {
        let mut j = Jurisdictions::embedded().unwrap();
        assert!(j.is_adequate("CH", "x"));
        assert!(!j.is_adequate("US", "openai"));
        assert!(!j.is_adequate("CN", "deepseek"));
        j.set_dpf_certified(["openai".to_owned()]);
        assert!(j.is_adequate("US", "openai"));
        assert!(!j.is_adequate("US", "xai"));
        j.set_adequacy(["GB".to_owned()]);
        assert!(!j.is_adequate("CH", "x"));
    }

    #[test]
    fn a_bad_code_is_reported_on_its_line() {
        let text = "date = \"d\"\n[eea]\nsource = \"s\"\ncountries = [\"DE\",\n \"germany\"]\n[adequacy]\nsource = \"s\"\ncountries = []\n";
        let e = Jurisdictions::parse("j.toml", text).unwrap_err();
        assert_eq!(e.problems[0].line, 5, "{e}");
    }
}
