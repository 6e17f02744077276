//! The sensor's HTTP endpoint on tokio: `/metrics` (Prometheus text format),
//! `/healthz` (the packet loop is alive), `/readyz` (captures open, loop running) and
//! `/flows` (the AI flows open now, as JSON), and the inventory as JSON (`/inventory`)
//! and as the HTML report (`/inventory.html`). Optional HTTPS through rustls, and bearer
//! or basic authentication, as Prometheus exporters offer them; the probes (`/healthz`,
//! `/readyz`) answer without credentials, as a kubelet or load balancer asks them, and
//! tell nothing but whether the sensor runs.
//!
//! Anyone who can reach the port can open connections, credentials or not, so what they
//! may hold is bounded ([`Limits`]): so many connections at once, so long to send a
//! request's headers or finish a TLS handshake, so long per connection, and so long to
//! finish on shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, oneshot, watch};

use crate::inventory::store::{Filter, Location, Store};
use crate::landing::Jurisdictions;
use crate::metrics::{Metrics, OpenAiFlows};
use crate::report::Report;
use crate::report::transfers::Judges;
use crate::signatures::DatabaseHandle;
use crate::time::Timestamp;

/// What the endpoint shows, shared with the packet loop.
#[derive(Clone)]
pub struct Shared {
    pub metrics: Arc<Metrics>,
    pub flows: OpenAiFlows,
    /// Set once every capture is open and the packet loop runs.
    pub ready: Arc<AtomicBool>,
    /// When the packet loop started its current work, and on which flow.
    pub packet_loop: Arc<super::watchdog::LoopState>,
    /// The signature database in use: `/healthz` names its version, the reports cite it.
    pub signatures: DatabaseHandle,
    pub inventory: Option<InventoryReports>,
}

/// What the inventory reports are made from.
#[derive(Clone)]
pub struct InventoryReports {
    /// The inventory database.
    pub location: Location,
    /// The policy in use, whose adequacy list and DPF-certified vendors the transfer
    /// register follows.
    pub policy: crate::inventory::PolicyHandle,
}

/// Who may read the endpoint.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    #[default]
    Open,
    /// `Authorization: Bearer <token>`.
    Bearer(String),
    /// `Authorization: Basic <base64(user:password)>`.
    Basic { user: String, password: String },
}

impl Auth {
    /// The `Authorization` header value a request must carry, if any.
    fn expected(&self) -> Option<String> {
        match self {
            Self::Open => None,
            Self::Bearer(t) => Some(format!("Bearer {t}")),
            Self::Basic { user, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )),
        }
    }
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("loading the HTTPS certificate or key: {0}")]
    Tls(String),
    #[error("starting the HTTP thread: {0}")]
    Thread(std::io::Error),
}

/// The running endpoint; dropping [`HttpServer::stop`]s it.
pub struct HttpServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    /// Stops accepting, lets the responses in flight finish within
    /// [`Limits::drain_timeout`], drops every connection still open (a half-sent request
    /// included), and joins the thread.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("The HTTP thread stopped abnormally.");
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Loads a PEM certificate chain and key for HTTPS.
///
/// # Errors
/// Unreadable files, or no certificate or key in them.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, HttpError> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let certs = crate::pem::certificates(cert).map_err(HttpError::Tls)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| HttpError::Tls(format!("{}: {e}", key.display())))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| HttpError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| HttpError::Tls(e.to_string()))?;
    Ok(Arc::new(config))
}

/// Bounds on what clients of the endpoint may hold, so that clients without credentials
/// cannot use up the sensor's file descriptors (which the capture reopen, the database
/// reconnect and the SIGHUP file reopen need too) nor hold its shutdown.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once, TLS handshakes included. A connection beyond it is
    /// closed as soon as it is accepted: it costs one descriptor for an instant, while
    /// leaving it in the kernel's queue would let a flood of idle clients line up to take
    /// every slot in turn.
    pub max_connections: usize,
    /// How long a client may take to send a request's line and headers, counted from when
    /// the endpoint waits for them: after the connection (or its TLS handshake), and after
    /// each response, so it also bounds how long a keep-alive connection may sit idle.
    pub header_read_timeout: Duration,
    /// How long a client may take to complete its TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// How long one connection may be used; after it, the connection serves no further
    /// request and closes as [`HttpServer::stop`] closes it. Bounds a client that keeps
    /// sending requests, or reads a response too slowly for the header timeout to apply.
    pub connection_lifetime: Duration,
    /// How long a connection told to close (by [`HttpServer::stop`] or its lifetime) may
    /// take to finish the response in flight before it is dropped, with whatever half-sent
    /// request or unread response it holds.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    /// 64 connections: Prometheus, a kubelet or load balancer and a few people reading
    /// the reports need a handful, and 64 descriptors are a small share of even the 1024
    /// a process gets by default. 10 s for headers and TLS handshakes: a scraper or
    /// probe sends its request at once, even over a slow link, and a keep-alive
    /// connection closed between scrapes costs Prometheus only a new one. 60 s per
    /// connection: longer than any scrape timeout. 1 s to finish a response on shutdown:
    /// responses are built in memory and written in milliseconds, and
    /// [`HttpServer::stop`] must not hold the sensor's exit.
    fn default() -> Self {
        Self {
            max_connections: 64,
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(1),
        }
    }
}

/// Binds `addr` now (before privileges are dropped) and serves on a thread of its own,
/// within the default [`Limits`].
///
/// # Errors
/// The address cannot be bound, or the thread cannot start.
pub fn start(
    addr: SocketAddr,
    shared: Shared,
    auth: Auth,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<HttpServer, HttpError> {
    start_limited(addr, shared, auth, tls, Limits::default())
}

/// Binds `addr` now (before privileges are dropped) and serves on a thread of its own,
/// within `limits`.
///
/// # Errors
/// The address cannot be bound, or the thread cannot start.
pub fn start_limited(
    addr: SocketAddr,
    shared: Shared,
    auth: Auth,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
) -> Result<HttpServer, HttpError> {
    let bind = |source| HttpError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;
    let (tx, rx) = oneshot::channel();
    let endpoint = Endpoint {
        app: router(shared, auth),
        tls: tls.map(tokio_rustls::TlsAcceptor::from),
        limits,
    };
    let thread = std::thread::Builder::new()
        .name("http".into())
        .spawn(move || serve(listener, endpoint, rx))
        .map_err(HttpError::Thread)?;
    Ok(HttpServer {
        addr: local,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

/// What each connection is served with.
#[derive(Clone)]
struct Endpoint {
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
}

fn serve(listener: std::net::TcpListener, endpoint: Endpoint, shutdown: oneshot::Receiver<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "Cannot start the HTTP runtime.");
            return;
        }
    };
    let drain = endpoint.limits.drain_timeout;
    let draining_since = runtime.block_on(async move {
        match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => accept(l, endpoint, shutdown).await,
            Err(e) => {
                tracing::error!(error = %e, "Cannot serve HTTP.");
                Instant::now()
            }
        }
    });
    // Connections still open are dropped with the runtime; an inventory report still
    // being built (a blocking task, which cannot be cancelled) gets what is left of the
    // drain time and is then left to finish on its own.
    runtime.shutdown_timeout(drain.saturating_sub(draining_since.elapsed()));
}

/// How often, at most, the endpoint logs the connections it closed for want of a slot:
/// a flood must not flood the log too.
const REFUSALS_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Connections closed for want of a slot since they were last logged.
#[derive(Debug, Default)]
struct Refusals {
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl Refusals {
    /// Counts one refusal at `now`; returns how many to log now, if it is time to.
    fn note(&mut self, now: Instant) -> Option<u64> {
        self.unlogged = self.unlogged.saturating_add(1);
        if self
            .logged_at
            .is_some_and(|at| now.saturating_duration_since(at) < REFUSALS_LOG_INTERVAL)
        {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// Accepts connections until `shutdown`, each served in a task of its own that holds one
/// of the [`Limits::max_connections`] slots; then lets them drain, for the drain time at
/// most. Returns when the drain began.
async fn accept(
    listener: tokio::net::TcpListener,
    endpoint: Endpoint,
    mut shutdown: oneshot::Receiver<()>,
) -> Instant {
    let limits = endpoint.limits;
    let max = limits.max_connections.min(Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop, stopped) = watch::channel(false);
    let mut refusals = Refusals::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors or memory, most likely: wait rather than spin.
                    tracing::debug!(error = %e, "Accepting a connection failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // Sent, or the server dropped: stop either way.
            _ = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // Dropping the stream closes it.
            if let Some(refused) = refusals.note(Instant::now()) {
                tracing::warn!(
                    %peer,
                    refused,
                    max_connections = max,
                    "The HTTP endpoint has all its connections open; closing new ones."
                );
            }
            continue;
        };
        let (endpoint, stopped) = (endpoint.clone(), stopped.clone());
        tokio::spawn(async move {
            connection(stream, peer, endpoint, stopped).await;
            drop(slot);
        });
    }
    drop(listener);
    let draining_since = Instant::now();
    stop.send_replace(true);
    // Every connection gives its slot back within the drain time; waiting for all the
    // slots is waiting for the last of them.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.drain_timeout, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::debug!("Dropping the HTTP connections that did not close in time.");
    }
    draining_since
}

/// Resolves once the endpoint stops (or is gone).
async fn stopping(stopped: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which happens only after the stop.
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Serves one connection, TLS handshake first when HTTPS is on, within the limits.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    endpoint: Endpoint,
    mut stopped: watch::Receiver<bool>,
) {
    let lifetime = std::pin::pin!(tokio::time::sleep(endpoint.limits.connection_lifetime));
    let Some(acceptor) = endpoint.tls.clone() else {
        return http1(stream, peer, &endpoint, lifetime, &mut stopped).await;
    };
    let handshake = tokio::select! {
        handshake = tokio::time::timeout(
            endpoint.limits.tls_handshake_timeout,
            acceptor.accept(stream),
        ) => handshake,
        // No request is in flight before the handshake ends: nothing to finish.
        () = stopping(&mut stopped) => return,
    };
    match handshake {
        Ok(Ok(tls)) => http1(tls, peer, &endpoint, lifetime, &mut stopped).await,
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed."),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out."),
    }
}

/// Serves HTTP/1.1 requests on `io` until the client closes, a header read times out,
/// or the endpoint stops or the connection's lifetime ends; then finishes the response
/// in flight, within the drain time.
async fn http1<I>(
    io: I,
    peer: SocketAddr,
    endpoint: &Endpoint,
    lifetime: std::pin::Pin<&mut tokio::time::Sleep>,
    stopped: &mut watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let limits = &endpoint.limits;
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let conn = builder.serve_connection(
        TokioIo::new(io),
        TowerToHyperService::new(endpoint.app.clone()),
    );
    let mut conn = std::pin::pin!(conn);
    let finished = tokio::select! {
        served = conn.as_mut() => Some(served),
        () = lifetime => None,
        () = stopping(stopped) => None,
    };
    let served = match finished {
        Some(served) => served,
        None => {
            // Finish the response in flight, if any, and take no further request; drop
            // what does not finish in time (a half-sent request, a client that does not
            // read).
            conn.as_mut().graceful_shutdown();
            let Ok(served) = tokio::time::timeout(limits.drain_timeout, conn).await else {
                tracing::debug!(%peer, "Dropping an HTTP connection still open.");
                return;
            };
            served
        }
    };
    if let Err(e) = served {
        tracing::debug!(%peer, error = %e, "HTTP connection ended.");
    }
}

fn router(shared: Shared, auth: Auth) -> Router {
    let expected = auth.expected();
    let probes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(shared.clone());
    Router::new()
        .route("/metrics", get(metrics))
        .route("/flows", get(flows))
        .route("/inventory", get(inventory_json))
        .route("/inventory.html", get(inventory_html))
        .with_state(shared)
        .layer(middleware::from_fn_with_state(expected, authorize))
        .merge(probes)
}

async fn authorize(
    State(expected): State<Option<String>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(expected) = &expected {
        let given = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !same_secret(given, expected.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"aigress\"")],
                "unauthorized\n",
            )
                .into_response();
        }
    }
    next.run(request).await
}

/// Compares a presented credential with the expected one in time that does not depend on
/// where they differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

async fn healthz(State(s): State<Shared>) -> impl IntoResponse {
    match s.packet_loop.stall(Timestamp::now()) {
        None => {
            let db = Arc::clone(&s.signatures.read().unwrap_or_else(PoisonError::into_inner));
            (
                StatusCode::OK,
                format!("ok\nsignatures {} ({})\n", db.version, db.date),
            )
        }
        Some(stall) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the {} has been inside one batch for {} s (flow {})\n",
                stall.name, stall.seconds, stall.flow_id
            ),
        ),
    }
}

async fn readyz(State(s): State<Shared>) -> impl IntoResponse {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

/// Builds the inventory report off the runtime thread (SQLite blocks).
async fn inventory_report(s: &Shared) -> Result<Report, (StatusCode, String)> {
    let Some(reports) = s.inventory.clone() else {
        return Err((
            StatusCode::NOT_FOUND,
            "no inventory: start the sensor with --db or inventory.db\n".into(),
        ));
    };
    let signatures = Arc::clone(&s.signatures.read().unwrap_or_else(PoisonError::into_inner));
    let built = tokio::task::spawn_blocking(move || {
        let policy = reports
            .policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let jurisdictions =
            Jurisdictions::with_lists(policy.as_deref().map(crate::policy::Policy::transfer_lists))
                .map_err(|e| e.to_string())?;
        let judges = Judges {
            db: &signatures,
            jurisdictions: &jurisdictions,
            policy_file: policy.as_deref().map(|p| p.file.as_str()),
        };
        let store = Store::connect(&reports.location).map_err(|e| e.to_string())?;
        Report::build(&store, &Filter::default(), &judges).map_err(|e| e.to_string())
    })
    .await;
    match built {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(e)) => Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))),
    }
}

async fn inventory_json(State(s): State<Shared>) -> Response {
    match inventory_report(&s).await {
        Ok(r) => axum::Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn inventory_html(State(s): State<Shared>) -> Response {
    match inventory_report(&s).await {
        Ok(r) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            crate::report::html::html(&r),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn flows(State(s): State<Shared>) -> impl IntoResponse {
    let open = s.flows.lock().unwrap_or_else(PoisonError::into_inner);
    let mut list: Vec<_> = open.values().cloned().collect();
    drop(open);
    list.sort_by_key(|f| (f.first_seen, f.flow_id));
    axum::Json(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_at_once_then_at_most_once_per_interval_with_their_count() {
        let mut refusals = Refusals::default();
        let t0 = Instant::now();
        assert_eq!(refusals.note(t0), Some(1));
        assert_eq!(refusals.note(t0 + Duration::from_secs(1)), None);
        assert_eq!(refusals.note(t0 + Duration::from_secs(59)), None);
        assert_eq!(refusals.note(t0 + REFUSALS_LOG_INTERVAL), Some(3));
        assert_eq!(
            refusals.note(t0 + REFUSALS_LOG_INTERVAL + Duration::from_secs(1)),
            None
        );
    }
}
