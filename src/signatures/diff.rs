//! What changed between two databases, product by product: the facts an audit relied on
//! (training per plan, retention, EU residency, processing location, headquarters, the
//! DPA's SCCs, a SaaS's AI sub-processors) and hosts that moved to another product or
//! vendor. A new `read` date, quote or source for the same value is not a change.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::model::{Fact, Plan};
use super::{Database, Endpoint, Vendor};

/// One fact of one product that differs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FactChange {
    pub vendor: String,
    pub product: String,
    /// The endpoint id (in the new database, or the old one when it was removed).
    pub endpoint: String,
    /// `training`, `retention`, `eu_residency`, `processing`, `headquarters`,
    /// `dpa_sccs`, `subprocessors`, `hosts` or `endpoint`.
    pub field: &'static str,
    /// The plan the fact belongs to, for training, retention and EU residency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// `none` when the old database did not have the fact.
    pub old: String,
    /// `none` when the new database does not have it.
    pub new: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_source: Option<String>,
}

const NONE: &str = "none";

impl FactChange {
    /// The change in words: `training (Plan): no -> opt_out [source]`.
    pub fn sentence(&self) -> String {
        let field = match &self.plan {
            Some(plan) => format!("{} ({plan})", self.field),
            None => self.field.to_owned(),
        };
        let source = self
            .new_source
            .as_deref()
            .or(self.old_source.as_deref())
            .map_or_else(String::new, |s| format!(" [{s}]"));
        format!("{field}: {} -> {}{source}", self.old, self.new)
    }
}

/// Every fact change from `old` to `new`, sorted by vendor, product and field.
pub fn diff(old: &Database, new: &Database) -> Vec<FactChange> {
    let mut changes = BTreeSet::new();
    let new_endpoints: BTreeMap<&str, &Endpoint> =
        new.endpoints.iter().map(|e| (e.id.as_str(), e)).collect();
    let new_hosts: BTreeMap<&str, &Endpoint> = new
        .endpoints
        .iter()
        .flat_map(|e| e.hosts.iter().map(move |h| (h.as_str(), e)))
        .collect();
    for before in &old.endpoints {
        let Some(old_vendor) = old.vendors.get(before.vendor) else {
            continue;
        };
        let mut change = |field: &'static str, plan: Option<&str>, old: Shown, new: Shown| {
            if old.value != new.value {
                changes.insert(FactChange {
                    vendor: old_vendor.id.clone(),
                    product: before.product.clone(),
                    endpoint: before.id.clone(),
                    field,
                    plan: plan.map(str::to_owned),
                    old: old.value,
                    new: new.value,
                    old_source: old.source,
                    new_source: new.source,
                });
            }
        };
        let Some(after) = new_endpoints.get(before.id.as_str()) else {
            change(
                "endpoint",
                None,
                Shown::text(&before.hosts.join(" ")),
                Shown::none(),
            );
            continue;
        };
        let new_vendor = new.vendors.get(after.vendor);
        compare_plans(&before.plans, &after.plans, &mut change);
        change(
            "processing",
            None,
            Shown::fact(before.processing.as_ref(), String::clone),
            Shown::fact(after.processing.as_ref(), String::clone),
        );
        change(
            "headquarters",
            None,
            Shown::fact(old_vendor.headquarters.as_ref(), String::clone),
            Shown::fact(
                new_vendor.and_then(|v| v.headquarters.as_ref()),
                String::clone,
            ),
        );
        change(
            "dpa_sccs",
            None,
            Shown::fact(old_vendor.dpa_sccs.as_ref(), |s| s.data.clone()),
            Shown::fact(new_vendor.and_then(|v| v.dpa_sccs.as_ref()), |s| {
                s.data.clone()
            }),
        );
        change(
            "subprocessors",
            None,
            Shown::text(&subprocessors(before)),
            Shown::text(&subprocessors(after)),
        );
        for host in &before.hosts {
            let moved = match new_hosts.get(host.as_str()) {
                None => Some(NONE.to_owned()),
                Some(now) if now.id != before.id => Some(owner(now, new)),
                Some(_) => None,
            };
            if let Some(now) = moved {
                change(
                    "hosts",
                    None,
                    Shown::text(&format!("{host}: {}", owner(before, old))),
                    Shown::text(&format!("{host}: {now}")),
                );
            }
        }
    }
    changes.into_iter().collect()
}

/// A fact's value as a change shows it: the value, marked when inferred, and its source.
struct Shown {
    value: String,
    source: Option<String>,
}

impl Shown {
    fn none() -> Self {
        Self {
            value: NONE.into(),
            source: None,
        }
    }

    fn text(value: &str) -> Self {
        if value.is_empty() {
            return Self::none();
        }
        Self {
            value: value.to_owned(),
            source: None,
        }
    }

    fn fact<T>(fact: Option<&Fact<T>>, value: impl Fn(&T) -> String) -> Self {
        let Some(f) = fact else {
            return Self::none();
        };
        let mut shown = value(&f.value);
        if f.inferred() {
            shown.push_str(" (inferred)");
        }
        Self {
            value: shown,
            source: Some(f.source.clone()),
        }
    }
}

/// Compares the plans by id: each plan's training, retention and EU residency.
fn compare_plans(
    old: &[Plan],
    new: &[Plan],
    change: &mut impl FnMut(&'static str, Option<&str>, Shown, Shown),
) {
    let ids: BTreeSet<&str> = old.iter().chain(new).map(|p| p.id.as_str()).collect();
    for id in ids {
        let before = old.iter().find(|p| p.id == id);
        let after = new.iter().find(|p| p.id == id);
        let name = after.or(before).map(|p| p.name.as_str());
        change(
            "training",
            name,
            Shown::fact(before.and_then(|p| p.training.as_ref()), |t| {
                t.as_str().to_owned()
            }),
            Shown::fact(after.and_then(|p| p.training.as_ref()), |t| {
                t.as_str().to_owned()
            }),
        );
        change(
            "retention",
            name,
            Shown::fact(before.and_then(|p| p.retention.as_ref()), String::clone),
            Shown::fact(after.and_then(|p| p.retention.as_ref()), String::clone),
        );
        change(
            "eu_residency",
            name,
            Shown::fact(before.and_then(|p| p.eu_residency.as_ref()), String::clone),
            Shown::fact(after.and_then(|p| p.eu_residency.as_ref()), String::clone),
        );
    }
}

/// A SaaS's AI sub-processors, sorted: `name (country)`.
fn subprocessors(e: &Endpoint) -> String {
    let names: BTreeSet<String> = e
        .subprocessors
        .iter()
        .map(|s| match &s.country {
            Some(c) => format!("{} ({c})", s.name),
            None => s.name.clone(),
        })
        .collect();
    names.into_iter().collect::<Vec<_>>().join(", ")
}

/// `product (vendor)` of an endpoint.
fn owner(e: &Endpoint, db: &Database) -> String {
    let vendor = db
        .vendors
        .get(e.vendor)
        .map_or("", |v: &Vendor| v.id.as_str());
    format!("{} ({vendor})", e.product)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "version = \"1.1\"\ndate = \"2026-12-01\"\n";

    fn database(training: &str, hosts: &str) -> Database {
        let acme = format!(
            "[vendor]\nid = \"acme\"\nname = \"Acme\"\n\n\
             [[plans]]\nid = \"api\"\nname = \"Acme API\"\n\n[plans.training]\n{training}\
             source = \"https://acme.example/terms\"\nread = \"2026-12-01\"\n\n\
             [[endpoints]]\nid = \"acme-api\"\nproduct = \"Acme API\"\nkind = \"api\"\n\
             plans = [\"api\"]\nhosts = [{hosts}]\nsource = \"https://acme.example/docs\"\n"
        );
        Database::from_files(&[
            ("database.toml".into(), DB.into()),
            ("acme.toml".into(), acme),
        ])
        .unwrap()
    }

    #[test]
    fn a_training_default_that_flips_is_one_change_with_both_values() {
        let old = database(
            "value = \"no\"\nbasis = \"stated\"\n",
            "\"api.acme.example\"",
        );
        let new = database(
            "value = \"opt_out\"\nbasis = \"stated\"\n",
            "\"api.acme.example\"",
        );
        let changes = diff(&old, &new);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let c = &changes[0];
        assert_eq!(
            (c.vendor.as_str(), c.product.as_str(), c.field),
            ("acme", "Acme API", "training")
        );
        assert_eq!((c.old.as_str(), c.new.as_str()), ("no", "opt_out"));
        assert_eq!(c.plan.as_deref(), Some("Acme API"));
        assert_eq!(c.new_source.as_deref(), Some("https://acme.example/terms"));
        assert!(diff(&new, &new).is_empty());
    }

    #[test]
    fn a_fact_that_becomes_inferred_and_a_host_that_goes_are_changes() {
        let old = database(
            "value = \"no\"\nbasis = \"stated\"\n",
            "\"api.acme.example\", \"old.acme.example\"",
        );
        let new = database(
            "value = \"no\"\nbasis = \"inferred\"\nreasoning = \"the terms are silent\"\n",
            "\"api.acme.example\"",
        );
        let changes = diff(&old, &new);
        let fields: Vec<(&str, &str, &str)> = changes
            .iter()
            .map(|c| (c.field, c.old.as_str(), c.new.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                (
                    "hosts",
                    "old.acme.example: Acme API (acme)",
                    "old.acme.example: none"
                ),
                ("training", "no", "no (inferred)"),
            ]
        );
    }
}
