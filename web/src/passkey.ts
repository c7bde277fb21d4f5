// Passkeys (WebAuthn) in the browser, for the account pages and the staff
// console alike: the cloud's ceremony options are JSON with base64url
// fields; the browser turns them into the binary form, asks the
// authenticator, and the answer goes back as JSON.

type PKC = typeof PublicKeyCredential & {
  parseCreationOptionsFromJSON(o: unknown): PublicKeyCredentialCreationOptions;
  parseRequestOptionsFromJSON(o: unknown): PublicKeyCredentialRequestOptions;
};

/** Begun is a ceremony the cloud began. */
export interface Begun {
  ceremony: string;
  options: { publicKey: unknown };
}

/** passkeysAvailable says whether this browser can take part in ceremonies given as JSON. */
export function passkeysAvailable(): boolean {
  return typeof PublicKeyCredential !== 'undefined' && typeof (PublicKeyCredential as PKC).parseRequestOptionsFromJSON === 'function';
}

/** getPasskey answers a sign-in ceremony with a passkey the user picks. */
export async function getPasskey(begin: Begun): Promise<unknown> {
  const publicKey = (PublicKeyCredential as PKC).parseRequestOptionsFromJSON(begin.options.publicKey);
  let cred: Credential | null;
  try {
    cred = await navigator.credentials.get({ publicKey });
  } catch (e) {
    throw new Error(`the passkey was not used (${(e as Error).message})`);
  }
  if (!cred) throw new Error('no passkey was chosen');
  return (cred as PublicKeyCredential).toJSON();
}

/** createPasskey answers a registration ceremony with a new passkey. */
export async function createPasskey(begin: Begun): Promise<unknown> {
  const publicKey = (PublicKeyCredential as PKC).parseCreationOptionsFromJSON(begin.options.publicKey);
  let cred: Credential | null;
  try {
    cred = await navigator.credentials.create({ publicKey });
  } catch (e) {
    throw new Error(`no passkey was made (${(e as Error).message})`);
  }
  if (!cred) throw new Error('no passkey was made');
  return (cred as PublicKeyCredential).toJSON();
}
