//! `az network nic list -o json` and `az vmss nic list … -o json`: Azure NICs with their MAC,
//! private addresses and VM.
//!
//! Why: a flow log names the NIC by MAC, and an address outside any cluster (a jump host, a
//! database VM) or a node's own address is best named by its VM. AKS nodes are scale-set
//! instances: the NIC of instance `N` of scale set `aks-pool-1234-vmss` belongs to node
//! `aks-pool-1234-vmss` followed by `N` in base 36 on six digits (how AKS names nodes), so a
//! scale-set NIC names its node too. A NIC list is a snapshot of `NetworkInterface`s.
//!
//! Three shapes hold the same NICs: the az CLI's array of flattened NICs (`macAddress`,
//! `ipConfigurations[].privateIPAddress` at the top), and ARM REST bodies (`az rest`, the
//! portal's JSON, `az vmss nic list` on some CLI versions): `{"value": [...]}`, each NIC's
//! fields under `properties`. A list that holds NICs but yields no address says why.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    AddrKind, BindingKey, Holder, Observation, Parsed, Shape, Snapshot, canonical_ip, reject,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Nic {
    id: String,
    name: Option<String>,
    mac_address: Option<String>,
    #[serde(default)]
    ip_configurations: Vec<IpConfiguration>,
    virtual_machine: Option<SubResource>,
    #[serde(default)]
    tags: Option<std::collections::BTreeMap<String, String>>,
    /// ARM's nesting of the same fields.
    properties: Option<NicProperties>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NicProperties {
    mac_address: Option<String>,
    #[serde(default)]
    ip_configurations: Vec<IpConfiguration>,
    virtual_machine: Option<SubResource>,
}

#[derive(Deserialize)]
struct IpConfiguration {
    #[serde(rename = "privateIPAddress", alias = "privateIpAddress")]
    private_ip_address: Option<String>,
    /// ARM's nesting of the same field.
    properties: Option<IpProperties>,
}

#[derive(Deserialize)]
struct IpProperties {
    #[serde(rename = "privateIPAddress", alias = "privateIpAddress")]
    private_ip_address: Option<String>,
}

impl Nic {
    /// The NIC with ARM's `properties` lifted to the top, as the az CLI prints it.
    fn flattened(mut self) -> Nic {
        if let Some(p) = self.properties.take() {
            self.mac_address = self.mac_address.or(p.mac_address);
            if self.ip_configurations.is_empty() {
                self.ip_configurations = p.ip_configurations;
            }
            self.virtual_machine = self.virtual_machine.or(p.virtual_machine);
        }
        for c in &mut self.ip_configurations {
            if c.private_ip_address.is_none() {
                c.private_ip_address = c.properties.take().and_then(|p| p.private_ip_address);
            }
        }
        self
    }
}

#[derive(Deserialize)]
struct SubResource {
    id: Option<String>,
}

/// Reads an az CLI NIC list: a JSON array of NICs (see the module docs).
pub fn read(file: &str, bytes: &[u8], cluster: &str, at: i64) -> Parsed {
    match serde_json::from_slice::<Vec<&RawValue>>(bytes) {
        Ok(items) => nics(file, bytes, items, cluster, at),
        Err(e) => refused(
            file,
            bytes,
            0,
            &format!("not an az NIC list (a JSON array of NICs): {e}"),
        ),
    }
}

/// Reads an ARM REST body's `value` (`{"value": [...]}`), found at `value` inside `bytes`.
pub fn read_arm(file: &str, bytes: &[u8], value: &RawValue, cluster: &str, at: i64) -> Parsed {
    let offset = (value.get().as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize);
    match serde_json::from_str::<Vec<&RawValue>>(value.get()) {
        Ok(items) => nics(file, bytes, items, cluster, at),
        Err(e) => refused(
            file,
            bytes,
            offset,
            &format!("an ARM body whose \"value\" is not an array of NICs: {e}"),
        ),
    }
}

/// A file refused as a whole.
fn refused(file: &str, bytes: &[u8], offset: usize, why: &str) -> Parsed {
    Parsed {
        shape: Shape::AzNicList,
        rejects: vec![reject(file, bytes, offset, why)],
        ..Parsed::default()
    }
}

/// The bindings of NICs `items` (raw JSON inside `bytes`).
fn nics(file: &str, bytes: &[u8], items: Vec<&RawValue>, cluster: &str, at: i64) -> Parsed {
    let mut p = Parsed {
        shape: Shape::AzNicList,
        ..Parsed::default()
    };
    let (mut read, mut configs) = (0usize, 0usize);
    for item in &items {
        let offset = (item.get().as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize);
        let nic: Nic = match serde_json::from_str::<Nic>(item.get()) {
            Ok(n) => n.flattened(),
            Err(e) => {
                p.rejects.push(reject(
                    file,
                    bytes,
                    offset,
                    &format!("not an az NIC (id, macAddress, ipConfigurations): {e}"),
                ));
                continue;
            }
        };
        let vm = nic.virtual_machine.and_then(|v| v.id);
        let holder = Holder {
            name: nic
                .name
                .clone()
                .unwrap_or_else(|| nic.id.rsplit('/').next().unwrap_or_default().to_string()),
            node: vm.as_deref().and_then(aks_node),
            mac: nic.mac_address.as_deref().map(normalise_mac),
            labels: super::labels_json(nic.tags.as_ref()),
            vm,
            ..Holder::default()
        };
        read += 1;
        for cfg in &nic.ip_configurations {
            configs += 1;
            let Some(text) = cfg.private_ip_address.as_deref() else {
                continue;
            };
            let Some(ip) = canonical_ip(text) else {
                p.unreadable_addresses += 1;
                continue;
            };
            p.observations.push(Observation {
                key: BindingKey {
                    cluster: cluster.to_string(),
                    address: ip,
                    kind: AddrKind::Nic,
                    uid: nic.id.to_lowercase(),
                },
                holder: holder.clone(),
                seen: Some(at),
                start: None,
                end: None,
                gone_by: None,
                observed_at: at,
            });
        }
    }
    if read > 0 && p.observations.is_empty() {
        p.warnings.push(format!(
            "{file}: {read} NICs but no address: {}",
            match configs {
                0 => "none has ipConfigurations (nor properties.ipConfigurations)".to_string(),
                n => format!("none of their {n} IP configurations has a readable privateIPAddress"),
            }
        ));
    }
    p.snapshots.push(Snapshot {
        cluster: cluster.to_string(),
        object: "NetworkInterface".into(),
        at,
    });
    p
}

/// `00-0D-3A-F8-78-56` form, as `flows.mac` has it; other text is kept as is.
fn normalise_mac(m: &str) -> String {
    let hex: String = m.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if hex.len() != 12
        || m.chars()
            .any(|c| !c.is_ascii_hexdigit() && c != '-' && c != ':')
    {
        return m.to_string();
    }
    let up = hex.to_ascii_uppercase();
    (0..6)
        .map(|i| &up[2 * i..2 * i + 2])
        .collect::<Vec<_>>()
        .join("-")
}

/// The AKS node name of a scale-set instance id
/// (`…/virtualMachineScaleSets/<vmss>/virtualMachines/<n>` → `<vmss><n in base 36, 6 digits>`).
fn aks_node(vm_id: &str) -> Option<String> {
    let lower = vm_id.to_ascii_lowercase();
    let at = lower.find("/virtualmachinescalesets/")?;
    let rest = &vm_id[at + "/virtualmachinescalesets/".len()..];
    let mut parts = rest.split('/');
    let vmss = parts.next()?;
    if !parts.next()?.eq_ignore_ascii_case("virtualmachines") {
        return None;
    }
    let mut n: u64 = parts.next()?.parse().ok()?;
    let mut digits = [b'0'; 6];
    for d in digits.iter_mut().rev() {
        *d = b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize];
        n /= 36;
    }
    if n != 0 {
        return None;
    }
    Some(format!(
        "{vmss}{}",
        std::str::from_utf8(&digits).expect("ascii")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_set_instances_name_their_aks_node() {
        let id = "/subscriptions/s/resourceGroups/MC_rg_aks_westeurope/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/37";
        assert_eq!(
            aks_node(id).as_deref(),
            Some("aks-nodepool1-12345678-vmss000011")
        );
        assert_eq!(
            aks_node(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/jump"
            ),
            None
        );
    }

    const AT: i64 = 1_764_000_000_000_000;

    fn addresses(p: &Parsed) -> Vec<(&str, &str, Option<&str>)> {
        p.observations
            .iter()
            .map(|o| {
                (
                    o.key.address.as_str(),
                    o.holder.name.as_str(),
                    o.holder.vm.as_deref(),
                )
            })
            .collect()
    }

    /// The same NIC as the az CLI prints it and as ARM's REST API returns it.
    #[test]
    fn cli_lists_and_arm_bodies_give_the_same_bindings() {
        let vm = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/pg-prod-01";
        let cli = format!(
            r#"[{{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/pg-prod-01-nic",
                "name": "pg-prod-01-nic", "macAddress": "00-0D-3A-AA-BB-CC",
                "ipConfigurations": [{{"name": "ipconfig1", "privateIPAddress": "10.1.0.9"}}],
                "virtualMachine": {{"id": "{vm}"}}}}]"#
        );
        let arm = format!(
            r#"{{"value": [{{"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/pg-prod-01-nic",
                "name": "pg-prod-01-nic", "type": "Microsoft.Network/networkInterfaces",
                "properties": {{"macAddress": "00-0D-3A-AA-BB-CC",
                  "ipConfigurations": [{{"name": "ipconfig1", "properties": {{"privateIPAddress": "10.1.0.9", "primary": true}}}}],
                  "virtualMachine": {{"id": "{vm}"}}}}}}]}}"#
        );
        let a = read("cli.json", cli.as_bytes(), "estate", AT);
        let b = super::super::read("arm.json", arm.as_bytes(), "estate", AT);
        assert_eq!(b.shape, Shape::AzNicList);
        assert!(
            a.rejects.is_empty() && b.rejects.is_empty(),
            "{:?}",
            b.rejects
        );
        assert_eq!(
            addresses(&a),
            vec![("10.1.0.9", "pg-prod-01-nic", Some(vm))]
        );
        assert_eq!(addresses(&a), addresses(&b));
        assert_eq!(a.observations[0].holder.mac, b.observations[0].holder.mac);
    }

    #[test]
    fn a_list_of_nics_without_addresses_says_why_and_redacted_ones_are_counted() {
        let p = read(
            "nics.json",
            br#"[{"id": "/x/nic-a", "ipConfigurations": [{"privateIPAddress": "***HIDDEN***"}]},
                 {"id": "/x/nic-b", "ipConfigurations": [{"privateIPAddress": "10.0.0.5"}]}]"#,
            "estate",
            AT,
        );
        assert_eq!(p.observations.len(), 1);
        assert_eq!(p.unreadable_addresses, 1);
        assert!(p.warnings.is_empty());
        let p = read("empty.json", br#"[{"id": "/x/nic-a"}]"#, "estate", AT);
        assert!(p.observations.is_empty());
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        assert!(
            p.warnings[0].contains("1 NICs but no address"),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn macs_take_the_flows_form() {
        assert_eq!(normalise_mac("00-0d-3a-f8-78-56"), "00-0D-3A-F8-78-56");
        assert_eq!(normalise_mac("000D3AF87856"), "00-0D-3A-F8-78-56");
        assert_eq!(normalise_mac("zz"), "zz");
    }
}
