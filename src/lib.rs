//! flowlake: Azure network flow logs (NSG v1/v2, VNet v4) into a partitioned Parquet lake.
//!
//! The data flow, one module per stage:
//! [`source`] finds blobs → [`parse`] turns them into tuples → [`lake`] writes Parquet files
//! and commits them atomically → [`ingest`] orchestrates that exactly once;
//! [`query`] adds flowlake's SQL functions to DataFusion; [`compact`] merges small files; [`synth`] writes synthetic input. [`schema`] defines the
//! canonical `flows` table and [`addr`] the address classes stored in it.
#![warn(missing_docs)]

pub mod addr;
pub mod compact;
pub mod config;
pub mod error;
pub mod ingest;
pub mod lake;
pub mod output;
pub mod parse;
pub mod query;
pub mod schema;
pub mod shell;
pub mod source;
pub mod synth;

pub use error::{Error, Result};
