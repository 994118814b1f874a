-- exfil: allowed egress from internal to external addresses that looks like data leaving.
--
-- One pass over [baseline_since, until) aggregates egress per (source, destination, port,
-- protocol) with the window and the baseline side by side; window functions then give each
-- pair its destination's and its source's figures. Every pair active in the window is tested
-- against each kind of finding:
--   threat_intel        destination on a threat-intelligence set
--   dns_to_external     DNS / DoT / NTP (infrastructure_port) to a server that is not approved
--   unexpected_port     a port outside expected_egress_port (and not infrastructure)
--   new_destination     a destination no internal host talked to in the baseline
--   volume_anomaly      a source sending anomaly_factor times its baseline rate (one finding
--                       per source, on its biggest destination)
-- Allow-listed destinations are never new or unexpected. Big, regular transfers to the same
-- destination are in the baseline, so they are neither new nor anomalous.
--
-- Parameters (in double braces): the window and baseline bounds, their hours with data, and the
-- predicates and thresholds of the [report] settings.
WITH egress AS (
    SELECT
        src_ip, dst_ip, dst_port, protocol, rule, time,
        time >= {{since}}                                      AS in_window,
        coalesce(bytes_src_to_dst, 0)                          AS bytes_out,
        coalesce(bytes_dst_to_src, 0)                          AS bytes_in,
        flow_state IS NULL OR flow_state = 'begin'             AS starts,
        {{infrastructure_port}}                                AS infrastructure,
        {{expected_egress_port}}                               AS expected_port
    FROM flows
    WHERE time >= {{baseline_since}} AND time < {{until}}
      AND direction = 'outbound'
      AND decision = 'allow'
      AND {{internal(src)}}
      AND {{external(dst)}}
),
pairs AS (
    SELECT
        src_ip, dst_ip, dst_port, protocol,
        bool_or(infrastructure)                                AS infrastructure,
        bool_or(expected_port)                                 AS expected_port,
        sum(CASE WHEN in_window THEN bytes_out ELSE 0 END)     AS bytes_out,
        sum(CASE WHEN in_window THEN bytes_in ELSE 0 END)      AS bytes_in,
        sum(CASE WHEN in_window AND starts THEN 1 ELSE 0 END)  AS flows,
        sum(CASE WHEN in_window THEN 1 ELSE 0 END)             AS tuples,
        min(CASE WHEN in_window THEN time END)                 AS first_seen,
        max(CASE WHEN in_window THEN time END)                 AS last_seen,
        min(CASE WHEN in_window THEN rule END)                 AS rule,
        sum(CASE WHEN in_window THEN 0 ELSE bytes_out END)     AS baseline_pair_bytes,
        sum(CASE WHEN in_window THEN 0 ELSE 1 END)             AS baseline_pair_tuples
    FROM egress
    GROUP BY src_ip, dst_ip, dst_port, protocol
),
scored AS (
    SELECT
        p.*,
        sum(baseline_pair_tuples) OVER (PARTITION BY dst_ip)   AS baseline_dst_tuples,
        sum(bytes_out) OVER (PARTITION BY src_ip)              AS src_bytes_out,
        sum(bytes_in) OVER (PARTITION BY src_ip)               AS src_bytes_in,
        sum(flows) OVER (PARTITION BY src_ip)                  AS src_flows,
        sum(baseline_pair_bytes) OVER (PARTITION BY src_ip)    AS src_baseline_bytes,
        row_number() OVER (
            PARTITION BY src_ip ORDER BY bytes_out DESC, dst_ip, dst_port, protocol
        )                                                      AS src_rank
    FROM pairs p
),
tested AS (
    SELECT
        s.*,
        {{threat(dst)}}                                        AS threat,
        {{threat_label(dst)}}                                  AS threat_label,
        {{allowed_destination(dst)}}                           AS allowed,
        {{approved_server(dst)}}                               AS approved,
        -- the source's expected egress for a window of this length, from its baseline rate
        CAST(src_baseline_bytes AS DOUBLE) * {{window_hours}} / nullif({{baseline_hours}}, 0)
                                                               AS src_expected_bytes
    FROM scored s
    WHERE tuples > 0
),
kinds(kind) AS (
    VALUES ('threat_intel'), ('dns_to_external'), ('unexpected_port'),
           ('new_destination'), ('volume_anomaly')
),
found AS (
    SELECT k.kind, t.*
    FROM tested t CROSS JOIN kinds k
    WHERE CASE k.kind
        WHEN 'threat_intel'    THEN t.threat
        WHEN 'dns_to_external' THEN t.infrastructure AND NOT t.approved
        WHEN 'unexpected_port' THEN NOT t.expected_port AND NOT t.infrastructure
                                    AND NOT t.allowed
        WHEN 'new_destination' THEN t.baseline_dst_tuples = 0 AND NOT t.allowed
                                    AND t.bytes_out >= {{min_bytes}}
                                    AND {{baseline_hours}} > 0
        WHEN 'volume_anomaly'  THEN t.src_rank = 1
                                    AND t.src_bytes_out >= {{min_bytes}}
                                    AND t.src_bytes_out > {{anomaly_factor}} * t.src_expected_bytes
                                    AND {{baseline_hours}} > 0
    END
)
SELECT
    kind,
    CASE
        WHEN kind = 'threat_intel' THEN 'high'
        WHEN kind = 'dns_to_external' AND bytes_out + bytes_in >= {{min_bytes}} THEN 'high'
        WHEN kind = 'dns_to_external' THEN 'medium'
        WHEN kind = 'volume_anomaly'
             AND src_bytes_out - src_expected_bytes >= {{high_bytes}} THEN 'high'
        WHEN kind = 'volume_anomaly' THEN 'medium'
        WHEN bytes_out >= {{high_bytes}} THEN 'high'
        WHEN bytes_out >= {{min_bytes}} THEN 'medium'
        ELSE 'low'
    END                                                        AS severity,
    -- 0..1, growing with the bytes involved (log scale, 1 at ten times high_bytes)
    round(least(1.0, ln(1.0 + CAST(
        CASE
            WHEN kind = 'volume_anomaly' THEN src_bytes_out
            WHEN kind = 'dns_to_external' THEN bytes_out + bytes_in
            ELSE bytes_out
        END AS DOUBLE)) / ln(1.0 + 10.0 * {{high_bytes}})
        + CASE WHEN kind = 'threat_intel' THEN 0.5 ELSE 0.0 END), 3)
                                                               AS score,
    src_ip,
    dst_ip,
    dst_port,
    protocol,
    CASE WHEN kind = 'volume_anomaly' THEN src_bytes_out ELSE bytes_out END AS bytes_out,
    CASE WHEN kind = 'volume_anomaly' THEN src_bytes_in ELSE bytes_in END   AS bytes_in,
    CASE WHEN kind = 'volume_anomaly' THEN src_flows ELSE flows END         AS flows,
    first_seen,
    last_seen,
    rule,
    -- the baseline figure each kind was compared with
    CASE
        WHEN kind = 'volume_anomaly' THEN CAST(round(src_expected_bytes) AS BIGINT)
        WHEN kind = 'new_destination' THEN CAST(baseline_dst_tuples AS BIGINT)
        ELSE baseline_pair_bytes
    END                                                        AS baseline,
    CASE
        WHEN kind = 'volume_anomaly' THEN 'source bytes expected for the window'
        WHEN kind = 'new_destination' THEN 'baseline tuples to the destination'
        ELSE 'baseline bytes of the pair'
    END                                                        AS baseline_meaning,
    threat_label
FROM found
