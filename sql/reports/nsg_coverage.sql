-- nsg_coverage: for each NSG named by NSG flow logs, how many NICs and hours of data the
-- window holds. A "never hit" claim about one of its rules rests on exactly this.
SELECT
    nsg_name                                                   AS nsg,
    count(DISTINCT mac)                                        AS nics,
    count(DISTINCT hour)                                       AS hours,
    sum(tuples)                                                AS tuples,
    min(first_seen)                                            AS first_seen,
    max(last_seen)                                             AS last_seen
FROM {{nic_hours}}
WHERE time >= {{since}} AND time < {{until}}
  AND nsg_name IS NOT NULL
GROUP BY nsg_name
