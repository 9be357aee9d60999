// Generates crates/kassa-chain/testdata/tron_vectors.json: TRON addresses derived from a BIP39 phrase
// (m/44'/195'/0'/0/i and the treasury m/44'/195'/0'/1/0) and two transactions (a TRX transfer
// and a TRC-20 transfer call) encoded, hashed and signed — all by TronWeb, so that Kassa's own
// derivation, protobuf encoding and signing are checked against the reference library and not
// against themselves. Run once by hand (the result is committed; CI does not need TronWeb):
//
//   npm install --prefix /tmp/tronweb tronweb@6
//   NODE_PATH=/tmp/tronweb/node_modules node scripts/tron-vectors.mjs > crates/kassa-chain/testdata/tron_vectors.json
import { createRequire } from 'node:module';
const require = createRequire(process.env.NODE_PATH + '/');
const { TronWeb, utils } = require('tronweb');

const phrase = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about';
const path = (branch, i) => `m/44'/195'/0'/${branch}/${i}`;
const accounts = [];
for (const [branch, index] of [[0, 0], [0, 1], [0, 2], [1, 0]]) {
  const a = TronWeb.fromMnemonic(phrase, path(branch, index));
  accounts.push({
    path: path(branch, index),
    private_key: a.privateKey.replace(/^0x/, ''),
    address: a.address,
    hex: utils.address.toHex(a.address),
  });
}

const word = (hex) => hex.padStart(64, '0');
const usdt = 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t';
const base = { ref_block_bytes: '0a1b', ref_block_hash: '0102030405060708', expiration: 1700000060000, timestamp: 1700000000000 };
const transactions = [
  {
    what: 'TRX transfer',
    signer: 0,
    raw_data: {
      contract: [{
        parameter: {
          value: { owner_address: accounts[0].hex, to_address: accounts[1].hex, amount: 1234567 },
          type_url: 'type.googleapis.com/protocol.TransferContract',
        },
        type: 'TransferContract',
      }],
      ...base,
    },
  },
  {
    what: 'TRC-20 transfer',
    signer: 3,
    raw_data: {
      contract: [{
        parameter: {
          value: {
            owner_address: accounts[3].hex,
            contract_address: utils.address.toHex(usdt),
            data: 'a9059cbb' + word(accounts[2].hex.slice(2)) + word((25000000).toString(16)),
          },
          type_url: 'type.googleapis.com/protocol.TriggerSmartContract',
        },
        type: 'TriggerSmartContract',
      }],
      ...base,
      fee_limit: 30000000,
    },
  },
];
for (const t of transactions) {
  const tx = { raw_data: t.raw_data, visible: false };
  const pb = utils.transaction.txJsonToPb(tx);
  t.raw_data_hex = utils.transaction.txPbToRawDataHex(pb).toLowerCase();
  t.txID = utils.transaction.txPbToTxID(pb).replace(/^0x/, '');
  const signed = utils.crypto.signTransaction(accounts[t.signer].private_key, { ...tx, txID: t.txID, raw_data_hex: t.raw_data_hex });
  t.signature = signed.signature[0];
}
console.log(JSON.stringify({ generator: 'tronweb ' + JSON.parse(require('node:fs').readFileSync(process.env.NODE_PATH + '/tronweb/package.json', 'utf8')).version, phrase, accounts, transactions }, null, 2));
