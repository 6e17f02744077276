//! The sensor's HTTP endpoint on tokio: `/metrics` (Prometheus text format),
//! `/healthz` (the packet loop is alive), `/readyz` (captures open, loop running) and
//! `/flows` (the AI flows open now, as JSON), and the inventory as JSON (`/inventory`)
//! and as the HTML report (`/inventory.html`). Optional HTTPS through rustls, and bearer
//! or basic authentication, as Prometheus exporters offer them; the probes (`/healthz`,
//! `/readyz`) answer without credentials, as a kubelet or load balancer asks them, and
//! tell nothing but whether the sensor runs.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use tokio::sync::oneshot;

use crate::inventory::report::Report;
use crate::inventory::store::{Filter, Location, Store};
use crate::inventory::transfers::Judges;
use crate::landing::Jurisdictions;
use crate::metrics::{Metrics, OpenAiFlows};
use crate::signatures::Database;
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
    pub inventory: Option<InventoryReports>,
}

/// What the inventory reports are made from.
#[derive(Clone)]
pub struct InventoryReports {
    /// The inventory database.
    pub location: Location,
    /// The signature database the reports cite.
    pub signatures: Arc<Database>,
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
    /// Stops accepting, finishes open requests, and joins the thread.
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

/// Binds `addr` now (before privileges are dropped) and serves on a thread of its own.
///
/// # Errors
/// The address cannot be bound, or the thread cannot start.
pub fn start(
    addr: SocketAddr,
    shared: Shared,
    auth: Auth,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<HttpServer, HttpError> {
    let bind = |source| HttpError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
    let local = listener.local_addr().map_err(bind)?;
    let (tx, rx) = oneshot::channel();
    let app = router(shared, auth);
    let thread = std::thread::Builder::new()
        .name("http".into())
        .spawn(move || serve(listener, app, tls, rx))
        .map_err(HttpError::Thread)?;
    Ok(HttpServer {
        addr: local,
        shutdown: Some(tx),
        thread: Some(thread),
    })
}

fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: oneshot::Receiver<()>,
) {
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
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "Cannot serve HTTP.");
                return;
            }
        };
        let stop = async {
            let _ = shutdown.await;
        };
        let served = match tls {
            None => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
            }
            Some(config) => {
                match TlsListener::new(listener, tokio_rustls::TlsAcceptor::from(config)) {
                    Ok(tls) => axum::serve(tls, app).with_graceful_shutdown(stop).await,
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = served {
            tracing::error!(error = %e, "The HTTP endpoint failed.");
        }
    });
}

/// TLS handshakes in progress at once; connections beyond it are closed at once, so a
/// flood of silent clients costs bounded memory and cannot keep others out.
const MAX_PENDING_HANDSHAKES: usize = 64;
/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts TCP connections and completes their TLS handshakes, each in a task of its own,
/// before axum sees them: one slow or silent client delays only itself.
struct TlsListener {
    handshaken: tokio::sync::mpsc::Receiver<(TlsStream, SocketAddr)>,
    local: SocketAddr,
}

type TlsStream = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

impl TlsListener {
    fn new(
        tcp: tokio::net::TcpListener,
        acceptor: tokio_rustls::TlsAcceptor,
    ) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, handshaken) = tokio::sync::mpsc::channel(MAX_PENDING_HANDSHAKES);
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!(error = %e, "Accepting a connection failed.");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    tracing::debug!(%peer, "Too many TLS handshakes in progress; closing.");
                    continue;
                };
                let (tx, acceptor) = (tx.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                    drop(slot);
                    match handshake {
                        Ok(Ok(tls)) => {
                            // The server is shutting down when nobody receives.
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed."),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out."),
                    }
                });
            }
        });
        Ok(Self { handshaken, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The accepting task is gone only when the runtime stops.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
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
        None => (StatusCode::OK, "ok\n".to_owned()),
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
    let built = tokio::task::spawn_blocking(move || {
        let policy = reports
            .policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let jurisdictions =
            Jurisdictions::for_policy(policy.as_deref()).map_err(|e| e.to_string())?;
        let judges = Judges {
            db: &reports.signatures,
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
            crate::inventory::report::html(&r),
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
