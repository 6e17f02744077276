//! The live sensor's outputs — the event stream and the alert sinks — made so that one
//! failing output never costs the others their data.
//!
//! A failed write (a full disk, a broken stdout pipe, a file that SIGHUP cannot open
//! again) is recorded in [`OutputHealth`] instead of unwinding the output loop: the
//! sensor then stops as it would on SIGTERM, so the workers end their flows, the
//! inventory and the other sinks get everything, and the exit status and the last log
//! line name the failure and what it cost. Once the event stream has failed, its events
//! are counted, not written: a half-written stream is not resumed behind a gap.

use std::io::{self, BufWriter, Stdout, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::alert::Severity;
use crate::alert::sinks::{AlertSink, SinkStats};
use crate::sink::reopening::ReopeningFile;

/// What went wrong with the outputs, shared by them and read by the output loop.
#[derive(Debug, Default)]
pub struct OutputHealth {
    failed: AtomicBool,
    /// The first failure, as the log and the exit message give it.
    cause: Mutex<Option<String>>,
    /// Events not written because the event stream had failed.
    events_lost: AtomicU64,
}

impl OutputHealth {
    /// Records a failure; the first one is the sensor's reason to stop.
    pub fn fail(&self, cause: String) {
        tracing::error!(error = %cause, "An output failed; the sensor drains and stops.");
        let mut first = self.cause.lock().unwrap_or_else(PoisonError::into_inner);
        first.get_or_insert(cause);
        self.failed.store(true, Ordering::Relaxed);
    }

    /// The first failure, if an output has failed.
    pub fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Relaxed) {
            return None;
        }
        self.cause
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Events that were not written.
    pub fn events_lost(&self) -> u64 {
        self.events_lost.load(Ordering::Relaxed)
    }

    fn lose_events(&self, n: u64) {
        self.events_lost.fetch_add(n, Ordering::Relaxed);
    }
}

/// Events in `bytes` of JSON lines: each ends with a newline, and no JSON text holds a
/// raw one.
fn events_in(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.iter().filter(|&&b| b == b'\n').count()).unwrap_or(u64::MAX)
}

/// Where events are written: stdout, or a file reopened (at the next flush) once asked.
enum Target {
    Stdout(BufWriter<Stdout>),
    File(ReopeningFile),
    /// The stream failed; nothing more is written.
    Failed,
}

/// The event stream. Its writes never fail: a failure is recorded in [`OutputHealth`],
/// what was buffered and everything after it is counted as lost events.
pub struct EventOut {
    target: Target,
    /// Where the events go, for messages.
    name: String,
    health: Arc<OutputHealth>,
}

impl EventOut {
    /// Events to `path` (stdout when `None` or `-`), reopened when `reopen` is set.
    ///
    /// # Errors
    /// The file cannot be opened for appending.
    pub fn open(
        path: Option<&Path>,
        reopen: &Arc<AtomicBool>,
        health: Arc<OutputHealth>,
    ) -> io::Result<Self> {
        let (target, name) = match path {
            Some(p) if p.as_os_str() != "-" => (
                Target::File(ReopeningFile::open(p, Arc::clone(reopen))?),
                p.display().to_string(),
            ),
            _ => (
                Target::Stdout(BufWriter::new(io::stdout())),
                "stdout".to_owned(),
            ),
        };
        Ok(Self {
            target,
            name,
            health,
        })
    }

    /// Gives up on the stream after `error`: what it still buffered, and `unwritten`,
    /// count as lost events; nothing is tried again (a later success would leave a gap
    /// that a reader could not see).
    fn fail(&mut self, error: &io::Error, unwritten: &[u8]) {
        let buffered = match std::mem::replace(&mut self.target, Target::Failed) {
            Target::Stdout(s) => s.into_parts().1.unwrap_or_default(),
            Target::File(f) => f.into_unwritten(),
            Target::Failed => Vec::new(),
        };
        self.health
            .lose_events(events_in(&buffered).saturating_add(events_in(unwritten)));
        self.health
            .fail(format!("writing events to {}: {error}", self.name));
    }
}

impl Write for EventOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = match &mut self.target {
            Target::Stdout(s) => s.write(buf),
            Target::File(f) => f.write(buf),
            Target::Failed => {
                self.health.lose_events(events_in(buf));
                return Ok(buf.len());
            }
        };
        if let Err(e) = &written {
            self.fail(e, buf);
            return Ok(buf.len());
        }
        written
    }

    /// The output loop flushes between events, so this is where a file is reopened. A
    /// file that cannot be opened again stops the sensor, but the one in hand still
    /// takes the drain's events.
    fn flush(&mut self) -> io::Result<()> {
        let flushed = match &mut self.target {
            Target::Stdout(s) => s.flush(),
            Target::File(f) => f.flush(),
            Target::Failed => return Ok(()),
        };
        if let Err(e) = flushed {
            self.fail(&e, &[]);
            return Ok(());
        }
        if let Target::File(f) = &mut self.target
            && let Err(e) = f.reopen_if_asked()
        {
            self.health.fail(format!("reopening the event file: {e}"));
        }
        Ok(())
    }
}

/// An alert sink whose write errors are counted as failed alerts and recorded as the
/// sensor's reason to stop, instead of ending the output loop.
pub struct GuardedSink {
    inner: Box<dyn AlertSink>,
    /// Alerts the sink refused.
    refused: u64,
    health: Arc<OutputHealth>,
}

impl GuardedSink {
    pub fn new(inner: Box<dyn AlertSink>, health: Arc<OutputHealth>) -> Self {
        Self {
            inner,
            refused: 0,
            health,
        }
    }

    fn counted(&self, mut stats: SinkStats) -> SinkStats {
        stats.failed = stats.failed.saturating_add(self.refused);
        stats
    }
}

impl AlertSink for GuardedSink {
    fn alert(&mut self, severity: Severity, json: &[u8]) -> io::Result<()> {
        if let Err(e) = self.inner.alert(severity, json) {
            if self.refused == 0 {
                self.health.fail(format!(
                    "writing alerts to {}: {e}",
                    self.inner.stats().sink
                ));
            }
            self.refused = self.refused.saturating_add(1);
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<SinkStats> {
        let stats = match self.inner.finish() {
            Ok(stats) => stats,
            Err(e) => {
                let stats = self.inner.stats();
                self.health
                    .fail(format!("finishing alerts to {}: {e}", stats.sink));
                stats
            }
        };
        Ok(self.counted(stats))
    }

    fn stats(&self) -> SinkStats {
        self.counted(self.inner.stats())
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_in_counts_whole_lines() {
        assert_eq!(events_in(b"{}\n{}\n{\"a"), 2);
        assert_eq!(events_in(b""), 0);
    }

    #[test]
    fn a_failing_alert_sink_is_counted_and_stops_the_sensor_without_an_error() {
        struct Refusing;
        impl AlertSink for Refusing {
            fn alert(&mut self, _: Severity, _: &[u8]) -> io::Result<()> {
                Err(io::Error::from_raw_os_error(libc::ENOSPC))
            }
            fn finish(&mut self) -> io::Result<SinkStats> {
                Ok(self.stats())
            }
            fn stats(&self) -> SinkStats {
                SinkStats {
                    sink: "file:/full/alerts.json".into(),
                    ..SinkStats::default()
                }
            }
            fn kind(&self) -> &'static str {
                "file"
            }
        }
        let health = Arc::new(OutputHealth::default());
        let mut sink = GuardedSink::new(Box::new(Refusing), Arc::clone(&health));
        for _ in 0..3 {
            sink.alert(Severity::High, b"{}").unwrap();
        }
        let stats = sink.finish().unwrap();
        assert_eq!(stats.failed, 3);
        let cause = health.failure().expect("the failure is recorded");
        assert!(cause.contains("file:/full/alerts.json"), "{cause}");
        assert_eq!(health.events_lost(), 0, "the event stream is not at fault");
    }
}
