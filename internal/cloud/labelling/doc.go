// Package labelling is the cloud's side of consent-gated labelling (G7):
// labelling workspaces, each a group with its own membership chain in the
// household chain format (internal/keydir), whose devices annotate clips
// that household members donated with a signed consent
// (internal/consent). It owns the rules of that life: who may create a
// workspace (a staff admin, with a genesis a lead's device signed), who may
// change its chain (its admin devices, as the chain itself checks), which
// donation the cloud accepts (a consent that verifies against the donor
// household's current chain and names exactly the uploaded bytes), who
// sees which clip (the annotator device it is assigned to, and the
// workspace's admin devices: its leads and reviewers), annotation versions
// (latest wins), reviews (never by the annotator's own device), dataset
// versions (immutable lists of accepted donations), evaluations,
// revocation and expiry (the clip and its annotations deleted from the
// blob store and the store, every dataset version and evaluation that held
// it marked), and the donor household's record of every step (through a
// Recorder: donated, assigned, each opening, annotated, reviewed, included
// in a dataset version, evaluated, revoked or expired, marked).
//
// Its storage is Store (store.LabellingStore); every implementation passes
// labellingtest.Run.
//
// It must never: import net/http or the cloud's HTTP layer (the caller maps
// routes to Service and its errors to statuses), nor any device-side
// package; open a clip or an annotation (they are sealed to the
// workspace's epoch key, which the cloud never holds: it passes sealed
// bytes through unread); serve a clip to a device outside the workspace's
// current verified chain, or to an annotator it is not assigned to; keep a
// byte of a revoked or expired donation's clip or annotations; tell a
// caller who may not see a donation apart from one that does not exist
// (both are ErrNotFound).
package labelling
