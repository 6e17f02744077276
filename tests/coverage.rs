//! Coverage of the AI endpoint database against reference lists built from vendors' own
//! documentation, kept apart from the signature files in `tests/data/ai-endpoints/`:
//! `<family>.tsv` (`host`, `vendor`, `source`) are real endpoint names and the vendor each
//! belongs to; `<family>.lookalikes.tsv` (`host`, `why`) are names near them that are not
//! AI endpoints and must never match.

use std::path::Path;

use aigress::signatures::{Database, MatchSource};

/// Share of reference hosts that must be named with the right vendor.
const MIN_COVERAGE: f64 = 0.95;

fn rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

fn lists() -> (Vec<(String, String)>, Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ai-endpoints");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/data/ai-endpoints")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
        .collect();
    files.sort();
    let mut endpoints = Vec::new();
    let mut lookalikes = Vec::new();
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        for row in rows(&f) {
            if name.ends_with(".lookalikes.tsv") {
                lookalikes.push(row[0].clone());
            } else {
                assert!(
                    row.len() >= 3 && row[2].starts_with("https://"),
                    "{name}: {row:?}"
                );
                endpoints.push((row[0].clone(), row[1].clone()));
            }
        }
    }
    (endpoints, lookalikes)
}

#[test]
fn the_database_names_the_vendor_of_reference_endpoints_and_no_lookalike() {
    let db = Database::embedded().expect("built-in database");
    let (endpoints, lookalikes) = lists();
    assert!(
        endpoints.len() >= 200,
        "{} reference hosts",
        endpoints.len()
    );
    let missed: Vec<String> = endpoints
        .iter()
        .filter(|(host, vendor)| {
            db.classify_host(host, MatchSource::Query)
                .is_none_or(|ai| &ai.vendor != vendor)
        })
        .map(|(host, vendor)| format!("{host} ({vendor})"))
        .collect();
    let coverage = 1.0 - missed.len() as f64 / endpoints.len() as f64;
    assert!(
        coverage >= MIN_COVERAGE,
        "coverage {:.1} % of {}; missed: {}",
        coverage * 100.0,
        endpoints.len(),
        missed.join(", ")
    );
    let matched: Vec<&String> = lookalikes
        .iter()
        .filter(|h| db.classify_host(h, MatchSource::Query).is_some())
        .collect();
    assert!(matched.is_empty(), "lookalikes matched: {matched:?}");
}
