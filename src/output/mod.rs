//! Query results out: a terminal table, CSV, TSV, JSON, NDJSON or Parquet.
//!
//! Why: the same result goes to a person at a shell, to a batch job's pipe and to a notebook.
//! Every format but `table` streams batch by batch, so a result larger than memory can be
//! written. A table needs its column widths, so it holds at most `max_rows` rows and says how
//! many it left out. A file named with `-o` is written as [`file::OutFile`] says: under a
//! temporary name and renamed when complete, so a re-run or a crash never leaves half a
//! file behind.

pub mod file;

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
use file::OutFile;

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

crate::value_names!(Format);

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
    temp: Option<OutFile>,
    /// Set when standard output was closed by its reader.
    closed: Arc<AtomicBool>,
}

/// `e`, or the broken pipe it stands for once standard output was closed by its reader.
fn pipe_error(closed: &AtomicBool, e: Error) -> Error {
    if closed.load(Ordering::Relaxed) {
        return Error::Io {
            op: "write results to",
            path: PathBuf::from("<stdout>"),
            source: std::io::ErrorKind::BrokenPipe.into(),
        };
    }
    e
}

/// Standard output that remembers a write to a closed pipe (see [`ResultWriter::write`]).
struct Watched {
    closed: Arc<AtomicBool>,
}

impl Watched {
    fn stdout(closed: &Arc<AtomicBool>) -> Watched {
        Watched {
            closed: closed.clone(),
        }
    }

    fn seen<T>(&self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.closed.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl Write for Watched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = std::io::stdout().write(buf);
        self.seen(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = std::io::stdout().flush();
        self.seen(r)
    }
}

/// Where results go, for error messages.
fn sink_path(temp: &Option<OutFile>) -> PathBuf {
    temp.as_ref()
        .map_or_else(|| PathBuf::from("<stdout>"), |t| t.path().to_path_buf())
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
        let closed = Arc::new(AtomicBool::new(false));
        let (out, temp): (Box<dyn Write + Send>, _) = match sink {
            Sink::Stdout => {
                if format == Format::Parquet {
                    refuse_binary_on_terminal()?;
                }
                (Box::new(BufWriter::new(Watched::stdout(&closed))), None)
            }
            Sink::File(path) => {
                let file = OutFile::create(&path)?;
                let f = file.writer()?;
                (Box::new(BufWriter::new(f)), Some(file))
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
                let w = ArrowWriter::try_new(out, portable(&schema), Some(props)).map_err(
                    |source| Error::Parquet {
                        path: sink_path(&temp),
                        source,
                    },
                )?;
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
            closed,
        })
    }

    /// Writes a batch. Returns false when the writer wants no more rows (a full table).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<bool> {
        self.write_batch(batch).map_err(|e| self.pipe_error(e))
    }

    /// A failed write to a closed standard output, as the I/O error it is: the writers of
    /// arrow keep only the text of an I/O error.
    fn pipe_error(&self, e: Error) -> Error {
        pipe_error(&self.closed, e)
    }

    fn write_batch(&mut self, batch: &RecordBatch) -> Result<bool> {
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
                w.write(&b).map_err(|source| Error::Parquet {
                    path: sink_path(&self.temp),
                    source,
                })?;
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(true)
    }

    /// Finishes the output (prints the table, closes the file and renames it into place).
    /// `more` says whether rows were left unread after [`ResultWriter::write`] returned false.
    pub fn finish(self, more: bool) -> Result<Written> {
        let closed = self.closed.clone();
        self.finish_output(more).map_err(|e| pipe_error(&closed, e))
    }

    fn finish_output(self, more: bool) -> Result<Written> {
        let path = sink_path(&self.temp);
        let io = |e: std::io::Error| Error::Io {
            op: "write results to",
            path: path.clone(),
            source: e,
        };
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
                    let shown = batches
                        .iter()
                        .map(shorten_cells)
                        .collect::<Result<Vec<_>>>()?;
                    pretty_format_batches_with_options(&shown, &opts)?
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
            Inner::Parquet(w) => w.into_inner().map_err(|source| Error::Parquet {
                path: path.clone(),
                source,
            })?,
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

/// Longest text a table cell shows, in characters; longer text ends in `…` (laying out a
/// table takes time growing with the square of a cell's longest word). The other formats
/// write every character.
pub const CELL_CHARS: usize = 256;

/// `s` cut to `max` characters, ending in `…` when it was longer.
pub fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// `batch` with every text value longer than [`CELL_CHARS`] cut ([`shorten`]).
fn shorten_cells(batch: &RecordBatch) -> Result<RecordBatch> {
    use datafusion::arrow::array::{Array, AsArray, StringArray};
    let mut columns = Vec::with_capacity(batch.num_columns());
    let mut fields = Vec::with_capacity(batch.num_columns());
    for (c, f) in batch.columns().iter().zip(batch.schema().fields()) {
        let text = matches!(
            c.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        let long = |a: &StringArray| a.iter().flatten().any(|v| v.len() > CELL_CHARS);
        let as_text = if text {
            Some(cast(c, &DataType::Utf8)?)
        } else {
            None
        };
        match as_text {
            Some(a) if long(a.as_string::<i32>()) => {
                let cut: StringArray = a
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.map(|v| shorten(v, CELL_CHARS)))
                    .collect();
                columns.push(Arc::new(cut) as Arc<dyn Array>);
                fields.push(f.as_ref().clone().with_data_type(DataType::Utf8));
            }
            _ => {
                columns.push(c.clone());
                fields.push(f.as_ref().clone());
            }
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
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

/// Writes `data` to `path` as [`OutFile`] does: a regular file atomically (a temporary file
/// in the same directory, synced, renamed into place: a crash leaves the old file or the new
/// one), keeping its mode; through a symbolic link to its target; straight into a device or
/// pipe.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let file = OutFile::create(path)?;
    file.writer()?.write_all(data).ctx("write", path)?;
    file.commit()
}
