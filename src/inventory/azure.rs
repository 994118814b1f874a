//! `az network nic list -o json` and `az vmss nic list … -o json`: Azure NICs with their MAC,
//! private addresses and VM.
//!
//! Why: a flow log names the NIC by MAC, and an address outside any cluster (a jump host, a
//! database VM) or a node's own address is best named by its VM. AKS nodes are scale-set
//! instances: the NIC of instance `N` of scale set `aks-pool-1234-vmss` belongs to node
//! `aks-pool-1234-vmss` followed by `N` in base 36 on six digits (how AKS names nodes), so a
//! scale-set NIC names its node too. A NIC list is a snapshot of `NetworkInterface`s.

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
}

#[derive(Deserialize)]
struct IpConfiguration {
    #[serde(rename = "privateIPAddress", alias = "privateIpAddress")]
    private_ip_address: Option<String>,
}

#[derive(Deserialize)]
struct SubResource {
    id: Option<String>,
}

/// Reads a NIC list (see the module docs).
pub fn read(file: &str, bytes: &[u8], cluster: &str, at: i64) -> Parsed {
    let mut p = Parsed {
        shape: Shape::AzNicList,
        ..Parsed::default()
    };
    let items: Vec<&RawValue> = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            p.rejects.push(reject(
                file,
                bytes,
                0,
                &format!("not an az NIC list (a JSON array of NICs): {e}"),
            ));
            return p;
        }
    };
    for item in items {
        let offset = (item.get().as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize);
        let nic: Nic = match serde_json::from_str(item.get()) {
            Ok(n) => n,
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
        for cfg in &nic.ip_configurations {
            let Some(ip) = cfg.private_ip_address.as_deref().and_then(canonical_ip) else {
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

    #[test]
    fn macs_take_the_flows_form() {
        assert_eq!(normalise_mac("00-0d-3a-f8-78-56"), "00-0D-3A-F8-78-56");
        assert_eq!(normalise_mac("000D3AF87856"), "00-0D-3A-F8-78-56");
        assert_eq!(normalise_mac("zz"), "zz");
    }
}
