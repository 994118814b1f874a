-- top_talkers: the internal addresses that moved the most bytes in the window.
--
-- The conditional sums are over `CASE WHEN condition THEN column END` (see timeline.sql).
SELECT
    CASE WHEN direction = 'outbound' THEN src_ip ELSE dst_ip END AS ip,
    coalesce(sum(CASE WHEN direction = 'outbound' AND {{external(dst)}}
                      THEN bytes_src_to_dst END), 0)           AS bytes_to_external,
    coalesce(sum(CASE WHEN direction = 'inbound' AND {{external(src)}}
                      THEN bytes_src_to_dst END), 0)           AS bytes_from_external,
    coalesce(sum(bytes_src_to_dst), 0) + coalesce(sum(bytes_dst_to_src), 0) AS bytes,
    sum(flows_begun)                                           AS flows,
    count(DISTINCT CASE WHEN direction = 'outbound' THEN dst_ip ELSE src_ip END) AS peers
FROM {{rows}}
WHERE time >= {{since}} AND time < {{until}}
  AND decision = 'allow'
GROUP BY CASE WHEN direction = 'outbound' THEN src_ip ELSE dst_ip END
ORDER BY bytes DESC, ip
LIMIT {{top}}
