// Package households is the cloud's households domain: each household's
// membership chain (created from its genesis link, grown one verified link
// at a time, served back as stored), the verified chain state the rest of
// the cloud decides with, the devices the chain names, and the pairing
// relay that carries a hub's pairing messages.
//
// What it owns: whether a change to a household's chain is accepted. Service
// is its one entry: Create, Append and AppendAdding store a link only when it
// verifies onto the chain the store holds; State and FreshState return the
// verified state (cached, and brought up to the stored chain at most
// ChainRecheck after its last comparison, or at once), so replicas sharing
// a Store see each other's links. The pairing relay stores and hands over
// opaque messages under an ID derived from the pairing code. Its refusals
// are *Error values with a Kind the HTTP layer maps to a status; their
// messages are written for the person who made the request.
//
// What it must never do: import net/http or the cloud package (the HTTP
// layer parses requests, authenticates callers and maps errors; this
// package takes and returns values), hold or ask for a private key (only a
// household's admin devices can make a valid link: the cloud checks links,
// it cannot sign them), accept a change it has not verified against the
// stored chain, or open a pairing message (the pairing package on both ends
// authenticates them, so a cloud that alters them only makes pairing fail).
//
// Members' management, invites, join requests and signed household actions
// are still the cloud package's (households_web.go); they call this
// package for the chain state and for AppendAdding.
package households
