//! What a DNS message does: a response teaches the cache which names its addresses
//! have; every message raises a dns event, named by its first question.

use std::io;

use super::{Dns, DnsInfo, Finding, Stats};
use crate::engine::report::{At, Report, Reporter, bump};
use crate::event::Body;
use crate::guard::Guard;
use crate::protocols::roles::Protocol;
use crate::signatures::MatchSource;

impl Report for Dns {
    fn report(
        finding: Finding,
        stats: &mut Stats,
        at: &mut At<'_>,
        reporter: &mut Reporter<'_>,
    ) -> io::Result<()> {
        let message = match finding {
            Finding::Message(m) => m,
            Finding::Invalid => {
                bump(&mut stats.invalid);
                return Ok(());
            }
        };
        bump(&mut stats.messages);
        if message.work_limited {
            reporter.guards.trip(Guard::DnsNameWork);
        }
        at.flow.identify(Dns::NAME);
        if message.response {
            reporter.dns_cache.learn(reporter.now, &message);
        }
        let ai = message.questions.first().and_then(|q| {
            reporter
                .signatures
                .classify_host(&q.name, MatchSource::DnsQuery)
        });
        let tx_id = at.flow.transactions;
        at.flow.transactions = tx_id.saturating_add(1);
        // A message without a question names nothing: Suricata does not log it either.
        if message.questions.is_empty() {
            return Ok(());
        }
        let body = Body::Dns(DnsInfo::from_message(
            &message,
            reporter.dns_request_type,
            at.header.ipv6_text,
            tx_id,
        ));
        reporter.event(at, body, ai)
    }
}
