//! The `inventory` table: its columns (single source for the Arrow schema and
//! docs/SCHEMA.md), and intervals to and from its Parquet file.
//!
//! Why: the intervals are small next to the flows (one row per address binding, not per
//! packet), are re-merged on every import, and must be readable by pandas, polars and DuckDB
//! with nothing but the path, like `flows`. One Parquet file under `LAKE/inventory/`, sorted
//! by address and start, replaced by each import's commit, does all of that.

use std::fs::File;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{SchemaRef, TimestampMicrosecondType};
use parquet::arrow::ArrowWriter;

use super::intervals::{Certainty, Interval};
use super::{AddrKind, BindingKey, Holder};
use crate::error::{Error, IoContext, Result};
use crate::lake::manifest::FileEntry;
use crate::schema::{ColType, Column, arrow_schema, col};

const K8S: &str = "kubectl";
const ALL: &str = "kubectl, az";

/// The columns of `inventory`, in file order.
pub const COLUMNS: &[Column] = &[
    col(
        "cluster",
        ColType::Text,
        false,
        ALL,
        "Cluster (or Azure estate) name given to `inventory import --cluster` (default `default`).",
    ),
    col(
        "address",
        ColType::Text,
        false,
        ALL,
        "The address, canonical text (IPv4-mapped IPv6 as IPv4), as `flows.src_ip`/`dst_ip` hold it.",
    ),
    col(
        "kind",
        ColType::Text,
        false,
        ALL,
        "What held it: `pod`, `service_cluster_ip`, `load_balancer_ip`, `external_ip`, `node`, `nic`.",
    ),
    col(
        "namespace",
        ColType::Text,
        true,
        K8S,
        "Namespace of a pod or Service.",
    ),
    col(
        "name",
        ColType::Text,
        false,
        ALL,
        "Name of the pod, Service, node or NIC.",
    ),
    col(
        "uid",
        ColType::Text,
        false,
        ALL,
        "The holder's `metadata.uid` (namespace/name when the file has none), or the NIC's resource id, lower-cased.",
    ),
    col(
        "workload_kind",
        ColType::Text,
        true,
        K8S,
        "Workload kind after owner references: Deployment, StatefulSet, DaemonSet, CronJob, Job, ReplicaSet, StaticPod, or Pod for a bare pod; for a Service, its pods' workload when they share one.",
    ),
    col(
        "workload",
        ColType::Text,
        true,
        K8S,
        "Workload name (Pod → ReplicaSet → Deployment, Job → CronJob; the `pod-template-hash` label when the ReplicaSet is not in the file).",
    ),
    col(
        "node",
        ColType::Text,
        true,
        ALL,
        "Node of a pod, the node itself, or the AKS node of a scale-set NIC.",
    ),
    col(
        "labels",
        ColType::Text,
        true,
        ALL,
        "Labels (Kubernetes) or tags (Azure) as a JSON object.",
    ),
    col(
        "host_network",
        ColType::Boolean,
        false,
        K8S,
        "The pod shares its node's network namespace (its address is the node's).",
    ),
    col(
        "mac",
        ColType::Text,
        true,
        "az",
        "MAC address of a NIC, `00-0D-3A-F8-78-56` form like `flows.mac`.",
    ),
    col(
        "vm",
        ColType::Text,
        true,
        ALL,
        "A NIC's VM or scale-set instance id, or a node's `spec.providerID`.",
    ),
    col(
        "ports",
        ColType::Text,
        true,
        K8S,
        "A Service's ports as JSON: `[{\"protocol\",\"port\",\"targetPort\",\"nodePort\"}]`.",
    ),
    col(
        "valid_from",
        ColType::Timestamp,
        false,
        ALL,
        "Start of the binding: the object's own start when known, else its first sighting; with an `unknown` start, the end of the address's previous holder (1970-01-01 without one).",
    ),
    col(
        "valid_from_certainty",
        ColType::Text,
        false,
        ALL,
        "`exact` (object time: `status.startTime`, `creationTimestamp`), `bounded` (began after `earliest_from`, by `valid_from`) or `unknown` (no time of its own and in the first listing of its kind: held before it was listed, since when is not known; `first_seen` is when it was first listed).",
    ),
    col(
        "earliest_from",
        ColType::Timestamp,
        true,
        ALL,
        "With a bounded start: the snapshot before the first sighting, after which it began.",
    ),
    col(
        "valid_until",
        ColType::Timestamp,
        true,
        ALL,
        "End (exclusive): the object's own end, else the first later snapshot without it or a watch deletion; null while held.",
    ),
    col(
        "valid_until_certainty",
        ColType::Text,
        false,
        ALL,
        "`exact` (`deletionTimestamp`, containers' `finishedAt`), `bounded` (ended after `last_seen`, by `valid_until`) or `open`.",
    ),
    col(
        "first_seen",
        ColType::Timestamp,
        true,
        ALL,
        "First snapshot that listed it.",
    ),
    col(
        "last_seen",
        ColType::Timestamp,
        true,
        ALL,
        "Last snapshot that listed it.",
    ),
    col(
        "object_start",
        ColType::Timestamp,
        true,
        K8S,
        "Start from the object's own times.",
    ),
    col(
        "object_end",
        ColType::Timestamp,
        true,
        K8S,
        "End from the object's own times.",
    ),
    col(
        "gone_by",
        ColType::Timestamp,
        true,
        K8S,
        "A watch stream saw it deleted by this time (the stream's time), with no time of its own.",
    ),
    col(
        "observed_at",
        ColType::Timestamp,
        false,
        ALL,
        "Time of the observation the holder details come from.",
    ),
];

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| arrow_schema(COLUMNS));

/// Arrow schema of the inventory file.
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The column reference as Markdown (in docs/SCHEMA.md).
pub fn markdown() -> String {
    crate::schema::markdown_table(COLUMNS)
}

fn text<'a>(v: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(v.collect::<StringArray>())
}

fn ts(v: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(
        v.collect::<TimestampMicrosecondArray>()
            .with_timezone("UTC"),
    )
}

/// The intervals as one record batch of [`COLUMNS`].
pub fn to_batch(rows: &[Interval]) -> Result<RecordBatch> {
    let r = || rows.iter();
    let columns: Vec<ArrayRef> = vec![
        text(r().map(|i| Some(i.key.cluster.as_str()))),
        text(r().map(|i| Some(i.key.address.as_str()))),
        text(r().map(|i| Some(i.key.kind.as_str()))),
        text(r().map(|i| i.holder.namespace.as_deref())),
        text(r().map(|i| Some(i.holder.name.as_str()))),
        text(r().map(|i| Some(i.key.uid.as_str()))),
        text(r().map(|i| i.holder.workload_kind.as_deref())),
        text(r().map(|i| i.holder.workload.as_deref())),
        text(r().map(|i| i.holder.node.as_deref())),
        text(r().map(|i| i.holder.labels.as_deref())),
        Arc::new(
            r().map(|i| Some(i.holder.host_network))
                .collect::<BooleanArray>(),
        ),
        text(r().map(|i| i.holder.mac.as_deref())),
        text(r().map(|i| i.holder.vm.as_deref())),
        text(r().map(|i| i.holder.ports.as_deref())),
        ts(r().map(|i| Some(i.valid_from))),
        text(r().map(|i| Some(i.from_certainty.as_str()))),
        ts(r().map(|i| i.earliest_from)),
        ts(r().map(|i| i.valid_until)),
        text(r().map(|i| Some(i.until_certainty.as_str()))),
        ts(r().map(|i| i.first_seen)),
        ts(r().map(|i| i.last_seen)),
        ts(r().map(|i| i.object_start)),
        ts(r().map(|i| i.object_end)),
        ts(r().map(|i| i.gone_by)),
        ts(r().map(|i| Some(i.observed_at))),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// Intervals back from a batch of [`COLUMNS`] (`path` names the file in errors).
pub fn from_batch(b: &RecordBatch, path: &Path, out: &mut Vec<Interval>) -> Result<()> {
    let bad = |m: String| Error::Lake {
        path: path.to_path_buf(),
        message: m,
    };
    if b.schema().fields().len() != COLUMNS.len() {
        return Err(bad(format!(
            "inventory file has {} columns, expected {}",
            b.schema().fields().len(),
            COLUMNS.len()
        )));
    }
    // Readers may hand strings back as views or large strings: one form here.
    let columns: Vec<ArrayRef> = b
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            arrow::datatypes::DataType::Utf8View | arrow::datatypes::DataType::LargeUtf8 => {
                arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)
            }
            _ => Ok(c.clone()),
        })
        .collect::<std::result::Result<_, _>>()?;
    let s = |i: usize| columns[i].as_string::<i32>();
    let t = |i: usize| columns[i].as_primitive::<TimestampMicrosecondType>();
    let opt_s = |i: usize, r: usize| {
        let a = s(i);
        a.is_valid(r).then(|| a.value(r).to_string())
    };
    let opt_t = |i: usize, r: usize| {
        let a = t(i);
        a.is_valid(r).then(|| a.value(r))
    };
    let host = columns[10].as_boolean();
    for r in 0..b.num_rows() {
        let kind = AddrKind::parse(s(2).value(r))
            .ok_or_else(|| bad(format!("unknown kind {:?}", s(2).value(r))))?;
        let cert = |i: usize| {
            Certainty::parse(s(i).value(r))
                .ok_or_else(|| bad(format!("unknown certainty {:?}", s(i).value(r))))
        };
        out.push(Interval {
            key: BindingKey {
                cluster: s(0).value(r).to_string(),
                address: s(1).value(r).to_string(),
                kind,
                uid: s(5).value(r).to_string(),
            },
            holder: Holder {
                namespace: opt_s(3, r),
                name: s(4).value(r).to_string(),
                workload_kind: opt_s(6, r),
                workload: opt_s(7, r),
                node: opt_s(8, r),
                labels: opt_s(9, r),
                host_network: host.value(r),
                mac: opt_s(11, r),
                vm: opt_s(12, r),
                ports: opt_s(13, r),
            },
            valid_from: t(14).value(r),
            from_certainty: cert(15)?,
            earliest_from: opt_t(16, r),
            valid_until: opt_t(17, r),
            until_certainty: cert(18)?,
            first_seen: opt_t(19, r),
            last_seen: opt_t(20, r),
            object_start: opt_t(21, r),
            object_end: opt_t(22, r),
            gone_by: opt_t(23, r),
            observed_at: t(24).value(r),
        });
    }
    Ok(())
}

/// Writes `rows` to `dir/name` (sorted by address, then start) and describes the file for
/// the manifest.
pub fn write(dir: &Path, name: &str, rows: &mut [Interval]) -> Result<FileEntry> {
    rows.sort_by(|a, b| {
        (&a.key.address, a.valid_from, &a.key).cmp(&(&b.key.address, b.valid_from, &b.key))
    });
    std::fs::create_dir_all(dir).ctx("create directory", dir)?;
    let path = dir.join(name);
    let perr = |source| Error::Parquet {
        path: path.clone(),
        source,
    };
    let file = File::create(&path).ctx("create", &path)?;
    let props = crate::lake::file::writer_properties(3, crate::lake::file::ROW_GROUP_ROWS);
    let mut w = ArrowWriter::try_new(file, schema(), Some(props)).map_err(perr)?;
    w.write(&to_batch(rows)?).map_err(perr)?;
    let file = w.into_inner().map_err(perr)?;
    file.sync_all().ctx("sync", &path)?;
    let bytes = file.metadata().ctx("stat", &path)?.len();
    Ok(FileEntry {
        name: name.to_string(),
        rows: rows.len() as u64,
        bytes,
        blobs: vec![],
        min_time_us: rows.iter().map(|r| r.valid_from).min().unwrap_or(0),
        max_time_us: rows
            .iter()
            .map(|r| r.valid_until.unwrap_or(r.valid_from))
            .max()
            .unwrap_or(0),
    })
}

/// Reads every interval of an inventory file.
pub fn read(path: &Path) -> Result<Vec<Interval>> {
    let mut out = Vec::new();
    crate::lake::file::read_batches(path, |b| from_batch(&b, path, &mut out))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::intervals::merge;
    use crate::inventory::{Observation, intervals::Snapshots};

    #[test]
    fn intervals_round_trip_through_parquet() {
        let o = Observation {
            key: BindingKey {
                cluster: "aks".into(),
                address: "10.244.1.7".into(),
                kind: AddrKind::Pod,
                uid: "u1".into(),
            },
            holder: Holder {
                namespace: Some("shop".into()),
                name: "web-5d8f-abcde".into(),
                workload_kind: Some("Deployment".into()),
                workload: Some("web".into()),
                node: Some("n1".into()),
                labels: Some(r#"{"app":"web"}"#.into()),
                host_network: false,
                ..Holder::default()
            },
            seen: Some(2_000),
            start: Some(1_000),
            end: None,
            gone_by: None,
            observed_at: 2_000,
        };
        let mut rows = merge(vec![], vec![o], &Snapshots::new());
        let dir = tempfile::tempdir().unwrap();
        let entry = write(dir.path(), "i.parquet", &mut rows).unwrap();
        assert_eq!(entry.rows, 1);
        assert_eq!(read(&dir.path().join("i.parquet")).unwrap(), rows);
        assert_eq!(COLUMNS.len(), schema().fields().len());
    }
}
