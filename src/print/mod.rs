//! What the command line prints for people and scripts besides events and reports: the
//! signature database's listings, matches and changes ([`signatures`]), and GeoIP answers
//! ([`geoip`]).

pub mod geoip;
pub mod signatures;
