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
    /// Say what the GeoIP databases and jurisdiction tables know about addresses.
    Geoip {
        #[command(flatten)]
        geo: GeoArgs,
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[arg(required = true, value_name = "IP")]
        addresses: Vec<String>,
    },
    /// Work with policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Capture live on span/mirror interfaces: events as JSON lines, metrics over HTTP.
    Run(Box<RunArgs>),
    /// Work with sensor configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Report the AI data flow inventory a sensor or scan recorded (`--db`), or merge
    /// several sensors' inventories.
    Inventory(InventoryArgs),
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InventoryArgs {
    #[command(subcommand)]
    pub command: Option<InventoryCommand>,
    /// The inventory: a SQLite file or a PostgreSQL URL.
    #[arg(long, value_name = "FILE|URL", env = "AIGRESS_DB")]
    pub db: Option<String>,
    #[command(flatten)]
    pub connection: DbConnectionArgs,
    /// Only what this sensor recorded.
    #[arg(long, value_name = "NAME")]
    pub sensor: Option<String>,
    /// Only flows seen since: a date (2026-11-01), an RFC 3339 time, or a duration (7d).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only flows seen until (same forms).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Only this vendor (its id, e.g. `openai`).
    #[arg(long)]
    pub vendor: Option<String>,
    #[arg(short, long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Which report: the whole inventory, the transfer register (flows landing outside the
    /// EEA with their transfer mechanism), or the changes since a baseline.
    #[arg(long, value_enum, default_value_t = ReportKind::Inventory)]
    pub report: ReportKind,
    /// The policy whose adequacy list and DPF-certified vendors the transfer register
    /// follows (without one, no vendor counts as DPF-certified).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Changes: the baseline is what was seen until then (default: --since).
    #[arg(long, value_name = "WHEN")]
    pub baseline_until: Option<String>,
    /// Changes: read the baseline from this inventory (the last audit's) instead.
    #[arg(long, value_name = "FILE|URL")]
    pub baseline_db: Option<String>,
    /// Changes: report a vendor's bytes uploaded per day when they grew or shrank by this
    /// factor or more.
    #[arg(long, default_value_t = 2.0, value_parser = parse_factor)]
    pub factor: f64,
    /// Write the report here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// A volume factor: a finite number above 1.
fn parse_factor(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 1.0 => Ok(f),
        _ => Err(format!("{text:?} is not a factor above 1 (e.g. 2 or 1.5)")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportKind {
    Inventory,
    Transfers,
    Changes,
    /// Destinations the signature database does not know, ranked by data sent.
    Unknown,
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Merge several sensors' inventories into one (sensors stay apart in every row).
    Merge {
        #[arg(required = true, value_name = "DB")]
        inputs: Vec<PathBuf>,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Copy a SQLite inventory into another inventory (a fleet's PostgreSQL), once: a
    /// second run adds nothing.
    Migrate {
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        #[arg(long, value_name = "URL|FILE")]
        to: String,
        #[command(flatten)]
        connection: DbConnectionArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
    Html,
    Md,
}

/// Recording the inventory.
#[derive(Debug, Clone, clap::Args)]
pub struct InventoryRecordArgs {
    /// Record AI flows, client fingerprints and alerts in this inventory: a SQLite file,
    /// or a PostgreSQL URL (postgres://user@host/db?sslmode=require) shared by sensors.
    #[arg(long, value_name = "FILE|URL", env = "AIGRESS_DB")]
    pub db: Option<String>,
    #[command(flatten)]
    pub connection: DbConnectionArgs,
    /// The most rows kept in memory while the database cannot be written (default
    /// 200000); beyond it rows for new keys are dropped and counted.
    #[arg(long, value_name = "N")]
    pub db_buffer_rows: Option<usize>,
    /// This sensor's name in the inventory (default: the host name).
    #[arg(long, value_name = "NAME", env = "AIGRESS_SENSOR_NAME")]
    pub sensor_name: Option<String>,
    /// Store internal hosts as keyed HMAC pseudonyms, the key read from this file.
    #[arg(long, value_name = "FILE")]
    pub pseudonymise_key: Option<PathBuf>,
    /// How often a batch is written to the inventory (e.g. 10s, 1m).
    #[arg(long, value_name = "DURATION")]
    pub db_interval: Option<String>,
}

/// How to reach a PostgreSQL inventory. The password never goes in the URL.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DbConnectionArgs {
    /// Read the PostgreSQL password from this file (else PGPASSWORD).
    #[arg(long, value_name = "FILE", env = "AIGRESS_DB_PASSWORD_FILE")]
    pub db_password_file: Option<PathBuf>,
    /// Verify the PostgreSQL server's TLS certificate with this PEM CA (default:
    /// Mozilla's roots).
    #[arg(long, value_name = "FILE", env = "AIGRESS_DB_CA")]
    pub db_ca: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and every file it names (signatures, policy, GeoIP);
    /// exit 1 on problems.
    Check {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// `aigress run`. Every flag overrides the configuration file.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The configuration file (see deploy/aigress.toml).
    #[arg(short, long, value_name = "FILE", env = "AIGRESS_CONFIG")]
    pub config: Option<PathBuf>,
    /// An interface to capture on; repeat for several.
    #[arg(
        short,
        long = "interface",
        value_name = "IF",
        env = "AIGRESS_INTERFACES",
        value_delimiter = ','
    )]
    pub interfaces: Vec<String>,
    /// Serve /metrics, /healthz, /readyz and /flows here.
    #[arg(long, value_name = "ADDR:PORT", env = "AIGRESS_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    /// A BPF capture filter (tcpdump syntax).
    #[arg(long, value_name = "EXPR", env = "AIGRESS_FILTER")]
    pub filter: Option<String>,
    /// Do not put the interfaces in promiscuous mode.
    #[arg(long)]
    pub no_promiscuous: bool,
    /// Kernel capture buffer per interface, MiB (shared by its workers' sockets).
    #[arg(long, value_name = "MIB", env = "AIGRESS_BUFFER_MIB")]
    pub buffer_mib: Option<u32>,
    /// Packet workers, each with its own flow table; the kernel hands each flow (both
    /// directions) to one of them. Default: one per core.
    #[arg(long, value_name = "N", env = "AIGRESS_WORKERS",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,
    /// Drop to this user once the interfaces and the HTTP port are open.
    #[arg(long, value_name = "USER", env = "AIGRESS_USER")]
    pub user: Option<String>,
    /// Write events to this file (reopened on SIGHUP) instead of stdout; `-` is stdout.
    #[arg(long, value_name = "FILE", env = "AIGRESS_EVENTS")]
    pub events: Option<PathBuf>,
    #[arg(long, value_name = "N", env = "AIGRESS_MAX_FLOWS")]
    pub max_flows: Option<usize>,
    #[arg(long, value_name = "N", env = "AIGRESS_DNS_CACHE")]
    pub dns_cache: Option<usize>,
    /// The watchdog calls the packet loop stalled (and /healthz fails) once it has been
    /// inside one batch this long (default 5s).
    #[arg(long, value_name = "DURATION", env = "AIGRESS_STALL_AFTER", value_parser = humantime::parse_duration)]
    pub stall_after: Option<std::time::Duration>,
    /// The seed of every event's Community ID (default 0); use the one the other tools use.
    #[arg(long, value_name = "N", env = "AIGRESS_COMMUNITY_ID_SEED")]
    pub community_id_seed: Option<u16>,
    /// The word DNS query events carry in `dns.type`: `request` (default), as Suricata 8's
    /// EVE writes it, or `query`, the word aigress wrote before, for consumers that read it.
    #[arg(long, value_name = "WORD", env = "AIGRESS_DNS_REQUEST_TYPE")]
    pub dns_request_type: Option<aigress::protocols::dns::DnsRequestType>,
    /// The sensor sees one side of some connections (asymmetric routing), as Suricata's
    /// `stream.async-oneside`: what a side whose peer is unseen sends is reported at once,
    /// not when an acknowledgment that never passes the sensor comes.
    #[arg(long, env = "AIGRESS_ASYNC_ONESIDE")]
    pub async_oneside: bool,
    /// How events write IPv6 addresses: `full` (default), eight zero-padded groups as
    /// Suricata 8 writes them, or `compressed` (`2001:db8::1`), as Zeek and tshark do.
    #[arg(long, value_name = "FORM", env = "AIGRESS_IPV6_TEXT")]
    pub ipv6_text: Option<aigress::address::Ipv6Text>,
    /// Memory all flows together may hold for messages arriving in pieces, MiB (default 32).
    #[arg(long, value_name = "MIB", env = "AIGRESS_BUFFER_MEMCAP",
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub buffer_memcap: Option<u32>,
    #[command(flatten)]
    pub geo: GeoArgs,
    /// The policy file (reloaded on SIGHUP).
    #[arg(long, value_name = "FILE", env = "AIGRESS_POLICY")]
    pub policy: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub alerts_file: Option<PathBuf>,
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    #[arg(long, value_name = "FILE")]
    pub webhook_ca: Option<PathBuf>,
    #[arg(
        long,
        value_name = "TOKEN",
        env = "AIGRESS_WEBHOOK_TOKEN",
        hide_env_values = true
    )]
    pub webhook_token: Option<String>,
    /// Attempts per alert before the webhook gives up on it (1 to 100).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_attempts: Option<u32>,
    #[arg(long, value_name = "ADDR:PORT")]
    pub syslog: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub inventory: InventoryRecordArgs,
    /// Require `Authorization: Bearer <token>` on HTTP, the token read from this file.
    #[arg(long, value_name = "FILE")]
    pub http_token_file: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --http-tls-key).
    #[arg(long, value_name = "FILE", requires = "http_tls_key")]
    pub http_tls_cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE", requires = "http_tls_cert")]
    pub http_tls_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file against the signature database; exit 1 on problems.
    Check {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// Where GeoIP answers come from.
#[derive(Debug, Clone, clap::Args)]
pub struct GeoArgs {
    /// A MaxMind-format country database (GeoLite2-Country, GeoIP2-Country, …) instead of
    /// the built-in one.
    #[arg(long, value_name = "FILE", env = "AIGRESS_GEOIP_COUNTRY")]
    pub geoip_country: Option<PathBuf>,
    /// A MaxMind-format ASN database (GeoLite2-ASN), to know front doors by their AS.
    #[arg(long, value_name = "FILE", env = "AIGRESS_GEOIP_ASN")]
    pub geoip_asn: Option<PathBuf>,
    /// Run without GeoIP: landings come only from host names and the signature database.
    #[arg(long, conflicts_with_all = ["geoip_country", "geoip_asn"])]
    pub no_geoip: bool,
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
    /// Validate a database directory (the built-in database when none is given), and warn
    /// about facts read longer ago than --max-age-days.
    Check {
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Facts read longer ago than this many days are stale.
        #[arg(long, value_name = "DAYS", default_value_t = 365)]
        max_age_days: u64,
    },
    /// Make an Ed25519 key pair for signing bundles: OUT.key (private, PKCS#8 PEM, mode
    /// 0600) and OUT.pub (the public key sensors trust).
    Keygen {
        #[arg(long, value_name = "OUT")]
        out: PathBuf,
    },
    /// Check a database directory and sign it into one bundle file.
    Bundle {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The private key (PKCS#8 PEM).
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Install a signed bundle into the state directory, where running sensors pick it up;
    /// or return to the previous version.
    Update(UpdateArgs),
    /// Show the facts and hosts that differ between two databases, product by product.
    Diff {
        /// The old database: a directory, or a state directory's version.
        #[arg(value_name = "OLD")]
        old: PathBuf,
        #[arg(value_name = "NEW")]
        new: PathBuf,
        #[arg(short, long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Where the bundle comes from: an https:// URL or a file (default:
    /// signatures.update_from in --config).
    #[arg(long, value_name = "URL|FILE", conflicts_with = "rollback")]
    pub from: Option<String>,
    /// Make the previous version current again.
    #[arg(long)]
    pub rollback: bool,
    /// The state directory (default: signatures.state_dir in --config, else
    /// /var/lib/aigress/signatures).
    #[arg(long, value_name = "DIR", env = "AIGRESS_SIGNATURES_STATE")]
    pub state_dir: Option<PathBuf>,
    /// A public key a bundle may be signed with (repeatable; default:
    /// signatures.trusted_keys in --config).
    #[arg(long, value_name = "FILE")]
    pub trusted_key: Vec<PathBuf>,
    /// Trust only this PEM CA for the https download (default: the system's roots).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Install a version older than the current one.
    #[arg(long)]
    pub allow_downgrade: bool,
    /// The sensor configuration file whose [signatures] section gives the defaults.
    #[arg(long, value_name = "FILE", env = "AIGRESS_CONFIG")]
    pub config: Option<PathBuf>,
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
    #[arg(long, default_value_t = aigress::protocols::dns::cache::DEFAULT_CAPACITY, env = "AIGRESS_DNS_CACHE")]
    pub dns_cache: usize,
    /// The seed of every event's Community ID; use the one the other tools use.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        env = "AIGRESS_COMMUNITY_ID_SEED"
    )]
    pub community_id_seed: u16,
    /// The word DNS query events carry in `dns.type`: `request`, as Suricata 8's EVE writes
    /// it, or `query`, the word aigress wrote before, for consumers that read it.
    #[arg(
        long,
        value_name = "WORD",
        default_value = "request",
        env = "AIGRESS_DNS_REQUEST_TYPE"
    )]
    pub dns_request_type: aigress::protocols::dns::DnsRequestType,
    /// The capture holds one side of some connections (asymmetric routing), as Suricata's
    /// `stream.async-oneside`: what a side whose peer is unseen sends is reported at once,
    /// not at the connection's end.
    #[arg(long, env = "AIGRESS_ASYNC_ONESIDE")]
    pub async_oneside: bool,
    /// How events write IPv6 addresses: `full`, eight zero-padded groups as Suricata 8
    /// writes them, or `compressed` (`2001:db8::1`), as Zeek and tshark do.
    #[arg(
        long,
        value_name = "FORM",
        default_value = "full",
        env = "AIGRESS_IPV6_TEXT"
    )]
    pub ipv6_text: aigress::address::Ipv6Text,
    /// Memory all flows together may hold for ClientHellos, request heads and DNS messages
    /// arriving in pieces, MiB; beyond it new partial messages are refused and counted.
    #[arg(long, value_name = "MIB", default_value_t = aigress::flow::budget::DEFAULT_BUFFER_MEMCAP_MIB,
          env = "AIGRESS_BUFFER_MEMCAP", value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub buffer_memcap: u32,
    #[command(flatten)]
    pub geo: GeoArgs,
    /// A policy file: approved vendors, allowed landings, alert rules. Without one,
    /// events carry landings but no verdicts or alerts.
    #[arg(long, value_name = "FILE", env = "AIGRESS_POLICY")]
    pub policy: Option<PathBuf>,
    /// Also append alerts as JSON lines to this file (reopened on SIGHUP).
    #[arg(long, value_name = "FILE", requires = "policy")]
    pub alerts_file: Option<PathBuf>,
    /// Also POST each alert as JSON to this https:// URL.
    #[arg(long, value_name = "URL", requires = "policy")]
    pub webhook: Option<String>,
    /// PEM root certificates for the webhook (a private CA) instead of Mozilla's.
    #[arg(long, value_name = "FILE", requires = "webhook")]
    pub webhook_ca: Option<PathBuf>,
    /// Bearer token for the webhook.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "AIGRESS_WEBHOOK_TOKEN",
        requires = "webhook",
        hide_env_values = true
    )]
    pub webhook_token: Option<String>,
    /// Attempts per alert before the webhook gives up on it (1 to 100).
    #[arg(long, value_name = "N", default_value_t = 5, requires = "webhook",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub webhook_attempts: u32,
    /// Also send alerts as RFC 5424 syslog messages over UDP to this address.
    #[arg(long, value_name = "ADDR:PORT", requires = "policy")]
    pub syslog: Option<std::net::SocketAddr>,
    /// Engines scanning at once, each on a thread of its own with its own share of the
    /// flows; their events are merged back, so the output is the same as one engine's.
    /// Each engine reads and decodes every packet: on two cores one engine was the faster
    /// (BENCHMARKS.md), so several are for machines with more.
    #[arg(long, value_name = "N", default_value_t = 1, env = "AIGRESS_WORKERS",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,
    #[command(flatten)]
    pub inventory: InventoryRecordArgs,
    /// Capture files (pcap or pcapng, plain or compressed with gzip or zstd), read in the
    /// order given; a directory stands for the capture files in it, in the time order of
    /// their first packets.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}
