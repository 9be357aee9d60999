//! Links to public block explorers, for people: the dashboard links a transaction id to its
//! page. Kassa itself never fetches them. Only the real chains have links (test chains and
//! the simulated network have none), and only for ids made of the characters transaction ids
//! use.

use kassa_core::currency::Network;

use crate::Chain;

fn plain(txid: &str) -> bool {
    !txid.is_empty()
        && txid.len() <= 128
        && txid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The page of transaction `txid` from the operator's explorer `template` (a URL with
/// `{txid}` in it), on any chain.
pub fn from_template(template: &str, txid: &str) -> Option<String> {
    (plain(txid) && template.contains("{txid}")).then(|| template.replace("{txid}", txid))
}

/// The explorer page of transaction `txid` on `network`, on the real chain only.
pub fn transaction_url(network: &Network, chain: Chain, txid: &str) -> Option<String> {
    if chain != Chain::Mainnet || !plain(txid) {
        return None;
    }
    let base = match network.code {
        "BTC" => "https://mempool.space/tx/",
        "LTC" => "https://litecoinspace.org/tx/",
        "ERC20" => "https://etherscan.io/tx/",
        "BSC" => "https://bscscan.com/tx/",
        "ARB" => "https://arbiscan.io/tx/",
        "OPT" => "https://optimistic.etherscan.io/tx/",
        "BASE" => "https://basescan.org/tx/",
        "TRC20" => "https://tronscan.org/#/transaction/",
        "SOL" => "https://solscan.io/tx/",
        "TON" => "https://tonviewer.com/transaction/",
        _ => return None,
    };
    Some(format!("{base}{txid}"))
}

#[cfg(test)]
mod tests {
    use kassa_core::currency::{BTC_NET, LTC_NET, NETWORKS};

    use super::*;

    #[test]
    fn real_chains_only_and_plain_ids_only() {
        let txid = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";
        assert_eq!(
            transaction_url(&BTC_NET, Chain::Mainnet, txid).as_deref(),
            Some(
                "https://mempool.space/tx/4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
            )
        );
        assert_eq!(transaction_url(&LTC_NET, Chain::Regtest, txid), None);
        assert_eq!(transaction_url(&LTC_NET, Chain::Testnet, txid), None);
        assert_eq!(
            transaction_url(&BTC_NET, Chain::Mainnet, "x\"><script>"),
            None
        );
        assert_eq!(
            from_template("https://scan.example/tx/{txid}?x=1", "0xab").as_deref(),
            Some("https://scan.example/tx/0xab?x=1")
        );
        assert_eq!(from_template("https://scan.example/tx/{txid}", "a b"), None);
        for n in NETWORKS {
            assert!(
                transaction_url(n, Chain::Mainnet, "ab").is_some(),
                "{}",
                n.code
            );
        }
    }
}
