//! A sync run's parts: the plain data is `domain::live_data::runs`; the runner
//! (`jobs`) and the work (`sync`) fill it.
pub use crate::domain::live_data::runs::*;
