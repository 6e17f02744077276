//! The `aigress` binary: parses the command line and runs a subcommand.

mod cli;

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use aigress::alert::sinks::{AlertOutputs, AlertSink, WebhookConfig};
use aigress::capture::live::LiveOptions;
use aigress::config::InventoryConfig;
use aigress::config::{Config, read_secret};
use aigress::engine::EngineConfig;
use aigress::inventory::store::{Applied, Filter, Location, Store};
use aigress::inventory::{InventoryOptions, Pseudonymiser};
use aigress::landing::{Jurisdictions, LandingContext};
use aigress::policy::Policy;
use aigress::report::changes::{self, Changes};
use aigress::report::transfers::{self, Judges};
use aigress::report::{self, Report};
use aigress::scan::{Judging, ScanError, Workers, scan_judged};
use aigress::sensor::{self, SensorError};
use aigress::signatures::{Database, update};
use aigress::sink::{JsonSink, TableSink};
use cli::{
    Cli, Command, ConfigCommand, DbConnectionArgs, Format, GeoArgs, InventoryArgs,
    InventoryCommand, InventoryRecordArgs, PolicyCommand, ReportFormat, ReportKind, RunArgs,
    ScanArgs, SignaturesCommand, UpdateArgs,
};

/// Inputs larger than this get a progress bar when stderr is a terminal.
const PROGRESS_MIN_BYTES: u64 = 64 * 1024 * 1024;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    // A report piped into `head` ends early on purpose; a sensor whose event pipe breaks
    // has lost its consumer, which is a failure its supervisor must see.
    let pipe_may_close = !matches!(cli.command, Command::Run(_));
    let result = match cli.command {
        Command::Scan(args) => database(cli.signatures.as_deref()).and_then(|db| scan(&args, db)),
        Command::Signatures(SignaturesCommand::Check { dir, max_age_days }) => {
            check(dir.as_deref().or(cli.signatures.as_deref()), max_age_days)
        }
        Command::Signatures(SignaturesCommand::Keygen { out }) => keygen(&out),
        Command::Signatures(SignaturesCommand::Bundle { dir, key, out }) => {
            bundle(&dir, &key, &out)
        }
        Command::Signatures(SignaturesCommand::Update(args)) => update(&args),
        Command::Signatures(SignaturesCommand::Diff { old, new, format }) => {
            diff(&old, &new, format)
        }
        Command::Signatures(command) => {
            database(cli.signatures.as_deref()).and_then(|db| signatures(&command, &db))
        }
        Command::Geoip {
            geo,
            format,
            addresses,
        } => geoip(&geo, format, &addresses),
        Command::Policy(PolicyCommand::Check { file }) => {
            database(cli.signatures.as_deref()).and_then(|db| policy_check(&file, &db))
        }
        Command::Run(args) => run(&args, cli.signatures.as_deref()),
        Command::Config(ConfigCommand::Check { file }) => config_check(&file),
        Command::Inventory(args) => {
            database(cli.signatures.as_deref()).and_then(|db| inventory(&args, &db))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if pipe_may_close && is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("aigress: {e:#}");
            // 1: the sensor ran and stopped on a failure or with data it could not write;
            // 2: nothing ran (bad flags, configuration or inputs).
            if matches!(
                e.downcast_ref::<SensorError>(),
                Some(SensorError::Stopped(_))
            ) {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let mut filter =
        EnvFilter::try_from_env("AIGRESS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // The webhook's HTTP client logs request paths and raw headers at trace level: the
    // secret of a Slack- or Teams-style URL and the bearer token. Never below debug.
    for quiet in ["ureq=debug", "ureq_proto=debug"] {
        if let Ok(directive) = quiet.parse() {
            filter = filter.add_directive(directive);
        }
    }
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

/// The database given with `--signatures`, else the built-in one.
fn database(dir: Option<&Path>) -> anyhow::Result<Arc<Database>> {
    let db = match dir {
        Some(dir) => Database::from_dir(dir)
            .with_context(|| format!("loading signatures from {}", dir.display()))?,
        None => Database::embedded().context("the built-in signature database is invalid")?,
    };
    Ok(Arc::new(db))
}

fn check(dir: Option<&Path>, max_age_days: u64) -> anyhow::Result<ExitCode> {
    let loaded = match dir {
        Some(dir) => Database::from_dir(dir).map_err(anyhow::Error::from),
        None => Database::embedded().map_err(anyhow::Error::from),
    };
    match loaded {
        Ok(db) => {
            writeln!(
                io::stdout(),
                "ok: signature database {} ({}): {} vendors, {} endpoints, {} host patterns, {} model-server families with {} routes",
                db.version,
                db.date,
                db.vendors.len(),
                db.endpoints.len(),
                db.pattern_count(),
                db.model_servers.servers.len(),
                db.model_servers.route_count()
            )?;
            warn_stale(&db, max_age_days);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Warns on stderr about facts read longer than `max_age_days` ago, one line per vendor,
/// and says how many facts are inferred or give no words they rest on.
fn warn_stale(db: &Database, max_age_days: u64) {
    let now = std::time::SystemTime::now();
    let max_age = std::time::Duration::from_secs(max_age_days.saturating_mul(86_400));
    let facts = db.facts();
    let mut stale: std::collections::BTreeMap<(&str, &str), Vec<String>> = Default::default();
    for f in &facts {
        let age = aigress::signatures::load::checked_date(f.grounds.read)
            .and_then(|d| now.duration_since(d).ok())
            .unwrap_or_default();
        if age > max_age {
            stale
                .entry((&f.vendor.file, &f.vendor.id))
                .or_default()
                .push(format!(
                    "{} {} (read {})",
                    f.subject, f.field, f.grounds.read
                ));
        }
    }
    for ((file, vendor), old) in &stale {
        eprintln!(
            "warning: {file}: {vendor}: {} facts read more than {max_age_days} days ago: {}",
            old.len(),
            old.join(", ")
        );
    }
    let inferred = facts
        .iter()
        .filter(|f| f.grounds.basis == aigress::signatures::Basis::Inferred)
        .count();
    let unquoted = facts
        .iter()
        .filter(|f| f.field != "subprocessor" && f.grounds.quote.is_none())
        .count();
    eprintln!(
        "{} facts: {inferred} inferred, {unquoted} without the words they rest on",
        facts.len()
    );
}

fn signatures(command: &SignaturesCommand, db: &Database) -> anyhow::Result<ExitCode> {
    let mut out = BufWriter::new(io::stdout().lock());
    match command {
        SignaturesCommand::List { vendor, format } => {
            if let Some(v) = vendor
                && !db.vendors.iter().any(|x| &x.id == v)
            {
                anyhow::bail!("no vendor {v:?} in the signature database");
            }
            aigress::print::signatures::list(
                db,
                vendor.as_deref(),
                *format == Format::Json,
                &mut out,
            )?;
        }
        SignaturesCommand::Match { format, queries } => {
            aigress::print::signatures::matches(db, queries, *format == Format::Json, &mut out)?;
        }
        SignaturesCommand::Check { .. }
        | SignaturesCommand::Keygen { .. }
        | SignaturesCommand::Bundle { .. }
        | SignaturesCommand::Update(_)
        | SignaturesCommand::Diff { .. } => {}
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn keygen(out: &Path) -> anyhow::Result<ExitCode> {
    let id = update::write_key_pair(out)?;
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "key {id}: {} (private: keep it where bundles are made) and {} (public: give it to sensors)",
        out.with_extension("key").display(),
        out.with_extension("pub").display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn bundle(dir: &Path, key: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let made = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let version = update::make_bundle(dir, key, out, &made)?;
    writeln!(
        io::stdout().lock(),
        "signed version {version} into {}",
        out.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Installs a bundle (or rolls back); every refusal leaves the state directory as it was.
fn update(args: &UpdateArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => Config::load(path)?.signatures,
        None => aigress::config::SignaturesConfig::default(),
    };
    let state = update::StateDir::new(
        args.state_dir
            .clone()
            .or(config.state_dir)
            .unwrap_or_else(|| update::DEFAULT_STATE_DIR.into()),
    );
    let mut stdout = io::stdout().lock();
    if args.rollback {
        let done = state.rollback()?;
        writeln!(
            stdout,
            "rolled back from {} to {} ({})",
            done.from.as_deref().unwrap_or("nothing"),
            done.to,
            state.current_dir().display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let from = args
        .from
        .clone()
        .or(config.update_from)
        .context("no bundle to install: give --from or signatures.update_from")?;
    let key_files = if args.trusted_key.is_empty() {
        config.trusted_keys
    } else {
        args.trusted_key.clone()
    };
    let keys = update::trusted_keys(&key_files)?;
    let bytes = update::fetch(&from, args.ca.clone().or(config.ca).as_deref())?;
    let (done, _) = state.install(&bytes, &keys, args.allow_downgrade)?;
    if done.unchanged {
        writeln!(stdout, "version {} is already current", done.to)?;
    } else {
        writeln!(
            stdout,
            "installed version {} (was {}) as {}",
            done.to,
            done.from.as_deref().unwrap_or("none"),
            state.current_dir().display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn diff(old: &Path, new: &Path, format: Format) -> anyhow::Result<ExitCode> {
    let load = |dir: &Path| {
        Database::from_dir(dir)
            .with_context(|| format!("loading signatures from {}", dir.display()))
    };
    let changes = aigress::signatures::diff::diff(&load(old)?, &load(new)?);
    let mut out = BufWriter::new(io::stdout().lock());
    aigress::print::signatures::changes(&changes, format == Format::Json, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The GeoIP databases, front-door table and jurisdiction tables, adjusted by the policy.
fn landing_context(geo: &GeoArgs, policy: Option<&Policy>) -> anyhow::Result<LandingContext> {
    let ctx = LandingContext::load(
        geo.geoip_country.as_deref(),
        geo.geoip_asn.as_deref(),
        geo.no_geoip,
        policy.map(Policy::transfer_lists),
    )?;
    tracing::info!(databases = ctx.geo.description(), "GeoIP ready.");
    Ok(ctx)
}

fn geoip(geo: &GeoArgs, format: Format, addresses: &[String]) -> anyhow::Result<ExitCode> {
    let ctx = landing_context(geo, None)?;
    let answers: Vec<_> = addresses
        .iter()
        .map(|a| aigress::print::geoip::answer(&ctx, a))
        .collect();
    let mut out = BufWriter::new(io::stdout().lock());
    if format == Format::Table {
        writeln!(out, "# {}", ctx.geo.description())?;
    }
    aigress::print::geoip::write(&answers, format == Format::Json, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn policy_check(file: &Path, db: &Database) -> anyhow::Result<ExitCode> {
    match Policy::load(file, db) {
        Ok(p) => {
            writeln!(
                io::stdout(),
                "ok: policy {}: {} internal networks, {} groups, {} approvals, {} exceptions",
                file.display(),
                p.internal.len(),
                p.groups.len(),
                p.approvals.len(),
                p.exceptions.len()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The alert outputs `scan`'s flags name, opened; the alert file is reopened on SIGHUP.
fn alert_sinks(args: &ScanArgs) -> anyhow::Result<Vec<Box<dyn AlertSink>>> {
    let outputs = AlertOutputs {
        file: args.alerts_file.clone(),
        webhook: args.webhook.as_ref().map(|url| {
            let mut config = WebhookConfig::new(url.clone());
            config.ca_file.clone_from(&args.webhook_ca);
            config.bearer_token.clone_from(&args.webhook_token);
            config.attempts = args.webhook_attempts.max(1);
            config
        }),
        syslog: args.syslog,
    };
    let reopen = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if outputs.file.is_some() {
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reopen))
            .context("installing the SIGHUP handler")?;
    }
    Ok(outputs.open(&reopen)?)
}

fn mib_to_bytes(mib: u32) -> usize {
    usize::try_from(mib)
        .unwrap_or(usize::MAX)
        .saturating_mul(1 << 20)
}

fn scan(args: &ScanArgs, signatures: Arc<Database>) -> anyhow::Result<ExitCode> {
    let policy = args
        .policy
        .as_deref()
        .map(|p| Policy::load(p, &signatures))
        .transpose()?
        .map(Arc::new);
    let landing = Arc::new(landing_context(&args.geo, policy.as_deref())?);
    let sinks = alert_sinks(args)?;
    let config = EngineConfig {
        max_flows: args.max_flows,
        dns_cache_entries: args.dns_cache,
        buffer_budget_bytes: mib_to_bytes(args.buffer_memcap),
        community_id_seed: args.community_id_seed,
        ipv6_text: args.ipv6_text,
        dns_request_type: args.dns_request_type,
        async_oneside: args.async_oneside,
        ..EngineConfig::default()
    };
    let files = aigress::capture::offline::expand(&args.files).context("scan failed")?;
    let total: u64 = files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = (io::stderr().is_terminal() && total >= PROGRESS_MIN_BYTES).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {msg} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let started = std::time::Instant::now();
    let mut packets: u64 = 0;
    let mut progress = |n: u64| {
        if let Some(b) = &bar {
            b.inc(n);
            packets = packets.saturating_add(1);
            if packets.is_multiple_of(16_384) {
                let secs = started.elapsed().as_secs_f64().max(0.001);
                // Precision loss only affects the displayed rate.
                #[allow(clippy::cast_precision_loss)]
                b.set_message(format!("{:.0} packets/s", packets as f64 / secs));
            }
        }
    };
    let inventory = inventory_recording(&args.inventory, &InventoryConfig::default())?
        .map(|(location, options)| {
            Store::connect(&location)
                .map(|store| (store, options))
                .map_err(anyhow::Error::from)
        })
        .transpose()?;
    let mut judging = Some(Judging {
        signatures,
        landing,
        policy,
        alert_sinks: sinks,
        inventory,
    });
    let mut run = |sink: &mut dyn aigress::event::EventSink| {
        let judging = judging
            .take()
            .ok_or_else(|| anyhow::anyhow!("a scan runs once"))?;
        let (report, assessment) = scan_judged(
            &files,
            config,
            Workers::new(usize::from(args.workers)),
            judging,
            sink,
            &mut progress,
        )
        .context("scan failed")?;
        for s in &assessment.sinks {
            if s.failed > 0 || s.dropped > 0 {
                tracing::warn!(sink = %s.sink, sent = s.sent, failed = s.failed, dropped = s.dropped, "Some alerts were not delivered.");
            }
        }
        anyhow::Ok((report, assessment))
    };
    let stdout = io::stdout().lock();
    let report = match args.format {
        Format::Json => {
            let mut sink = JsonSink::new(BufWriter::new(stdout));
            let (report, assessment) = run(&mut sink)?;
            sink.stats(report.last_seen, &report.stats, &assessment)?;
            sink.finish()?;
            report
        }
        Format::Table => {
            let mut sink = TableSink::default();
            let (report, _) = run(&mut sink)?;
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
    for s in &report.skipped_links {
        tracing::warn!(
            file = %s.path.display(),
            packets = s.packets,
            "Packets of interfaces whose link type aigress does not decode were skipped."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The sensor's settings: the configuration file, then the flags over it.
fn settings(args: &RunArgs, signatures: Option<&Path>) -> anyhow::Result<sensor::Settings> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let interfaces = if args.interfaces.is_empty() {
        config.capture.interfaces.clone()
    } else {
        args.interfaces.clone()
    };
    let buffer_mib = args.buffer_mib.or(config.capture.buffer_mib).unwrap_or(64);
    let buffer_bytes = i32::try_from(u64::from(buffer_mib).saturating_mul(1024 * 1024))
        .context("the capture buffer must be below 2 GiB")?;
    let filter = args.filter.clone().or(config.capture.filter.clone());
    let promiscuous = !args.no_promiscuous && config.capture.promiscuous.unwrap_or(true);
    let interfaces = interfaces
        .into_iter()
        .map(|name| {
            let mut o = LiveOptions::new(name);
            o.promiscuous = promiscuous;
            o.buffer_bytes = buffer_bytes;
            o.filter.clone_from(&filter);
            o
        })
        .collect();
    let sources = sensor::Sources {
        signatures: signatures
            .map(Path::to_owned)
            .or(config.signatures.dir.clone())
            .or_else(|| {
                let state = update::StateDir::new(config.signatures.state_dir.clone()?);
                state.current_version().map(|_| state.current_dir())
            }),
        geoip_country: args
            .geo
            .geoip_country
            .clone()
            .or(config.geoip.country.clone()),
        geoip_asn: args.geo.geoip_asn.clone().or(config.geoip.asn.clone()),
        no_geoip: args.geo.no_geoip || config.geoip.disabled.unwrap_or(false),
        policy: args.policy.clone().or(config.policy.file.clone()),
    };
    let webhook = match args.webhook.clone().or(config.output.webhook.clone()) {
        None => None,
        Some(url) => {
            let mut w = WebhookConfig::new(url);
            w.ca_file = args.webhook_ca.clone().or(config.output.webhook_ca.clone());
            w.bearer_token = match (&args.webhook_token, &config.output.webhook_token_file) {
                (Some(t), _) => Some(t.clone()),
                (None, Some(f)) => {
                    Some(read_secret(f).with_context(|| format!("reading {}", f.display()))?)
                }
                (None, None) => None,
            };
            w.attempts = args
                .webhook_attempts
                .or(config.output.webhook_attempts)
                .unwrap_or(5);
            if !(1..=100).contains(&w.attempts) {
                anyhow::bail!(
                    "output.webhook_attempts is {}: give 1 to 100 attempts per alert",
                    w.attempts
                );
            }
            Some(w)
        }
    };
    let alerts = AlertOutputs {
        file: args
            .alerts_file
            .clone()
            .or(config.output.alerts_file.clone()),
        webhook,
        syslog: args.syslog.or(config.output.syslog),
    };
    if sources.policy.is_none() && alerts.any() {
        anyhow::bail!("alert outputs need a policy (--policy or policy.file) to raise alerts");
    }
    let http = match args.listen.or(config.http.listen) {
        None => None,
        Some(listen) => {
            let token_file = args
                .http_token_file
                .clone()
                .or(config.http.bearer_token_file.clone());
            let auth = match (
                token_file,
                &config.http.basic_user,
                &config.http.basic_password_file,
            ) {
                (Some(f), _, _) => sensor::http::Auth::Bearer(
                    read_secret(&f).with_context(|| format!("reading {}", f.display()))?,
                ),
                (None, Some(user), Some(f)) => sensor::http::Auth::Basic {
                    user: user.clone(),
                    password: read_secret(f).with_context(|| format!("reading {}", f.display()))?,
                },
                _ => sensor::http::Auth::Open,
            };
            let tls = match (
                args.http_tls_cert.clone().or(config.http.tls_cert.clone()),
                args.http_tls_key.clone().or(config.http.tls_key.clone()),
            ) {
                (Some(c), Some(k)) => Some((c, k)),
                _ => None,
            };
            Some(sensor::HttpSettings { listen, auth, tls })
        }
    };
    let workers = match args.workers.or(config.capture.workers) {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    };
    Ok(sensor::Settings {
        interfaces,
        workers,
        engine: EngineConfig {
            max_flows: args
                .max_flows
                .or(config.engine.max_flows)
                .unwrap_or(aigress::flow::DEFAULT_MAX_FLOWS),
            dns_cache_entries: args
                .dns_cache
                .or(config.engine.dns_cache)
                .unwrap_or(aigress::protocols::dns::cache::DEFAULT_CAPACITY),
            buffer_budget_bytes: mib_to_bytes(
                args.buffer_memcap
                    .or(config.engine.buffer_memcap)
                    .unwrap_or(aigress::flow::budget::DEFAULT_BUFFER_MEMCAP_MIB),
            ),
            community_id_seed: args
                .community_id_seed
                .or(config.engine.community_id_seed)
                .unwrap_or(0),
            ipv6_text: args
                .ipv6_text
                .or(config.engine.ipv6_text)
                .unwrap_or_default(),
            dns_request_type: args
                .dns_request_type
                .or(config.engine.dns_request_type)
                .unwrap_or_default(),
            async_oneside: args.async_oneside || config.engine.async_oneside.unwrap_or(false),
            ..EngineConfig::default()
        },
        sources,
        events: args.events.clone().or(config.output.events.clone()),
        alerts,
        http,
        user: args.user.clone().or(config.capture.user.clone()),
        inventory: inventory_recording(&args.inventory, &config.inventory)?,
        stall_after: args
            .stall_after
            .unwrap_or(aigress::sensor::watchdog::DEFAULT_STALL_AFTER),
    })
}

fn run(args: &RunArgs, signatures: Option<&Path>) -> anyhow::Result<ExitCode> {
    let settings = settings(args, signatures)?;
    let signals = sensor::Signals::install().context("installing signal handlers")?;
    sensor::run(&settings, &signals)?;
    Ok(ExitCode::SUCCESS)
}

fn config_check(file: &Path) -> anyhow::Result<ExitCode> {
    let config = match Config::load(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let sources = sensor::Sources {
        signatures: config.signatures.dir.clone(),
        geoip_country: config.geoip.country.clone(),
        geoip_asn: config.geoip.asn.clone(),
        no_geoip: config.geoip.disabled.unwrap_or(false),
        policy: config.policy.file.clone(),
    };
    if let Err(e) = sources.load() {
        eprintln!("{}: {e}", file.display());
        return Ok(ExitCode::from(1));
    }
    writeln!(
        io::stdout(),
        "ok: config {}: {} interface(s), policy {}, HTTP {}",
        file.display(),
        config.capture.interfaces.len(),
        config
            .policy
            .file
            .as_deref()
            .map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
        config
            .http
            .listen
            .map_or_else(|| "off".to_owned(), |a| a.to_string()),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Where and how to record the inventory: the flags, then the configuration.
fn inventory_recording(
    args: &InventoryRecordArgs,
    config: &InventoryConfig,
) -> anyhow::Result<Option<(Location, InventoryOptions)>> {
    let Some(db) = args.db.clone().or(config.db.clone()) else {
        return Ok(None);
    };
    let location = inventory_location(
        &db,
        &DbConnectionArgs {
            db_password_file: args
                .connection
                .db_password_file
                .clone()
                .or(config.password_file.clone()),
            db_ca: args.connection.db_ca.clone().or(config.ca_file.clone()),
        },
    )?;
    let key = args
        .pseudonymise_key
        .clone()
        .or(config.pseudonymise_key_file.clone());
    let pseudonymiser = key
        .as_deref()
        .map(Pseudonymiser::from_file)
        .transpose()
        .context("reading the pseudonymisation key")?;
    let interval_text = args
        .db_interval
        .clone()
        .or(config.interval.clone())
        .unwrap_or_else(|| "10s".into());
    let interval = humantime::parse_duration(&interval_text)
        .with_context(|| format!("{interval_text:?} is not a duration like 10s"))?;
    Ok(Some((
        location,
        InventoryOptions {
            sensor: args
                .sensor_name
                .clone()
                .or(config.sensor.clone())
                .unwrap_or_else(aigress::inventory::default_sensor_name),
            pseudonymiser,
            interval,
            buffer_rows: args
                .db_buffer_rows
                .or(config.buffer_rows)
                .unwrap_or(aigress::inventory::DEFAULT_BUFFER_ROWS),
        },
    )))
}

/// The inventory an `aigress inventory` command reads: `text` with the connection flags.
fn inventory_location(text: &str, connection: &DbConnectionArgs) -> anyhow::Result<Location> {
    Ok(Location::parse(text)?.with_credentials(
        connection.db_password_file.as_deref(),
        connection.db_ca.as_deref(),
    )?)
}

fn inventory(args: &InventoryArgs, db: &Database) -> anyhow::Result<ExitCode> {
    if let Some(InventoryCommand::Merge { inputs, out }) = &args.command {
        let mut merged = Store::open(out).with_context(|| format!("opening {}", out.display()))?;
        for input in inputs {
            let other =
                Store::open(input).with_context(|| format!("opening {}", input.display()))?;
            merged
                .merge_from(&other)
                .with_context(|| format!("merging {}", input.display()))?;
        }
        writeln!(
            io::stdout(),
            "merged {} inventories into {}",
            inputs.len(),
            out.display()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(InventoryCommand::Migrate {
        from,
        to,
        connection,
    }) = &args.command
    {
        let source = open_existing(&Location::File(from.clone()))?;
        let target = inventory_location(to, connection)?;
        let mut store = Store::connect(&target)?;
        let applied = store
            .migrate_from(&source)
            .with_context(|| format!("copying {} into {target}", from.display()))?;
        let what = match applied {
            Applied::Written => "copied into",
            Applied::AlreadyWritten => "had already been copied (nothing added) into",
        };
        writeln!(io::stdout(), "{} {what} {target}", from.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(text) = &args.db else {
        anyhow::bail!(
            "aigress inventory needs --db FILE|URL (or AIGRESS_DB, or the merge or migrate subcommand)"
        );
    };
    let store = open_existing(&inventory_location(text, &args.connection)?)?;
    let when = |text: &Option<String>| {
        text.as_deref()
            .map(aigress::inventory::parse_time)
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    let filter = Filter {
        since: when(&args.since)?,
        until: when(&args.until)?,
        vendor: args.vendor.clone(),
        sensor: args.sensor.clone(),
    };
    let policy = args
        .policy
        .as_deref()
        .map(|p| Policy::load(p, db))
        .transpose()?;
    let jurisdictions = Jurisdictions::with_lists(policy.as_ref().map(Policy::transfer_lists))?;
    let judges = Judges {
        db,
        jurisdictions: &jurisdictions,
        policy_file: policy.as_ref().map(|p| p.file.as_str()),
    };
    let changes = || -> anyhow::Result<Changes> {
        let baseline_store = args
            .baseline_db
            .as_deref()
            .map(|text| open_existing(&inventory_location(text, &args.connection)?))
            .transpose()?;
        let baseline_until = when(&args.baseline_until)?;
        let (baseline, baseline_filter) = match &baseline_store {
            Some(other) => (
                other,
                Filter {
                    since: None,
                    until: baseline_until,
                    vendor: args.vendor.clone(),
                    sensor: args.sensor.clone(),
                },
            ),
            None => {
                let Some(since) = filter.since else {
                    anyhow::bail!(
                        "changes need a baseline: --since (the start of the current period) or --baseline-db"
                    );
                };
                (
                    &store,
                    Filter {
                        since: None,
                        until: Some(baseline_until.unwrap_or(since.saturating_sub(1))),
                        vendor: args.vendor.clone(),
                        sensor: args.sensor.clone(),
                    },
                )
            }
        };
        Ok(changes::between(
            baseline,
            &baseline_filter,
            &store,
            &filter,
            args.factor,
        )?)
    };
    let format = match args.format {
        ReportFormat::Table => report::Format::Table,
        ReportFormat::Csv => report::Format::Csv,
        ReportFormat::Json => report::Format::Json,
        ReportFormat::Html => report::Format::Html,
        ReportFormat::Md => report::Format::Markdown,
    };
    let write = |out: &mut dyn Write| -> anyhow::Result<()> {
        match args.report {
            ReportKind::Inventory => {
                let mut built = Report::build(&store, &filter, &judges)?;
                if filter.since.is_some() || args.baseline_db.is_some() {
                    built.changes = Some(changes()?);
                }
                report::write(&built, format, out)?;
            }
            ReportKind::Transfers => {
                let register = transfers::register(&store.flows(&filter)?, &judges);
                report::write(register.as_slice(), format, out)?;
            }
            ReportKind::Changes => report::write(&changes()?, format, out)?,
            ReportKind::Unknown => {
                let unknown = report::unknown::UnknownReport::build(&store, &filter)?;
                report::write(&unknown, format, out)?;
            }
        }
        Ok(())
    };
    match &args.out {
        Some(file) => {
            let mut out = BufWriter::new(
                std::fs::File::create(file)
                    .with_context(|| format!("creating {}", file.display()))?,
            );
            write(&mut out)?;
            out.flush()?;
        }
        None => {
            let mut out = BufWriter::new(io::stdout().lock());
            write(&mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens an inventory that must already exist (a report never creates a file).
fn open_existing(location: &Location) -> anyhow::Result<Store> {
    if location.is_missing_file() {
        anyhow::bail!("no inventory at {location}");
    }
    Ok(Store::connect(location)?)
}
