//! The EVM source against a real node (anvil): the chain id is checked; a block's native
//! transfers and the allowlisted tokens' Transfer logs are read exactly (18 decimals, 6
//! decimals, wei that does not fit 64 bits); a token with the same symbol at another address
//! is never read; a reorganisation replaces a block and its transfers.

use std::time::Duration;

use kassa_chain::watch::evm::{EvmSource, Token};
use kassa_chain::watch::{ChainError, ChainSource};
use kassa_core::currency;
use kassa_core::money::Amount;

use crate::support::anvil::{Anvil, anvil_skipped};

/// A deposit address (any 20 bytes; the source does not care whose it is).
const DEPOSIT: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

fn contract(address: &str) -> [u8; 20] {
    kassa_chain::address::evm::decode(&address.to_ascii_lowercase()).expect("contract address")
}

#[tokio::test]
async fn an_evm_node_is_read_block_by_block_with_only_the_allowlisted_tokens() {
    if anvil_skipped() {
        return;
    }
    let node = Anvil::start(31337).await;
    let payer = node.accounts().await.remove(0);
    let usdt = currency::crypto("USDT_ERC20").unwrap();
    let dai = currency::crypto("DAI_ERC20").unwrap();
    let real_usdt = node
        .deploy_token(&payer, "USDT", 6, 1_000_000_000_000)
        .await;
    let fake_usdt = node
        .deploy_token(&payer, "USDT", 6, 1_000_000_000_000)
        .await;
    let real_dai = node.deploy_token(&payer, "DAI", 18, 10u128.pow(30)).await;
    let tokens = vec![
        Token {
            contract: contract(&real_usdt),
            currency: usdt,
        },
        Token {
            contract: contract(&real_dai),
            currency: dai,
        },
    ];
    let source = EvmSource::connect(
        &currency::ERC20,
        31337,
        &node.url,
        Duration::from_secs(10),
        tokens.clone(),
    )
    .unwrap();
    source.check().await.expect("the configured chain id");

    // 1.5 ETH plus one wei (more than fits in 64 bits of wei), 12.345678 USDT, the same from
    // the look-alike contract, and 0.000000000000000001 DAI.
    let wei = 1_500_000_000_000_000_001u128;
    let native = node.send_native(&payer, DEPOSIT, wei).await;
    let token = node
        .token_transfer(&real_usdt, &payer, DEPOSIT, 12_345_678)
        .await;
    let fake = node
        .token_transfer(&fake_usdt, &payer, DEPOSIT, 99_000_000)
        .await;
    let dust = node.token_transfer(&real_dai, &payer, DEPOSIT, 1).await;

    let tip = source.tip().await.unwrap();
    assert_eq!(tip.height, Anvil::block_of(&dust));
    assert!(!tip.syncing);
    assert_eq!(
        source.hash_at(tip.height).await.unwrap().as_deref(),
        Some(tip.hash.as_str())
    );
    assert_eq!(
        source.hash_at(tip.height + 1).await.unwrap(),
        None,
        "above the tip"
    );

    let block = source
        .block_at(Anvil::block_of(&native))
        .await
        .unwrap()
        .expect("block");
    let eth = block
        .transfers
        .iter()
        .find(|t| t.address == DEPOSIT)
        .expect("the native transfer");
    assert_eq!(
        (eth.currency.code, eth.amount, eth.index),
        ("ETH", Amount::from_base(wei), 0)
    );
    assert_eq!(eth.txid, native["transactionHash"].as_str().unwrap());
    let sender = payer.to_ascii_lowercase();
    assert!(
        block
            .txs
            .iter()
            .any(|t| t.txid == eth.txid && t.consumes == [format!("{sender}:3")]),
        "the sender's nonce: {:?}",
        block.txs
    );

    let block = source
        .block_at(Anvil::block_of(&token))
        .await
        .unwrap()
        .expect("block");
    let paid: Vec<_> = block
        .transfers
        .iter()
        .filter(|t| t.address == DEPOSIT)
        .collect();
    assert_eq!(paid.len(), 1, "{paid:?}");
    assert_eq!(
        (paid[0].currency.code, paid[0].amount),
        ("USDT_ERC20", Amount::from_base(12_345_678))
    );
    assert_eq!(paid[0].txid, token["transactionHash"].as_str().unwrap());
    assert!(
        paid[0].index >= 1,
        "a log's index follows the native transfer's 0"
    );

    // The look-alike token at another address: nothing, whatever it is called.
    let block = source
        .block_at(Anvil::block_of(&fake))
        .await
        .unwrap()
        .expect("block");
    assert!(
        block.transfers.iter().all(|t| t.address != DEPOSIT),
        "{:?}",
        block.transfers
    );
    let block = source
        .block_at(Anvil::block_of(&dust))
        .await
        .unwrap()
        .expect("block");
    let d = block
        .transfers
        .iter()
        .find(|t| t.address == DEPOSIT)
        .expect("DAI");
    assert_eq!(
        (d.currency.code, d.amount),
        ("DAI_ERC20", Amount::from_base(1))
    );

    // A node on another chain is refused before anything is read.
    let wrong = EvmSource::connect(
        &currency::ERC20,
        1,
        &node.url,
        Duration::from_secs(10),
        tokens,
    )
    .unwrap();
    assert!(matches!(
        wrong.check().await,
        Err(ChainError::WrongChain { .. })
    ));
    // A token of another network cannot be on Ethereum's allowlist.
    let bsc_usdt = currency::crypto("USDT_BSC").unwrap();
    assert!(
        EvmSource::connect(
            &currency::ERC20,
            31337,
            &node.url,
            Duration::from_secs(1),
            vec![Token {
                contract: [1; 20],
                currency: bsc_usdt
            }]
        )
        .is_err()
    );
}

#[tokio::test]
async fn the_nodes_dev_accounts_are_the_wallets_bip44_addresses() {
    use kassa_chain::hd::Mnemonic;
    use kassa_chain::hd::evm::EvmHotWallet;
    if anvil_skipped() {
        return;
    }
    // anvil derives its ten accounts from this phrase at m/44'/60'/0'/0/i, as wallets do.
    let node = Anvil::start(31337).await;
    let phrase =
        Mnemonic::parse("test test test test test test test test test test test junk").unwrap();
    let wallet = EvmHotWallet::from_mnemonic(&phrase, "").unwrap();
    let accounts = node.accounts().await;
    assert_eq!(accounts.len(), 10);
    for (i, account) in accounts.iter().enumerate() {
        let derived = wallet
            .watch_only()
            .address(u32::try_from(i).unwrap())
            .unwrap();
        assert_eq!(
            derived.to_ascii_lowercase(),
            account.to_ascii_lowercase(),
            "account {i}"
        );
    }
}

#[tokio::test]
async fn a_reorganisation_replaces_a_block_and_its_transfers() {
    if anvil_skipped() {
        return;
    }
    let node = Anvil::start(31337).await;
    let payer = node.accounts().await.remove(0);
    let source = EvmSource::connect(
        &currency::ERC20,
        31337,
        &node.url,
        Duration::from_secs(10),
        Vec::new(),
    )
    .unwrap();
    node.mine(3).await;
    let paid = node.send_native(&payer, DEPOSIT, 10u128.pow(17)).await;
    let height = Anvil::block_of(&paid);
    node.mine(2).await;
    let before = source.hash_at(height).await.unwrap().expect("hash");
    let block = source.block_at(height).await.unwrap().unwrap();
    assert!(block.transfers.iter().any(|t| t.address == DEPOSIT));

    // The last three blocks (the payment's included) are replaced by empty ones.
    node.call("anvil_rollback", serde_json::json!([3])).await;
    node.mine(4).await;
    let after = source.hash_at(height).await.unwrap().expect("hash");
    assert_ne!(after, before, "another block at the payment's height");
    let block = source.block_at(height).await.unwrap().unwrap();
    assert_eq!(block.hash, after);
    assert!(
        block.transfers.iter().all(|t| t.address != DEPOSIT),
        "the payment left the best chain"
    );
    let parent = source.hash_at(height - 1).await.unwrap().unwrap();
    assert_eq!(block.parent, parent, "blocks chain by their hashes");
}

#[tokio::test]
async fn transactions_signed_here_are_accepted_and_mined() {
    use kassa_chain::hd::Mnemonic;
    use kassa_chain::hd::evm::EvmHotWallet;
    use kassa_chain::spend::evm::{Eip1559, erc20_transfer};
    use kassa_chain::watch::Broadcast;
    if anvil_skipped() {
        return;
    }
    let node = Anvil::start(31337).await;
    let usdt = currency::crypto("USDT_ERC20").unwrap();
    // Account 1 of the dev phrase signs here (the node does not: the raw bytes are ours).
    let phrase =
        Mnemonic::parse("test test test test test test test test test test test junk").unwrap();
    let wallet = EvmHotWallet::from_mnemonic(&phrase, "").unwrap();
    let sender = wallet.watch_only().address(1).unwrap();
    let secret = wallet.secret_key(1).unwrap();
    let token = node.deploy_token(&sender, "USDT", 6, 1_000_000_000).await;
    let source = EvmSource::connect(
        &currency::ERC20,
        31337,
        &node.url,
        Duration::from_secs(10),
        vec![Token {
            contract: contract(&token),
            currency: usdt,
        }],
    )
    .unwrap();
    let nonce = |who: String| {
        let node = &node;
        async move {
            let n = node
                .call(
                    "eth_getTransactionCount",
                    serde_json::json!([who, "pending"]),
                )
                .await;
            u64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
        }
    };
    // Signed by the sender's key at its next nonce, 1 gwei tip, at most 20 gwei a gas.
    let sign = |chain_id: u64, gas_limit: u64, to: [u8; 20], value: u128, data: Vec<u8>| {
        let (nonce, secret) = (&nonce, &secret);
        let sender = sender.clone();
        async move {
            let tx = Eip1559 {
                chain_id,
                nonce: nonce(sender).await,
                max_priority_fee_per_gas: 1_000_000_000,
                max_fee_per_gas: 20_000_000_000,
                gas_limit,
                to,
                value,
                data,
            };
            tx.sign(secret).unwrap()
        }
    };
    let to = contract(DEPOSIT);
    let wei = 250_000_000_000_000_001u128;
    let native = sign(31337, 21_000, to, wei, Vec::new()).await;
    assert_eq!(
        source.broadcast(&native.raw_hex()).await,
        Broadcast::Accepted
    );
    let tokens = sign(
        31337,
        100_000,
        contract(&token),
        0,
        erc20_transfer(&to, 4_200_000),
    )
    .await;
    assert_eq!(
        source.broadcast(&tokens.raw_hex()).await,
        Broadcast::Accepted
    );
    // Mined (anvil mines each), under the hashes computed here, from the sender derived here.
    for signed in [&native, &tokens] {
        let receipt = node
            .call(
                "eth_getTransactionReceipt",
                serde_json::json!([signed.hash]),
            )
            .await;
        assert_eq!(receipt["status"], "0x1", "{receipt}");
        assert_eq!(
            receipt["from"].as_str().unwrap().to_ascii_lowercase(),
            sender.to_ascii_lowercase()
        );
    }
    let receipt = node
        .call(
            "eth_getTransactionReceipt",
            serde_json::json!([native.hash]),
        )
        .await;
    let block = source
        .block_at(Anvil::block_of(&receipt))
        .await
        .unwrap()
        .unwrap();
    let t = block
        .transfers
        .iter()
        .find(|t| t.txid == native.hash)
        .expect("the transfer");
    assert_eq!(
        (t.address.as_str(), t.amount),
        (DEPOSIT, Amount::from_base(wei))
    );
    let receipt = node
        .call(
            "eth_getTransactionReceipt",
            serde_json::json!([tokens.hash]),
        )
        .await;
    let block = source
        .block_at(Anvil::block_of(&receipt))
        .await
        .unwrap()
        .unwrap();
    let t = block
        .transfers
        .iter()
        .find(|t| t.txid == tokens.hash)
        .expect("the token transfer");
    assert_eq!(
        (t.currency.code, t.amount),
        ("USDT_ERC20", Amount::from_base(4_200_000))
    );
    // The same signed transaction again is no news; one signed for another chain is refused.
    assert_eq!(
        source.broadcast(&native.raw_hex()).await,
        Broadcast::Accepted
    );
    let other_chain = sign(1, 21_000, to, 1, Vec::new()).await;
    assert!(matches!(
        source.broadcast(&other_chain.raw_hex()).await,
        Broadcast::Refused(_)
    ));
}
