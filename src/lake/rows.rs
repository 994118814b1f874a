//! Column builders for the `flows` table.
//!
//! Why: parsed tuples go straight into Arrow builders (no intermediate row structs), so memory
//! per in-flight row is the Arrow representation only, and a full batch is handed to the
//! Parquet writer without copying.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;

use crate::addr::classify;
use crate::parse::{Direction, GroupMeta, RecordMeta, Tuple};
use crate::schema::flows_schema;

/// Builders for one batch of `flows` rows.
pub struct FlowRows {
    time: TimestampMicrosecondBuilder,
    record_time: TimestampMicrosecondBuilder,
    provider: StringBuilder,
    log_version: Int32Builder,
    resource_id: StringBuilder,
    target_resource_id: StringBuilder,
    subscription_id: StringBuilder,
    resource_group: StringBuilder,
    nsg_name: StringBuilder,
    acl_id: StringBuilder,
    mac: StringBuilder,
    rule: StringBuilder,
    src_ip: StringBuilder,
    dst_ip: StringBuilder,
    src_port: Int32Builder,
    dst_port: Int32Builder,
    protocol: StringBuilder,
    protocol_number: Int32Builder,
    direction: StringBuilder,
    decision: StringBuilder,
    flow_state: StringBuilder,
    encryption: StringBuilder,
    packets_s2d: Int64Builder,
    bytes_s2d: Int64Builder,
    packets_d2s: Int64Builder,
    bytes_d2s: Int64Builder,
    src_class: StringBuilder,
    dst_class: StringBuilder,
    source_blob: StringBuilder,
    source_record: Int32Builder,
    len: usize,
    scratch: String,
}

/// IANA keyword for a protocol number (the common ones).
pub fn protocol_name(n: i32) -> Option<&'static str> {
    Some(match n {
        1 => "icmp",
        2 => "igmp",
        4 => "ipv4",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        132 => "sctp",
        _ => return None,
    })
}

fn ts() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("UTC")
}

impl Default for FlowRows {
    fn default() -> Self {
        FlowRows {
            time: ts(),
            record_time: ts(),
            provider: StringBuilder::new(),
            log_version: Int32Builder::new(),
            resource_id: StringBuilder::new(),
            target_resource_id: StringBuilder::new(),
            subscription_id: StringBuilder::new(),
            resource_group: StringBuilder::new(),
            nsg_name: StringBuilder::new(),
            acl_id: StringBuilder::new(),
            mac: StringBuilder::new(),
            rule: StringBuilder::new(),
            src_ip: StringBuilder::new(),
            dst_ip: StringBuilder::new(),
            src_port: Int32Builder::new(),
            dst_port: Int32Builder::new(),
            protocol: StringBuilder::new(),
            protocol_number: Int32Builder::new(),
            direction: StringBuilder::new(),
            decision: StringBuilder::new(),
            flow_state: StringBuilder::new(),
            encryption: StringBuilder::new(),
            packets_s2d: Int64Builder::new(),
            bytes_s2d: Int64Builder::new(),
            packets_d2s: Int64Builder::new(),
            bytes_d2s: Int64Builder::new(),
            src_class: StringBuilder::new(),
            dst_class: StringBuilder::new(),
            source_blob: StringBuilder::new(),
            source_record: Int32Builder::new(),
            len: 0,
            scratch: String::new(),
        }
    }
}

fn append_ip(b: &mut StringBuilder, scratch: &mut String, ip: IpAddr, text: &str) {
    match ip {
        // Rust's IPv4 parser accepts only the canonical dotted quad, so the input is canonical.
        IpAddr::V4(_) => b.append_value(text),
        IpAddr::V6(v6) => {
            scratch.clear();
            let _ = write!(scratch, "{v6}");
            b.append_value(scratch.as_str());
        }
    }
}

impl FlowRows {
    /// Rows appended since the last [`FlowRows::finish`].
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no rows are buffered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one tuple.
    pub fn push(&mut self, blob: &str, rec: &RecordMeta<'_>, g: &GroupMeta<'_>, t: &Tuple<'_>) {
        self.time.append_value(t.time_us);
        self.record_time.append_value(rec.time_us);
        self.provider.append_value(rec.provider.as_str());
        self.log_version.append_value(rec.version);
        self.resource_id.append_value(rec.resource_id);
        self.target_resource_id
            .append_option(rec.target_resource_id);
        self.subscription_id
            .append_option(rec.subscription_id.as_deref());
        self.resource_group
            .append_option(rec.resource_group.as_deref());
        self.nsg_name.append_option(rec.nsg_name.as_deref());
        self.acl_id.append_option(g.acl_id);
        self.mac.append_option(g.mac);
        self.rule.append_value(g.rule);
        append_ip(&mut self.src_ip, &mut self.scratch, t.src, t.src_text);
        append_ip(&mut self.dst_ip, &mut self.scratch, t.dst, t.dst_text);
        self.src_port.append_value(t.src_port);
        self.dst_port.append_value(t.dst_port);
        self.protocol.append_option(protocol_name(t.protocol));
        self.protocol_number.append_value(t.protocol);
        self.direction.append_value(match t.direction {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        });
        self.decision
            .append_value(if t.allowed { "allow" } else { "deny" });
        self.flow_state.append_option(t.state.map(|s| s.as_str()));
        self.encryption.append_option(t.encryption);
        self.packets_s2d.append_option(t.counters.packets_s2d);
        self.bytes_s2d.append_option(t.counters.bytes_s2d);
        self.packets_d2s.append_option(t.counters.packets_d2s);
        self.bytes_d2s.append_option(t.counters.bytes_d2s);
        self.src_class.append_value(classify(t.src).as_str());
        self.dst_class.append_value(classify(t.dst).as_str());
        self.source_blob.append_value(blob);
        self.source_record.append_value(rec.index as i32);
        self.len += 1;
    }

    /// Takes the buffered rows as a batch of the canonical schema.
    pub fn finish(&mut self) -> RecordBatch {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.record_time.finish()),
            Arc::new(self.provider.finish()),
            Arc::new(self.log_version.finish()),
            Arc::new(self.resource_id.finish()),
            Arc::new(self.target_resource_id.finish()),
            Arc::new(self.subscription_id.finish()),
            Arc::new(self.resource_group.finish()),
            Arc::new(self.nsg_name.finish()),
            Arc::new(self.acl_id.finish()),
            Arc::new(self.mac.finish()),
            Arc::new(self.rule.finish()),
            Arc::new(self.src_ip.finish()),
            Arc::new(self.dst_ip.finish()),
            Arc::new(self.src_port.finish()),
            Arc::new(self.dst_port.finish()),
            Arc::new(self.protocol.finish()),
            Arc::new(self.protocol_number.finish()),
            Arc::new(self.direction.finish()),
            Arc::new(self.decision.finish()),
            Arc::new(self.flow_state.finish()),
            Arc::new(self.encryption.finish()),
            Arc::new(self.packets_s2d.finish()),
            Arc::new(self.bytes_s2d.finish()),
            Arc::new(self.packets_d2s.finish()),
            Arc::new(self.bytes_d2s.finish()),
            Arc::new(self.src_class.finish()),
            Arc::new(self.dst_class.finish()),
            Arc::new(self.source_blob.finish()),
            Arc::new(self.source_record.finish()),
        ];
        self.len = 0;
        RecordBatch::try_new(flows_schema(), cols).expect("builders match the canonical schema")
    }
}
