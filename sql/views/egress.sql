-- egress: allowed traffic that left for a public address, per tuple.
--
-- The starting point of exfiltration questions: outbound from the NIC, allowed by a rule,
-- destination class `public` (computed at ingest with the same code as `ip_class`).
CREATE OR REPLACE VIEW egress AS
SELECT *
FROM flows
WHERE direction = 'outbound'
  AND decision = 'allow'
  AND dst_class = 'public';
