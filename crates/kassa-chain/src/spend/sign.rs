//! BIP143 signatures for P2WPKH inputs, and their verification.
//!
//! Each input is signed with SIGHASH_ALL by the key of its (branch, index), through
//! [`SigningKey::sign_digest`] (RFC 6979 nonces, low S, low R). A low-R signature is at most
//! 70 bytes in DER; about one in 64 comes out shorter (an R or S with a leading zero byte). Such
//! a signature is signed again with extra nonce data until it is exactly 70 bytes, so that the
//! transaction has exactly the size its fee was computed for. Both steps are deterministic: the
//! same transaction and key give the same signature.

use bitcoin::hashes::{Hash as _, hash160};
use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{ScriptBuf, Transaction, WPubkeyHash, Witness};

use crate::hd::SigningKey;

/// The DER length every signature is ground to (see the module docs).
pub const DER_LEN: usize = 70;

/// How many extra nonces are tried for a full-length signature before settling for a shorter
/// one (which is valid, and only makes the fee rate a little higher than asked).
const MAX_GRIND: u32 = 256;

/// The P2WPKH output script of a key hash.
pub(crate) fn p2wpkh_script(key_hash: [u8; 20]) -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(key_hash))
}

/// The BIP143 SIGHASH_ALL digest of input `index` of `tx`, which spends `value` from the
/// P2WPKH output of `key_hash`.
pub(crate) fn sighash(
    cache: &mut SighashCache<&Transaction>,
    index: usize,
    key_hash: [u8; 20],
    value: u64,
) -> Result<[u8; 32], String> {
    cache
        .p2wpkh_signature_hash(
            index,
            &p2wpkh_script(key_hash),
            bitcoin::Amount::from_sat(value),
            EcdsaSighashType::All,
        )
        .map(|hash| hash.to_byte_array())
        .map_err(|e| format!("sighash of input {index}: {e}"))
}

/// A signature of `digest` by `key`, exactly [`DER_LEN`] bytes long when possible.
pub(crate) fn sign(key: &SigningKey, digest: [u8; 32]) -> Signature {
    full_length(key.sign_digest(digest), key.secret_key(), digest)
}

/// `first` if it is [`DER_LEN`] bytes long; otherwise the first signature of `digest` by
/// `secret` with extra nonce data `counter ‖ "kassa70" ‖ 0…` (counter = 1, 2, …) that is. The
/// tag keeps these nonces apart from the counters low-R grinding itself uses.
pub(crate) fn full_length(first: Signature, secret: &SecretKey, digest: [u8; 32]) -> Signature {
    if first.serialize_der().len() == DER_LEN {
        return first;
    }
    let secp = Secp256k1::signing_only();
    let message = Message::from_digest(digest);
    let mut extra = [0u8; 32];
    extra[4..11].copy_from_slice(b"kassa70");
    for counter in 1..=MAX_GRIND {
        extra[..4].copy_from_slice(&counter.to_le_bytes());
        let signature = secp.sign_ecdsa_with_noncedata(&message, secret, &extra);
        if signature.serialize_der().len() == DER_LEN {
            return signature;
        }
    }
    first
}

/// The witness of a P2WPKH input: the DER signature with the SIGHASH_ALL byte, and the
/// compressed public key.
pub(crate) fn witness(signature: Signature, public_key: &PublicKey) -> Witness {
    let signature = bitcoin::ecdsa::Signature {
        signature,
        sighash_type: EcdsaSighashType::All,
    };
    Witness::p2wpkh(&signature, public_key)
}

/// Checks every input of a signed transaction as a P2WPKH spend of `prevouts[i]` (key hash,
/// value): the witness is a SIGHASH_ALL signature and a compressed key, the key hashes to the
/// output's program, and the signature is valid for the input's BIP143 digest. Low S is checked
/// too (the nodes do not relay high-S signatures).
pub(crate) fn verify(tx: &Transaction, prevouts: &[([u8; 20], u64)]) -> Result<(), String> {
    if tx.input.len() != prevouts.len() {
        return Err(format!(
            "{} inputs, {} spent outputs",
            tx.input.len(),
            prevouts.len()
        ));
    }
    let secp = Secp256k1::verification_only();
    let mut cache = SighashCache::new(tx);
    for (index, (input, &(key_hash, value))) in tx.input.iter().zip(prevouts).enumerate() {
        if !input.script_sig.is_empty() {
            return Err(format!("input {index} has a scriptSig"));
        }
        let items: Vec<&[u8]> = input.witness.iter().collect();
        let [signature, public_key] = items.as_slice() else {
            return Err(format!(
                "input {index}: {} witness items instead of 2",
                items.len()
            ));
        };
        let Some((&sighash_type, der)) = signature.split_last() else {
            return Err(format!("input {index}: empty signature"));
        };
        if sighash_type != EcdsaSighashType::All as u8 {
            return Err(format!("input {index}: sighash type {sighash_type:#04x}"));
        }
        let signature =
            Signature::from_der(der).map_err(|e| format!("input {index}: signature: {e}"))?;
        let mut normalized = signature;
        normalized.normalize_s();
        if normalized != signature {
            return Err(format!("input {index}: high-S signature"));
        }
        if public_key.len() != 33 {
            return Err(format!("input {index}: the key is not compressed"));
        }
        let public_key = PublicKey::from_slice(public_key)
            .map_err(|e| format!("input {index}: public key: {e}"))?;
        let hash = hash160::Hash::hash(&public_key.serialize()).to_byte_array();
        if hash != key_hash {
            return Err(format!(
                "input {index}: the key does not hash to the spent output's program"
            ));
        }
        let digest = sighash(&mut cache, index, key_hash, value)?;
        secp.verify_ecdsa(&Message::from_digest(digest), &signature, &public_key)
            .map_err(|e| format!("input {index}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bitcoin::consensus::encode::{deserialize, serialize_hex};

    use super::*;

    /// BIP143's "Native P2WPKH" example: the second input spends 6 BTC from the P2WPKH output
    /// of key `619c33…`; the first is a P2PK input, signed here as the BIP gives it.
    const UNSIGNED: &str = "0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeffffffef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e4dbe6a21b2d50ce2f0167faa815988ac11000000";
    const SECRET: &str = "619c335025c7f4012e556c2a58b2506e30b8511b53ade95ea316fd8c3286feb9";
    const PUBLIC: &str = "025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee6357";
    const KEY_HASH: &str = "1d0f172a0ecb48aee1be1f2687d2963ae33f71a1";
    const SIGHASH: &str = "c37af31116d1b27caf68aae9e3ac82f1477929014d5b917657d0eb49478cb670";
    const SIGNATURE: &str = "304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c4518331561406f90300e8f3358f51928d43c212a8caed02de67eebee";
    const INPUT0_SCRIPT_SIG: &str = "4830450221008b9d1dc26ba6a9cb62127b02742fa9d754cd3bebf337f7a55d114c8e5cdd30be022040529b194ba3f9281a99f2b1c0a19c0489bc22ede944ccf4ecbab4cc618ef3ed01";
    const SIGNED: &str = "01000000000102fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f00000000494830450221008b9d1dc26ba6a9cb62127b02742fa9d754cd3bebf337f7a55d114c8e5cdd30be022040529b194ba3f9281a99f2b1c0a19c0489bc22ede944ccf4ecbab4cc618ef3ed01eeffffffef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02202cb206000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976a9143bde42dbee7e4dbe6a21b2d50ce2f0167faa815988ac000247304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c4518331561406f90300e8f3358f51928d43c212a8caed02de67eebee0121025476c2e83188368da1ff3e292e7acafcdb3566bb0ad253f62fc70f07aeee635711000000";

    fn h20(text: &str) -> [u8; 20] {
        hex::decode(text).unwrap().try_into().unwrap()
    }

    #[test]
    fn bip143_native_p2wpkh_vector() {
        let mut tx: Transaction = deserialize(&hex::decode(UNSIGNED).unwrap()).unwrap();
        let secret = SecretKey::from_slice(&hex::decode(SECRET).unwrap()).unwrap();
        let secp = Secp256k1::new();
        let public = PublicKey::from_secret_key(&secp, &secret);
        assert_eq!(hex::encode(public.serialize()), PUBLIC);
        assert_eq!(
            hash160::Hash::hash(&public.serialize()).to_byte_array(),
            h20(KEY_HASH)
        );

        let digest = {
            let mut cache = SighashCache::new(&tx);
            sighash(&mut cache, 1, h20(KEY_HASH), 600_000_000).unwrap()
        };
        assert_eq!(hex::encode(digest), SIGHASH);

        // What `SigningKey::sign_digest` does (RFC 6979, low R): the BIP's signature exactly.
        let low_r = secp.sign_ecdsa_low_r(&Message::from_digest(digest), &secret);
        let signature = full_length(low_r, &secret, digest);
        assert_eq!(hex::encode(signature.serialize_der()), SIGNATURE);

        // The whole signed transaction, with the P2PK input's scriptSig as the BIP gives it.
        tx.input[0].script_sig = ScriptBuf::from_bytes(hex::decode(INPUT0_SCRIPT_SIG).unwrap());
        tx.input[1].witness = witness(signature, &public);
        assert_eq!(serialize_hex(&tx), SIGNED);

        // The signature verifies against the digest and key.
        Secp256k1::verification_only()
            .verify_ecdsa(&Message::from_digest(digest), &signature, &public)
            .unwrap();
    }

    #[test]
    fn short_signatures_are_ground_to_full_length() {
        let secp = Secp256k1::new();
        let secret = SecretKey::from_slice(&[0x42; 32]).unwrap();
        let public = PublicKey::from_secret_key(&secp, &secret);
        let mut short = 0;
        for i in 0u32..400 {
            let mut digest = [0u8; 32];
            digest[..4].copy_from_slice(&i.to_le_bytes());
            let first = secp.sign_ecdsa_low_r(&Message::from_digest(digest), &secret);
            if first.serialize_der().len() < DER_LEN {
                short += 1;
            }
            let signature = full_length(first, &secret, digest);
            assert_eq!(signature.serialize_der().len(), DER_LEN, "digest {i}");
            secp.verify_ecdsa(&Message::from_digest(digest), &signature, &public)
                .unwrap();
            // Deterministic.
            assert_eq!(full_length(first, &secret, digest), signature);
        }
        // About one in 64 low-R signatures is short; 400 digests almost surely meet some.
        assert!(short > 0, "no short signature among 400");
    }
}
