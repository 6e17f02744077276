//! Writes inventory batches on a thread of their own, so a slow or unreachable database
//! never holds up the packet path.
//!
//! At most two batches are outside the sensor's aggregates at any moment: the one being
//! written and the one waiting. While the database is away the sink keeps aggregating
//! into its maps (memory grows with distinct rows, not with time, up to a bound the sink
//! enforces), and the writer retries the batch in hand with exponential backoff. A batch
//! keeps its id across retries, so one whose commit succeeded but whose reply was lost
//! is not counted twice.
//!
//! A batch the database refuses for what it holds ([`StoreError::is_refusal`]) is not
//! retried: it is split in halves, each under an id derived from its own (`{id}/0`,
//! `{id}/1`, so a half whose reply was lost is still applied once), down to single rows.
//! A row refused alone is counted in [`WriterStats::rows_refused`], logged once, and
//! dropped; the rest of the batch is written. One hostile value cannot stop the inventory.
//!
//! Closing keeps its deadline even while a write hangs or after the thread died: what the
//! thread held is then reported as unwritten, and a hung thread is left behind rather than
//! waited for.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::store::{Applied, Batch, Store, StoreError};

/// The first wait after a failed write; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long a writer dropped without [`Writer::close`] waits for the write in progress:
/// long enough for a working database to finish one, short enough not to hold up an
/// exit on an error path.
const DROP_WAIT: Duration = Duration::from_secs(5);

/// What the writer has done, for metrics and the final report.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches_written: AtomicU64,
    /// Batches found already written (a retry after a lost reply).
    pub batches_repeated: AtomicU64,
    pub write_failures: AtomicU64,
    /// Rows the database refused for their content, alone in a batch of their own;
    /// dropped, never retried.
    pub rows_refused: AtomicU64,
    /// Rows waiting in the writer (the batch in hand and the one queued).
    pub rows_waiting: AtomicU64,
    /// Rows aggregating in the sensor, not yet handed over.
    pub rows_buffered: AtomicU64,
    /// Rows dropped because the buffer was full while the database was away.
    pub rows_dropped: AtomicU64,
    /// The writer thread has ended: after closing, or on its own (a panic), when nothing
    /// handed over would be written any more.
    pub stopped: AtomicBool,
}

/// Rows of each kind.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    flows: usize,
    fingerprints: usize,
    daily: usize,
    alerts: usize,
    unknown: usize,
}

impl Counts {
    fn of(b: &Batch) -> Self {
        Self {
            flows: b.flows.len(),
            fingerprints: b.fingerprints.len(),
            daily: b.daily.len(),
            alerts: b.alerts.len(),
            unknown: b.unknown.len().saturating_add(b.unknown_hosts.len()),
        }
    }

    fn add(self, other: Self) -> Self {
        Self {
            flows: self.flows.saturating_add(other.flows),
            fingerprints: self.fingerprints.saturating_add(other.fingerprints),
            daily: self.daily.saturating_add(other.daily),
            alerts: self.alerts.saturating_add(other.alerts),
            unknown: self.unknown.saturating_add(other.unknown),
        }
    }

    fn unwritten(self, error: &str) -> Unwritten {
        Unwritten {
            flows: self.flows,
            fingerprints: self.fingerprints,
            daily: self.daily,
            alerts: self.alerts,
            unknown: self.unknown,
            error: error.to_owned(),
        }
    }
}

struct Slots {
    /// The next batch to write, handed over by the sink.
    queued: Option<Batch>,
    /// The rows of the batch in hand not written yet, so they can be named when the
    /// thread cannot (it hangs, or it died).
    in_hand: Option<Counts>,
    /// No more batches will come; write what is there and stop by `deadline`.
    closing: Option<Instant>,
    /// What the thread could not write, once it has stopped by itself.
    finished: Option<Vec<Unwritten>>,
    /// The thread has ended, by itself or by a panic.
    exited: bool,
    /// Why the latest write failed, while the batch in hand is not written.
    last_error: Option<String>,
}

struct Shared {
    slots: Mutex<Slots>,
    changed: Condvar,
    stats: Arc<WriterStats>,
}

impl Shared {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Marks the thread ended when dropped, which happens on a panic too.
struct Exit<'a>(&'a Shared);

impl Drop for Exit<'_> {
    fn drop(&mut self) {
        self.0.slots().exited = true;
        self.0.stats.stopped.store(true, Ordering::Relaxed);
        self.0.changed.notify_all();
    }
}

/// A batch that could not be written before the writer stopped.
#[derive(Debug)]
pub struct Unwritten {
    pub flows: usize,
    pub fingerprints: usize,
    pub daily: usize,
    pub alerts: usize,
    /// Unknown-destination rows (domains and their hosts).
    pub unknown: usize,
    pub error: String,
}

/// The writer thread and its hand-over slot.
pub struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

fn rows(b: &Batch) -> u64 {
    u64::try_from(b.rows()).unwrap_or(u64::MAX)
}

impl Writer {
    /// Starts writing to `store`.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(store: Store) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            slots: Mutex::new(Slots {
                queued: None,
                in_hand: None,
                closing: None,
                finished: None,
                exited: false,
                last_error: None,
            }),
            changed: Condvar::new(),
            stats: Arc::default(),
        });
        let thread = std::thread::Builder::new()
            .name("aigress-inventory".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || {
                    let _exit = Exit(&shared);
                    let lost = run(store, &shared);
                    shared.slots().finished = Some(lost);
                }
            })?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// The writer's counters.
    pub fn stats(&self) -> Arc<WriterStats> {
        Arc::clone(&self.shared.stats)
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.shared.slots()
    }

    /// Whether a batch can be handed over now (the queue slot is free).
    pub fn ready(&self) -> bool {
        self.slots().queued.is_none()
    }

    /// Hands a batch over; it must be [`Self::ready`].
    pub fn hand_over(&self, batch: Batch) {
        self.shared
            .stats
            .rows_waiting
            .fetch_add(rows(&batch), Ordering::Relaxed);
        self.slots().queued = Some(batch);
        self.shared.changed.notify_all();
    }

    /// Waits until the queue slot is free, at most until `deadline`; whether it is.
    pub fn wait_ready(&self, deadline: Instant) -> bool {
        let mut slots = self.slots();
        while slots.queued.is_some() {
            // A thread that has ended takes nothing more.
            if slots.exited {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            slots = self
                .shared
                .changed
                .wait_timeout(slots, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Writes what is handed over, retrying until `deadline`; returns what could not be
    /// written. Returns by `deadline` even when a write hangs: the batches the thread
    /// holds are then named as unwritten (one may still land, if the database wakes).
    pub fn close(mut self, deadline: Instant) -> Vec<Unwritten> {
        self.stop(deadline, deadline)
    }

    /// Tells the thread to give up retrying at `closing`, and waits for it until
    /// `wait_until`; what it could not write.
    fn stop(&mut self, closing: Instant, wait_until: Instant) -> Vec<Unwritten> {
        let Some(thread) = self.thread.take() else {
            return Vec::new();
        };
        let mut slots = self.slots();
        slots.closing = Some(closing);
        self.shared.changed.notify_all();
        while !slots.exited {
            let left = wait_until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            slots = self
                .shared
                .changed
                .wait_timeout(slots, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if let Some(lost) = slots.finished.take() {
            drop(slots);
            // It has returned: joining takes no time.
            let _ = thread.join();
            return lost;
        }
        let error = match (slots.exited, slots.last_error.take()) {
            (true, _) => "the inventory writer stopped on an internal error (a panic)".to_owned(),
            (false, Some(e)) => e,
            (false, None) => "the inventory database did not finish the write in time".to_owned(),
        };
        // Taking the queued batch keeps a hung thread from writing it after it is named
        // here as unwritten.
        let lost: Vec<Unwritten> = slots
            .in_hand
            .take()
            .into_iter()
            .chain(slots.queued.take().as_ref().map(Counts::of))
            .map(|c| c.unwritten(&error))
            .collect();
        let exited = slots.exited;
        drop(slots);
        if exited {
            let _ = thread.join();
            tracing::error!(%error, "The inventory writer stopped.");
        } else {
            // Joining could block forever on a write that never returns; the thread is
            // left to end with the process.
            tracing::error!(
                %error,
                "The inventory writer is still waiting for the database; leaving it behind."
            );
        }
        lost
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let now = Instant::now();
        let lost = self.stop(now, now.checked_add(DROP_WAIT).unwrap_or(now));
        if let Some(first) = lost.first() {
            tracing::error!(batches = lost.len(), error = %first.error, "The inventory writer was dropped with batches unwritten.");
        }
    }
}

/// How writing one batch (or a piece of one) ended.
enum Outcome {
    Applied(Applied),
    /// The database refused it for its content.
    Refused(StoreError),
    /// Closing passed its deadline while the database was away.
    GaveUp(StoreError),
}

/// The writer thread: takes the queued batch, writes it (retrying with backoff, splitting
/// what the database refuses), and stops once closing with nothing left, or at the
/// closing deadline; returns what it could not write.
fn run(mut store: Store, shared: &Shared) -> Vec<Unwritten> {
    let stats = &shared.stats;
    loop {
        let batch = {
            let mut slots = shared.slots();
            loop {
                if let Some(b) = slots.queued.take() {
                    slots.in_hand = Some(Counts::of(&b));
                    break b;
                }
                if slots.closing.is_some() {
                    return Vec::new();
                }
                slots = shared
                    .changed
                    .wait(slots)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        shared.changed.notify_all();
        let waiting = rows(&batch);
        // The pieces still to write, the next on top.
        let mut pieces = vec![batch];
        while let Some(piece) = pieces.pop() {
            match write(&mut store, shared, &piece) {
                Outcome::Applied(applied) => {
                    let counter = match applied {
                        Applied::Written => &stats.batches_written,
                        Applied::AlreadyWritten => &stats.batches_repeated,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Refused(_) if piece.rows() > 1 => {
                    let (first, second) = halves(piece);
                    pieces.push(second);
                    pieces.push(first);
                }
                Outcome::Refused(e) => refused(stats, &piece, &e),
                Outcome::GaveUp(e) => {
                    let error = e.to_string();
                    let left = pieces
                        .iter()
                        .map(Counts::of)
                        .fold(Counts::of(&piece), Counts::add);
                    // The slots are left as they are: a closing that stops waiting for
                    // this thread at the same deadline names the unwritten batches from
                    // them, so they are counted whichever side gets there first.
                    let slots = shared.slots();
                    let mut lost = vec![left.unwritten(&error)];
                    lost.extend(
                        slots
                            .queued
                            .as_ref()
                            .map(|b| Counts::of(b).unwritten(&error)),
                    );
                    return lost;
                }
            }
            shared.slots().in_hand = Some(
                pieces
                    .iter()
                    .map(Counts::of)
                    .fold(Counts::default(), Counts::add),
            );
        }
        shared.slots().in_hand = None;
        stats.rows_waiting.fetch_sub(waiting, Ordering::Relaxed);
    }
}

/// Writes one batch, retrying while the database is away.
fn write(store: &mut Store, shared: &Shared, batch: &Batch) -> Outcome {
    let stats = &shared.stats;
    let mut backoff = FIRST_BACKOFF;
    let mut reported = false;
    loop {
        let e = match store.write(batch) {
            Ok(applied) => {
                if reported {
                    tracing::info!(
                        target_db = store.target(),
                        "The inventory database is written again."
                    );
                }
                shared.slots().last_error = None;
                return Outcome::Applied(applied);
            }
            Err(e) if e.is_refusal() => return Outcome::Refused(e),
            Err(e) => e,
        };
        stats.write_failures.fetch_add(1, Ordering::Relaxed);
        if !reported {
            tracing::error!(error = %e, "Writing the inventory failed; keeping the batch and retrying.");
            reported = true;
        }
        let mut slots = shared.slots();
        slots.last_error = Some(e.to_string());
        let wait = match slots.closing {
            Some(deadline) => backoff.min(deadline.saturating_duration_since(Instant::now())),
            None => backoff,
        };
        if slots.closing.is_some() && wait.is_zero() {
            return Outcome::GaveUp(e);
        }
        slots = shared
            .changed
            .wait_timeout(slots, wait)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        if slots
            .closing
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return Outcome::GaveUp(e);
        }
        drop(slots);
        backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
    }
}

/// Counts a batch of one row (or none) the database refused, logging the first.
fn refused(stats: &WriterStats, batch: &Batch, e: &StoreError) {
    let before = stats.rows_refused.fetch_add(rows(batch), Ordering::Relaxed);
    if before == 0 {
        tracing::error!(
            error = %e,
            "The inventory database refused a row for what it holds; it is dropped and counted (aigress_inventory_refused_rows_total), never retried. Later refusals are only counted."
        );
    }
}

/// `batch` cut in two at its middle row (flows, then fingerprints, daily totals and
/// alerts), each half under an id derived from the batch's, so a retried half is applied
/// once like any batch.
fn halves(mut batch: Batch) -> (Batch, Batch) {
    let mut first_rows = batch.rows() / 2;
    let mut take = |rows: usize| {
        let n = first_rows.min(rows);
        first_rows = first_rows.saturating_sub(n);
        n
    };
    let flows = take(batch.flows.len());
    let fingerprints = take(batch.fingerprints.len());
    let daily = take(batch.daily.len());
    let alerts = take(batch.alerts.len());
    let unknown = take(batch.unknown.len());
    let unknown_hosts = take(batch.unknown_hosts.len());
    let second = Batch {
        id: format!("{}/1", batch.id),
        flows: batch.flows.split_off(flows),
        fingerprints: batch.fingerprints.split_off(fingerprints),
        daily: batch.daily.split_off(daily),
        alerts: batch.alerts.split_off(alerts),
        unknown: batch.unknown.split_off(unknown),
        unknown_hosts: batch.unknown_hosts.split_off(unknown_hosts),
    };
    batch.id.push_str("/0");
    (batch, second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::store::{
        AlertRow, Backend, DailyRow, Filter, FingerprintRow, FlowRow, StoreError, UnknownHostRow,
        UnknownRow,
    };

    type WriteFn = Box<dyn FnMut(&Batch) -> Result<Applied, StoreError> + Send>;

    /// A backend whose writes do what the test says, and which reads nothing.
    struct Fake(WriteFn);

    impl Backend for Fake {
        fn target(&self) -> &str {
            "fake"
        }
        fn schema_version(&self) -> Result<usize, StoreError> {
            Ok(1)
        }
        fn write(&mut self, batch: &Batch) -> Result<Applied, StoreError> {
            (self.0)(batch)
        }
        fn flows(&self, _: &Filter) -> Result<Vec<FlowRow>, StoreError> {
            Ok(Vec::new())
        }
        fn fingerprints(&self, _: &Filter) -> Result<Vec<FingerprintRow>, StoreError> {
            Ok(Vec::new())
        }
        fn daily(&self, _: &Filter) -> Result<Vec<DailyRow>, StoreError> {
            Ok(Vec::new())
        }
        fn alerts(&self, _: &Filter) -> Result<Vec<AlertRow>, StoreError> {
            Ok(Vec::new())
        }
        fn unknown(&self, _: &Filter) -> Result<Vec<UnknownRow>, StoreError> {
            Ok(Vec::new())
        }
        fn unknown_hosts(&self, _: &Filter) -> Result<Vec<UnknownHostRow>, StoreError> {
            Ok(Vec::new())
        }
        fn host_vendor_pairs(&self) -> Result<Vec<(String, String)>, StoreError> {
            Ok(Vec::new())
        }
        fn meta(&self, _: &str) -> Result<Option<String>, StoreError> {
            Ok(None)
        }
        fn set_meta(&self, _: &str, _: &str) -> Result<(), StoreError> {
            Ok(())
        }
        fn integrity_check(&self) -> Result<String, StoreError> {
            Ok("ok".into())
        }
    }

    fn writer(write: impl FnMut(&Batch) -> Result<Applied, StoreError> + Send + 'static) -> Writer {
        Writer::start(Store::with_backend(Box::new(Fake(Box::new(write))))).unwrap()
    }

    /// Writes ids once; fails `failures` writes, the last of them after committing, as
    /// a lost reply does.
    fn flaky(
        mut failures: usize,
        written: Arc<Mutex<Vec<String>>>,
    ) -> impl FnMut(&Batch) -> Result<Applied, StoreError> + Send + 'static {
        move |batch| {
            let mut written = written.lock().unwrap();
            if written.contains(&batch.id) {
                return Ok(Applied::AlreadyWritten);
            }
            if failures > 0 {
                failures -= 1;
                if failures == 0 {
                    written.push(batch.id.clone());
                }
                return Err(StoreError::Config("connection lost".into()));
            }
            written.push(batch.id.clone());
            Ok(Applied::Written)
        }
    }

    fn batch(id: &str) -> Batch {
        Batch {
            id: id.into(),
            flows: vec![FlowRow::default()],
            ..Batch::default()
        }
    }

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    #[test]
    fn failed_writes_are_retried_and_a_lost_reply_is_not_counted_twice() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let writer = writer(flaky(2, Arc::clone(&written)));
        let stats = writer.stats();
        writer.hand_over(batch("a"));
        let deadline = soon(10_000);
        assert!(writer.wait_ready(deadline));
        writer.hand_over(batch("b"));
        assert!(writer.close(deadline).is_empty());
        assert_eq!(*written.lock().unwrap(), ["a", "b"]);
        assert_eq!(stats.write_failures.load(Ordering::Relaxed), 2);
        assert_eq!(stats.batches_repeated.load(Ordering::Relaxed), 1);
        assert_eq!(stats.batches_written.load(Ordering::Relaxed), 1);
        assert_eq!(stats.rows_waiting.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn what_cannot_be_written_by_the_deadline_is_named() {
        let writer = writer(flaky(usize::MAX, Arc::default()));
        writer.hand_over(batch("a"));
        let lost = writer.close(soon(300));
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].flows, 1);
        assert!(lost[0].error.contains("connection lost"));
    }

    #[test]
    fn refused_rows_are_split_out_and_the_rest_is_written_once() {
        // Refuses any batch holding a flow to "bad"; loses the reply of the first piece
        // it commits, so that piece is retried under the same id.
        // Each piece written: its id and its rows.
        type Pieces = Vec<(String, Vec<String>)>;
        let written: Arc<Mutex<Pieces>> = Arc::default();
        let mut lose_a_reply = true;
        let writer = writer({
            let written = Arc::clone(&written);
            move |b| {
                if b.flows.iter().any(|f| f.endpoint == "bad") {
                    return Err(StoreError::Refused {
                        target: "fake".into(),
                        message: "invalid byte sequence (22021)".into(),
                    });
                }
                let mut written = written.lock().unwrap();
                if written.iter().any(|(id, _)| *id == b.id) {
                    return Ok(Applied::AlreadyWritten);
                }
                let endpoints = b.flows.iter().map(|f| f.endpoint.clone());
                let endpoints = endpoints.chain(b.daily.iter().map(|_| "daily".into()));
                let endpoints = endpoints.collect();
                written.push((b.id.clone(), endpoints));
                if std::mem::take(&mut lose_a_reply) {
                    return Err(StoreError::Config("reply lost".into()));
                }
                Ok(Applied::Written)
            }
        });
        let stats = writer.stats();
        let flow = |endpoint: &str| FlowRow {
            endpoint: endpoint.into(),
            ..FlowRow::default()
        };
        writer.hand_over(Batch {
            id: "s:1".into(),
            flows: ["a", "b", "bad", "c", "d"].map(flow).to_vec(),
            daily: vec![DailyRow::default()],
            ..Batch::default()
        });
        assert!(writer.close(soon(10_000)).is_empty());
        let written = written.lock().unwrap().clone();
        let rows: Vec<&str> = written
            .iter()
            .flat_map(|(_, e)| e.iter().map(String::as_str))
            .collect();
        assert_eq!(rows, ["a", "b", "c", "d", "daily"], "every good row once");
        assert_eq!(
            written
                .iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>(),
            ["s:1/0/0", "s:1/0/1/0", "s:1/1"],
            "ids derived from the batch's"
        );
        assert_eq!(stats.rows_refused.load(Ordering::Relaxed), 1);
        assert_eq!(stats.batches_repeated.load(Ordering::Relaxed), 1);
        assert_eq!(stats.write_failures.load(Ordering::Relaxed), 1);
        assert_eq!(stats.rows_waiting.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_writer_that_panicked_names_the_batches_it_held() {
        let writer = writer(|_| panic!("a column type changed"));
        writer.hand_over(batch("a"));
        assert!(writer.wait_ready(soon(10_000)));
        writer.hand_over(batch("b"));
        let lost = writer.close(soon(10_000));
        assert_eq!(lost.len(), 2, "{lost:?}");
        assert!(
            lost.iter()
                .all(|u| u.flows == 1 && u.error.contains("panic"))
        );
    }

    #[test]
    fn close_keeps_its_deadline_while_a_write_hangs() {
        let (release, hang) = std::sync::mpsc::channel::<()>();
        let hang = Mutex::new(hang);
        let writer = writer(move |_| {
            // Blocks until the test ends, like a server that never answers.
            let _ = hang.lock().unwrap().recv();
            Err(StoreError::Config("no reply".into()))
        });
        writer.hand_over(batch("a"));
        assert!(writer.wait_ready(soon(10_000)));
        writer.hand_over(batch("b"));
        let started = Instant::now();
        let lost = writer.close(started + Duration::from_millis(300));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert_eq!(lost.len(), 2, "{lost:?}");
        assert!(
            lost.iter()
                .all(|u| u.flows == 1 && u.error.contains("in time"))
        );
        drop(release);
    }
}
