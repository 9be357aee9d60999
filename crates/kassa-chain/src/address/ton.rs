//! TON addresses.
//!
//! An account is a workchain (0, the basechain, where wallets live; or −1, the masterchain)
//! and a 32-byte hash of its initial state. It is written two ways:
//!
//! - raw: `0:83dfd552…` (workchain, colon, 64 hex digits), no checksum and no flags;
//! - user-friendly: 36 bytes = flags ‖ workchain (i8) ‖ hash ‖ CRC16-XMODEM of the first 34
//!   bytes (big-endian), in 48 characters of base64url (`EQ…`/`UQ…` on the basechain) or
//!   standard base64; both alphabets are in use, so both are read.
//!
//! The flags byte is `0x11` for bounceable, `0x51` for non-bounceable, plus `0x80` when the
//! address is meant for testnet only. Bounceable means a transfer to a not-yet-deployed wallet
//! bounces back; wallets show their own address non-bounceable (`UQ…`) for that reason.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

use super::AddressError;

const BOUNCEABLE: u8 = 0x11;
const NON_BOUNCEABLE: u8 = 0x51;
const TESTNET_ONLY: u8 = 0x80;

/// A decoded TON address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TonAddress {
    /// The workchain: 0 (basechain) or −1 (masterchain).
    pub workchain: i8,
    /// The account id: the hash of the account's initial code and data.
    pub hash: [u8; 32],
    /// Whether transfers to a not-yet-deployed account should bounce. The raw form has no flags
    /// and reads as bounceable, as TON wallets read it.
    pub bounceable: bool,
    /// Whether the address is flagged for testnet only (never set for the raw form).
    pub testnet: bool,
}

impl TonAddress {
    /// The user-friendly base64url form (48 characters).
    pub fn to_user_friendly(&self) -> String {
        let mut bytes = [0u8; 36];
        let flags = if self.bounceable {
            BOUNCEABLE
        } else {
            NON_BOUNCEABLE
        };
        bytes[0] = if self.testnet {
            flags | TESTNET_ONLY
        } else {
            flags
        };
        bytes[1] = self.workchain.to_be_bytes()[0];
        bytes[2..34].copy_from_slice(&self.hash);
        let crc = crc16_xmodem(&bytes[..34]);
        bytes[34..].copy_from_slice(&crc.to_be_bytes());
        URL_SAFE.encode(bytes)
    }

    /// The raw form: `<workchain>:<64 lower-case hex digits>` (what explorers link by).
    pub fn to_raw(&self) -> String {
        format!("{}:{}", self.workchain, hex::encode(self.hash))
    }
}

/// Decodes a TON address in the user-friendly (base64url or base64) or raw form.
pub fn decode(address: &str) -> Result<TonAddress, AddressError> {
    if let Some((workchain, hash)) = address.split_once(':') {
        return decode_raw(workchain, hash);
    }
    if address.len() != 48 {
        return Err(AddressError::Format);
    }
    // Exactly 36 bytes, so no padding and no leftover bits: either alphabet decodes it fully,
    // and a string mixing `-`/`_` with `+`/`/` is refused by both.
    let decoded = URL_SAFE
        .decode(address)
        .or_else(|_| STANDARD.decode(address))
        .map_err(|_| AddressError::Format)?;
    let bytes: [u8; 36] = decoded.try_into().map_err(|_| AddressError::Format)?;
    // The checksum first: a typo anywhere, flags included, should read as a typo.
    if crc16_xmodem(&bytes[..34]).to_be_bytes() != bytes[34..] {
        return Err(AddressError::Checksum);
    }
    let testnet = bytes[0] & TESTNET_ONLY != 0;
    let bounceable = match bytes[0] & !TESTNET_ONLY {
        BOUNCEABLE => true,
        NON_BOUNCEABLE => false,
        _ => return Err(AddressError::Format),
    };
    let workchain = workchain(i8::from_be_bytes([bytes[1]]))?;
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[2..34]);
    Ok(TonAddress {
        workchain,
        hash,
        bounceable,
        testnet,
    })
}

fn decode_raw(workchain: &str, hash: &str) -> Result<TonAddress, AddressError> {
    // Spelled exactly as every tool writes them: no `+0`, `00` or `-01`.
    let workchain = match workchain {
        "0" => 0,
        "-1" => -1,
        _ => return Err(AddressError::Format),
    };
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hash, &mut bytes).map_err(|_| AddressError::Format)?;
    Ok(TonAddress {
        workchain,
        hash: bytes,
        bounceable: true,
        testnet: false,
    })
}

/// Only the two workchains that exist are addresses anyone can hold.
fn workchain(id: i8) -> Result<i8, AddressError> {
    match id {
        0 | -1 => Ok(id),
        _ => Err(AddressError::Format),
    }
}

/// CRC-16/XMODEM (polynomial 0x1021, initial value 0, no reflection), as TON specifies.
fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn h32(hex: &str) -> [u8; 32] {
        hex::decode(hex).unwrap().try_into().unwrap()
    }

    #[test]
    fn crc16_xmodem_check_value() {
        // The catalogue check value of CRC-16/XMODEM.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31c3);
    }

    #[test]
    fn zero_hash_vector() {
        let zero = TonAddress {
            workchain: 0,
            hash: [0; 32],
            bounceable: true,
            testnet: false,
        };
        assert_eq!(
            zero.to_user_friendly(),
            "EQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAM9c"
        );
        assert_eq!(
            decode("EQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAM9c"),
            Ok(zero)
        );
        assert_eq!(decode(&format!("0:{}", "0".repeat(64))), Ok(zero));
    }

    #[test]
    fn published_addresses() {
        // From tonkeeper/ton-assets: the TON Foundation's old wallet, the ecosystem reserve
        // (with `_` from the url-safe alphabet), and masterchain system contracts.
        let cases = [
            (
                "EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N",
                "0:83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31a8",
            ),
            (
                "EQAhE3sLxHZpsyZ_HecMuwzvXHKLjYx4kEUehhOy2JmCcHCT",
                "0:21137b0bc47669b3267f1de70cbb0cef5c728b8d8c7890451e8613b2d8998270",
            ),
            (
                "Ef8zMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM0vF",
                "-1:3333333333333333333333333333333333333333333333333333333333333333",
            ),
            (
                "Ef9VVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVbxn",
                "-1:5555555555555555555555555555555555555555555555555555555555555555",
            ),
            (
                "Ef8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADAU",
                "-1:0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ];
        for (friendly, raw) in cases {
            let decoded = decode(friendly).unwrap();
            assert!(decoded.bounceable && !decoded.testnet, "{friendly}");
            assert_eq!(decoded.to_raw(), raw);
            assert_eq!(decoded.to_user_friendly(), friendly);
            assert_eq!(decode(raw), Ok(decoded));
        }
        // ton-kotlin's AddrStd test, raw hex in upper case.
        let upper = "0:0AB558F4DB84FD31F61A273535C670C091FFC619B1CDBBE5769A0BF28D3B8FEA";
        assert_eq!(
            decode(upper).unwrap().to_user_friendly(),
            "EQAKtVj024T9MfYaJzU1xnDAkf_GGbHNu-V2mgvyjTuP6rvC"
        );
    }

    #[test]
    fn reads_both_base64_alphabets_and_all_flags() {
        let hash = h32("21137b0bc47669b3267f1de70cbb0cef5c728b8d8c7890451e8613b2d8998270");
        let url = "EQAhE3sLxHZpsyZ_HecMuwzvXHKLjYx4kEUehhOy2JmCcHCT";
        let standard = url.replace('_', "/").replace('-', "+");
        assert_eq!(decode(&standard).map(|a| a.hash), Ok(hash));
        for (bounceable, testnet, prefix) in [
            (true, false, "EQ"),
            (false, false, "UQ"),
            (true, true, "kQ"),
            (false, true, "0Q"),
        ] {
            let address = TonAddress {
                workchain: 0,
                hash,
                bounceable,
                testnet,
            };
            let text = address.to_user_friendly();
            assert!(text.starts_with(prefix), "{text}");
            assert_eq!(decode(&text), Ok(address));
        }
    }

    #[test]
    fn refuses_typos_and_malformed() {
        use AddressError::*;
        let cases = [
            ("EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2M", Checksum),
            ("EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2", Format),
            ("EQCD39VS5jcptHL8vMjEXrzGaRcCVYto7HUn4bpAOg8xqB2N=", Format),
            ("EQAhE3sLxHZpsyZ_HecMuwzvXHKLjYx4kEUehhOy2JmC+HCT", Format),
            (
                "0:83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31a",
                Format,
            ),
            (
                "0:83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31a8a",
                Format,
            ),
            (
                "0:83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31ag",
                Format,
            ),
            (
                "1:83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31a8",
                Format,
            ),
            (
                "+0:83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31a8",
                Format,
            ),
            (
                ":83dfd552e63729b472fcbcc8c45ebcc6691702558b68ec7527e1ba403a0f31a8",
                Format,
            ),
        ];
        for (address, want) in cases {
            assert_eq!(decode(address), Err(want), "{address}");
        }
        // A well-formed user-friendly address with an unknown flags byte or workchain.
        let mut bytes = [0u8; 36];
        bytes[0] = 0x12;
        let crc = crc16_xmodem(&bytes[..34]).to_be_bytes();
        bytes[34..].copy_from_slice(&crc);
        assert_eq!(decode(&URL_SAFE.encode(bytes)), Err(Format));
        bytes[0] = BOUNCEABLE;
        bytes[1] = 7;
        let crc = crc16_xmodem(&bytes[..34]).to_be_bytes();
        bytes[34..].copy_from_slice(&crc);
        assert_eq!(decode(&URL_SAFE.encode(bytes)), Err(Format));
    }

    fn any_address() -> impl Strategy<Value = TonAddress> {
        (
            prop_oneof![Just(0i8), Just(-1i8)],
            any::<[u8; 32]>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(workchain, hash, bounceable, testnet)| TonAddress {
                workchain,
                hash,
                bounceable,
                testnet,
            })
    }

    proptest! {
        #[test]
        fn round_trips(address in any_address()) {
            let text = address.to_user_friendly();
            prop_assert_eq!(text.len(), 48);
            prop_assert_eq!(decode(&text), Ok(address));
            let raw = decode(&address.to_raw()).unwrap();
            prop_assert_eq!((raw.workchain, raw.hash), (address.workchain, address.hash));
        }

        /// CRC16 catches every error confined to 16 consecutive bits, so every one-character
        /// substitution (6 bits) is caught.
        #[test]
        fn typos_are_caught(
            address in any_address(),
            position in 0usize..48,
            replacement in prop::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()),
        ) {
            let mut text = address.to_user_friendly().into_bytes();
            prop_assume!(text[position] != replacement);
            text[position] = replacement;
            let text = String::from_utf8(text).unwrap();
            prop_assert!(decode(&text).is_err(), "{}", text);
        }
    }
}
