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
// messages are written for the person who made the request. Every
// implementation of Store passes householdstest.Run, its conformance suite.
//
// What it must never do: import net/http or the cloud package (the HTTP
// layer parses requests, authenticates callers and maps errors; this
// package takes and returns values), hold or ask for a private key (only a
// household's admin devices can make a valid link: the cloud checks links,
// it cannot sign them), accept a change it has not verified against the
// stored chain, or open a pairing message (the pairing package on both ends
// authenticates them, so a cloud that alters them only makes pairing fail).
//
// It also owns the changes an admin makes to a household beyond its chain:
// CheckAction checks a signed household action (an admin device of the
// chain as stored now, within history.ActionSkew, a nonce never used on
// any Service over the store); AddMember, RemoveMember, SetRetention,
// CreateInvite and DeleteInvite carry out a checked one, calling back the
// HTTP layer to record it before it takes effect; RequestJoin, ApproveJoin
// and DeclineJoin are joining by approval (an approval is a chain link
// that must add exactly the requesting device). Whatever the rest of the
// cloud must do on a change (push the admins of a join request, apply new
// retention soon) reaches it through Config callbacks, never the bus.
//
// The HTTP layer reads households through it too, never through the store:
// Membership (the one membership check of every household route: no such
// household and not a member are the same NotFound), ForAccount, Settings
// (retention settings with the signed action that set them, for members
// and for the household's hubs) and HubDevice (a hub as the verified chain
// names it, with that chain state, which the HTTP layer's hub-key cache
// keys on). Recording who read what stays the HTTP layer's, in its one
// access recorder: this package decides and returns, it does not record
// reads.
package households
