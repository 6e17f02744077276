//! What a TLS finding does: names the flow, holds the ClientHello's event until the
//! server's answer gives its version.

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
            Finding::ClientHello(info) => {
                bump(&mut stats.client_hellos);
                at.orient();
                at.flow.app_proto.get_or_insert(Tls::NAME);
                if at.flow.sni.is_none() {
                    at.flow.sni.clone_from(&info.sni);
                }
                // A second hello (after a HelloRetryRequest) releases the first.
                if let Some(earlier) = at.flow.pending_tls.take() {
                    reporter.sink.event(*earlier)?;
                }
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
