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
//! batch written before.
//!
//! A stopping sensor drains: workers end their flows, the output loop writes what they
//! report, then delivers queued alerts and inventory rows within a grace. The watchdog
//! tells that slow drain from a stuck loop. A loop restarts its busy clock each time it
//! hands work on (a report sent, a report taken), so one making progress is never stuck
//! however long the drain takes; a loop that leaves marks itself idle. Only a loop stuck
//! inside one unit of work for two bounds, or a drain past its announced deadline (by
//! construction it cannot be: every step of it has its own deadline), ends the process,
//! and the log then says what was held in memory and is lost.

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
    /// Wall-clock microseconds by which the output loop's final drain (alerts, inventory)
    /// ends; 0 until it starts.
    drain_until: AtomicI64,
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
            drain_until: AtomicI64::new(0),
        }
    }

    /// The output loop starts its final drain, which ends by `until`.
    pub fn draining(&self, until: Timestamp) {
        self.drain_until
            .store(until.micros().max(1), Ordering::Relaxed);
    }

    /// How far `now` is past the drain's deadline, if it is.
    fn drain_overrun(&self, now: Timestamp) -> Option<Duration> {
        let until = self.drain_until.load(Ordering::Relaxed);
        let late = now.micros().saturating_sub(until);
        (until > 0 && late > 0).then(|| Duration::from_micros(late.unsigned_abs()))
    }

    /// The cell loop `slot` writes the current flow's id to.
    pub fn flow_cell(&self, slot: usize) -> Arc<AtomicU64> {
        self.slots
            .get(slot)
            .map(|s| Arc::clone(&s.flow))
            .unwrap_or_default()
    }

    /// Loop `slot` starts work on what it received, or has just handed work on: either
    /// way it moved, so its busy clock starts again.
    pub fn busy(&self, slot: usize, now: Timestamp) {
        if let Some(s) = self.slots.get(slot) {
            s.busy_since.store(now.micros().max(1), Ordering::Relaxed);
        }
    }

    /// Loop `slot` is back to waiting, or has left for good.
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
                    if stop_requested.load(Ordering::Relaxed) {
                        give_up_if_stuck(&state, now);
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

/// Ends the process when a stopping sensor cannot finish: a loop stuck inside one unit of
/// work for two bounds (it will never drain), or a drain past its deadline. Whatever the
/// sensor still held (events of open flows, queued alerts, inventory rows not written)
/// is lost then, and the last log line says so.
fn give_up_if_stuck(state: &LoopState, now: Timestamp) {
    if let Some(s) = state.busy_longer_than(now, state.bound.saturating_mul(2)) {
        tracing::error!(
            stuck = %s.name,
            seconds = s.seconds,
            flow_id = s.flow_id,
            "Stopping while a sensor loop is stuck inside one batch: exiting without draining; the events of open flows, queued alerts and inventory rows not yet written are lost."
        );
        std::process::exit(1);
    }
    if let Some(late) = state.drain_overrun(now) {
        tracing::error!(
            late_seconds = late.as_secs(),
            "The shutdown drain overran its deadline: exiting; queued alerts and inventory rows not yet written are lost."
        );
        std::process::exit(1);
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

    #[test]
    fn a_drain_is_late_only_past_its_deadline_and_a_moving_loop_is_never_stuck() {
        let state = LoopState::new(Duration::from_secs(5), ["worker 0".to_owned()]);
        let t0 = Timestamp::from_micros(1_000_000_000);
        let at = |s: i64| Timestamp::from_micros(t0.micros() + s * 1_000_000);
        assert_eq!(state.drain_overrun(at(100)), None, "no drain announced");
        state.draining(at(20));
        assert_eq!(state.drain_overrun(at(20)), None);
        assert_eq!(state.drain_overrun(at(23)), Some(Duration::from_secs(3)));

        // A worker ending a large flow table hands on a report every few seconds: each
        // hand-over restarts its clock, so it never counts as stuck.
        for step in 0..10 {
            state.busy(0, at(step * 4));
            assert_eq!(state.stall(at(step * 4 + 4)), None);
        }
        state.idle(0);
        assert_eq!(state.stall(at(1000)), None, "a loop that left is not stuck");
    }
}
