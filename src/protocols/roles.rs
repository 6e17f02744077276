//! The parts every application protocol provides, whatever it reads.
//!
//! A protocol is a type implementing [`Protocol`]: its event [`Record`], what its
//! inspection finds, its counters, and its inspection state over a TCP direction
//! ([`StreamParser`]) and over a UDP flow ([`DatagramParser`]). A protocol that never
//! rides one of the two names [`NoStream`] or [`NoDatagram`] there. The registration list
//! in `protocols/mod.rs` turns these parts into the enums the flow table, the event
//! writer and the counters use.

use std::fmt::Debug;

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::flow::budget::BufferBudget;
use crate::guard::Guard;

/// One application protocol.
pub trait Protocol {
    /// The `app_proto` of a flow that carries it.
    const NAME: &'static str;
    /// Its event record.
    type Record: Record;
    /// What its inspection reports for a flow.
    type Finding: Debug + Clone + PartialEq;
    /// What it counts over a run.
    type Stats: Counters;
    /// Its state in one direction of a TCP stream.
    type Stream: StreamParser<Finding = Self::Finding>;
    /// Its state over a UDP flow.
    type Datagram: DatagramParser<Finding = Self::Finding>;
}

/// An event record: the object an EVE line carries under its `event_type`.
pub trait Record: Serialize {
    /// The EVE `event_type`, and the name of the record's object.
    const EVENT_TYPE: &'static str;

    /// Writes the record's part of an EVE line: its object, and the top-level fields it
    /// sets (a flow record's `app_proto`).
    ///
    /// # Errors
    /// The serializer's.
    fn write_eve<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        m.serialize_entry(Self::EVENT_TYPE, self)
    }

    /// Writes what an alert raised on this record says about the application layer
    /// (`app_proto` and its object, as Suricata writes beside an alert); nothing when the
    /// record names no server.
    ///
    /// # Errors
    /// The serializer's.
    fn write_alert_app<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error>;

    /// The row of the people's summary table this record adds to, when it adds to one.
    fn table_row(&self) -> Option<TableRow<'_>> {
        None
    }

    /// Whether the record is about the connection it travels on, so that its AI endpoint
    /// is the flow's server and the flow is judged by it. A DNS lookup is not: it names
    /// another destination.
    const ABOUT_ITS_FLOW: bool = true;

    /// The ClientHello the record carries, for the blind spots a hello shows.
    fn client_hello(&self) -> Option<HelloView<'_>> {
        None
    }

    /// What identifies the client software, as `(kind, value)`: a JA4, a User-Agent.
    fn client_fingerprint(&self) -> Option<(&'static str, &str)> {
        None
    }
}

/// What a ClientHello says about how visible its connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloView<'a> {
    pub sni: Option<&'a str>,
    pub ech: bool,
    pub alpn: &'a [String],
    /// `TLS` or `QUIC`, for messages to people.
    pub transport: &'static str,
}

/// What a record adds to the summary table: one finished flow to the row of its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableRow<'a> {
    /// The server's name as the flow knew it, if it knew one.
    pub name: Option<&'a str>,
    /// The application protocol, if one was recognised.
    pub app_proto: Option<&'static str>,
    pub pkts_up: u64,
    pub pkts_down: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

/// A protocol's counters.
pub trait Counters: Debug + Default + Clone + Serialize {
    /// Whether the protocol counts nothing: its counters are then left out of the stats
    /// event.
    const NONE: bool = false;

    /// Adds another worker's counters to these.
    fn absorb(&mut self, other: &Self);
}

/// Counters of a protocol that counts nothing of its own.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct NoCounters;

impl Counters for NoCounters {
    const NONE: bool = true;

    fn absorb(&mut self, _: &Self) {}
}

/// What a step over a direction's bytes did.
#[derive(Debug)]
pub enum Step<S> {
    /// The bytes hold no whole message yet.
    NeedMore,
    /// This many bytes were read; the state stays.
    Consumed(usize),
    /// This many bytes were read (possibly none), then the state changes.
    Then(usize, Next<S>),
}

impl<S> Step<S> {
    /// The same step in another protocol's terms (the registry's enum of states).
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> Step<T> {
        match self {
            Self::NeedMore => Step::NeedMore,
            Self::Consumed(n) => Step::Consumed(n),
            Self::Then(n, next) => Step::Then(n, next.map(f)),
        }
    }
}

/// The state a direction moves to.
#[derive(Debug)]
pub enum Next<S> {
    /// A new state of the same protocol.
    State(S),
    /// Back to recognising by content (after a request and its body, or bytes that turned
    /// out to be something else).
    Detect,
    /// Nothing more to read.
    Done,
    /// Nothing more to read: a bound was reached, counted as this guard.
    Refused(Guard),
}

impl<S> Next<S> {
    /// The same move in another protocol's terms.
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> Next<T> {
        match self {
            Self::State(s) => Next::State(f(s)),
            Self::Detect => Next::Detect,
            Self::Done => Next::Done,
            Self::Refused(g) => Next::Refused(g),
        }
    }
}

/// A protocol's state over the reassembled bytes of one TCP direction.
///
/// Every method reports through `emit`; none buffers the bytes it is given (the stream
/// keeps what a state has not consumed and offers it again with more).
pub trait StreamParser: Sized + Debug {
    type Finding;

    /// The state of a direction on one of the protocol's own ports, taken when no
    /// protocol recognises the bytes by content (DNS on port 53, which has no signature
    /// of its own to probe for).
    fn on_port(_client: u16, _server: u16) -> Option<Self> {
        None
    }

    /// Recognises the protocol at the start of a direction's bytes: `None` when they are
    /// not this protocol's, else the first step (which may consume a whole message).
    fn probe(rest: &[u8], emit: &mut dyn FnMut(Self::Finding)) -> Option<Step<Self>>;

    /// Reads what whole messages `rest` holds.
    fn step(&mut self, rest: &[u8], emit: &mut dyn FnMut(Self::Finding)) -> Step<Self>;

    /// How many bytes the state may have buffered while a message is incomplete, and the
    /// guard that counts going past it.
    fn limit(&self) -> (usize, Option<Guard>);

    /// Heap bytes the state itself holds, charged to the buffer budget.
    fn held_bytes(&self) -> usize {
        0
    }

    /// Bytes of a body the state skips without looking at them, read in place from a
    /// delivery before anything is buffered: how many, and the state after them (a body's
    /// end may be a finding: a response's).
    fn skip(
        &mut self,
        _data: &[u8],
        _emit: &mut dyn FnMut(Self::Finding),
    ) -> (usize, Option<Next<Self>>) {
        (0, None)
    }

    /// The direction is cut (a gap, a bound, the end of the stream) with `unread` bytes not
    /// yet read: reports what was lost.
    fn cut(&self, _unread: &[u8], _emit: &mut dyn FnMut(Self::Finding)) {}

    /// Where a direction goes after a hole in its stream: nowhere (the default: a TLS
    /// record boundary cannot be found again), back to detection (a request can be
    /// recognised again), or on in the same state from the next byte delivered (DNS over
    /// TCP, whose next segment starts a message as often as not; Suricata reads on too).
    fn after_gap(self) -> Next<Self> {
        Next::Done
    }
}

/// A UDP flow recognised as a protocol's.
#[derive(Debug)]
pub struct Probed<S> {
    pub state: S,
    /// The datagram showed its sender is the client (a QUIC client Initial).
    pub sender_is_client: bool,
}

impl<S> Probed<S> {
    /// The same state in another protocol's terms.
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> Probed<T> {
        Probed {
            state: f(self.state),
            sender_is_client: self.sender_is_client,
        }
    }
}

/// A protocol's state over one UDP flow.
pub trait DatagramParser: Sized + Debug {
    type Finding;

    /// The state of a flow on one of the protocol's own ports, where every datagram is
    /// read as the protocol's (DNS on port 53).
    fn on_port(_client: u16, _server: u16) -> Option<Self> {
        None
    }

    /// Recognises the protocol in a datagram of a flow not recognised yet (sent
    /// `to_server` as the flow is oriented so far): the state to go on with, or `None`
    /// when the datagram is not this protocol's. The datagram itself is read.
    fn probe(
        payload: &[u8],
        to_server: bool,
        buffers: &BufferBudget,
        emit: &mut dyn FnMut(Self::Finding),
    ) -> Option<Probed<Self>>;

    /// Reads one datagram of the flow, `to_server` or back.
    fn datagram(&mut self, to_server: bool, payload: &[u8], emit: &mut dyn FnMut(Self::Finding));

    /// Whether there is nothing more to read: the flow's inspection then ends.
    fn is_done(&self) -> bool;

    /// The flow ends: reports what was left half-read.
    fn finish(&mut self, _emit: &mut dyn FnMut(Self::Finding)) {}
}

/// The stream state of a protocol that never rides TCP.
#[derive(Debug)]
pub enum NoStream<F> {
    #[doc(hidden)]
    _Never(std::convert::Infallible, std::marker::PhantomData<F>),
}

impl<F: Debug> StreamParser for NoStream<F> {
    type Finding = F;

    fn probe(_: &[u8], _: &mut dyn FnMut(F)) -> Option<Step<Self>> {
        None
    }

    fn step(&mut self, _: &[u8], _: &mut dyn FnMut(F)) -> Step<Self> {
        match *self {
            Self::_Never(never, _) => match never {},
        }
    }

    fn limit(&self) -> (usize, Option<Guard>) {
        match *self {
            Self::_Never(never, _) => match never {},
        }
    }
}

/// The datagram state of a protocol that never rides UDP.
#[derive(Debug)]
pub enum NoDatagram<F> {
    #[doc(hidden)]
    _Never(std::convert::Infallible, std::marker::PhantomData<F>),
}

impl<F: Debug> DatagramParser for NoDatagram<F> {
    type Finding = F;

    fn probe(_: &[u8], _: bool, _: &BufferBudget, _: &mut dyn FnMut(F)) -> Option<Probed<Self>> {
        None
    }

    fn datagram(&mut self, _: bool, _: &[u8], _: &mut dyn FnMut(F)) {
        match *self {
            Self::_Never(never, _) => match never {},
        }
    }

    fn is_done(&self) -> bool {
        match *self {
            Self::_Never(never, _) => match never {},
        }
    }
}

/// What a protocol with no findings of its own finds: nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoFinding {}
