//! The lake's `inventory` table in a session, and the index the `k8s_*` functions look
//! addresses up in ([`crate::enrich::k8s`]).
//!
//! Why: the table is the lake's (committed files, read like any table, on a cluster by a job
//! like any query); the index is enrichment's. This is where one becomes the other.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionContext, col, lit};
use datafusion::scalar::ScalarValue;

use crate::enrich::InventoryIndex;
use crate::lake::manifest::Manifest;
use crate::store::Location;

/// Registers the lake's `inventory` table in `ctx` (empty when nothing was imported) and
/// reads it into an index: every interval, or those overlapping `span` (`[since, until)` µs).
pub async fn load(
    ctx: &SessionContext,
    lake: &Location,
    manifest: &Manifest,
    span: Option<(i64, i64)>,
) -> crate::Result<InventoryIndex> {
    let files: Vec<&str> = manifest
        .dir_files(crate::lake::INVENTORY_DIR)
        .into_iter()
        .flatten()
        .map(|f| f.name.as_str())
        .collect();
    let schema = crate::inventory::table::schema();
    if files.is_empty() {
        ctx.register_table(
            "inventory",
            Arc::new(MemTable::try_new(schema, vec![vec![]])?),
        )?;
        return Ok(InventoryIndex::default());
    }
    // The table names each committed file rather than the directory: a cluster's scheduler
    // plans this table from the plan alone, and a listing of the directory there could show
    // an import's file before its commit.
    let dir = super::committed::register(ctx, lake, manifest, crate::lake::INVENTORY_DIR)?;
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(format!("{}{f}", dir.as_str())))
        .collect::<Result<Vec<_>>>()?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema.clone());
    ctx.register_table("inventory", Arc::new(ListingTable::try_new(config)?))?;
    let mut table = ctx.table("inventory").await?;
    if let Some((since, until)) = span {
        let tz = match schema.field_with_name("valid_from")?.data_type() {
            DataType::Timestamp(_, tz) => tz.clone(),
            _ => None,
        };
        let at = |us: i64| lit(ScalarValue::TimestampMicrosecond(Some(us), tz.clone()));
        table = table.filter(
            col("valid_from").lt(at(until)).and(
                col("valid_until")
                    .is_null()
                    .or(col("valid_until").gt(at(since))),
            ),
        )?;
    }
    // Through the session's guard: on a cluster this is a job like any query's.
    let batches = super::run::collect(table).await?;
    let mut intervals = Vec::with_capacity(batches.iter().map(|b| b.num_rows()).sum());
    let path = std::path::Path::new(crate::lake::INVENTORY_DIR);
    for b in &batches {
        crate::inventory::table::from_batch(b, path, &mut intervals)?;
    }
    drop(batches);
    Ok(InventoryIndex::new(
        intervals,
        format!("{}:{}:{span:?}", lake.name(), files.join(",")),
    ))
}
