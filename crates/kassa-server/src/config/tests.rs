//! The configuration's loading, layering, checks and display.

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn defaults_are_usable() {
    let l = load(None, &no_env, &[]).unwrap();
    assert_eq!(l.settings.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(l.settings.public_url().unwrap(), "http://127.0.0.1:8080");
    assert_eq!(
        l.settings.database_url().unwrap(),
        DatabaseUrl::Sqlite("./kassa-data/kassa.db".into())
    );
}

#[test]
fn layers_apply_in_order() {
    let dir = std::env::temp_dir().join(format!("kassa-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("k.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:9000\"\npublic_url = \"https://pay.example/\"\n",
    )
    .unwrap();
    let env = |k: &str| (k == "KASSA_LISTEN").then(|| "127.0.0.1:9001".to_owned());
    let l = load(Some(&file), &env, &[("data_dir", "/srv/kassa".into())]).unwrap();
    assert_eq!(l.settings.server.listen.port(), 9001);
    assert_eq!(l.settings.public_url().unwrap(), "https://pay.example");
    assert_eq!(l.settings.data_dir, PathBuf::from("/srv/kassa"));
    assert_eq!(l.sources["server.listen"], Source::Env);
    assert_eq!(l.sources["server.public_url"], Source::File);
    assert_eq!(l.sources["data_dir"], Source::Flag);
    let shown = l.show();
    assert!(shown.contains("listen = \"127.0.0.1:9001\""), "{shown}");
    assert!(shown.contains("# env KASSA_LISTEN"), "{shown}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn errors_name_the_option() {
    let env =
        |k: &str| (k == "KASSA_DATABASE_URL").then(|| "mysql://root@localhost/kassa".to_owned());
    let err = load(None, &env, &[]).unwrap_err().to_string();
    assert!(
        err.starts_with("database.url (KASSA_DATABASE_URL): unknown database engine \"mysql\""),
        "{err}"
    );

    let env = |k: &str| (k == "KASSA_LISTEN").then(|| "localhost".to_owned());
    let err = load(None, &env, &[]).unwrap_err().to_string();
    assert!(
        err.starts_with("server.listen (KASSA_LISTEN): \"localhost\" is not an address:port"),
        "{err}"
    );

    let err = load(None, &no_env, &[("server.public_url", "ftp://x".into())])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("server.public_url (KASSA_PUBLIC_URL)"),
        "{err}"
    );
}

/// BIP84's published account key (m/84'/0'/0' of the "abandon … about" phrase).
const BIP84_ZPUB: &str = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";

/// The Litecoin regtest account key of the "abandon … about" phrase, as `format`.
fn regtest_key(format: kassa_chain::hd::XpubFormat) -> String {
    use kassa_chain::hd::{Coin, HotWallet, Mnemonic};
    let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    let hot = HotWallet::from_mnemonic(
        &Mnemonic::parse(phrase).unwrap(),
        "",
        Coin::Litecoin,
        kassa_chain::Chain::Regtest,
    )
    .unwrap();
    hot.watch_only().account_xpub_as(format).unwrap()
}

fn regtest_vpub() -> String {
    regtest_key(kassa_chain::hd::XpubFormat::Vpub)
}

fn load_env(vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    load(
        None,
        &|k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
        &[],
    )
}

#[test]
fn chains_are_off_by_default_with_per_network_confirmations() {
    let l = load(None, &no_env, &[]).unwrap();
    let c = &l.settings.chains;
    assert!(!c.btc.is_configured() && !c.ltc.is_configured());
    assert_eq!((c.btc.confirmations, c.ltc.confirmations), (2, 6));
    assert_eq!(
        (c.btc.poll_interval_ms, c.ltc.poll_interval_ms),
        (1000, 1000)
    );
    assert_eq!(c.ltc.chain(), Some(kassa_chain::Chain::Mainnet));
    assert_eq!(c.ltc.xpub(), None);
}

#[test]
fn evm_sections_take_a_token_allowlist_from_file_or_environment() {
    use kassa_core::currency::{BSC, ERC20};
    const USDT: &str = "0xdAC17F958D2ee523a2206206994597C13D831ec7";
    const USDC: &str = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";
    let defaults = load(None, &no_env, &[]).unwrap().settings.chains;
    assert_eq!(
        (
            defaults.eth.chain_id,
            defaults.eth.confirmations,
            defaults.bsc.chain_id,
            defaults.base.chain_id
        ),
        (1, 12, 56, 8453)
    );
    assert!(defaults.evm().iter().all(|(_, s)| !s.is_configured()));

    let dir = std::env::temp_dir().join(format!("kassa-config-evm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("k.toml");
    std::fs::write(
        &file,
        format!("[chains.eth]\nrpc_url = \"http://127.0.0.1:8545\"\nchain_id = 31337\nexplorer = \"https://scan.example/tx/{{txid}}\"\nmax_fee_gwei = 77\nsweep_max_fee_percent = 9\n\n[chains.eth.tokens]\nusdt = \"{USDT}\"\nUSDC = \"{USDC}\"\n"),
    )
    .unwrap();
    let env = |k: &str| match k {
        "KASSA_CHAINS_BSC_RPC_URL" => Some("https://bsc.example/v1/KEY".to_owned()),
        "KASSA_CHAINS_BSC_TOKENS" => Some(format!("USDT={}", USDT.to_ascii_lowercase())),
        _ => None,
    };
    let l = load(Some(&file), &env, &[]).unwrap();
    let c = &l.settings.chains;
    let eth = c.eth.tokens(&ERC20).unwrap();
    assert_eq!(
        eth.iter().map(|(c, _)| c.code).collect::<Vec<_>>(),
        ["USDT_ERC20", "USDC_ERC20"],
        "catalogue order, any case of the symbol"
    );
    assert_eq!(c.eth.chain(&ERC20), kassa_chain::Chain::Regtest);
    // Every option of the file's section is read (not only the node's).
    assert_eq!(
        (
            c.eth.explorer.as_str(),
            c.eth.max_fee_gwei,
            c.eth.sweep_max_fee_percent
        ),
        ("https://scan.example/tx/{txid}", 77, 9)
    );
    assert_eq!(c.bsc.chain(&BSC), kassa_chain::Chain::Mainnet);
    assert_eq!(c.bsc.tokens(&BSC).unwrap()[0].0.code, "USDT_BSC");
    assert_eq!(l.sources["chains.bsc.tokens"], Source::Env);
    assert_eq!(l.sources["chains.eth.tokens"], Source::File);
    let shown = l.show();
    assert!(
        shown.contains(&format!(
            "tokens = {{ USDC = \"{USDC}\", USDT = \"{USDT}\" }}"
        )),
        "{shown}"
    );
    // What `config show` prints reads back as the same settings.
    let again = dir.join("again.toml");
    std::fs::write(&again, shown.replace("\"[redacted]\"", "\"\"")).unwrap();
    let back = load(Some(&again), &no_env, &[]).unwrap();
    assert_eq!(back.settings.chains.eth, c.eth);
    std::fs::remove_dir_all(dir).unwrap();

    let url = ("KASSA_CHAINS_ETH_RPC_URL", "http://127.0.0.1:8545");
    for (vars, expected) in [
        (
            vec![url, ("KASSA_CHAINS_ETH_TOKENS", "USDT")],
            "chains.eth.tokens (KASSA_CHAINS_ETH_TOKENS): \"USDT\" is not SYMBOL=0xCONTRACT",
        ),
        (
            vec![url, ("KASSA_CHAINS_ETH_TOKENS", "USDT=0x1234")],
            "chains.eth.tokens (KASSA_CHAINS_ETH_TOKENS): USDT: \"0x1234\" is not a contract address",
        ),
        (
            vec![
                url,
                (
                    "KASSA_CHAINS_ETH_TOKENS",
                    "DOGE=0xdAC17F958D2ee523a2206206994597C13D831ec7",
                ),
            ],
            "chains.eth.tokens (KASSA_CHAINS_ETH_TOKENS): \"DOGE\" is not a token Kassa knows on Ethereum (known: USDT, USDC, DAI, PYUSD, XAUT, PEPE, SHIB)",
        ),
        (
            vec![
                url,
                (
                    "KASSA_CHAINS_ETH_TOKENS",
                    "USDT=0xdAC17F958D2ee523a2206206994597C13D831ec7,USDC=0xdac17f958d2ee523a2206206994597c13d831ec7",
                ),
            ],
            "chains.eth.tokens (KASSA_CHAINS_ETH_TOKENS): USDT: listed twice (with USDC)",
        ),
        (
            vec![
                url,
                (
                    "KASSA_CHAINS_ETH_TOKENS",
                    "USDT=0xDAC17F958D2ee523a2206206994597C13D831ec7",
                ),
            ],
            "chains.eth.tokens (KASSA_CHAINS_ETH_TOKENS): USDT: \"0xDAC17F958D2ee523a2206206994597C13D831ec7\" is not a contract address: ",
        ),
        (
            vec![url, ("KASSA_CHAINS_ETH_CHAIN_ID", "0")],
            "chains.eth.chain_id (KASSA_CHAINS_ETH_CHAIN_ID): must be at least 1",
        ),
        (
            vec![url, ("KASSA_CHAINS_ETH_XPUB", "xpub-of-nobody")],
            "chains.eth.xpub (KASSA_CHAINS_ETH_XPUB): not an account key (m/44'/60'/0')",
        ),
        (
            vec![(
                "KASSA_CHAINS_ARB_TOKENS",
                "USDT=0xdAC17F958D2ee523a2206206994597C13D831ec7",
            )],
            "chains.arb.rpc_url (KASSA_CHAINS_ARB_RPC_URL): is empty but chains.arb.tokens is set",
        ),
    ] {
        let err = load_env(&vars).unwrap_err().to_string();
        assert!(
            err.starts_with(expected),
            "{vars:?}: expected {expected:?}, got {err:?}"
        );
    }
}

#[test]
fn chain_sections_load_from_file_and_environment() {
    let dir = std::env::temp_dir().join(format!("kassa-config-test3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("k.toml");
    std::fs::write(
        &file,
        "[chains.ltc]\nchain = \"regtest\"\nrpc_url = \"http://127.0.0.1:19443\"\nrpc_user = \"u\"\nrpc_password = \"node-pw-1\"\n\n[chains.btc]\nconfirmations = 3\n",
    )
    .unwrap();
    let vpub = regtest_vpub();
    let env = |k: &str| match k {
        "KASSA_CHAINS_LTC_XPUB" => Some(vpub.clone()),
        "KASSA_CHAINS_LTC_POLL_INTERVAL_MS" => Some("250".to_owned()),
        _ => None,
    };
    let l = load(Some(&file), &env, &[]).unwrap();
    let ltc = &l.settings.chains.ltc;
    assert!(ltc.is_configured());
    assert_eq!(ltc.chain(), Some(kassa_chain::Chain::Regtest));
    assert_eq!(
        ltc.confirmations, 6,
        "an omitted field keeps its network's default"
    );
    assert_eq!(ltc.poll_interval_ms, 250);
    assert_eq!(ltc.xpub(), Some(vpub.as_str()));
    assert_eq!(ltc.rpc_password.expose(), "node-pw-1");
    let btc = &l.settings.chains.btc;
    assert!(!btc.is_configured());
    assert_eq!(btc.confirmations, 3);
    assert_eq!(l.sources["chains.ltc.rpc_url"], Source::File);
    assert_eq!(l.sources["chains.ltc.xpub"], Source::Env);
    assert_eq!(
        l.settings.chains.of(&kassa_core::currency::LTC_NET),
        Some(ltc)
    );
    assert_eq!(l.settings.chains.of(&kassa_core::currency::TRC20), None);

    // `config show`: one section per network, the password redacted (also in Debug).
    let shown = l.show();
    assert!(shown.contains("\n[chains.ltc]\n"), "{shown}");
    assert!(shown.contains("\n[chains.btc]\n"), "{shown}");
    assert!(
        shown.contains("rpc_password = \"[redacted]\"") && shown.contains("# file"),
        "{shown}"
    );
    assert!(shown.contains("# env KASSA_CHAINS_LTC_XPUB"), "{shown}");
    let all = format!("{shown}{:?}", l.settings);
    assert!(!all.contains("node-pw-1"), "{all}");

    // A misspelt field in a chain section is refused like anywhere else.
    std::fs::write(&file, "[chains.ltc]\nrpc_ur = \"http://x\"\n").unwrap();
    let err = load(Some(&file), &no_env, &[]).unwrap_err().to_string();
    assert!(err.contains("unknown field `rpc_ur`"), "{err}");
    std::fs::write(&file, "[chains.doge]\nrpc_url = \"http://x\"\n").unwrap();
    let err = load(Some(&file), &no_env, &[]).unwrap_err().to_string();
    assert!(err.contains("unknown field `doge`"), "{err}");
    // A bad chain name in the file names the option, as from the environment.
    std::fs::write(&file, "[chains.btc]\nchain = \"signet\"\n").unwrap();
    let err = load(Some(&file), &no_env, &[]).unwrap_err().to_string();
    assert!(
        err.starts_with("chains.btc.chain (KASSA_CHAINS_BTC_CHAIN): \"signet\" is not mainnet, testnet or regtest"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn chain_errors_name_the_option() {
    let url = ("KASSA_CHAINS_LTC_RPC_URL", "http://127.0.0.1:9332");
    let regtest = ("KASSA_CHAINS_LTC_CHAIN", "regtest");
    let vpub = regtest_vpub();
    let ttub = regtest_key(kassa_chain::hd::XpubFormat::Ttub);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("KASSA_CHAINS_LTC_CHAIN", "main")],
            "chains.ltc.chain (KASSA_CHAINS_LTC_CHAIN): \"main\" is not mainnet, testnet or regtest",
        ),
        (
            vec![("KASSA_CHAINS_BTC_RPC_URL", "localhost:8332")],
            "chains.btc.rpc_url (KASSA_CHAINS_BTC_RPC_URL): \"localhost:8332\" must be http:// or https://",
        ),
        (
            vec![("KASSA_CHAINS_BTC_RPC_URL", "not a url")],
            "chains.btc.rpc_url (KASSA_CHAINS_BTC_RPC_URL): \"not a url\" is not a URL",
        ),
        (
            vec![("KASSA_CHAINS_LTC_RPC_URL", "http://user:pw@127.0.0.1:9332")],
            "chains.ltc.rpc_url (KASSA_CHAINS_LTC_RPC_URL): put the user and password in rpc_user and rpc_password",
        ),
        (
            vec![url, ("KASSA_CHAINS_LTC_CONFIRMATIONS", "0")],
            "chains.ltc.confirmations (KASSA_CHAINS_LTC_CONFIRMATIONS): must be at least 1",
        ),
        (
            vec![url, ("KASSA_CHAINS_LTC_CONFIRMATIONS", "six")],
            "chains.ltc.confirmations (KASSA_CHAINS_LTC_CONFIRMATIONS): \"six\" is not a whole number",
        ),
        (
            vec![url, ("KASSA_CHAINS_LTC_POLL_INTERVAL_MS", "5")],
            "chains.ltc.poll_interval_ms (KASSA_CHAINS_LTC_POLL_INTERVAL_MS): must be at least 10",
        ),
        // A mainnet key for a regtest node: another chain.
        (
            vec![url, regtest, ("KASSA_CHAINS_LTC_XPUB", BIP84_ZPUB)],
            "chains.ltc.xpub (KASSA_CHAINS_LTC_XPUB): not a LTC regtest account key: this extended key belongs to another network or chain",
        ),
        // A test-chain key for mainnet.
        (
            vec![url, ("KASSA_CHAINS_LTC_XPUB", vpub.as_str())],
            "chains.ltc.xpub (KASSA_CHAINS_LTC_XPUB): not a LTC mainnet account key: this extended key belongs to another network or chain",
        ),
        // Litecoin's own spelling is not a Bitcoin key.
        (
            vec![
                ("KASSA_CHAINS_BTC_RPC_URL", "http://127.0.0.1:8332"),
                ("KASSA_CHAINS_BTC_CHAIN", "regtest"),
                ("KASSA_CHAINS_BTC_XPUB", ttub.as_str()),
            ],
            "chains.btc.xpub (KASSA_CHAINS_BTC_XPUB): not a BTC regtest account key: this extended key belongs to another network or chain",
        ),
        (
            vec![url, ("KASSA_CHAINS_LTC_XPUB", "xpub-of-nobody")],
            "chains.ltc.xpub (KASSA_CHAINS_LTC_XPUB): not a LTC mainnet account key: this is not an extended public key",
        ),
        // Settings for a node without its URL: not silently ignored.
        (
            vec![("KASSA_CHAINS_LTC_XPUB", BIP84_ZPUB)],
            "chains.ltc.rpc_url (KASSA_CHAINS_LTC_RPC_URL): is empty but chains.ltc.xpub is set",
        ),
        (
            vec![("KASSA_CHAINS_BTC_RPC_PASSWORD", "pw")],
            "chains.btc.rpc_url (KASSA_CHAINS_BTC_RPC_URL): is empty but chains.btc.rpc_password is set",
        ),
    ];
    for (vars, expected) in cases {
        let err = load_env(&vars).unwrap_err().to_string();
        assert!(
            err.starts_with(expected),
            "{vars:?}: expected {expected:?}, got {err:?}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // The same key in its other spellings is accepted; so is a mainnet zpub for LTC.
    load_env(&[url, regtest, ("KASSA_CHAINS_LTC_XPUB", vpub.as_str())]).unwrap();
    load_env(&[url, ("KASSA_CHAINS_LTC_XPUB", BIP84_ZPUB)]).unwrap();
    load_env(&[url, regtest, ("KASSA_CHAINS_LTC_XPUB", ttub.as_str())]).unwrap();
    load_env(&[url, ("KASSA_CHAINS_LTC_CHAIN", "RegTest")]).unwrap();
}

#[test]
fn unknown_file_keys_are_refused() {
    let dir = std::env::temp_dir().join(format!("kassa-config-test2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("k.toml");
    std::fs::write(&file, "[server]\nlisten_on = \"127.0.0.1:9000\"\n").unwrap();
    let err = load(Some(&file), &no_env, &[]).unwrap_err().to_string();
    assert!(err.contains("unknown field `listen_on`"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn secrets_are_redacted_in_show_and_debug() {
    let env = |k: &str| match k {
        "KASSA_MASTER_KEY" => Some("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=".to_owned()),
        "KASSA_DATABASE_URL" => Some("postgres://kassa:pw0rd@db/kassa".to_owned()),
        _ => None,
    };
    let l = load(None, &env, &[]).unwrap();
    let all = format!("{}{:?}", l.show(), l.settings);
    assert!(!all.contains("pw0rd") && !all.contains("c2VjcmV0"), "{all}");
}

#[test]
fn example_file_documents_every_option_and_matches_defaults() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../kassa.example.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let l = load(Some(Path::new(example)), &no_env, &[]).unwrap();
    let defaults = load(None, &no_env, &[]).unwrap();
    for o in OPTIONS {
        let (_, name) = o.key.rsplit_once('.').unwrap_or(("", o.key));
        assert!(
            text.contains(&format!("{name} =")),
            "kassa.example.toml does not mention {}",
            o.key
        );
        assert!(
            text.contains(o.env),
            "kassa.example.toml does not mention {}",
            o.env
        );
        assert_eq!(
            (o.get)(&l.settings),
            (o.get)(&defaults.settings),
            "example differs from default for {}",
            o.key
        );
    }
}

#[test]
fn the_tron_section_takes_its_api_key_and_allowlist_from_file_or_environment() {
    use kassa_core::currency::TRC20;
    let defaults = load(None, &no_env, &[]).unwrap().settings.chains;
    assert!(!defaults.tron.is_configured());
    assert_eq!(
        (defaults.tron.confirmations, defaults.tron.poll_interval_ms),
        (19, 3000)
    );
    let tokens = defaults.tron.tokens().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        tokens[0].0.code, "USDT_TRC20",
        "USDT's mainnet contract by default"
    );

    let dir = std::env::temp_dir().join(format!("kassa-config-tron-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("k.toml");
    std::fs::write(
        &file,
        "[chains.tron]\napi_url = \"https://nile.trongrid.io\"\nchain = \"testnet\"\nconfirmations = 20\nsweep_max_fee_percent = 25\n\n[chains.tron.tokens]\nUSDT = \"TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf\"\n",
    )
    .unwrap();
    let env = |k: &str| match k {
        "KASSA_CHAINS_TRON_API_KEY" => Some("secret-key-123".to_owned()),
        _ => None,
    };
    let l = load(Some(&file), &env, &[]).unwrap();
    let t = &l.settings.chains.tron;
    assert!(l.settings.chains.is_configured(&TRC20));
    assert_eq!(
        (
            t.confirmations,
            t.chain(),
            t.api_key.expose(),
            t.sweep_max_fee_percent
        ),
        (20, Some(kassa_chain::Chain::Testnet), "secret-key-123", 25)
    );
    assert_eq!(
        kassa_chain::address::tron::encode(&t.tokens().unwrap()[0].1),
        "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf"
    );
    assert!(
        !format!("{}{:?}", l.show(), l.settings).contains("secret-key-123"),
        "the key is never shown"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // Mistakes name the option.
    for (vars, key, says) in [
        (
            vec![("KASSA_CHAINS_TRON_API_KEY", "k")],
            "chains.tron.api_url",
            "is empty but chains.tron.api_key is set",
        ),
        (
            vec![("KASSA_CHAINS_TRON_API_URL", "ftp://x")],
            "chains.tron.api_url",
            "http",
        ),
        (
            vec![
                ("KASSA_CHAINS_TRON_API_URL", "http://127.0.0.1:8090"),
                (
                    "KASSA_CHAINS_TRON_TOKENS",
                    "USDT=0xdAC17F958D2ee523a2206206994597C13D831ec7",
                ),
            ],
            "chains.tron.tokens",
            "not a contract address",
        ),
        (
            vec![
                ("KASSA_CHAINS_TRON_API_URL", "http://127.0.0.1:8090"),
                (
                    "KASSA_CHAINS_TRON_TOKENS",
                    "USDC=TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf",
                ),
            ],
            "chains.tron.tokens",
            "not a token Kassa knows",
        ),
        (
            vec![
                ("KASSA_CHAINS_TRON_API_URL", "http://127.0.0.1:8090"),
                ("KASSA_CHAINS_TRON_XPUB", "xpub-nope"),
            ],
            "chains.tron.xpub",
            "m/44'/195'/0'",
        ),
        (
            vec![
                ("KASSA_CHAINS_TRON_API_URL", "http://127.0.0.1:8090"),
                ("KASSA_CHAINS_TRON_SWEEP_MAX_FEE_PERCENT", "0"),
            ],
            "chains.tron.sweep_max_fee_percent",
            "from 1 to 100",
        ),
    ] {
        let err = load_env(&vars).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(says), "{vars:?}: {err}");
    }
}
