//! The lake manifest: which data files make up `flows` and the other tables, and how far
//! each blob was read.
//!
//! Why: exactly-once ingest needs a record of every blob's checkpoint that changes in the same
//! atomic step as the data files holding its rows. The manifest is that record; it is replaced
//! as a whole (write to a new name, rename) by each commit.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// Value of [`Manifest::format`].
pub const FORMAT: &str = "flowlake-lake";

/// One Parquet file of the `flows` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// File name inside its partition directory.
    pub name: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Ids of the blobs ([`BlobState::id`]) that have rows in this file.
    pub blobs: Vec<u64>,
    /// Smallest `time` in the file (µs since epoch).
    pub min_time_us: i64,
    /// Largest `time` in the file (µs since epoch).
    pub max_time_us: i64,
}

/// How far a blob was read, and what it looked like then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobState {
    /// Short id used in [`FileEntry::blobs`].
    pub id: u64,
    /// Blob size when last read.
    pub size: u64,
    /// Modification time (ns since epoch) when last read, when the source has one.
    pub mtime_ns: Option<i64>,
    /// Checkpoint: byte offset just past the last complete record read.
    pub consumed: u64,
    /// xxh3-64 of the bytes before `consumed` (hex), to recognise growth versus rewrite;
    /// empty when the last read was a range read (a grown remote blob).
    pub prefix_hash: String,
    /// xxh3-64 (hex) of the up to 4 KiB before `consumed`: lets a grown remote blob be
    /// recognised from a range read. Absent in manifests written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_hash: Option<String>,
    /// Entity tag of a remote blob when last read (changes with every write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Records before `consumed`.
    pub records: u32,
    /// Tuples ingested from this blob (all versions since its last rewrite).
    pub tuples: u64,
    /// Items rejected from this blob (since its last rewrite).
    pub rejected: u64,
    /// True when the tail after `consumed` could not be parsed.
    pub broken: bool,
    /// True when the blob ended in a record still being written (it was in its hour or had
    /// just changed): it is read again by the next run even if it did not change.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// A data file no longer in the lake, kept on object storage for a while for readers still
/// planning on an older manifest (see `lake::remote`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Garbage {
    /// Path relative to the lake root (`flows/date=.../part-....parquet`).
    pub path: String,
    /// When the commit that removed it was made (seconds since epoch).
    pub removed_at: i64,
}

/// What the `inventory` table was built from: for exactly-once imports and to re-derive
/// interval ends when snapshots arrive out of order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryLog {
    /// Imported files by key (absolute path or URL).
    pub imports: BTreeMap<String, ImportRecord>,
    /// Snapshot times (µs since the epoch) by cluster, then object kind.
    pub snapshots: BTreeMap<String, BTreeMap<String, BTreeSet<i64>>>,
}

impl InventoryLog {
    /// True when nothing was ever imported.
    pub fn is_empty(&self) -> bool {
        self.imports.is_empty() && self.snapshots.is_empty()
    }
}

/// One imported inventory file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// xxh3-64 (hex) of the bytes imported: the same content is not imported again.
    pub hash: String,
    /// Cluster it was imported as.
    pub cluster: String,
    /// Its snapshot time (µs since the epoch).
    pub at_us: i64,
    /// The file's shape (`kubectl_list`, `kubectl_watch`, `az_nic_list`).
    pub shape: String,
}

/// The committed state of a lake. `B` holds the blob checkpoints: their map for writers, and
/// [`IgnoredAny`] for readers, which never look at them ([`Manifest::for_reading`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest<B = BTreeMap<String, BlobState>> {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`crate::schema::SCHEMA_VERSION`] of every data file.
    pub schema_version: u32,
    /// Number of the last committed transaction (0 for an empty lake).
    pub version: u64,
    /// Data files per partition directory (`date=YYYY-MM-DD`).
    pub partitions: BTreeMap<String, Vec<FileEntry>>,
    /// Data files of the lake's other tables, by directory relative to the lake root
    /// (`inventory`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tables: BTreeMap<String, Vec<FileEntry>>,
    /// What the `inventory` table was imported from.
    #[serde(default, skip_serializing_if = "InventoryLog::is_empty")]
    pub inventory: InventoryLog,
    /// Blob states by blob key.
    pub blobs: B,
    /// Next free blob id.
    pub next_blob_id: u64,
    /// Rejects files (names in `rejects/`) committed so far.
    #[serde(default)]
    pub rejects: Vec<String>,
    /// Removed data files not deleted yet (lakes on object storage only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub garbage: Vec<Garbage>,
    /// Token of the writer that holds, or last held, the write lock of a lake on object
    /// storage; rewriting it when the lock changes hands fences out the previous holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
}

impl Default for Manifest {
    fn default() -> Self {
        Manifest {
            format: FORMAT.to_string(),
            schema_version: crate::schema::SCHEMA_VERSION,
            version: 0,
            partitions: BTreeMap::new(),
            tables: BTreeMap::new(),
            inventory: InventoryLog::default(),
            blobs: BTreeMap::new(),
            next_blob_id: 1,
            rejects: Vec::new(),
            garbage: Vec::new(),
            writer: None,
        }
    }
}

impl Manifest<IgnoredAny> {
    /// The manifest a reader needs: everything but the blob checkpoints, which it parsed
    /// past without building them. They are most of a manifest (a month of 60 NICs: 43,200
    /// checkpoints, 23 MB) and only writers use them.
    pub fn for_reading(self) -> Manifest {
        Manifest {
            format: self.format,
            schema_version: self.schema_version,
            version: self.version,
            partitions: self.partitions,
            tables: self.tables,
            inventory: self.inventory,
            blobs: BTreeMap::new(),
            next_blob_id: self.next_blob_id,
            rejects: self.rejects,
            garbage: self.garbage,
            writer: self.writer,
        }
    }
}

impl Manifest {
    /// The files of the table directory `dir` (relative to the lake root: `flows/date=…`,
    /// `inventory`).
    pub fn dir_files(&self, dir: &str) -> Option<&Vec<FileEntry>> {
        match dir.strip_prefix("flows/") {
            Some(p) => self.partitions.get(p),
            None => self.tables.get(dir),
        }
    }

    /// The files of the table directory `dir`, created empty if needed.
    pub fn dir_files_mut(&mut self, dir: &str) -> &mut Vec<FileEntry> {
        match dir.strip_prefix("flows/") {
            Some(p) => self.partitions.entry(p.to_string()).or_default(),
            None => self.tables.entry(dir.to_string()).or_default(),
        }
    }

    /// Forgets the table directory `dir` (it has no files left).
    pub fn drop_dir(&mut self, dir: &str) {
        match dir.strip_prefix("flows/") {
            Some(p) => self.partitions.remove(p),
            None => self.tables.remove(dir),
        };
    }

    /// Every data file of every table, with its directory relative to the lake root.
    pub fn data_files(&self) -> impl Iterator<Item = (String, &FileEntry)> {
        let flows = self
            .partitions
            .iter()
            .flat_map(|(p, fs)| fs.iter().map(move |f| (format!("flows/{p}"), f)));
        let others = self
            .tables
            .iter()
            .flat_map(|(d, fs)| fs.iter().map(move |f| (d.clone(), f)));
        flows.chain(others)
    }

    /// Files of `flows` partition `partition` (`date=…`) without their `hourly` twin
    /// (written before the rollup existed).
    pub fn files_without_rollup(&self, partition: &str) -> usize {
        without_twin(
            self.partitions.get(partition),
            self.tables.get(&super::hourly::hourly_dir(partition)),
        )
    }

    /// Files of `flows` partition `partition` without their `coverage` twin (written before
    /// the table existed).
    pub fn files_without_coverage(&self, partition: &str) -> usize {
        without_twin(
            self.partitions.get(partition),
            self.tables.get(&super::coverage::coverage_dir(partition)),
        )
    }

    /// Files of `hourly` partition `partition` without their `coverage` twin: also those
    /// whose raw tuples retention dropped.
    pub fn rollup_without_coverage(&self, partition: &str) -> usize {
        without_twin(
            self.tables.get(&super::hourly::hourly_dir(partition)),
            self.tables.get(&super::coverage::coverage_dir(partition)),
        )
    }

    /// Total rows over all files of `flows`.
    pub fn rows(&self) -> u64 {
        self.partitions.values().flatten().map(|f| f.rows).sum()
    }

    /// Number of data files of `flows`.
    pub fn files(&self) -> usize {
        self.partitions.values().map(Vec::len).sum()
    }

    /// Whether the lake-relative `path` of a data or rejects file is one this manifest
    /// names (live, or garbage not deleted yet).
    pub fn names(&self, path: &str) -> bool {
        if let Some(name) = path.strip_prefix("rejects/") {
            return self.rejects.iter().any(|r| r == name);
        }
        let live = path
            .rsplit_once('/')
            .and_then(|(dir, name)| self.dir_files(dir).map(|f| (f, name)))
            .is_some_and(|(files, name)| files.iter().any(|f| f.name == name));
        live || self.garbage.iter().any(|g| g.path == path)
    }
}

/// How many of `files` have no file of the same name among `twins`.
fn without_twin(files: Option<&Vec<FileEntry>>, twins: Option<&Vec<FileEntry>>) -> usize {
    files.map_or(0, |files| {
        files
            .iter()
            .filter(|f| !twins.is_some_and(|t| t.iter().any(|h| h.name == f.name)))
            .count()
    })
}

/// A manifest of one partition and a checkpoint per key of `blobs`, for tests.
#[cfg(test)]
pub(crate) fn sample(blobs: &[&str]) -> Manifest {
    let mut m = Manifest {
        version: 7,
        next_blob_id: 3,
        rejects: vec!["rejects-1.ndjson".into()],
        writer: Some("token".into()),
        ..Manifest::default()
    };
    m.partitions.insert(
        "date=2026-11-01".into(),
        vec![FileEntry {
            name: "part-1.parquet".into(),
            rows: 10,
            bytes: 100,
            blobs: vec![1, 2],
            min_time_us: 1,
            max_time_us: 2,
        }],
    );
    for (id, key) in (1..).zip(blobs) {
        m.blobs.insert(
            key.to_string(),
            BlobState {
                id,
                size: 10,
                mtime_ns: None,
                consumed: 10,
                prefix_hash: "ab".into(),
                tail_hash: None,
                etag: Some("\"0x1\"".into()),
                records: 1,
                tuples: 10,
                rejected: 0,
                broken: false,
                pending: false,
            },
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_parses_past_the_blob_checkpoints_and_keeps_everything_else() {
        let m = sample(&["https://acct.blob.core.windows.net/c/PT1H.json"]);
        let json = serde_json::to_vec(&m).unwrap();
        let read: Manifest<IgnoredAny> = serde_json::from_slice(&json).unwrap();
        let mut expected = m.clone();
        expected.blobs.clear();
        assert_eq!(read.for_reading(), expected);
        // Writers still read them.
        let whole: Manifest = serde_json::from_slice(&json).unwrap();
        assert_eq!(whole, m);
    }
}
