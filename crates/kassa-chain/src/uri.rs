//! Payment URIs for QR codes: what a wallet app needs to fill in a payment by itself.
//!
//! - BTC and LTC: BIP 21, `bitcoin:<address>?amount=<decimal coins>` (`litecoin:` for LTC).
//! - EVM networks: EIP-681 with the chain id. The native coin is
//!   `ethereum:<address>@<chain>?value=<wei>`; an ERC-20 token is a call of its contract,
//!   `ethereum:<contract>@<chain>/transfer?address=<address>&uint256=<base units>`. A token
//!   whose contract is not known gets the plain address: a URI naming the wrong contract
//!   would be worse than none.
//! - Every other network: the plain address (TRON, Solana and TON have no URI the issue's
//!   wallets agree on).
//!
//! Test invoices use the test chains' ids, so that a wallet never offers to pay a test invoice
//! on a real chain; live ones the chain id the operator configured.

use kassa_core::currency::{Crypto, Family, Network};
use kassa_core::money::Amount;

/// The EIP-155 chain id of an EVM network: the real chain, or its public test chain for
/// test invoices. `None` for other families.
pub fn evm_chain_id(network: &Network, test: bool) -> Option<u64> {
    if network.family != Family::Evm {
        return None;
    }
    let (main, testnet) = match network.code {
        "ERC20" => (1, 11_155_111), // Ethereum, Sepolia
        "BSC" => (56, 97),          // BNB Smart Chain, its testnet
        "ARB" => (42_161, 421_614), // Arbitrum One, Arbitrum Sepolia
        "OPT" => (10, 11_155_420),  // OP Mainnet, OP Sepolia
        "BASE" => (8_453, 84_532),  // Base, Base Sepolia
        _ => return None,
    };
    Some(if test { testnet } else { main })
}

/// The URI to put in the QR code for paying `amount` of `crypto` to `address`. For EVM
/// networks, `chain_id` is the invoice's chain (the operator's for live invoices,
/// [`evm_chain_id`] of the test chain for test ones) and `contract` the token's contract on
/// it, when `crypto` is a token and it is known.
pub fn payment_uri(
    crypto: &Crypto,
    address: &str,
    amount: Amount,
    chain_id: Option<u64>,
    contract: Option<&str>,
) -> String {
    match crypto.network.family {
        Family::Utxo => {
            let scheme = match crypto.network.code {
                "BTC" => "bitcoin",
                "LTC" => "litecoin",
                _ => return address.to_owned(),
            };
            format!(
                "{scheme}:{address}?amount={}",
                trimmed(&amount.to_decimal_string(crypto.decimals))
            )
        }
        Family::Evm => match (chain_id, crypto.native, contract) {
            (Some(chain), true, _) => {
                format!("ethereum:{address}@{chain}?value={}", amount.base())
            }
            (Some(chain), false, Some(contract)) => format!(
                "ethereum:{contract}@{chain}/transfer?address={address}&uint256={}",
                amount.base()
            ),
            _ => address.to_owned(),
        },
        Family::Tron | Family::Solana | Family::Ton => address.to_owned(),
    }
}

/// `1.50000000` → `1.5`, `2.00000000` → `2`.
fn trimmed(decimal: &str) -> &str {
    if decimal.contains('.') {
        decimal.trim_end_matches('0').trim_end_matches('.')
    } else {
        decimal
    }
}

#[cfg(test)]
mod tests {
    use kassa_core::currency::crypto;

    use super::*;

    fn c(code: &str) -> &'static Crypto {
        crypto(code).unwrap()
    }

    #[test]
    fn bip21_carries_the_amount_in_coins() {
        let a = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
        assert_eq!(
            payment_uri(c("BTC"), a, Amount::from_base(150_000), None, None),
            format!("bitcoin:{a}?amount=0.0015")
        );
        assert_eq!(
            payment_uri(
                c("LTC"),
                "ltc1qxyz",
                Amount::from_base(2_00000000),
                None,
                None
            ),
            "litecoin:ltc1qxyz?amount=2"
        );
    }

    #[test]
    fn eip681_for_native_coins_and_tokens() {
        let to = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        // 0.01 ETH on Ethereum.
        assert_eq!(
            payment_uri(
                c("ETH"),
                to,
                Amount::from_base(10_000_000_000_000_000),
                Some(1),
                None
            ),
            format!("ethereum:{to}@1?value=10000000000000000")
        );
        // Test invoices name the test chain; a development chain its own id.
        assert_eq!(
            payment_uri(c("ETH"), to, Amount::from_base(7), Some(31_337), None),
            format!("ethereum:{to}@31337?value=7")
        );
        assert_eq!(
            payment_uri(
                c("ETH_BASE"),
                to,
                Amount::from_base(5),
                evm_chain_id(&kassa_core::currency::BASE, true),
                None
            ),
            format!("ethereum:{to}@84532?value=5")
        );
        // 12.5 USDT (6 decimals) on Ethereum: a transfer call of the token contract.
        let usdt = "0xdAC17F958D2ee523a2206206994597C13D831ec7";
        assert_eq!(
            payment_uri(
                c("USDT_ERC20"),
                to,
                Amount::from_base(12_500_000),
                Some(1),
                Some(usdt)
            ),
            format!("ethereum:{usdt}@1/transfer?address={to}&uint256=12500000")
        );
        // Without a known contract, just the address.
        assert_eq!(
            payment_uri(c("USDT_BSC"), to, Amount::from_base(1), Some(56), None),
            to
        );
    }

    #[test]
    fn plain_address_elsewhere() {
        let a = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7";
        assert_eq!(
            payment_uri(c("USDT_TRC20"), a, Amount::from_base(1), None, None),
            a
        );
        assert_eq!(
            payment_uri(c("TON"), "UQx", Amount::from_base(1), None, None),
            "UQx"
        );
    }

    #[test]
    fn every_evm_network_has_chain_ids() {
        for n in kassa_core::currency::NETWORKS {
            assert_eq!(
                evm_chain_id(n, false).is_some(),
                n.family == Family::Evm,
                "{}",
                n.code
            );
        }
    }
}
