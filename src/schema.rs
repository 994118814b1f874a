//! The canonical `flows` table: one row per flow tuple, for every provider.
//!
//! Why: every later stage (SQL, reports, notebooks) depends on one stable schema. The column list
//! below is the single source of truth: the Arrow schema, the Parquet metadata and the column
//! reference in `docs/SCHEMA.md` (`flowlake schema --markdown`) are all derived from it.
//! Only signed integers, UTF-8 strings and UTC microsecond timestamps are used, so pandas,
//! polars, DuckDB, Spark and DataFusion read the files with no options.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Version of the lake schema, stored in every Parquet file (`flowlake.schema_version`) and in
/// the lake manifest. Bump it on any change to the column list.
pub const SCHEMA_VERSION: u32 = 1;

/// Parquet key-value metadata key holding [`SCHEMA_VERSION`].
pub const SCHEMA_VERSION_KEY: &str = "flowlake.schema_version";

/// Name of the Hive partition column (directory `date=YYYY-MM-DD`, UTC date of the tuple time).
pub const PARTITION_COLUMN: &str = "date";

/// Logical type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// UTC timestamp with microsecond precision.
    Timestamp,
    /// UTF-8 text.
    Text,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// True or false.
    Boolean,
}

impl ColType {
    fn arrow(self) -> DataType {
        match self {
            ColType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColType::Text => DataType::Utf8,
            ColType::Int32 => DataType::Int32,
            ColType::Int64 => DataType::Int64,
            ColType::Boolean => DataType::Boolean,
        }
    }

    fn doc_name(self) -> &'static str {
        match self {
            ColType::Timestamp => "timestamp(us, UTC)",
            ColType::Text => "string",
            ColType::Int32 => "int32",
            ColType::Int64 => "int64",
            ColType::Boolean => "boolean",
        }
    }
}

/// One column of the canonical table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Column name.
    pub name: &'static str,
    /// Type.
    pub ty: ColType,
    /// False when every row has a value.
    pub nullable: bool,
    /// Which input formats fill it.
    pub filled_by: &'static str,
    /// What it means.
    pub doc: &'static str,
}

pub(crate) const fn col(
    name: &'static str,
    ty: ColType,
    nullable: bool,
    filled_by: &'static str,
    doc: &'static str,
) -> Column {
    Column {
        name,
        ty,
        nullable,
        filled_by,
        doc,
    }
}

/// The formats a column comes from: all of them.
pub(crate) const ALL: &str = "NSG v1, NSG v2, VNet v4";
const NSG: &str = "NSG v1, NSG v2";
const V2_V4: &str = "NSG v2, VNet v4";
/// VNet flow logs only.
pub(crate) const VNET: &str = "VNet v4";

use ColType::*;

/// The columns of `flows`, in file order.
pub const COLUMNS: &[Column] = &[
    col(
        "time",
        Timestamp,
        false,
        ALL,
        "Tuple time: when the flow event (begin, continuation, end, deny) was observed. VNet millisecond and second timestamps are told apart by magnitude.",
    ),
    col(
        "record_time",
        Timestamp,
        false,
        ALL,
        "Time of the record (one per minute per NIC) that carried the tuple.",
    ),
    col("provider", Text, false, ALL, "`azure_nsg` or `azure_vnet`."),
    col(
        "log_version",
        Int32,
        false,
        ALL,
        "Format version: 1 or 2 for NSG flow logs (`properties.Version`), 4 for VNet flow logs (`flowLogVersion`).",
    ),
    col(
        "resource_id",
        Text,
        false,
        ALL,
        "Resource id of the NSG (NSG logs) or of the flow log (VNet logs), as written by Azure.",
    ),
    col(
        "target_resource_id",
        Text,
        true,
        VNET,
        "Resource the VNet flow log is attached to (VNet, subnet or NIC).",
    ),
    col(
        "subscription_id",
        Text,
        true,
        ALL,
        "Subscription id, lower-cased; from the target resource for VNet logs, else from the NSG id.",
    ),
    col(
        "resource_group",
        Text,
        true,
        ALL,
        "Resource group, lower-cased (Azure names are case-insensitive); same source as `subscription_id`.",
    ),
    col(
        "nsg_name",
        Text,
        true,
        NSG,
        "Name of the NSG, lower-cased, when the resource id names one.",
    ),
    col(
        "acl_id",
        Text,
        true,
        VNET,
        "`aclID` of the flow group (the NSG or admin rule set that decided).",
    ),
    col(
        "mac",
        Text,
        true,
        ALL,
        "MAC address of the NIC, normalised to `00-0D-3A-F8-78-56` form (raw text kept when it is not 12 hex digits).",
    ),
    col(
        "rule",
        Text,
        false,
        ALL,
        "Name of the rule that decided the flow (`DefaultRule_...`, `UserRule_...`, platform rule names or `unspecified`).",
    ),
    col(
        "src_ip",
        Text,
        false,
        ALL,
        "Source address in canonical text (IPv4 dotted quad, IPv6 RFC 5952).",
    ),
    col(
        "dst_ip",
        Text,
        false,
        ALL,
        "Destination address in canonical text.",
    ),
    col("src_port", Int32, false, ALL, "Source port, 0..65535."),
    col("dst_port", Int32, false, ALL, "Destination port, 0..65535."),
    col(
        "protocol",
        Text,
        true,
        ALL,
        "Protocol keyword (`tcp`, `udp`, `icmp`, ...) from the IANA registry; null for numbers without a keyword here.",
    ),
    col(
        "protocol_number",
        Int32,
        false,
        ALL,
        "IANA protocol number (NSG `T` = 6, `U` = 17).",
    ),
    col(
        "direction",
        Text,
        false,
        ALL,
        "`inbound` or `outbound`, seen from the NIC.",
    ),
    col(
        "decision",
        Text,
        false,
        ALL,
        "`allow` or `deny` (VNet state `D` means deny).",
    ),
    col(
        "flow_state",
        Text,
        true,
        V2_V4,
        "`begin`, `continuing`, `end` or `deny`; null for NSG v1, which has no state.",
    ),
    col(
        "encryption",
        Text,
        true,
        VNET,
        "VNet encryption status: `X`, `NX`, `NX_HW_NOT_SUPPORTED`, ...",
    ),
    col(
        "packets_src_to_dst",
        Int64,
        true,
        V2_V4,
        "Packets source to destination since the previous tuple of the same flow (a delta); null when the tuple has no counter.",
    ),
    col(
        "bytes_src_to_dst",
        Int64,
        true,
        V2_V4,
        "Bytes source to destination, delta as above; null when absent (e.g. begin rows, stateless rules).",
    ),
    col(
        "packets_dst_to_src",
        Int64,
        true,
        V2_V4,
        "Packets destination to source, delta as above.",
    ),
    col(
        "bytes_dst_to_src",
        Int64,
        true,
        V2_V4,
        "Bytes destination to source, delta as above.",
    ),
    col(
        "src_class",
        Text,
        false,
        ALL,
        "Class of `src_ip` computed at ingest: private, public, loopback, link_local, cgnat, multicast, documentation, benchmarking, reserved, unspecified, broadcast, azure_platform.",
    ),
    col(
        "dst_class",
        Text,
        false,
        ALL,
        "Class of `dst_ip`, as above.",
    ),
    col(
        "source_blob",
        Text,
        false,
        ALL,
        "Lineage: the blob the row came from (absolute path or URL).",
    ),
    col(
        "source_record",
        Int32,
        false,
        ALL,
        "Lineage: index of the record (0-based) inside `source_blob`.",
    ),
];

/// Index of each column in [`COLUMNS`], for builders.
pub mod idx {
    #![allow(missing_docs)]
    pub const TIME: usize = 0;
    pub const SOURCE_BLOB: usize = 28;
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| arrow_schema(COLUMNS));

/// The Arrow schema of a column list.
pub fn arrow_schema(columns: &[Column]) -> SchemaRef {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(c.name, c.ty.arrow(), c.nullable))
        .collect();
    Arc::new(Schema::new(fields))
}

/// Arrow schema of the data files (without the partition column).
pub fn flows_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The `flows` column reference as a Markdown table (what `docs/SCHEMA.md` contains).
pub fn markdown() -> String {
    partitioned_markdown(COLUMNS, "time")
}

/// A partitioned table's column list as a Markdown table, ending in the partition column:
/// the UTC date of column `time`.
pub fn partitioned_markdown(columns: &[Column], time: &str) -> String {
    let mut s = markdown_table(columns);
    s.push_str(&format!(
        "| `{PARTITION_COLUMN}` | string (Hive partition `date=YYYY-MM-DD`) | no | {ALL} | UTC date of `{time}`; a directory, not a column inside the files. |\n"
    ));
    s
}

/// A column list as a Markdown table.
pub fn markdown_table(columns: &[Column]) -> String {
    let mut s =
        String::from("| column | type | null | filled by | meaning |\n|---|---|---|---|---|\n");
    for c in columns {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            c.name,
            c.ty.doc_name(),
            if c.nullable { "yes" } else { "no" },
            c.filled_by,
            c.doc
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_constants_match_columns() {
        assert_eq!(COLUMNS[idx::TIME].name, "time");
        assert_eq!(COLUMNS[idx::SOURCE_BLOB].name, "source_blob");
    }
}
