//! The http event's record: an HTTP request's head, or the status of a response whose
//! request was not seen.

use serde::Serialize;
use serde::ser::SerializeMap;

use super::parse as http;
use crate::protocols::roles::Record;

/// An HTTP request: an HTTP/1.x head or an HTTP/2 request's header block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpInfo {
    /// The Host header's name, lower-cased, without a port (an IPv6 literal in its
    /// brackets); absent when there is no Host header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The port the Host header names, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// The request target without its query string: queries can carry personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_user_agent: Option<String>,
    /// `"2"` for an HTTP/2 request, as Suricata writes it; absent for HTTP/1.x.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'static str>,
    /// The status of a response whose request was not seen (a capture of the server's side
    /// only, or one that starts after the request). A request's event has none: after a
    /// lost segment the pairing of responses to requests can shift, and a wrong status is
    /// worse than none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

impl HttpInfo {
    /// The event form of a request head.
    pub fn from_request(req: &http::Request<'_>) -> Self {
        Self::from_parts(req.method, req.path, req.host, req.user_agent)
    }

    /// A request's record from its method, target (its query string is left out), Host
    /// or `:authority`, and User-Agent.
    pub fn from_parts(
        method: &str,
        target: &str,
        host: Option<&[u8]>,
        user_agent: Option<&[u8]>,
    ) -> Self {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (hostname, http_port) = match host {
            Some(host) => {
                let host = String::from_utf8_lossy(host);
                let (name, port) = http::split_host(&host);
                // Lower-cased, as Suricata writes it: a hostname is compared and
                // grouped without regard to case.
                (Some(name.to_ascii_lowercase()), port)
            }
            None => (None, None),
        };
        let path = target.split_once('?').map_or(target, |(path, _)| path);
        HttpInfo {
            hostname,
            http_port,
            http_method: Some(method.to_owned()),
            url: Some(path.to_owned()),
            http_user_agent: user_agent.map(text),
            version: None,
            status: None,
        }
    }

    /// The record of a response seen without its request: its status alone.
    pub fn response_alone(status: u16) -> Self {
        HttpInfo {
            hostname: None,
            http_port: None,
            http_method: None,
            url: None,
            http_user_agent: None,
            version: None,
            status: Some(status),
        }
    }
}

impl Record for HttpInfo {
    const EVENT_TYPE: &'static str = "http";

    fn write_alert_app<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        m.serialize_entry("app_proto", Self::EVENT_TYPE)?;
        self.write_eve(m)
    }

    fn client_fingerprint(&self) -> Option<(&'static str, &str)> {
        self.http_user_agent.as_deref().map(|u| ("user_agent", u))
    }
}
