//! EVE-style JSON, one event per line.

use std::io::{self, Write};

use serde::Serialize;

use crate::assess::AssessStats;
use crate::engine::Stats;
use crate::event::{Event, EventSink};
use crate::time::Timestamp;

/// Writes each event as one JSON line.
pub struct JsonSink<W: Write> {
    out: W,
}

impl<W: Write> JsonSink<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// Writes the run's counters as a final `stats` event.
    ///
    /// # Errors
    /// The writer's I/O errors.
    pub fn stats(
        &mut self,
        timestamp: Timestamp,
        stats: &Stats,
        assessment: &AssessStats,
    ) -> io::Result<()> {
        #[derive(Serialize)]
        struct All<'a> {
            #[serde(flatten)]
            engine: &'a Stats,
            #[serde(flatten)]
            assessment: &'a AssessStats,
        }
        #[derive(Serialize)]
        struct StatsEvent<'a> {
            #[serde(serialize_with = "crate::time::serialize_eve")]
            timestamp: Timestamp,
            event_type: &'static str,
            stats: All<'a>,
        }
        let event = StatsEvent {
            timestamp,
            event_type: "stats",
            stats: All {
                engine: stats,
                assessment,
            },
        };
        serde_json::to_writer(&mut self.out, &event)?;
        self.out.write_all(b"\n")
    }

    /// Flushes and returns the writer.
    ///
    /// # Errors
    /// The writer's I/O errors.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> EventSink for JsonSink<W> {
    fn event(&mut self, event: Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, &event)?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
