//! The reports as Markdown, for wikis and tickets.

use std::fmt::Write as _;

use super::changes::Changes;
use super::inventory::Report;
use super::transfers::Transfer;
use super::unknown::UnknownDestination;
use super::{change_lines, human_bytes, period_text};
use crate::escape::markdown as md;

pub(super) fn markdown(r: &Report) -> String {
    let s = &r.summary;
    let mut m = String::new();
    let _ = writeln!(m, "# AI data flow inventory\n");
    let _ = writeln!(
        m,
        "Generated {} from {} sensor(s): {}. Signature database {} ({}).\n",
        r.generated,
        r.sensors.len(),
        md(&r.sensors.join(", ")),
        md(&r.signatures_version),
        md(&r.signatures_date)
    );
    let _ = writeln!(
        m,
        "- AI vendors seen: {}\n- Internal hosts involved: {}\n- Flows: {}\n- Bytes uploaded: {} ({:.1}% landing outside the EEA)\n- Unapproved flows: {}\n- Alerts: {}\n",
        s.vendors,
        s.internal_hosts,
        s.flows,
        human_bytes(s.bytes_sent),
        s.share_sent_outside_eea * 100.0,
        s.unapproved_flows,
        s.alerts
    );
    let _ = writeln!(m, "## Vendors\n");
    let _ = writeln!(
        m,
        "| vendor | products | hosts | flows | sent | landing | verdict | trains on inputs |\n|---|---|---|---|---|---|---|---|"
    );
    for v in &r.vendors {
        let trains: Vec<String> = v
            .trains_on_inputs
            .iter()
            .map(|(p, t)| {
                let inferred = if v.is_inferred(p, "trains_on_inputs") {
                    " (inferred)"
                } else {
                    ""
                };
                format!("{p}: {t}{inferred}")
            })
            .collect();
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&v.name),
            md(&v.products.join(", ")),
            v.internal_hosts,
            v.flows,
            human_bytes(v.bytes_sent),
            md(&v.landing_countries.join(", ")),
            md(&v.verdict),
            md(&trains.join("; "))
        );
    }
    if !r.saas.is_empty() {
        let _ = writeln!(
            m,
            "\n## AI reached through SaaS\n\nThese SaaS send data on to AI sub-processors from their own servers; they are not counted above.\n\n| SaaS | internal hosts | flows | sent to the SaaS | AI sub-processors | trains on customer data | AI on by default | questions |\n|---|---|---|---|---|---|---|---|"
        );
        for x in &r.saas {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                md(&x.name),
                md(&x.internal_hosts.join(", ")),
                x.flows,
                human_bytes(x.bytes_sent),
                md(&x.subprocessors.join(", ")),
                md(&x.trains_on_customer_data),
                md(&x.ai_on_by_default),
                md(&x.questions.join(" "))
            );
        }
    }
    let _ = writeln!(m, "\n## Transfer register\n");
    transfers_markdown(&mut m, &r.transfers);
    m.push_str("\n## Destinations the database does not know\n\n");
    unknown_markdown(&mut m, &r.unknown);
    if let Some(c) = &r.changes {
        let _ = writeln!(m, "\n## Changes since the last audit\n");
        changes_markdown(&mut m, c);
    }
    let _ = writeln!(m, "\n## Flows\n");
    let _ = writeln!(
        m,
        "| internal host | vendor | product | endpoint | landing | verdict | flows | sent | reason |\n|---|---|---|---|---|---|---|---|---|"
    );
    for row in r.rows.iter().filter(|row| !row.indirect) {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&row.internal_host),
            md(&row.vendor),
            md(&row.product),
            md(&row.endpoint),
            md(&row.landing_country),
            md(&row.verdict),
            row.flows,
            human_bytes(row.bytes_sent),
            md(&row.reason)
        );
    }
    m
}

pub(super) fn transfers_markdown(m: &mut String, register: &[Transfer]) {
    let _ = writeln!(
        m,
        "Every AI flow landing outside the EEA or where the landing is unknown, with the mechanism that covers the transfer as far as aigress knows.\n\n| vendor | product | endpoint | country | confidence | mechanism | mechanism source | internal hosts | networks | flows | sent | first seen | last seen | EEA alternative |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for t in register {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md(&t.vendor),
            md(&t.product),
            md(&t.endpoint),
            md(&t.destination_country),
            md(&t.confidence),
            t.mechanism.as_str(),
            md(&t.mechanism_source),
            md(&t.internal_hosts.join(", ")),
            md(&t.networks.join(", ")),
            t.flows,
            human_bytes(t.bytes_sent),
            t.first_seen,
            t.last_seen,
            md(&t.eea_alternative)
        );
    }
}

pub(super) fn changes_markdown(m: &mut String, c: &Changes) {
    let _ = writeln!(
        m,
        "Baseline: {}. Current: {}.\n",
        md(&period_text(&c.baseline)),
        md(&period_text(&c.current))
    );
    if c.is_empty() {
        m.push_str("No changes.\n");
        return;
    }
    let _ = writeln!(
        m,
        "| change | item | detail | first seen |\n|---|---|---|---|"
    );
    for (section, item, detail, first) in change_lines(c) {
        let _ = writeln!(
            m,
            "| {section} | {} | {} | {first} |",
            md(&item),
            md(&detail)
        );
    }
}

/// The Markdown section.
pub(super) fn unknown_markdown(m: &mut String, destinations: &[UnknownDestination]) {
    m.push_str(
        "Registered domains internal hosts sent data to that no signature matches, largest upload first; \
         each figure is at least the true one and at most its error above it.\n\n\
         | domain | example | sent | error | received | flows | internal hosts | first seen | last seen | hints | sensors |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for d in destinations {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {}{} | {} | {} | {} | {} |",
            md(&d.domain),
            md(&d.example),
            human_bytes(d.bytes_sent),
            human_bytes(d.bytes_error),
            human_bytes(d.bytes_received),
            d.flows,
            d.internal_hosts,
            if d.more_hosts { "+" } else { "" },
            d.first_seen,
            d.last_seen,
            d.hints.join(", "),
            md(&d.sensors.join(", ")),
        );
    }
}
