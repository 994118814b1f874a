//! flowlake: Azure network flow logs (NSG v1/v2, VNet v4) into a partitioned Parquet lake,
//! and SQL over it.
//!
//! The data flow, one module per stage, each using only those before it:
//! [`store`] reaches local directories and object stores → [`source`] finds blobs → [`parse`] turns them into tuples → [`lake`] writes Parquet files
//! and commits them atomically → [`ingest`] orchestrates that exactly once → [`enrich`] knows
//! addresses (classes, sets and feeds, locations, the inventory's holders) as SQL functions →
//! [`query`] opens a DataFusion session over the lake with its tables, views and those
//! functions → [`cluster`] runs the same sessions on a Ballista cluster → [`report`] turns
//! queries into findings → [`output`] writes results; [`shell`] is the interactive front end.
//! Beside them: [`names`] spells the values users type once,
//! [`compact`] merges small files (and writes missing rollups), [`retain`] drops old days,
//! [`synth`] writes synthetic input, [`schema`]
//! defines the canonical `flows` table, [`addr`] the address classes, [`config`] reads
//! `flowlake.toml`, [`window`] turns `--since 7d` into time windows, [`nsg`] reads NSG
//! definitions.
#![warn(missing_docs)]

#[macro_use]
pub mod names;

pub mod addr;
pub mod cluster;
pub mod compact;
pub mod config;
pub mod enrich;
pub mod error;
pub mod ingest;
pub mod inventory;
pub mod lake;
pub mod nsg;
pub mod output;
pub mod parse;
pub mod query;
pub mod report;
pub mod retain;
pub mod schema;
pub mod shell;
pub mod source;
pub mod store;
pub mod synth;
pub mod window;

pub use error::{Error, Result};
