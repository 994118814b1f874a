-- top_talkers: the internal addresses that moved the most bytes in the window.
SELECT
    CASE WHEN direction = 'outbound' THEN src_ip ELSE dst_ip END AS ip,
    sum(CASE WHEN direction = 'outbound' AND {{external(dst)}}
             THEN coalesce(bytes_src_to_dst, 0) ELSE 0 END)    AS bytes_to_external,
    sum(CASE WHEN direction = 'inbound' AND {{external(src)}}
             THEN coalesce(bytes_src_to_dst, 0) ELSE 0 END)    AS bytes_from_external,
    sum(coalesce(bytes_src_to_dst, 0) + coalesce(bytes_dst_to_src, 0)) AS bytes,
    sum(flows_begun)                                           AS flows,
    count(DISTINCT CASE WHEN direction = 'outbound' THEN dst_ip ELSE src_ip END) AS peers
FROM {{rows}}
WHERE time >= {{since}} AND time < {{until}}
  AND decision = 'allow'
GROUP BY CASE WHEN direction = 'outbound' THEN src_ip ELSE dst_ip END
ORDER BY bytes DESC, ip
LIMIT {{top}}
