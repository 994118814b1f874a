-- series: bytes and tuples per hour in the window for the addresses of the top findings (the HTML
-- report's charts). {{addresses}} is a list of quoted addresses.
SELECT
    hour,
    src_ip, dst_ip, dst_port, protocol,
    sum(coalesce(bytes_src_to_dst, 0) + coalesce(bytes_dst_to_src, 0)) AS bytes,
    sum(tuples)                                                AS tuples
FROM {{rows}}
WHERE time >= {{since}} AND time < {{until}}
  AND (src_ip IN ({{addresses}}) OR dst_ip IN ({{addresses}}))
GROUP BY hour, src_ip, dst_ip, dst_port, protocol
