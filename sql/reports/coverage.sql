-- coverage: which NICs have data in which hours, over the baseline and the window.
--
-- The ground every report stands on: a NIC or hour without flow logs is a blind spot, and a
-- "never hit" claim is only as strong as the hours it covers. report::coverage turns these
-- rows into counts and gaps.
--
-- It reads the `nic_hours` placeholder: the `coverage` table (one row per hour and NIC), or,
-- where a lake's files have no coverage twin yet, the rows every other report query reads
-- (the hourly rollup, or raw tuples as rows of one tuple each: report::source), with `time`
-- for windows, `hour`, `resource_id`, `nsg_name`, `mac`, `tuples`, `first_seen`, `last_seen`.
SELECT
    coalesce(mac, resource_id)                                 AS nic,
    hour,
    sum(tuples)                                                AS tuples
FROM {{nic_hours}}
WHERE time >= {{baseline_since}} AND time < {{until}}
GROUP BY coalesce(mac, resource_id), hour
ORDER BY nic, hour
