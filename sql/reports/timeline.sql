-- timeline: traffic per hour in the window, by where it went.
SELECT
    hour,
    sum(CASE WHEN decision = 'allow' AND direction = 'outbound' AND {{external(dst)}}
             THEN coalesce(bytes_src_to_dst, 0) ELSE 0 END)    AS bytes_to_external,
    sum(CASE WHEN decision = 'allow' AND direction = 'inbound' AND {{external(src)}}
             THEN coalesce(bytes_src_to_dst, 0) ELSE 0 END)    AS bytes_from_external,
    sum(CASE WHEN decision = 'allow' THEN coalesce(bytes_src_to_dst, 0)
             + coalesce(bytes_dst_to_src, 0) ELSE 0 END)       AS bytes,
    sum(CASE WHEN decision = 'allow' THEN flows_begun ELSE 0 END) AS flows,
    sum(CASE WHEN decision = 'deny' THEN tuples ELSE 0 END)    AS denied
FROM {{rows}}
WHERE time >= {{since}} AND time < {{until}}
GROUP BY hour
ORDER BY hour
