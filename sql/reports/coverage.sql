-- coverage: which NICs have data in which hours, over the baseline and the window.
--
-- The ground every report stands on: a NIC or hour without flow logs is a blind spot, and a
-- "never hit" claim is only as strong as the hours it covers. report::coverage turns these
-- rows into counts and gaps.
SELECT
    coalesce(mac, resource_id)                                 AS nic,
    date_trunc('hour', time)                                   AS hour,
    count(*)                                                   AS tuples
FROM flows
WHERE time >= {{baseline_since}} AND time < {{until}}
GROUP BY coalesce(mac, resource_id), date_trunc('hour', time)
ORDER BY nic, hour
