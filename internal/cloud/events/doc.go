// Package events is the cloud's events domain: listing a household's
// sealed event objects, its members' Web Push subscriptions, the service's
// VAPID key, and the fan-out of one push message to the subscriptions of
// a household's members.
//
// What it owns: which push subscriptions the cloud keeps and where it
// will post. Service is its one entry. A subscription is accepted only for
// an endpoint that is an https URL on the internet (never a private,
// loopback, link-local or unspecified address, nor localhost: the cloud
// must not be made to post inside its own network), except plain-HTTP
// loopback endpoints when the service itself runs on plain HTTP on
// loopback (development and tests); a check of the text only, which names
// such as metadata.google.internal or kubernetes.default.svc also fail:
// the sender the HTTP layer adapts connects only to public addresses,
// checked on the address it connects to (internal/netguard), and is what
// keeps a name that resolves inside the cloud's network from being
// reached. Only with well-formed keys, and at
// most MaxSubsPerAccount per account. A push goes to each subscription
// whose account is still a member (one that is not any more loses its
// subscription), and a subscription the push service says is gone is
// deleted. The VAPID key is generated once and kept in the Store, so every
// replica signs with the same key. Its refusals are *Error values with a
// Kind the HTTP layer maps to a status. Every implementation of Store
// passes eventstest.Run, its conformance suite.
//
// What it must never do: open a sealed event (a push's payload is the
// sealed record itself, bytes this package only passes on: G2); import
// net/http or the cloud package. Sending is behind the Sender interface
// the service is given: the Web Push protocol (internal/notify/webpush)
// posts HTTP requests and so links net/http, and the HTTP layer adapts its
// Sender (a test gives the same adapter over a test push service). The
// live event stream (a WebSocket), the bus notices between replicas and the
// push queue stay in the HTTP layer (internal/cloud): the domain is handed
// a household and a message, and returns what it did.
package events
