-- exposure: internal endpoints (address, port, protocol) that accepted flows from public
-- addresses in the window.
--
-- Each day of [baseline_since, until) is read once: allowed inbound flows from external
-- sources to internal addresses, aggregated per endpoint, the window and the baseline apart.
--   sensitive_port_exposed   a management or data port (sensitive_port) reachable from the
--                            internet: high when the service answered (or answers are not
--                            logged), medium when it never did
--   endpoint_exposed         any other port: medium when it answered and is new since the
--                            baseline, low otherwise
-- Endpoints declared in expected_exposed are reported as info. `answered` is whether the
-- service sent bytes back (NULL when the flow logs carry no byte counters, NSG v1).
WITH inbound AS (
    SELECT
        dst_ip, dst_port, protocol, src_ip, rule, time, first_seen, last_seen,
        tuples, flows_begun,
        bytes_src_to_dst,
        bytes_dst_to_src
    FROM {{rows}}
    WHERE time >= {{baseline_since}} AND time < {{until}}
      AND direction = 'inbound'
      AND decision = 'allow'
      AND {{external(src)}}
      AND {{internal(dst)}}
),
window_endpoints AS (
    SELECT
        dst_ip, dst_port, protocol,
        {{sensitive_port}}                                     AS sensitive,
        {{expected_exposed}}                                   AS expected,
        count(DISTINCT src_ip)                                 AS external_sources,
        sum(flows_begun)                                       AS flows,
        sum(tuples)                                            AS tuples,
        sum(bytes_src_to_dst)                                  AS bytes_in,
        sum(bytes_dst_to_src)                                  AS bytes_out,
        min(first_seen)                                        AS first_seen,
        max(last_seen)                                         AS last_seen,
        min(rule)                                              AS rule,
        count(DISTINCT rule)                                   AS rules
    FROM inbound
    WHERE time >= {{since}}
    GROUP BY dst_ip, dst_port, protocol
),
baseline_endpoints AS (
    SELECT dst_ip, dst_port, protocol, sum(tuples) AS tuples
    FROM inbound
    WHERE time < {{since}}
    GROUP BY dst_ip, dst_port, protocol
),
endpoints AS (
    SELECT
        w.dst_ip                                               AS ip,
        w.dst_port                                             AS port,
        w.protocol,
        w.external_sources, w.flows, w.tuples, w.bytes_in, w.bytes_out,
        w.first_seen, w.last_seen, w.rule, w.rules,
        w.sensitive, w.expected,
        coalesce(b.tuples, 0)                                  AS baseline_tuples
    FROM window_endpoints w
    LEFT JOIN baseline_endpoints b
      ON w.dst_ip = b.dst_ip AND w.dst_port = b.dst_port
     AND w.protocol IS NOT DISTINCT FROM b.protocol
),
judged AS (
    SELECT
        e.*,
        CASE WHEN bytes_out IS NULL THEN CAST(NULL AS BOOLEAN) ELSE bytes_out > 0 END
                                                               AS answered,
        baseline_tuples = 0 AND {{baseline_hours}} > 0         AS new
    FROM endpoints e
    WHERE tuples > 0
)
SELECT
    CASE WHEN sensitive THEN 'sensitive_port_exposed' ELSE 'endpoint_exposed' END AS kind,
    CASE
        WHEN expected THEN 'info'
        WHEN sensitive AND (answered OR answered IS NULL) THEN 'high'
        WHEN sensitive THEN 'medium'
        WHEN answered AND new THEN 'medium'
        ELSE 'low'
    END                                                        AS severity,
    -- 0..1: more external sources, an answer and novelty rank higher
    round(least(1.0,
        0.5 * ln(1.0 + external_sources) / ln(1001.0)
        + CASE WHEN answered THEN 0.25 ELSE 0.0 END
        + CASE WHEN new THEN 0.15 ELSE 0.0 END
        + CASE WHEN sensitive THEN 0.1 ELSE 0.0 END), 3)       AS score,
    ip,
    port,
    protocol,
    rule,
    rules,
    external_sources,
    flows,
    coalesce(bytes_in, 0)                                      AS bytes_in,
    coalesce(bytes_out, 0)                                     AS bytes_out,
    answered,
    expected,
    new,
    first_seen,
    last_seen,
    baseline_tuples                                            AS baseline,
    'baseline tuples to the endpoint'                          AS baseline_meaning
FROM judged
