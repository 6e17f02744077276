//! Shared front doors: CDN and edge networks (Cloudflare, Fastly, Akamai, Google's front
//! ends) that terminate connections near the client and carry the request elsewhere.
//! Their addresses geolocate to the edge, which says nothing about where data is
//! processed. The table is data (`geoip/frontdoors.toml`), with the operators' sources.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use crate::problem::{Problem, Problems};

/// The built-in table.
const EMBEDDED: &str = include_str!("../../geoip/frontdoors.toml");
const EMBEDDED_NAME: &str = "geoip/frontdoors.toml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    date: String,
    #[serde(default)]
    front_door: Vec<DoorSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DoorSpec {
    id: String,
    name: String,
    #[serde(default)]
    asns: Vec<u32>,
    asn_source: Option<String>,
    #[serde(default)]
    cidrs: Vec<Spanned<String>>,
    cidr_source: Option<String>,
}

/// One front-door network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontDoor {
    pub id: String,
    pub name: String,
}

/// The front-door networks, by address range and by AS number.
#[derive(Debug, Clone, Default)]
pub struct FrontDoors {
    /// When the ranges were taken from their sources.
    pub date: String,
    doors: Vec<FrontDoor>,
    cidrs: Vec<(IpNet, usize)>,
    asns: Vec<(u32, usize)>,
}

impl FrontDoors {
    /// The built-in table.
    ///
    /// # Errors
    /// Only if the build embedded a broken table.
    pub fn embedded() -> Result<Self, Problems> {
        Self::parse(EMBEDDED_NAME, EMBEDDED)
    }

    /// A table from TOML text; `file` names it in problems.
    ///
    /// # Errors
    /// Every problem found: syntax, unknown fields, bad CIDRs, a range or AS without a
    /// source.
    pub fn parse(file: &str, text: &str) -> Result<Self, Problems> {
        let fail = |problems| Problems {
            what: "front door table",
            problems,
        };
        let spec: FileSpec =
            toml::from_str(text).map_err(|e| fail(vec![Problem::from_toml(file, text, &e)]))?;
        let mut out = Self {
            date: spec.date,
            ..Self::default()
        };
        let mut problems = Vec::new();
        for door in spec.front_door {
            let index = out.doors.len();
            if !door.cidrs.is_empty() && door.cidr_source.is_none() {
                problems.push(Problem {
                    file: file.to_owned(),
                    line: crate::problem::line_of(
                        text,
                        door.cidrs.first().map_or(0, |c| c.span().start),
                    ),
                    entry: Some(door.id.clone()),
                    message: "cidrs need a cidr_source".into(),
                });
            }
            if !door.asns.is_empty() && door.asn_source.is_none() {
                problems.push(Problem {
                    file: file.to_owned(),
                    line: 1,
                    entry: Some(door.id.clone()),
                    message: "asns need an asn_source".into(),
                });
            }
            for cidr in &door.cidrs {
                match cidr.get_ref().parse::<IpNet>() {
                    Ok(net) => out.cidrs.push((net.trunc(), index)),
                    Err(_) => problems.push(Problem::at(
                        file,
                        text,
                        cidr.span().start,
                        Some(&door.id),
                        format!("{:?} is not a CIDR", cidr.get_ref()),
                    )),
                }
            }
            out.asns.extend(door.asns.iter().map(|a| (*a, index)));
            out.doors.push(FrontDoor {
                id: door.id,
                name: door.name,
            });
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(fail(problems))
        }
    }

    /// The front door `ip` belongs to, by its range or, when known, its origin AS.
    pub fn find(&self, ip: IpAddr, asn: Option<u32>) -> Option<&FrontDoor> {
        let by_range = self
            .cidrs
            .iter()
            .find(|(net, _)| net.contains(&ip))
            .map(|(_, i)| *i);
        let by_asn = || {
            let asn = asn?;
            self.asns.iter().find(|(a, _)| *a == asn).map(|(_, i)| *i)
        };
        by_range.or_else(by_asn).and_then(|i| self.doors.get(i))
    }

    /// The networks in the table.
    pub fn doors(&self) -> &[FrontDoor] {
        &self.doors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cloudflare_by_range_and_akamai_by_as() {
        let doors = FrontDoors::embedded().unwrap();
        let id = |ip: &str, asn| doors.find(ip.parse().unwrap(), asn).map(|d| d.id.as_str());
        assert_eq!(id("104.18.7.192", None), Some("cloudflare"));
        assert_eq!(id("2606:4700::6812:28a9", None), Some("cloudflare"));
        assert_eq!(id("151.101.1.1", None), Some("fastly"));
        assert_eq!(id("23.1.2.3", Some(20940)), Some("akamai"));
        assert_eq!(id("160.79.105.36", None), None);
        assert_eq!(id("160.79.105.36", Some(399358)), None);
    }

    #[test]
    fn problems_name_the_line() {
        let text = "date = \"x\"\n[[front_door]]\nid = \"a\"\nname = \"A\"\ncidr_source = \"https://x\"\ncidrs = [\n  \"10.0.0.0/8\",\n  \"300.1.0.0/16\",\n]\n";
        let e = FrontDoors::parse("t.toml", text).unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert_eq!(e.problems[0].line, 8, "{e}");
        let e = FrontDoors::parse("t.toml", "date = 1\n").unwrap_err();
        assert_eq!(e.problems[0].line, 1, "{e}");
    }
}
