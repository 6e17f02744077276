//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Finds the AI data flows leaving a network, from the wire.
#[derive(Debug, Parser)]
#[command(name = "aigress", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); AIGRESS_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read capture files and report their TLS, DNS, HTTP and flow events.
    Scan(ScanArgs),
}

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// `table`: flows grouped by server, for people. `json`: one EVE-style event per line.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Flows tracked at once; the longest-idle are evicted beyond it.
    #[arg(long, default_value_t = aigress::flow::DEFAULT_MAX_FLOWS, env = "AIGRESS_MAX_FLOWS")]
    pub max_flows: usize,
    /// Addresses remembered from DNS answers, to name flows that carry no SNI.
    #[arg(long, default_value_t = aigress::dns_cache::DEFAULT_CAPACITY, env = "AIGRESS_DNS_CACHE")]
    pub dns_cache: usize,
    /// Capture files (pcap or pcapng), read in the order given.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}
