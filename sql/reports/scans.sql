-- scans: denied inbound pressure per internal address in the window, from public sources.
--
-- Not a hole (the traffic was denied) but context for the exposure findings: who is being
-- probed, from how many sources, on which ports. Reported as info.
SELECT
    'scan_pressure'                                            AS kind,
    'info'                                                     AS severity,
    round(least(1.0, ln(1.0 + count(DISTINCT src_ip)) / ln(100001.0)), 3) AS score,
    dst_ip                                                     AS ip,
    sum(tuples)                                                AS denied_flows,
    count(DISTINCT src_ip)                                     AS external_sources,
    count(DISTINCT dst_port)                                   AS distinct_ports,
    coalesce(sum(CASE WHEN {{sensitive_port}} THEN tuples END), 0) AS sensitive_port_flows,
    min(first_seen)                                            AS first_seen,
    max(last_seen)                                             AS last_seen,
    min(rule)                                                  AS rule
FROM {{rows}}
WHERE time >= {{since}} AND time < {{until}}
  AND direction = 'inbound'
  AND decision = 'deny'
  AND {{external(src)}}
  AND {{internal(dst)}}
GROUP BY dst_ip
