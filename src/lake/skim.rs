//! A manifest for readers, with its blob checkpoints cut out before it is parsed.
//!
//! Why: the checkpoints are most of a manifest (a month of 60 NICs: 43,200 of them, nearly
//! all of its 23 MB) and only writers use them. Parsing past them with serde still tokenises
//! every byte. Here the top-level `"blobs"` value is found by matching brackets, jumping
//! through strings with `memchr`, and replaced by `{}` before serde sees the rest: `flowlake
//! sql "SELECT 1"` on that lake went from 42.0 to 37.0 ms (median of 11, release build).
//! Anything unexpected gives `None`, and the caller parses the whole text as before (so a
//! damaged manifest is still reported by serde).

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, IgnoredAny};

use super::manifest::BlobState;

/// What a manifest's blob checkpoints are read as: their map (writers) or nothing (readers).
pub trait Checkpoints: DeserializeOwned {
    /// Whether they may be cut out of the text before it is parsed ([`without_blobs`]).
    const SKIPPED: bool;
}

impl Checkpoints for BTreeMap<String, BlobState> {
    const SKIPPED: bool = false;
}

impl Checkpoints for IgnoredAny {
    const SKIPPED: bool = true;
}

/// `json` (a manifest) with the value of its top-level `"blobs"` key replaced by `{}`; `None`
/// when it has none or is not a JSON object as far as this scan can tell.
pub fn without_blobs(json: &[u8]) -> Option<Vec<u8>> {
    let mut i = ws(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = ws(json, i);
        if json.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(json, i)?;
        let key = &json[i + 1..key_end - 1];
        i = ws(json, key_end);
        if json.get(i) != Some(&b':') {
            return None;
        }
        let start = ws(json, i + 1);
        let end = value_end(json, start)?;
        if key == b"blobs" {
            let mut out = Vec::with_capacity(json.len() - (end - start) + 2);
            out.extend_from_slice(&json[..start]);
            out.extend_from_slice(b"{}");
            out.extend_from_slice(&json[end..]);
            return Some(out);
        }
        i = ws(json, end);
        match json.get(i) {
            Some(b',') => i += 1,
            _ => return None,
        }
    }
}

/// The first byte at or after `i` that is not JSON whitespace.
fn ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// Just past the string that opens at `i` (`b[i]` is `"`).
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let k = j + memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[k] == b'\\' {
            j = k + 2;
        } else {
            return Some(k + 1);
        }
    }
}

/// Just past the value that starts at `i`.
fn value_end(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        // A number, true, false or null: up to the next delimiter.
        _ => {
            let rest = b.get(i..)?;
            let n = rest
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))?;
            Some(i + n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blobs_value_is_cut_whatever_its_strings_hold() {
        let json = br#" { "format" : "flowlake-lake", "n": -1.5e3, "ok": true, "partitions": {"date=1": [{"name": "a\"}]{[", "rows": 1}]},
            "blobs" : {"C:\\x\\\"}{": {"id": 1, "etag": "\"0x1\"", "hash": "\\"}, "b": {"pending": false, "list": [1, [2, {}]]}},
            "next_blob_id": 3, "rejects": [] }"#;
        let cut = without_blobs(json).unwrap();
        let text = String::from_utf8(cut).unwrap();
        assert!(text.contains(r#""blobs" : {},"#), "{text}");
        assert!(
            text.ends_with(r#""next_blob_id": 3, "rejects": [] }"#),
            "{text}"
        );
        let a: serde_json::Value = serde_json::from_slice(json).unwrap();
        let mut b: serde_json::Value = serde_json::from_str(&text).unwrap();
        b["blobs"] = a["blobs"].clone();
        assert_eq!(a, b);
    }

    #[test]
    fn a_written_manifest_reads_the_same_without_its_checkpoints() {
        use super::super::manifest::{Manifest, sample};
        let m = sample(&["/lake/a \"quoted\" {PT1H}.json", "s3://b/[x]\\y"]);
        for json in [
            serde_json::to_vec(&m).unwrap(),
            serde_json::to_vec_pretty(&m).unwrap(),
        ] {
            let cut = without_blobs(&json).unwrap();
            assert!(cut.len() < json.len() - 100);
            let a: Manifest<IgnoredAny> = serde_json::from_slice(&json).unwrap();
            let b: Manifest<IgnoredAny> = serde_json::from_slice(&cut).unwrap();
            assert_eq!(a.for_reading(), b.for_reading());
        }
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        for bad in [
            &b""[..],
            b"[1, 2]",
            br#"{"format": "x"}"#,
            br#"{"blobs": {"a": "unterminated}"#,
            br#"{"blobs" {}}"#,
            br#"{"a": 1 "blobs": {}}"#,
        ] {
            assert_eq!(without_blobs(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
