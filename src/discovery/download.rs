//! The `model_download` event's record: a flow that brought model files in from a hub or
//! registry the signature database knows (kind `model_hub`).

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::protocols::flow::FlowInfo;
use crate::protocols::roles::Record;
use crate::time::Timestamp;

/// The smallest download written as a `model_download` event: model weights run from
/// megabytes (a quantised small model) to hundreds of gigabytes, while a hub's metadata
/// answers (a model card, a manifest, a config) stay under it.
pub const MIN_BYTES: u64 = 1 << 20;

/// One flow's download from a model hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelDownloadInfo {
    /// The hub's host name as the flow named it (SNI, Host or DNS name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub: Option<String>,
    /// Bytes received from the hub (the flow's `bytes_toclient`, headers included).
    pub bytes: u64,
    /// Bytes sent to it.
    pub bytes_sent: u64,
    #[serde(serialize_with = "crate::time::serialize_eve")]
    pub start: Timestamp,
    #[serde(serialize_with = "crate::time::serialize_eve")]
    pub end: Timestamp,
}

impl ModelDownloadInfo {
    /// The download a finished flow to a hub made, when it is large enough to be one.
    pub fn of(flow: &FlowInfo) -> Option<Self> {
        (flow.bytes_toclient >= MIN_BYTES).then(|| Self {
            hub: flow
                .sni
                .clone()
                .or_else(|| flow.http_host.clone())
                .or_else(|| flow.dns_name.clone()),
            bytes: flow.bytes_toclient,
            bytes_sent: flow.bytes_toserver,
            start: flow.start,
            end: flow.end,
        })
    }
}

impl Record for ModelDownloadInfo {
    const EVENT_TYPE: &'static str = "model_download";

    /// A summary of its flow, whose own record has been written already.
    const ABOUT_ITS_FLOW: bool = false;

    fn write_alert_app<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        self.write_eve(m)
    }
}
