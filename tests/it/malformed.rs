//! Bad input: every kind of damage is counted, reported with file and position, kept aside,
//! and never stops the rest of the ingest.

use serde_json::{Value, json};

use crate::common::*;

const NSG: &str = r#""resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N""#;

fn nsg_record(version: &str, tuples: &[&str]) -> String {
    let list: Vec<String> = tuples.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        r#"{{"time":"2023-11-14T22:00:00Z",{NSG},"properties":{{"Version":{version},"flows":[{{"rule":"R","flows":[{{"mac":"000D3AF87856","flowTuples":[{}]}}]}}]}}}}"#,
        list.join(",")
    )
}

const GOOD: &str = "1700000000,10.0.0.4,52.1.1.1,40000,443,T,O,A,E,1,100,1,60";

fn envelope(records: &[String]) -> String {
    format!("{{\"records\":[{}]}}", records.join(","))
}

#[test]
fn malformed_inputs_are_rejected_with_positions_and_the_rest_is_ingested() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let good = envelope(&[nsg_record("2", &[GOOD, GOOD])]);
    write(&src, "good/PT1H.json", &good);
    write(&src, "empty/PT1H.json", "");
    write(&src, "spaces/PT1H.json", " \n ");
    write(&src, "notjson/PT1H.json", "this is not json");
    // Malformed in the second record: the first record is kept.
    let bad_json = format!(
        "{{\"records\":[{},{{\"time\": oops}}]}}",
        nsg_record("2", &[GOOD])
    );
    write(&src, "badjson/PT1H.json", &bad_json);
    // Truncated in the middle of the second record.
    let full = envelope(&[nsg_record("2", &[GOOD]), nsg_record("2", &[GOOD, GOOD])]);
    write(&src, "truncated/PT1H.json", &full[..full.len() - 30]);
    // Unknown versions (NSG 3, VNet 5) next to a good record.
    let vnet5 = r#"{"time":"2023-11-14T22:00:00Z","flowLogVersion":5,"flowLogResourceID":"/X","flowRecords":{"flows":[]}}"#;
    write(
        &src,
        "versions/PT1H.json",
        &envelope(&[
            nsg_record("3", &[GOOD]),
            vnet5.to_string(),
            nsg_record("2", &[GOOD]),
        ]),
    );
    // Not a flow log at all, and a record of the wrong shape.
    write(
        &src,
        "other/PT1H.json",
        r#"{"records":[{"hello":"world"}]}"#,
    );
    write(&src, "shape/PT1H.json", &envelope(&[r#"{"time":"2023-11-14T22:00:00Z","properties":{"Version":2,"flows":[{"rule":"R","flows":[{"flowTuples":42}]}]}}"#.to_string(), nsg_record("2", &[GOOD])]));
    // Bad tuples among good ones.
    let tuples = [
        GOOD,
        "1700000000,10.0.0.4,52.1.1.1,40000,443,T,O,A", // v1 field count in a v2 record
        "1700000000,10.0.0.4,52.1.1.1,40000,443,T,O,A,E,1,100,1,60,9", // too many fields
        "1700000000,10.0.0.400,52.1.1.1,40000,443,T,O,A,E,1,100,1,60", // invalid IP
        "1700000000,10.0.0.4,52.1.1.1,40000,70000,T,O,A,E,1,100,1,60", // port out of range
        "1700000000,10.0.0.4,52.1.1.1,40000,443,T,O,A,E,1,lots,1,60", // non-numeric counter
        "1700000000,10.0.0.4,52.1.1.1,40000,443,X,O,A,E,1,100,1,60", // unknown protocol letter
        "17000000000000000,10.0.0.4,52.1.1.1,40000,443,T,O,A,E,1,100,1,60", // time out of range
        "1700000000,2001:db8::1,52.1.1.1,40000,443,T,O,A,E,1,100,1,60", // IPv6 is fine
    ];
    write(
        &src,
        "tuples/PT1H.json",
        &envelope(&[nsg_record("2", &tuples)]),
    );
    // A huge single line: 200 000 tuples in one record on one line, one of them bad.
    let mut many: Vec<String> = (0..200_000)
        .map(|i| {
            format!(
                "1700000000,10.0.{}.{},52.1.1.1,{},443,T,O,A,E,1,100,1,60",
                i / 250 % 250,
                i % 250,
                i % 60000
            )
        })
        .collect();
    many[123_456] = "1700000000,10.0.0.4,not-an-ip,1,443,T,O,A,E,1,100,1,60".into();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let huge = envelope(&[nsg_record("2", &refs)]);
    assert!(!huge.contains('\n') && huge.len() > 10_000_000);
    write(&src, "huge/PT1H.json", &huge);

    let lake = d.path().join("lake");
    // Just written, so judged at once (no settling time for blobs that may be mid-write).
    let now = ["--settle", "0s"];
    let (code, s) = ingest_cli(&[&src], &lake, &now);
    assert_eq!(code, 3, "exit status 3 = ingested with rejects: {s}");
    let by = &s["rejected_by_reason"];
    let want = json!({
        "empty_blob": 2, "unknown_format": 2, "malformed_json": 1, "truncated_blob": 1, "unknown_version": 2,
        "bad_record": 1, "wrong_field_count": 2, "invalid_ip": 2, "invalid_port": 1, "invalid_counter": 1,
        "invalid_protocol": 1, "invalid_timestamp": 1,
    });
    assert_eq!(by, &want, "rejects by reason");
    assert_eq!(s["rejected"], json!(17));
    // Good tuples: good 2, badjson 1, truncated 1, versions 1, shape 1, tuples 2, huge 199 999.
    assert_eq!(s["tuples"], json!(2 + 1 + 1 + 1 + 1 + 2 + 199_999));
    assert_eq!(read_lake(&lake).len(), 200_007);

    // Every reject is in the rejects file with its blob and position.
    let mut rejects: Vec<Value> = Vec::new();
    for f in s["rejects_files"].as_array().unwrap() {
        let text = std::fs::read_to_string(lake.join(f.as_str().unwrap())).unwrap();
        rejects.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    assert_eq!(rejects.len(), 17);
    let huge_reject = rejects
        .iter()
        .find(|r| r["blob"].as_str().unwrap().contains("/huge/"))
        .unwrap();
    assert_eq!(huge_reject["reason"], json!("invalid_ip"));
    assert_eq!(huge_reject["tuple"], json!(123_456));
    let at = huge_reject["offset"].as_u64().unwrap() as usize;
    assert!(
        huge[at..].starts_with("1700000000,10.0.0.4,not-an-ip"),
        "offset points at the tuple"
    );
    let bad = rejects
        .iter()
        .find(|r| r["reason"] == json!("malformed_json"))
        .unwrap();
    assert_eq!(bad["record"], json!(1));
    let at = bad["offset"].as_u64().unwrap() as usize;
    assert!(
        bad_json[at..].starts_with("oops"),
        "offset {at} points at the error: {:?}",
        &bad_json[at..]
    );

    // The rejects are committed with the data: a rerun reports nothing new.
    let (code, s2) = ingest_cli(&[&src], &lake, &now);
    assert_eq!(
        (code, s2["rejected"].clone(), s2["tuples"].clone()),
        (0, json!(0), json!(0))
    );

    // A truncated blob that is later completed yields the rest, exactly once.
    write(&src, "truncated/PT1H.json", &full);
    let (_, s3) = ingest_cli(&[&src], &lake, &now);
    assert_eq!(
        (s3["blobs_grown"].clone(), s3["tuples"].clone()),
        (json!(1), json!(2))
    );
    // ... and its truncated_blob reject no longer counts against it.
    assert_eq!(s3["rejects_superseded"], json!(1), "{s3}");
    let m = flowlake::lake::load_manifest(&lake).unwrap();
    let truncated = m
        .blobs
        .iter()
        .find(|(k, _)| k.contains("/truncated/"))
        .unwrap()
        .1;
    assert_eq!((truncated.rejected, truncated.broken), (0, false));
}

#[test]
fn oversized_blob_is_rejected_not_loaded() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    let many: Vec<String> = (0..30_000).map(|_| GOOD.to_string()).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    write(&src, "big/PT1H.json", &envelope(&[nsg_record("2", &refs)]));
    write(
        &src,
        "small/PT1H.json",
        &envelope(&[nsg_record("2", &[GOOD])]),
    );
    let (code, s) = ingest_cli(&[&src], &d.path().join("lake"), &["--max-blob-mib", "1"]);
    assert_eq!(code, 3);
    assert_eq!(
        (
            s["rejected_by_reason"]["blob_too_large"].clone(),
            s["tuples"].clone()
        ),
        (json!(1), json!(1))
    );
}
