// HPKE (RFC 9180), base mode, single-shot, with the one ciphersuite Vigil
// uses: KEM 0x0020 DHKEM(X25519, HKDF-SHA256), KDF 0x0001 HKDF-SHA256,
// AEAD 0x0002 AES-256-GCM. Built from WebCrypto X25519 deriveBits, HMAC
// and AES-GCM; byte for byte what Go's crypto/hpke Seal/Open produce.
//
// Owns: the key schedule. Must never: export the recipient's private key
// (it is used only through deriveBits), log shared secrets or plaintext.

import { buf, concat, hkdfExpand, hkdfExtract, u16be, utf8 } from './bytes';
import { x25519, x25519PublicKey } from './keys';

const KEM_ID = 0x0020;
const KDF_ID = 0x0001;
const AEAD_ID = 0x0002;
const NK = 32;
const NN = 12;

const V1 = utf8('HPKE-v1');
const KEM_SUITE = concat(utf8('KEM'), u16be(KEM_ID));
const HPKE_SUITE = concat(utf8('HPKE'), u16be(KEM_ID), u16be(KDF_ID), u16be(AEAD_ID));

function labeledExtract(suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array) {
  return hkdfExtract(salt, concat(V1, suite, utf8(label), ikm));
}

function labeledExpand(suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, L: number) {
  return hkdfExpand(prk, concat(u16be(L), V1, suite, utf8(label), info), L);
}

async function extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Promise<Uint8Array> {
  const prk = await labeledExtract(KEM_SUITE, new Uint8Array(0), 'eae_prk', dh);
  return labeledExpand(KEM_SUITE, prk, 'shared_secret', kemContext, 32);
}

async function keySchedule(shared: Uint8Array, info: Uint8Array): Promise<{ key: CryptoKey; nonce: Uint8Array<ArrayBuffer> }> {
  const empty = new Uint8Array(0);
  const pskIdHash = await labeledExtract(HPKE_SUITE, empty, 'psk_id_hash', empty);
  const infoHash = await labeledExtract(HPKE_SUITE, empty, 'info_hash', info);
  const ctx = concat(new Uint8Array([0]), pskIdHash, infoHash);
  const secret = await labeledExtract(HPKE_SUITE, shared, 'secret', empty);
  const rawKey = await labeledExpand(HPKE_SUITE, secret, 'key', ctx, NK);
  const nonce = await labeledExpand(HPKE_SUITE, secret, 'base_nonce', ctx, NN);
  const key = await crypto.subtle.importKey('raw', rawKey, 'AES-GCM', false, ['encrypt', 'decrypt']);
  rawKey.fill(0);
  secret.fill(0);
  return { key, nonce };
}

/**
 * hpkeSeal encrypts pt to the X25519 public key recipientPub. It returns
 * enc (the 32-byte ephemeral public key) and ct (pt plus a 16-byte tag).
 * It throws for a low-order recipient key.
 */
export async function hpkeSeal(recipientPub: Uint8Array, info: Uint8Array, aad: Uint8Array, pt: Uint8Array): Promise<{ enc: Uint8Array; ct: Uint8Array }> {
  const eph = (await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])) as CryptoKeyPair;
  const enc = new Uint8Array(await crypto.subtle.exportKey('raw', eph.publicKey));
  const dh = await x25519(eph.privateKey, recipientPub);
  const shared = await extractAndExpand(dh, concat(enc, recipientPub));
  dh.fill(0);
  const { key, nonce } = await keySchedule(shared, info);
  shared.fill(0);
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: buf(aad), tagLength: 128 }, key, buf(pt)));
  return { enc, ct };
}

/**
 * hpkeOpen decrypts ct sealed with hpkeSeal to the public key of privKey
 * (an X25519 private CryptoKey; it need not be extractable). It throws on
 * any failure.
 */
export async function hpkeOpen(privKey: CryptoKey, enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ct: Uint8Array): Promise<Uint8Array> {
  if (enc.length !== 32) throw new Error('hpke: bad encapsulated key length');
  const pkR = await x25519PublicKey(privKey);
  const dh = await x25519(privKey, enc);
  const shared = await extractAndExpand(dh, concat(enc, pkR));
  dh.fill(0);
  const { key, nonce } = await keySchedule(shared, info);
  shared.fill(0);
  return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: buf(aad), tagLength: 128 }, key, buf(ct)));
}
