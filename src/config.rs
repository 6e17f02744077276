//! The sensor's configuration file (TOML): everything `aigress run`'s flags set, so a
//! service manager starts it with one `--config`. Flags and `AIGRESS_*` variables
//! override the file. Every problem is named by file and line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::problem::{Problem, Problems};

/// The whole file. Every section and field is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub capture: CaptureConfig,
    #[serde(default)]
    pub engine: EngineSection,
    #[serde(default)]
    pub signatures: SignaturesConfig,
    #[serde(default)]
    pub geoip: GeoipConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub output: OutputConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub inventory: InventoryConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryConfig {
    /// The inventory to record AI flows in: a SQLite file or a `postgres://` URL (without
    /// a password).
    pub db: Option<String>,
    /// The PostgreSQL password, read from this file.
    pub password_file: Option<PathBuf>,
    /// A PEM CA to verify the PostgreSQL server's certificate with (default: Mozilla's
    /// roots).
    pub ca_file: Option<PathBuf>,
    /// The most rows kept in memory while the database is away.
    pub buffer_rows: Option<usize>,
    /// This sensor's name in the inventory (default: the host name).
    pub sensor: Option<String>,
    /// Store internal hosts as keyed HMAC pseudonyms with the key in this file.
    pub pseudonymise_key_file: Option<PathBuf>,
    /// How often a batch is written (`10s`, `1m`).
    pub interval: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// Interfaces to capture on (span/mirror ports).
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// A BPF filter in tcpdump syntax.
    pub filter: Option<String>,
    /// Promiscuous mode (default true).
    pub promiscuous: Option<bool>,
    /// Kernel capture buffer per interface, MiB (default 64), shared by its workers.
    pub buffer_mib: Option<u32>,
    /// Packet workers (default one per core).
    pub workers: Option<u16>,
    /// Drop to this user once the interfaces and the HTTP port are open.
    pub user: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub max_flows: Option<usize>,
    pub dns_cache: Option<usize>,
    /// Memory for messages arriving in pieces, all flows together, MiB.
    pub buffer_memcap: Option<u32>,
    /// The seed of every event's Community ID.
    pub community_id_seed: Option<u16>,
    /// The word DNS query events carry in `dns.type`: `request` or `query`.
    pub dns_request_type: Option<crate::protocols::dns::DnsRequestType>,
    /// One side of some connections is seen (asymmetric routing): report at once.
    pub async_oneside: Option<bool>,
    /// How events write IPv6 addresses: `full` or `compressed`.
    pub ipv6_text: Option<crate::address::Ipv6Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignaturesConfig {
    /// A database directory replacing the built-in one.
    pub dir: Option<PathBuf>,
    /// Where `signatures update` installs bundles; the sensor loads `<state_dir>/current`
    /// (when `dir` is not set and it exists) and switches to a new version without a
    /// restart.
    pub state_dir: Option<PathBuf>,
    /// The bundle `signatures update` fetches: an https:// URL or a file.
    pub update_from: Option<String>,
    /// Public keys a bundle may be signed with.
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
    /// A PEM CA to trust instead of the system's roots for the download.
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipConfig {
    pub country: Option<PathBuf>,
    pub asn: Option<PathBuf>,
    /// Run without GeoIP.
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Where events go: `-` for stdout (default) or a file, reopened on SIGHUP.
    pub events: Option<PathBuf>,
    pub alerts_file: Option<PathBuf>,
    pub webhook: Option<String>,
    pub webhook_ca: Option<PathBuf>,
    /// A file holding the webhook's bearer token (kept out of the config itself).
    pub webhook_token_file: Option<PathBuf>,
    pub webhook_attempts: Option<u32>,
    pub syslog: Option<SocketAddr>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of `/metrics`, `/healthz`, `/readyz` and `/flows`.
    pub listen: Option<SocketAddr>,
    /// A file holding a bearer token every request must carry.
    pub bearer_token_file: Option<PathBuf>,
    /// Basic auth: user, and a file holding the password.
    pub basic_user: Option<String>,
    pub basic_password_file: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain and key.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] Problems),
}

impl Config {
    /// Reads and checks a configuration file.
    ///
    /// # Errors
    /// The file cannot be read, is not valid TOML, has unknown fields or values of the
    /// wrong type, or settings that contradict each other.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::parse(&path.display().to_string(), &text)?)
    }

    /// Checks configuration text; `file` names it in problems.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn parse(file: &str, text: &str) -> Result<Self, Problems> {
        let fail = |problems| Problems {
            what: "configuration",
            problems,
        };
        let config: Config =
            toml::from_str(text).map_err(|e| fail(vec![Problem::from_toml(file, text, &e)]))?;
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: &str| {
            let offset = text.find(key).unwrap_or(0);
            problems.push(Problem::at(file, text, offset, None, message.to_owned()));
        };
        if config.http.basic_user.is_some() != config.http.basic_password_file.is_some() {
            problem(
                "basic_",
                "http.basic_user and http.basic_password_file go together",
            );
        }
        if config.http.tls_cert.is_some() != config.http.tls_key.is_some() {
            problem("tls_", "http.tls_cert and http.tls_key go together");
        }
        if let Some(url) = &config.output.webhook
            && !url.starts_with("https://")
        {
            problem("webhook", "output.webhook must be an https:// URL");
        }
        let alerting = config.output.alerts_file.is_some()
            || config.output.webhook.is_some()
            || config.output.syslog.is_some();
        if alerting && config.policy.file.is_none() {
            problem(
                "[output]",
                "alert outputs need a policy (policy.file) to raise alerts",
            );
        }
        if let Some(i) = &config.inventory.interval
            && humantime::parse_duration(i).is_err()
        {
            problem(
                "interval",
                "inventory.interval must be a duration like \"10s\"",
            );
        }
        if let Some(db) = &config.inventory.db
            && let Err(e) = crate::inventory::store::Location::parse(db)
        {
            problem("db", &e.to_string());
        }
        if config.inventory.buffer_rows == Some(0) {
            problem("buffer_rows", "inventory.buffer_rows must be at least 1");
        }
        if config
            .capture
            .workers
            .is_some_and(|w| !(1..=256).contains(&w))
        {
            problem("workers", "capture.workers must be 1 to 256");
        }
        if config.capture.buffer_mib == Some(0) {
            problem("buffer_mib", "capture.buffer_mib must be at least 1");
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }
}

/// Reads a secret (token, password) from a file, without its trailing newline.
///
/// # Errors
/// The file cannot be read or is empty.
pub fn read_secret(path: &Path) -> std::io::Result<String> {
    let text = std::fs::read_to_string(path)?;
    let secret = text.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is empty", path.display()),
        ));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deploy_example_is_valid() {
        let text = include_str!("../deploy/aigress.toml");
        let c = Config::parse("deploy/aigress.toml", text).unwrap();
        assert_eq!(c.capture.interfaces, ["eth1"]);
        assert!(c.http.listen.is_some());
    }

    #[test]
    fn problems_name_their_line() {
        let e = Config::parse(
            "c.toml",
            "[capture]\ninterfaces = [\"eth0\"]\nbufer_mib = 3\n",
        )
        .unwrap_err();
        assert_eq!(e.problems[0].line, 3, "{e}");
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = Config::parse("c.toml", "[http]\nlisten = \"localhost\"\n").unwrap_err();
        assert_eq!(e.problems[0].line, 2, "{e}");
        let e = Config::parse("c.toml", "[output]\nalerts_file = \"/tmp/a\"\n").unwrap_err();
        assert!(e.to_string().contains("need a policy"), "{e}");
        let e = Config::parse("c.toml", "\n[http]\nbasic_user = \"u\"\n").unwrap_err();
        assert_eq!(e.problems[0].line, 3, "{e}");
        let e = Config::parse("c.toml", "[capture]\nworkers = 0\n").unwrap_err();
        assert!(
            e.to_string().contains("capture.workers must be 1 to 256"),
            "{e}"
        );
        let c = Config::parse("c.toml", "[capture]\nworkers = 3\n").unwrap();
        assert_eq!(c.capture.workers, Some(3));
    }
}
