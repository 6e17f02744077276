//! What a request does: names the flow by its Host and raises an http event, held until
//! its response has ended, as Suricata writes an HTTP transaction.

use std::io;

use super::{Finding, Http, HttpInfo, Stats};
use crate::engine::report::{At, Report, Reporter, bump};
use crate::event::{Body, Event};
use crate::flow::Direction;
use crate::protocols::roles::Protocol;
use crate::signatures::MatchSource;

impl Report for Http {
    fn report(
        finding: Finding,
        stats: &mut Stats,
        at: &mut At<'_>,
        reporter: &mut Reporter<'_>,
    ) -> io::Result<()> {
        let info = match finding {
            Finding::Request(info) => info,
            Finding::Response(status) => return answered(status, at, reporter),
            Finding::UpgradedToH2 => {
                at.flow.identify(HTTP2);
                return Ok(());
            }
        };
        bump(&mut stats.requests);
        at.orient();
        let app_proto = match info.version {
            Some("2") => HTTP2,
            _ => Http::NAME,
        };
        at.flow.identify(app_proto);
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
                    .recognise(info.http_method.as_deref()?, info.url.as_deref()?)?;
                if !reporter.sightings.confirms(server, hit) {
                    return None;
                }
                let ai = reporter.signatures.self_hosted(hit, server);
                at.flow
                    .model_server
                    .get_or_insert_with(|| Box::new(ai.clone()));
                Some(ai)
            });
        // An HTTP/2 request is written at once: its response is in frames not read.
        if info.version.is_some() {
            return reporter.event(at, Body::Http(info), ai);
        }
        // So is one whose response will not pass a one-sided sensor; should the other side
        // show up after all, its response is not taken for one without a request.
        if at.one_sided(reporter) {
            at.flow.http_written_unanswered = at.flow.http_written_unanswered.saturating_add(1);
            return reporter.event(at, Body::Http(info), ai);
        }
        let waiting = &mut at.flow.pending_http;
        if waiting.len() >= MAX_WAITING {
            // A server that never answers cannot make requests pile up.
            if let Some(oldest) = waiting.pop_front() {
                at.flow.http_written_unanswered = at.flow.http_written_unanswered.saturating_add(1);
                reporter.sink.event(oldest)?;
            }
        }
        let event = Event {
            header: at.header.clone(),
            body: Body::Http(info),
            ai,
            landing: None,
            verdict: None,
        };
        at.flow.pending_http.push_back(event);
        Ok(())
    }
}

/// The `app_proto` of an HTTP/2 connection: Suricata names it apart from HTTP/1.x.
const HTTP2: &str = "http2";

/// Requests of one connection waiting for their responses.
const MAX_WAITING: usize = 32;

/// A response ended: the oldest request waiting is written, stamped with the packet that
/// completed the response. A response no request waits for (a capture of the server's side
/// only, or one that starts after the request) is a transaction of its own, as Suricata
/// writes it: an event with its status.
fn answered(status: u16, at: &mut At<'_>, reporter: &mut Reporter<'_>) -> io::Result<()> {
    if at.dir == Direction::ToServer && !at.flow.orientation_known {
        at.flow.reverse();
        at.dir = Direction::ToClient;
    }
    at.flow.orientation_known = true;
    at.flow.identify(Http::NAME);
    if let Some(mut event) = at.flow.pending_http.pop_front() {
        event.header.timestamp = at.header.timestamp;
        event.header.pcap_cnt = at.header.pcap_cnt;
        return reporter.sink.event(event);
    }
    if at.flow.http_written_unanswered > 0 {
        // Its request's event was written before it came, when too many waited.
        at.flow.http_written_unanswered = at.flow.http_written_unanswered.saturating_sub(1);
        return Ok(());
    }
    // Addressed client to server, as a transaction is and as its request would have been.
    let header = match at.dir {
        Direction::ToClient => at.header.reversed(),
        Direction::ToServer => at.header.clone(),
    };
    reporter.sink.event(Event {
        header,
        body: Body::Http(HttpInfo::response_alone(status)),
        ai: None,
        landing: None,
        verdict: None,
    })
}
