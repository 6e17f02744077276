//! The fleet inventory backend: PostgreSQL, written by several sensors at once and read by
//! auditors with SQL or any BI tool. The same model as the SQLite store; the sensor is
//! part of every key, so sensors never contend for a row. Schema versions live in
//! `aigress_schema`; migrations run under an advisory lock so sensors starting together
//! migrate once. TLS goes through rustls (Mozilla's roots, or a CA file), verified and
//! required for any server not on this machine, and the password never travels in the URL.
//!
//! The database cannot hang the sensor: tokio-postgres runs on a runtime of the store's
//! own, one call at a time on the caller's thread, and every wait for the server has a
//! deadline (below). A server that went silent fails the call; its connection is dropped
//! and the next call opens a new one.

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Transaction};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::backend::{
    AlertRow, Applied, Backend, Batch, DailyRow, Filter, FingerprintRow, FlowRow, PostgresTarget,
    StoreError, UnknownHostRow, UnknownRow, batch_ids_expire_before,
};
use super::schema::{Columns, Dialect, Parameter, Stored, Value, filter_parameters};

/// Each migration takes the schema from its index to the next version.
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE ai_flows (
         sensor TEXT NOT NULL,
         internal_host TEXT NOT NULL,
         host_label TEXT NOT NULL DEFAULT '',
         vendor TEXT NOT NULL,
         product TEXT NOT NULL,
         kind TEXT NOT NULL,
         endpoint TEXT NOT NULL,
         landing_country TEXT NOT NULL,
         eea BOOLEAN NOT NULL,
         verdict TEXT NOT NULL,
         first_seen BIGINT NOT NULL,
         last_seen BIGINT NOT NULL,
         flows BIGINT NOT NULL,
         packets BIGINT NOT NULL,
         bytes_sent BIGINT NOT NULL,
         bytes_received BIGINT NOT NULL,
         landing_confidence TEXT NOT NULL DEFAULT '',
         PRIMARY KEY (sensor, internal_host, vendor, product, endpoint, landing_country, verdict)
     );
     CREATE TABLE alerts (
         id BIGSERIAL PRIMARY KEY,
         sensor TEXT NOT NULL,
         timestamp BIGINT NOT NULL,
         rule TEXT NOT NULL,
         severity TEXT NOT NULL,
         verdict TEXT NOT NULL,
         internal_host TEXT NOT NULL,
         vendor TEXT NOT NULL,
         product TEXT NOT NULL,
         landing_country TEXT NOT NULL,
         reason TEXT NOT NULL,
         count BIGINT NOT NULL,
         summary BOOLEAN NOT NULL
     );
     CREATE INDEX alerts_by_host ON alerts (internal_host, vendor, product);
     CREATE TABLE fingerprints (
         sensor TEXT NOT NULL,
         internal_host TEXT NOT NULL,
         vendor TEXT NOT NULL,
         product TEXT NOT NULL,
         kind TEXT NOT NULL,
         value TEXT NOT NULL,
         first_seen BIGINT NOT NULL,
         last_seen BIGINT NOT NULL,
         seen BIGINT NOT NULL,
         PRIMARY KEY (sensor, internal_host, vendor, product, kind, value)
     );
     CREATE TABLE daily (
         sensor TEXT NOT NULL,
         day TEXT NOT NULL,
         vendor TEXT NOT NULL,
         landing_country TEXT NOT NULL,
         flows BIGINT NOT NULL,
         bytes_sent BIGINT NOT NULL,
         bytes_received BIGINT NOT NULL,
         PRIMARY KEY (sensor, day, vendor, landing_country)
     );
     CREATE TABLE batches (id TEXT PRIMARY KEY, written BIGINT NOT NULL);
     CREATE INDEX batches_by_time ON batches (written);",
    "CREATE TABLE unknown_destinations (
         sensor TEXT NOT NULL,
         domain TEXT NOT NULL,
         example TEXT NOT NULL,
         bytes_sent BIGINT NOT NULL,
         bytes_error BIGINT NOT NULL,
         bytes_received BIGINT NOT NULL,
         flows BIGINT NOT NULL,
         first_seen BIGINT NOT NULL,
         last_seen BIGINT NOT NULL,
         hints BIGINT NOT NULL,
         hosts_capped BOOLEAN NOT NULL,
         PRIMARY KEY (sensor, domain)
     );
     CREATE TABLE unknown_destination_hosts (
         sensor TEXT NOT NULL,
         domain TEXT NOT NULL,
         internal_host TEXT NOT NULL,
         first_seen BIGINT NOT NULL,
         last_seen BIGINT NOT NULL,
         PRIMARY KEY (sensor, domain, internal_host)
     );",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// The advisory lock migrations hold ("aigr").
const MIGRATION_LOCK: i64 = 0x6169_6772;

// How long the database may keep the sensor waiting. A server that accepts connections and
// never answers (a hung host, a firewall dropping packets mid-connection) fails a write
// within CONNECT_TIMEOUT + REPLY_TIMEOUT = 25 s; the writer keeps the batch and retries.

/// How long connecting may take: TCP, TLS and authentication together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest wait for one reply while writing. A write is one round trip per
/// statement, so a large batch is never cut short: only silence is. A working server
/// answers a statement of a write in milliseconds.
const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest wait for a report's rows, which may be many; longer than the server's
/// statement timeout, so a slow query ends with the server's own words.
const READ_TIMEOUT: Duration = Duration::from_secs(45);

/// Set on every session: the server ends a statement after 30 s (far longer than a
/// statement of a write takes, with room for a large report), and a session left idle
/// inside a transaction after 60 s, so a sensor that vanished mid-write does not hold its
/// rows' locks until the server's TCP notices. A URL's own `options` come after these and
/// win.
const SESSION_OPTIONS: &str = "-c statement_timeout=30s -c idle_in_transaction_session_timeout=60s";

/// TCP keepalives: an idle connection to a peer that is gone is closed after
/// 10 s + 3 × 5 s = 25 s instead of the kernel's two hours, so the next write finds out at
/// once.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 3;

/// Data sent and not acknowledged for 20 s closes the connection: a peer behind a
/// firewall that drops packets never acknowledges.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(20);

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protection {
    /// TLS, the server's certificate verified (by rustls: its chain against the roots, and
    /// the host name or address): `sslmode=require`, and any mode but `disable` on a host
    /// that is not this machine.
    Verified,
    /// TLS when the server offers it, else plain text: without `sslmode`, or with
    /// `prefer`, on loopback or a Unix socket, where nobody is in the path.
    Preferred,
    /// Plain text: only with `sslmode=disable`.
    Plain,
}

/// Whether every server of `config` is on this machine: a Unix socket, `localhost`, or a
/// loopback address (127.0.0.0/8, ::1), the `hostaddr` deciding where one is given.
fn is_local(config: &Config) -> bool {
    let (hosts, addrs) = (config.get_hosts(), config.get_hostaddrs());
    let servers = hosts.len().max(addrs.len());
    servers > 0
        && (0..servers).all(|i| match (addrs.get(i), hosts.get(i)) {
            (Some(addr), _) => addr.to_canonical().is_loopback(),
            (None, Some(Host::Tcp(name))) => {
                name.eq_ignore_ascii_case("localhost")
                    || name
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| ip.to_canonical().is_loopback())
            }
            (None, Some(Host::Unix(_))) => true,
            (None, None) => false,
        })
}

/// How a connection with `config` is protected. `prefer` (the default) would fall back to
/// plain text whenever the server, or anyone in the path, says it has no TLS; so off this
/// machine it means `require`.
fn protection(config: &Config) -> Protection {
    match config.get_ssl_mode() {
        SslMode::Disable => Protection::Plain,
        SslMode::Prefer if is_local(config) => Protection::Preferred,
        _ => Protection::Verified,
    }
}

/// The warning to log when a connection to another machine is plain text.
fn plaintext_warning(config: &Config) -> Option<&'static str> {
    (protection(config) == Protection::Plain && !is_local(config)).then_some(
        "The inventory database is reached without TLS (sslmode=disable): host names, addresses and the password's exchange cross the network readable.",
    )
}

/// The error's message with the server's own words (which `tokio_postgres::Error` keeps
/// in its source) and no password, which is never in the URL.
fn message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

/// Whether the server refused a value: SQLSTATE class 22 (data exception: a NUL byte, a
/// number out of range), 23 (integrity constraint: a check a DBA added) or 54 (program
/// limit exceeded: an index entry too long).
fn is_refusal(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| matches!(c.code().get(..2), Some("22" | "23" | "54")))
}

/// The rustls configuration: Mozilla's roots, or only the CA in `ca_file`.
fn tls_config(target: &PostgresTarget) -> Result<rustls::ClientConfig, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match &target.ca_file {
        Some(path) => {
            for cert in crate::pem::certificates(path).map_err(StoreError::Config)? {
                roots.add(cert).map_err(|e| {
                    StoreError::Config(format!("{}: not a CA certificate: {e}", path.display()))
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The connection settings of `target`: its URL with the password, application name,
/// session options, timeouts and keepalives, and the TLS mode [`protection`] decides.
fn settings(target: &PostgresTarget) -> Result<Config, StoreError> {
    let mut config: Config = target
        .url
        .parse()
        .map_err(|e| StoreError::Config(format!("not a PostgreSQL URL: {e}")))?;
    if let Some(password) = &target.password {
        config.password(password);
    }
    if config.get_application_name().is_none() {
        config.application_name("aigress");
    }
    let options = match config.get_options() {
        Some(own) => format!("{SESSION_OPTIONS} {own}"),
        None => SESSION_OPTIONS.to_owned(),
    };
    config
        .options(&options)
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_user_timeout(TCP_USER_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES);
    if protection(&config) == Protection::Verified {
        config.ssl_mode(SslMode::Require);
    }
    Ok(config)
}

/// Why a call to the server failed.
enum Failure {
    /// The server's error, or the connection's.
    Db(tokio_postgres::Error),
    /// No reply within this long.
    Silent(Duration),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

/// One round trip to the server, waited for at most `limit`.
async fn reply<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Failure> {
    tokio::time::timeout(limit, call)
        .await
        .map_err(|_| Failure::Silent(limit))?
        .map_err(Failure::Db)
}

/// A live connection: the client, and the task that drives its socket.
struct Connection {
    client: Client,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    /// A connection given up (a silent server) closes its socket now, not when TCP
    /// finally notices.
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Drives a connection's socket until it ends.
async fn drive(connection: impl Future<Output = Result<(), tokio_postgres::Error>>) {
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "The PostgreSQL connection ended.");
    }
}

/// An open PostgreSQL inventory.
pub struct PostgresStore {
    /// Runs the client's calls on the caller's thread, one at a time.
    runtime: tokio::runtime::Runtime,
    connection: Mutex<Option<Connection>>,
    /// How to connect, again after the server went away.
    config: Config,
    /// TLS, unless the URL says `sslmode=disable`.
    tls: Option<MakeRustlsConnect>,
    target: String,
    has_password: bool,
}

impl PostgresStore {
    /// Connects, and creates or migrates the schema.
    ///
    /// # Errors
    /// Unreachable or silent server, refused credentials or TLS, a newer schema.
    pub fn connect(target: &PostgresTarget) -> Result<Self, StoreError> {
        let config = settings(target)?;
        if let Some(warning) = plaintext_warning(&config) {
            // Once per process: the HTTP endpoint connects for every report it builds.
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| tracing::warn!(target_db = %target.url, "{warning}"));
        }
        let tls = match protection(&config) {
            Protection::Plain => None,
            Protection::Verified | Protection::Preferred => {
                Some(MakeRustlsConnect::new(tls_config(target)?))
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Config(format!("starting the PostgreSQL client: {e}")))?;
        let store = Self {
            runtime,
            connection: Mutex::new(None),
            config,
            tls,
            target: target.url.clone(),
            has_password: target.password.is_some(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Opens a connection, within [`CONNECT_TIMEOUT`].
    fn open(&self) -> Result<Connection, StoreError> {
        let connecting = async {
            let (client, driver) = match &self.tls {
                Some(tls) => {
                    let (client, connection) = self.config.connect(tls.clone()).await?;
                    (client, tokio::spawn(drive(connection)))
                }
                None => {
                    let (client, connection) = self.config.connect(NoTls).await?;
                    (client, tokio::spawn(drive(connection)))
                }
            };
            Ok::<_, tokio_postgres::Error>(Connection { client, driver })
        };
        // The timer is made inside the runtime, which drives it.
        let connected = self
            .runtime
            .block_on(async { tokio::time::timeout(CONNECT_TIMEOUT, connecting).await });
        let message = match connected {
            Ok(Ok(connection)) => return Ok(connection),
            Ok(Err(e)) => {
                let mut message = message(&e);
                if !self.has_password && message.contains("password missing") {
                    message.push_str(" (give it in --db-password-file or PGPASSWORD)");
                }
                message
            }
            Err(_) => format!(
                "no answer within {} s while connecting",
                CONNECT_TIMEOUT.as_secs()
            ),
        };
        Err(StoreError::Postgres {
            target: self.target.clone(),
            message,
        })
    }

    fn fail(&self, failure: Failure) -> StoreError {
        let target = self.target.clone();
        match failure {
            Failure::Db(e) if is_refusal(&e) => StoreError::Refused {
                target,
                message: message(&e),
            },
            Failure::Db(e) => StoreError::Postgres {
                target,
                message: message(&e),
            },
            Failure::Silent(limit) => StoreError::Postgres {
                target,
                message: format!(
                    "no reply within {} s; the connection is dropped",
                    limit.as_secs()
                ),
            },
        }
    }

    /// Runs `work` on the connection, opened first when there is none or the server
    /// closed it (a restart, a failover): the caller's retry then finds a live one. A
    /// connection that went silent is dropped, so the next call opens a new one.
    fn run<T>(
        &self,
        work: impl AsyncFnOnce(&mut Client) -> Result<T, Failure>,
    ) -> Result<T, StoreError> {
        let mut slot = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut connection = match slot.take() {
            Some(c) if !c.client.is_closed() => c,
            _ => self.open()?,
        };
        let result = self.runtime.block_on(work(&mut connection.client));
        if !matches!(result, Err(Failure::Silent(_))) {
            *slot = Some(connection);
        }
        result.map_err(|f| self.fail(f))
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let too_new = self.run(async |client| {
            let tx = reply(REPLY_TIMEOUT, client.transaction()).await?;
            reply(
                REPLY_TIMEOUT,
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]),
            )
            .await?;
            reply(
                REPLY_TIMEOUT,
                tx.batch_execute(
                    "CREATE TABLE IF NOT EXISTS aigress_schema (version INTEGER NOT NULL)",
                ),
            )
            .await?;
            let found: Option<i32> = match reply(
                REPLY_TIMEOUT,
                tx.query_opt("SELECT version FROM aigress_schema", &[]),
            )
            .await?
            {
                Some(row) => Some(row.try_get(0)?),
                None => None,
            };
            let version = found.map_or(0, |v| usize::try_from(v).unwrap_or(0));
            if version > SCHEMA_VERSION {
                return Ok(Some(version));
            }
            for sql in MIGRATIONS.iter().skip(version) {
                reply(REPLY_TIMEOUT, tx.batch_execute(sql)).await?;
            }
            let now = i32::try_from(SCHEMA_VERSION).unwrap_or(i32::MAX);
            let set = if found.is_none() {
                "INSERT INTO aigress_schema VALUES ($1)"
            } else {
                "UPDATE aigress_schema SET version = $1"
            };
            reply(REPLY_TIMEOUT, tx.execute(set, &[&now])).await?;
            reply(REPLY_TIMEOUT, tx.commit()).await?;
            Ok(None)
        })?;
        match too_new {
            Some(found) => Err(StoreError::TooNew {
                target: self.target.clone(),
                found,
                supported: SCHEMA_VERSION,
            }),
            None => Ok(()),
        }
    }

    /// The rows of a report query, each read by `row`.
    fn query<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        row: impl Fn(&Row) -> Result<T, tokio_postgres::Error>,
    ) -> Result<Vec<T>, StoreError> {
        self.run(async |client| {
            let rows = reply(READ_TIMEOUT, client.query(sql, params)).await?;
            // A column whose type a DBA changed is an error, never a panic.
            Ok(rows.iter().map(row).collect::<Result<_, _>>()?)
        })
    }
}

/// Writes rows of one table, each merged into the row with its key.
async fn write_rows<R: Stored>(tx: &Transaction<'_>, rows: &[R]) -> Result<(), Failure> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = reply(
        REPLY_TIMEOUT,
        tx.prepare(&Dialect::Postgres.write(R::TABLE)),
    )
    .await?;
    for r in rows {
        let values = r.values();
        let parameters: Vec<&(dyn ToSql + Sync)> = values.iter().map(value).collect();
        reply(REPLY_TIMEOUT, tx.execute(&statement, &parameters)).await?;
    }
    Ok(())
}

fn value<'a>(v: &'a Value<'_>) -> &'a (dyn ToSql + Sync) {
    match v {
        Value::Text(s) => s,
        Value::Integer(n) => n,
        Value::Boolean(b) => b,
    }
}

fn parameter(p: &Parameter) -> &(dyn ToSql + Sync) {
    match p {
        Parameter::Text(t) => t,
        Parameter::Integer(n) => n,
    }
}

/// A result row, read column after column.
struct RowColumns<'a> {
    row: &'a Row,
    next: usize,
}

impl RowColumns<'_> {
    fn get<'r, T: tokio_postgres::types::FromSql<'r>>(
        &'r mut self,
    ) -> Result<T, tokio_postgres::Error> {
        let at = self.next;
        self.next = self.next.saturating_add(1);
        self.row.try_get(at)
    }
}

impl Columns for RowColumns<'_> {
    type Error = tokio_postgres::Error;

    fn text(&mut self) -> Result<String, Self::Error> {
        self.get()
    }

    fn integer(&mut self) -> Result<i64, Self::Error> {
        self.get()
    }

    fn boolean(&mut self) -> Result<bool, Self::Error> {
        self.get()
    }
}

impl PostgresStore {
    /// The rows of `R`'s table a filter selects, in the table's order.
    fn select<R: Stored>(&self, f: &Filter) -> Result<Vec<R>, StoreError> {
        let parameters = filter_parameters(R::TABLE, f);
        let parameters: Vec<&(dyn ToSql + Sync)> = parameters.iter().map(parameter).collect();
        self.query(&Dialect::Postgres.select(R::TABLE), &parameters, |row| {
            R::read(&mut RowColumns { row, next: 0 })
        })
    }
}

impl Backend for PostgresStore {
    fn target(&self) -> &str {
        &self.target
    }

    fn schema_version(&self) -> Result<usize, StoreError> {
        let versions = self.query("SELECT version FROM aigress_schema", &[], |r| {
            r.try_get::<_, i32>(0)
        })?;
        Ok(versions
            .first()
            .map_or(0, |v| usize::try_from(*v).unwrap_or(0)))
    }

    fn write(&mut self, batch: &Batch) -> Result<Applied, StoreError> {
        self.run(async |client| {
            let tx = reply(REPLY_TIMEOUT, client.transaction()).await?;
            let now = crate::time::Timestamp::now().micros();
            let fresh = reply(
                REPLY_TIMEOUT,
                tx.execute(
                    "INSERT INTO batches VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                    &[&batch.id, &now],
                ),
            )
            .await?;
            if fresh == 0 {
                return Ok(Applied::AlreadyWritten);
            }
            let expired = batch_ids_expire_before();
            reply(
                REPLY_TIMEOUT,
                tx.execute("DELETE FROM batches WHERE written < $1", &[&expired]),
            )
            .await?;
            write_rows(&tx, &batch.flows).await?;
            write_rows(&tx, &batch.fingerprints).await?;
            write_rows(&tx, &batch.daily).await?;
            write_rows(&tx, &batch.alerts).await?;
            write_rows(&tx, &batch.unknown).await?;
            write_rows(&tx, &batch.unknown_hosts).await?;
            reply(REPLY_TIMEOUT, tx.commit()).await?;
            Ok(Applied::Written)
        })
    }

    fn flows(&self, f: &Filter) -> Result<Vec<FlowRow>, StoreError> {
        self.select(f)
    }

    fn fingerprints(&self, f: &Filter) -> Result<Vec<FingerprintRow>, StoreError> {
        self.select(f)
    }

    fn daily(&self, f: &Filter) -> Result<Vec<DailyRow>, StoreError> {
        self.select(f)
    }

    fn alerts(&self, f: &Filter) -> Result<Vec<AlertRow>, StoreError> {
        self.select(f)
    }

    fn unknown(&self, f: &Filter) -> Result<Vec<UnknownRow>, StoreError> {
        self.select(f)
    }

    fn unknown_hosts(&self, f: &Filter) -> Result<Vec<UnknownHostRow>, StoreError> {
        self.select(f)
    }

    fn host_vendor_pairs(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.query(
            "SELECT DISTINCT internal_host, vendor FROM ai_flows",
            &[],
            |r| Ok((r.try_get(0)?, r.try_get(1)?)),
        )
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let values = self.query("SELECT value FROM meta WHERE key = $1", &[&key], |r| {
            r.try_get(0)
        })?;
        Ok(values.into_iter().next())
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.run(async |client| {
            reply(
                REPLY_TIMEOUT,
                client.execute(
                    "INSERT INTO meta VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&key, &value],
                ),
            )
            .await
            .map(drop)
        })
    }

    /// PostgreSQL keeps its own files consistent; what can go wrong above it is a
    /// counter that no write of aigress makes, which this looks for.
    fn integrity_check(&self) -> Result<String, StoreError> {
        let bad = self.query(
            "SELECT (SELECT count(*) FROM ai_flows WHERE flows <= 0 OR bytes_sent < 0
                         OR bytes_received < 0 OR first_seen > last_seen)
                  + (SELECT count(*) FROM daily WHERE flows <= 0 OR bytes_sent < 0)",
            &[],
            |r| r.try_get::<_, i64>(0),
        )?;
        let bad = bad.first().copied().unwrap_or(0);
        Ok(if bad == 0 {
            "ok".into()
        } else {
            format!("{bad} rows with impossible counters")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        url.parse().unwrap()
    }

    #[test]
    fn tls_is_required_and_verified_off_this_machine_unless_disabled() {
        for url in [
            "postgres://aigress@db.example/inv",
            "postgres://aigress@db.example/inv?sslmode=prefer",
            "postgres://aigress@db.example/inv?sslmode=require",
            "postgres://aigress@10.1.2.3/inv",
            "postgres://aigress@[2001:db8::5]/inv",
            // One remote server among loopback ones is enough.
            "postgres://aigress@127.0.0.1,db.example/inv",
            // The address connected to decides, not the name.
            "postgres://aigress@localhost/inv?hostaddr=192.0.2.7",
        ] {
            assert_eq!(protection(&config(url)), Protection::Verified, "{url}");
            assert_eq!(plaintext_warning(&config(url)), None, "{url}");
            let target = PostgresTarget {
                url: url.into(),
                password: None,
                ca_file: None,
            };
            assert_eq!(
                settings(&target).unwrap().get_ssl_mode(),
                SslMode::Require,
                "{url}"
            );
        }
        for url in [
            "postgres://aigress@127.0.0.1/inv",
            "postgres://aigress@127.8.9.10:5433/inv?sslmode=prefer",
            "postgres://aigress@localhost/inv",
            "postgres://aigress@[::1]/inv",
            "postgresql:///inv?host=/run/postgresql",
        ] {
            assert_eq!(protection(&config(url)), Protection::Preferred, "{url}");
            assert_eq!(plaintext_warning(&config(url)), None, "{url}");
        }
        let remote_plain = config("postgres://aigress@db.example/inv?sslmode=disable");
        assert_eq!(protection(&remote_plain), Protection::Plain);
        assert!(plaintext_warning(&remote_plain).is_some_and(|w| w.contains("without TLS")));
        let local_plain = config("postgres://aigress@127.0.0.1/inv?sslmode=disable");
        assert_eq!(protection(&local_plain), Protection::Plain);
        assert_eq!(plaintext_warning(&local_plain), None);
    }

    #[test]
    fn every_connection_has_keepalives_and_timeouts() {
        let target = PostgresTarget {
            url: "postgres://aigress@db.example/inv?options=-c%20search_path%3Dx".into(),
            password: None,
            ca_file: None,
        };
        let c = settings(&target).unwrap();
        assert!(c.get_keepalives());
        assert_eq!(c.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(c.get_keepalives_interval(), Some(KEEPALIVE_INTERVAL));
        assert_eq!(c.get_keepalives_retries(), Some(KEEPALIVE_RETRIES));
        assert_eq!(c.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        assert_eq!(c.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(
            c.get_options(),
            Some(format!("{SESSION_OPTIONS} -c search_path=x").as_str())
        );
        assert_eq!(c.get_application_name(), Some("aigress"));
    }
}
