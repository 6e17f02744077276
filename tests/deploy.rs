//! The deploy kit: the Prometheus rules and the Grafana dashboard use only metrics the
//! sensor defines, and promtool accepts the scrape configuration and the rules and
//! passes the rules' unit tests.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `aigress_…` metric name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("aigress_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn rules_and_dashboard_use_only_metrics_the_sensor_exports() {
    let defined = metric_names(&std::fs::read_to_string(root().join("src/metrics.rs")).unwrap());
    assert!(defined.contains("aigress_ai_sent_bytes_total"));
    for file in [
        "deploy/prometheus/aigress-rules.yml",
        "deploy/grafana/aigress-dashboard.json",
    ] {
        let used = metric_names(&std::fs::read_to_string(root().join(file)).unwrap());
        assert!(!used.is_empty(), "{file}");
        let unknown: Vec<_> = used.difference(&defined).collect();
        assert!(
            unknown.is_empty(),
            "{file} uses undefined metrics: {unknown:?}"
        );
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/aigress-dashboard.json")).unwrap(),
    )
    .unwrap();
    let titles: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for wanted in [
        "AI upload by vendor",
        "landing country",
        "Alerts by rule",
        "Capture drops",
        "by packet worker",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "{wanted}: {titles:?}"
        );
    }
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(root().join("deploy/prometheus"))
        .output()
        .expect("promtool runs (scripts/setup.sh --test installs it)");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs promtool (Debian's prometheus package): scripts/test.sh runs it"]
fn promtool_accepts_the_config_and_the_rules_and_their_tests_pass() {
    promtool(&["check", "config", "prometheus.yml"]);
    promtool(&["check", "rules", "aigress-rules.yml"]);
    promtool(&["test", "rules", "aigress-rules.test.yml"]);
}
