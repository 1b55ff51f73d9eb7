-- The minimal confirm-shaped transaction (issue 14), on its own lim_* tables (bench/ingest/limit.ts creates them):
-- inbox insert, conditional order update, conditional slot update, three job inserts, inbox mark.
-- pgbench -n -M prepared (extended with --unprepared) -t <per_client> -D k=0 -D per_client=<per_client> -D nslots=<slots> -f bench/confirm-shaped.sql
-- Every client confirms distinct orders: n = client_id × per_client + k (a client keeps its variables).
\set k :k + 1
\set n :client_id * :per_client + :k
\set s (:n % :nslots) + 1
BEGIN;
INSERT INTO lim_inbox (event_id, payload) VALUES ('evt_' || :n, '{"type":"checkout.session.completed"}')
  ON CONFLICT (event_id) DO NOTHING RETURNING id AS inbox_id \gset
UPDATE lim_orders SET status = 'paid', paid_at = now() WHERE id = :n AND status = 'pending';
UPDATE lim_slots SET sold = sold + 1 WHERE id = :s AND sold + 1 <= capacity;
INSERT INTO lim_jobs (kind, dedupe_key, payload) VALUES ('notify.buyer_receipt', 'notify.buyer_receipt:' || :n, '{}')
  ON CONFLICT (dedupe_key) DO NOTHING;
INSERT INTO lim_jobs (kind, dedupe_key, payload) VALUES ('notify.seller_notice', 'notify.seller_notice:' || :n, '{}')
  ON CONFLICT (dedupe_key) DO NOTHING;
INSERT INTO lim_jobs (kind, dedupe_key, payload) VALUES ('fulfil.booking', 'fulfil.booking:' || :n, '{}')
  ON CONFLICT (dedupe_key) DO NOTHING;
UPDATE lim_inbox SET status = 'processed', processed_at = now() WHERE id = :inbox_id;
END;
