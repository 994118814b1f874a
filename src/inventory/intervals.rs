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
//!   (`bounded`: it began after the snapshot before, `earliest_from`).
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
}

impl Certainty {
    /// The name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Certainty::Exact => "exact",
            Certainty::Bounded => "bounded",
            Certainty::Open => "open",
        }
    }

    /// Parses [`Certainty::as_str`].
    pub fn parse(s: &str) -> Option<Certainty> {
        [Certainty::Exact, Certainty::Bounded, Certainty::Open]
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
    by.into_iter()
        .map(|(key, a)| derive(key, a, snapshots))
        .collect()
}

fn derive(key: BindingKey, a: Acc, snapshots: &Snapshots) -> Interval {
    let times = snapshots.get(&(key.cluster.clone(), key.kind.object().to_string()));
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
        _ => times.and_then(|t| t.range(..valid_from).next_back().copied()),
    };
    let (valid_until, until_certainty) = match a.object_end {
        Some(e) => (Some(e), Certainty::Exact),
        None => {
            let after = a.last_seen.unwrap_or(valid_from).max(valid_from);
            let absent = times.and_then(|t| {
                t.range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                    .next()
                    .copied()
            });
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
