// A donation's consent record as an annotator's or reviewer's device
// checks it before showing a frame (docs/FORMAT.md, "Consent records"; Go
// consent.VerifyWithKey): the body is a canonical consent (read by
// crypto/consent.ts, the same code the donor's page writes it with), the
// key given is the one of the device it names, the signature verifies,
// the consent has not expired, and it names the SHA-256 of exactly the
// sealed bytes fetched.
//
// Owns: the checks an annotator's page makes of a consent. Must never: let
// a caller use a consent that failed a check, or put its text into HTML.

import { hex, sha256 } from '../crypto/bytes';
import { parseConsent, verifyConsentSignature, type Consent } from '../crypto/consent';
import { deviceId } from '../crypto/devicekeys';

export type { Consent };

/** ConsentError is a consent that does not allow showing the clip; the message says why. */
export class ConsentError extends Error {
  constructor(message: string) {
    super(`the donor's consent does not verify: ${message}; the clip is not shown`);
    this.name = 'ConsentError';
  }
}

/**
 * verifyConsent is Go consent.VerifyWithKey: signed (BODY.SIG) must be a
 * consent of the device whose Ed25519 key is pub, not expired at now, for
 * the sealed bytes (their SHA-256). It also checks the workspace and the
 * donation ID it was given for.
 */
export async function verifyConsent(
  signed: string,
  pub: Uint8Array,
  sealed: Uint8Array,
  want: { workspace: string; id: string },
  now: Date = new Date(),
): Promise<Consent & { expires: string }> {
  let p: ReturnType<typeof parseConsent>;
  try {
    p = parseConsent(signed);
  } catch (e) {
    throw new ConsentError((e as Error).message);
  }
  const c = p.consent;
  if (pub.length !== 32 || (await deviceId(pub)) !== c.device) throw new ConsentError(`the key given is not device ${c.device}'s`);
  if (!(await verifyConsentSignature(pub, p.body, p.sig))) throw new ConsentError(`the signature of consent ${c.id} is not the donor device's`);
  if (now.getTime() >= Date.parse(c.expires)) throw new ConsentError(`consent ${c.id} expired at ${c.expires}`);
  if (hex(await sha256(sealed)) !== c.object) throw new ConsentError(`the clip's bytes are not the ones consent ${c.id} gives`);
  if (c.workspace !== want.workspace || c.id !== want.id) throw new ConsentError(`consent ${c.id} is for another workspace or donation`);
  return c;
}
