//! The generator's AKS scenario with its own inventory files: an address reused by another
//! workload the same day resolves to each at its own time, rolling restarts and nightly Job
//! pods raise nothing once the inventory is in, and the scenario's files import exactly once in
//! any order. (Every planted incident naming its workload is checked in `reports`.)

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{flowlake, sql_json as sql};
use crate::reports::{find, findings, json_on, legitimate_destinations, scenario, sev_rank};

#[test]
fn a_reused_address_resolves_to_each_workload_at_its_own_time() {
    let s = scenario();
    let r = &s.key["reused"];
    let ip = r["ip"].as_str().unwrap();
    let rows = sql(
        &s.lake,
        &format!(
            "SELECT k8s_workload('{ip}', TIMESTAMP '{}' - INTERVAL '1 hour') AS earlier, \
                    k8s_workload('{ip}', TIMESTAMP '{}' + INTERVAL '1 hour') AS later, \
                    k8s_workload('{ip}', TIMESTAMP '{}' + INTERVAL '1 hour') AS between",
            r["earlier_until"].as_str().unwrap(),
            r["later_since"].as_str().unwrap(),
            r["earlier_until"].as_str().unwrap(),
        ),
    );
    assert_eq!(rows[0]["earlier"], "web", "{rows:?}");
    assert_eq!(rows[0]["later"], "invoice-sync", "{rows:?}");
    assert_eq!(rows[0]["between"], Value::Null, "{rows:?}");
    // The flows from that address on the incident day: web's in the morning, invoice-sync's
    // at night, each under its own name in flows_k8s.
    let day = s.key["incident_day"].as_str().unwrap();
    let rows = sql(
        &s.lake,
        &format!(
            "SELECT src_namespace || '/' || src_workload AS w, count(*) AS n FROM flows_k8s \
             WHERE src_ip = '{ip}' AND time >= TIMESTAMP '{day}T00:00:00Z' GROUP BY 1 ORDER BY 1"
        ),
    );
    let names: Vec<&str> = rows.iter().map(|r| r["w"].as_str().unwrap()).collect();
    assert_eq!(names, ["billing/invoice-sync", "shop/web"], "{rows:?}");
    // The incident from it names invoice-sync, not the address's morning holder.
    let v = json_on(&s.lake, "exfil", &[]);
    let (_, f) = find(&v, |f| f["kind"] == "new_destination" && f["src_ip"] == ip).unwrap();
    assert_eq!(f["src_workload"], "invoice-sync", "{f}");
    let reason = f["reason"].as_str().unwrap();
    assert!(
        reason.contains("billing/invoice-sync") && !reason.contains("shop/web"),
        "{reason}"
    );
}

#[test]
fn rolling_restarts_and_nightly_job_pods_raise_nothing_with_the_inventory() {
    let s = scenario();
    let normal_day = ["--since", "2026-11-03", "--until", "2026-11-04"];
    let legit = legitimate_destinations();
    // Without the inventory, the new addresses of the day's restarted and scheduled pods look
    // like new sources reaching big destinations.
    let plain = json_on(&s.plain, "exfil", &normal_day);
    let flagged: Vec<&Value> = findings(&plain)
        .iter()
        .filter(|f| sev_rank(f) > 0 && legit.contains(&f["dst_ip"].as_str().unwrap()))
        .collect();
    assert!(
        flagged.len() >= 2,
        "the control lake flags the re-addressed pods: {plain:#}"
    );
    // With it, they are the same workloads as in the baseline: nothing.
    let v = json_on(&s.lake, "exfil", &normal_day);
    assert!(
        findings(&v).iter().all(|f| sev_rank(f) == 0),
        "a normal day has no findings above info: {v:#}"
    );
    // The workloads report sees the workloads' edges of the baseline: no new edge above info
    // (the background traffic's random small peers are new edges at info).
    let v = json_on(&s.lake, "workloads", &normal_day);
    let big: Vec<&Value> = findings(&v)
        .iter()
        .filter(|f| f["kind"] == "new_edge" && sev_rank(f) > 0)
        .collect();
    assert!(big.is_empty(), "{big:#?}");
    // On the incident day the new edges are the incidents' workloads.
    let v = json_on(&s.lake, "workloads", &[]);
    let new: Vec<&str> = findings(&v)
        .iter()
        .filter(|f| f["kind"] == "new_edge")
        .map(|f| f["src"].as_str().unwrap())
        .collect();
    for w in ["analytics/exporter", "billing/invoice-sync"] {
        assert!(new.contains(&w), "{w} not in {new:?}");
    }
    for w in ["shop/crm-sync", "data/backup", "shop/web"] {
        assert!(!new.contains(&w), "{w} in {new:?}");
    }
}

/// `inventory show` of a lake as CSV.
fn show(lake: &Path) -> String {
    let out = flowlake(
        &[
            "inventory",
            "show",
            "--lake",
            lake.to_str().unwrap(),
            "--format",
            "csv",
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn import(lake: &Path, files: &[PathBuf]) -> Value {
    let mut args = vec!["inventory", "import"];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    args.extend([
        "--lake",
        lake.to_str().unwrap(),
        "--cluster",
        "aks-prod",
        "--json",
    ]);
    let out = flowlake(&args, &[]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_scenarios_inventory_imports_exactly_once_in_any_order() {
    let s = scenario();
    let k8s = s.files.join(s.key["inventory"].as_str().unwrap());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&k8s)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let expected = show(&s.lake);
    assert!(expected.lines().count() > 100, "{expected}");

    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // Watch streams first, newest day first, then the NIC list, then the snapshots.
    let (watches, rest): (Vec<PathBuf>, Vec<PathBuf>) = files
        .iter()
        .cloned()
        .partition(|p| p.to_string_lossy().contains("watch-"));
    let mut watches = watches;
    watches.reverse();
    let first = import(&lake, &watches);
    assert_eq!(first["shapes"]["kubectl_watch"], 4, "{first}");
    let second = import(&lake, &rest);
    assert_eq!(second["imported"], rest.len(), "{second}");
    assert_eq!(show(&lake), expected, "order changes nothing");
    // Again, all of it: nothing is read twice, nothing committed.
    let manifest = std::fs::read(lake.join("_flowlake/manifest.json")).unwrap();
    let again = import(&lake, std::slice::from_ref(&k8s));
    assert_eq!(again["imported"], 0, "{again}");
    assert_eq!(again["unchanged"], files.len(), "{again}");
    assert_eq!(
        std::fs::read(lake.join("_flowlake/manifest.json")).unwrap(),
        manifest
    );
}
