-- Waiting invoices with a payment in flight are few: the Payments "processing" filter reads
-- them from their own index instead of scanning every waiting invoice.
create index invoice_processing on invoice (merchant_id, created_at)
    where status = 'created' and processing <> '0';
