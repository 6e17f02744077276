//! What a TLS finding does: names the flow, holds the ClientHello's event until the
//! server's answer gives its version (or the flow ends, when the client's version stands).

use std::io;

use super::{Finding, HelloCounts, Tls, parse};

use crate::engine::report::{At, Report, Reporter, bump};
use crate::event::{Body, Event};
use crate::protocols::roles::Protocol;
use crate::signatures::MatchSource;

impl Report for Tls {
    fn report(
        finding: Finding,
        stats: &mut HelloCounts,
        at: &mut At<'_>,
        reporter: &mut Reporter<'_>,
    ) -> io::Result<()> {
        match finding {
            Finding::ClientHello(mut info) => {
                bump(&mut stats.client_hellos);
                at.orient();
                at.flow.app_proto.get_or_insert(Tls::NAME);
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
                at.flow.pending_tls = Some(Box::new(Event {
                    header: at.header.clone(),
                    body: Body::Tls(info),
                    ai,
                    landing: None,
                    verdict: None,
                }));
            }
            Finding::ServerHello { version } => {
                if let Some(mut pending) = at.flow.pending_tls.take() {
                    if let Body::Tls(t) = &mut pending.body {
                        t.version = Some(parse::version_name(version));
                    }
                    reporter.sink.event(*pending)?;
                }
            }
            Finding::ClientHelloUnreadable => {
                bump(&mut stats.client_hellos_unreadable);
                at.flow.hello_unreadable = true;
            }
        }
        Ok(())
    }
}
