//! What a request does: names the flow by its Host and raises an http event.

use std::io;

use super::{Finding, Http, Stats};
use crate::engine::report::{At, Report, Reporter, bump};
use crate::event::Body;
use crate::protocols::roles::Protocol;
use crate::signatures::MatchSource;

impl Report for Http {
    fn report(
        finding: Finding,
        stats: &mut Stats,
        at: &mut At<'_>,
        reporter: &mut Reporter<'_>,
    ) -> io::Result<()> {
        let Finding::Request(info) = finding;
        bump(&mut stats.requests);
        at.orient();
        // Suricata names an HTTP/2 connection's protocol apart.
        let app_proto = match info.version {
            Some("2") => "http2",
            _ => Http::NAME,
        };
        at.flow.app_proto.get_or_insert(app_proto);
        if at.flow.http_host.is_none() {
            at.flow.http_host.clone_from(&info.hostname);
        }
        let ai = reporter
            .classify(at, info.hostname.as_deref(), MatchSource::HttpHost)
            .or_else(|| {
                // Not a known vendor's host: perhaps a model server someone runs, known
                // by its API's routes. The flow keeps it for its record.
                let server = std::net::SocketAddr::new(at.flow.server.ip, at.flow.server.port);
                let hit = reporter
                    .signatures
                    .model_servers
                    .recognise(&info.http_method, &info.url)?;
                if !reporter.sightings.confirms(server, hit) {
                    return None;
                }
                let ai = reporter.signatures.self_hosted(hit, server);
                at.flow
                    .model_server
                    .get_or_insert_with(|| Box::new(ai.clone()));
                Some(ai)
            });
        reporter.event(at, Body::Http(info), ai)
    }
}
