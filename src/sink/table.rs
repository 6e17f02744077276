//! A summary table for people: flows grouped by the server's name.
//!
//! Each row is one server name (SNI, else HTTP Host, else the name DNS resolved to the
//! address, else the address itself) with its flows, packets and bytes in both directions,
//! sorted by bytes sent — the upload volume an auditor asks about first. Servers the
//! signature database knows as AI endpoints come first, with their vendor and product.
//!
//! Names and alert reasons come off the wire, so every text cell is written through
//! [`terminal`]: a server name cannot colour, move or retitle the terminal it is read on.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use crate::escape::terminal;
use crate::event::{Body, Event, EventSink};

#[derive(Debug, Default, Clone)]
struct Row {
    /// `vendor/product` when the database knows the server.
    ai: Option<String>,
    /// Where its data lands (`IE`, `US?` for low confidence), for AI servers.
    landing: Option<String>,
    /// The policy's worst verdict on its flows.
    verdict: Option<crate::alert::Verdict>,
    flows: u64,
    clients: std::collections::BTreeSet<std::net::IpAddr>,
    protocols: std::collections::BTreeSet<&'static str>,
    pkts_up: u64,
    pkts_down: u64,
    bytes_up: u64,
    bytes_down: u64,
}

/// Alerts of one rule, host and vendor.
#[derive(Debug, Default, Clone)]
struct AlertRow {
    severity: &'static str,
    count: u64,
    reason: String,
}

/// Collects flow records and alerts and prints them grouped.
#[derive(Debug, Default)]
pub struct TableSink {
    rows: HashMap<String, Row>,
    /// (rule, internal host, vendor) → alerts.
    alerts: BTreeMap<(&'static str, String, String), AlertRow>,
}

impl EventSink for TableSink {
    fn event(&mut self, event: Event) -> io::Result<()> {
        if let Body::Alert(a, _) = &event.body {
            let vendor = event.ai.as_ref().map_or("-", |ai| ai.vendor.as_str());
            let row = self
                .alerts
                .entry((
                    a.rule.as_str(),
                    event.header.src_ip.to_string(),
                    vendor.to_owned(),
                ))
                .or_default();
            row.severity = a.severity.as_str();
            row.count = row.count.saturating_add(a.count);
            if !a.summary {
                row.reason.clone_from(&a.reason);
            }
            return Ok(());
        }
        let Some(cells) = event.body.table_row() else {
            return Ok(());
        };
        let name = cells
            .name
            .map_or_else(|| event.header.dest_ip.to_string(), ToOwned::to_owned);
        let row = self.rows.entry(name).or_default();
        if row.ai.is_none() {
            row.ai = event
                .ai
                .as_ref()
                .map(|a| format!("{}/{}", a.vendor, a.product));
        }
        if let Some(l) = &event.landing
            && row.landing.is_none()
        {
            let low = l.confidence <= crate::landing::Confidence::Low;
            row.landing = Some(match &l.country {
                Some(c) if low => format!("{c}?"),
                Some(c) => c.clone(),
                None => "?".into(),
            });
        }
        row.verdict = row.verdict.max(event.verdict);
        row.flows = row.flows.saturating_add(1);
        row.clients.insert(event.header.src_ip);
        row.protocols
            .insert(cells.app_proto.unwrap_or(event.header.proto.as_str()));
        row.pkts_up = row.pkts_up.saturating_add(cells.pkts_up);
        row.pkts_down = row.pkts_down.saturating_add(cells.pkts_down);
        row.bytes_up = row.bytes_up.saturating_add(cells.bytes_up);
        row.bytes_down = row.bytes_down.saturating_add(cells.bytes_down);
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
        let rows: Vec<(Cow<'_, str>, &Row)> =
            rows.into_iter().map(|(n, r)| (terminal(n), r)).collect();
        let width = rows
            .iter()
            .map(|(n, _)| n.chars().count())
            .max()
            .unwrap_or(6)
            .clamp(6, 60);
        writeln!(
            out,
            "{:<width$}  {:>6}  {:>7}  {:>9}  {:>9}  {:>11}  {:>11}  {:<8}  {:<7}  {:<10}  AI",
            "SERVER",
            "FLOWS",
            "CLIENTS",
            "PKTS_UP",
            "PKTS_DOWN",
            "BYTES_UP",
            "BYTES_DOWN",
            "PROTO",
            "LANDING",
            "VERDICT"
        )?;
        for (name, r) in rows {
            let protocols: Vec<&str> = r.protocols.iter().copied().collect();
            writeln!(
                out,
                "{:<width$}  {:>6}  {:>7}  {:>9}  {:>9}  {:>11}  {:>11}  {:<8}  {:<7}  {:<10}  {}",
                truncate(&name, width),
                r.flows,
                r.clients.len(),
                r.pkts_up,
                r.pkts_down,
                r.bytes_up,
                r.bytes_down,
                protocols.join(","),
                terminal(r.landing.as_deref().unwrap_or("-")),
                r.verdict.map_or("-", |v| v.as_str()),
                terminal(r.ai.as_deref().unwrap_or("-"))
            )?;
        }
        if !self.alerts.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "{:<22}  {:<8}  {:<40}  {:<14}  {:>5}  REASON",
                "ALERT", "SEVERITY", "HOST", "VENDOR", "COUNT"
            )?;
            for ((rule, host, vendor), a) in &self.alerts {
                writeln!(
                    out,
                    "{rule:<22}  {:<8}  {:<40}  {:<14}  {:>5}  {}",
                    a.severity,
                    terminal(host),
                    terminal(vendor),
                    a.count,
                    terminal(&a.reason)
                )?;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertInfo, Rule, Severity, Verdict};
    use crate::event::Header;
    use crate::protocols::flow::{FlowEndReason, FlowInfo};
    use crate::time::Timestamp;

    fn event(body: Body) -> Event {
        Event {
            header: Header::sample(1, Timestamp::from_micros(0)),
            body,
            ai: None,
            landing: None,
            verdict: None,
        }
    }

    #[test]
    fn wire_text_cannot_drive_the_terminal() {
        let mut sink = TableSink::default();
        let flow = |sni: &str| {
            event(Body::Flow(FlowInfo {
                pkts_toserver: 1,
                pkts_toclient: 1,
                bytes_toserver: 100,
                bytes_toclient: 100,
                start: Timestamp::from_micros(0),
                end: Timestamp::from_micros(0),
                age: 0,
                state: "closed",
                reason: FlowEndReason::Shutdown,
                app_proto: Some("tls"),
                app_proto_orig: None,
                sni: Some(sni.into()),
                http_host: None,
                dns_name: None,
                hello_unreadable: false,
                detail: crate::flow::ProtocolDetail::None,
            }))
        };
        sink.event(flow("\u{1b}[31mevil\u{1b}]0;pwned\u{7}.example"))
            .unwrap();
        sink.event(flow("nul\0line\nbreak\u{9b}2J")).unwrap();
        sink.event(event(Body::Alert(
            AlertInfo {
                rule: Rule::UnapprovedAiVendor,
                severity: Severity::High,
                verdict: Verdict::Unapproved,
                reason: "Unapproved \u{1b}[2J\u{202e}host".into(),
                policy: "approve".into(),
                count: 1,
                summary: false,
                first_seen: Timestamp::from_micros(0),
                last_seen: Timestamp::from_micros(0),
                upload: None,
                terms: Vec::new(),
            },
            None,
        )))
        .unwrap();
        let mut out = Vec::new();
        sink.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(!text.contains('\u{202e}'), "{text:?}");
        assert!(
            text.contains("\\x1b[31mevil\\x1b]0;pwned\\x07.example"),
            "{text}"
        );
        assert!(text.contains("nul\\x00line\\x0abreak\\x9b2J"), "{text}");
        assert!(text.contains("Unapproved \\x1b[2J\\u{202e}host"), "{text}");
        // Two flow rows, the alert row and their headers and a blank line: a newline in
        // a name does not add a row.
        assert_eq!(text.lines().count(), 6, "{text}");
    }
}
