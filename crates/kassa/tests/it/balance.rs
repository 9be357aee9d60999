//! The Balance section on both engines: a credit taken back after it was withdrawn shows as
//! owed (the books stay true), the statement lists it, and filters are checked field by
//! field. Paid-out and confirmed withdrawals against a real node are in `withdrawals.rs`.

use kassa_core::money::Amount;
use kassa_store::ledger::{self, Account, Journal, Kind};
use reqwest::StatusCode;

use crate::engine_test;
use crate::support::TestApp;
use crate::support::accounts::{owner, sign_in};

fn ltc(n: u128) -> Amount {
    Amount::from_base(n * 1_000_000)
}

engine_test!(
    async fn a_credit_taken_back_after_a_withdrawal_shows_as_owed(engine) {
        let app = TestApp::spawn(engine).await;
        let me = owner(&app, "o@shop.example").await;
        let other = owner(&app, "other@shop.example").await;
        let mut c = app.state.db.conn().await.unwrap();
        let merchant = kassa_store::accounts::user_by_id(&mut c, me).await.unwrap().merchant_id;
        let neighbour = kassa_store::accounts::user_by_id(&mut c, other).await.unwrap().merchant_id;
        drop(c);
        let now = app.now();
        let acct = |kind, m| Account { kind, merchant: m, currency: "LTC" };
        let custody = acct(Kind::Custody, None);
        let mut tx = app.state.db.begin().await.unwrap();
        // Another merchant's coins are in custody too.
        let j = Journal { name: "invoice OTHER001", invoice: None, at: now };
        j.post(&mut tx, &custody, &acct(Kind::MerchantPending, Some(neighbour)), ltc(1000)).await.unwrap();
        // 100 received and credited, 80 withdrawn, then the 100 taken back by a reorganisation.
        let j = Journal { name: "invoice MINE0001", invoice: None, at: now };
        let pending = acct(Kind::MerchantPending, Some(merchant));
        j.post(&mut tx, &custody, &pending, ltc(100)).await.unwrap();
        ledger::credit_merchant(&mut tx, &j, merchant, &pending, ltc(100)).await.unwrap();
        let w = Journal { name: "withdrawal 1", invoice: None, at: now };
        w.post(&mut tx, &acct(Kind::MerchantAvailable, Some(merchant)), &custody, ltc(80)).await.unwrap();
        let owed = ledger::charge_merchant(&mut tx, &j, merchant, &pending, ltc(100)).await.unwrap();
        assert_eq!(owed, ltc(80));
        j.post(&mut tx, &pending, &custody, ltc(100)).await.unwrap();
        tx.commit().await.unwrap();
        assert!(ledger::verify(&mut app.state.db.conn().await.unwrap()).await.unwrap().is_empty());

        let s = sign_in(&app, "o@shop.example").await;
        let page = s.get("/balance").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.has("id=\"b-owed\""), "the notice: {}", page.body);
        assert!(page.has("<strong class=\"b-owed\">0.8</strong>"), "{}", page.body);
        assert!(page.has("<span class=\"b-available\">0</span>"));
        // The statement: received 1, withdrawn 0.8, taken back 0.2 from the balance and 0.8 owed.
        let ledger_page = s.get("/balance/ledger").await;
        assert!(ledger_page.has("Taken back") && ledger_page.has("Payment received"), "{}", ledger_page.body);
        let (_, _, csv) = s.download("/balance/ledger/export?format=csv").await;
        let text = String::from_utf8(csv).unwrap();
        let lines: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split(',').collect()).collect();
        let got: Vec<(&str, &str, &str)> = lines.iter().map(|l| (l[1], l[4], l[6])).collect();
        assert_eq!(
            got,
            [
                ("reversal", "-0.8", "owed"),
                ("reversal", "-0.2", "available"),
                ("withdrawal", "-0.8", "available"),
                ("receipt", "1", "available"),
            ],
            "{text}"
        );
        // Only withdrawals; the neighbour's money is never listed.
        let only = s.get("/balance/ledger?kind=withdrawal").await;
        assert_eq!(only.body.matches("<tr>").count(), 2, "the header and one line: {}", only.body);
        let (_, _, csv) = s.download("/balance/ledger/export?format=csv&kind=reversal").await;
        let text = String::from_utf8(csv).unwrap();
        assert_eq!(text.lines().skip(1).filter(|l| l.contains(",reversal,")).count(), 2, "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
        let theirs = sign_in(&app, "other@shop.example").await;
        let (_, _, csv) = theirs.download("/balance/ledger/export?format=csv").await;
        assert_eq!(String::from_utf8(csv).unwrap().lines().count(), 1, "nothing credited to them yet");
        // Bad filters are shown next to their fields; the export refuses them.
        let bad = s.get("/balance/ledger?kind=gift&from=yesterday").await;
        assert!(bad.has("id=\"e-kind\"") && bad.has("id=\"e-from\""), "{}", bad.body);
        assert_eq!(s.get("/balance/ledger/export?kind=gift").await.status, StatusCode::BAD_REQUEST);
        assert_eq!(s.get("/balance/ledger/export?format=pdf").await.status, StatusCode::BAD_REQUEST);
    }
);

engine_test!(
    async fn a_live_payment_is_pending_until_its_confirmations_then_available_with_its_fees_listed(engine) {
        use crate::support::api::stored_invoice;
        use crate::support::litecoind::litecoind_skipped;
        use crate::support::wait_until;
        use crate::withdrawals::{OWNER, Rig};
        if litecoind_skipped() {
            return;
        }
        let r = Rig::new_with(engine, |s| s.chains.ltc.confirmations = 2).await;
        let inv = r.shop.create(100.0, serde_json::json!({"add_fields": {"cryptocurrency": "LTC"}})).await;
        let uuid = inv["uuid"].as_str().unwrap().to_owned();
        let row = stored_invoice(&r.app, &uuid).await;
        let reference = format!("INV-{}", uuid.trim_start_matches("INV-"));
        let merchant = row.merchant_id;
        let due = row.quote.unwrap().due;
        let s = sign_in(&r.app, OWNER).await;
        let balance_of = |kind| {
            let db = r.app.state.db.clone();
            async move {
                ledger::balances(&mut db.conn().await.unwrap(), merchant)
                    .await
                    .unwrap()
                    .get(&(kind, "LTC".to_owned()))
                    .copied()
                    .unwrap_or(Amount::ZERO)
            }
        };
        r.node.send(&r.payer, row.address.as_deref().unwrap(), due).await;
        // Seen: pending (not money of the ledger yet), nothing available.
        let pending = format!("<span class=\"b-pending\">{}</span>", due.to_decimal_string(8));
        wait_until(20, "the payment seen as pending", || async { s.get("/balance").await.has(&pending) }).await;
        let page = s.get("/balance").await;
        assert!(page.has("<span class=\"b-available\">0</span>"), "{}", page.body);
        assert!(balance_of(Kind::MerchantAvailable).await.is_zero());
        // One confirmation of two: still pending.
        r.node.mine(1, &r.miner).await;
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        assert!(balance_of(Kind::MerchantAvailable).await.is_zero(), "one confirmation is not enough");
        assert!(s.get("/balance").await.has(&pending));
        // Two: available; nothing pending.
        r.node.mine(1, &r.miner).await;
        wait_until(20, "the payment available", || async { !balance_of(Kind::MerchantAvailable).await.is_zero() }).await;
        assert!(balance_of(Kind::MerchantPending).await.is_zero());
        let available = balance_of(Kind::MerchantAvailable).await;
        let page = s.get("/balance").await;
        assert!(page.has("<span class=\"b-pending\">0</span>"), "{}", page.body);
        assert!(page.has(&format!("<span class=\"b-available\">{}</span>", available.to_decimal_string(8))), "{}", page.body);

        // The statement lists it with the fees kept: net and fees make what was paid.
        let statement = s.get("/balance/ledger").await;
        assert!(statement.has(&reference) && statement.has("Payment received"), "{}", statement.body);
        let (_, _, csv) = s.download("/balance/ledger/export?format=csv").await;
        let mut reader = csv::Reader::from_reader(csv.as_slice());
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 1, "{records:?}");
        let line = &records[0];
        assert_eq!((&line[1], &line[2], &line[3]), ("receipt", reference.as_str(), "LTC"));
        let net = Amount::parse(&line[4], 8).unwrap();
        let fees = Amount::parse(&line[5], 8).unwrap();
        assert_eq!(net, available, "the line is what became available");
        assert!(!fees.is_zero(), "the service fee is listed");
        assert_eq!(net.checked_add(fees).unwrap(), due, "net and fees make what was paid");
        assert!(statement.has(&format!("{} LTC", fees.to_decimal_string(8))), "the page shows the fees: {}", statement.body);
        r.books_balance().await;
        r.app.stop().await;
    }
);
