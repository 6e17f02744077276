//! Destinations the database does not know: the registered domains internal hosts sent
//! data to that no signature matches, as every sensor's sketch kept them, merged across
//! sensors and ranked by data sent, with the hints that they may be AI services and a
//! `signatures/` stub for a reviewer who confirms one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use serde::Serialize;

use crate::discovery::unknown::{Hints, signature_stub};
use crate::escape::csv_rows;
use crate::inventory::store::{Filter, Store, StoreError, UnknownHostRow, UnknownRow};
use crate::time::Timestamp;

/// One unknown registered domain, over every sensor that kept it.
#[derive(Debug, Clone, Serialize)]
pub struct UnknownDestination {
    pub domain: String,
    /// A full name seen under it.
    pub example: String,
    /// Bytes internal hosts sent it: at least the true figure, at most `bytes_error`
    /// above it (what the sensors' sketches may have counted for other domains).
    pub bytes_sent: u64,
    pub bytes_error: u64,
    pub bytes_received: u64,
    pub flows: u64,
    /// Distinct internal hosts recorded (pseudonyms when the sensors pseudonymise).
    pub internal_hosts: usize,
    /// More hosts sent to it than were recorded: `internal_hosts` is a lower bound.
    pub more_hosts: bool,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Why it may be an AI service, each hint named (`ai_tld`, `ai_word`,
    /// `ai_client_fingerprint`, `token_stream`).
    pub hints: Vec<&'static str>,
    pub sensors: Vec<String>,
    /// A `signatures/` file to complete if a reviewer confirms it is an AI service.
    pub signature_stub: String,
}

/// The unknown destinations, largest upload first.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UnknownReport {
    pub destinations: Vec<UnknownDestination>,
}

impl UnknownReport {
    /// The unknown destinations `store` holds within `filter` (its vendor does not apply).
    ///
    /// # Errors
    /// The store's.
    pub fn build(store: &Store, filter: &Filter) -> Result<Self, StoreError> {
        Ok(Self::from_rows(
            &store.unknown(filter)?,
            &store.unknown_hosts(filter)?,
        ))
    }

    pub fn from_rows(rows: &[UnknownRow], hosts: &[UnknownHostRow]) -> Self {
        let mut by_domain: BTreeMap<&str, UnknownDestination> = BTreeMap::new();
        let mut hints: BTreeMap<&str, u64> = BTreeMap::new();
        let mut sensors: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for r in rows {
            let d = by_domain
                .entry(r.domain.as_str())
                .or_insert_with(|| UnknownDestination {
                    domain: r.domain.clone(),
                    example: r.example.clone(),
                    bytes_sent: 0,
                    bytes_error: 0,
                    bytes_received: 0,
                    flows: 0,
                    internal_hosts: 0,
                    more_hosts: false,
                    first_seen: Timestamp::from_micros(r.first_seen),
                    last_seen: Timestamp::from_micros(r.last_seen),
                    hints: Vec::new(),
                    sensors: Vec::new(),
                    signature_stub: String::new(),
                });
            d.bytes_sent = d.bytes_sent.saturating_add(r.bytes_sent);
            d.bytes_error = d.bytes_error.saturating_add(r.bytes_error);
            d.bytes_received = d.bytes_received.saturating_add(r.bytes_received);
            d.flows = d.flows.saturating_add(r.flows);
            d.more_hosts |= r.hosts_capped;
            d.first_seen = d.first_seen.min(Timestamp::from_micros(r.first_seen));
            d.last_seen = d.last_seen.max(Timestamp::from_micros(r.last_seen));
            if d.example.is_empty() || (!r.example.is_empty() && r.example < d.example) {
                d.example.clone_from(&r.example);
            }
            *hints.entry(r.domain.as_str()).or_default() |= r.hints;
            sensors
                .entry(r.domain.as_str())
                .or_default()
                .insert(r.sensor.as_str());
        }
        let mut host_sets: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for h in hosts {
            host_sets
                .entry(h.domain.as_str())
                .or_default()
                .insert(h.internal_host.as_str());
        }
        let mut destinations: Vec<UnknownDestination> = by_domain
            .into_iter()
            .map(|(domain, mut d)| {
                d.internal_hosts = host_sets.get(domain).map_or(0, BTreeSet::len);
                let bits = hints.get(domain).copied().unwrap_or(0);
                d.hints = Hints::from_bits(u8::try_from(bits & 0xff).unwrap_or(0)).names();
                d.sensors = sensors
                    .get(domain)
                    .map(|s| s.iter().map(|x| (*x).to_owned()).collect())
                    .unwrap_or_default();
                d.signature_stub = signature_stub(&d.domain, &d.example, d.first_seen);
                d
            })
            .collect();
        destinations.sort_by(|a, b| {
            b.bytes_sent
                .cmp(&a.bytes_sent)
                .then_with(|| a.domain.cmp(&b.domain))
        });
        Self { destinations }
    }
}

/// One CSV line.
#[derive(Serialize)]
struct CsvRow<'a> {
    domain: &'a str,
    example: &'a str,
    bytes_sent: u64,
    bytes_error: u64,
    bytes_received: u64,
    flows: u64,
    internal_hosts: usize,
    more_hosts: bool,
    first_seen: String,
    last_seen: String,
    hints: String,
    sensors: String,
}

/// Writes the report as CSV, one line per destination.
///
/// # Errors
/// The writer's I/O errors.
pub fn write_csv(report: &UnknownReport, out: &mut dyn Write) -> io::Result<()> {
    csv_rows(
        report.destinations.iter().map(|d| CsvRow {
            domain: &d.domain,
            example: &d.example,
            bytes_sent: d.bytes_sent,
            bytes_error: d.bytes_error,
            bytes_received: d.bytes_received,
            flows: d.flows,
            internal_hosts: d.internal_hosts,
            more_hosts: d.more_hosts,
            first_seen: d.first_seen.to_string(),
            last_seen: d.last_seen.to_string(),
            hints: d.hints.join(" "),
            sensors: d.sensors.join(" "),
        }),
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sensor: &str, domain: &str, sent: u64, hints: u64) -> UnknownRow {
        UnknownRow {
            sensor: sensor.into(),
            domain: domain.into(),
            example: format!("api.{domain}"),
            bytes_sent: sent,
            bytes_error: 1,
            bytes_received: 10,
            flows: 1,
            first_seen: 5,
            last_seen: 9,
            hints,
            hosts_capped: false,
        }
    }

    fn host(sensor: &str, domain: &str, host: &str) -> UnknownHostRow {
        UnknownHostRow {
            sensor: sensor.into(),
            domain: domain.into(),
            internal_host: host.into(),
            first_seen: 5,
            last_seen: 9,
        }
    }

    #[test]
    fn sensors_merge_per_domain_and_rank_by_data_sent() {
        let rows = [
            row("office", "foo.ai", 100, 1),
            row("dc", "foo.ai", 300, 2),
            row("dc", "bar.com", 350, 0),
        ];
        let hosts = [
            host("office", "foo.ai", "h:1"),
            host("dc", "foo.ai", "h:1"),
            host("dc", "foo.ai", "h:2"),
            host("dc", "bar.com", "h:3"),
        ];
        let r = UnknownReport::from_rows(&rows, &hosts);
        let order: Vec<&str> = r.destinations.iter().map(|d| d.domain.as_str()).collect();
        assert_eq!(order, ["foo.ai", "bar.com"]);
        let foo = &r.destinations[0];
        assert_eq!((foo.bytes_sent, foo.bytes_error, foo.flows), (400, 2, 2));
        assert_eq!(foo.internal_hosts, 2);
        assert_eq!(foo.hints, ["ai_tld", "ai_word"]);
        assert_eq!(foo.sensors, ["dc", "office"]);
        assert!(foo.signature_stub.contains("\"foo.ai\""));
    }
}
