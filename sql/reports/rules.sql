-- rules: what each rule decided in the window.
--
-- One row per (NSG, rule) that appears in the flow logs, with the evidence an audit needs:
-- allowed and denied flows, bytes, distinct ports and peers, first and last hit, and what it
-- let through that it perhaps should not have:
--   broad_allow   an allow rule that let public sources reach a sensitive port (high), let
--                 public sources reach more than one unexpected port, or let egress out on
--                 unexpected ports (medium)
--   rule_hits     every other rule, as info (the usage table)
-- The NSG is `nsg_name` for NSG flow logs and the `acl_id` for VNet flow logs. Rules defined
-- but never hit, and shadowed rules, come from NSG definitions (see report::rules).
WITH hits AS (
    SELECT
        coalesce(nsg_name, acl_id, '')                         AS nsg,
        rule, decision, direction, first_seen, last_seen, src_ip, dst_ip, dst_port, protocol,
        tuples, flows_begun,
        coalesce(bytes_src_to_dst, 0) + coalesce(bytes_dst_to_src, 0) AS bytes,
        decision = 'allow' AND direction = 'inbound' AND {{external(src)}}
                                                               AS public_in,
        {{sensitive_port}}                                     AS sensitive,
        decision = 'allow' AND direction = 'outbound' AND {{external(dst)}}
            AND NOT {{expected_egress_port}} AND NOT {{infrastructure_port}}
                                                               AS unexpected_out,
        {{expected_exposed}}                                   AS expected
    FROM {{rows}}
    WHERE time >= {{since}} AND time < {{until}}
),
per_rule AS (
    SELECT
        nsg, rule,
        min(decision)                                          AS decision,
        coalesce(sum(CASE WHEN decision = 'allow' THEN flows_begun END), 0) AS allowed_flows,
        coalesce(sum(CASE WHEN decision = 'deny' THEN tuples END), 0) AS denied_flows,
        sum(bytes)                                             AS bytes,
        count(DISTINCT dst_port)                               AS distinct_ports,
        count(DISTINCT CASE WHEN direction = 'inbound' THEN src_ip ELSE dst_ip END)
                                                               AS distinct_peers,
        count(DISTINCT CASE WHEN public_in THEN src_ip END)    AS public_sources,
        count(DISTINCT CASE WHEN public_in AND sensitive THEN dst_port END)
                                                               AS public_sensitive_ports,
        min(CASE WHEN public_in AND sensitive THEN dst_port END) AS first_sensitive_port,
        count(DISTINCT CASE WHEN public_in AND NOT expected THEN dst_port END)
                                                               AS public_unexpected_ports,
        count(DISTINCT CASE WHEN unexpected_out THEN dst_port END) AS unexpected_egress_ports,
        min(CASE WHEN unexpected_out THEN dst_port END)        AS first_unexpected_egress_port,
        min(first_seen)                                        AS first_seen,
        max(last_seen)                                         AS last_seen
    FROM hits
    GROUP BY nsg, rule
)
SELECT
    CASE
        WHEN public_sensitive_ports > 0 OR public_unexpected_ports > 1
             OR unexpected_egress_ports > 0 THEN 'broad_allow'
        ELSE 'rule_hits'
    END                                                        AS kind,
    CASE
        WHEN public_sensitive_ports > 0 THEN 'high'
        WHEN public_unexpected_ports > 1 OR unexpected_egress_ports > 0 THEN 'medium'
        ELSE 'info'
    END                                                        AS severity,
    round(least(1.0,
        0.4 * ln(1.0 + public_sources) / ln(1001.0)
        + 0.1 * least(public_sensitive_ports, 3)
        + 0.1 * least(unexpected_egress_ports, 3)
        + 0.3 * ln(1.0 + distinct_ports) / ln(65536.0)), 3)    AS score,
    rule,
    nsg,
    allowed_flows,
    denied_flows,
    bytes,
    distinct_ports,
    distinct_peers,
    public_sources,
    public_sensitive_ports,
    first_sensitive_port,
    public_unexpected_ports,
    unexpected_egress_ports,
    first_unexpected_egress_port,
    first_seen,
    last_seen
FROM per_rule
