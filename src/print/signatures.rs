//! Output of `aigress signatures list` and `aigress signatures match`.

use std::io::{self, Write};

use serde::Serialize;

use crate::ai::AiInfo;
use crate::escape::terminal;
use crate::signatures::diff::FactChange;
use crate::signatures::{Database, Fact, MatchSource, Plan, Sccs};

#[derive(Serialize)]
struct ListEntry<'a> {
    vendor: &'a str,
    vendor_name: &'a str,
    endpoint: &'a str,
    product: &'a str,
    kind: &'static str,
    hosts: &'a [String],
    cidrs: Vec<String>,
    /// The answer events carry: the least protective of the plans' training facts.
    trains_on_inputs: &'static str,
    /// The facts events show that are inferred rather than stated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    inferred: Vec<&'static str>,
    /// The plans the endpoint serves, each fact with its basis, words, source and dates.
    plans: &'a [Plan],
    #[serde(skip_serializing_if = "Option::is_none")]
    processing: Option<&'a Fact<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headquarters: Option<&'a Fact<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dpa_sccs: Option<&'a Fact<Sccs>>,
    routes_to_other_vendors: bool,
    regions: Option<&'a str>,
    source: &'a str,
    /// `vendor`, or `third_party_list` when `source` is only a community list.
    host_evidence: &'static str,
    dpa: Option<&'a str>,
    subprocessors: Option<&'a str>,
    data_use: Option<&'a str>,
}

/// One line per endpoint: a table, or a JSON object per line.
///
/// # Errors
/// The writer's I/O errors.
pub fn list(
    db: &Database,
    vendor: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let entries = db.endpoints.iter().filter_map(|e| {
        let v = db.vendors.get(e.vendor)?;
        if vendor.is_some_and(|want| want != v.id) {
            return None;
        }
        Some(ListEntry {
            vendor: &v.id,
            vendor_name: &v.name,
            endpoint: &e.id,
            product: &e.product,
            kind: e.kind.as_str(),
            hosts: &e.hosts,
            cidrs: e.cidrs.iter().map(ToString::to_string).collect(),
            trains_on_inputs: e.training().as_str(),
            inferred: e.inferred_facts(Some(v)),
            plans: &e.plans,
            processing: e.processing.as_ref(),
            headquarters: v.headquarters.as_ref(),
            dpa_sccs: v.dpa_sccs.as_ref(),
            routes_to_other_vendors: e.routes_to_other_vendors,
            regions: e.regions.as_deref(),
            source: &e.source,
            host_evidence: e.host_evidence.as_str(),
            dpa: v.dpa.as_deref(),
            subprocessors: v.subprocessors.as_deref(),
            data_use: v.data_use.as_deref(),
        })
    });
    if json {
        for entry in entries {
            serde_json::to_writer(&mut *out, &entry)?;
            out.write_all(b"\n")?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<14} {:<34} {:<17} {:<10} {:<4} {:<10} {:<16} HOSTS",
        "VENDOR", "PRODUCT", "KIND", "TRAINS", "HQ", "READ", "HOSTS FROM"
    )?;
    for e in entries {
        let mut hosts = e.hosts.join(" ");
        if !e.cidrs.is_empty() {
            hosts = format!("{hosts} {}", e.cidrs.join(" "));
        }
        let trains = if e.inferred.contains(&"trains_on_inputs") {
            format!("{}*", e.trains_on_inputs)
        } else {
            e.trains_on_inputs.to_owned()
        };
        let oldest_read = e
            .plans
            .iter()
            .filter_map(|p| p.training.as_ref().map(|f| f.read.as_str()))
            .min()
            .unwrap_or("-");
        writeln!(
            out,
            "{:<14} {:<34} {:<17} {:<10} {:<4} {:<10} {:<16} {}",
            e.vendor,
            e.product,
            e.kind,
            trains,
            e.headquarters.map_or("-", |f| f.value.as_str()),
            oldest_read,
            e.host_evidence,
            hosts
        )?;
    }
    writeln!(out, "* inferred, not stated by the source")?;
    Ok(())
}

/// The fact changes between two databases: a table, or a JSON object per line.
///
/// # Errors
/// The writer's I/O errors.
pub fn changes(changes: &[FactChange], json: bool, out: &mut dyn Write) -> io::Result<()> {
    if json {
        for c in changes {
            serde_json::to_writer(&mut *out, c)?;
            out.write_all(b"\n")?;
        }
        return Ok(());
    }
    if changes.is_empty() {
        return writeln!(out, "no fact or host changed");
    }
    writeln!(
        out,
        "{:<14} {:<34} {:<14} OLD -> NEW",
        "VENDOR", "PRODUCT", "FIELD"
    )?;
    for c in changes {
        let field = match &c.plan {
            Some(plan) => format!("{} ({plan})", c.field),
            None => c.field.to_owned(),
        };
        writeln!(
            out,
            "{:<14} {:<34} {:<14} {} -> {}{}",
            terminal(&c.vendor),
            terminal(&c.product),
            terminal(&field),
            terminal(&c.old),
            terminal(&c.new),
            c.new_source
                .as_deref()
                .map_or_else(String::new, |s| format!("  [{}]", terminal(s)))
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct MatchLine<'a> {
    query: &'a str,
    ai: Option<AiInfo>,
}

/// One line per query: what it matched and why.
///
/// # Errors
/// The writer's I/O errors.
pub fn matches(
    db: &Database,
    queries: &[String],
    json: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    for query in queries {
        let ai = db.classify_host(query, MatchSource::Query);
        if json {
            serde_json::to_writer(&mut *out, &MatchLine { query, ai })?;
            out.write_all(b"\n")?;
            continue;
        }
        match ai {
            None => writeln!(out, "{query}\tno match")?,
            Some(ai) => {
                let region = match (&ai.region, &ai.region_country) {
                    (Some(r), Some(c)) => format!("region {r} ({c})"),
                    (Some(r), None) => format!("region {r}"),
                    _ => ai
                        .processing
                        .as_ref()
                        .map_or_else(|| "no region".to_owned(), |p| format!("processed in {p}")),
                };
                writeln!(
                    out,
                    "{query}\t{} / {} ({}, trains on inputs: {}{}), {region}, HQ {}; matched {}",
                    ai.vendor_name,
                    ai.product,
                    ai.kind,
                    ai.trains_on_inputs,
                    if ai.inferred.contains(&"trains_on_inputs") {
                        " (inferred)"
                    } else {
                        ""
                    },
                    ai.vendor_country.as_deref().unwrap_or("unknown"),
                    ai.matched
                )?;
            }
        }
    }
    Ok(())
}
