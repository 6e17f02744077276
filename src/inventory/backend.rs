//! What a backend of the inventory is given and gives back: the rows kept, batches,
//! filters, the errors, where a store lives ([`Location`]), and the [`Backend`] trait
//! the SQLite and PostgreSQL backends implement. The factory that picks a backend is
//! [`super::store::Store`], above both.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("inventory database {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("inventory database {target}: {message}")]
    Postgres { target: String, message: String },
    /// The database refused a value of the batch (PostgreSQL's data exceptions, program
    /// limits and integrity constraints): the same rows would be refused again.
    #[error("inventory database {target} refused a value: {message}")]
    Refused { target: String, message: String },
    #[error(
        "inventory database {target} has schema version {found}, newer than this aigress ({supported}); upgrade aigress"
    )]
    TooNew {
        target: String,
        found: usize,
        supported: usize,
    },
    #[error("inventory database: {0}")]
    Config(String),
}

impl StoreError {
    /// Whether the database refused the batch for what it holds, not for being away: such
    /// a batch is split to find the rows at fault, never retried whole.
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::Refused { .. } => true,
            Self::Sqlite { source, .. } => {
                matches!(source, rusqlite::Error::ToSqlConversionFailure(_))
                    || matches!(
                        source.sqlite_error_code(),
                        Some(
                            rusqlite::ErrorCode::TooBig
                                | rusqlite::ErrorCode::ConstraintViolation
                                | rusqlite::ErrorCode::TypeMismatch
                        )
                    )
            }
            Self::Postgres { .. } | Self::TooNew { .. } | Self::Config(_) => false,
        }
    }
}

/// One aggregated row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlowRow {
    pub sensor: String,
    pub internal_host: String,
    /// Readable label of the host's network (`servers`), kept even when the host is
    /// pseudonymised.
    pub host_label: String,
    pub vendor: String,
    pub product: String,
    pub kind: String,
    /// The server name (SNI, Host, DNS name) or address.
    pub endpoint: String,
    /// ISO code, or empty when unknown.
    pub landing_country: String,
    pub eea: bool,
    pub verdict: String,
    /// Microseconds since the epoch.
    pub first_seen: i64,
    pub last_seen: i64,
    pub flows: u64,
    pub packets: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// `high`, `medium`, `low` or `none`, as the latest flow judged it; empty in rows
    /// recorded before it was kept.
    pub landing_confidence: String,
}

impl FlowRow {
    /// The flows went to a SaaS whose AI runs at sub-processors, not to an AI service.
    pub fn indirect(&self) -> bool {
        self.kind == crate::signatures::Kind::Saas.as_str()
    }
}

/// A client fingerprint (JA4 or User-Agent) seen from a host to a vendor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FingerprintRow {
    pub sensor: String,
    pub internal_host: String,
    pub vendor: String,
    pub product: String,
    /// `ja4` or `user_agent`.
    pub kind: String,
    pub value: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub seen: u64,
}

/// One day's totals per vendor and landing country.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DailyRow {
    pub sensor: String,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub vendor: String,
    pub landing_country: String,
    pub flows: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// One alert of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertRow {
    pub sensor: String,
    pub timestamp: i64,
    pub rule: String,
    pub severity: String,
    pub verdict: String,
    pub internal_host: String,
    pub vendor: String,
    pub product: String,
    pub landing_country: String,
    pub reason: String,
    pub count: u64,
    pub summary: bool,
}

/// A registered domain that received data but matches no signature, as one sensor's
/// sketch kept it (`crate::discovery::unknown`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnknownRow {
    pub sensor: String,
    /// The registered domain (eTLD+1).
    pub domain: String,
    /// A full name seen under it.
    pub example: String,
    /// Bytes internal hosts sent it, as the sketch counted them: at least the true
    /// figure, at most `bytes_error` above it.
    pub bytes_sent: u64,
    pub bytes_error: u64,
    pub bytes_received: u64,
    pub flows: u64,
    pub first_seen: i64,
    pub last_seen: i64,
    /// The AI hints seen (`crate::discovery::unknown::Hints` bits).
    pub hints: u64,
    /// More internal hosts sent to it than were recorded.
    pub hosts_capped: bool,
}

/// An internal host that sent data to an unknown destination.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnknownHostRow {
    pub sensor: String,
    pub domain: String,
    pub internal_host: String,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// A batch of changes, written in one transaction.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// Identifies the batch, so a write retried after a lost reply is applied once.
    pub id: String,
    pub flows: Vec<FlowRow>,
    pub fingerprints: Vec<FingerprintRow>,
    pub daily: Vec<DailyRow>,
    pub alerts: Vec<AlertRow>,
    pub unknown: Vec<UnknownRow>,
    pub unknown_hosts: Vec<UnknownHostRow>,
}

impl Batch {
    /// Rows of every kind.
    pub fn rows(&self) -> usize {
        self.flows
            .len()
            .saturating_add(self.fingerprints.len())
            .saturating_add(self.daily.len())
            .saturating_add(self.alerts.len())
            .saturating_add(self.unknown.len())
            .saturating_add(self.unknown_hosts.len())
    }
}

/// What a report selects.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Rows seen at or after (microseconds).
    pub since: Option<i64>,
    /// Rows seen at or before.
    pub until: Option<i64>,
    pub vendor: Option<String>,
    /// Only rows this sensor recorded.
    pub sensor: Option<String>,
}

/// Whether a batch was written now or had been before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Written,
    /// Its id was already recorded: a retry of a write that had succeeded.
    AlreadyWritten,
}

/// How long batch ids are remembered: far longer than any retry of the same process.
pub const BATCH_ID_DAYS: i64 = 30;

/// A fresh batch id for `sensor`: unique across processes and restarts.
pub fn batch_id(sensor: &str) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    static PROCESS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let process = PROCESS.get_or_init(|| {
        let mut nonce = [0u8; 8];
        // Without randomness the start time and pid still tell processes apart.
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce);
        let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}.{}.{hex}",
            crate::time::Timestamp::now().micros(),
            std::process::id()
        )
    });
    format!(
        "{sensor}:{process}:{}",
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// What an inventory backend does; [`Store`] holds one.
pub trait Backend: Send {
    /// The database, as it may be shown: a path, or a URL without its password.
    fn target(&self) -> &str;
    fn schema_version(&self) -> Result<usize, StoreError>;
    /// Adds a batch in one transaction: counters summed into existing rows, first/last
    /// seen widened, alerts appended; nothing of it when its id was recorded before.
    fn write(&mut self, batch: &Batch) -> Result<Applied, StoreError>;
    /// The aggregated rows a filter selects, largest upload first.
    fn flows(&self, f: &Filter) -> Result<Vec<FlowRow>, StoreError>;
    fn fingerprints(&self, f: &Filter) -> Result<Vec<FingerprintRow>, StoreError>;
    /// Daily totals within the filter's days.
    fn daily(&self, f: &Filter) -> Result<Vec<DailyRow>, StoreError>;
    /// The alert log within the filter, oldest first.
    fn alerts(&self, f: &Filter) -> Result<Vec<AlertRow>, StoreError>;
    /// Unknown destinations within the filter (a vendor filter does not apply).
    fn unknown(&self, f: &Filter) -> Result<Vec<UnknownRow>, StoreError>;
    fn unknown_hosts(&self, f: &Filter) -> Result<Vec<UnknownHostRow>, StoreError>;
    /// Every (internal host, vendor) pair recorded.
    fn host_vendor_pairs(&self) -> Result<Vec<(String, String)>, StoreError>;
    fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// `ok`, or what is wrong.
    fn integrity_check(&self) -> Result<String, StoreError>;
}

/// Where an inventory lives.
#[derive(Clone)]
pub enum Location {
    File(PathBuf),
    Postgres(PostgresTarget),
}

/// A PostgreSQL inventory: its URL (never with a password), the password, and the CA
/// to verify its TLS certificate with.
#[derive(Clone)]
pub struct PostgresTarget {
    pub url: String,
    pub password: Option<String>,
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Postgres(t) => f.write_str(&t.url),
        }
    }
}

impl Location {
    /// A file path, or a `postgres://` / `postgresql://` URL. A URL that carries a
    /// password is refused: the password comes from a file or the environment, so it is
    /// never on a command line, in a config file's URL or in a log.
    ///
    /// # Errors
    /// A URL with a password, or one PostgreSQL cannot parse.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let lower = text.to_ascii_lowercase();
        if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
            return Ok(Self::File(PathBuf::from(text)));
        }
        let config: tokio_postgres::Config = text
            .parse()
            .map_err(|e| StoreError::Config(format!("not a PostgreSQL URL: {e}")))?;
        if config.get_password().is_some() {
            return Err(StoreError::Config(
                "the PostgreSQL URL carries a password; give it in --db-password-file (AIGRESS_DB_PASSWORD_FILE) or PGPASSWORD instead".into(),
            ));
        }
        Ok(Self::Postgres(PostgresTarget {
            url: text.to_owned(),
            password: None,
            ca_file: None,
        }))
    }

    /// Adds the PostgreSQL credentials and CA: the password from `password_file`, else
    /// from `PGPASSWORD`. A file location ignores them.
    ///
    /// # Errors
    /// An unreadable or empty password file.
    pub fn with_credentials(
        self,
        password_file: Option<&Path>,
        ca_file: Option<&Path>,
    ) -> Result<Self, StoreError> {
        let Self::Postgres(mut target) = self else {
            return Ok(self);
        };
        target.password = match password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    StoreError::Config(format!("reading the password file {}: {e}", path.display()))
                })?;
                let password = text.trim_end_matches(['\n', '\r']).to_owned();
                if password.is_empty() {
                    return Err(StoreError::Config(format!(
                        "the password file {} is empty",
                        path.display()
                    )));
                }
                Some(password)
            }
            None => std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()),
        };
        target.ca_file = ca_file.map(Path::to_path_buf);
        Ok(Self::Postgres(target))
    }

    /// Whether the inventory is a file that does not exist yet.
    pub fn is_missing_file(&self) -> bool {
        matches!(self, Self::File(p) if !p.exists())
    }
}

/// Microseconds since the epoch before which batch ids are forgotten.
pub fn batch_ids_expire_before() -> i64 {
    crate::time::Timestamp::now()
        .micros()
        .saturating_sub(BATCH_ID_DAYS.saturating_mul(86_400_000_000))
}

/// Counters are stored as signed 64-bit integers.
pub fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored counter; a negative one (never written) reads as 0.
pub fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
