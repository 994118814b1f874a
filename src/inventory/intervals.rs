//! Observations merged into validity intervals, with how certain their ends are.
//!
//! Why: snapshots say "present at T" and "absent at T'" for a whole kind; watch events and
//! object times say exactly when a binding began and ended. A flow at time `t` needs the one
//! binding that held its address then. Merging is a fold of minima and maxima per binding
//! (first and last seen, object start and end), so importing a file twice, or snapshots out
//! of order, gives the same intervals: that is what makes imports idempotent.
//!
//! Ends:
//! - **from**: the object's own start (`exact`); else the first snapshot that saw it
//!   (`bounded`: it began after the snapshot before, `earliest_from`). A binding without
//!   object times seen in the first listing of its kind (a NIC list taken today) began at an
//!   `unknown` time: it holds back to the end of the address's previous holder, or from
//!   [`UNKNOWN_START`] when it had none, so last week's flows to a VM listed only today are
//!   named (a report marks such a name: `…_first_listed`). Pods keep their own times.
//! - **until**: the object's own end (`exact`); else the first later snapshot of its kind
//!   that no longer shows it, or a watch stream's deletion (`bounded`: it ended by then);
//!   else `open` (still held at the last snapshot).

use std::collections::{BTreeMap, BTreeSet};

use super::{BindingKey, Holder, Observation};

/// How certain an end of an interval is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certainty {
    /// From the object's own times or a watch event.
    Exact,
    /// Between two snapshots: the value is the latest possible end, or the first sighting.
    Bounded,
    /// No end yet: held at the last snapshot.
    Open,
    /// A start before the first listing, when is unknown (see the module docs).
    Unknown,
}

/// `valid_from` of a binding whose start is unknown and that no earlier holder of its
/// address bounds: 1970-01-01T00:00:00Z.
pub const UNKNOWN_START: i64 = 0;

impl Certainty {
    /// The name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Certainty::Exact => "exact",
            Certainty::Bounded => "bounded",
            Certainty::Open => "open",
            Certainty::Unknown => "unknown",
        }
    }

    /// Parses [`Certainty::as_str`].
    pub fn parse(s: &str) -> Option<Certainty> {
        [
            Certainty::Exact,
            Certainty::Bounded,
            Certainty::Open,
            Certainty::Unknown,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Times of full listings: (cluster, object kind) → snapshot times (µs).
pub type Snapshots = BTreeMap<(String, String), BTreeSet<i64>>;

/// One binding over time: a row of the `inventory` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    /// Which binding.
    pub key: BindingKey,
    /// Its holder, as last observed.
    pub holder: Holder,
    /// First snapshot that showed it.
    pub first_seen: Option<i64>,
    /// Last snapshot that showed it.
    pub last_seen: Option<i64>,
    /// Start from the object's own times.
    pub object_start: Option<i64>,
    /// End from the object's own times.
    pub object_end: Option<i64>,
    /// A watch stream saw it deleted by then.
    pub gone_by: Option<i64>,
    /// When the holder details were observed.
    pub observed_at: i64,
    /// Start of validity.
    pub valid_from: i64,
    /// How certain `valid_from` is (exact or bounded).
    pub from_certainty: Certainty,
    /// With a bounded start: the snapshot before, after which it began.
    pub earliest_from: Option<i64>,
    /// End of validity (exclusive), `None` while open.
    pub valid_until: Option<i64>,
    /// How certain `valid_until` is.
    pub until_certainty: Certainty,
}

impl Interval {
    /// Whether it held its address at `t` (µs): `valid_from <= t < valid_until`.
    pub fn holds_at(&self, t: i64) -> bool {
        self.valid_from <= t && self.valid_until.is_none_or(|u| t < u)
    }
}

/// What is accumulated per binding before the ends are derived.
struct Acc {
    holder: Holder,
    observed_at: i64,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
    object_start: Option<i64>,
    object_end: Option<i64>,
    gone_by: Option<i64>,
}

fn min(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl Acc {
    fn add(&mut self, o: Acc) {
        if o.observed_at >= self.observed_at {
            self.holder = o.holder;
            self.observed_at = o.observed_at;
        }
        self.first_seen = min(self.first_seen, o.first_seen);
        self.last_seen = max(self.last_seen, o.last_seen);
        self.object_start = min(self.object_start, o.object_start);
        self.object_end = min(self.object_end, o.object_end);
        self.gone_by = min(self.gone_by, o.gone_by);
    }
}

/// Merges the table's current intervals with new observations; `snapshots` holds every
/// snapshot time known (old and new). The result is sorted by binding.
pub fn merge(
    existing: Vec<Interval>,
    new: Vec<Observation>,
    snapshots: &Snapshots,
) -> Vec<Interval> {
    let mut by: BTreeMap<BindingKey, Acc> = BTreeMap::new();
    let old = existing.into_iter().map(|i| {
        (
            i.key,
            Acc {
                holder: i.holder,
                observed_at: i.observed_at,
                first_seen: i.first_seen,
                last_seen: i.last_seen,
                object_start: i.object_start,
                object_end: i.object_end,
                gone_by: i.gone_by,
            },
        )
    });
    let new = new.into_iter().map(|o| {
        (
            o.key,
            Acc {
                holder: o.holder,
                observed_at: o.observed_at,
                first_seen: o.seen,
                last_seen: o.seen,
                object_start: o.start,
                object_end: o.end,
                gone_by: o.gone_by,
            },
        )
    });
    for (key, acc) in old.chain(new) {
        match by.get_mut(&key) {
            Some(a) => a.add(acc),
            None => {
                by.insert(key, acc);
            }
        }
    }
    let mut out: Vec<Interval> = by
        .into_iter()
        .map(|(key, a)| derive(key, a, snapshots))
        .collect();
    reach_back(&mut out);
    out
}

/// Gives each binding whose start is unknown the earliest start its address allows: the
/// latest end (or, still held, the last sighting) of another binding of the same address
/// that began before its first sighting; [`UNKNOWN_START`] without one. Derived from the
/// other bindings' sightings and snapshot ends only, so merging stays order-free.
fn reach_back(intervals: &mut [Interval]) {
    let mut by_address: BTreeMap<(&str, &str), Vec<(i64, i64)>> = BTreeMap::new();
    for i in intervals.iter() {
        let began = i.object_start.or(i.first_seen).unwrap_or(i.valid_from);
        let held_to = i
            .valid_until
            .or(i.last_seen)
            .unwrap_or(i.valid_from)
            .max(began);
        by_address
            .entry((i.key.cluster.as_str(), i.key.address.as_str()))
            .or_default()
            .push((began, held_to));
    }
    let starts: Vec<Option<i64>> = intervals
        .iter()
        .map(|i| {
            if i.from_certainty != Certainty::Unknown {
                return None;
            }
            let first = i.first_seen.unwrap_or(i.valid_from);
            let others = &by_address[&(i.key.cluster.as_str(), i.key.address.as_str())];
            Some(
                others
                    .iter()
                    .filter(|(began, _)| *began < first)
                    .map(|(_, held_to)| (*held_to).min(first))
                    .max()
                    .unwrap_or(UNKNOWN_START),
            )
        })
        .collect();
    for (i, start) in intervals.iter_mut().zip(starts) {
        if let Some(s) = start {
            i.valid_from = s;
        }
    }
}

/// The listings that show a binding of `key` held by `holder`, or end it by no longer
/// showing it: its kind's cluster-wide listings, and its namespace's own.
fn listings<'a>(snapshots: &'a Snapshots, key: &BindingKey, holder: &Holder) -> Listings<'a> {
    let object = key.kind.object();
    let mut sets: Vec<&BTreeSet<i64>> = vec![];
    sets.extend(snapshots.get(&(key.cluster.clone(), object.to_string())));
    if let Some(ns) = &holder.namespace {
        sets.extend(snapshots.get(&(key.cluster.clone(), format!("{object}/{ns}"))));
    }
    Listings(sets)
}

/// Snapshot times from several sets, searched as one.
struct Listings<'a>(Vec<&'a BTreeSet<i64>>);

impl Listings<'_> {
    /// The latest listing before `t`.
    fn before(&self, t: i64) -> Option<i64> {
        self.0
            .iter()
            .filter_map(|s| s.range(..t).next_back().copied())
            .max()
    }

    /// The first listing after `t`.
    fn after(&self, t: i64) -> Option<i64> {
        self.0
            .iter()
            .filter_map(|s| {
                s.range((std::ops::Bound::Excluded(t), std::ops::Bound::Unbounded))
                    .next()
                    .copied()
            })
            .min()
    }
}

fn derive(key: BindingKey, a: Acc, snapshots: &Snapshots) -> Interval {
    let times = listings(snapshots, &key, &a.holder);
    let (valid_from, from_certainty) = match (a.object_start, a.first_seen) {
        (Some(s), _) => (s, Certainty::Exact),
        (None, Some(f)) => (f, Certainty::Bounded),
        (None, None) => (
            a.object_end.or(a.gone_by).unwrap_or(a.observed_at),
            Certainty::Bounded,
        ),
    };
    let earliest_from = match from_certainty {
        Certainty::Exact => None,
        _ => times.before(valid_from),
    };
    // Seen in the first listing of its kind, with no time of its own: when it began is
    // unknown (`reach_back` sets how far back it holds). A pod's start is its own to say.
    let from_certainty = match (from_certainty, a.first_seen, earliest_from) {
        (Certainty::Bounded, Some(_), None) if key.kind != super::AddrKind::Pod => {
            Certainty::Unknown
        }
        (c, _, _) => c,
    };
    let (valid_until, until_certainty) = match a.object_end {
        Some(e) => (Some(e), Certainty::Exact),
        None => {
            let after = a.last_seen.unwrap_or(valid_from).max(valid_from);
            let absent = times.after(after);
            match min(absent, a.gone_by) {
                Some(u) => (Some(u), Certainty::Bounded),
                None => (None, Certainty::Open),
            }
        }
    };
    Interval {
        key,
        holder: a.holder,
        first_seen: a.first_seen,
        last_seen: a.last_seen,
        object_start: a.object_start,
        object_end: a.object_end,
        gone_by: a.gone_by,
        observed_at: a.observed_at,
        valid_from,
        from_certainty,
        earliest_from,
        valid_until,
        until_certainty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::AddrKind;

    fn obs(uid: &str, seen: Option<i64>, start: Option<i64>, end: Option<i64>) -> Observation {
        Observation {
            key: BindingKey {
                cluster: "c".into(),
                address: "10.0.0.1".into(),
                kind: AddrKind::Pod,
                uid: uid.into(),
            },
            holder: Holder {
                name: uid.into(),
                ..Holder::default()
            },
            seen,
            start,
            end,
            gone_by: None,
            observed_at: seen.or(start).unwrap_or(0),
        }
    }

    fn snaps(times: &[i64]) -> Snapshots {
        BTreeMap::from([(
            ("c".to_string(), "Pod".to_string()),
            times.iter().copied().collect(),
        )])
    }

    #[test]
    fn snapshots_bound_the_ends_and_object_times_fix_them() {
        let s = snaps(&[100, 200, 300, 400]);
        // Seen at 200 and 300, not at 400; no object times.
        let v = merge(
            vec![],
            vec![
                obs("a", Some(200), None, None),
                obs("a", Some(300), None, None),
            ],
            &s,
        );
        assert_eq!(v.len(), 1);
        let a = &v[0];
        assert_eq!((a.valid_from, a.from_certainty), (200, Certainty::Bounded));
        assert_eq!(a.earliest_from, Some(100));
        assert_eq!(
            (a.valid_until, a.until_certainty),
            (Some(400), Certainty::Bounded)
        );
        // Exact times win; a still-listed binding stays open.
        let v = merge(vec![], vec![obs("b", Some(400), Some(350), None)], &s);
        assert_eq!(
            (v[0].valid_from, v[0].from_certainty),
            (350, Certainty::Exact)
        );
        assert_eq!(v[0].until_certainty, Certainty::Open);
        assert!(v[0].holds_at(10_000));
    }

    fn nic(uid: &str, address: &str, seen: i64) -> Observation {
        let mut o = obs(uid, Some(seen), None, None);
        o.key.kind = AddrKind::Nic;
        o.key.address = address.into();
        o
    }

    fn nic_snaps(times: &[i64]) -> Snapshots {
        BTreeMap::from([(
            ("c".to_string(), "NetworkInterface".to_string()),
            times.iter().copied().collect(),
        )])
    }

    /// A VM's NIC listed only today holds its address back in time (last week's flows are
    /// named), until an earlier holder of the address says otherwise; pods keep their times.
    #[test]
    fn a_binding_first_listed_today_holds_from_an_unknown_start() {
        let today = 1_000_000;
        let v = merge(
            vec![],
            vec![nic("db", "10.1.0.9", today)],
            &nic_snaps(&[today]),
        );
        let db = &v[0];
        assert_eq!(db.from_certainty, Certainty::Unknown);
        assert_eq!(db.valid_from, UNKNOWN_START);
        assert!(db.holds_at(today - 500_000), "last week");
        assert_eq!(db.first_seen, Some(today));
        // An earlier holder of the address, listed at 100 and gone by 400: the new one
        // holds from then, not before.
        let s = nic_snaps(&[100, 400, today]);
        let v = merge(
            vec![],
            vec![nic("old", "10.1.0.9", 100), nic("db", "10.1.0.9", today)],
            &s,
        );
        let (old, db) = (&v[1], &v[0]);
        assert_eq!((old.key.uid.as_str(), db.key.uid.as_str()), ("old", "db"));
        assert_eq!(old.from_certainty, Certainty::Unknown);
        assert_eq!(old.valid_until, Some(400));
        // Seen after the first listing of its kind: a bounded start, as before.
        assert_eq!(db.from_certainty, Certainty::Bounded);
        assert_eq!(db.valid_from, today);
        // The same in any order, and merging again changes nothing.
        let rev = merge(
            vec![],
            vec![nic("db", "10.1.0.9", today), nic("old", "10.1.0.9", 100)],
            &s,
        );
        assert_eq!(rev, v);
        assert_eq!(merge(v.clone(), vec![], &s), v);
        // A pod first seen in the first snapshot keeps its bounded start.
        let p = merge(
            vec![],
            vec![obs("a", Some(200), None, None)],
            &snaps(&[200]),
        );
        assert_eq!(
            (p[0].valid_from, p[0].from_certainty),
            (200, Certainty::Bounded)
        );
    }

    /// `kubectl get pods -n shop` lists shop's pods only: it ends none of another
    /// namespace's, and it does end shop's missing ones.
    #[test]
    fn a_namespaces_listing_ends_only_that_namespaces_bindings() {
        let pod = |uid: &str, ns: &str, address: &str, seen: i64| {
            let mut o = obs(uid, Some(seen), None, None);
            o.key.address = address.into();
            o.holder.namespace = Some(ns.into());
            o
        };
        let mut s = snaps(&[100]);
        s.insert(
            ("c".to_string(), "Pod/shop".to_string()),
            BTreeSet::from([200]),
        );
        let v = merge(
            vec![],
            vec![
                pod("db", "data", "10.0.0.7", 100),
                pod("web", "shop", "10.0.0.8", 100),
            ],
            &s,
        );
        let (db, web) = (&v[0], &v[1]);
        assert_eq!(db.holder.name, "db");
        assert_eq!(
            db.until_certainty,
            Certainty::Open,
            "shop's listing says nothing of data"
        );
        assert_eq!(
            (web.valid_until, web.until_certainty),
            (Some(200), Certainty::Bounded),
            "gone from its own namespace's listing"
        );
    }

    #[test]
    fn merging_is_idempotent_and_order_free() {
        let s = snaps(&[100, 200, 300]);
        let all = vec![
            obs("a", Some(100), Some(90), None),
            obs("a", Some(200), Some(90), None),
            obs("b", Some(300), Some(250), None),
        ];
        let once = merge(vec![], all.clone(), &s);
        let twice = merge(once.clone(), all.clone(), &s);
        assert_eq!(once, twice);
        let mut rev = all.clone();
        rev.reverse();
        let split = merge(merge(vec![], rev[..1].to_vec(), &s), rev[1..].to_vec(), &s);
        assert_eq!(once, split);
    }
}
