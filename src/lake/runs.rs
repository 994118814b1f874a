//! Parquet column chunks for columns whose values come in runs or as dictionary keys.
//!
//! Why: nine columns of `flows` (resource, NSG, MAC, rule, blob, …) hold one value per flow
//! group, repeated on each of its tuples, as do a record's time, version and index (numbers),
//! and the others hold few values (ingest builds the first run-end encoded and the others as
//! dictionary keys, `lake::rows`). arrow-rs's
//! dictionary encoder hashes and compares every row's value, and compares it again for the
//! statistics: for these strings that was the largest share of ingest's CPU time. Here a run
//! of equal values (given as runs, told apart by their 16-byte views or dictionary keys where
//! the batch has them, else by their bytes) is looked up once, and the chunk is written as
//! arrow-rs would write it: a PLAIN dictionary page, then data pages of at most
//! [`PAGE_ROWS`] rows holding RLE definition levels and RLE / bit-packed dictionary indices,
//! zstd compressed, with chunk statistics and an offset index (no column index).
//!
//! ```text
//!   add ──▶ runs (id | null, length) ──every PAGE_ROWS rows──▶ data pages (def levels, ids)
//!       └─▶ dictionary (distinct values of the chunk)
//!   finish ──▶ [dictionary page][data page]…  + chunk metadata, offset index
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, DictionaryArray, Int32Array, LargeStringArray, RunArray, StringArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    ArrowDictionaryKeyType, ArrowNativeType, DataType, Int8Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType,
};
use bytes::Bytes;
use parquet::basic::{
    Compression, Encoding, EncodingMask, PageType, Type as PhysicalType, ZstdLevel,
};
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;
use zstd::bulk::Compressor;

/// Rows per data page: arrow-rs's default page row limit, so readers see pages of the size
/// they see in the other columns.
pub const PAGE_ROWS: usize = 20_000;

/// Longest minimum or maximum kept in the statistics (arrow-rs's default truncation length).
const STATISTICS_MAX_LEN: usize = 64;

/// Run value of null rows.
const NULL: u32 = u32::MAX;

/// A column of one row group being gathered as runs, encoded a page at a time.
pub struct RunColumn {
    descr: ColumnDescPtr,
    /// Whether the chunk gets min/max statistics.
    statistics: bool,
    zstd_level: i32,
    ids: HashMap<Arc<[u8]>, u32, foldhash::fast::FixedState>,
    /// Distinct values by id: only values of rows in this chunk (they are its statistics).
    values: Vec<Arc<[u8]>>,
    /// The page being gathered: (id or [`NULL`], rows), in row order.
    runs: Vec<(u32, u32)>,
    page_rows: usize,
    /// The id of the previous row (or [`NULL`]), across pages.
    last: u32,
    /// Encoded data pages: compressed bytes, uncompressed length, rows.
    pages: Vec<(Bytes, usize, u32)>,
    rows: usize,
    nulls: u64,
}

impl RunColumn {
    /// An empty chunk of the column `descr` (a nullable or required `BYTE_ARRAY`, `INT32` or
    /// `INT64`).
    pub fn new(descr: ColumnDescPtr, statistics: bool, zstd_level: i32) -> RunColumn {
        RunColumn {
            descr,
            statistics,
            zstd_level,
            ids: HashMap::default(),
            values: Vec::new(),
            runs: Vec::new(),
            page_rows: 0,
            last: NULL,
            pages: Vec::new(),
            rows: 0,
            nulls: 0,
        }
    }

    /// Appends a `Utf8`, `LargeUtf8`, `Utf8View`, `Dictionary(Int8 | Int32, Utf8)`, `Int32`,
    /// `Int64` or microsecond `Timestamp` array, or one run-end encoded (`Int32` run ends) of
    /// `Utf8` text or these numbers; full pages are compressed by `zstd`.
    pub fn add(&mut self, array: &dyn Array, zstd: &mut Compressor<'_>) -> Result<()> {
        if let Some(values) = Plain::of(array) {
            // Each row's value compared with the previous row's.
            for i in 0..array.len() {
                let id = values.at(i).map_or(NULL, |v| self.value_id(v.as_ref()));
                self.push(id, 1, zstd)?;
            }
            return Ok(());
        }
        match array.data_type() {
            DataType::Utf8View => {
                let a = array.as_string_view();
                // Equal views hold equal strings (the same bytes inline, or the same buffer,
                // offset and length): a run is measured without reading its values.
                let views = a.views();
                let mut last_view = None;
                let mut i = 0;
                while i < a.len() {
                    let (view, null) = (views[i], a.is_null(i));
                    let mut j = i + 1;
                    while j < a.len() && views[j] == view && a.is_null(j) == null {
                        j += 1;
                    }
                    let id = if null {
                        NULL
                    } else if last_view == Some(view) {
                        self.last
                    } else {
                        last_view = Some(view);
                        self.value_id(a.value(i).as_bytes())
                    };
                    self.push(id, j - i, zstd)?;
                    i = j;
                }
            }
            DataType::Dictionary(key, value) if **value == DataType::Utf8 => match **key {
                DataType::Int8 => self.add_keys(array.as_dictionary::<Int8Type>(), zstd)?,
                DataType::Int32 => self.add_keys(array.as_dictionary::<Int32Type>(), zstd)?,
                _ => return Err(self.unsupported(array.data_type())),
            },
            DataType::RunEndEncoded(ends, _) if *ends.data_type() == DataType::Int32 => {
                self.add_runs(array.as_run::<Int32Type>(), zstd)?
            }
            other => return Err(self.unsupported(other)),
        }
        Ok(())
    }

    fn unsupported(&self, t: &DataType) -> ParquetError {
        ParquetError::General(format!(
            "column {} is written as runs, not {t}",
            self.descr.path()
        ))
    }

    /// Appends dictionary keys: each dictionary value is looked up once, when a row first
    /// uses it.
    fn add_keys<K: ArrowDictionaryKeyType>(
        &mut self,
        a: &DictionaryArray<K>,
        zstd: &mut Compressor<'_>,
    ) -> Result<()> {
        let values = a.values().as_string::<i32>();
        let mut ids: Vec<Option<u32>> = vec![None; values.len()];
        let keys = a.keys();
        let mut i = 0;
        while i < keys.len() {
            let (key, null) = (keys.values()[i], keys.is_null(i));
            let mut j = i + 1;
            while j < keys.len() && keys.values()[j] == key && keys.is_null(j) == null {
                j += 1;
            }
            let id = if null {
                NULL
            } else {
                let slot = key
                    .to_usize()
                    .and_then(|k| ids.get_mut(k).map(|slot| (k, slot)));
                let Some((k, slot)) = slot else {
                    return Err(self.bad_key(format!("{key:?}")));
                };
                *slot.get_or_insert_with(|| self.id(values.value(k).as_bytes()))
            };
            self.push(id, j - i, zstd)?;
            i = j;
        }
        Ok(())
    }

    /// Appends run-end encoded values: each run is looked up once (or not at all when it
    /// repeats the previous run's value), and no row is visited.
    fn add_runs(&mut self, a: &RunArray<Int32Type>, zstd: &mut Compressor<'_>) -> Result<()> {
        if a.is_empty() {
            return Ok(());
        }
        let Some(values) = Plain::of(a.values().as_ref()) else {
            return Err(self.unsupported(a.data_type()));
        };
        let ends = a.run_ends();
        let mut row = 0;
        for (p, end) in (ends.get_start_physical_index()..).zip(ends.sliced_values()) {
            let end = end as usize;
            let id = values.at(p).map_or(NULL, |v| self.value_id(v.as_ref()));
            self.push(id, end - row, zstd)?;
            row = end;
        }
        Ok(())
    }

    fn bad_key(&self, key: impl std::fmt::Display) -> ParquetError {
        ParquetError::General(format!(
            "column {}: dictionary key {key} out of range",
            self.descr.path()
        ))
    }

    /// The id of non-null value `v`: the previous row's when it is that row's value.
    fn value_id(&mut self, v: &[u8]) -> u32 {
        if self.last != NULL && *self.values[self.last as usize] == *v {
            self.last
        } else {
            self.id(v)
        }
    }

    /// The id of value `v`, given one if it is new.
    fn id(&mut self, v: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        let id = self.values.len() as u32;
        let v: Arc<[u8]> = v.into();
        self.values.push(v.clone());
        self.ids.insert(v, id);
        id
    }

    /// Appends `n` rows of value `id` (or [`NULL`]), encoding each page once it is full.
    fn push(&mut self, id: u32, mut n: usize, zstd: &mut Compressor<'_>) -> Result<()> {
        self.last = id;
        self.rows += n;
        if id == NULL {
            self.nulls += n as u64;
        }
        while n > 0 {
            let take = n.min(PAGE_ROWS - self.page_rows);
            match self.runs.last_mut() {
                Some((last, m)) if *last == id => *m += take as u32,
                _ => self.runs.push((id, take as u32)),
            }
            self.page_rows += take;
            n -= take;
            if self.page_rows == PAGE_ROWS {
                self.end_page(zstd)?;
            }
        }
        Ok(())
    }

    /// Encodes the runs gathered as a data page: RLE definition levels (nullable columns),
    /// the indices' bit width, the indices.
    fn end_page(&mut self, zstd: &mut Compressor<'_>) -> Result<()> {
        if self.runs.is_empty() {
            return Ok(());
        }
        let mut raw = Vec::new();
        if self.descr.max_def_level() > 0 {
            let mut levels = Vec::new();
            hybrid(
                &mut levels,
                self.runs.iter().map(|&(id, n)| (u32::from(id != NULL), n)),
                1,
            );
            raw.extend_from_slice(&(levels.len() as u32).to_le_bytes());
            raw.extend_from_slice(&levels);
        }
        // Every id in the page is below the dictionary's size so far.
        let bit_width = bits_for(self.values.len().saturating_sub(1) as u64).max(1);
        raw.push(bit_width);
        hybrid(
            &mut raw,
            self.runs.iter().copied().filter(|r| r.0 != NULL),
            bit_width,
        );
        let compressed = compress(zstd, &raw)?;
        self.pages
            .push((compressed, raw.len(), self.page_rows as u32));
        self.runs.clear();
        self.page_rows = 0;
        Ok(())
    }

    /// Encodes the chunk: its bytes, with the dictionary page at offset 0, and what the row
    /// group writer needs to splice them in
    /// ([`parquet::file::writer::SerializedRowGroupWriter::append_column`]).
    pub fn finish(mut self, zstd: &mut Compressor<'_>) -> Result<(Bytes, ColumnCloseResult)> {
        self.end_page(zstd)?;
        let level = ZstdLevel::try_new(self.zstd_level)?;
        let mut sink = TrackedWrite::new(Vec::new());
        let mut specs: Vec<PageWriteSpec> = Vec::new();
        let mut locations = Vec::new();
        {
            let mut out = SerializedPageWriter::new(&mut sink);
            // PLAIN: text with its length before it, numbers as they are (little-endian).
            let text = self.descr.physical_type() == PhysicalType::BYTE_ARRAY;
            let mut dict = Vec::new();
            for v in &self.values {
                if text {
                    dict.extend_from_slice(&(v.len() as u32).to_le_bytes());
                }
                dict.extend_from_slice(v);
            }
            let page = Page::DictionaryPage {
                buf: compress(zstd, &dict)?,
                num_values: self.values.len() as u32,
                encoding: Encoding::PLAIN,
                is_sorted: false,
            };
            specs.push(out.write_page(CompressedPage::new(page, dict.len()))?);
            let mut first_row = 0i64;
            for (buf, raw_len, rows) in std::mem::take(&mut self.pages) {
                let page = Page::DataPage {
                    buf,
                    num_values: rows,
                    encoding: Encoding::RLE_DICTIONARY,
                    def_level_encoding: Encoding::RLE,
                    rep_level_encoding: Encoding::RLE,
                    statistics: None,
                };
                let spec = out.write_page(CompressedPage::new(page, raw_len))?;
                locations.push(PageLocation {
                    offset: spec.offset as i64,
                    compressed_page_size: spec.compressed_size as i32,
                    first_row_index: first_row,
                });
                first_row += i64::from(rows);
                specs.push(spec);
            }
            out.close()?;
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
    /// values in the chunk.
    fn statistics(&self) -> Statistics {
        let nulls = Some(self.nulls);
        match self.descr.physical_type() {
            PhysicalType::INT32 => {
                let v = self.values.iter().map(|v| i32::from_le_bytes(le(v)));
                return Statistics::int32(v.clone().min(), v.max(), None, nulls, false);
            }
            PhysicalType::INT64 => {
                let v = self.values.iter().map(|v| i64::from_le_bytes(le(v)));
                return Statistics::int64(v.clone().min(), v.max(), None, nulls, false);
            }
            _ => {}
        }
        let (min, max) = (self.values.iter().min(), self.values.iter().max());
        let (min, max) = match (min.filter(|v| fits(v)), max.filter(|v| fits(v))) {
            (Some(min), Some(max)) => (
                Some(ByteArray::from(min.to_vec())),
                Some(ByteArray::from(max.to_vec())),
            ),
            _ => (None, None),
        };
        Statistics::new(min, max, None, nulls, false)
    }
}

/// A number's PLAIN bytes as the array its type reads from.
fn le<const N: usize>(v: &[u8]) -> [u8; N] {
    v.try_into().expect("a number's values are of its width")
}

/// The values of an array of text (not viewed or keyed) or numbers, read as their PLAIN bytes.
enum Plain<'a> {
    Text(&'a StringArray),
    LargeText(&'a LargeStringArray),
    Int32(&'a Int32Array),
    Int64(&'a [i64], Option<&'a NullBuffer>),
}

/// A value's PLAIN bytes: borrowed text, or a number's little-endian bytes.
enum PlainValue<'a> {
    Text(&'a [u8]),
    Int32([u8; 4]),
    Int64([u8; 8]),
}

impl AsRef<[u8]> for PlainValue<'_> {
    fn as_ref(&self) -> &[u8] {
        match self {
            PlainValue::Text(v) => v,
            PlainValue::Int32(v) => v,
            PlainValue::Int64(v) => v,
        }
    }
}

impl<'a> Plain<'a> {
    /// `Utf8` or `LargeUtf8` text, or numbers (`Int32`, `Int64`, microsecond `Timestamp`).
    fn of(a: &'a dyn Array) -> Option<Plain<'a>> {
        Some(match a.data_type() {
            DataType::Utf8 => Plain::Text(a.as_string::<i32>()),
            DataType::LargeUtf8 => Plain::LargeText(a.as_string::<i64>()),
            DataType::Int32 => Plain::Int32(a.as_primitive::<Int32Type>()),
            DataType::Int64 => {
                let a = a.as_primitive::<Int64Type>();
                Plain::Int64(a.values(), a.nulls())
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                let a = a.as_primitive::<TimestampMicrosecondType>();
                Plain::Int64(a.values(), a.nulls())
            }
            _ => return None,
        })
    }

    /// Value `i`, or `None` for null.
    fn at(&self, i: usize) -> Option<PlainValue<'a>> {
        match self {
            Plain::Text(a) => a
                .is_valid(i)
                .then(|| PlainValue::Text(a.value(i).as_bytes())),
            Plain::LargeText(a) => a
                .is_valid(i)
                .then(|| PlainValue::Text(a.value(i).as_bytes())),
            Plain::Int32(a) => a
                .is_valid(i)
                .then(|| PlainValue::Int32(a.value(i).to_le_bytes())),
            Plain::Int64(v, nulls) => nulls
                .is_none_or(|n| n.is_valid(i))
                .then(|| PlainValue::Int64(v[i].to_le_bytes())),
        }
    }
}

/// A zstd frame of `raw`.
fn compress(zstd: &mut Compressor<'_>, raw: &[u8]) -> Result<Bytes> {
    zstd.compress(raw)
        .map(Bytes::from)
        .map_err(|e| ParquetError::External(Box::new(e)))
}

/// Appends `runs` (value, count) in the RLE / bit-packing hybrid encoding with `bit_width`
/// bits a value: runs of 8 or more as RLE runs, shorter ones gathered into bit-packed groups
/// of 8 values. Only the last group is padded (readers know how many values there are).
fn hybrid(out: &mut Vec<u8>, runs: impl Iterator<Item = (u32, u32)>, bit_width: u8) {
    let mut literals: Vec<u32> = Vec::new();
    for (value, mut n) in runs {
        if !literals.is_empty() {
            // Fill the open group of 8 first: a bit-packed run ends only at a group's end.
            let fill = ((8 - literals.len() % 8) % 8).min(n as usize);
            literals.extend(std::iter::repeat_n(value, fill));
            n -= fill as u32;
        }
        if n >= 8 {
            bit_packed(out, &mut literals, bit_width);
            rle_run(out, value, n, bit_width);
        } else {
            literals.extend(std::iter::repeat_n(value, n as usize));
        }
    }
    bit_packed(out, &mut literals, bit_width);
}

/// Appends `values` (padded with zeros to a multiple of 8) as one bit-packed run: a ULEB128
/// header `groups << 1 | 1`, then the values' low `bit_width` bits, least significant first.
fn bit_packed(out: &mut Vec<u8>, values: &mut Vec<u32>, bit_width: u8) {
    if values.is_empty() {
        return;
    }
    values.resize(values.len().div_ceil(8) * 8, 0);
    uleb128(out, ((values.len() as u64 / 8) << 1) | 1);
    let (mut acc, mut bits) = (0u64, 0u8);
    for &v in values.iter() {
        acc |= u64::from(v) << bits;
        bits += bit_width;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    values.clear();
}

fn uleb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
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
    uleb128(out, u64::from(n) << 1);
    let bytes = usize::from(bit_width).div_ceil(8);
    out.extend_from_slice(&value.to_le_bytes()[..bytes]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `count` values of the RLE / bit-packing hybrid encoding (the spec's reader).
    fn decode(mut data: &[u8], bit_width: u8, count: usize) -> Vec<u32> {
        let mut out = Vec::new();
        while out.len() < count {
            let (mut header, mut shift) = (0u64, 0);
            loop {
                let b = data[0];
                data = &data[1..];
                header |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            if header & 1 == 0 {
                let bytes = usize::from(bit_width).div_ceil(8);
                let mut v = [0u8; 4];
                v[..bytes].copy_from_slice(&data[..bytes]);
                data = &data[bytes..];
                out.extend(std::iter::repeat_n(
                    u32::from_le_bytes(v),
                    (header >> 1) as usize,
                ));
            } else {
                let values = (header >> 1) as usize * 8;
                for i in 0..values {
                    let bit = i * usize::from(bit_width);
                    let mut v = 0u32;
                    for b in 0..usize::from(bit_width) {
                        let at = bit + b;
                        v |= u32::from((data[at / 8] >> (at % 8)) & 1) << b;
                    }
                    out.push(v);
                }
                data = &data[values * usize::from(bit_width) / 8..];
            }
        }
        assert!(data.is_empty(), "nothing follows the last run");
        out.truncate(count);
        out
    }

    #[test]
    fn hybrid_bit_packs_short_runs_as_the_spec_does() {
        // The spec's example: 0..8 with bit width 3.
        let mut out = Vec::new();
        hybrid(&mut out, (0..8).map(|v| (v, 1)), 3);
        assert_eq!(out, [0x03, 0x88, 0xc6, 0xfa]);
    }

    #[test]
    fn hybrid_runs_decode_to_their_values() {
        let runs: Vec<(u32, u32)> = vec![
            (1, 3),
            (0, 1),
            (2, 20),
            (3, 1),
            (1, 7),
            (0, 9),
            (2, 2),
            (5, 8),
            (4, 1),
            (1, 100),
            (6, 5),
        ];
        let want: Vec<u32> = runs
            .iter()
            .flat_map(|&(v, n)| std::iter::repeat_n(v, n as usize))
            .collect();
        for bit_width in [3, 8, 12] {
            let mut out = Vec::new();
            hybrid(&mut out, runs.iter().copied(), bit_width);
            assert_eq!(
                decode(&out, bit_width, want.len()),
                want,
                "bit width {bit_width}"
            );
        }
        let levels: Vec<(u32, u32)> = runs.iter().map(|&(v, n)| (v % 2, n)).collect();
        let mut out = Vec::new();
        hybrid(&mut out, levels.iter().copied(), 1);
        let want: Vec<u32> = want.iter().map(|v| v % 2).collect();
        assert_eq!(decode(&out, 1, want.len()), want);
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
