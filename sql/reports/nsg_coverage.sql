-- nsg_coverage: for each NSG named by NSG flow logs, how many NICs and hours of data the
-- window holds. A "never hit" claim about one of its rules rests on exactly this.
SELECT
    nsg_name                                                   AS nsg,
    count(DISTINCT mac)                                        AS nics,
    count(DISTINCT date_bin(INTERVAL '1 hour', time))                   AS hours,
    count(*)                                                   AS tuples,
    min(time)                                                  AS first_seen,
    max(time)                                                  AS last_seen
FROM flows
WHERE time >= {{since}} AND time < {{until}}
  AND nsg_name IS NOT NULL
GROUP BY nsg_name
