//! The `aigress` binary: parses the command line and runs a subcommand.

mod cli;

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use aigress::engine::EngineConfig;
use aigress::output::{JsonSink, TableSink};
use aigress::scan::{ScanError, scan_files};
use cli::{Cli, Command, Format, ScanArgs};

/// Inputs larger than this get a progress bar when stderr is a terminal.
const PROGRESS_MIN_BYTES: u64 = 64 * 1024 * 1024;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Scan(args) => scan(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("aigress: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("AIGRESS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || matches!(c.downcast_ref::<ScanError>(), Some(ScanError::Output(io)) if io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn scan(args: &ScanArgs) -> anyhow::Result<()> {
    let config = EngineConfig {
        max_flows: args.max_flows,
        dns_cache_entries: args.dns_cache,
    };
    let total: u64 = args
        .files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = (io::stderr().is_terminal() && total >= PROGRESS_MIN_BYTES).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut progress = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n);
        }
    };
    let stdout = io::stdout().lock();
    let report = match args.format {
        Format::Json => {
            let mut sink = JsonSink::new(BufWriter::new(stdout));
            let report =
                scan_files(&args.files, config, &mut sink, &mut progress).context("scan failed")?;
            sink.stats(report.last_seen, &report.stats)?;
            sink.finish()?;
            report
        }
        Format::Table => {
            let mut sink = TableSink::default();
            let report =
                scan_files(&args.files, config, &mut sink, &mut progress).context("scan failed")?;
            let mut out = BufWriter::new(stdout);
            sink.write(&mut out)?;
            out.flush()?;
            report
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for t in &report.truncations {
        tracing::warn!(
            file = %t.path.display(),
            packet = t.packet,
            error = %t.message,
            "Capture file ends inside a packet record; packets before it were processed."
        );
    }
    Ok(())
}
