//! The JSON shape of Azure flow-log records, deserialised without copying.
//!
//! Why: one struct family covers both NSG (v1/v2) and VNet (v4) records, because the format
//! is decided per record from its content, not from the blob's path. Strings borrow from the
//! blob unless they contain JSON escapes.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A JSON string that borrows from the input when it can.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Str<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl Str<'_> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A format version written as a number (`2`) or a string (`"2"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version(pub Option<i64>);

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Version;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a version number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Version, E> {
                Ok(Version(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Version, E> {
                Ok(Version(i64::try_from(v).ok()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Version, E> {
                Ok(Version((v.fract() == 0.0).then_some(v as i64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Version, E> {
                Ok(Version(v.trim().parse().ok()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One record of either format. Unknown fields are skipped.
#[derive(Debug, Deserialize)]
pub struct RawRecord<'a> {
    /// Record time, RFC 3339.
    #[serde(borrow, default)]
    pub time: Option<Str<'a>>,
    /// NSG resource id (NSG logs).
    #[serde(rename = "resourceId", borrow, default)]
    pub resource_id: Option<Str<'a>>,
    /// NSG payload.
    #[serde(borrow, default)]
    pub properties: Option<NsgProperties<'a>>,
    /// VNet format version.
    #[serde(rename = "flowLogVersion", default)]
    pub flow_log_version: Option<Version>,
    /// VNet NIC MAC.
    #[serde(rename = "macAddress", borrow, default)]
    pub mac_address: Option<Str<'a>>,
    /// VNet flow-log resource id.
    #[serde(rename = "flowLogResourceID", borrow, default)]
    pub flow_log_resource_id: Option<Str<'a>>,
    /// VNet target resource id.
    #[serde(rename = "targetResourceID", borrow, default)]
    pub target_resource_id: Option<Str<'a>>,
    /// VNet payload.
    #[serde(rename = "flowRecords", borrow, default)]
    pub flow_records: Option<FlowRecords<'a>>,
}

/// `properties` of an NSG record.
#[derive(Debug, Deserialize)]
pub struct NsgProperties<'a> {
    /// 1 or 2.
    #[serde(rename = "Version", default)]
    pub version: Option<Version>,
    /// Flows grouped by rule.
    #[serde(borrow, default)]
    pub flows: Vec<NsgRuleFlows<'a>>,
}

/// Flows of one NSG rule.
#[derive(Debug, Deserialize)]
pub struct NsgRuleFlows<'a> {
    /// Rule name.
    #[serde(borrow)]
    pub rule: Str<'a>,
    /// Flows grouped by MAC.
    #[serde(borrow, default)]
    pub flows: Vec<NsgMacFlows<'a>>,
}

/// Tuples of one NIC under one NSG rule.
#[derive(Debug, Deserialize)]
pub struct NsgMacFlows<'a> {
    /// NIC MAC.
    #[serde(borrow, default)]
    pub mac: Option<Str<'a>>,
    /// Tuples.
    #[serde(rename = "flowTuples", borrow, default)]
    pub flow_tuples: Vec<Str<'a>>,
}

/// `flowRecords` of a VNet record.
#[derive(Debug, Deserialize)]
pub struct FlowRecords<'a> {
    /// Flows grouped by ACL.
    #[serde(borrow, default)]
    pub flows: Vec<VnetAclFlows<'a>>,
}

/// Flows of one ACL (NSG or admin rule set).
#[derive(Debug, Deserialize)]
pub struct VnetAclFlows<'a> {
    /// ACL id.
    #[serde(rename = "aclID", borrow, default)]
    pub acl_id: Option<Str<'a>>,
    /// Groups by rule.
    #[serde(rename = "flowGroups", borrow, default)]
    pub flow_groups: Vec<VnetFlowGroup<'a>>,
}

/// Tuples of one rule in a VNet record.
#[derive(Debug, Deserialize)]
pub struct VnetFlowGroup<'a> {
    /// Rule name.
    #[serde(borrow)]
    pub rule: Str<'a>,
    /// Tuples.
    #[serde(rename = "flowTuples", borrow, default)]
    pub flow_tuples: Vec<Str<'a>>,
}
