//! Live Data: the connector catalogue, the wizard, the Data Sources page,
//! sync progress and history, and Diagnostics.
pub mod diagnostics;
pub mod progress;
pub mod sources;
