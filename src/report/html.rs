//! The reports as one self-contained HTML page for auditors: inline CSS and SVG charts,
//! no scripts, nothing fetched when it is opened, and every column kept when printed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::changes::Changes;
use super::inventory::{Report, VendorSummary};
use super::transfers::Transfer;
use super::unknown::UnknownDestination;
use super::{change_lines, human_bytes, period_text};
use crate::time::Timestamp;

/// Explains each mechanism, for readers of the register.
const MECHANISMS: &str = "<p class=\"muted\">Mechanism: <b>adequacy</b> — the country has an EU adequacy decision; <b>dpf</b> — a US vendor the policy lists as certified under the EU-US Data Privacy Framework; <b>scc_in_dpa</b> — the vendor's DPA relies on the Standard Contractual Clauses, the detail says which modules and which data (a Transfer Impact Assessment is still due); <b>none_known</b> — no mechanism is known to aigress: ask the vendor or stop the flow; <b>unknown_landing</b> — where the data lands could not be judged.</p>";

pub(super) fn transfers_html(h: &mut String, register: &[Transfer]) {
    let rows = register.iter().map(|t| {
        vec![
            Cell::text(&t.vendor),
            Cell::text(&t.product),
            Cell::text(&t.endpoint),
            Cell::text(&t.destination_country),
            Cell::text(&t.confidence),
            Cell::Html(format!(
                "<span class=\"m-{0}\">{0}</span>",
                t.mechanism.as_str()
            )),
            Cell::Html(source_link(&t.mechanism_source)),
            Cell::text(&t.internal_hosts.join(", ")),
            Cell::text(&t.networks.join(", ")),
            Cell::number(t.flows),
            Cell::number(human_bytes(t.bytes_sent)),
            Cell::text(&t.first_seen.to_string()),
            Cell::text(&t.last_seen.to_string()),
            Cell::text(&t.eea_alternative),
        ]
    });
    html_table(
        h,
        "transfers",
        "Transfer register: AI data leaving the EEA",
        &[
            "Vendor",
            "Product",
            "Endpoint",
            "Country",
            "Confidence",
            "Mechanism",
            "Mechanism source",
            "Internal hosts",
            "Networks",
            "Flows",
            "Sent",
            "First seen",
            "Last seen",
            "EEA alternative",
        ],
        rows,
    );
    h.push_str(MECHANISMS);
}

/// A source cell: a link when it is a URL, else the text (a policy file).
fn source_link(source: &str) -> String {
    if source.starts_with("https://") {
        format!("<a href=\"{0}\" rel=\"noreferrer\">{0}</a>", esc(source))
    } else {
        esc(source)
    }
}

pub(super) fn changes_html(h: &mut String, c: &Changes) {
    let rows = change_lines(c)
        .into_iter()
        .map(|(section, item, detail, first)| {
            vec![
                Cell::text(section),
                Cell::text(&item),
                Cell::text(&detail),
                Cell::text(&first),
            ]
        });
    html_table(
        h,
        "changes",
        "Changes since the last audit",
        &["Change", "Item", "Detail", "First seen"],
        rows,
    );
    let _ = write!(
        h,
        "<p class=\"muted\">Baseline: {}. Current: {}. Volume changes: bytes uploaded per day with AI traffic, {}x or more either way.{}</p>",
        esc(&period_text(&c.baseline)),
        esc(&period_text(&c.current)),
        c.factor,
        if c.is_empty() { " No changes." } else { "" }
    );
}

/// HTML-escapes text for element content and attribute values.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A link to a vendor document, or a note that the database has none.
fn link(url: Option<&String>, label: &str) -> String {
    match url {
        Some(u) if u.starts_with("https://") => {
            format!(
                "<a href=\"{}\" rel=\"noreferrer\">{}</a>",
                esc(u),
                esc(label)
            )
        }
        _ => "<span class=\"muted\">not in the database</span>".into(),
    }
}

const PALETTE: [&str; 10] = [
    "#2f6690", "#d1495b", "#66a182", "#edae49", "#8d6a9f", "#3a7ca5", "#c3423f", "#9bc53d",
    "#5bc0eb", "#404e4d",
];

/// The `i`th chart colour, cycling.
fn palette(i: usize) -> &'static str {
    PALETTE
        .get(i.checked_rem(PALETTE.len()).unwrap_or(0))
        .copied()
        .unwrap_or("#2f6690")
}

fn ratio(part: u64, whole: u64, scale: f64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    // Display geometry only.
    #[allow(clippy::cast_precision_loss)]
    let r = part as f64 / whole as f64 * scale;
    r
}

/// Horizontal bars: bytes uploaded per vendor.
fn bytes_per_vendor_svg(r: &Report) -> String {
    let bars: Vec<&VendorSummary> = r.vendors.iter().take(15).collect();
    let max = bars.iter().map(|v| v.bytes_sent).max().unwrap_or(0);
    let row_h = 26.0;
    #[allow(clippy::cast_precision_loss)]
    let height = (bars.len() as f64).mul_add(row_h, 10.0);
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"Bytes uploaded per vendor\" viewBox=\"0 0 720 {height}\" width=\"720\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, v) in bars.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let y = (i as f64).mul_add(row_h, 5.0);
        let w = ratio(v.bytes_sent, max, 440.0).max(1.0);
        let color = palette(i);
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\" font-size=\"13\">{}</text><rect x=\"170\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"18\" fill=\"{color}\"><title>{}: {} bytes</title></rect><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\">{}</text>",
            y + 14.0,
            esc(&v.name),
            esc(&v.name),
            v.bytes_sent,
            175.0 + w,
            y + 14.0,
            human_bytes(v.bytes_sent)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Stacked columns: bytes uploaded per day, by landing country.
fn landing_over_time_svg(r: &Report) -> String {
    let mut days: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
    let mut countries: BTreeMap<&str, u64> = BTreeMap::new();
    // Direct AI only, as the summary: a SaaS's bytes go to the SaaS, not to an AI service.
    let saas_only: BTreeSet<&str> = r
        .saas
        .iter()
        .map(|s| s.vendor.as_str())
        .filter(|v| !r.vendors.iter().any(|d| d.vendor == *v))
        .collect();
    for d in r
        .daily
        .iter()
        .filter(|d| !saas_only.contains(d.vendor.as_str()))
    {
        let c = if d.landing_country.is_empty() {
            "unknown"
        } else {
            d.landing_country.as_str()
        };
        let e = days.entry(&d.day).or_default().entry(c).or_default();
        *e = e.saturating_add(d.bytes_sent);
        let t = countries.entry(c).or_default();
        *t = t.saturating_add(d.bytes_sent);
    }
    let max = days
        .values()
        .map(|m| m.values().copied().fold(0u64, u64::saturating_add))
        .max()
        .unwrap_or(0);
    let colors: BTreeMap<&str, &str> = countries
        .keys()
        .enumerate()
        .map(|(i, c)| (*c, palette(i)))
        .collect();
    let n = days.len().max(1);
    #[allow(clippy::cast_precision_loss)]
    let col_w = (660.0 / n as f64).min(60.0);
    let chart_h = 200.0;
    let mut svg = String::from(
        "<svg role=\"img\" aria-label=\"Bytes uploaded per day by landing country\" viewBox=\"0 0 720 260\" width=\"720\" height=\"260\" xmlns=\"http://www.w3.org/2000/svg\">",
    );
    for (i, (day, per_country)) in days.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = (i as f64).mul_add(col_w, 40.0);
        let mut top = chart_h;
        for (c, bytes) in per_country {
            let h = ratio(*bytes, max, chart_h - 10.0);
            top -= h;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{} {}: {} bytes</title></rect>",
                (col_w - 4.0).max(1.0),
                colors.get(c).copied().unwrap_or("#2f6690"),
                esc(day),
                esc(c),
                bytes
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>",
            chart_h + 14.0,
            esc(day.get(5..).unwrap_or(day))
        );
    }
    for (i, (c, color)) in colors.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = (i as f64).mul_add(80.0, 40.0);
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"236\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"246\" font-size=\"12\">{}</text>",
            x + 16.0,
            esc(c)
        );
    }
    svg.push_str("</svg>");
    svg
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem;color:#1d2733;max-width:1400px}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #d6dde5;padding-bottom:.3rem}
.muted{color:#6b7785}.cards{display:flex;flex-wrap:wrap;gap:1rem;margin:1.2rem 0}
.card{border:1px solid #d6dde5;border-radius:8px;padding:.8rem 1.1rem;min-width:10rem}
.card b{display:block;font-size:1.6rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.6rem 0}
th,td{border-bottom:1px solid #e4e9ee;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f6f9}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td{overflow-wrap:anywhere}#flows-table td:last-child,#alerts td:last-child{min-width:26rem}
.v-unapproved{color:#b3261e;font-weight:600}.v-violation{color:#b35c00;font-weight:600}
.v-review{color:#7a5d00}.v-approved{color:#1e6b3a}
ol li{margin:.3rem 0}
.m-none_known{color:#b3261e;font-weight:600}.m-unknown_landing{color:#b35c00;font-weight:600}
@page{size:A4 landscape;margin:10mm}
@media print{body{margin:0;max-width:none;font-size:8pt;color:#000;print-color-adjust:exact;-webkit-print-color-adjust:exact}
h1{font-size:14pt}h2{font-size:11pt;margin-top:1rem;break-after:avoid}
table{font-size:6.5pt}thead{display:table-header-group}tr,.card,svg,h2{break-inside:avoid}
th,td{padding:.15rem .25rem}a{color:inherit;text-decoration:none}
#flows-table td:last-child,#alerts td:last-child{min-width:0}.cards{gap:.4rem}.card b{font-size:12pt}
svg{max-width:100%;height:auto}}";

/// One cell of an HTML table.
enum Cell {
    /// Escaped here.
    Text(String),
    /// Right-aligned.
    Number(String),
    /// A verdict, coloured by its class.
    Verdict(String),
    /// Already HTML.
    Html(String),
}

impl Cell {
    fn text(t: &str) -> Self {
        Self::Text(t.to_owned())
    }

    fn number(n: impl std::fmt::Display) -> Self {
        Self::Number(n.to_string())
    }

    fn verdict(v: &str) -> Self {
        Self::Verdict(v.to_owned())
    }
}

/// A section with a heading and a table of `rows`.
fn html_table(
    h: &mut String,
    id: &str,
    title: &str,
    headers: &[&str],
    rows: impl Iterator<Item = Vec<Cell>>,
) {
    let _ = write!(
        h,
        "<section id=\"{}\"><h2>{}</h2><table><thead><tr>",
        esc(id),
        esc(title)
    );
    for header in headers {
        let _ = write!(h, "<th>{}</th>", esc(header));
    }
    h.push_str("</tr></thead><tbody>");
    for row in rows {
        h.push_str("<tr>");
        for cell in row {
            let _ = match cell {
                Cell::Text(t) => write!(h, "<td>{}</td>", esc(&t)),
                Cell::Number(n) => write!(h, "<td class=\"n\">{}</td>", esc(&n)),
                Cell::Verdict(v) => write!(h, "<td class=\"v-{0}\">{0}</td>", esc(&v)),
                Cell::Html(x) => write!(h, "<td>{x}</td>"),
            };
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></section>");
}

/// The HTML report: one self-contained file.
pub fn html(r: &Report) -> String {
    let s = &r.summary;
    let mut h = String::new();
    let period = match (r.since, r.until) {
        (None, None) => "all recorded time".to_owned(),
        (a, b) => format!(
            "{} to {}",
            a.map_or_else(|| "the start".into(), |t| t.to_string()),
            b.map_or_else(|| "now".into(), |t| t.to_string())
        ),
    };
    h.push_str(&page_start(
        "AI data flow inventory",
        &format!(
            "Generated {} from sensor(s) {} — period: {} — signature database {} ({})",
            r.generated,
            r.sensors.join(", "),
            period,
            r.signatures_version,
            r.signatures_date
        ),
    ));
    let _ = write!(
        h,
        "<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">\
         <div class=\"card\"><b id=\"vendors\">{}</b>AI vendors seen</div>\
         <div class=\"card\"><b id=\"hosts\">{}</b>internal hosts involved</div>\
         <div class=\"card\"><b id=\"uploaded\">{}</b>uploaded to AI services</div>\
         <div class=\"card\"><b id=\"outside-eea\">{:.0}%</b>of it landing outside the EEA</div>\
         <div class=\"card\"><b id=\"unapproved\">{}</b>unapproved flows</div>\
         <div class=\"card\"><b>{}</b>alerts</div></div></section>",
        s.vendors,
        s.internal_hosts,
        human_bytes(s.bytes_sent),
        s.share_sent_outside_eea * 100.0,
        s.unapproved_flows,
        s.alerts
    );
    let _ = write!(
        h,
        "<section><h2>Bytes uploaded per vendor</h2>{}</section><section><h2>Landing countries over time</h2>{}</section>",
        bytes_per_vendor_svg(r),
        landing_over_time_svg(r)
    );
    let vendor_rows = r.vendors.iter().map(|v| {
        let trains: Vec<String> = v
            .trains_on_inputs
            .iter()
            .map(|(p, t)| {
                format!(
                    "{}: {}{}",
                    esc(p),
                    esc(t),
                    inferred_mark(v, p, "trains_on_inputs")
                )
            })
            .collect();
        vec![
            Cell::text(&v.name),
            Cell::text(&v.products.join(", ")),
            Cell::number(v.internal_hosts),
            Cell::number(v.flows),
            Cell::number(human_bytes(v.bytes_sent)),
            Cell::number(human_bytes(v.bytes_received)),
            Cell::text(&v.landing_countries.join(", ")),
            Cell::verdict(&v.verdict),
            Cell::Html(trains.join("<br>")),
            Cell::Html(
                v.retention
                    .iter()
                    .map(|(p, t)| {
                        format!("{}: {}{}", esc(p), esc(t), inferred_mark(v, p, "retention"))
                    })
                    .collect::<Vec<_>>()
                    .join("<br>"),
            ),
            Cell::Html(
                v.headquarters
                    .as_deref()
                    .map_or_else(|| "<span class=\"muted\">unknown</span>".into(), esc),
            ),
            Cell::Html(link(v.dpa.as_ref(), "DPA")),
            Cell::Html(link(v.subprocessors.as_ref(), "list")),
            Cell::Html(link(v.data_use.as_ref(), "policy")),
            Cell::text(&v.open_questions.join(", ")),
        ]
    });
    html_table(
        &mut h,
        "vendors-table",
        "Per vendor",
        &[
            "Vendor",
            "Products",
            "Hosts",
            "Flows",
            "Sent",
            "Received",
            "Lands in",
            "Verdict",
            "Trains on inputs (default)",
            "Retention",
            "Headquarters",
            "DPA",
            "Sub-processors",
            "Data use",
            "Still to ask",
        ],
        vendor_rows,
    );
    let host_rows = r.hosts.iter().map(|x| {
        vec![
            Cell::text(&x.internal_host),
            Cell::text(&x.host_label),
            Cell::text(&x.vendors.join(", ")),
            Cell::number(x.flows),
            Cell::number(human_bytes(x.bytes_sent)),
            Cell::verdict(&x.verdict),
        ]
    });
    html_table(
        &mut h,
        "hosts-table",
        "Per internal host",
        &[
            "Internal host",
            "Network",
            "Vendors",
            "Flows",
            "Sent",
            "Verdict",
        ],
        host_rows,
    );
    let flow_rows = r.rows.iter().filter(|row| !row.indirect).map(|row| {
        let eea = if row.eea { " (EEA)" } else { "" };
        vec![
            Cell::text(&row.internal_host),
            Cell::text(&row.vendor),
            Cell::text(&row.product),
            Cell::text(&row.endpoint),
            Cell::text(&format!("{}{eea}", row.landing_country)),
            Cell::verdict(&row.verdict),
            Cell::number(row.flows),
            Cell::number(row.bytes_sent),
            Cell::number(row.bytes_received),
            Cell::text(&row.first_seen.to_string()),
            Cell::text(&row.last_seen.to_string()),
            Cell::text(&row.reason),
        ]
    });
    html_table(
        &mut h,
        "flows-table",
        "Every flow group, with its verdict and reason",
        &[
            "Internal host",
            "Vendor",
            "Product",
            "Endpoint",
            "Lands in",
            "Verdict",
            "Flows",
            "Sent",
            "Received",
            "First seen",
            "Last seen",
            "Reason",
        ],
        flow_rows,
    );
    if !r.saas.is_empty() {
        let saas_rows = r.saas.iter().map(|x| {
            vec![
                Cell::text(&x.name),
                Cell::text(&x.internal_hosts.join(", ")),
                Cell::number(x.flows),
                Cell::number(human_bytes(x.bytes_sent)),
                Cell::verdict(&x.verdict),
                Cell::text(&x.ai_features.join(", ")),
                Cell::text(&x.subprocessors.join(", ")),
                Cell::text(&x.trains_on_customer_data),
                Cell::text(&x.ai_on_by_default),
                Cell::text(x.admin_settings.as_deref().unwrap_or("")),
                Cell::Html(link(x.subprocessor_list.as_ref(), "list")),
                Cell::Html(
                    x.questions
                        .iter()
                        .map(|q| esc(q))
                        .collect::<Vec<_>>()
                        .join("<br>"),
                ),
            ]
        });
        html_table(
            &mut h,
            "saas-table",
            "AI reached through SaaS (not counted above: the SaaS sends the data on from its own servers)",
            &[
                "SaaS",
                "Internal hosts",
                "Flows",
                "Sent to the SaaS",
                "Verdict",
                "AI features",
                "AI sub-processors",
                "Trains on customer data",
                "AI on by default",
                "Admin settings to check",
                "Sub-processor list",
                "Questions for the SaaS vendor",
            ],
            saas_rows,
        );
    }
    transfers_html(&mut h, &r.transfers);
    unknown_html(&mut h, &r.unknown);
    if let Some(c) = &r.changes {
        changes_html(&mut h, c);
    }
    h.push_str("<section id=\"questions\"><h2>Questions to put to each vendor</h2><ol>\
        <li><b>Which of our tools talk to it, and from where?</b> The per-vendor and per-host tables above.</li>\
        <li><b>What data do we send, and how much?</b> Bytes sent per flow group; the client fingerprints below name the software.</li>\
        <li><b>Where is it processed?</b> The landing country and whether it is in the EEA or covered by an adequacy decision.</li>\
        <li><b>Does the vendor train on it?</b> The default per product, from the vendor's own documentation.</li>\
        <li><b>Is a data processing agreement in place, and who are the sub-processors?</b> The DPA and sub-processor links, where the database has them.</li>\
        <li><b>How long is it kept?</b> The retention per product, where the vendor documents it.</li>\
        </ol><p>The per-vendor table's last column lists, for each vendor, which of these contract questions (training, sub-processors, data location, retention, DPA) the database cannot answer and remain to be asked.</p></section>");
    if !r.fingerprints.is_empty() {
        let rows = r.fingerprints.iter().map(|f| {
            vec![
                Cell::text(&f.internal_host),
                Cell::text(&f.vendor),
                Cell::text(&f.product),
                Cell::text(&f.kind),
                Cell::Html(format!("<code>{}</code>", esc(&f.value))),
                Cell::number(f.seen),
            ]
        });
        html_table(
            &mut h,
            "fingerprints",
            "Client software seen",
            &[
                "Internal host",
                "Vendor",
                "Product",
                "Kind",
                "Value",
                "Seen",
            ],
            rows,
        );
    }
    if !r.alerts.is_empty() {
        let rows = r.alerts.iter().map(|a| {
            vec![
                Cell::text(&Timestamp::from_micros(a.timestamp).to_string()),
                Cell::text(&a.rule),
                Cell::text(&a.severity),
                Cell::number(a.count),
                Cell::text(&a.reason),
            ]
        });
        html_table(
            &mut h,
            "alerts",
            "Alert log",
            &["Time", "Rule", "Severity", "Count", "Reason"],
            rows,
        );
    }
    h.push_str("<p class=\"muted\">Every number is a sum over the stored flow groups; payload is never recorded. Landing: a region in the host name, the vendor's documented processing location, or GeoIP (never of a CDN front door, where the vendor's headquarters stands in).</p>");
    page_end(&mut h);
    h
}

/// The head of a self-contained page and its title.
pub(super) fn page_start(title: &str, subtitle: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{0}</title><style>{STYLE}</style></head><body><h1>{0}</h1><p class=\"muted\">{1} (aigress {2}).</p>",
        esc(title),
        esc(subtitle),
        env!("CARGO_PKG_VERSION")
    )
}

pub(super) fn page_end(h: &mut String) {
    h.push_str("</body></html>\n");
}

/// For the HTML report: an "inferred" mark with the reasoning on hover, or nothing.
fn inferred_mark(v: &VendorSummary, product: &str, field: &str) -> String {
    match v.inferred.get(product).and_then(|facts| facts.get(field)) {
        Some(why) => format!(
            " <abbr class=\"inferred\" title=\"inferred, not stated by the source: {}\">(inferred)</abbr>",
            esc(why)
        ),
        None => String::new(),
    }
}

/// The section of the HTML reports: the table, then each destination's stub.
pub(super) fn unknown_html(h: &mut String, destinations: &[UnknownDestination]) {
    h.push_str(
        "<section id=\"unknown\"><h2>Destinations the database does not know</h2>\
         <p>Registered domains internal hosts sent data to that no signature matches, largest upload first. \
         Counts come from each sensor's bounded sketch: a figure is at least the true one and at most its error above it. \
         Hints are observations to judge, not verdicts: <b>ai_tld</b> the domain is under .ai; <b>ai_word</b> its name carries an AI word; \
         <b>ai_client_fingerprint</b> the same client software (JA4) talks to known AI APIs; \
         <b>token_stream</b> a small upload was answered for seconds in many small pieces, as models stream tokens.</p>\
         <table><thead><tr><th>Domain</th><th>Example name</th><th>Sent</th><th>Error</th><th>Received</th>\
         <th>Flows</th><th>Internal hosts</th><th>First seen</th><th>Last seen</th><th>Hints</th><th>Sensors</th></tr></thead><tbody>",
    );
    for d in destinations {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.domain),
            esc(&d.example),
            esc(&human_bytes(d.bytes_sent)),
            esc(&human_bytes(d.bytes_error)),
            esc(&human_bytes(d.bytes_received)),
            d.flows,
            d.internal_hosts,
            if d.more_hosts { "+" } else { "" },
            esc(&d.first_seen.to_string()),
            esc(&d.last_seen.to_string()),
            esc(&d.hints.join(", ")),
            esc(&d.sensors.join(", ")),
        );
    }
    h.push_str("</tbody></table>");
    if let Some(first) = destinations.first() {
        let _ = write!(
            h,
            "<p>A reviewer who confirms a destination as an AI service adds it to the database: \
             for {}, start from this file (every TODO needs the vendor's own page).</p><pre>{}</pre>",
            esc(&first.domain),
            esc(&first.signature_stub)
        );
    }
    h.push_str("</section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::store::{Filter, FlowRow};
    use crate::report::transfers::Judges;
    use crate::signatures::Database;

    #[test]
    fn html_escapes_and_stays_self_contained() {
        assert_eq!(
            esc("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        let db = Database::embedded().unwrap();
        let jurisdictions = crate::landing::Jurisdictions::embedded().unwrap();
        let judges = Judges {
            db: &db,
            jurisdictions: &jurisdictions,
            policy_file: None,
        };
        let row = FlowRow {
            sensor: "s1".into(),
            internal_host: "10.0.0.1".into(),
            vendor: "openai".into(),
            product: "OpenAI API".into(),
            kind: "api".into(),
            endpoint: "api.openai.com<script>".into(),
            landing_country: "US".into(),
            verdict: "unapproved".into(),
            flows: 2,
            bytes_sent: 1500,
            ..FlowRow::default()
        };
        let r = Report::from_parts(
            vec![row],
            vec![],
            vec![],
            vec![],
            &Filter::default(),
            &judges,
        );
        let page = html(&r);
        assert!(page.contains("api.openai.com&lt;script&gt;"));
        assert!(!page.contains("<script"));
        assert!(!page.contains("src=\"http"));
        assert_eq!(r.summary.unapproved_flows, 2);
        assert!((r.summary.share_sent_outside_eea - 1.0).abs() < f64::EPSILON);
        assert_eq!(human_bytes(1500), "1.5 kB");
    }
}
