//! `aigress geoip`: what the address databases and jurisdiction tables say about
//! addresses, one line (or JSON object) per argument.

use std::io::{self, Write};
use std::net::IpAddr;

use serde::Serialize;

use crate::landing::LandingContext;

/// The answer for one address.
#[derive(Debug, Serialize)]
pub struct GeoAnswer {
    pub query: String,
    /// Null when the argument is not an address or the database has no answer.
    pub country: Option<String>,
    pub eea: bool,
    /// The country has an EU adequacy decision (see `adequacy_condition`).
    pub adequacy: bool,
    pub adequacy_condition: Option<String>,
    pub asn: Option<u32>,
    pub as_org: Option<String>,
    /// The shared front door the address belongs to: its country is the edge's.
    pub front_door: Option<String>,
    /// Why there is no answer, when there is none.
    pub error: Option<String>,
}

/// Looks up one argument.
pub fn answer(ctx: &LandingContext, query: &str) -> GeoAnswer {
    let mut a = GeoAnswer {
        query: query.to_owned(),
        country: None,
        eea: false,
        adequacy: false,
        adequacy_condition: None,
        asn: None,
        as_org: None,
        front_door: None,
        error: None,
    };
    let Ok(ip) = query.trim().parse::<IpAddr>() else {
        a.error = Some("not an IP address".into());
        return a;
    };
    let info = ctx.geo.lookup(ip);
    a.front_door = ctx.front_doors.find(ip, info.asn).map(|d| d.id.clone());
    if let Some(c) = &info.country {
        a.eea = ctx.jurisdictions.is_eea(c);
        a.adequacy = ctx.jurisdictions.has_adequacy_decision(c);
        a.adequacy_condition = ctx.jurisdictions.conditions.get(c).cloned();
    } else {
        a.error = Some("no GeoIP answer (private, reserved or unknown address)".into());
    }
    a.country = info.country;
    a.asn = info.asn;
    a.as_org = info.as_org;
    a
}

/// Writes the answers as a table or JSON lines.
///
/// # Errors
/// The writer's I/O errors.
pub fn write(answers: &[GeoAnswer], json: bool, out: &mut dyn Write) -> io::Result<()> {
    if json {
        for a in answers {
            serde_json::to_writer(&mut *out, a)?;
            out.write_all(b"\n")?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<40}  {:<7}  {:<3}  {:<8}  {:<10}  {:<16}  AS",
        "ADDRESS", "COUNTRY", "EEA", "ADEQUACY", "ASN", "FRONT_DOOR"
    )?;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    for a in answers {
        if let Some(e) = &a.error
            && a.country.is_none()
        {
            writeln!(out, "{:<40}  -        {e}", a.query)?;
            continue;
        }
        let adequacy = match (&a.adequacy_condition, a.adequacy) {
            (Some(_), true) => "partial",
            (None, true) => "yes",
            _ => "no",
        };
        writeln!(
            out,
            "{:<40}  {:<7}  {:<3}  {:<8}  {:<10}  {:<16}  {}",
            a.query,
            a.country.as_deref().unwrap_or("-"),
            yes_no(a.eea),
            adequacy,
            a.asn.map_or_else(|| "-".into(), |n| format!("AS{n}")),
            a.front_door.as_deref().unwrap_or("-"),
            a.as_org.as_deref().unwrap_or("-"),
        )?;
        if let Some(c) = &a.adequacy_condition {
            writeln!(out, "{:<40}  note: the adequacy decision {c}", "")?;
        }
    }
    Ok(())
}
