//! Parquet column chunks for text columns whose values come in runs.
//!
//! Why: nine columns of `flows` (resource, NSG, MAC, rule, blob, …) hold one value per flow
//! group, repeated on each of its tuples. arrow-rs's dictionary encoder hashes and compares
//! every row's value, and compares it again for the statistics: for these long strings that
//! was the largest share of ingest's CPU time. Here a run of equal values (told apart by their
//! 16-byte views where the batch has them, else by their bytes) is looked up once, and the
//! chunk is written as arrow-rs would write it: a PLAIN dictionary page, then data pages of at
//! most [`PAGE_ROWS`] rows holding RLE definition levels and RLE dictionary indices, zstd
//! compressed, with chunk statistics and an offset index.
//!
//! ```text
//!   batches ──add──▶ runs: (dictionary id | null, length)…   dictionary: distinct values
//!                                  │                                  │
//!   finish ──▶ [dictionary page][data page: def levels, bit width, RLE ids]…  + metadata
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use bytes::Bytes;
use parquet::basic::{Compression, Encoding, EncodingMask, PageType, ZstdLevel};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

/// Rows per data page: arrow-rs's default page row limit, so readers see pages of the size
/// they see in the other columns.
pub const PAGE_ROWS: usize = 20_000;

/// Longest minimum or maximum kept in the statistics (arrow-rs's default truncation length).
const STATISTICS_MAX_LEN: usize = 64;

/// Run value of null rows.
const NULL: u32 = u32::MAX;

/// A text column of one row group being gathered as runs.
pub struct RunColumn {
    descr: ColumnDescPtr,
    /// Whether the chunk gets min/max statistics.
    statistics: bool,
    zstd_level: i32,
    ids: HashMap<Arc<[u8]>, u32, foldhash::fast::FixedState>,
    /// Distinct values by id.
    values: Vec<Arc<[u8]>>,
    /// (id or [`NULL`], rows), in row order.
    runs: Vec<(u32, u32)>,
    rows: usize,
}

impl RunColumn {
    /// An empty chunk of the column `descr` (a nullable or required `BYTE_ARRAY`).
    pub fn new(descr: ColumnDescPtr, statistics: bool, zstd_level: i32) -> RunColumn {
        RunColumn {
            descr,
            statistics,
            zstd_level,
            ids: HashMap::default(),
            values: Vec::new(),
            runs: Vec::new(),
            rows: 0,
        }
    }

    /// Appends a `Utf8`, `LargeUtf8` or `Utf8View` array.
    pub fn add(&mut self, array: &dyn Array) -> Result<()> {
        match array.data_type() {
            DataType::Utf8View => {
                let a = array.as_string_view();
                // Equal views hold equal strings (the same bytes inline, or the same buffer,
                // offset and length): a run is recognised without reading its values.
                let views = a.views();
                let mut last_view = None;
                for i in 0..a.len() {
                    if a.is_null(i) {
                        self.push(NULL);
                        last_view = None;
                    } else if last_view == Some(views[i]) {
                        self.extend();
                    } else {
                        self.push_value(a.value(i).as_bytes());
                        last_view = Some(views[i]);
                    }
                }
            }
            DataType::Utf8 => self.add_values(array.as_string::<i32>().iter()),
            DataType::LargeUtf8 => self.add_values(array.as_string::<i64>().iter()),
            other => {
                return Err(ParquetError::General(format!(
                    "column {} is written as runs of text, not {other}",
                    self.descr.path()
                )));
            }
        }
        Ok(())
    }

    fn add_values<'a>(&mut self, values: impl Iterator<Item = Option<&'a str>>) {
        for v in values {
            match v {
                None => self.push(NULL),
                Some(v) => self.push_value(v.as_bytes()),
            }
        }
    }

    /// Appends one non-null value: to the current run when it is that run's value.
    fn push_value(&mut self, v: &[u8]) {
        if let Some(&(id, _)) = self.runs.last()
            && id != NULL
            && *self.values[id as usize] == *v
        {
            return self.extend();
        }
        let id = match self.ids.get(v) {
            Some(&id) => id,
            None => {
                let id = self.values.len() as u32;
                let v: Arc<[u8]> = v.into();
                self.values.push(v.clone());
                self.ids.insert(v, id);
                id
            }
        };
        self.push(id);
    }

    /// Appends one row of value `id` (or [`NULL`]).
    fn push(&mut self, id: u32) {
        match self.runs.last_mut() {
            Some((last, n)) if *last == id => *n += 1,
            _ => self.runs.push((id, 1)),
        }
        self.rows += 1;
    }

    /// Appends one more row of the current run.
    fn extend(&mut self) {
        self.runs.last_mut().expect("a run is open").1 += 1;
        self.rows += 1;
    }

    /// Encodes the chunk: its bytes, with the dictionary page at offset 0, and what the row
    /// group writer needs to splice them in
    /// ([`parquet::file::writer::SerializedRowGroupWriter::append_column`]).
    pub fn finish(self) -> Result<(Bytes, ColumnCloseResult)> {
        let level = ZstdLevel::try_new(self.zstd_level)?;
        let compress = |raw: Vec<u8>| -> Result<(Bytes, usize)> {
            let len = raw.len();
            let out = zstd::bulk::compress(&raw, self.zstd_level)
                .map_err(|e| ParquetError::External(Box::new(e)))?;
            Ok((Bytes::from(out), len))
        };
        let mut sink = TrackedWrite::new(Vec::new());
        let mut specs: Vec<PageWriteSpec> = Vec::new();
        let mut locations = Vec::new();
        {
            let mut pages = SerializedPageWriter::new(&mut sink);
            let mut dict = Vec::new();
            for v in &self.values {
                dict.extend_from_slice(&(v.len() as u32).to_le_bytes());
                dict.extend_from_slice(v);
            }
            let (buf, raw_len) = compress(dict)?;
            let page = Page::DictionaryPage {
                buf,
                num_values: self.values.len() as u32,
                encoding: Encoding::PLAIN,
                is_sorted: false,
            };
            specs.push(pages.write_page(CompressedPage::new(page, raw_len))?);

            let bit_width = bits_for(self.values.len().saturating_sub(1) as u64).max(1);
            let nullable = self.descr.max_def_level() > 0;
            let mut first_row = 0usize;
            for page_runs in paged(&self.runs, PAGE_ROWS) {
                let rows: u32 = page_runs.iter().map(|r| r.1).sum();
                let mut raw = Vec::new();
                if nullable {
                    let mut levels = Vec::new();
                    for &(id, n) in &page_runs {
                        rle_run(&mut levels, u32::from(id != NULL), n, 1);
                    }
                    raw.extend_from_slice(&(levels.len() as u32).to_le_bytes());
                    raw.extend_from_slice(&levels);
                }
                raw.push(bit_width);
                for &(id, n) in page_runs.iter().filter(|r| r.0 != NULL) {
                    rle_run(&mut raw, id, n, bit_width);
                }
                let (buf, raw_len) = compress(raw)?;
                let page = Page::DataPage {
                    buf,
                    num_values: rows,
                    encoding: Encoding::RLE_DICTIONARY,
                    def_level_encoding: Encoding::RLE,
                    rep_level_encoding: Encoding::RLE,
                    statistics: None,
                };
                let spec = pages.write_page(CompressedPage::new(page, raw_len))?;
                locations.push(PageLocation {
                    offset: spec.offset as i64,
                    compressed_page_size: spec.compressed_size as i32,
                    first_row_index: first_row as i64,
                });
                first_row += rows as usize;
                specs.push(spec);
            }
            pages.close()?;
        }
        let data_pages = specs.len() as i32 - 1;
        let encodings = [Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY];
        let mut meta = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(Compression::ZSTD(level))
            .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
            .set_page_encoding_stats(vec![
                PageEncodingStats {
                    page_type: PageType::DICTIONARY_PAGE,
                    encoding: Encoding::PLAIN,
                    count: 1,
                },
                PageEncodingStats {
                    page_type: PageType::DATA_PAGE,
                    encoding: Encoding::RLE_DICTIONARY,
                    count: data_pages,
                },
            ])
            .set_total_compressed_size(specs.iter().map(|s| s.compressed_size as i64).sum())
            .set_total_uncompressed_size(specs.iter().map(|s| s.uncompressed_size as i64).sum())
            .set_num_values(self.rows as i64)
            .set_dictionary_page_offset(Some(0))
            .set_data_page_offset(specs.get(1).map_or(0, |s| s.offset as i64));
        if self.statistics {
            meta = meta.set_statistics(self.statistics());
        }
        let bytes = Bytes::from(sink.into_inner()?);
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: self.rows as u64,
            metadata: meta.build()?,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(OffsetIndexMetaData {
                page_locations: locations,
                unencoded_byte_array_data_bytes: None,
            }),
        };
        Ok((bytes, close))
    }

    /// Null count and, when both fit [`STATISTICS_MAX_LEN`], the minimum and maximum of the
    /// values in the chunk (every dictionary value occurs in it).
    fn statistics(&self) -> Statistics {
        let nulls: u64 = self
            .runs
            .iter()
            .filter(|r| r.0 == NULL)
            .map(|r| u64::from(r.1))
            .sum();
        let (min, max) = (self.values.iter().min(), self.values.iter().max());
        let (min, max) = match (min.filter(|v| fits(v)), max.filter(|v| fits(v))) {
            (Some(min), Some(max)) => (
                Some(ByteArray::from(min.to_vec())),
                Some(ByteArray::from(max.to_vec())),
            ),
            _ => (None, None),
        };
        Statistics::new(min, max, None, Some(nulls), false)
    }
}

/// Whether a value is short enough for the statistics.
fn fits(v: &[u8]) -> bool {
    v.len() <= STATISTICS_MAX_LEN
}

/// Bits needed to write `max`.
fn bits_for(max: u64) -> u8 {
    (64 - max.leading_zeros()) as u8
}

/// Appends an RLE run (`n` times `value`, `bit_width` bits) of the RLE / bit-packing hybrid
/// encoding: a ULEB128 header `n << 1`, then the value in whole bytes, little-endian.
fn rle_run(out: &mut Vec<u8>, value: u32, n: u32, bit_width: u8) {
    let mut header = u64::from(n) << 1;
    loop {
        let byte = (header & 0x7f) as u8;
        header >>= 7;
        if header == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    let bytes = usize::from(bit_width).div_ceil(8);
    out.extend_from_slice(&value.to_le_bytes()[..bytes]);
}

/// The runs of each page of at most `page_rows` rows (a run crossing a boundary is split).
fn paged(runs: &[(u32, u32)], page_rows: usize) -> Vec<Vec<(u32, u32)>> {
    let mut pages = Vec::new();
    let mut page: Vec<(u32, u32)> = Vec::new();
    let mut room = page_rows as u32;
    for &(id, mut n) in runs {
        while n > 0 {
            let take = n.min(room);
            page.push((id, take));
            n -= take;
            room -= take;
            if room == 0 {
                pages.push(std::mem::take(&mut page));
                room = page_rows as u32;
            }
        }
    }
    if !page.is_empty() {
        pages.push(page);
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_split_at_page_boundaries() {
        let pages = paged(&[(0, 5), (NULL, 2), (1, 10)], 6);
        assert_eq!(
            pages,
            vec![
                vec![(0, 5), (NULL, 1)],
                vec![(NULL, 1), (1, 5)],
                vec![(1, 5)]
            ]
        );
    }

    #[test]
    fn rle_runs_carry_their_length_and_value() {
        let mut out = Vec::new();
        rle_run(&mut out, 3, 200, 2);
        // 200 << 1 = 400 = 0b1_1001_0000: ULEB128 0x90 0x03, then one value byte.
        assert_eq!(out, [0x90, 0x03, 3]);
        out.clear();
        rle_run(&mut out, 300, 1, 9);
        assert_eq!(out, [0x02, 0x2c, 0x01]);
    }
}
