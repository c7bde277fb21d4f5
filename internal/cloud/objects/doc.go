// Package objects is the cloud's sealed objects domain: accepting sealed
// objects from hubs, indexing them by their signed public header, listing
// a household's cameras and objects, and opening an object for the HTTP
// layer to stream.
//
// What it owns: which sealed objects the cloud stores and under which key.
// Service is its one entry. An upload is accepted only from a device that
// is a hub of its household now (a HubFunc the service is given: the
// households domain owns the chains), only when the hub's signature covers
// every byte (envelope.VerifyPublicDigests, over the sums of the one pass
// the HTTP layer made), and only for the kinds and streams the cloud
// admits; the object is stored in the blob store and indexed in a Store
// (the subset of the cloud's store.Store it needs) under
// household/hub/stream/sequence. The same bytes again are accepted as
// already there, other bytes under the same key are a conflict. A newly
// indexed object nudges retention, and a new event object is handed to the
// events hook, both callbacks the service is given. Its refusals are
// *Error values with a Kind the HTTP layer maps to a status. Every
// implementation of Store passes objectstest.Run, its conformance suite.
//
// What it must never do: decrypt, or read a household's keys (it checks the
// producer's public signature and reads the public header, nothing else:
// G2); import net/http or the cloud package (the HTTP layer reads and
// authenticates the body, parses queries and streams what Open returns);
// keep a body past the call that was given it (the HTTP layer reuses the
// buffer); decide whether a device is a hub (it asks its HubFunc); or
// delete objects (retention does, internal/cloud/retention).
package objects
