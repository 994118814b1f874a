//! A Service's workload when its pods or EndpointSlices are in another file.
//!
//! Why: a kubectl List names a Service's backing workload from the pods and EndpointSlices
//! in the same file ([`super::kube`]). Captures are often split: a support bundle holds one
//! file per kind and namespace, and a scheduled job may run `kubectl get services` apart from
//! `kubectl get pods`. A Service whose file names none of its pods is [`Pending`]; once the
//! whole import is read and merged, [`resolve`] looks for its pods among every pod binding
//! the inventory then holds (this import's and earlier ones'), valid at the Service's
//! snapshot time, through the EndpointSlices of any file of the import ([`Slice`]) or else
//! its selector. One workload names it; several (a Service over two Deployments) or none
//! leave it unnamed, as within one file.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::AddrKind;
use super::intervals::Interval;

/// Files of one capture (a support bundle, a cron job's several `kubectl get` calls) are
/// written minutes apart: a pod seen this close to a Service's snapshot time counts as
/// present at it.
const CAPTURE_SLACK_US: i64 = 15 * 60 * 1_000_000;

/// A pod's labels, parsed from [`super::Holder::labels`].
type Labels = BTreeMap<String, String>;

/// A Service whose own file named none of its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Cluster given at import.
    pub cluster: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its binding identity ([`super::BindingKey::uid`]).
    pub uid: String,
    /// `spec.selector` (empty: it has none, and only EndpointSlices can name its pods).
    pub selector: BTreeMap<String, String>,
    /// When it was observed (the file's snapshot time).
    pub at: i64,
}

/// The pods one EndpointSlice points its Service at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// Cluster given at import.
    pub cluster: String,
    /// Namespace of the slice and its Service.
    pub namespace: String,
    /// The Service (`kubernetes.io/service-name` label).
    pub service: String,
    /// Names of the pods its endpoints target.
    pub pods: BTreeSet<String>,
}

/// Names the workload of each [`Pending`] Service in `intervals` (the merged inventory), from
/// the pod bindings there (see the module docs). Returns how many Services were named.
pub fn resolve(intervals: &mut [Interval], pending: &[Pending], slices: &[Slice]) -> usize {
    if pending.is_empty() {
        return 0;
    }
    let mut backends: HashMap<(&str, &str, &str), BTreeSet<&str>> = HashMap::new();
    for s in slices {
        backends
            .entry((&s.cluster, &s.namespace, &s.service))
            .or_default()
            .extend(s.pods.iter().map(String::as_str));
    }
    // Pods by (cluster, namespace), with their labels parsed once.
    let mut pods: HashMap<(&str, &str), Vec<(&Interval, Labels)>> = HashMap::new();
    for i in intervals.iter().filter(|i| i.key.kind == AddrKind::Pod) {
        if let Some(ns) = i.holder.namespace.as_deref() {
            let labels = i
                .holder
                .labels
                .as_deref()
                .and_then(|l| serde_json::from_str(l).ok())
                .unwrap_or_default();
            pods.entry((&i.key.cluster, ns))
                .or_default()
                .push((i, labels));
        }
    }
    let mut named: HashMap<&str, (String, String)> = HashMap::new();
    for p in pending {
        let chosen = backends.get(&(p.cluster.as_str(), p.namespace.as_str(), p.name.as_str()));
        if chosen.is_none() && p.selector.is_empty() {
            continue;
        }
        let mut workloads: BTreeSet<(&str, &str)> = BTreeSet::new();
        for (pod, labels) in pods
            .get(&(p.cluster.as_str(), p.namespace.as_str()))
            .into_iter()
            .flatten()
        {
            let picked = match chosen {
                Some(names) => names.contains(pod.holder.name.as_str()),
                None => p.selector.iter().all(|(k, v)| labels.get(k) == Some(v)),
            };
            if picked
                && near(pod, p.at)
                && let (Some(k), Some(w)) = (&pod.holder.workload_kind, &pod.holder.workload)
            {
                workloads.insert((k, w));
            }
        }
        if let (1, Some((k, w))) = (workloads.len(), workloads.first()) {
            named.insert(&p.uid, (k.to_string(), w.to_string()));
        }
    }
    let service_kinds = [
        AddrKind::ServiceClusterIp,
        AddrKind::LoadBalancerIp,
        AddrKind::ExternalIp,
    ];
    let mut applied: BTreeSet<String> = BTreeSet::new();
    for i in intervals.iter_mut() {
        if !service_kinds.contains(&i.key.kind) || i.holder.workload.is_some() {
            continue;
        }
        if let Some((k, w)) = named.get(i.key.uid.as_str()) {
            i.holder.workload_kind = Some(k.clone());
            i.holder.workload = Some(w.clone());
            applied.insert(i.key.uid.clone());
        }
    }
    applied.len()
}

/// Whether a pod's binding held at `at`, give or take [`CAPTURE_SLACK_US`].
fn near(pod: &Interval, at: i64) -> bool {
    pod.valid_from <= at + CAPTURE_SLACK_US
        && pod.valid_until.is_none_or(|u| at - CAPTURE_SLACK_US < u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::intervals::Certainty;
    use crate::inventory::{BindingKey, Holder};

    const HOUR: i64 = 3_600_000_000;

    fn interval(
        kind: AddrKind,
        name: &str,
        workload: Option<&str>,
        from: i64,
        until: Option<i64>,
    ) -> Interval {
        Interval {
            key: BindingKey {
                cluster: "c".into(),
                address: format!("10.0.0.{}", name.len()),
                kind,
                uid: format!("uid-{name}"),
            },
            holder: Holder {
                namespace: Some("shop".into()),
                name: name.into(),
                workload_kind: workload.map(|_| "Deployment".into()),
                workload: workload.map(str::to_string),
                labels: Some(format!(r#"{{"app":"{}"}}"#, workload.unwrap_or(name))),
                ..Holder::default()
            },
            first_seen: None,
            last_seen: None,
            object_start: None,
            object_end: None,
            gone_by: None,
            observed_at: from,
            valid_from: from,
            from_certainty: Certainty::Exact,
            earliest_from: None,
            valid_until: until,
            until_certainty: Certainty::Open,
        }
    }

    fn pending(selector: &[(&str, &str)], at: i64) -> Pending {
        Pending {
            cluster: "c".into(),
            namespace: "shop".into(),
            name: "web".into(),
            uid: "uid-web".into(),
            selector: selector
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            at,
        }
    }

    fn named(intervals: &[Interval]) -> Option<String> {
        intervals
            .iter()
            .find(|i| i.key.kind == AddrKind::ServiceClusterIp)
            .and_then(|i| i.holder.workload.clone())
    }

    #[test]
    fn the_selector_picks_pods_held_at_the_services_time() {
        let service = || interval(AddrKind::ServiceClusterIp, "web", None, 0, None);
        // web's pod ended long before the Service was seen; front's is live then.
        let mut v = vec![
            service(),
            interval(AddrKind::Pod, "web-a", Some("web"), 0, Some(HOUR)),
            interval(AddrKind::Pod, "web-b", Some("web"), 5 * HOUR, None),
        ];
        assert_eq!(
            resolve(&mut v, &[pending(&[("app", "web")], 10 * HOUR)], &[]),
            1
        );
        assert_eq!(named(&v).as_deref(), Some("web"));
        // No pod of it near that time: unnamed.
        let mut v = vec![
            service(),
            interval(AddrKind::Pod, "web-a", Some("web"), 0, Some(HOUR)),
        ];
        assert_eq!(
            resolve(&mut v, &[pending(&[("app", "web")], 10 * HOUR)], &[]),
            0
        );
        assert_eq!(named(&v), None);
        // A pod first seen minutes after the Service's snapshot (the same capture): counts.
        let mut v = vec![
            service(),
            interval(
                AddrKind::Pod,
                "web-a",
                Some("web"),
                10 * HOUR + 60_000_000,
                None,
            ),
        ];
        assert_eq!(
            resolve(&mut v, &[pending(&[("app", "web")], 10 * HOUR)], &[]),
            1
        );
    }

    #[test]
    fn two_workloads_or_no_selector_leave_it_unnamed_and_slices_decide_over_the_selector() {
        let mut both = vec![
            interval(AddrKind::ServiceClusterIp, "web", None, 0, None),
            interval(AddrKind::Pod, "web-a", Some("web"), 0, None),
            interval(AddrKind::Pod, "canary-a", Some("canary"), 0, None),
        ];
        // Both carry app=web.
        both[2].holder.labels = Some(r#"{"app":"web"}"#.into());
        let mut v = both.clone();
        assert_eq!(resolve(&mut v, &[pending(&[("app", "web")], HOUR)], &[]), 0);
        assert_eq!(named(&v), None);
        let mut v = both.clone();
        assert_eq!(resolve(&mut v, &[pending(&[], HOUR)], &[]), 0);
        // An EndpointSlice (from any file of the import) naming one pod decides.
        let slice = Slice {
            cluster: "c".into(),
            namespace: "shop".into(),
            service: "web".into(),
            pods: ["canary-a".to_string()].into(),
        };
        let mut v = both;
        assert_eq!(
            resolve(&mut v, &[pending(&[("app", "web")], HOUR)], &[slice]),
            1
        );
        assert_eq!(named(&v).as_deref(), Some("canary"));
    }
}
