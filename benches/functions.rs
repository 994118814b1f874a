//! Criterion benchmarks of the address functions, one core, the way DataFusion calls them:
//! batches of 8,192 rows of `Utf8View` addresses (as read from Parquet), 10 M rows per
//! iteration. Throughput is reported in elements (rows) per second, which is rows/s per core.
//!
//! Run: `cargo bench --bench functions` (add `-- ip_class` to pick one).
//!
//! `k8s_workload`: address-at-time lookups against 50,000 inventory intervals (10,000 pod
//! addresses, each reused by 5 pods over a week), on flow-like rows: addresses drawn from
//! the pods, times spread over the week, in record-sized runs of one address.
//!
//! `geo_country` / `asn`-style lookups: a real GeoLite2 City file (`FLOWLAKE_GEOIP_DB`, else
//! the one PyPI's maxminddb-geolite2 ships; skipped with a message when neither is there), on
//! egress-like rows: 2,000 public destinations drawn over and over, as flows repeat peers.

use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use datafusion::arrow::array::TimestampMicrosecondArray;
use datafusion::arrow::array::{ArrayRef, StringViewArray};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF};
use flowlake::enrich::{GeoDbs, InventoryIndex, IpSets, SetSpec, functions, geo, k8s, sets};
use flowlake::inventory::intervals::{Snapshots, merge};
use flowlake::inventory::{AddrKind, BindingKey, Holder, Observation};

const ROWS: usize = 10_000_000;
const BATCH: usize = 8192;

/// xorshift, so every run sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Flow-log-like addresses: 45 % private, 50 % public IPv4, 5 % IPv6.
fn addresses(rng: &mut Rng) -> Vec<ArrayRef> {
    let mut batches = Vec::new();
    let mut left = ROWS;
    while left > 0 {
        let n = left.min(BATCH);
        let v: Vec<String> = (0..n)
            .map(|_| {
                let r = rng.next();
                match r % 20 {
                    0..=8 => format!("10.{}.{}.{}", r >> 8 & 255, r >> 16 & 255, r >> 24 & 255),
                    9..=18 => format!(
                        "{}.{}.{}.{}",
                        (r >> 8 & 127) + 20,
                        r >> 16 & 255,
                        r >> 24 & 255,
                        r >> 32 & 255
                    ),
                    _ => format!("2603:1030:{:x}::{:x}", r >> 8 & 0xffff, r >> 24 & 0xffff),
                }
            })
            .collect();
        batches.push(Arc::new(StringViewArray::from_iter_values(v)) as ArrayRef);
        left -= n;
    }
    batches
}

fn udf(list: &[ScalarUDF], name: &str) -> ScalarUDF {
    list.iter().find(|f| f.name() == name).unwrap().clone()
}

/// Calls `f` on every batch, as DataFusion would.
fn run(f: &ScalarUDF, batches: &[ArrayRef], extra: Option<ScalarValue>, ret: DataType) {
    let config = Arc::new(ConfigOptions::default());
    for b in batches {
        let mut args = vec![ColumnarValue::Array(b.clone())];
        let mut fields = vec![Arc::new(Field::new("ip", DataType::Utf8View, true))];
        if let Some(v) = &extra {
            args.push(ColumnarValue::Scalar(v.clone()));
            fields.push(Arc::new(Field::new("x", v.data_type(), true)));
        }
        let out = f
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields: fields,
                number_rows: b.len(),
                return_field: Arc::new(Field::new("out", ret.clone(), true)),
                config_options: config.clone(),
            })
            .unwrap();
        black_box(out);
    }
}

/// A list of `n` random IPv4 prefixes (/12 to /32, labelled) written to a temporary file.
fn prefix_file(rng: &mut Rng, n: usize) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let mut w = std::io::BufWriter::new(f.as_file_mut());
    for i in 0..n {
        let r = rng.next();
        let len = 12 + (r % 21) as u32;
        let a = (r >> 16) as u32;
        let a = a & (u32::MAX << (32 - len));
        writeln!(w, "{}/{len} entry-{i}", std::net::Ipv4Addr::from(a)).unwrap();
    }
    drop(w);
    f
}

fn benches(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let batches = addresses(&mut rng);
    let address = functions::all();
    let mut g = c.benchmark_group("address functions, 10 M Utf8View rows, 1 core");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("ip_class", |b| {
        let f = udf(&address, "ip_class");
        b.iter(|| run(&f, &batches, None, DataType::Utf8View))
    });
    g.bench_function("is_public", |b| {
        let f = udf(&address, "is_public");
        b.iter(|| run(&f, &batches, None, DataType::Boolean))
    });
    g.bench_function("ip_network /24", |b| {
        let f = udf(&address, "ip_network");
        b.iter(|| {
            run(
                &f,
                &batches,
                Some(ScalarValue::Int64(Some(24))),
                DataType::Utf8View,
            )
        })
    });
    for n in [100_000, 1_000_000] {
        let file = prefix_file(&mut rng, n);
        let sets = Arc::new(
            IpSets::load(
                &[SetSpec {
                    name: "intel".into(),
                    path: file.path().to_path_buf(),
                }],
                &Arc::new(flowlake::enrich::GeoDbs::default()),
            )
            .unwrap(),
        );
        let set_fns = sets::all(sets);
        let name = Some(ScalarValue::Utf8(Some("intel".into())));
        g.bench_function(format!("ip_in_set, {n} prefixes"), |b| {
            let f = udf(&set_fns, "ip_in_set");
            b.iter(|| run(&f, &batches, name.clone(), DataType::Boolean))
        });
        g.bench_function(format!("ip_set_label, {n} prefixes"), |b| {
            let f = udf(&set_fns, "ip_set_label");
            b.iter(|| run(&f, &batches, name.clone(), DataType::Utf8View))
        });
    }
    g.finish();
}

const WEEK_US: i64 = 7 * 86_400_000_000;

/// 10,000 addresses × 5 consecutive pods of different workloads = 50,000 intervals.
fn inventory() -> InventoryIndex {
    let mut obs = Vec::new();
    for a in 0..10_000u32 {
        let address = format!("10.244.{}.{}", a / 250, a % 250 + 2);
        for k in 0..5i64 {
            obs.push(Observation {
                key: BindingKey {
                    cluster: "aks".into(),
                    address: address.clone(),
                    kind: AddrKind::Pod,
                    uid: format!("{a}-{k}"),
                },
                holder: Holder {
                    namespace: Some(format!("ns{}", a % 20)),
                    name: format!("pod-{a}-{k}"),
                    workload_kind: Some("Deployment".into()),
                    workload: Some(format!("w{}", (a + k as u32) % 300)),
                    ..Holder::default()
                },
                seen: None,
                start: Some(k * WEEK_US / 5),
                end: Some((k + 1) * WEEK_US / 5 - 1_000_000),
                gone_by: None,
                observed_at: 0,
            });
        }
    }
    let rows = merge(vec![], obs, &Snapshots::new());
    assert_eq!(rows.len(), 50_000);
    InventoryIndex::new(rows, "bench".into())
}

/// Flow-like (address, time) batches: runs of 1 to 16 rows of one pod address at one time.
fn flow_rows(rng: &mut Rng) -> Vec<(ArrayRef, ArrayRef)> {
    let mut out = Vec::new();
    let mut left = ROWS;
    while left > 0 {
        let n = left.min(BATCH);
        let (mut ips, mut times) = (Vec::with_capacity(n), Vec::with_capacity(n));
        while ips.len() < n {
            let r = rng.next();
            let a = (r % 10_000) as u32;
            let t = (r >> 20) as i64 % WEEK_US;
            for _ in 0..(1 + (r >> 60) as usize).min(n - ips.len()) {
                ips.push(format!("10.244.{}.{}", a / 250, a % 250 + 2));
                times.push(t);
            }
        }
        out.push((
            Arc::new(StringViewArray::from_iter_values(ips)) as ArrayRef,
            Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")) as ArrayRef,
        ));
        left -= n;
    }
    out
}

fn k8s_benches(c: &mut Criterion) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let batches = flow_rows(&mut rng);
    let f = udf(&k8s::all(Arc::new(inventory())), "k8s_workload");
    let config = Arc::new(ConfigOptions::default());
    let ts = DataType::Timestamp(
        datafusion::arrow::datatypes::TimeUnit::Microsecond,
        Some("UTC".into()),
    );
    let mut g = c.benchmark_group("address-at-time lookups, 10 M rows, 50 k intervals, 1 core");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("k8s_workload", |b| {
        b.iter(|| {
            for (ips, times) in &batches {
                let out = f
                    .invoke_with_args(ScalarFunctionArgs {
                        args: vec![
                            ColumnarValue::Array(ips.clone()),
                            ColumnarValue::Array(times.clone()),
                        ],
                        arg_fields: vec![
                            Arc::new(Field::new("ip", DataType::Utf8View, true)),
                            Arc::new(Field::new("time", ts.clone(), true)),
                        ],
                        number_rows: ips.len(),
                        return_field: Arc::new(Field::new("out", DataType::Utf8View, true)),
                        config_options: config.clone(),
                    })
                    .unwrap();
                black_box(out);
            }
        })
    });
    g.finish();
}

/// The GeoLite2 City file to benchmark with, if one is there.
fn geolite2_city() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("FLOWLAKE_GEOIP_DB") {
        return Some(p.into());
    }
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import _maxminddb_geolite2, os; print(os.path.join(os.path.dirname(_maxminddb_geolite2.__file__), 'GeoLite2-City.mmdb'))",
        ])
        .output()
        .ok()?;
    let p = std::path::PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    p.is_file().then_some(p)
}

fn geo_benches(c: &mut Criterion) {
    let Some(db) = geolite2_city() else {
        eprintln!("skipped geo_country: set FLOWLAKE_GEOIP_DB or pip install maxminddb-geolite2");
        return;
    };
    let dbs = Arc::new(GeoDbs::load(&[db]).unwrap());
    let fns = geo::all(dbs);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let peers: Vec<String> = (0..2_000)
        .map(|_| {
            let r = rng.next();
            let firsts = [20u64, 52, 104, 140, 151, 185, 81, 91, 5, 45];
            format!(
                "{}.{}.{}.{}",
                firsts[(r % 10) as usize],
                (r >> 8) % 256,
                (r >> 16) % 256,
                1 + (r >> 24) % 254
            )
        })
        .collect();
    let mut batches = Vec::new();
    let mut left = ROWS;
    while left > 0 {
        let n = left.min(BATCH);
        let ips: Vec<&str> = (0..n)
            .map(|_| peers[(rng.next() % peers.len() as u64) as usize].as_str())
            .collect();
        batches.push(Arc::new(StringViewArray::from_iter_values(ips)) as ArrayRef);
        left -= n;
    }
    let mut g = c.benchmark_group("location lookups, 10 M rows, 2,000 peers, 1 core");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64));
    for (name, ret) in [
        ("geo_country", DataType::Utf8View),
        ("geo_city", DataType::Utf8View),
    ] {
        let f = udf(&fns, name);
        g.bench_function(name, |b| b.iter(|| run(&f, &batches, None, ret.clone())));
    }
    g.finish();
}

criterion_group!(functions_benches, benches, k8s_benches, geo_benches);
criterion_main!(functions_benches);
