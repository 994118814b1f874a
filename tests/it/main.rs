//! The integration tests (one binary, so DataFusion is linked once).

mod aks_scenario;
mod cli;
mod cluster;
mod common;
mod exactly_once;
mod feeds;
mod geo;
mod inventory;
mod malformed;
mod readers;
mod regressions;
mod remote;
mod reports;
mod retention;
mod safety;
mod samples;
mod shell;
mod sql;
