-- exfil: allowed egress from internal to external addresses that looks like data leaving.
--
-- Each day of [baseline_since, until) is read once: egress is aggregated per (source,
-- destination, port, protocol), the window and the baseline apart; window functions then give each pair its
-- destination's and its source's figures. Every pair active in the window is tested
-- against each kind of finding:
--   threat_intel        destination on a threat-intelligence set
--   denied_country      destination in a country of denied_countries (located per pair
--                       with the [geo] databases)
--   dns_to_external     DNS / DoT / NTP (infrastructure_port) to a server that is not approved
--   unexpected_port     a port outside expected_egress_port (and not infrastructure)
--   new_destination     a destination no internal host talked to in the baseline
--   new_country         a source sending at least min_bytes to a country it sent nothing to
--                       in the baseline (one finding per source and country, on its biggest
--                       destination there; needs the [geo] databases)
--   new_asn             the same for an autonomous system
--   volume_anomaly      a source sending anomaly_factor times its baseline rate (one finding
--                       per source, on its biggest destination)
-- Allow-listed destinations are never new or unexpected. Big, regular transfers to the same
-- destination are in the baseline, so they are neither new nor anomalous.
--
-- A source is its workload when the row's first tuple was seen, when the lake has an
-- inventory (the subject placeholder: namespace/workload, else the address), so baselines
-- follow workloads: a rolling restart's new pod addresses are the same source. A finding then shows the
-- workload's lowest address seen in the window.
--
-- Parameters (in double braces): the window and baseline bounds, their hours with data, and the
-- predicates and thresholds of the [report] settings.
WITH egress AS (
    SELECT
        {{subject(src)}}                                       AS src_subject,
        src_ip, dst_ip, dst_port, protocol_number, protocol, rule, time,
        first_seen, last_seen, tuples, flows_begun,
        bytes_src_to_dst                                       AS bytes_out,
        bytes_dst_to_src                                       AS bytes_in
    FROM {{rows}}
    WHERE time >= {{baseline_since}} AND time < {{until}}
      AND direction = 'outbound'
      AND decision = 'allow'
      AND {{internal(src)}}
      AND {{external(dst)}}
),
-- the window and the baseline are aggregated apart: each reads only its own days, and the
-- baseline (the bigger part) needs two accumulators rather than the window's eight; pairs are
-- keyed by protocol number (an integer, never null), its keyword comes along
window_pairs AS (
    SELECT
        src_subject, min(src_ip) AS src_ip, dst_ip, dst_port, protocol_number,
        min(protocol)                                          AS protocol,
        sum(bytes_out)                                         AS bytes_out,
        sum(bytes_in)                                          AS bytes_in,
        sum(flows_begun)                                       AS flows,
        sum(tuples)                                            AS tuples,
        min(first_seen)                                        AS first_seen,
        max(last_seen)                                         AS last_seen,
        min(rule)                                              AS rule
    FROM egress
    WHERE time >= {{since}}
    GROUP BY src_subject, dst_ip, dst_port, protocol_number
),
baseline_pairs AS (
    SELECT
        src_subject, dst_ip, dst_port, protocol_number,
        sum(bytes_out)                                         AS bytes_out,
        sum(tuples)                                            AS tuples
    FROM egress
    WHERE time < {{since}}
    GROUP BY src_subject, dst_ip, dst_port, protocol_number
),
-- every pair of the window or the baseline: baseline-only pairs count for their
-- destination's and source's baseline figures
pairs AS (
    SELECT
        coalesce(w.src_subject, b.src_subject)                 AS src_subject,
        w.src_ip,
        coalesce(w.dst_ip, b.dst_ip)                           AS dst_ip,
        coalesce(w.dst_port, b.dst_port)                       AS dst_port,
        w.protocol,
        coalesce(w.bytes_out, 0)                               AS bytes_out,
        coalesce(w.bytes_in, 0)                                AS bytes_in,
        coalesce(w.flows, 0)                                   AS flows,
        coalesce(w.tuples, 0)                                  AS tuples,
        w.first_seen,
        w.last_seen,
        w.rule,
        coalesce(b.bytes_out, 0)                               AS baseline_pair_bytes,
        coalesce(b.tuples, 0)                                  AS baseline_pair_tuples
    FROM window_pairs w
    FULL JOIN baseline_pairs b
      ON w.src_subject = b.src_subject AND w.dst_ip = b.dst_ip AND w.dst_port = b.dst_port
     AND w.protocol_number = b.protocol_number
),
-- where each destination is: country and AS number (NULL without location databases)
placed AS (
    SELECT p.*, {{country_of(dst)}} AS to_country, {{asn_of(dst)}} AS to_asn
    FROM pairs p
),
scored AS (
    SELECT
        p.*,
        sum(baseline_pair_tuples) OVER (PARTITION BY dst_ip)   AS baseline_dst_tuples,
        sum(bytes_out) OVER (PARTITION BY src_subject)         AS src_bytes_out,
        sum(bytes_in) OVER (PARTITION BY src_subject)          AS src_bytes_in,
        sum(flows) OVER (PARTITION BY src_subject)             AS src_flows,
        sum(baseline_pair_bytes) OVER (PARTITION BY src_subject) AS src_baseline_bytes,
        row_number() OVER (
            PARTITION BY src_subject ORDER BY bytes_out DESC, dst_ip, dst_port, protocol
        )                                                      AS src_rank,
        -- the source's figures per country and per AS: baseline tuples, window bytes, and
        -- its biggest destination there
        sum(baseline_pair_tuples) OVER (PARTITION BY src_subject, to_country)
                                                               AS baseline_country_tuples,
        sum(bytes_out) OVER (PARTITION BY src_subject, to_country) AS country_bytes_out,
        row_number() OVER (
            PARTITION BY src_subject, to_country ORDER BY bytes_out DESC, dst_ip, dst_port, protocol
        )                                                      AS country_rank,
        sum(baseline_pair_tuples) OVER (PARTITION BY src_subject, to_asn)
                                                               AS baseline_asn_tuples,
        sum(bytes_out) OVER (PARTITION BY src_subject, to_asn) AS asn_bytes_out,
        row_number() OVER (
            PARTITION BY src_subject, to_asn ORDER BY bytes_out DESC, dst_ip, dst_port, protocol
        )                                                      AS asn_rank
    FROM placed p
),
tested AS (
    SELECT
        s.*,
        {{infrastructure_port}}                                AS infrastructure,
        ({{expected_egress_port}} OR {{scoped_egress_port(src_subject)}}) AS expected_port,
        {{threat(dst)}}                                        AS threat,
        {{threat_label(dst)}}                                  AS threat_label,
        {{threat_feed(dst)}}                                   AS threat_feed,
        {{denied_country(dst)}}                                AS country,
        ({{allowed_destination(dst)}} OR {{scoped_destination(src_subject)}}) AS allowed,
        {{approved_server(dst)}}                               AS approved,
        -- the source's expected egress for a window of this length, from its baseline rate
        CAST(src_baseline_bytes AS DOUBLE) * {{window_hours}} / nullif({{baseline_hours}}, 0)
                                                               AS src_expected_bytes
    FROM scored s
    WHERE tuples > 0
),
kinds(kind) AS (
    VALUES ('threat_intel'), ('denied_country'), ('dns_to_external'), ('unexpected_port'),
           ('new_destination'), ('new_country'), ('new_asn'), ('volume_anomaly')
),
found AS (
    SELECT k.kind, t.*
    FROM tested t CROSS JOIN kinds k
    WHERE CASE k.kind
        WHEN 'threat_intel'    THEN t.threat
        WHEN 'denied_country'  THEN t.country IS NOT NULL
        WHEN 'dns_to_external' THEN t.infrastructure AND NOT t.approved
        WHEN 'unexpected_port' THEN NOT t.expected_port AND NOT t.infrastructure
                                    AND NOT t.allowed
        WHEN 'new_destination' THEN t.baseline_dst_tuples = 0 AND NOT t.allowed
                                    AND t.bytes_out >= {{min_bytes}}
                                    AND {{baseline_hours}} > 0
        WHEN 'new_country'     THEN t.to_country IS NOT NULL AND t.country_rank = 1
                                    AND t.baseline_country_tuples = 0 AND NOT t.allowed
                                    AND t.country_bytes_out >= {{min_bytes}}
                                    AND {{baseline_hours}} > 0
        WHEN 'new_asn'         THEN t.to_asn IS NOT NULL AND t.asn_rank = 1
                                    AND t.baseline_asn_tuples = 0 AND NOT t.allowed
                                    AND t.asn_bytes_out >= {{min_bytes}}
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
        WHEN kind IN ('threat_intel', 'denied_country') THEN 'high'
        WHEN kind = 'dns_to_external' AND bytes_out + bytes_in >= {{min_bytes}} THEN 'high'
        WHEN kind = 'dns_to_external' THEN 'medium'
        WHEN kind = 'volume_anomaly'
             AND src_bytes_out - src_expected_bytes >= {{high_bytes}} THEN 'high'
        WHEN kind = 'volume_anomaly' THEN 'medium'
        WHEN kind = 'new_country' AND country_bytes_out >= {{high_bytes}} THEN 'high'
        WHEN kind = 'new_asn' AND asn_bytes_out >= {{high_bytes}} THEN 'high'
        WHEN kind IN ('new_country', 'new_asn') THEN 'medium'
        WHEN bytes_out >= {{high_bytes}} THEN 'high'
        WHEN bytes_out >= {{min_bytes}} THEN 'medium'
        ELSE 'low'
    END                                                        AS severity,
    -- 0..1, growing with the bytes involved (log scale, 1 at ten times high_bytes)
    round(least(1.0, ln(1.0 + CAST(
        CASE
            WHEN kind = 'volume_anomaly' THEN src_bytes_out
            WHEN kind = 'dns_to_external' THEN bytes_out + bytes_in
            WHEN kind = 'new_country' THEN country_bytes_out
            WHEN kind = 'new_asn' THEN asn_bytes_out
            ELSE bytes_out
        END AS DOUBLE)) / ln(1.0 + 10.0 * {{high_bytes}})
        + CASE WHEN kind IN ('threat_intel', 'denied_country') THEN 0.5 ELSE 0.0 END), 3)
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
        WHEN kind = 'new_country' THEN CAST(baseline_country_tuples AS BIGINT)
        WHEN kind = 'new_asn' THEN CAST(baseline_asn_tuples AS BIGINT)
        ELSE baseline_pair_bytes
    END                                                        AS baseline,
    CASE
        WHEN kind = 'volume_anomaly' THEN 'source bytes expected for the window'
        WHEN kind = 'new_destination' THEN 'baseline tuples to the destination'
        WHEN kind = 'new_country' THEN 'baseline tuples from the source to the country'
        WHEN kind = 'new_asn' THEN 'baseline tuples from the source to the AS'
        ELSE 'baseline bytes of the pair'
    END                                                        AS baseline_meaning,
    threat_label,
    threat_feed,
    -- where the destination is (for denied_country: the denied country)
    CASE WHEN kind IN ('new_country', 'new_asn') THEN to_country ELSE country END AS country,
    CASE WHEN kind IN ('new_country', 'new_asn') THEN to_asn END AS asn,
    -- what the source sent to that country or AS in the window, over all its destinations there
    CASE
        WHEN kind = 'new_country' THEN country_bytes_out
        WHEN kind = 'new_asn' THEN asn_bytes_out
    END                                                        AS place_bytes_out
FROM found
