use bitcoin::secp256k1::ecdsa::Signature;

use super::*;
use crate::address::utxo::{UtxoAddress, decode};

const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

fn abandon_btc() -> HotWallet {
    let m = Mnemonic::parse(ABANDON).unwrap();
    HotWallet::from_mnemonic(&m, "", Coin::Bitcoin, Chain::Mainnet).unwrap()
}

fn swap_version(text: &str, version: [u8; 4]) -> String {
    let mut data = base58::decode_check(text).unwrap();
    data[..4].copy_from_slice(&version);
    base58::encode_check(&data)
}

/// BIP84's test vectors, all of them.
#[test]
fn bip84_vectors() {
    let m = Mnemonic::parse(ABANDON).unwrap();
    let seed = m.to_seed("");
    let secp = Secp256k1::new();
    let master = master_key(&seed, Chain::Mainnet).unwrap();
    let zprv = |k: &Xpriv| swap_version(&k.to_string(), [0x04, 0xb2, 0x43, 0x0c]);
    let zpub = |k: &Xpub| swap_version(&k.to_string(), XpubFormat::Zpub.version());
    assert_eq!(
        zprv(&master.0),
        "zprvAWgYBBk7JR8Gjrh4UJQ2uJdG1r3WNRRfURiABBE3RvMXYSrRJL62XuezvGdPvG6GFBZduosCc1YP5wixPox7zhZLfiUm8aunE96BBa4Kei5"
    );
    assert_eq!(
        zpub(&Xpub::from_priv(&secp, &master.0)),
        "zpub6jftahH18ngZxLmXaKw3GSZzZsszmt9WqedkyZdezFtWRFBZqsQH5hyUmb4pCEeZGmVfQuP5bedXTB8is6fTv19U1GQRyQUKQGUTzyHACMF"
    );

    let wallet = abandon_btc();
    assert_eq!(
        zprv(&wallet.account),
        "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1yYNZKEm7z6qUWCroSQnE"
    );
    let watch = wallet.watch_only();
    let zpub = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";
    assert_eq!(watch.account_xpub_as(XpubFormat::Zpub).unwrap(), zpub);
    assert_eq!(
        watch.account_xpub(),
        "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V"
    );
    assert_eq!(wallet.master_fingerprint().to_string(), "73c5da0a");

    let cases = [
        (
            Branch::Receive,
            0,
            "KyZpNDKnfs94vbrwhJneDi77V6jF64PWPF8x5cdJb8ifgg2DUc9d",
            "0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c",
            "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
        ),
        (
            Branch::Receive,
            1,
            "Kxpf5b8p3qX56DKEe5NqWbNUP9MnqoRFzZwHRtsFqhzuvUJsYZCy",
            "03e775fd51f0dfb8cd865d9ff1cca2a158cf651fe997fdc9fee9c1d3b5e995ea77",
            "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
        ),
        (
            Branch::Change,
            0,
            "KxuoxufJL5csa1Wieb2kp29VNdn92Us8CoaUG3aGtPtcF3AzeXvF",
            "03025324888e429ab8e3dbaf1f7802648b9cd01e9b418485c5fa4c1b9b5700e1a6",
            "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el",
        ),
    ];
    // The watch-only wallet from the published zpub derives the same.
    let imported = WatchOnlyWallet::from_account_xpub(Coin::Bitcoin, Chain::Mainnet, zpub).unwrap();
    for (branch, index, wif, public, address) in cases {
        let key = wallet.signing_key(branch, index).unwrap();
        let wif_key = bitcoin::PrivateKey::from_wif(wif).unwrap();
        assert_eq!(*key.secret_key(), wif_key.inner, "{address}");
        assert_eq!(key.public_key().to_string(), public);
        assert_eq!(key.path(), (branch, index));
        assert_eq!(wallet.address(branch, index).unwrap(), address);
        assert_eq!(imported.address(branch, index).unwrap(), address);
        assert_eq!(imported.key_hash(branch, index).unwrap(), key.key_hash());
        // And the `bitcoin` crate's own address encoder agrees.
        let compressed = bitcoin::CompressedPublicKey(key.public_key());
        assert_eq!(
            bitcoin::Address::p2wpkh(&compressed, bitcoin::Network::Bitcoin).to_string(),
            address
        );
    }
}

/// The same phrase on Litecoin mainnet (`m/84'/2'/0'`), as Litecoin wallets derive it, and
/// the BIP84 key hashes spelled with `ltc1`.
#[test]
fn litecoin_addresses() {
    let m = Mnemonic::parse(ABANDON).unwrap();
    let ltc = HotWallet::from_mnemonic(&m, "", Coin::Litecoin, Chain::Mainnet).unwrap();
    assert_eq!(
        ltc.address(Branch::Receive, 0).unwrap(),
        "ltc1qjmxnz78nmc8nq77wuxh25n2es7rzm5c2rkk4wh"
    );
    assert_eq!(
        ltc.address(Branch::Receive, 1).unwrap(),
        "ltc1qwlezpr3890hcp6vva9twqh27mr6edadreqvhnn"
    );
    assert_eq!(
        ltc.address(Branch::Change, 0).unwrap(),
        "ltc1qyeljcy9v88jg8sqvnqh0m5q390xruc5r98q9yy"
    );
    assert_eq!(account_path(Coin::Litecoin, Chain::Mainnet), "m/84'/2'/0'");

    let btc = abandon_btc();
    for (branch, index) in [
        (Branch::Receive, 0),
        (Branch::Receive, 1),
        (Branch::Change, 0),
    ] {
        let hash = btc.watch_only().key_hash(branch, index).unwrap();
        let bc = btc.address(branch, index).unwrap();
        let ltc = p2wpkh(Coin::Litecoin, Chain::Mainnet, &hash);
        // Same data characters, another prefix and checksum.
        assert_eq!(ltc[4..ltc.len() - 6], bc[3..bc.len() - 6]);
        assert_eq!(
            decode(Coin::Litecoin, Chain::Mainnet, &ltc),
            Ok(UtxoAddress::Segwit {
                version: 0,
                program: hash.to_vec()
            })
        );
    }
}

/// Trezor's BIP39 vectors (passphrase "TREZOR"): phrase → seed → BIP32 master key.
#[test]
fn bip39_trezor_vectors() {
    let cases = [
        (
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
            "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
            "xprv9s21ZrQH143K3h3fDYiay8mocZ3afhfULfb5GX8kCBdno77K4HiA15Tg23wpbeF1pLfs1c5SPmYHrEpTuuRhxMwvKDwqdKiGJS9XFKzUsAF",
        ),
        (
            "legal winner thank year wave sausage worth useful legal winner thank yellow",
            "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607",
            "xprv9s21ZrQH143K2gA81bYFHqU68xz1cX2APaSq5tt6MFSLeXnCKV1RVUJt9FWNTbrrryem4ZckN8k4Ls1H6nwdvDTvnV7zEXs2HgPezuVccsq",
        ),
        (
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art",
            "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8",
            "xprv9s21ZrQH143K32qBagUJAMU2LsHg3ka7jqMcV98Y7gVeVyNStwYS3U7yVVoDZ4btbRNf4h6ibWpY22iRmXq35qgLs79f312g2kj5539ebPM",
        ),
    ];
    for (phrase, seed, xprv) in cases {
        let m = Mnemonic::parse(phrase).unwrap();
        let s = m.to_seed("TREZOR");
        assert_eq!(hex::encode(&s.0[..]), seed, "{phrase}");
        let master = master_key(&s, Chain::Mainnet).unwrap();
        assert_eq!(master.0.to_string(), xprv);
        assert_eq!(*m.phrase(), phrase);
    }
    // Any whitespace and letter case is read the same.
    let messy = "  Legal winner THANK year\twave sausage worth useful legal winner thank yellow\n";
    assert_eq!(
        hex::encode(&Mnemonic::parse(messy).unwrap().to_seed("TREZOR").0[..]),
        cases[1].1
    );
}

#[test]
fn bad_phrases_are_refused() {
    // A valid word list whose checksum does not match (the last word changed).
    assert_eq!(
        Mnemonic::parse("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon").unwrap_err(),
        HdError::Checksum
    );
    assert_eq!(
        Mnemonic::parse(
            "legal winner thank year wave sausage worth useful legal winner thank year"
        )
        .unwrap_err(),
        HdError::Checksum
    );
    // Two words swapped.
    assert_eq!(
        Mnemonic::parse(
            "winner legal thank year wave sausage worth useful legal winner thank yellow"
        )
        .unwrap_err(),
        HdError::Checksum
    );
    assert_eq!(
        Mnemonic::parse(
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
        )
        .unwrap_err(),
        HdError::WordCount(11)
    );
    assert_eq!(
        Mnemonic::parse("abandon abandon abandon abandon abandon abandon abandon bitcoin abandon abandon abandon about").unwrap_err(),
        HdError::UnknownWord(8)
    );
    assert_eq!(Mnemonic::parse("").unwrap_err(), HdError::WordCount(0));
}

#[test]
fn generated_phrases_are_24_fresh_words() {
    let a = Mnemonic::generate().unwrap();
    let b = Mnemonic::generate().unwrap();
    assert_eq!(a.word_count(), 24);
    assert_eq!(a.phrase().split(' ').count(), Mnemonic::GENERATED_WORDS);
    assert_ne!(*a.phrase(), *b.phrase());
    // What is shown is what reads back.
    let again = Mnemonic::parse(&a.phrase()).unwrap();
    assert_eq!(*again.phrase(), *a.phrase());
    assert_eq!(
        hex::encode(&again.to_seed("x").0[..]),
        hex::encode(&a.to_seed("x").0[..])
    );
    assert_ne!(
        hex::encode(&a.to_seed("").0[..]),
        hex::encode(&a.to_seed("x").0[..]),
        "the passphrase changes the seed"
    );
}

#[test]
fn debug_output_shows_no_secrets() {
    let m = Mnemonic::parse(ABANDON).unwrap();
    let seed = m.to_seed("");
    let wallet = abandon_btc();
    let key = wallet.signing_key(Branch::Receive, 0).unwrap();
    let texts = [
        format!("{m:?}"),
        format!("{seed:?}"),
        format!("{wallet:?}"),
        format!("{:?}", wallet.watch_only()),
        format!("{key:?}"),
        format!("{:#?}", (&m, &seed, &wallet, &key)),
    ];
    let secret_hex = hex::encode(key.secret_key().secret_bytes());
    let account_secret = hex::encode(wallet.account.private_key.secret_bytes());
    let chain_code = hex::encode(wallet.account.chain_code.as_bytes());
    let seed_hex = hex::encode(&seed.0[..]);
    for text in &texts {
        for needle in [
            "abandon",
            "about",
            secret_hex.as_str(),
            account_secret.as_str(),
            chain_code.as_str(),
            &seed_hex[..16],
            "zprv",
            "xprv",
        ] {
            assert!(!text.contains(needle), "{text} contains {needle}");
        }
    }
    assert_eq!(texts[0], "Mnemonic([redacted; 12 words])");
    assert!(
        texts[4].contains("0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c")
    );
}

#[test]
fn secrets_are_erased_on_drop() {
    let mut key = abandon_btc().account;
    let before = key.private_key.secret_bytes();
    erase(&mut key);
    assert_ne!(key.private_key.secret_bytes(), before);
    assert_eq!(key.chain_code.to_bytes(), [0u8; 32]);
}

#[test]
fn test_chains_use_coin_type_1_and_their_prefixes() {
    let m = Mnemonic::parse(ABANDON).unwrap();
    let seed = m.to_seed("");
    let mut seen = Vec::new();
    for coin in [Coin::Bitcoin, Coin::Litecoin] {
        for chain in [Chain::Testnet, Chain::Regtest] {
            assert_eq!(coin_type(coin, chain), 1);
            let w = HotWallet::from_seed(&seed, coin, chain).unwrap();
            let a = w.address(Branch::Receive, 0).unwrap();
            assert!(a.starts_with(&format!("{}1q", coin.hrp(chain))), "{a}");
            let tpub = w.watch_only().account_xpub();
            assert!(tpub.starts_with("tpub"));
            assert!(
                w.watch_only()
                    .account_xpub_as(XpubFormat::Vpub)
                    .unwrap()
                    .starts_with("vpub")
            );
            seen.push(w.watch_only().key_hash(Branch::Receive, 0).unwrap());
        }
    }
    // Every test chain of both coins shares m/84'/1'/0', so the same keys.
    assert!(seen.windows(2).all(|w| w[0] == w[1]));
    // BIP84's testnet account key of this phrase (m/84'/1'/0', published as vpub by wallets).
    let w = HotWallet::from_seed(&seed, Coin::Bitcoin, Chain::Testnet).unwrap();
    assert_eq!(
        w.address(Branch::Receive, 0).unwrap(),
        "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl"
    );
}

#[test]
fn xpub_formats_round_trip_and_are_checked() {
    let wallet = abandon_btc();
    let watch = wallet.watch_only();
    let xpub = watch.account_xpub();
    let zpub = watch.account_xpub_as(XpubFormat::Zpub).unwrap();
    let want = watch.address(Branch::Receive, 7).unwrap();
    for text in [&xpub, &zpub] {
        let w = WatchOnlyWallet::from_account_xpub(Coin::Bitcoin, Chain::Mainnet, text).unwrap();
        assert_eq!(w.address(Branch::Receive, 7).unwrap(), want);
        assert_eq!(w.account_xpub(), xpub);
    }
    // Litecoin's own versions.
    let ltc = HotWallet::from_mnemonic(
        &Mnemonic::parse(ABANDON).unwrap(),
        "",
        Coin::Litecoin,
        Chain::Mainnet,
    )
    .unwrap();
    let ltub = ltc.watch_only().account_xpub_as(XpubFormat::Ltub).unwrap();
    assert!(ltub.starts_with("Ltub"), "{ltub}");
    let from_ltub =
        WatchOnlyWallet::from_account_xpub(Coin::Litecoin, Chain::Mainnet, &ltub).unwrap();
    assert_eq!(
        from_ltub.address(Branch::Receive, 0).unwrap(),
        "ltc1qjmxnz78nmc8nq77wuxh25n2es7rzm5c2rkk4wh"
    );
    let ltc_test = HotWallet::from_mnemonic(
        &Mnemonic::parse(ABANDON).unwrap(),
        "",
        Coin::Litecoin,
        Chain::Regtest,
    )
    .unwrap();
    let ttub = ltc_test
        .watch_only()
        .account_xpub_as(XpubFormat::Ttub)
        .unwrap();
    assert!(ttub.starts_with("ttub"), "{ttub}");
    assert_eq!(
        WatchOnlyWallet::from_account_xpub(Coin::Litecoin, Chain::Regtest, &ttub)
            .unwrap()
            .address(Branch::Change, 3)
            .unwrap(),
        ltc_test.address(Branch::Change, 3).unwrap()
    );
    // Wrong chain or coin.
    assert_eq!(
        watch.account_xpub_as(XpubFormat::Tpub).unwrap_err(),
        HdError::WrongNetwork
    );
    assert_eq!(
        watch.account_xpub_as(XpubFormat::Ltub).unwrap_err(),
        HdError::WrongNetwork
    );
    for (coin, chain, text) in [
        (Coin::Bitcoin, Chain::Testnet, &xpub),
        (Coin::Bitcoin, Chain::Regtest, &zpub),
        (Coin::Bitcoin, Chain::Mainnet, &ltub),
        (Coin::Litecoin, Chain::Testnet, &ltub),
        (Coin::Litecoin, Chain::Mainnet, &ttub),
    ] {
        assert_eq!(
            WatchOnlyWallet::from_account_xpub(coin, chain, text).unwrap_err(),
            HdError::WrongNetwork,
            "{text} on {coin:?} {chain:?}"
        );
    }
    // Private keys, other script types, other shapes.
    let zprv = swap_version(&wallet.account.to_string(), [0x04, 0xb2, 0x43, 0x0c]);
    for (text, want) in [
        (wallet.account.to_string(), HdError::PrivateKey),
        (zprv, HdError::PrivateKey),
        (
            swap_version(&xpub, [0x04, 0x9d, 0x7c, 0xb2]),
            HdError::WrongScriptType("nested segwit (P2SH-P2WPKH, BIP49)"),
        ),
        (
            swap_version(&xpub, [0x01, 0xb2, 0x6e, 0xf6]),
            HdError::WrongScriptType("nested segwit (P2SH-P2WPKH, BIP49)"),
        ),
        (
            swap_version(&xpub, [0x02, 0xaa, 0x7e, 0xd3]),
            HdError::WrongScriptType("multisig (P2WSH)"),
        ),
        (
            swap_version(&xpub, [0x01, 0x02, 0x03, 0x04]),
            HdError::KeyFormat,
        ),
        (xpub.replace('W', "X"), HdError::KeyFormat),
        ("xpub".to_owned(), HdError::KeyFormat),
        (String::new(), HdError::KeyFormat),
    ] {
        assert_eq!(
            WatchOnlyWallet::from_account_xpub(Coin::Litecoin, Chain::Mainnet, &text).unwrap_err(),
            want,
            "{text}"
        );
    }
    let mtub = swap_version(&xpub, [0x01, 0xb2, 0x6e, 0xf6]);
    assert!(mtub.starts_with("Mtub"), "{mtub}");
    // Only account keys: the master key (depth 0) and an address key (depth 5) are not.
    let secp = Secp256k1::new();
    let seed = Mnemonic::parse(ABANDON).unwrap().to_seed("");
    let master = Xpub::from_priv(&secp, &master_key(&seed, Chain::Mainnet).unwrap().0);
    assert_eq!(
        WatchOnlyWallet::from_account_xpub(Coin::Bitcoin, Chain::Mainnet, &master.to_string())
            .unwrap_err(),
        HdError::NotAccountKey {
            depth: 0,
            child: "0".into()
        }
    );
    let deep = wallet
        .watch_only()
        .receive
        .ckd_pub(&secp, ChildNumber::from(5))
        .unwrap();
    assert!(matches!(
        WatchOnlyWallet::from_account_xpub(Coin::Bitcoin, Chain::Mainnet, &deep.to_string()),
        Err(HdError::NotAccountKey { depth: 5, .. })
    ));
}

#[test]
fn indexes_stop_below_the_hardened_range() {
    let wallet = abandon_btc();
    assert!(wallet.address(Branch::Receive, (1 << 31) - 1).is_ok());
    assert_eq!(
        wallet.address(Branch::Receive, 1 << 31).unwrap_err(),
        HdError::Index(1 << 31)
    );
    assert_eq!(
        wallet.signing_key(Branch::Change, u32::MAX).unwrap_err(),
        HdError::Index(u32::MAX)
    );
}

#[test]
fn signatures_verify_against_the_address_key() {
    let wallet = abandon_btc();
    let key = wallet.signing_key(Branch::Receive, 3).unwrap();
    let digest = [7u8; 32];
    let sig: Signature = key.sign_digest(digest);
    assert!(sig.serialize_der().len() <= 70, "low R");
    let public = wallet.watch_only().public_key(Branch::Receive, 3).unwrap();
    Secp256k1::verification_only()
        .verify_ecdsa(&Message::from_digest(digest), &sig, &public)
        .unwrap();
    // Deterministic (RFC 6979).
    assert_eq!(key.sign_digest(digest), sig);
}

#[test]
fn descriptors_name_the_branch() {
    let wallet = abandon_btc();
    assert_eq!(
        wallet.watch_only().descriptor(Branch::Change),
        format!("wpkh({}/1/*)", wallet.watch_only().account_xpub())
    );
}
