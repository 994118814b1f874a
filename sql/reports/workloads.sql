-- workloads: the traffic matrix of a window, between workloads and the outside.
--
-- Each end of every allowed tuple is a node of the graph: an internal address is its
-- workload at the tuple's time (namespace/workload with an inventory, else the address), an
-- external address its group (the narrowest Azure service tag when tags are loaded, else its
-- /24). Each flow counts once: internal sources where they leave (outbound), outside sources
-- where they arrive (inbound). Edges are (source, destination, protocol), with the bytes
-- both ways, flows, the ports used and the first and last tuple; the baseline is read only for
-- which edges existed before.
--   edge       every edge of the window (info): the matrix
--   new_edge   an edge that did not exist in the baseline: medium from min_bytes, else info
WITH t AS (
    SELECT
        CASE WHEN {{internal(src)}} THEN {{subject(src)}} ELSE {{outside_group(src)}} END
                                                               AS src,
        CASE WHEN {{internal(src)}} THEN 'internal' ELSE 'outside' END AS src_side,
        CASE WHEN {{internal(dst)}} THEN {{subject(dst)}} ELSE {{outside_group(dst)}} END
                                                               AS dst,
        CASE WHEN {{internal(dst)}} THEN 'internal' ELSE 'outside' END AS dst_side,
        protocol, dst_port, time, first_seen, last_seen, tuples, flows_begun,
        coalesce(bytes_src_to_dst, 0) + coalesce(bytes_dst_to_src, 0) AS bytes
    FROM {{rows}}
    WHERE time >= {{baseline_since}} AND time < {{until}}
      AND decision = 'allow'
      AND ((direction = 'outbound' AND {{internal(src)}})
        OR (direction = 'inbound' AND NOT {{internal(src)}} AND {{internal(dst)}}))
),
window_edges AS (
    SELECT
        src, src_side, dst, dst_side, protocol,
        sum(bytes)                                             AS bytes,
        sum(flows_begun)                                       AS flows,
        sum(tuples)                                            AS tuples,
        count(DISTINCT dst_port)                               AS ports,
        min(dst_port)                                          AS min_port,
        max(dst_port)                                          AS max_port,
        min(first_seen)                                        AS first_seen,
        max(last_seen)                                         AS last_seen
    FROM t
    WHERE time >= {{since}}
    GROUP BY src, src_side, dst, dst_side, protocol
),
baseline_edges AS (
    SELECT DISTINCT src, dst, protocol
    FROM t
    WHERE time < {{since}}
),
judged AS (
    SELECT
        w.*,
        b.src IS NULL AND {{baseline_hours}} > 0               AS new
    FROM window_edges w
    LEFT JOIN baseline_edges b
      ON w.src = b.src AND w.dst = b.dst AND w.protocol IS NOT DISTINCT FROM b.protocol
)
SELECT
    CASE WHEN new THEN 'new_edge' ELSE 'edge' END              AS kind,
    CASE
        WHEN NOT new THEN 'info'
        WHEN bytes >= {{min_bytes}} THEN 'medium'
        ELSE 'info'
    END                                                        AS severity,
    -- 0..1, growing with the bytes (log scale, 1 at ten times high_bytes)
    round(least(1.0, ln(1.0 + CAST(bytes AS DOUBLE)) / ln(1.0 + 10.0 * {{high_bytes}})), 3)
                                                               AS score,
    src,
    src_side,
    dst,
    dst_side,
    protocol,
    ports,
    min_port,
    max_port,
    bytes,
    flows,
    tuples,
    first_seen,
    last_seen,
    new
FROM judged
