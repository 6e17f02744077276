//! Signature matching cost as the database grows: 10 vendors, then more, then all of it.
//!
//! `cargo bench --bench matcher`. Each size classifies the same mix of names (AI hosts,
//! regional names, lookalikes, ordinary web hosts) and reports nanoseconds per lookup and
//! the ratio to the 10-vendor database measured in the same run. Matching is a handful of
//! hash lookups per name, so the ratio should stay near 1.

// A benchmark reports on stdout; the crate-wide lint is for library code.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use aigress::signatures::{Database, MatchSource};

const NAMES: &[&str] = &[
    "api.openai.com",
    "chatgpt.com",
    "eu.api.openai.com",
    "api.anthropic.com",
    "claude.ai",
    "bedrock-runtime.eu-central-1.amazonaws.com",
    "europe-west4-aiplatform.googleapis.com",
    "generativelanguage.googleapis.com",
    "acme-eu.openai.azure.com",
    "api.individual.githubcopilot.com",
    "router.huggingface.co",
    "api.groq.com",
    "www.perplexity.ai",
    "api2.cursor.sh",
    "notopenai.com",
    "api.openai.com.example.net",
    "www.wikipedia.org",
    "s3.eu-west-1.amazonaws.com",
    "update.googleapis.com",
    "cdn.jsdelivr.net",
    "a.b.c.d.e.example.co.uk",
    "login.microsoftonline.com",
];

fn database(vendors: usize) -> Database {
    let files = Database::embedded_files();
    let (fixed, vendor_files): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|(name, _)| name == "database.toml" || name == "regions.toml");
    let mut chosen = fixed;
    chosen.extend(vendor_files.into_iter().take(vendors));
    Database::from_files(&chosen).expect("a subset of a valid database is valid")
}

fn ns_per_lookup(db: &Database) -> f64 {
    const ROUNDS: usize = 20_000;
    // Warm up caches and the allocator.
    for name in NAMES {
        black_box(db.classify_host(name, MatchSource::Sni));
    }
    let start = Instant::now();
    for _ in 0..ROUNDS {
        for name in NAMES {
            black_box(db.classify_host(black_box(name), MatchSource::Sni));
        }
    }
    start.elapsed().as_nanos() as f64 / (ROUNDS * NAMES.len()) as f64
}

fn main() {
    let total = Database::embedded().expect("valid").vendors.len();
    let mut reference = None;
    println!(
        "{:>8} {:>9} {:>12} {:>10}",
        "vendors", "patterns", "ns/lookup", "ratio"
    );
    for size in [10, 25, 50, total] {
        let db = database(size);
        // Best of three runs, to keep scheduling noise out of the ratio.
        let ns = (0..3)
            .map(|_| ns_per_lookup(&db))
            .fold(f64::INFINITY, f64::min);
        let base = *reference.get_or_insert(ns);
        println!(
            "{:>8} {:>9} {:>12.1} {:>10.2}",
            db.vendors.len(),
            db.pattern_count(),
            ns,
            ns / base
        );
    }
}
