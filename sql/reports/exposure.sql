-- exposure: internal endpoints (address, port, protocol) that accepted flows from public
-- addresses in the window.
--
-- One pass over [baseline_since, until) of allowed inbound flows from external sources to
-- internal addresses, aggregated per endpoint with the window and the baseline side by side.
--   sensitive_port_exposed   a management or data port (sensitive_port) reachable from the
--                            internet: high when the service answered (or answers are not
--                            logged), medium when it never did
--   endpoint_exposed         any other port: medium when it answered and is new since the
--                            baseline, low otherwise
-- Endpoints declared in expected_exposed are reported as info. `answered` is whether the
-- service sent bytes back (NULL when the flow logs carry no byte counters, NSG v1).
WITH inbound AS (
    SELECT
        dst_ip, dst_port, protocol, src_ip, rule, time,
        time >= {{since}}                                      AS in_window,
        bytes_src_to_dst,
        bytes_dst_to_src,
        flow_state IS NULL OR flow_state = 'begin'             AS starts,
        {{sensitive_port}}                                     AS sensitive,
        {{expected_exposed}}                                   AS expected
    FROM flows
    WHERE time >= {{baseline_since}} AND time < {{until}}
      AND direction = 'inbound'
      AND decision = 'allow'
      AND {{external(src)}}
      AND {{internal(dst)}}
),
endpoints AS (
    SELECT
        dst_ip                                                 AS ip,
        dst_port                                               AS port,
        protocol,
        bool_or(sensitive)                                     AS sensitive,
        bool_or(expected)                                      AS expected,
        count(DISTINCT CASE WHEN in_window THEN src_ip END)    AS external_sources,
        sum(CASE WHEN in_window AND starts THEN 1 ELSE 0 END)  AS flows,
        sum(CASE WHEN in_window THEN 1 ELSE 0 END)             AS tuples,
        sum(CASE WHEN in_window THEN bytes_src_to_dst END)     AS bytes_in,
        sum(CASE WHEN in_window THEN bytes_dst_to_src END)     AS bytes_out,
        min(CASE WHEN in_window THEN time END)                 AS first_seen,
        max(CASE WHEN in_window THEN time END)                 AS last_seen,
        min(CASE WHEN in_window THEN rule END)                 AS rule,
        count(DISTINCT CASE WHEN in_window THEN rule END)      AS rules,
        sum(CASE WHEN in_window THEN 0 ELSE 1 END)             AS baseline_tuples
    FROM inbound
    GROUP BY dst_ip, dst_port, protocol
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
