//! Every Azure sample in ../shared/samples ingests to the exact expected values.

use serde_json::{Value, json};

use crate::common::*;

fn iso_us(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_micros()
}

fn one_file_lake(
    file: &std::path::Path,
) -> (tempfile::TempDir, Vec<Row>, flowlake::ingest::IngestSummary) {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let s = ingest_lib(&[file], &lake);
    let rows = read_lake(&lake);
    (dir, rows, s)
}

fn find<'a>(rows: &'a [Row], time_us: i64, src: &str, sport: i64) -> &'a Row {
    let hits: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r["time"] == json!(time_us)
                && r["src_ip"] == json!(src)
                && r["src_port"] == json!(sport)
        })
        .collect();
    assert_eq!(hits.len(), 1, "exactly one row for {time_us} {src}:{sport}");
    hits[0]
}

#[test]
fn nsg_v2_docs_sample_exact_values() {
    let (_d, rows, s) =
        one_file_lake(&crate::need!(samples(), SAMPLES).join("azure-nsg-v2-docs-sample.json"));
    assert_eq!((s.records, s.tuples, s.rejected), (2, 11, 0));
    assert_eq!(rows.len(), 11);
    let b = find(&rows, 1_542_110_377_000_000, "10.5.16.4", 59831);
    let want = json!({
        "date": "2018-11-13", "time": 1_542_110_377_000_000i64, "record_time": iso_us("2018-11-13T12:00:35.389926Z"),
        "provider": "azure_nsg", "log_version": 2,
        "resource_id": "/SUBSCRIPTIONS/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/RESOURCEGROUPS/FABRIKAMRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/FABRIAKMVM1-NSG",
        "target_resource_id": null, "subscription_id": "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e", "resource_group": "fabrikamrg",
        "nsg_name": "fabriakmvm1-nsg", "acl_id": null, "mac": "00-0D-3A-F8-78-56", "rule": "DefaultRule_AllowInternetOutBound",
        "src_ip": "10.5.16.4", "dst_ip": "203.0.113.118", "src_port": 59831, "dst_port": 443, "protocol": "tcp", "protocol_number": 6,
        "direction": "outbound", "decision": "allow", "flow_state": "begin", "encryption": null,
        "packets_src_to_dst": null, "bytes_src_to_dst": null, "packets_dst_to_src": null, "bytes_dst_to_src": null,
        "src_class": "private", "dst_class": "documentation",
        "source_record": 0,
    });
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(&b[k], v, "column {k}");
    }
    assert!(
        b["source_blob"]
            .as_str()
            .unwrap()
            .ends_with("azure-nsg-v2-docs-sample.json")
    );
    let c = find(&rows, 1_542_110_379_000_000, "10.5.16.4", 44931);
    assert_eq!(
        (
            &c["flow_state"],
            &c["packets_src_to_dst"],
            &c["bytes_src_to_dst"],
            &c["packets_dst_to_src"],
            &c["bytes_dst_to_src"]
        ),
        (
            &json!("continuing"),
            &json!(30),
            &json!(16978),
            &json!(24),
            &json!(14008)
        )
    );
    let deny = find(&rows, 1_542_110_402_000_000, "192.0.2.190", 28746);
    assert_eq!(
        (&deny["decision"], &deny["protocol"], &deny["direction"]),
        (&json!("deny"), &json!("udp"), &json!("inbound"))
    );
    let second: Vec<&Row> = rows
        .iter()
        .filter(|r| r["source_record"] == json!(1))
        .collect();
    assert_eq!(second.len(), 4);
    assert!(
        second
            .iter()
            .all(|r| r["record_time"] == json!(iso_us("2018-11-13T12:01:35.3918317Z")))
    );
}

#[test]
fn nsg_v1_samples_have_no_state_or_counters() {
    for (file, tuples, records) in [
        (
            crate::need!(samples(), SAMPLES).join("azure-nsg-v1-docs-sample.json"),
            5,
            1,
        ),
        (
            crate::need!(samples(), SAMPLES)
                .join("thirdparty/microsoft-docs-nsg-v1/nsg-v1-docs-sample.json"),
            12,
            3,
        ),
    ] {
        let (_d, rows, s) = one_file_lake(&file);
        assert_eq!(
            (s.records, s.tuples, s.rejected),
            (records, tuples, 0),
            "{}",
            file.display()
        );
        assert!(rows.iter().all(|r| r["log_version"] == json!(1)
            && r["flow_state"].is_null()
            && r["bytes_src_to_dst"].is_null()));
    }
    let (_d, rows, _) =
        one_file_lake(&crate::need!(samples(), SAMPLES).join("azure-nsg-v1-docs-sample.json"));
    let rdp = find(&rows, 1_487_282_370_000_000, "192.0.2.17", 61771);
    assert_eq!(
        (&rdp["dst_port"], &rdp["rule"], &rdp["decision"]),
        (
            &json!(3389),
            &json!("UserRule_default-allow-rdp"),
            &json!("allow")
        )
    );
}

#[test]
fn vnet_v4_docs_sample_exact_values() {
    for file in [
        crate::need!(samples(), SAMPLES).join("azure-vnet-v4-docs-sample.json"),
        crate::need!(samples(), SAMPLES)
            .join("thirdparty/microsoft-docs-vnet-v4/vnet-v4-docs-sample-record.json"),
    ] {
        let (_d, rows, s) = one_file_lake(&file);
        assert_eq!((s.records, s.tuples, s.rejected), (1, 19, 0));
        assert_eq!(
            rows.iter()
                .filter(|r| r["decision"] == json!("deny"))
                .count(),
            9
        );
        assert!(rows.iter().all(|r| r["provider"] == json!("azure_vnet")
            && r["log_version"] == json!(4)
            && r["encryption"] == json!("NX")));
        let e = find(&rows, 1_663_146_022_793_000, "10.0.0.6", 36776);
        assert_eq!(
            (
                &e["flow_state"],
                &e["packets_src_to_dst"],
                &e["bytes_src_to_dst"],
                &e["packets_dst_to_src"],
                &e["bytes_dst_to_src"]
            ),
            (
                &json!("end"),
                &json!(22),
                &json!(2217),
                &json!(33),
                &json!(32466)
            )
        );
        assert_eq!(e["mac"], json!("00-22-48-71-C2-05"));
        let d = find(&rows, 1_663_145_998_065_000, "101.33.218.153", 55188);
        assert_eq!(
            (&d["flow_state"], &d["rule"], &d["dst_port"]),
            (
                &json!("deny"),
                &json!("BlockHighRiskTCPPortsFromInternet"),
                &json!(22)
            )
        );
        assert_eq!(
            d["bytes_src_to_dst"],
            json!(0),
            "0,0,0,0 counters are zeros, not absent"
        );
    }
    let (_d, rows, _) =
        one_file_lake(&crate::need!(samples(), SAMPLES).join("azure-vnet-v4-docs-sample.json"));
    let e = find(&rows, 1_663_146_003_606_000, "10.0.0.6", 23956);
    assert_eq!(
        e["subscription_id"],
        json!("00000000-0000-0000-0000-000000000000")
    );
    assert_eq!(
        e["resource_group"],
        json!("myresourcegroup"),
        "taken from the target resource"
    );
    assert_eq!(e["acl_id"], json!("00000000-1234-abcd-ef00-c1c2c3c4c5c6"));
    assert_eq!(e["nsg_name"], Value::Null);
}

#[test]
fn vnet_bandwidth_example_sums_to_documented_totals() {
    let dir_ = tempfile::tempdir().unwrap();
    let dir = dir_.path();
    let base = crate::need!(samples(), SAMPLES).join("thirdparty/microsoft-docs-vnet-v4");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(base.join("vnet-bandwidth-example.expected.json")).unwrap(),
    )
    .unwrap();
    let file = crate::need!(bandwidth_blob(dir), SAMPLES);
    let (_d, rows, s) = one_file_lake(&file);
    assert_eq!(s.tuples, 3);
    let sum = |k: &str| rows.iter().filter_map(|r| r[k].as_i64()).sum::<i64>();
    assert_eq!(
        sum("packets_src_to_dst") + sum("packets_dst_to_src"),
        expected["total_packets"].as_i64().unwrap()
    );
    assert_eq!(
        sum("bytes_src_to_dst") + sum("bytes_dst_to_src"),
        expected["total_bytes"].as_i64().unwrap()
    );
    assert_eq!(
        (
            expected["total_packets"].as_i64(),
            expected["total_bytes"].as_i64()
        ),
        (Some(9125), Some(5_256_000))
    );
    for t in expected["per_tuple"].as_array().unwrap() {
        let row = rows
            .iter()
            .find(|r| {
                r["flow_state"]
                    .as_str()
                    .unwrap()
                    .starts_with(&t["state"].as_str().unwrap().to_lowercase())
            })
            .unwrap();
        assert_eq!(
            row["time"],
            json!(t["ts_raw"].as_str().unwrap().parse::<i64>().unwrap() * 1_000_000)
        );
        for (col, key) in [
            ("packets_src_to_dst", "packets_src_to_dst"),
            ("bytes_src_to_dst", "bytes_src_to_dst"),
            ("packets_dst_to_src", "packets_dst_to_src"),
            ("bytes_dst_to_src", "bytes_dst_to_src"),
            ("src_ip", "src_ip"),
            ("dst_ip", "dst_ip"),
            ("src_port", "src_port"),
            ("dst_port", "dst_port"),
            ("protocol_number", "protocol"),
            ("encryption", "encryption"),
        ] {
            assert_eq!(row[col], t[key], "{col} of the {} tuple", t["state"]);
        }
    }
}

/// Compares our rows with Elastic's expected parse of the same records.
fn check_elastic(rows: &[Row], expected: &Value, vnet: bool) -> usize {
    let mut checked = 0;
    for doc in expected["expected"].as_array().unwrap() {
        let log = if vnet {
            &doc["azure_network_watcher_vnet"]["log"]
        } else {
            &doc["azure_network_watcher_nsg"]["log"]
        };
        let record_ms = iso_us(log["time"].as_str().unwrap()) / 1000;
        let mut groups = Vec::new();
        if vnet {
            for f in log["records"]["flows"].as_array().unwrap() {
                for g in f["groups"].as_array().unwrap() {
                    groups.push((
                        g["rule"].clone(),
                        f["acl_id"].clone(),
                        log["mac_address"].clone(),
                        g["tuples"].clone(),
                    ));
                }
            }
        } else {
            for f in log["properties"]["flows"].as_array().unwrap() {
                for m in f["flows"].as_array().unwrap() {
                    groups.push((
                        f["rule"].clone(),
                        Value::Null,
                        m["mac"].clone(),
                        m["tuples"].clone(),
                    ));
                }
            }
        }
        for (rule, acl, mac, tuples) in groups {
            for t in tuples.as_array().unwrap() {
                let row = find(
                    rows,
                    iso_us(t["timestamp"].as_str().unwrap()),
                    t["source"]["ip"].as_str().unwrap(),
                    t["source"]["port"].as_i64().unwrap(),
                );
                assert_eq!(row["record_time"].as_i64().unwrap() / 1000, record_ms);
                assert_eq!(row["rule"], rule);
                assert_eq!(row["mac"], mac);
                assert_eq!(row["dst_ip"], t["destination"]["ip"]);
                assert_eq!(row["dst_port"], t["destination"]["port"]);
                assert_eq!(row["bytes_src_to_dst"], t["bytes"]["sent"]);
                assert_eq!(row["bytes_dst_to_src"], t["bytes"]["received"]);
                assert_eq!(row["packets_src_to_dst"], t["packets"]["sent"]);
                assert_eq!(row["packets_dst_to_src"], t["packets"]["received"]);
                let (dir, state) = if vnet {
                    (&t["flow"]["direction"], &t["flow"]["state"])
                } else {
                    (&t["traffic"]["flow"], &t["flow_state"])
                };
                assert_eq!(
                    row["direction"].as_str().unwrap(),
                    dir.as_str().unwrap().to_lowercase()
                );
                assert_eq!(
                    row["flow_state"].as_str().unwrap(),
                    state.as_str().unwrap().to_lowercase()
                );
                if vnet {
                    assert_eq!(row["acl_id"], acl);
                    assert_eq!(row["encryption"], t["flow"]["encryption"]);
                    assert_eq!(
                        row["protocol_number"].to_string(),
                        t["protocol"].as_str().unwrap()
                    );
                    assert_eq!(row["resource_id"], log["flow_log"]["resource_id"]);
                    assert_eq!(row["target_resource_id"], log["target_resource_id"]);
                } else {
                    assert_eq!(
                        row["protocol"].as_str().unwrap(),
                        t["protocol"].as_str().unwrap().to_lowercase()
                    );
                    assert_eq!(
                        row["decision"],
                        json!(if t["traffic"]["decision"] == json!("Allowed") {
                            "allow"
                        } else {
                            "deny"
                        })
                    );
                    assert_eq!(row["resource_id"], log["resource_id"]);
                    assert_eq!(
                        row["log_version"].to_string(),
                        log["properties"]["version"].as_str().unwrap()
                    );
                }
                checked += 1;
            }
        }
    }
    checked
}

#[test]
fn elastic_nsg_fixture_matches_expected_parse() {
    let base = crate::need!(samples(), SAMPLES)
        .join("thirdparty/elastic-integrations-azure_network_watcher_nsg");
    let (_d, rows, s) = one_file_lake(&base.join("test-nsg.log"));
    assert_eq!((s.tuples, s.rejected), (1, 0));
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(base.join("test-nsg.log-expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(check_elastic(&rows, &expected, false), 1);
    let (_d, _rows, s) = one_file_lake(&base.join("testdata.log"));
    assert_eq!((s.records, s.tuples, s.rejected), (2, 11, 0));
}

#[test]
fn elastic_vnet_fixture_matches_expected_parse() {
    let base = crate::need!(samples(), SAMPLES)
        .join("thirdparty/elastic-integrations-azure_network_watcher_vnet");
    let (_d, rows, s) = one_file_lake(&base.join("test-vnet.log"));
    assert_eq!((s.tuples, s.rejected), (2, 0));
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(base.join("test-vnet.log-expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(check_elastic(&rows, &expected, true), 2);
    let (_d, _rows, s) = one_file_lake(&base.join("testdata.log"));
    assert_eq!((s.records, s.tuples, s.rejected), (1, 19, 0));
}
