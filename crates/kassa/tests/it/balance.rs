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
        let got: Vec<(&str, &str, &str)> = lines.iter().map(|l| (l[1], l[4], l[5])).collect();
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
