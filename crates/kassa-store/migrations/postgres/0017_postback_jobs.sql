-- The invoice page reads where its postback's job stands (next attempt, given up); a
-- delivered resend closes the failed job of the same invoice. Both find the job by its payload
-- (`{"invoice_id":N}`), among postback jobs only: other payloads (sealed letters) are large.
create index job_postback_by_payload on job (payload) where kind = 'postback.send';
