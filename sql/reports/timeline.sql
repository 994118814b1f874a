-- timeline: traffic per hour in the window, by where it went.
--
-- Each sum is over `CASE WHEN condition THEN column END`: NULL where the condition fails,
-- which sum skips, and coalesce(sum, 0) for an hour where no row met it. DataFusion
-- evaluates that shape for a whole batch at once (the condition masks the column), where
-- `THEN coalesce(column, 0) ELSE 0` filters and merges rows batch by batch.
SELECT
    hour,
    coalesce(sum(CASE WHEN decision = 'allow' AND direction = 'outbound' AND {{external(dst)}}
                      THEN bytes_src_to_dst END), 0)           AS bytes_to_external,
    coalesce(sum(CASE WHEN decision = 'allow' AND direction = 'inbound' AND {{external(src)}}
                      THEN bytes_src_to_dst END), 0)           AS bytes_from_external,
    coalesce(sum(CASE WHEN decision = 'allow' THEN bytes_src_to_dst END), 0)
        + coalesce(sum(CASE WHEN decision = 'allow' THEN bytes_dst_to_src END), 0) AS bytes,
    coalesce(sum(CASE WHEN decision = 'allow' THEN flows_begun END), 0) AS flows,
    coalesce(sum(CASE WHEN decision = 'deny' THEN tuples END), 0) AS denied
FROM {{rows}}
WHERE time >= {{since}} AND time < {{until}}
GROUP BY hour
ORDER BY hour
