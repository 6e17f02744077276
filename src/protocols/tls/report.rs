//! What a TLS finding does: names the flow, holds the ClientHello's event until both
//! sides' handshake is over, as Suricata writes its tls event (or the flow ends), with the
//! version the server's answer gave (else the client's).

use std::io;

use super::{Finding, HelloCounts, Tls, parse};

use crate::engine::report::{At, Report, Reporter, bump};
use crate::event::{Body, Event};
use crate::flow::{Direction, PendingTls};
use crate::protocols::roles::Protocol;
use crate::signatures::MatchSource;

impl Report for Tls {
    fn report(
        finding: Finding,
        stats: &mut HelloCounts,
        at: &mut At<'_>,
        reporter: &mut Reporter<'_>,
    ) -> io::Result<()> {
        // Whatever of a handshake was read, hello or not, shows the flow is TLS, as
        // Suricata names a flow by its first bytes.
        at.flow.identify(Tls::NAME);
        match finding {
            Finding::ClientHello(mut info) => {
                bump(&mut stats.client_hellos);
                at.orient();
                if at.flow.sni.is_none() {
                    at.flow.sni.clone_from(&info.sni);
                }
                // One tls event per flow, as Suricata writes it: after a
                // HelloRetryRequest the first ClientHello's event stands.
                if at.flow.transactions > 0 {
                    return Ok(());
                }
                at.flow.transactions = 1;
                // The client's version until the server's answer gives the negotiated one.
                info.version = Some(info.client_version.clone());
                let ai = reporter.classify(at, info.sni.as_deref(), MatchSource::Sni);
                // No answer will pass a one-sided sensor: the hello is all there is.
                if at.one_sided(reporter) {
                    return reporter.event(at, Body::Tls(info), ai);
                }
                at.flow.pending_tls = Some(Box::new(PendingTls {
                    event: Event {
                        header: at.header.clone(),
                        body: Body::Tls(info),
                        ai,
                        landing: None,
                        verdict: None,
                    },
                    client_done: false,
                    server_done: false,
                }));
            }
            Finding::ServerHello { version } => {
                if let Some(pending) = &mut at.flow.pending_tls
                    && let Body::Tls(t) = &mut pending.event.body
                {
                    t.version = Some(parse::version_name(version));
                }
            }
            Finding::HandshakeDone { certificate } => {
                let Some(pending) = &mut at.flow.pending_tls else {
                    return Ok(());
                };
                match at.dir {
                    _ if certificate => {
                        pending.client_done = true;
                        pending.server_done = true;
                    }
                    Direction::ToServer => pending.client_done = true,
                    Direction::ToClient => pending.server_done = true,
                }
                if pending.client_done
                    && pending.server_done
                    && let Some(pending) = at.flow.pending_tls.take()
                {
                    // Stamped with the packet that completed it; addressed client → server
                    // as the ClientHello was.
                    let mut event = pending.event;
                    event.header.timestamp = at.header.timestamp;
                    event.header.pcap_cnt = at.header.pcap_cnt;
                    reporter.sink.event(event)?;
                }
            }
            Finding::Detected => {}
            Finding::ClientHelloUnreadable => {
                bump(&mut stats.client_hellos_unreadable);
                at.flow.hello_unreadable = true;
            }
        }
        Ok(())
    }
}
