//! EVM transactions signed locally: EIP-1559 (type 2) transfers of the native coin or calls
//! (an ERC-20 `transfer`), RLP-encoded and signed with secp256k1 over Keccak-256, no SDK.
//!
//! The signature covers `0x02 || rlp([chain_id, nonce, max_priority_fee_per_gas,
//! max_fee_per_gas, gas_limit, to, value, data, access_list])`; the raw transaction appends
//! `y_parity, r, s` to that list. The transaction hash is Keccak-256 of the raw bytes.

use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use sha3::{Digest, Keccak256};

/// A type-2 (EIP-1559) transaction to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eip1559 {
    /// The chain it is valid on (replay protection).
    pub chain_id: u64,
    /// The sender's nonce.
    pub nonce: u64,
    /// The tip to the block producer, per gas (wei).
    pub max_priority_fee_per_gas: u128,
    /// The most paid per gas, base fee included (wei).
    pub max_fee_per_gas: u128,
    /// Gas limit.
    pub gas_limit: u64,
    /// The recipient (a contract, for a token transfer).
    pub to: [u8; 20],
    /// Native value, in wei.
    pub value: u128,
    /// Call data (empty for a plain transfer).
    pub data: Vec<u8>,
}

/// A signed transaction, ready for `eth_sendRawTransaction`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    /// The raw bytes.
    pub raw: Vec<u8>,
    /// Its hash (the transaction id), `0x…` lower case.
    pub hash: String,
}

impl SignedTx {
    /// The raw bytes as `0x…` hex.
    pub fn raw_hex(&self) -> String {
        format!("0x{}", hex::encode(&self.raw))
    }
}

/// Why a transaction could not be signed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The 32 bytes are not a valid secp256k1 private key.
    #[error("not a valid private key")]
    Key,
}

/// The ERC-20 `transfer(to, amount)` call data.
pub fn erc20_transfer(to: &[u8; 20], amount: u128) -> Vec<u8> {
    let mut data = Vec::with_capacity(68);
    data.extend_from_slice(&[0xa9, 0x05, 0x9c, 0xbb]);
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(to);
    data.extend_from_slice(&[0u8; 16]);
    data.extend_from_slice(&amount.to_be_bytes());
    data
}

impl Eip1559 {
    fn fields(&self) -> Vec<Vec<u8>> {
        vec![
            rlp_uint(u128::from(self.chain_id)),
            rlp_uint(u128::from(self.nonce)),
            rlp_uint(self.max_priority_fee_per_gas),
            rlp_uint(self.max_fee_per_gas),
            rlp_uint(u128::from(self.gas_limit)),
            rlp_bytes(&self.to),
            rlp_uint(self.value),
            rlp_bytes(&self.data),
            rlp_list(&[]),
        ]
    }

    /// The hash the sender signs.
    pub fn signing_hash(&self) -> [u8; 32] {
        let mut payload = vec![0x02];
        payload.extend(rlp_list(&self.fields()));
        Keccak256::digest(&payload).into()
    }

    /// Signs with the sender's private key.
    pub fn sign(&self, secret: &[u8; 32]) -> Result<SignedTx, SignError> {
        let secp = Secp256k1::signing_only();
        let key = SecretKey::from_slice(secret).map_err(|_| SignError::Key)?;
        let message = Message::from_digest(self.signing_hash());
        let (recovery, compact) = secp
            .sign_ecdsa_recoverable(&message, &key)
            .serialize_compact();
        let y_parity = u128::from(recovery.to_i32() == 1);
        let mut fields = self.fields();
        fields.push(rlp_uint(y_parity));
        fields.push(rlp_bytes(strip(&compact[..32])));
        fields.push(rlp_bytes(strip(&compact[32..])));
        let mut raw = vec![0x02];
        raw.extend(rlp_list(&fields));
        let hash = format!("0x{}", hex::encode(Keccak256::digest(&raw)));
        Ok(SignedTx { raw, hash })
    }
}

/// Big-endian bytes without leading zeros (RLP integers are minimal).
fn strip(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// RLP of an integer: its minimal big-endian bytes as a string (zero is the empty string).
pub fn rlp_uint(v: u128) -> Vec<u8> {
    rlp_bytes(strip(&v.to_be_bytes()))
}

/// RLP of a byte string.
pub fn rlp_bytes(bytes: &[u8]) -> Vec<u8> {
    if bytes.len() == 1 && bytes[0] < 0x80 {
        return bytes.to_vec();
    }
    let mut out = length_prefix(0x80, bytes.len());
    out.extend_from_slice(bytes);
    out
}

/// RLP of a list of already encoded items.
pub fn rlp_list(items: &[Vec<u8>]) -> Vec<u8> {
    let len = items.iter().map(Vec::len).sum();
    let mut out = length_prefix(0xc0, len);
    for item in items {
        out.extend_from_slice(item);
    }
    out
}

fn length_prefix(offset: u8, len: usize) -> Vec<u8> {
    if len < 56 {
        // Less than 56: fits the prefix byte.
        return vec![offset + u8::try_from(len).unwrap_or(0)];
    }
    let len_bytes = strip(&(len as u128).to_be_bytes()).to_vec();
    let mut out = vec![offset + 55 + u8::try_from(len_bytes.len()).unwrap_or(0)];
    out.extend(len_bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlp_matches_the_specifications_examples() {
        assert_eq!(rlp_bytes(b"dog"), [0x83, b'd', b'o', b'g']);
        assert_eq!(
            rlp_list(&[rlp_bytes(b"cat"), rlp_bytes(b"dog")]),
            [0xc8, 0x83, b'c', b'a', b't', 0x83, b'd', b'o', b'g']
        );
        assert_eq!(rlp_bytes(b""), [0x80]);
        assert_eq!(rlp_list(&[]), [0xc0]);
        assert_eq!(rlp_uint(0), [0x80]);
        assert_eq!(rlp_uint(15), [0x0f]);
        assert_eq!(rlp_uint(1024), [0x82, 0x04, 0x00]);
        let lorem = b"Lorem ipsum dolor sit amet, consectetur adipisicing elit";
        let mut expected = vec![0xb8, 0x38];
        expected.extend_from_slice(lorem);
        assert_eq!(rlp_bytes(lorem), expected);
    }

    #[test]
    fn a_token_transfer_call_is_selector_address_amount() {
        let to = [0x11; 20];
        let data = erc20_transfer(&to, 12_345_678);
        assert_eq!(data.len(), 4 + 32 + 32);
        assert_eq!(hex::encode(&data[..4]), "a9059cbb");
        assert_eq!(&data[16..36], &to);
        assert_eq!(hex::encode(&data[36..]), format!("{:064x}", 12_345_678u128));
    }

    #[test]
    fn signing_is_deterministic_and_refuses_a_bad_key() {
        let tx = Eip1559 {
            chain_id: 1,
            nonce: 0,
            max_priority_fee_per_gas: 1_000_000_000,
            max_fee_per_gas: 30_000_000_000,
            gas_limit: 21_000,
            to: [0x22; 20],
            value: 10u128.pow(18),
            data: Vec::new(),
        };
        let key = [7u8; 32];
        let a = tx.sign(&key).unwrap();
        assert_eq!(a, tx.sign(&key).unwrap(), "RFC 6979: the same signature");
        assert_eq!(a.raw[0], 0x02);
        assert_eq!(a.hash.len(), 66);
        assert_eq!(tx.sign(&[0u8; 32]), Err(SignError::Key));
    }
}
