//! Writes inventory batches on a thread of their own, so a slow or unreachable database
//! never holds up the packet path.
//!
//! At most two batches are outside the sensor's aggregates at any moment: the one being
//! written and the one waiting. While the database is away the sink keeps aggregating
//! into its maps (memory grows with distinct rows, not with time, up to a bound the sink
//! enforces), and the writer retries the batch in hand with exponential backoff. A batch
//! keeps its id across retries, so one whose commit succeeded but whose reply was lost
//! is not counted twice.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::store::{Applied, Batch, Store};

/// The first wait after a failed write; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the writer has done, for metrics and the final report.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches_written: AtomicU64,
    /// Batches found already written (a retry after a lost reply).
    pub batches_repeated: AtomicU64,
    pub write_failures: AtomicU64,
    /// Rows waiting in the writer (the batch in hand and the one queued).
    pub rows_waiting: AtomicU64,
    /// Rows aggregating in the sensor, not yet handed over.
    pub rows_buffered: AtomicU64,
    /// Rows dropped because the buffer was full while the database was away.
    pub rows_dropped: AtomicU64,
}

struct Slots {
    /// The next batch to write, handed over by the sink.
    queued: Option<Batch>,
    /// No more batches will come; write what is there and stop by `deadline`.
    closing: Option<Instant>,
}

struct Shared {
    slots: Mutex<Slots>,
    changed: Condvar,
    stats: Arc<WriterStats>,
}

/// A batch that could not be written before the writer stopped.
#[derive(Debug)]
pub struct Unwritten {
    pub flows: usize,
    pub fingerprints: usize,
    pub daily: usize,
    pub alerts: usize,
    pub error: String,
}

/// The writer thread and its hand-over slot.
pub struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Vec<Unwritten>>>,
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
                closing: None,
            }),
            changed: Condvar::new(),
            stats: Arc::default(),
        });
        let thread = std::thread::Builder::new()
            .name("aigress-inventory".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || run(store, &shared)
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

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.shared
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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
    /// written.
    pub fn close(mut self, deadline: Instant) -> Vec<Unwritten> {
        self.slots().closing = Some(deadline);
        self.shared.changed.notify_all();
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.slots().closing = Some(Instant::now());
            self.shared.changed.notify_all();
            let _ = thread.join();
        }
    }
}

/// The writer thread: takes the queued batch, writes it (retrying with backoff), and
/// stops once closing with nothing left, or at the closing deadline.
fn run(mut store: Store, shared: &Shared) -> Vec<Unwritten> {
    let lock = || shared.slots.lock().unwrap_or_else(PoisonError::into_inner);
    let stats = &shared.stats;
    loop {
        let batch = {
            let mut slots = lock();
            loop {
                if let Some(b) = slots.queued.take() {
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
        let mut backoff = FIRST_BACKOFF;
        let mut reported = false;
        // Ends when the batch is written, or when closing passes its deadline.
        loop {
            match store.write(&batch) {
                Ok(applied) => {
                    let counter = match applied {
                        Applied::Written => &stats.batches_written,
                        Applied::AlreadyWritten => &stats.batches_repeated,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if reported {
                        tracing::info!(
                            target_db = store.target(),
                            "The inventory database is written again."
                        );
                    }
                    break;
                }
                Err(e) => {
                    stats.write_failures.fetch_add(1, Ordering::Relaxed);
                    if !reported {
                        tracing::error!(error = %e, "Writing the inventory failed; keeping the batch and retrying.");
                        reported = true;
                    }
                    let mut slots = lock();
                    if let Some(deadline) = slots.closing
                        && Instant::now() >= deadline
                    {
                        let mut lost = vec![unwritten(&batch, &e)];
                        lost.extend(slots.queued.take().map(|b| unwritten(&b, &e)));
                        return lost;
                    }
                    let wait = match slots.closing {
                        Some(deadline) => {
                            backoff.min(deadline.saturating_duration_since(Instant::now()))
                        }
                        None => backoff,
                    };
                    slots = shared
                        .changed
                        .wait_timeout(slots, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    drop(slots);
                    backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
                }
            }
        }
        stats
            .rows_waiting
            .fetch_sub(rows(&batch), Ordering::Relaxed);
    }
}

fn unwritten(b: &Batch, e: &super::store::StoreError) -> Unwritten {
    Unwritten {
        flows: b.flows.len(),
        fingerprints: b.fingerprints.len(),
        daily: b.daily.len(),
        alerts: b.alerts.len(),
        error: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::store::{
        AlertRow, Backend, DailyRow, Filter, FingerprintRow, FlowRow, StoreError,
    };

    /// Fails its first writes; the first failure after committing, as a lost reply does.
    struct Flaky {
        failures_left: usize,
        written: Arc<Mutex<Vec<String>>>,
    }

    impl Backend for Flaky {
        fn target(&self) -> &str {
            "flaky"
        }
        fn schema_version(&self) -> Result<usize, StoreError> {
            Ok(1)
        }
        fn write(&mut self, batch: &Batch) -> Result<Applied, StoreError> {
            let mut written = self.written.lock().unwrap();
            if written.contains(&batch.id) {
                return Ok(Applied::AlreadyWritten);
            }
            if self.failures_left > 0 {
                self.failures_left -= 1;
                if self.failures_left == 0 {
                    written.push(batch.id.clone());
                }
                return Err(StoreError::Config("connection lost".into()));
            }
            written.push(batch.id.clone());
            Ok(Applied::Written)
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

    fn batch(id: &str) -> Batch {
        Batch {
            id: id.into(),
            flows: vec![FlowRow::default()],
            ..Batch::default()
        }
    }

    #[test]
    fn failed_writes_are_retried_and_a_lost_reply_is_not_counted_twice() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let store = Store::with_backend(Box::new(Flaky {
            failures_left: 2,
            written: Arc::clone(&written),
        }));
        let writer = Writer::start(store).unwrap();
        let stats = writer.stats();
        writer.hand_over(batch("a"));
        let deadline = Instant::now() + Duration::from_secs(10);
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
        let store = Store::with_backend(Box::new(Flaky {
            failures_left: usize::MAX,
            written: Arc::default(),
        }));
        let writer = Writer::start(store).unwrap();
        writer.hand_over(batch("a"));
        let lost = writer.close(Instant::now() + Duration::from_millis(300));
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].flows, 1);
        assert!(lost[0].error.contains("connection lost"));
    }
}
