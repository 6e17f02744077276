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
    /// A signature database directory to use instead of the one built in.
    #[arg(long, global = true, value_name = "DIR", env = "AIGRESS_SIGNATURES")]
    pub signatures: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read capture files and report their TLS, QUIC, DNS, HTTP and flow events.
    Scan(ScanArgs),
    /// Inspect the AI endpoint database.
    #[command(subcommand)]
    Signatures(SignaturesCommand),
}

#[derive(Debug, Subcommand)]
pub enum SignaturesCommand {
    /// List the endpoints, one per line.
    List {
        /// Only this vendor's endpoints (its id, e.g. `openai`).
        #[arg(long)]
        vendor: Option<String>,
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Say which vendor and product each host name or address belongs to.
    Match {
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Host names (a port is ignored) or IP addresses.
        #[arg(required = true, value_name = "HOST_OR_IP")]
        queries: Vec<String>,
    },
    /// Validate a database directory (the built-in database when none is given).
    Check {
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
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
