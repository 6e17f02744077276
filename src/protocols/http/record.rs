//! The http event's record: an HTTP/1.x request head.

use serde::Serialize;
use serde::ser::SerializeMap;

use super::parse as http;
use crate::protocols::roles::Record;

/// An HTTP/1.x request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpInfo {
    /// The Host header's name, lower-cased, without a port (an IPv6 literal in its
    /// brackets); absent when there is no Host header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The port the Host header names, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_port: Option<u16>,
    pub http_method: String,
    /// The request target without its query string: queries can carry personal data.
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_user_agent: Option<String>,
}

impl HttpInfo {
    /// The event form of a request head.
    pub fn from_request(req: &http::Request<'_>) -> Self {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (hostname, http_port) = match req.host {
            Some(host) => {
                let host = String::from_utf8_lossy(host);
                let (name, port) = http::split_host(&host);
                // Lower-cased, as Suricata writes it: a hostname is compared and
                // grouped without regard to case.
                (Some(name.to_ascii_lowercase()), port)
            }
            None => (None, None),
        };
        HttpInfo {
            hostname,
            http_port,
            http_method: req.method.to_owned(),
            url: req.path.to_owned(),
            http_user_agent: req.user_agent.map(text),
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
