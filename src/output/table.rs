//! A summary table for people: flows grouped by the server's name.
//!
//! Each row is one server name (SNI, else HTTP Host, else the name DNS resolved to the
//! address, else the address itself) with its flows, packets and bytes in both directions,
//! sorted by bytes sent — the upload volume an auditor asks about first. Servers the
//! signature database knows as AI endpoints come first, with their vendor and product.

use std::collections::HashMap;
use std::io::{self, Write};

use crate::event::{Body, Event, EventSink};

#[derive(Debug, Default, Clone)]
struct Row {
    /// `vendor/product` when the database knows the server.
    ai: Option<String>,
    flows: u64,
    clients: std::collections::BTreeSet<std::net::IpAddr>,
    protocols: std::collections::BTreeSet<&'static str>,
    pkts_up: u64,
    pkts_down: u64,
    bytes_up: u64,
    bytes_down: u64,
}

/// Collects flow records and prints them grouped.
#[derive(Debug, Default)]
pub struct TableSink {
    rows: HashMap<String, Row>,
}

impl EventSink for TableSink {
    fn event(&mut self, event: Event) -> io::Result<()> {
        let Body::Flow(f) = &event.body else {
            return Ok(());
        };
        let name = f
            .sni
            .clone()
            .or_else(|| f.http_host.clone())
            .or_else(|| f.dns_name.clone())
            .unwrap_or_else(|| event.header.dest_ip.to_string());
        let row = self.rows.entry(name).or_default();
        if row.ai.is_none() {
            row.ai = event
                .ai
                .as_ref()
                .map(|a| format!("{}/{}", a.vendor, a.product));
        }
        row.flows = row.flows.saturating_add(1);
        row.clients.insert(event.header.src_ip);
        row.protocols
            .insert(f.app_proto.unwrap_or(event.header.proto.as_str()));
        row.pkts_up = row.pkts_up.saturating_add(f.pkts_toserver);
        row.pkts_down = row.pkts_down.saturating_add(f.pkts_toclient);
        row.bytes_up = row.bytes_up.saturating_add(f.bytes_toserver);
        row.bytes_down = row.bytes_down.saturating_add(f.bytes_toclient);
        Ok(())
    }
}

impl TableSink {
    /// Prints the table, largest upload first.
    ///
    /// # Errors
    /// The writer's I/O errors.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut rows: Vec<(&String, &Row)> = self.rows.iter().collect();
        rows.sort_by(|a, b| {
            b.1.ai
                .is_some()
                .cmp(&a.1.ai.is_some())
                .then_with(|| b.1.bytes_up.cmp(&a.1.bytes_up))
                .then_with(|| a.0.cmp(b.0))
        });
        let width = rows
            .iter()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(6)
            .clamp(6, 60);
        writeln!(
            out,
            "{:<width$}  {:>6}  {:>7}  {:>9}  {:>9}  {:>11}  {:>11}  {:<6}  AI",
            "SERVER", "FLOWS", "CLIENTS", "PKTS_UP", "PKTS_DOWN", "BYTES_UP", "BYTES_DOWN", "PROTO"
        )?;
        for (name, r) in rows {
            let protocols: Vec<&str> = r.protocols.iter().copied().collect();
            writeln!(
                out,
                "{:<width$}  {:>6}  {:>7}  {:>9}  {:>9}  {:>11}  {:>11}  {:<6}  {}",
                truncate(name, width),
                r.flows,
                r.clients.len(),
                r.pkts_up,
                r.pkts_down,
                r.bytes_up,
                r.bytes_down,
                protocols.join(","),
                r.ai.as_deref().unwrap_or("-")
            )?;
        }
        Ok(())
    }
}

fn truncate(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        return name.to_owned();
    }
    let mut s: String = name.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}
