//! The same values as Suricata 8 on the same packets: suricata-verify's captures and the
//! values its tests expect from Suricata (`tests/data/suricata-verify/`), compared field by
//! field for every field aigress writes with Suricata's meaning.
//!
//! A check is a suricata-verify `filter`: the events of one type that match all its
//! conditions must number `count` (exactly, or at least when conditions on fields aigress
//! does not write were dropped; at least one when there is no count). Conditions follow
//! suricata-verify: dot paths with `[n]` indexes, `__len`, `__contains`, `__find`,
//! `__startswith`, `__endswith` and the numeric comparisons, `has-key` and
//! `not-has-key`. A check that disagrees must be listed in `exceptions.tsv` with one of
//! the differences EVENTS.md documents; a listed check that agrees fails too, so the list
//! never hides a fixed difference.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Test {
    test: String,
    captures: Vec<String>,
    scan_args: Vec<String>,
    checks: Vec<Check>,
}

#[derive(Deserialize)]
struct Check {
    index: u64,
    event_type: String,
    count: Option<u64>,
    count_mode: String,
    /// `[kind, key, expected]`: kind `eq`, `has` or `nothas`.
    conds: Vec<(String, String, Value)>,
}

/// The differences EVENTS.md explains, by the name `exceptions.tsv` gives them.
const DOCUMENTED: &[&str] = &[
    "stamped-at-response",
    "url-without-query",
    "http2",
    "orientation",
    "ja4-without-signature-algorithms",
    "tls-data-on-syn",
];

/// suricata-verify's `find_value`: a dot path with `[n]` indexes; `__len` is the length of
/// what the path reached so far; another operator ends the path.
fn find_value<'a>(path: &str, event: &'a Value) -> Option<Lookup<'a>> {
    let mut at = event;
    for part in path.split('.') {
        if part == "__len" {
            let len = match at {
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::String(s) => s.chars().count(),
                _ => return Some(Lookup::Len(-1)),
            };
            return Some(Lookup::Len(i64::try_from(len).unwrap_or(i64::MAX)));
        }
        if part.starts_with("__") {
            break;
        }
        let (name, index) = match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
            Some((name, index)) => (name, Some(index.parse::<usize>().ok()?)),
            None => (part, None),
        };
        at = at.as_object()?.get(name)?;
        if let Some(i) = index {
            at = at.as_array()?.get(i)?;
        }
    }
    Some(Lookup::Value(at))
}

enum Lookup<'a> {
    Value(&'a Value),
    Len(i64),
}

fn holds(kind: &str, key: &str, expected: &Value, event: &Value) -> bool {
    let found = find_value(key, event);
    match kind {
        "has" => return found.is_some(),
        "nothas" => return found.is_none(),
        _ => {}
    }
    let value = match found {
        Some(Lookup::Value(v)) => v.clone(),
        Some(Lookup::Len(n)) => Value::from(n),
        None => return false,
    };
    let operator = key.rsplit('.').next().filter(|p| p.starts_with("__"));
    let (text, wanted) = (value.as_str(), expected.as_str());
    let number = |v: &Value| v.as_f64().filter(|_| !v.is_boolean());
    match operator {
        Some("__find" | "__contains") => match (&value, wanted) {
            (Value::String(s), Some(w)) => s.contains(w),
            (Value::Array(a), _) => a.contains(expected),
            _ => false,
        },
        Some("__startswith") => text.zip(wanted).is_some_and(|(t, w)| t.starts_with(w)),
        Some("__endswith") => text.zip(wanted).is_some_and(|(t, w)| t.ends_with(w)),
        Some(op @ ("__gt" | "__gte" | "__lt" | "__lte")) => {
            match (number(&value), number(expected)) {
                (Some(a), Some(b)) => match op {
                    "__gt" => a > b,
                    "__gte" => a >= b,
                    "__lt" => a < b,
                    _ => a <= b,
                },
                _ => false,
            }
        }
        _ => match (number(&value), number(expected)) {
            (Some(a), Some(b)) => a == b,
            _ => value == *expected,
        },
    }
}

fn agrees(check: &Check, events: &[Value]) -> (bool, usize) {
    let matching = events
        .iter()
        .filter(|e| e["event_type"] == check.event_type.as_str())
        .filter(|e| {
            check
                .conds
                .iter()
                .all(|(kind, key, expected)| holds(kind, key, expected, e))
        })
        .count();
    let n = u64::try_from(matching).unwrap_or(u64::MAX);
    let ok = match (check.count_mode.as_str(), check.count) {
        ("exact", Some(want)) => n == want,
        (_, want) => n >= want.unwrap_or(1).max(1),
    };
    (ok, matching)
}

#[test]
fn events_carry_suricatas_values_except_where_documented() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/suricata-verify");
    let tests: Vec<Test> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("checks.json")).unwrap()).unwrap();
    let mut listed: BTreeMap<(String, u64), String> = BTreeMap::new();
    for row in common::read_tsv(&dir.join("exceptions.tsv")) {
        let difference = row["difference"].clone();
        assert!(
            DOCUMENTED.contains(&difference.as_str()),
            "{}: {difference} is not a documented difference",
            row["test"]
        );
        listed.insert(
            (row["test"].clone(), row["check"].parse().unwrap()),
            difference,
        );
    }
    let events_md =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("EVENTS.md")).unwrap();
    for difference in DOCUMENTED {
        assert!(
            events_md.contains(&format!("`{difference}`")),
            "EVENTS.md does not explain `{difference}`"
        );
    }

    let (mut total, mut agreeing) = (0usize, 0usize);
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for test in &tests {
        let mut args: Vec<String> = vec!["scan".into(), "--format".into(), "json".into()];
        args.extend(test.scan_args.iter().cloned());
        args.extend(
            test.captures
                .iter()
                .map(|c| dir.join(&test.test).join(c).display().to_string()),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = common::aigress(&args);
        assert!(
            out.status.success(),
            "{}: {}",
            test.test,
            common::text(&out.stderr)
        );
        let events: Vec<Value> = common::text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for check in &test.checks {
            let key = (test.test.clone(), check.index);
            seen.insert(key.clone());
            let (ok, matching) = agrees(check, &events);
            total += 1;
            agreeing += usize::from(ok);
            match (ok, listed.get(&key)) {
                (true, Some(difference)) => problems.push(format!(
                    "{} check {}: agrees now; remove it from exceptions.tsv ({difference})",
                    test.test, check.index
                )),
                (false, None) => problems.push(format!(
                    "{} check {}: {} {:?} count {:?} ({}), aigress has {matching}",
                    test.test,
                    check.index,
                    check.event_type,
                    check.conds,
                    check.count,
                    check.count_mode
                )),
                _ => {}
            }
        }
    }
    for key in listed.keys().filter(|k| !seen.contains(*k)) {
        problems.push(format!(
            "{} check {}: listed but not in checks.json",
            key.0, key.1
        ));
    }
    eprintln!(
        "{agreeing} of {total} checks agree with Suricata 8; {} differ as EVENTS.md documents",
        total - agreeing
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
