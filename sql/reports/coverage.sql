-- coverage: which NICs have data in which hours, over the baseline and the window.
--
-- The ground every report stands on: a NIC or hour without flow logs is a blind spot, and a
-- "never hit" claim is only as strong as the hours it covers. report::coverage turns these
-- rows into counts and gaps.
--
-- Hours are date_bin(INTERVAL '1 hour', time) (PostgreSQL, DataFusion; time_bucket in DuckDB)
-- rather than date_trunc('hour', time): on a UTC timestamp DataFusion's date_trunc goes
-- through the time zone row by row, which made this query 3.7 times slower on 27 M rows.
SELECT
    coalesce(mac, resource_id)                                 AS nic,
    date_bin(INTERVAL '1 hour', time)                                   AS hour,
    count(*)                                                   AS tuples
FROM flows
WHERE time >= {{baseline_since}} AND time < {{until}}
GROUP BY coalesce(mac, resource_id), date_bin(INTERVAL '1 hour', time)
ORDER BY nic, hour
