//! DNS over TCP: length-prefixed messages, any number to a segment.

use super::{Finding, PORT};
use crate::guard::Guard;
use crate::protocols::roles::{Next, Step, StreamParser};

/// A DNS message over TCP is at most 65,535 bytes plus its length prefix.
pub const MAX_DNS_BYTES: usize = 65_537;

/// One direction of a DNS connection.
#[derive(Debug)]
pub struct DnsStream;

impl StreamParser for DnsStream {
    type Finding = Finding;

    fn on_port(client: u16, server: u16) -> Option<Self> {
        (client == PORT || server == PORT).then_some(DnsStream)
    }

    /// DNS over TCP is known by its port, not probed for.
    fn probe(_: &[u8], _: &mut dyn FnMut(Finding)) -> Option<Step<Self>> {
        None
    }

    fn step(&mut self, rest: &[u8], emit: &mut dyn FnMut(Finding)) -> Step<Self> {
        let Some(len) = crate::wire::be16(rest, 0) else {
            return Step::NeedMore;
        };
        let end = usize::from(len).saturating_add(2);
        let Some(message) = rest.get(2..end) else {
            return Step::NeedMore;
        };
        emit(Finding::of(message));
        Step::Consumed(end)
    }

    fn after_gap(self) -> Next<Self> {
        Next::State(self)
    }

    /// The end of one message and the start of the next may be buffered together.
    fn limit(&self) -> (usize, Option<Guard>) {
        (MAX_DNS_BYTES.saturating_mul(2), None)
    }
}
