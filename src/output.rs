//! Query results out: a terminal table, CSV, TSV, JSON, NDJSON or Parquet.
//!
//! Why: the same result goes to a person at a shell, to a batch job's pipe and to a notebook.
//! Every format but `table` streams batch by batch, so a result larger than memory can be
//! written. A table needs its column widths, so it holds at most `max_rows` rows and says how
//! many it left out. A file named with `-o` is written under a temporary name and renamed
//! when complete, so a re-run or a crash never leaves half a file behind.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::json;
use datafusion::arrow::util::display::FormatOptions;
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, IoContext, Result};

/// Output format of query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned table for people (at most `max_rows` rows).
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// Tab-separated values with a header line.
    Tsv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A Parquet file (zstd; strings as plain UTF-8 for every reader).
    Parquet,
}

impl Format {
    /// The name used on the command line and in the shell.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
        }
    }

    /// Parses a format name.
    pub fn parse(s: &str) -> Option<Format> {
        [
            Format::Table,
            Format::Csv,
            Format::Tsv,
            Format::Json,
            Format::Ndjson,
            Format::Parquet,
        ]
        .into_iter()
        .find(|f| f.name() == s)
    }
}

/// Where results go.
pub enum Sink {
    /// Standard output.
    Stdout,
    /// A file, written under a temporary name and renamed into place by [`ResultWriter::finish`].
    File(PathBuf),
}

enum Inner {
    Table {
        batches: Vec<RecordBatch>,
        held: usize,
    },
    Csv(csv::Writer<Box<dyn Write + Send>>),
    Json(json::ArrayWriter<Box<dyn Write + Send>>),
    Ndjson(json::LineDelimitedWriter<Box<dyn Write + Send>>),
    Parquet(ArrowWriter<Box<dyn Write + Send>>),
}

/// Writes one result, batch by batch, in one [`Format`].
pub struct ResultWriter {
    inner: Inner,
    out: Option<Box<dyn Write + Send>>,
    schema: SchemaRef,
    max_rows: usize,
    rows: u64,
    temp: Option<TempFile>,
}

/// A file being written under a temporary name; removed unless committed.
struct TempFile {
    temp: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl TempFile {
    fn commit(mut self) -> Result<()> {
        File::open(&self.temp)
            .and_then(|f| f.sync_all())
            .ctx("sync", &self.temp)?;
        std::fs::rename(&self.temp, &self.path).ctx("rename into place", &self.path)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // An abandoned file (error, cancel) leaves no partial output behind.
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// What [`ResultWriter::finish`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Rows written (for a table: rows shown).
    pub rows: u64,
    /// True when a table stopped at `max_rows` and more rows existed.
    pub truncated: bool,
}

/// The schema written to Parquet: view types become their plain equivalents, which every
/// Parquet reader understands.
fn portable(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
            DataType::BinaryView => f.as_ref().clone().with_data_type(DataType::Binary),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

impl ResultWriter {
    /// Starts writing a result with `schema`. `max_rows` bounds a table (0: no bound).
    pub fn new(format: Format, sink: Sink, schema: SchemaRef, max_rows: usize) -> Result<Self> {
        let (out, temp): (Box<dyn Write + Send>, _) = match sink {
            Sink::Stdout => {
                if format == Format::Parquet {
                    refuse_binary_on_terminal()?;
                }
                (Box::new(BufWriter::new(std::io::stdout())), None)
            }
            Sink::File(path) => {
                let temp = temp_name(&path);
                let f = File::create(&temp).ctx("create", &temp)?;
                let guard = TempFile {
                    temp,
                    path,
                    committed: false,
                };
                (Box::new(BufWriter::new(f)), Some(guard))
            }
        };
        let (inner, out) = match format {
            Format::Table => (
                Inner::Table {
                    batches: Vec::new(),
                    held: 0,
                },
                Some(out),
            ),
            Format::Csv | Format::Tsv => {
                let delim = if format == Format::Csv { b',' } else { b'\t' };
                let w = csv::WriterBuilder::new()
                    .with_header(true)
                    .with_delimiter(delim)
                    .build(out);
                (Inner::Csv(w), None)
            }
            Format::Json => (
                Inner::Json(
                    json::WriterBuilder::new()
                        .with_explicit_nulls(true)
                        .build::<_, json::writer::JsonArray>(out),
                ),
                None,
            ),
            Format::Ndjson => (
                Inner::Ndjson(
                    json::WriterBuilder::new()
                        .with_explicit_nulls(true)
                        .build::<_, json::writer::LineDelimited>(out),
                ),
                None,
            ),
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .build();
                let w = ArrowWriter::try_new(out, portable(&schema), Some(props))
                    .map_err(|e| Error::Invalid(format!("parquet output: {e}")))?;
                (Inner::Parquet(w), None)
            }
        };
        Ok(ResultWriter {
            inner,
            out,
            schema,
            max_rows,
            rows: 0,
            temp,
        })
    }

    /// Writes a batch. Returns false when the writer wants no more rows (a full table).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<bool> {
        match &mut self.inner {
            Inner::Table { batches, held } => {
                let room = if self.max_rows == 0 {
                    usize::MAX
                } else {
                    self.max_rows - *held
                };
                if batch.num_rows() > room {
                    batches.push(batch.slice(0, room));
                    *held += room;
                    self.rows += room as u64;
                    return Ok(false);
                }
                batches.push(batch.clone());
                *held += batch.num_rows();
                self.rows += batch.num_rows() as u64;
                return Ok(true);
            }
            Inner::Csv(w) => w.write(batch)?,
            Inner::Json(w) => w.write(batch)?,
            Inner::Ndjson(w) => w.write(batch)?,
            Inner::Parquet(w) => {
                let cols = batch
                    .columns()
                    .iter()
                    .map(|c| match c.data_type() {
                        DataType::Utf8View => cast(c, &DataType::Utf8),
                        DataType::BinaryView => cast(c, &DataType::Binary),
                        _ => Ok(c.clone()),
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let b = RecordBatch::try_new(portable(&self.schema), cols)?;
                w.write(&b)
                    .map_err(|e| Error::Invalid(format!("parquet output: {e}")))?;
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(true)
    }

    /// Finishes the output (prints the table, closes the file and renames it into place).
    /// `more` says whether rows were left unread after [`ResultWriter::write`] returned false.
    pub fn finish(self, more: bool) -> Result<Written> {
        let io = |e: std::io::Error| Error::Invalid(format!("writing results: {e}"));
        let truncated = more;
        let mut out = match self.inner {
            Inner::Table { batches, .. } => {
                let mut out = self.out.expect("table output has a sink");
                let opts = FormatOptions::default().with_null("NULL");
                let text = if batches.is_empty() {
                    pretty_format_batches_with_options(
                        &[RecordBatch::new_empty(self.schema.clone())],
                        &opts,
                    )?
                } else {
                    pretty_format_batches_with_options(&batches, &opts)?
                };
                writeln!(out, "{text}").map_err(io)?;
                let n = self.rows;
                let plural = if n == 1 { "" } else { "s" };
                if truncated {
                    writeln!(
                        out,
                        "({n} row{plural} shown; more not shown, raise the row limit to see them)"
                    )
                    .map_err(io)?;
                } else {
                    writeln!(out, "({n} row{plural})").map_err(io)?;
                }
                out
            }
            Inner::Csv(w) => w.into_inner(),
            Inner::Json(mut w) => {
                w.finish()?;
                let mut out = w.into_inner();
                writeln!(out).map_err(io)?;
                out
            }
            Inner::Ndjson(mut w) => {
                w.finish()?;
                w.into_inner()
            }
            Inner::Parquet(w) => w
                .into_inner()
                .map_err(|e| Error::Invalid(format!("parquet output: {e}")))?,
        };
        out.flush().map_err(io)?;
        drop(out);
        if let Some(t) = self.temp {
            t.commit()?;
        }
        Ok(Written {
            rows: self.rows,
            truncated,
        })
    }
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Refuses to write binary output (Parquet) to standard output when it is a terminal.
pub fn refuse_binary_on_terminal() -> Result<()> {
    if std::io::stdout().is_terminal() {
        return Err(Error::Invalid(
            "refusing to write Parquet to a terminal: use -o FILE or a pipe".into(),
        ));
    }
    Ok(())
}

/// Writes `data` to `path` atomically: a temporary file in the same directory, synced, then
/// renamed into place. A crash leaves the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let temp = temp_name(path);
    let guard = TempFile {
        temp: temp.clone(),
        path: path.to_path_buf(),
        committed: false,
    };
    std::fs::write(&temp, data).ctx("write", &temp)?;
    guard.commit()
}
