//! Hostile text from the wire in every report format: an inventory whose names, hosts and
//! reasons carry terminal escapes, a NUL, HTML, spreadsheet formulas, pipes and newlines,
//! reported as a table (no raw control character, one line per row), Markdown (no raw
//! HTML, the tables keep their rows and columns), CSV (no cell a spreadsheet runs as a
//! formula, numbers still numbers) and HTML (escaped).
//!
//! The inventory is written through the library, so the strings reach the store as they
//! are given; whether the store normalises them or not, the reports must hold.

mod common;

use std::path::Path;

use aigress::inventory::store::{AlertRow, Batch, FingerprintRow, FlowRow, Store};
use common::{aigress, text};

/// What a hostile client or server can put in an SNI, Host, User-Agent or DNS name.
const HOSTILE: [&str; 8] = [
    "\u{1b}[31m",
    "\0",
    "<script>alert(1)</script>",
    "=HYPERLINK(\"http://x\")",
    "+1",
    "@SUM(A1)",
    "|",
    "\n",
];

/// 2024-06-01T00:00:00Z, in microseconds.
const SEEN: i64 = 1_717_200_000_000_000;

/// An inventory with one flow group (and its alert and fingerprint) per hostile string,
/// each text field starting with it.
fn hostile_inventory(db: &Path) {
    let mut batch = Batch {
        id: "hostile".into(),
        ..Batch::default()
    };
    for (i, h) in HOSTILE.iter().enumerate() {
        let flow = FlowRow {
            sensor: format!("{h}sensor"),
            internal_host: format!("{h}10.0.0.{i}"),
            host_label: format!("{h}label"),
            vendor: format!("{h}vendor{i}"),
            product: format!("{h}product"),
            kind: "api".into(),
            endpoint: format!("{h}api{i}.example"),
            landing_country: if i % 2 == 0 {
                "US".into()
            } else {
                String::new()
            },
            eea: false,
            verdict: "unapproved".into(),
            first_seen: SEEN,
            last_seen: SEEN,
            flows: 1,
            packets: 2,
            bytes_sent: 100,
            bytes_received: 200,
            landing_confidence: "medium".into(),
        };
        batch.alerts.push(AlertRow {
            sensor: flow.sensor.clone(),
            timestamp: SEEN,
            rule: "unapproved_ai_vendor".into(),
            severity: "high".into(),
            verdict: "unapproved".into(),
            internal_host: flow.internal_host.clone(),
            vendor: flow.vendor.clone(),
            product: flow.product.clone(),
            landing_country: flow.landing_country.clone(),
            reason: format!("{h}reason {h}"),
            count: 1,
            summary: false,
        });
        batch.fingerprints.push(FingerprintRow {
            sensor: flow.sensor.clone(),
            internal_host: flow.internal_host.clone(),
            vendor: flow.vendor.clone(),
            product: flow.product.clone(),
            kind: "user_agent".into(),
            value: format!("{h}agent"),
            first_seen: SEEN,
            last_seen: SEEN,
            seen: 1,
        });
        batch.flows.push(flow);
    }
    Store::open(db).unwrap().write(&batch).unwrap();
}

/// The report `kind` in `format` (`--since` makes the changes report's baseline).
fn report(db: &Path, kind: &str, format: &str) -> String {
    let out = aigress(&[
        "inventory",
        "--db",
        db.to_str().unwrap(),
        "--report",
        kind,
        "-f",
        format,
        "--since",
        "2024-01-01",
    ]);
    assert!(
        out.status.success(),
        "{kind} {format}: {}",
        text(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const KINDS: [&str; 3] = ["inventory", "transfers", "changes"];

/// No control character but the line ends, and no bidirectional override.
fn assert_inert(kind: &str, format: &str, page: &str) {
    let raw = page
        .chars()
        .find(|c| (c.is_control() && *c != '\n') || ('\u{202a}'..='\u{202e}').contains(c));
    assert_eq!(raw, None, "{kind} {format}: {page:?}");
}

#[test]
fn tables_show_control_characters_escaped_and_keep_one_line_per_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inv.db");
    hostile_inventory(&db);
    for kind in KINDS {
        let page = report(&db, kind, "table");
        assert_inert(kind, "table", &page);
        if kind != "changes" {
            let rows = page
                .lines()
                .filter(|l| l.contains("vendor") && l.contains("product"))
                .count();
            assert_eq!(rows, HOSTILE.len(), "{kind}: {page}");
        }
    }
}

/// The `|` of a Markdown line that separate cells (those not escaped by a backslash).
fn separators(line: &str) -> usize {
    let mut count = 0;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => count += 1,
            _ => escaped = false,
        }
    }
    count
}

#[test]
fn markdown_has_no_raw_html_and_its_tables_hold() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inv.db");
    hostile_inventory(&db);
    for kind in KINDS {
        let page = report(&db, kind, "md");
        assert_inert(kind, "md", &page);
        // The report's own Markdown has no HTML, so any `<` came from the data.
        assert!(!page.contains('<'), "{kind}: {page}");
        assert!(page.contains("&lt;script&gt;"), "{kind}: {page}");
        // Every table's rows have as many cells as its header.
        let lines: Vec<&str> = page.lines().collect();
        for table in lines
            .split(|l| !l.starts_with('|'))
            .filter(|t| !t.is_empty())
        {
            let columns = separators(table[0]);
            for row in table {
                assert_eq!(separators(row), columns, "{kind}: {row}");
            }
        }
    }
    let inventory = report(&db, "inventory", "md");
    let flows = inventory.split("## Flows").nth(1).unwrap();
    assert_eq!(
        flows.lines().filter(|l| l.starts_with('|')).count(),
        HOSTILE.len() + 2,
        "a header, its rule and one row per flow group: {flows}"
    );
    let register = report(&db, "transfers", "md");
    assert_eq!(
        register.lines().filter(|l| l.starts_with('|')).count(),
        HOSTILE.len() + 2,
        "{register}"
    );
}

#[test]
fn csv_cells_never_start_a_formula_and_numbers_stay_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inv.db");
    hostile_inventory(&db);
    for kind in KINDS {
        let page = report(&db, kind, "csv");
        let mut reader = csv::Reader::from_reader(page.as_bytes());
        let mut cells = Vec::new();
        for record in reader.records() {
            cells.extend(record.unwrap().iter().map(str::to_owned));
        }
        for cell in &cells {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{kind}: {cell:?}"
            );
        }
        for formula in ["'=HYPERLINK(\"http://x\")", "'+1", "'@SUM(A1)"] {
            assert!(
                cells.iter().any(|c| c.starts_with(formula)),
                "{kind}: {formula} in {cells:?}"
            );
        }
    }
    let inventory = report(&db, "inventory", "csv");
    let mut reader = csv::Reader::from_reader(inventory.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), HOSTILE.len());
    for row in &rows {
        for (name, value) in [
            ("flows", 1),
            ("bytes_sent", 100),
            ("bytes_received", 200),
            ("packets", 2),
        ] {
            assert_eq!(row[column(name)].parse::<u64>(), Ok(value), "{row:?}");
        }
        assert!(
            row[column("first_seen")].starts_with("2024-06-01T"),
            "{row:?}"
        );
    }
}

#[test]
fn html_stays_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inv.db");
    hostile_inventory(&db);
    for kind in KINDS {
        let page = report(&db, kind, "html");
        assert!(!page.contains("<script"), "{kind}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{kind}"
        );
    }
}
