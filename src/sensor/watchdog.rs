//! The live sensor's watchdog: notices a packet worker or the output loop stuck inside
//! one batch.
//!
//! Each loop marks when it starts work on what it received and when it is back to
//! waiting, and records the flow it touched last. Once the loop has been busy
//! longer than the bound, `/healthz` (which reads the same marks) fails; a thread of its
//! own, looking four times a second, sets `aigress_packet_loop_stalled` to 1 and logs the
//! stall with its flow id (the `flow_id` of that flow's events). When the loop comes
//! back, all three say so. Under systemd (`WatchdogSec=`), the watchdog pings only while the loop is
//! healthy, so a stuck sensor is killed and restarted; the inventory store keeps every
//! batch written before. A stop requested while the loop is stuck ends the process
//! after one more bound, since the loop cannot drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::time::Timestamp;

/// How long the loop may stay inside one batch by default: a batch of 256 packets takes
/// well under a millisecond, and a blocked output a few seconds is already a stall.
pub const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(5);
/// How often the watchdog looks.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// What the sensor's loops publish for the watchdog and `/healthz`: one slot per packet
/// worker and one for the output loop, each marking when it started its current work.
#[derive(Debug)]
pub struct LoopState {
    /// How long a loop may stay busy before it counts as stalled.
    bound: Duration,
    slots: Vec<Slot>,
}

#[derive(Debug)]
struct Slot {
    /// The loop's name in logs and `/healthz` ("packet worker 1", "output loop").
    name: Arc<str>,
    /// Wall-clock microseconds at which the loop started its current work; 0 while it
    /// waits.
    busy_since: AtomicI64,
    /// The id of the flow the loop touched last (shared with its engine).
    flow: Arc<AtomicU64>,
}

/// A stall, as `/healthz` and the log describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// Which loop is stuck.
    pub name: Arc<str>,
    pub seconds: i64,
    pub flow_id: u64,
}

impl LoopState {
    /// Loops named `names` (their slots numbered in that order), each counting as stalled
    /// once busy for longer than `bound`.
    pub fn new<I: IntoIterator<Item = String>>(bound: Duration, names: I) -> Self {
        Self {
            bound,
            slots: names
                .into_iter()
                .map(|name| Slot {
                    name: Arc::from(name),
                    busy_since: AtomicI64::new(0),
                    flow: Arc::default(),
                })
                .collect(),
        }
    }

    /// The cell loop `slot` writes the current flow's id to.
    pub fn flow_cell(&self, slot: usize) -> Arc<AtomicU64> {
        self.slots
            .get(slot)
            .map(|s| Arc::clone(&s.flow))
            .unwrap_or_default()
    }

    /// Loop `slot` starts work on what it received.
    pub fn busy(&self, slot: usize, now: Timestamp) {
        if let Some(s) = self.slots.get(slot) {
            s.busy_since.store(now.micros().max(1), Ordering::Relaxed);
        }
    }

    /// Loop `slot` is back to waiting.
    pub fn idle(&self, slot: usize) {
        if let Some(s) = self.slots.get(slot) {
            s.busy_since.store(0, Ordering::Relaxed);
        }
    }

    /// The longest stall at `now`, if a loop has been busy for longer than the bound.
    pub fn stall(&self, now: Timestamp) -> Option<Stall> {
        self.busy_longer_than(now, self.bound)
    }

    fn busy_longer_than(&self, now: Timestamp, bound: Duration) -> Option<Stall> {
        let bound = i64::try_from(bound.as_micros()).unwrap_or(i64::MAX);
        self.slots
            .iter()
            .filter_map(|slot| {
                let since = slot.busy_since.load(Ordering::Relaxed);
                let busy = now.micros().saturating_sub(since);
                (since > 0 && busy > bound).then(|| Stall {
                    name: Arc::clone(&slot.name),
                    seconds: busy / 1_000_000,
                    flow_id: slot.flow.load(Ordering::Relaxed),
                })
            })
            .max_by_key(|s| s.seconds)
    }
}

/// The watchdog thread; stops when dropped.
pub struct Watchdog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Starts watching `state`; `stop_requested` is the sensor's SIGTERM flag.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn start(
        state: Arc<LoopState>,
        metrics: Arc<Metrics>,
        stop_requested: Arc<AtomicBool>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&stop);
        let mut systemd_usec = 0u64;
        let systemd = sd_notify::watchdog_enabled(false, &mut systemd_usec);
        // Ping twice per systemd period, as sd_watchdog_enabled(3) advises.
        let ping_every = Duration::from_micros(systemd_usec / 2);
        let thread = std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                let mut last_ping = std::time::Instant::now();
                let mut was_stalled = false;
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(CHECK_EVERY);
                    let now = Timestamp::now();
                    let stall = state.stall(now);
                    let was = std::mem::replace(&mut was_stalled, stall.is_some());
                    match (&stall, was) {
                        (Some(s), false) => {
                            metrics.set_loop_stalled(true);
                            tracing::error!(
                                stuck = %s.name,
                                seconds = s.seconds,
                                flow_id = s.flow_id,
                                "A sensor loop is stuck inside one batch; /healthz fails until it moves again."
                            );
                        }
                        (None, true) => {
                            metrics.set_loop_stalled(false);
                            tracing::warn!("The sensor's loops move again.");
                        }
                        _ => {}
                    }
                    if systemd && stall.is_none() && last_ping.elapsed() >= ping_every {
                        notify_systemd(sd_notify::NotifyState::Watchdog);
                        last_ping = std::time::Instant::now();
                    }
                    if stop_requested.load(Ordering::Relaxed)
                        && state
                            .busy_longer_than(now, state.bound.saturating_mul(2))
                            .is_some()
                    {
                        tracing::error!(
                            "Stopping while a sensor loop is stuck: exiting without draining."
                        );
                        std::process::exit(1);
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

/// Tells systemd `state` when it runs the sensor (`Type=notify`); elsewhere it does
/// nothing. A failure is logged, never fatal: the sensor works without systemd.
pub fn notify_systemd(state: sd_notify::NotifyState<'_>) {
    if let Err(e) = sd_notify::notify(false, &[state]) {
        tracing::debug!(error = %e, "Could not notify systemd.");
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_busy_past_the_bound_is_a_stall_on_its_flow() {
        let state = LoopState::new(
            Duration::from_secs(5),
            ["worker 0".to_owned(), "output".to_owned()],
        );
        let t0 = Timestamp::from_micros(1_000_000_000);
        assert_eq!(state.stall(t0), None, "idle is never a stall");
        state.busy(1, t0);
        state.flow_cell(1).store(42, Ordering::Relaxed);
        let at = |s: i64| Timestamp::from_micros(t0.micros() + s * 1_000_000);
        state.busy(0, at(3));
        state.flow_cell(0).store(7, Ordering::Relaxed);
        assert_eq!(state.stall(at(5)), None);
        assert_eq!(
            state.stall(at(9)),
            Some(Stall {
                name: Arc::from("output"),
                seconds: 9,
                flow_id: 42
            }),
            "the longest stall is the one named"
        );
        state.idle(1);
        assert_eq!(state.stall(at(9)).map(|s| s.flow_id), Some(7));
        state.idle(0);
        assert_eq!(state.stall(at(60)), None);
    }
}
