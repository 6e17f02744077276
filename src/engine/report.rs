//! Where inspection's findings become flow facts, counters and events.
//!
//! Each protocol's `report.rs` implements [`Report`] for its findings; [`report`] sends a
//! finding to its protocol's, by the registration list.

use std::io;

use crate::ai::AiInfo;
use crate::event::{Body, Event, EventSink, Header};
use crate::flow::{Direction, Flow};
use crate::guard::GuardCounts;
use crate::protocols::dns::DnsRequestType;
use crate::protocols::dns::cache::SharedDnsCache;
use crate::protocols::roles::Protocol;
use crate::protocols::{Finding, Stats, for_each_protocol};
use crate::signatures::model_servers::ServerSightings;
use crate::signatures::{Database, MatchSource};
use crate::time::Timestamp;

/// What reporting a finding may use and change beyond its flow.
pub struct Reporter<'a> {
    pub signatures: &'a Database,
    pub guards: &'a mut GuardCounts,
    pub dns_cache: &'a SharedDnsCache,
    /// Routes of model servers seen per server, for the routes that need a companion.
    pub sightings: &'a ServerSightings,
    pub sink: &'a mut dyn EventSink,
    pub now: Timestamp,
    pub dns_request_type: DnsRequestType,
    /// One-sided capture is configured (`EngineConfig::async_oneside`).
    pub async_oneside: bool,
}

/// The flow a finding is about, the direction of the packet that carried it, and the
/// header of the events it raises.
pub struct At<'a> {
    pub flow: &'a mut Flow,
    pub dir: Direction,
    pub header: &'a Header,
}

impl At<'_> {
    /// One-sided capture is configured and the other side has sent nothing the sensor saw:
    /// an answer that would complete a message will not come, so an event is written when
    /// its message is read.
    pub fn one_sided(&self, reporter: &Reporter<'_>) -> bool {
        let peer = match self.dir {
            Direction::ToServer => &self.flow.to_client,
            Direction::ToClient => &self.flow.to_server,
        };
        reporter.async_oneside && peer.packets == 0
    }

    /// A ClientHello or request travelling "to the client" shows the port guess was
    /// wrong: the flow turns round.
    pub fn orient(&mut self) {
        if self.dir == Direction::ToClient && !self.flow.orientation_known {
            self.flow.reverse();
            self.dir = Direction::ToServer;
        }
        self.flow.orientation_known = true;
    }
}

impl Reporter<'_> {
    /// The AI endpoint of a message: by the name it carries, else by the name DNS gave the
    /// server's address, else by the server address itself.
    pub fn classify(&self, at: &At<'_>, name: Option<&str>, source: MatchSource) -> Option<AiInfo> {
        self.signatures
            .classify_names([
                (name, source),
                (at.flow.dns_name.as_deref(), MatchSource::DnsName),
            ])
            .or_else(|| self.signatures.classify_ip(at.header.dest_ip))
    }

    /// Writes an event with the header of the finding's packet.
    ///
    /// # Errors
    /// The sink's.
    pub fn event(&mut self, at: &At<'_>, body: Body, ai: Option<AiInfo>) -> io::Result<()> {
        self.sink.event(Event {
            header: at.header.clone(),
            body,
            ai,
            landing: None,
            verdict: None,
        })
    }
}

/// How a protocol's findings change its flow, its counters and what events go out.
pub trait Report: Protocol {
    /// Reports one finding.
    ///
    /// # Errors
    /// The sink's.
    fn report(
        finding: Self::Finding,
        stats: &mut Self::Stats,
        at: &mut At<'_>,
        reporter: &mut Reporter<'_>,
    ) -> io::Result<()>;
}

/// Adds one to a counter.
pub fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}

macro_rules! report_dispatch {
    ($(($field:ident, $variant:ident, $protocol:ty)),* $(,)?) => {
        /// Reports each finding in `findings` to its protocol, emptying it.
        ///
        /// # Errors
        /// The sink's.
        pub fn report(
            findings: &mut Vec<Finding>,
            stats: &mut Stats,
            at: &mut At<'_>,
            reporter: &mut Reporter<'_>,
        ) -> io::Result<()> {
            for finding in findings.drain(..) {
                match finding {
                    $(Finding::$variant(f) => {
                        <$protocol as Report>::report(f, &mut stats.$field, at, reporter)?
                    })*
                    Finding::Guard(guard) => reporter.guards.trip(guard),
                }
            }
            Ok(())
        }
    };
}

for_each_protocol!(report_dispatch);
