-- egress_places: where allowed egress went in the window: bytes out by the destination's
-- country and by its autonomous system (from the [geo] databases; runs only with them).
-- Addresses the databases do not place are one row with a NULL place. The top of each
-- grouping, by bytes.
WITH pairs AS (
    SELECT
        src_ip, dst_ip,
        sum(coalesce(bytes_src_to_dst, 0))                     AS bytes_out,
        sum(flows_begun)                                       AS flows
    FROM {{rows}}
    WHERE time >= {{since}} AND time < {{until}}
      AND direction = 'outbound'
      AND decision = 'allow'
      AND {{internal(src)}}
      AND {{external(dst)}}
    GROUP BY src_ip, dst_ip
),
placed AS (
    SELECT
        p.*,
        geo_country(dst_ip)                                    AS country,
        geo_country_name(dst_ip)                               AS country_name,
        asn(dst_ip)                                            AS asn,
        as_org(dst_ip)                                         AS as_org
    FROM pairs p
),
grouped AS (
    SELECT 'country' AS grouping, country AS place, max(country_name) AS name,
           sum(bytes_out) AS bytes_out, sum(flows) AS flows,
           count(DISTINCT src_ip) AS sources, count(DISTINCT dst_ip) AS destinations
    FROM placed
    GROUP BY country
    UNION ALL
    SELECT 'asn' AS grouping, CAST(asn AS VARCHAR) AS place, max(as_org) AS name,
           sum(bytes_out) AS bytes_out, sum(flows) AS flows,
           count(DISTINCT src_ip) AS sources, count(DISTINCT dst_ip) AS destinations
    FROM placed
    GROUP BY asn
),
ranked AS (
    SELECT g.*,
           row_number() OVER (PARTITION BY grouping ORDER BY bytes_out DESC, place) AS rank
    FROM grouped g
)
SELECT grouping, place, name, bytes_out, flows, sources, destinations
FROM ranked
WHERE rank <= {{top}}
ORDER BY grouping DESC, bytes_out DESC, place
