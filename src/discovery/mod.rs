//! What the signature database does not know yet, and AI it cannot know by host: model
//! downloads from hubs ([`download`]) and destinations no signature matches, ranked within
//! a fixed memory ([`unknown`]). Self-hosted model servers are recognised by their routes
//! in `crate::signatures::model_servers`.

pub mod download;
pub mod sketch;
pub mod unknown;
