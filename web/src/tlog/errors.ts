// The one error type of the tlog client: every failure, whatever the
// input, is a TlogError whose code says what kind of failure it is.

/**
 * Codes of TlogError:
 *   older          the log served a checkpoint smaller than the one verified (no rollback)
 *   split-view     a checkpoint of the verified size with another root hash
 *   inconsistent   a larger checkpoint that does not extend the verified one
 *   quorum         too few valid cosignatures from distinct listed witnesses
 *   bad-signature  no log signature, or a signature by a known key that does not verify
 *   malformed      anything that does not parse or breaks the formats' rules, including
 *                  tiles that do not hash up to a verified root
 *   not-included   an entry that is not the one the log holds at that index
 *   unavailable    the log could not be fetched (network, HTTP status)
 */
export type TlogErrorCode = 'older' | 'split-view' | 'inconsistent' | 'quorum' | 'bad-signature' | 'malformed' | 'not-included' | 'unavailable';

/** TlogError is every failure of this package; code says which (see TlogErrorCode). */
export class TlogError extends Error {
  /**
   * size is the size of the checkpoint refused for 'older', 'split-view'
   * and 'inconsistent' (the verified one is the client's latest()).
   */
  size?: number;
  constructor(
    public code: TlogErrorCode,
    message: string,
    size?: number,
  ) {
    super(message);
    this.name = 'TlogError';
    if (size !== undefined) this.size = size;
  }
}

export const malformed = (m: string): TlogError => new TlogError('malformed', `tlog: ${m}`);
