//! Synthetic Azure flow-log blob trees for demos, tests and benchmarks.
//!
//! Why: real flow logs are private, and benchmarks need tens of millions of tuples. The
//! generator writes the real container layout (`insights-logs-.../y=/m=/d=/h=/m=00/
//! macAddress=/PT1H.json`), one record per minute as Azure does, with plausible traffic per
//! NIC: HTTPS egress, DNS to Azure DNS, east-west traffic, allowed inbound web and denied
//! scans, with begin/continuing/end tuples carrying delta counters. Output is deterministic
//! for a given seed. [`scenario`] adds an AKS cluster's traffic ([`aks`]), regular big transfers
//! and planted incidents for the reports.

pub mod aks;
pub mod scenario;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::error::{Error, IoContext, Result};

/// Which formats to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenFormat {
    /// NSG flow logs version 1 (no state, no counters).
    NsgV1,
    /// NSG flow logs version 2.
    NsgV2,
    /// VNet flow logs version 4.
    Vnet,
    /// Half the NICs NSG v2, half VNet v4.
    Mixed,
}

/// What the NICs' traffic is like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenMix {
    /// Servers: HTTPS egress, DNS, east-west calls, some inbound web, denied scans.
    Servers,
    /// Web front ends: mostly short inbound HTTPS connections from a few hundred returning
    /// clients per NIC (a new ephemeral source port each), calls to a database, DNS.
    WebClients,
}

/// Generator settings.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Output root (the storage account: containers are created inside).
    pub out: PathBuf,
    /// First day (UTC).
    pub start: NaiveDate,
    /// Number of days.
    pub days: u32,
    /// Hours per day (1..=24), from midnight.
    pub hours: u32,
    /// Number of NICs.
    pub nics: u32,
    /// Tuples per NIC per hour (about).
    pub tuples_per_hour: u32,
    /// Formats.
    pub format: GenFormat,
    /// The traffic.
    pub mix: GenMix,
    /// Random seed.
    pub seed: u64,
    /// Add the report scenario ([`scenario`]) and write its files into this directory.
    pub scenario: Option<PathBuf>,
}

/// What was generated.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenSummary {
    /// Blobs written.
    pub blobs: u64,
    /// Records written.
    pub records: u64,
    /// Tuples written.
    pub tuples: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// SplitMix64: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub(crate) const SUB: &str = "6a1f3c2e-9b4d-4e8a-a1c0-5d2f7e9b3c41";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fmt {
    V1,
    V2,
    V4,
}

struct Nic {
    ip: [u8; 4],
    mac: String,
    fmt: Fmt,
    prefix: String,
    resource_id: String,
    target_id: String,
}

/// The address of NIC `i`.
fn nic_ip(i: u32) -> [u8; 4] {
    [10, 224, (i / 250) as u8, (i % 250 + 4) as u8]
}

fn nic(i: u32, fmt: Fmt) -> Nic {
    let ip = nic_ip(i);
    let mac = format!("000D3A{:06X}", 0x10_0000 + i);
    let nsg = format!("AKS-AGENTPOOL-{:02}-NSG", i % 4);
    let nsg_id = format!(
        "/SUBSCRIPTIONS/{}/RESOURCEGROUPS/MC_PLATFORM_AKS-PROD_WESTEUROPE/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/{nsg}",
        SUB.to_uppercase()
    );
    let fl_id = format!(
        "/SUBSCRIPTIONS/{}/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/AKS-VNET-FLOWLOG",
        SUB.to_uppercase()
    );
    let target = format!(
        "/subscriptions/{SUB}/resourceGroups/mc_platform_aks-prod_westeurope/providers/Microsoft.Network/virtualNetworks/aks-vnet-{}",
        i % 2
    );
    match fmt {
        Fmt::V1 | Fmt::V2 => Nic {
            ip,
            mac,
            fmt,
            prefix: format!("insights-logs-networksecuritygroupflowevent/resourceId={nsg_id}"),
            resource_id: nsg_id,
            target_id: String::new(),
        },
        Fmt::V4 => Nic {
            ip,
            mac,
            fmt,
            prefix: format!("insights-logs-flowlogflowevent/flowLogResourceID={fl_id}"),
            resource_id: fl_id,
            target_id: target,
        },
    }
}

/// One tuple before formatting.
struct T {
    ts_ms: i64,
    src: String,
    dst: String,
    sport: u16,
    dport: u16,
    udp: bool,
    inbound: bool,
    allow: bool,
    state: u8,
    counters: Option<[u64; 4]>,
    rule: &'static str,
}

fn public_ip(r: &mut Rng, pool: u64) -> String {
    // A stable pool of public destinations: 20.x (Azure), 52.x, 104.16.x (CDN), 140.82.x.
    let k = r.below(pool);
    let firsts = [20u64, 52, 104, 140, 151, 185];
    let a = firsts[(k % firsts.len() as u64) as usize];
    format!(
        "{a}.{}.{}.{}",
        (k * 7) % 250 + 1,
        (k * 13) % 250 + 1,
        (k * 31) % 250 + 1
    )
}

/// Clients of a web front end: a pool of `pool` addresses in residential-looking ranges.
fn client_ip(r: &mut Rng, pool: u64) -> String {
    let k = r.below(pool);
    format!(
        "{}.{}.{}.{}",
        73 + k % 20,
        (k * 11) % 250 + 1,
        (k * 17) % 250 + 1,
        (k * 29) % 250 + 1
    )
}

/// Kind of a web front end's next flow, in the numbering of [`flows_for_hour`]'s match.
const WEB_CLIENT: u64 = 100;

fn flows_for_hour(
    r: &mut Rng,
    n: &Nic,
    hour_start_ms: i64,
    (target, nics, mix): (u32, u32, GenMix),
) -> Vec<T> {
    let mut out = Vec::with_capacity(target as usize + 4);
    let me = format!("{}.{}.{}.{}", n.ip[0], n.ip[1], n.ip[2], n.ip[3]);
    while out.len() < target as usize {
        let t0 = hour_start_ms + r.below(3_540_000) as i64;
        let kind = match (mix, r.below(100)) {
            (GenMix::Servers, k) => k,
            (GenMix::WebClients, 0..=84) => WEB_CLIENT,
            (GenMix::WebClients, 85..=94) => 65, // east-west: the database and other services
            (GenMix::WebClients, _) => 50,       // DNS
        };
        let sport = 30_000 + r.below(30_000) as u16;
        let (src, dst, dport, udp, inbound, allow, rule, bytes): (
            String,
            String,
            u16,
            bool,
            bool,
            bool,
            &str,
            u64,
        ) = match kind {
            0..=49 => (
                me.clone(),
                public_ip(r, 400),
                if r.below(10) == 0 { 80 } else { 443 },
                false,
                false,
                true,
                "DefaultRule_AllowInternetOutBound",
                2_000 + r.below(200_000),
            ),
            50..=64 => (
                me.clone(),
                "168.63.129.16".into(),
                53,
                true,
                false,
                true,
                "DefaultRule_AllowVnetOutBound",
                80 + r.below(300),
            ),
            65..=79 => {
                let peer = r.below(u64::from(nics.max(2))) as u32;
                let p = nic(peer, n.fmt).ip;
                let ports = [8080u16, 5432, 6379, 9090, 443];
                (
                    me.clone(),
                    format!("{}.{}.{}.{}", p[0], p[1], p[2], p[3]),
                    ports[r.below(5) as usize],
                    false,
                    false,
                    true,
                    "DefaultRule_AllowVnetOutBound",
                    500 + r.below(50_000),
                )
            }
            // inbound HTTPS: a web front end's returning clients, or a server's occasional ones
            WEB_CLIENT | 80..=87 => {
                let (client, size) = match kind {
                    WEB_CLIENT => (client_ip(r, 300), 60_000),
                    _ => (public_ip(r, 5_000), 20_000),
                };
                (
                    client,
                    me.clone(),
                    443,
                    false,
                    true,
                    true,
                    "UserRule_allow-https-inbound",
                    1_000 + r.below(size),
                )
            }
            _ => {
                let scan_ports = [22u16, 23, 3389, 445, 1433, 3306, 5900, 8088];
                (
                    format!(
                        "{}.{}.{}.{}",
                        45 + r.below(150),
                        r.below(256),
                        r.below(256),
                        1 + r.below(254)
                    ),
                    me.clone(),
                    scan_ports[r.below(8) as usize],
                    r.below(5) == 0,
                    true,
                    false,
                    "DefaultRule_DenyAllInBound",
                    0,
                )
            }
        };
        let base = T {
            ts_ms: t0,
            src,
            dst,
            sport,
            dport,
            udp,
            inbound,
            allow,
            state: b'B',
            counters: None,
            rule,
        };
        if !allow {
            out.push(T {
                state: if n.fmt == Fmt::V4 { b'D' } else { b'B' },
                counters: (n.fmt == Fmt::V4).then_some([0; 4]),
                ..base
            });
            continue;
        }
        let pk = bytes / 700 + 1;
        let split = |b: u64| -> [u64; 4] { [pk, b, pk, b * 3] };
        let dur = 50 + r.below(50_000) as i64;
        let begin_counters = (n.fmt == Fmt::V4).then_some([0; 4]);
        out.push(T {
            ts_ms: t0,
            src: base.src.clone(),
            dst: base.dst.clone(),
            counters: begin_counters,
            ..base
        });
        if r.below(4) == 0 {
            out.push(T {
                ts_ms: t0 + dur / 2,
                src: base.src.clone(),
                dst: base.dst.clone(),
                state: b'C',
                counters: Some(split(bytes / 2)),
                ..base
            });
        }
        out.push(T {
            ts_ms: (t0 + dur).min(hour_start_ms + 3_599_999),
            state: b'E',
            counters: Some(split(bytes - bytes / 2)),
            ..base
        });
    }
    out.truncate(target as usize);
    out.sort_by_key(|t| t.ts_ms);
    out
}

fn fmt_tuple(s: &mut String, n: &Nic, t: &T) {
    s.push('"');
    match n.fmt {
        Fmt::V1 | Fmt::V2 => {
            let _ = write!(
                s,
                "{},{},{},{},{},{},{},{}",
                t.ts_ms / 1000,
                t.src,
                t.dst,
                t.sport,
                t.dport,
                if t.udp { 'U' } else { 'T' },
                if t.inbound { 'I' } else { 'O' },
                if t.allow { 'A' } else { 'D' }
            );
            if n.fmt == Fmt::V2 {
                let _ = write!(s, ",{}", t.state as char);
                match t.counters {
                    Some(c) => {
                        let _ = write!(s, ",{},{},{},{}", c[0], c[1], c[2], c[3]);
                    }
                    None => s.push_str(",,,,"),
                }
            }
        }
        Fmt::V4 => {
            let c = t.counters.unwrap_or([0; 4]);
            let _ = write!(
                s,
                "{},{},{},{},{},{},{},{},NX,{},{},{},{}",
                t.ts_ms,
                t.src,
                t.dst,
                t.sport,
                t.dport,
                if t.udp { 17 } else { 6 },
                if t.inbound { 'I' } else { 'O' },
                t.state as char,
                c[0],
                c[1],
                c[2],
                c[3]
            );
        }
    }
    s.push('"');
}

/// Formats one record (one minute of one NIC) in the NIC's format.
fn fmt_record(s: &mut String, n: &Nic, time: &str, tuples: &[T]) {
    let mut rules: Vec<&'static str> = tuples.iter().map(|t| t.rule).collect();
    rules.sort_unstable();
    rules.dedup();
    let groups = |s: &mut String, inner_nsg: bool| {
        for (gi, rule) in rules.iter().enumerate() {
            if gi > 0 {
                s.push(',');
            }
            if inner_nsg {
                let _ = write!(
                    s,
                    r#"{{"rule":"{rule}","flows":[{{"mac":"{}","flowTuples":["#,
                    n.mac
                );
            } else {
                let _ = write!(s, r#"{{"rule":"{rule}","flowTuples":["#);
            }
            for (i, t) in tuples.iter().filter(|t| t.rule == *rule).enumerate() {
                if i > 0 {
                    s.push(',');
                }
                fmt_tuple(s, n, t);
            }
            s.push_str(if inner_nsg { "]}]}" } else { "]}" });
        }
    };
    match n.fmt {
        Fmt::V1 | Fmt::V2 => {
            let _ = write!(
                s,
                r#"{{"time":"{time}","systemId":"5b7c1e0a-2f3d-4c5b-8a9e-0d1c2b3a4f5e","category":"NetworkSecurityGroupFlowEvent","resourceId":"{}","operationName":"NetworkSecurityGroupFlowEvents","properties":{{"Version":{},"flows":["#,
                n.resource_id,
                if n.fmt == Fmt::V1 { 1 } else { 2 }
            );
            groups(s, true);
            s.push_str("]}}");
        }
        Fmt::V4 => {
            let _ = write!(
                s,
                r#"{{"time":"{time}","flowLogVersion":4,"flowLogGUID":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0","macAddress":"{}","category":"FlowLogFlowEvent","flowLogResourceID":"{}","targetResourceID":"{}","operationName":"FlowLogFlowEvent","flowRecords":{{"flows":[{{"aclID":"7c6b5a49-3827-4160-9f8e-7d6c5b4a3928","flowGroups":["#,
                n.mac, n.resource_id, n.target_id
            );
            groups(s, false);
            s.push_str("]}]}}");
        }
    }
}

/// Path of the blob of `n` for the hour starting at `day` + `hour`.
fn blob_path(out: &Path, n: &Nic, day: NaiveDate, hour: u32) -> PathBuf {
    out.join(&n.prefix).join(format!(
        "y={}/m={:02}/d={:02}/h={:02}/m=00/macAddress={}/PT1H.json",
        day.year(),
        day.month(),
        day.day(),
        hour,
        n.mac
    ))
}

/// Writes the blob tree. NICs are split over the available cores.
pub fn generate(opts: &GenOptions) -> Result<GenSummary> {
    if opts.hours == 0 || opts.hours > 24 {
        return Err(Error::Invalid(format!(
            "--hours must be 1..24, not {}",
            opts.hours
        )));
    }
    if opts.scenario.is_some()
        && (opts.nics < scenario::MIN_NICS || opts.hours < 24 || opts.days < 2)
    {
        return Err(Error::Invalid(format!(
            "--scenario needs at least {} NICs, 24 hours and 2 days (a baseline and the incident day)",
            scenario::MIN_NICS
        )));
    }
    let cluster = opts
        .scenario
        .as_ref()
        .map(|_| aks::Cluster::new(opts.start, opts.days, opts.nics));
    if let (Some(dir), Some(c)) = (&opts.scenario, &cluster) {
        let last = opts.start + chrono::Days::new(u64::from(opts.days - 1));
        scenario::write_files(dir, last, c)?;
    }
    let cluster = cluster.as_ref();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
    let results: Vec<Result<GenSummary>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                s.spawn(move || {
                    let mut sum = GenSummary::default();
                    for i in (w..opts.nics).step_by(workers as usize) {
                        let fmt = match opts.format {
                            GenFormat::NsgV1 => Fmt::V1,
                            GenFormat::NsgV2 => Fmt::V2,
                            GenFormat::Vnet => Fmt::V4,
                            GenFormat::Mixed if i % 2 == 0 => Fmt::V2,
                            GenFormat::Mixed => Fmt::V4,
                        };
                        let n = nic(i, fmt);
                        let mut r = Rng(opts.seed ^ (u64::from(i) << 32) ^ 0x5EED);
                        for d in 0..opts.days {
                            let day = opts.start + chrono::Days::new(u64::from(d));
                            for h in 0..opts.hours {
                                let last = d + 1 == opts.days;
                                let at = (day, last, h);
                                write_blob(&mut r, opts, cluster, (i, &n), at, &mut sum)?;
                            }
                        }
                    }
                    Ok(sum)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("generator thread panicked"))
            .collect()
    });
    let mut total = GenSummary::default();
    for r in results {
        let s = r?;
        total.blobs += s.blobs;
        total.records += s.records;
        total.tuples += s.tuples;
        total.bytes += s.bytes;
    }
    Ok(total)
}

fn write_blob(
    r: &mut Rng,
    opts: &GenOptions,
    cluster: Option<&aks::Cluster>,
    (i, n): (u32, &Nic),
    (day, last_day, hour): (NaiveDate, bool, u32),
    sum: &mut GenSummary,
) -> Result<()> {
    let start = day.and_hms_opt(hour, 0, 0).expect("valid hour").and_utc();
    let start_ms = start.timestamp_millis();
    let mut tuples = flows_for_hour(r, n, start_ms, (opts.tuples_per_hour, opts.nics, opts.mix));
    if let Some(c) = cluster {
        scenario::add(&mut tuples, c, (i, n), (hour, start_ms), last_day);
        tuples.sort_by_key(|t| t.ts_ms);
    }
    let mut s = String::with_capacity(tuples.len() * 80 + 4096);
    s.push_str("{\"records\":[");
    let mut records = 0;
    let mut i = 0;
    for minute in 0..60i64 {
        let end = (minute + 1) * 60_000 + start_ms;
        let j = i + tuples[i..].iter().take_while(|t| t.ts_ms < end).count();
        if j == i {
            continue;
        }
        if records > 0 {
            s.push_str("\r\n,");
        }
        let time = chrono::DateTime::from_timestamp_millis(end + 35_389).expect("valid time");
        // Azure writes 7 fractional digits (100 ns ticks).
        fmt_record(
            &mut s,
            n,
            &time.format("%Y-%m-%dT%H:%M:%S%.6f0Z").to_string(),
            &tuples[i..j],
        );
        records += 1;
        i = j;
    }
    s.push_str("\r\n]}");
    let path = blob_path(&opts.out, n, day, hour);
    let dir = path.parent().expect("blob path has a parent");
    std::fs::create_dir_all(dir).ctx("create", dir)?;
    std::fs::write(&path, s.as_bytes()).ctx("write", &path)?;
    sum.blobs += 1;
    sum.records += records;
    sum.tuples += tuples.len() as u64;
    sum.bytes += s.len() as u64;
    Ok(())
}
