-- flows_k8s: every flow with the Kubernetes (or Azure) holder of each address at the
-- flow's time, from the `inventory` table (flowlake inventory import). An address no
-- binding held then has NULLs: it is "not in inventory".
--
-- Address reuse is the point: the same pod IP resolves to each workload at its own time.
-- `*_kind` says what held the address: pod, service_cluster_ip, load_balancer_ip,
-- external_ip, node (with overlay networking or kubenet, pod egress leaves as its node),
-- nic.
CREATE OR REPLACE VIEW flows_k8s AS
SELECT
    f.*,
    k8s_kind(src_ip, time)          AS src_kind,
    k8s_namespace(src_ip, time)     AS src_namespace,
    k8s_workload_kind(src_ip, time) AS src_workload_kind,
    k8s_workload(src_ip, time)      AS src_workload,
    k8s_pod(src_ip, time)           AS src_pod,
    k8s_node(src_ip, time)          AS src_node,
    k8s_name(src_ip, time)          AS src_name,
    k8s_kind(dst_ip, time)          AS dst_kind,
    k8s_namespace(dst_ip, time)     AS dst_namespace,
    k8s_workload_kind(dst_ip, time) AS dst_workload_kind,
    k8s_workload(dst_ip, time)      AS dst_workload,
    k8s_pod(dst_ip, time)           AS dst_pod,
    k8s_node(dst_ip, time)          AS dst_node,
    k8s_name(dst_ip, time)          AS dst_name
FROM flows AS f;
