//! A small HTTPS/1.1 server on loopback for tests: a certificate for 127.0.0.1 whose PEM
//! a client is told to trust, and a handler that answers each request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

/// What the handler is given: the request line and the body.
pub struct Request {
    pub line: String,
    pub body: String,
}

/// The status line's code and reason, and the response body.
pub struct Response {
    pub status: &'static str,
    pub body: Vec<u8>,
}

pub struct HttpsServer {
    /// `https://127.0.0.1:<port>`.
    pub base: String,
    /// The PEM of the server's certificate, to trust as the CA.
    pub ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl HttpsServer {
    /// Serves every connection, one request each, with `handler`.
    pub fn start(handler: impl Fn(Request) -> Response + Send + 'static) -> Self {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key.into())
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(tcp) = stream else { continue };
                let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let Some(request) = read_request(&mut tls) else {
                    continue;
                };
                let response = handler(request);
                let _ = write!(
                    tls,
                    "HTTP/1.1 {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    response.status,
                    response.body.len()
                );
                let _ = tls.write_all(&response.body);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        Self {
            base,
            ca,
            _dir: dir,
        }
    }
}

/// Reads one HTTP/1.1 request: its request line and body.
fn read_request(stream: &mut impl Read) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let request_line = line.trim_end().to_owned();
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        line: request_line,
        body: String::from_utf8(body).ok()?,
    })
}
