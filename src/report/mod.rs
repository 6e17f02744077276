//! Reports from the inventory, one module per report — the inventory itself
//! ([`inventory`]), the transfer register ([`transfers`]), the changes since a baseline
//! ([`changes`]) — and one renderer per format: a table for the terminal ([`text`]), CSV
//! ([`csv`]) and JSON for spreadsheets and tools, Markdown ([`markdown`]), and a single
//! self-contained HTML file for auditors ([`html`]: inline CSS and SVG charts, no
//! scripts, nothing fetched when it is opened).
//!
//! Names, hosts and reasons in the rows came off the wire, so each format escapes them
//! for where it is read (see [`crate::escape`]): the table for a terminal, the
//! Markdown for a renderer that passes HTML through, the CSV for a spreadsheet that runs
//! formulas, the HTML as HTML.

pub mod changes;
mod csv;
pub mod html;
pub mod inventory;
mod markdown;
mod text;
pub mod transfers;
pub mod unknown;

use std::io::{self, Write};

pub use inventory::{HostSummary, Report, Row, SaasSummary, Summary, VendorSummary};

use crate::time::Timestamp;
use changes::Changes;
use csv::{changes_csv, csv};
use html::{changes_html, html, page_end, page_start, transfers_html, unknown_html};
use markdown::{changes_markdown, markdown, transfers_markdown, unknown_markdown};
use text::{changes_text, table, transfers_table, unknown_table};
use transfers::Transfer;
use unknown::UnknownReport;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Html,
    Markdown,
}

/// A report every renderer can write; JSON is its serialisation.
pub trait Rendered: serde::Serialize {
    /// The table for a terminal.
    ///
    /// # Errors
    /// The writer's I/O errors.
    fn text(&self, out: &mut dyn Write) -> io::Result<()>;
    /// CSV: one line per row of the report.
    ///
    /// # Errors
    /// The writer's I/O errors.
    fn csv(&self, out: &mut dyn Write) -> io::Result<()>;
    /// A self-contained HTML page.
    fn html(&self) -> String;
    fn markdown(&self) -> String;
}

/// Writes `report` in `format`.
///
/// # Errors
/// The writer's I/O errors.
pub fn write<R: Rendered + ?Sized>(
    report: &R,
    format: Format,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Table => report.text(out),
        Format::Csv => report.csv(out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            out.write_all(b"\n")
        }
        Format::Html => out.write_all(report.html().as_bytes()),
        Format::Markdown => out.write_all(report.markdown().as_bytes()),
    }
}

impl Rendered for Report {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        table(self, out)
    }

    fn csv(&self, out: &mut dyn Write) -> io::Result<()> {
        csv(self, out)
    }

    fn html(&self) -> String {
        html(self)
    }

    fn markdown(&self) -> String {
        markdown(self)
    }
}

/// The transfer register.
impl Rendered for [Transfer] {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        transfers_table(self, out)
    }

    fn csv(&self, out: &mut dyn Write) -> io::Result<()> {
        transfers::write_csv(self, out)
    }

    fn html(&self) -> String {
        let mut h = page_start(
            "Transfer register",
            &format!("Generated {}", Timestamp::now()),
        );
        transfers_html(&mut h, self);
        page_end(&mut h);
        h
    }

    fn markdown(&self) -> String {
        let mut m = String::from("# Transfer register\n\n");
        transfers_markdown(&mut m, self);
        m
    }
}

/// Destinations the database does not know.
impl Rendered for UnknownReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        unknown_table(self, out)
    }

    fn csv(&self, out: &mut dyn Write) -> io::Result<()> {
        unknown::write_csv(self, out)
    }

    fn html(&self) -> String {
        let mut h = page_start(
            "Destinations the database does not know",
            &format!("Generated {}", Timestamp::now()),
        );
        unknown_html(&mut h, &self.destinations);
        page_end(&mut h);
        h
    }

    fn markdown(&self) -> String {
        let mut m = String::from("# Destinations the database does not know\n\n");
        unknown_markdown(&mut m, &self.destinations);
        m
    }
}

/// The changes since a baseline; CSV has one line per change.
impl Rendered for Changes {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(changes_text(self).as_bytes())
    }

    fn csv(&self, out: &mut dyn Write) -> io::Result<()> {
        changes_csv(self, out)
    }

    fn html(&self) -> String {
        let mut h = page_start(
            "Changes since the last audit",
            &format!("Generated {}", Timestamp::now()),
        );
        changes_html(&mut h, self);
        page_end(&mut h);
        h
    }

    fn markdown(&self) -> String {
        let mut m = String::from("# Changes since the last audit\n\n");
        changes_markdown(&mut m, self);
        m
    }
}

fn period_text(p: &changes::Period) -> String {
    format!(
        "{} ({} to {})",
        p.store,
        p.since
            .map_or_else(|| "the start".into(), |t| t.to_string()),
        p.until.map_or_else(|| "now".into(), |t| t.to_string())
    )
}

/// The changes as (section, item, detail, first seen) lines, in the report's order.
fn change_lines(c: &Changes) -> Vec<(&'static str, String, String, String)> {
    let mut lines = Vec::new();
    for (section, list) in [
        ("new vendor", &c.new_vendors),
        ("new product", &c.new_products),
        ("new internal host", &c.new_internal_hosts),
        ("new destination country", &c.new_destination_countries),
    ] {
        for n in list {
            let totals = format!(
                "{} internal host(s), {} flows, {} sent",
                n.internal_hosts,
                n.flows,
                human_bytes(n.bytes_sent)
            );
            let detail = match (n.detail.is_empty(), section) {
                (true, _) => totals,
                (false, "new internal host") => format!("talks to {}; {totals}", n.detail),
                (false, "new vendor") => format!("from {}; {totals}", n.detail),
                (false, _) => format!("{}; {totals}", n.detail),
            };
            lines.push((section, n.item.clone(), detail, n.first_seen.to_string()));
        }
    }
    for x in &c.stopped {
        lines.push((
            "stopped",
            format!("{} -> {}/{}", x.internal_host, x.vendor, x.product),
            format!(
                "last seen {}; {} flows, {} sent",
                x.last_seen,
                x.flows,
                human_bytes(x.bytes_sent)
            ),
            x.first_seen.to_string(),
        ));
    }
    for t in &c.terms_changed {
        lines.push((
            "terms changed",
            format!("{}/{}", t.vendor, t.product),
            format!("{} (sensors: {})", t.what, t.sensors.join(", ")),
            t.first_seen.to_string(),
        ));
    }
    for v in &c.volume_changes {
        lines.push((
            "volume change",
            v.vendor.clone(),
            format!(
                "{} per day, was {} per day ({:.1}x)",
                human_bytes(v.current_bytes_per_day),
                human_bytes(v.baseline_bytes_per_day),
                v.ratio
            ),
            v.first_seen.to_string(),
        ));
    }
    lines
}

/// Human byte counts: `1.5 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    // Precision loss only affects the displayed decimal.
    #[allow(clippy::cast_precision_loss)]
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len().saturating_sub(1) {
        value /= 1000.0;
        unit = unit.saturating_add(1);
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {name}")
    }
}
