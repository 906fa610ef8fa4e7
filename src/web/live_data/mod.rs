//! Live Data: the connector catalogue, the wizard and the Data Sources page.
pub mod sources;
