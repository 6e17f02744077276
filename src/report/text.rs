//! The reports as text for a terminal.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::changes::Changes;
use super::inventory::Report;
use super::transfers::{self, Transfer};
use super::unknown::UnknownReport;
use super::{change_lines, human_bytes, period_text};
use crate::escape::terminal;

pub(super) fn table(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let s = &r.summary;
    writeln!(
        out,
        "signature database {} ({})",
        terminal(&r.signatures_version),
        terminal(&r.signatures_date)
    )?;
    writeln!(
        out,
        "{} AI vendors, {} internal hosts, {} flows, {} sent ({:.0}% outside the EEA), {} unapproved flows, {} alerts",
        s.vendors,
        s.internal_hosts,
        s.flows,
        human_bytes(s.bytes_sent),
        s.share_sent_outside_eea * 100.0,
        s.unapproved_flows,
        s.alerts
    )?;
    if !r.saas.is_empty() {
        writeln!(
            out,
            "AI reached through SaaS (not counted above): {}",
            r.saas
                .iter()
                .map(|x| format!("{} ({} sent)", terminal(&x.name), human_bytes(x.bytes_sent)))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    let uncovered = r
        .transfers
        .iter()
        .filter(|t| {
            matches!(
                t.mechanism,
                transfers::Mechanism::NoneKnown | transfers::Mechanism::UnknownLanding
            )
        })
        .count();
    writeln!(
        out,
        "Transfer register: {} destinations outside the EEA or unknown, {uncovered} without a known mechanism (--report transfers)",
        r.transfers.len()
    )?;
    writeln!(
        out,
        "{:<24}  {:<14}  {:<30}  {:<40}  {:<7}  {:<10}  {:>6}  {:>10}  {:>10}",
        "INTERNAL_HOST",
        "VENDOR",
        "PRODUCT",
        "ENDPOINT",
        "LANDING",
        "VERDICT",
        "FLOWS",
        "SENT",
        "RECEIVED"
    )?;
    for row in &r.rows {
        writeln!(
            out,
            "{:<24}  {:<14}  {:<30}  {:<40}  {:<7}  {:<10}  {:>6}  {:>10}  {:>10}",
            terminal(&row.internal_host),
            terminal(&row.vendor),
            terminal(&row.product),
            terminal(&row.endpoint),
            terminal(&row.landing_country),
            terminal(&row.verdict),
            row.flows,
            row.bytes_sent,
            row.bytes_received
        )?;
    }
    Ok(())
}

pub(super) fn transfers_table(register: &[Transfer], out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<14}  {:<30}  {:<40}  {:<7}  {:<6}  {:<15}  {:>6}  {:>10}  EEA_ALTERNATIVE",
        "VENDOR", "PRODUCT", "ENDPOINT", "COUNTRY", "CONF", "MECHANISM", "FLOWS", "SENT"
    )?;
    for t in register {
        writeln!(
            out,
            "{:<14}  {:<30}  {:<40}  {:<7}  {:<6}  {:<15}  {:>6}  {:>10}  {}",
            terminal(&t.vendor),
            terminal(&t.product),
            terminal(&t.endpoint),
            terminal(&t.destination_country),
            terminal(&t.confidence),
            t.mechanism.as_str(),
            t.flows,
            t.bytes_sent,
            terminal(&t.eea_alternative)
        )?;
    }
    Ok(())
}

pub(super) fn changes_text(c: &Changes) -> String {
    let mut t = format!(
        "Baseline: {}\nCurrent:  {}\n",
        terminal(&period_text(&c.baseline)),
        terminal(&period_text(&c.current))
    );
    if c.is_empty() {
        t.push_str("No changes.\n");
    }
    for (section, item, detail, first) in change_lines(c) {
        let _ = writeln!(
            t,
            "{section:<25}  {:<40}  first seen {first}  {}",
            terminal(&item),
            terminal(&detail)
        );
    }
    t
}

pub(super) fn unknown_table(report: &UnknownReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<40}  {:>10}  {:>10}  {:>6}  {:>5}  HINTS",
        "DOMAIN", "SENT", "ERROR", "FLOWS", "HOSTS"
    )?;
    for d in &report.destinations {
        writeln!(
            out,
            "{:<40}  {:>10}  {:>10}  {:>6}  {:>5}  {}",
            terminal(&d.domain),
            human_bytes(d.bytes_sent),
            human_bytes(d.bytes_error),
            d.flows,
            format!(
                "{}{}",
                d.internal_hosts,
                if d.more_hosts { "+" } else { "" }
            ),
            d.hints.join(",")
        )?;
    }
    Ok(())
}
