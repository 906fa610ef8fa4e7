//! Ontology: entities and their source-linked spreadsheets.
pub mod entities;
