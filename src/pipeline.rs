//! The one chain every event goes through after the engine, for `scan` and `run` alike:
//! judge (landing, policy, deduplicated alerts) → metrics (live only) → inventory → the
//! output sink. [`Pipeline::build`] wires it; [`Pipeline::finish`] writes the alert
//! summaries and lets the alert sinks deliver what they queued while the inventory
//! writes its last batch.

use std::sync::Arc;
use std::time::Instant;

use crate::alert::sinks::AlertSink;
use crate::assess::{AssessStats, Assessor};
use crate::event::EventSink;
use crate::inventory::store::{Store, StoreError};
use crate::inventory::writer::WriterStats;
use crate::inventory::{InventoryOptions, InventorySink, KnownPairs, PolicyHandle};
use crate::landing::LandingContext;
use crate::metrics::{Metrics, MetricsSink, OpenAiFlows};
use crate::policy::Policy;

/// What the chain is made of.
pub struct Stages {
    pub landing: Arc<LandingContext>,
    pub policy: Option<Arc<Policy>>,
    /// Where alerts go besides the event stream.
    pub alert_sinks: Vec<Box<dyn AlertSink>>,
    /// The inventory to record flows in, when one is kept.
    pub inventory: Option<(Store, InventoryOptions)>,
    /// The policy the inventory names networks by; replaced on reload.
    pub policy_handle: PolicyHandle,
    /// The live sensor's counters and its view of open AI flows; none offline.
    pub metrics: Option<(Arc<Metrics>, OpenAiFlows)>,
}

/// The judge, at the head of the chain, with the stages behind it.
pub type Judge<O> = Assessor<MetricsSink<InventorySink<O>>>;

/// The wired chain, ending in the output sink `O`.
pub struct Pipeline<O> {
    judge: Judge<O>,
    inventory_stats: Option<Arc<WriterStats>>,
}

/// How the chain ended.
pub struct Finished {
    pub assessment: AssessStats,
    /// The first alert output failure (summaries not written, a sink that failed).
    pub alerts_failure: Option<String>,
    /// Why the inventory's last batch was not written, when it was not.
    pub inventory_failure: Option<StoreError>,
}

impl<O: EventSink> Pipeline<O> {
    /// Wires the stages in front of `out`; with an inventory, the (internal host, vendor)
    /// pairs it already holds are not new to the judge.
    ///
    /// # Errors
    /// The inventory cannot be read or written.
    pub fn build(stages: Stages, out: O) -> Result<Self, StoreError> {
        let mut known = KnownPairs::default();
        let inventory = match stages.inventory {
            Some((store, options)) => {
                known = KnownPairs::load(&store, options.pseudonymiser.clone())?;
                InventorySink::new(store, options, stages.policy_handle, out)?
            }
            None => InventorySink::disabled(out),
        };
        let inventory_stats = inventory.writer_stats();
        let counted = match stages.metrics {
            Some((metrics, open)) => MetricsSink::new(metrics, open, inventory),
            None => MetricsSink::pass_through(inventory),
        };
        let mut judge = Assessor::new(stages.landing, stages.policy, counted, stages.alert_sinks);
        judge.set_known_pairs(known);
        Ok(Self {
            judge,
            inventory_stats,
        })
    }

    /// The head of the chain: where events go in.
    pub fn judge(&mut self) -> &mut Judge<O> {
        &mut self.judge
    }

    /// The inventory writer's counters, when an inventory is kept.
    pub fn inventory_stats(&self) -> Option<&Arc<WriterStats>> {
        self.inventory_stats.as_ref()
    }

    /// Writes the summaries of open deduplication windows, then delivers the alerts the
    /// sinks still queue and the inventory's last batch side by side — so a slow webhook
    /// cannot eat the inventory's time — the inventory by `deadline` when one is given.
    pub fn finish(self, deadline: Option<Instant>) -> Finished {
        let (mut assessment, mut alert_sinks, closed, counted) = self.judge.close();
        let mut alerts_failure = closed
            .err()
            .map(|e| format!("writing alert summaries: {e}"));
        let inventory = counted.into_inner();
        let inventory_failure = std::thread::scope(|scope| {
            let delivered = scope.spawn(move || {
                alert_sinks
                    .iter_mut()
                    .map(|sink| sink.finish())
                    .collect::<Vec<_>>()
            });
            let written = match deadline {
                Some(deadline) => inventory.finish_by(deadline),
                None => inventory.finish(),
            };
            match delivered.join() {
                Ok(finished) => {
                    for stats in finished {
                        match stats {
                            Ok(stats) => assessment.sinks.push(stats),
                            Err(e) => {
                                alerts_failure
                                    .get_or_insert_with(|| format!("delivering alerts: {e}"));
                            }
                        }
                    }
                }
                Err(_) => {
                    alerts_failure
                        .get_or_insert_with(|| "the alert sinks panicked while draining".into());
                }
            }
            written.err()
        });
        Finished {
            assessment,
            alerts_failure,
            inventory_failure,
        }
    }
}
