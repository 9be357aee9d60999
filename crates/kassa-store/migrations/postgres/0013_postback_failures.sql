-- The home page lists invoices whose latest postback failed in the last days: the attempts
-- of that window are read by time.
create index postback_attempt_by_time on postback_attempt (created_at);
