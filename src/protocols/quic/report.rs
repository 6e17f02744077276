//! What a QUIC finding does: names the flow and raises a quic event per ClientHello.

use std::io;

use super::{Finding, Quic, QuicInfo};
use crate::protocols::tls::HelloCounts;

use crate::engine::report::{At, Report, Reporter, bump};
use crate::event::Body;
use crate::guard::Guard;
use crate::signatures::MatchSource;

impl Report for Quic {
    fn report(
        finding: Finding,
        stats: &mut HelloCounts,
        at: &mut At<'_>,
        reporter: &mut Reporter<'_>,
    ) -> io::Result<()> {
        let info = match finding {
            Finding::ClientHello { version, hello } => QuicInfo::from_hello(version, hello),
            Finding::Chlo { version, chlo } => QuicInfo::from_chlo(version, chlo),
            Finding::BudgetRefused => {
                reporter.guards.trip(Guard::BufferBudget);
                return Ok(());
            }
            Finding::Unreadable => {
                bump(&mut stats.client_hellos_unreadable);
                at.flow.hello_unreadable = true;
                return Ok(());
            }
        };
        bump(&mut stats.client_hellos);
        if at.flow.sni.is_none() {
            at.flow.sni.clone_from(&info.sni);
        }
        let ai = reporter.classify(at, info.sni.as_deref(), MatchSource::QuicSni);
        reporter.event(at, Body::Quic(info), ai)
    }
}
