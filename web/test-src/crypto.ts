// Exposes the browser crypto modules and test drivers to the browser tests
// (web/test/crypto*.mjs). Results go back to the Go tests, which check them.
import * as bytes from '../src/crypto/bytes';
import * as keys from '../src/crypto/keys';
import * as hpke from '../src/crypto/hpke';
import * as envelope from '../src/crypto/envelope';
import * as devicekeys from '../src/crypto/devicekeys';

const { hex, unhex, utf8 } = bytes;

interface Vector {
  name: string;
  identities: string[];
  recipients?: string[];
  trusted_signers: string[];
  sealed: string;
  error?: string;
}

function errCode(e: unknown): string {
  return e instanceof envelope.EnvelopeError ? e.code : 'other: ' + String(e);
}

/** envelopeVectors opens every vector as FORMAT.md says an implementation must. */
async function envelopeVectors(vectors: Vector[]) {
  const out: any[] = [];
  for (const v of vectors) {
    const sealed = unhex(v.sealed);
    const trusted = v.trusted_signers.map(unhex);
    const ids = await Promise.all(v.identities.map((s) => keys.parseIdentity(s)));
    if (v.error) {
      const r: any = { name: v.name };
      try {
        const o = await envelope.openObject(sealed, ids, trusted);
        r.plaintext = hex(o.plaintext);
      } catch (e) {
        r.error = errCode(e);
      }
      out.push(r);
      continue;
    }
    for (let i = 0; i < ids.length; i++) {
      const r: any = { name: v.name, identity: i };
      try {
        r.recipient = await keys.recipientString(await keys.x25519PublicKey(ids[i]));
        r.recipientParsed = hex(await keys.parseRecipient(v.recipients![i]));
        const o = await envelope.openObject(sealed, [ids[i]], trusted);
        const h = o.header;
        r.plaintext = hex(o.plaintext);
        r.header = {
          kind: h.kind, kind_name: h.kindName, stream: h.stream, sequence: h.sequence.toString(), start_unix_nano: h.start.toString(),
          epoch: h.epoch, chunk_size: h.chunkSize, signer: hex(h.signer), stanzas: h.stanzas.length, header_length: h.headerLength,
        };
        r.footer = { length: o.length.toString(), end_unix_nano: o.end.toString(), commitment: hex(o.commitment) };
        // Random access: verify header and footer, then every chunk alone, last first.
        const fk = await envelope.unwrapFileKey(sealed, [ids[i]]);
        r.fileKey = hex(fk);
        const ra = await envelope.openRandomAccess(sealed.subarray(0, h.headerLength + 10), sealed.subarray(sealed.length - 112), sealed.length, [ids[i]], trusted);
        const parts: string[] = [];
        for (let c = ra.chunks - 1; c >= 0; c--) parts.unshift(hex(await envelope.decryptChunk(sealed, ra.header, ra.payloadKey, c)));
        r.chunks = ra.chunks;
        r.randomAccess = parts.join('');
      } catch (e) {
        r.error = errCode(e);
      }
      out.push(r);
    }
  }
  return out;
}

/** interop makes and opens HPKE ciphertexts and stanzas for the Go side to check. */
async function interop(inp: { goRecipient: string; fileKey: string; info: string; aad: string; plaintext: string; browserIdentity: string; goStanza: string; goHpke: string }) {
  const goPub = await keys.parseRecipient(inp.goRecipient);
  const stanza = await envelope.wrapFileKey(unhex(inp.fileKey), goPub);
  const sealed = await hpke.hpkeSeal(goPub, unhex(inp.info), unhex(inp.aad), unhex(inp.plaintext));
  const bid = await keys.parseIdentity(inp.browserIdentity);
  const st = unhex(inp.goStanza);
  const fakeHeader = { stanzas: [{ type: st[0], hint: st.slice(1, 5), enc: st.slice(5, 37), body: st.slice(37) }], epoch: 0 } as unknown as envelope.Header;
  const unwrapped = await envelope.unwrapFileKey(fakeHeader, [bid]);
  const gh = unhex(inp.goHpke);
  const opened = await hpke.hpkeOpen(bid, gh.slice(0, 32), unhex(inp.info), unhex(inp.aad), gh.slice(32));
  let tamperedError = '';
  try {
    const bad = gh.slice(32);
    bad[0] ^= 1;
    await hpke.hpkeOpen(bid, gh.slice(0, 32), unhex(inp.info), unhex(inp.aad), bad);
  } catch (e) {
    tamperedError = String(e);
  }
  let lowOrder = '';
  try {
    await envelope.wrapFileKey(unhex(inp.fileKey), new Uint8Array(32));
  } catch (e) {
    lowOrder = String(e);
  }
  // The S < L check of signatures, on its own (Chromium also rejects S >= L).
  const Lle = unhex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');
  const below = Lle.slice();
  below[0]--;
  const scalar = [keys.scalarCanonical(below), keys.scalarCanonical(Lle), keys.scalarCanonical(new Uint8Array(32).fill(0xff)), keys.scalarCanonical(new Uint8Array(32))];
  return {
    scalar,
    stanza: hex(stanza),
    hpke: hex(bytes.concat(sealed.enc, sealed.ct)),
    unwrapped: hex(unwrapped),
    opened: hex(opened),
    browserRecipient: await keys.recipientString(await keys.x25519PublicKey(bid)),
    tamperedError,
    lowOrder,
  };
}

/** deviceKeys creates (or loads) this browser's device keys and reports what can be seen of them. */
async function deviceKeys(msgHex: string, create: boolean) {
  const k = create ? await devicekeys.createDeviceKeys() : await devicekeys.loadDeviceKeys();
  if (!k) return { missing: true };
  const sig = await k.sign(unhex(msgHex));
  let exportError = '';
  try {
    await crypto.subtle.exportKey('pkcs8', k.boxKey);
    exportError = 'exported';
  } catch (e) {
    exportError = String(e);
  }
  const parsed = await devicekeys.parseDeviceString(devicekeys.deviceString(k));
  return {
    id: k.id,
    idFromPub: await devicekeys.deviceId(k.signPub),
    deviceString: devicekeys.deviceString(k),
    parsedId: parsed.id,
    signPub: hex(k.signPub),
    boxPub: hex(k.boxPub),
    boxPubDerived: hex(await keys.x25519PublicKey(k.boxKey)),
    extractable: k.boxKey.extractable,
    sig: hex(sig),
    exportError,
    stanzaToSelf: hex(await envelope.wrapFileKey(utf8('0123456789abcdef0123456789abcdef'), k.boxPub)),
  };
}

(window as any).vigil = { bytes, keys, hpke, envelope, devicekeys };
(window as any).vigilTest = { envelopeVectors, interop, deviceKeys };
(window as any).vigilReady = true;
