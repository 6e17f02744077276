//! What changed between a baseline (the last audit) and the current period: new vendors,
//! products, internal hosts and destination countries, flows that stopped, and volumes
//! that moved by more than a factor.
//!
//! Both sides are sets of stored flow groups. A group belongs to a period when its first
//! and last seen overlap it, so a group seen on both sides of the boundary is neither new
//! nor stopped. Volumes compare bytes uploaded per day with AI traffic, from the daily
//! totals, so periods of different length compare fairly.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::alert::Rule;
use crate::inventory::store::{AlertRow, DailyRow, Filter, FlowRow, Store, StoreError};
use crate::time::Timestamp;

/// One side of the comparison.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Period {
    /// The inventory it was read from.
    pub store: String,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// The stored rows of one period.
pub struct Side<'a> {
    pub period: Period,
    pub flows: &'a [FlowRow],
    pub daily: &'a [DailyRow],
}

/// Something the current period has that the baseline had not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct New {
    /// The vendor, `vendor/product`, host or country.
    pub item: String,
    /// Who or what it involves (the vendors a new host talks to, the hosts of a vendor).
    pub detail: String,
    pub internal_hosts: usize,
    pub flows: u64,
    pub bytes_sent: u64,
    pub first_seen: Timestamp,
}

/// A (host, vendor, product) of the baseline not seen in the current period.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stopped {
    pub internal_host: String,
    pub vendor: String,
    pub product: String,
    pub flows: u64,
    pub bytes_sent: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

/// A vendor whose upload volume per day moved by the factor or more.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VolumeChange {
    pub vendor: String,
    pub baseline_bytes_per_day: u64,
    pub current_bytes_per_day: u64,
    /// Current over baseline.
    pub ratio: f64,
    pub first_seen: Timestamp,
}

/// The changes report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Changes {
    pub baseline: Period,
    pub current: Period,
    pub factor: f64,
    pub new_vendors: Vec<New>,
    pub new_products: Vec<New>,
    pub new_internal_hosts: Vec<New>,
    pub new_destination_countries: Vec<New>,
    pub stopped: Vec<Stopped>,
    pub volume_changes: Vec<VolumeChange>,
    /// Products in use whose facts a new signature database changed, from the
    /// `vendor_terms_changed` alerts of the current period.
    pub terms_changed: Vec<TermsChanged>,
}

/// A product in use whose terms changed, as the sensors' alerts said it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TermsChanged {
    pub vendor: String,
    pub product: String,
    /// The alert's reason: every changed fact with its old and new value and source.
    pub what: String,
    pub first_seen: Timestamp,
    /// The sensors that raised it.
    pub sensors: Vec<String>,
}

/// The `vendor_terms_changed` alerts, one entry per product and change however many
/// sensors raised it.
pub fn terms_changed(alerts: &[AlertRow]) -> Vec<TermsChanged> {
    let mut by_change: BTreeMap<(&str, &str, &str), TermsChanged> = BTreeMap::new();
    for a in alerts
        .iter()
        .filter(|a| a.rule == Rule::VendorTermsChanged.as_str())
    {
        let entry = by_change
            .entry((a.vendor.as_str(), a.product.as_str(), a.reason.as_str()))
            .or_insert_with(|| TermsChanged {
                vendor: a.vendor.clone(),
                product: a.product.clone(),
                what: a.reason.clone(),
                first_seen: Timestamp::from_micros(a.timestamp),
                sensors: Vec::new(),
            });
        entry.first_seen = entry.first_seen.min(Timestamp::from_micros(a.timestamp));
        if !entry.sensors.contains(&a.sensor) {
            entry.sensors.push(a.sensor.clone());
        }
    }
    let mut out: Vec<TermsChanged> = by_change.into_values().collect();
    out.sort_by(|a, b| {
        a.first_seen
            .cmp(&b.first_seen)
            .then(a.product.cmp(&b.product))
    });
    out
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.new_vendors.is_empty()
            && self.new_products.is_empty()
            && self.new_internal_hosts.is_empty()
            && self.new_destination_countries.is_empty()
            && self.stopped.is_empty()
            && self.volume_changes.is_empty()
            && self.terms_changed.is_empty()
    }
}

/// Totals of the rows sharing a key, with who was involved.
#[derive(Default)]
struct Tally<'a> {
    hosts: BTreeSet<&'a str>,
    detail: BTreeSet<&'a str>,
    flows: u64,
    bytes_sent: u64,
    first_seen: Option<i64>,
    last_seen: i64,
}

impl<'a> Tally<'a> {
    fn add(&mut self, r: &'a FlowRow, detail: &'a str) {
        self.hosts.insert(&r.internal_host);
        if !detail.is_empty() {
            self.detail.insert(detail);
        }
        self.flows = self.flows.saturating_add(r.flows);
        self.bytes_sent = self.bytes_sent.saturating_add(r.bytes_sent);
        self.first_seen = Some(
            self.first_seen
                .map_or(r.first_seen, |t| t.min(r.first_seen)),
        );
        self.last_seen = self.last_seen.max(r.last_seen);
    }

    fn first(&self) -> Timestamp {
        Timestamp::from_micros(self.first_seen.unwrap_or_default())
    }
}

/// Groups rows by `key`, noting `detail` of each.
fn tally<'a, K: Ord>(
    rows: &'a [FlowRow],
    key: impl Fn(&'a FlowRow) -> K,
    detail: impl Fn(&'a FlowRow) -> &'a str,
) -> BTreeMap<K, Tally<'a>> {
    let mut out: BTreeMap<K, Tally<'a>> = BTreeMap::new();
    for r in rows {
        out.entry(key(r)).or_default().add(r, detail(r));
    }
    out
}

/// The keys of `current` not in `baseline`, earliest first.
fn new_items<K: Ord>(
    current: &BTreeMap<K, Tally<'_>>,
    baseline: &BTreeMap<K, Tally<'_>>,
    name: impl Fn(&K) -> String,
) -> Vec<New> {
    let mut out: Vec<New> = current
        .iter()
        .filter(|(k, _)| !baseline.contains_key(k))
        .map(|(k, t)| New {
            item: name(k),
            detail: t.detail.iter().copied().collect::<Vec<_>>().join(", "),
            internal_hosts: t.hosts.len(),
            flows: t.flows,
            bytes_sent: t.bytes_sent,
            first_seen: t.first(),
        })
        .collect();
    out.sort_by(|a, b| a.first_seen.cmp(&b.first_seen).then(a.item.cmp(&b.item)));
    out
}

/// Bytes uploaded per vendor per day with any AI traffic.
fn bytes_per_day(daily: &[DailyRow]) -> BTreeMap<&str, u64> {
    let days: BTreeSet<&str> = daily.iter().map(|d| d.day.as_str()).collect();
    let count = u64::try_from(days.len()).unwrap_or(u64::MAX).max(1);
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for d in daily {
        let t = totals.entry(d.vendor.as_str()).or_default();
        *t = t.saturating_add(d.bytes_sent);
    }
    totals
        .values_mut()
        .for_each(|t| *t = t.checked_div(count).unwrap_or_default());
    totals
}

/// Compares what `current` recorded within `current_filter` with what `baseline` (the
/// same store, or the last audit's) recorded within `baseline_filter`.
///
/// # Errors
/// The stores' errors.
pub fn between(
    baseline: &Store,
    baseline_filter: &Filter,
    current: &Store,
    current_filter: &Filter,
    factor: f64,
) -> Result<Changes, StoreError> {
    let period = |store: &Store, f: &Filter| Period {
        store: store.target().to_owned(),
        since: f.since.map(Timestamp::from_micros),
        until: f.until.map(Timestamp::from_micros),
    };
    let (then_flows, then_daily) = (
        baseline.flows(baseline_filter)?,
        baseline.daily(baseline_filter)?,
    );
    let (now_flows, now_daily) = (
        current.flows(current_filter)?,
        current.daily(current_filter)?,
    );
    let mut changes = compare(
        &Side {
            period: period(baseline, baseline_filter),
            flows: &then_flows,
            daily: &then_daily,
        },
        &Side {
            period: period(current, current_filter),
            flows: &now_flows,
            daily: &now_daily,
        },
        factor,
    );
    changes.terms_changed = terms_changed(&current.alerts(current_filter)?);
    Ok(changes)
}

/// Compares the current period with the baseline; volumes count as changed when they
/// grew or shrank by `factor` (> 1) or more.
pub fn compare(baseline: &Side<'_>, current: &Side<'_>, factor: f64) -> Changes {
    let vendor_key = |r: &FlowRow| r.vendor.clone();
    let vendors_then = tally(baseline.flows, vendor_key, |r| r.internal_host.as_str());
    let vendors_now = tally(current.flows, vendor_key, |r| r.internal_host.as_str());
    let product_key = |r: &FlowRow| (r.vendor.clone(), r.product.clone());
    let products_then = tally(baseline.flows, product_key, |_| "");
    let products_now = tally(current.flows, product_key, |_| "");
    let host_key = |r: &FlowRow| r.internal_host.clone();
    let hosts_then = tally(baseline.flows, host_key, |r| r.vendor.as_str());
    let hosts_now = tally(current.flows, host_key, |r| r.vendor.as_str());
    let country_key = |r: &FlowRow| r.landing_country.clone();
    let countries_then = tally(baseline.flows, country_key, |r| r.vendor.as_str());
    let countries_now = tally(current.flows, country_key, |r| r.vendor.as_str());
    let use_key = |r: &FlowRow| (r.internal_host.clone(), r.vendor.clone(), r.product.clone());
    let uses_then = tally(baseline.flows, use_key, |_| "");
    let uses_now = tally(current.flows, use_key, |_| "");

    let mut stopped: Vec<Stopped> = uses_then
        .iter()
        .filter(|(k, _)| !uses_now.contains_key(*k))
        .map(|((host, vendor, product), t)| Stopped {
            internal_host: host.clone(),
            vendor: vendor.clone(),
            product: product.clone(),
            flows: t.flows,
            bytes_sent: t.bytes_sent,
            first_seen: t.first(),
            last_seen: Timestamp::from_micros(t.last_seen),
        })
        .collect();
    stopped.sort_by_key(|s| std::cmp::Reverse(s.last_seen));

    let per_day_then = bytes_per_day(baseline.daily);
    let per_day_now = bytes_per_day(current.daily);
    let mut volume_changes: Vec<VolumeChange> = per_day_now
        .iter()
        .filter_map(|(vendor, &now)| {
            let then = *per_day_then.get(vendor)?;
            if then == 0 || now == 0 {
                return None;
            }
            // Byte counts fit an f64's mantissa for any real inventory.
            #[allow(clippy::cast_precision_loss)]
            let ratio = now as f64 / then as f64;
            (ratio >= factor || ratio <= factor.recip()).then(|| VolumeChange {
                vendor: (*vendor).to_owned(),
                baseline_bytes_per_day: then,
                current_bytes_per_day: now,
                ratio,
                first_seen: vendors_then
                    .get(*vendor)
                    .map_or_else(Timestamp::default, Tally::first),
            })
        })
        .collect();
    volume_changes.sort_by(|a, b| b.ratio.total_cmp(&a.ratio));

    Changes {
        baseline: baseline.period.clone(),
        current: current.period.clone(),
        factor,
        new_vendors: new_items(&vendors_now, &vendors_then, Clone::clone),
        new_products: new_items(&products_now, &products_then, |(v, p)| format!("{v}/{p}")),
        new_internal_hosts: new_items(&hosts_now, &hosts_then, Clone::clone),
        new_destination_countries: new_items(&countries_now, &countries_then, |c| {
            if c.is_empty() {
                "unknown".into()
            } else {
                c.clone()
            }
        }),
        stopped,
        volume_changes,
        terms_changed: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(host: &str, vendor: &str, country: &str, first: i64, bytes: u64) -> FlowRow {
        FlowRow {
            internal_host: host.into(),
            vendor: vendor.into(),
            product: format!("{vendor} product"),
            landing_country: country.into(),
            first_seen: first,
            last_seen: first + 10,
            flows: 1,
            bytes_sent: bytes,
            ..FlowRow::default()
        }
    }

    fn day(day: &str, vendor: &str, bytes: u64) -> DailyRow {
        DailyRow {
            day: day.into(),
            vendor: vendor.into(),
            bytes_sent: bytes,
            ..DailyRow::default()
        }
    }

    #[test]
    fn new_stopped_and_moved_are_told_apart() {
        let then = [
            flow("10.0.0.1", "openai", "US", 100, 1000),
            flow("10.0.0.2", "anthropic", "US", 110, 500),
        ];
        let now = [
            flow("10.0.0.1", "openai", "US", 300, 9000),
            flow("10.0.0.3", "deepseek", "CN", 320, 50),
        ];
        let then_daily = [
            day("2026-11-01", "openai", 1000),
            day("2026-11-02", "openai", 1000),
        ];
        let now_daily = [
            day("2026-11-10", "openai", 9000),
            day("2026-11-10", "deepseek", 50),
        ];
        let side = |flows, daily| Side {
            period: Period::default(),
            flows,
            daily,
        };
        let c = compare(
            &side(&then[..], &then_daily[..]),
            &side(&now[..], &now_daily[..]),
            2.0,
        );
        let items = |list: &[New]| list.iter().map(|n| n.item.clone()).collect::<Vec<_>>();
        assert_eq!(items(&c.new_vendors), ["deepseek"]);
        assert_eq!(items(&c.new_products), ["deepseek/deepseek product"]);
        assert_eq!(items(&c.new_internal_hosts), ["10.0.0.3"]);
        assert_eq!(c.new_internal_hosts[0].detail, "deepseek");
        assert_eq!(items(&c.new_destination_countries), ["CN"]);
        assert_eq!(c.new_vendors[0].first_seen, Timestamp::from_micros(320));
        assert_eq!(c.stopped.len(), 1);
        assert_eq!(c.stopped[0].vendor, "anthropic");
        assert_eq!(c.volume_changes.len(), 1);
        let v = &c.volume_changes[0];
        assert_eq!(
            (
                v.vendor.as_str(),
                v.baseline_bytes_per_day,
                v.current_bytes_per_day
            ),
            ("openai", 1000, 9000)
        );
        assert!(!c.is_empty());
        let same = compare(
            &side(&then[..], &then_daily[..]),
            &side(&then[..], &then_daily[..]),
            2.0,
        );
        assert!(same.is_empty());
    }
}
