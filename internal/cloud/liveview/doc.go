// Package liveview is the cloud's live-view signalling domain (docs/FORMAT.md,
// "Live view signalling"): it pairs a member's viewer with the household's
// hub and passes their messages between them, whichever replicas the two
// are connected to.
//
// What it owns: the presence of hubs across replicas (each replica
// announces the hubs connected to it on the bus, so that every replica
// knows which hubs, and cameras, are connected anywhere); viewers'
// sessions, at most MaxViewerSessions on one connection; routing a
// session's messages between its viewer and its hub over the bus
// (internal/cloud/bus: Local in one process, natsbus across many); the
// end of sessions whose hub went away, reconnected, or was removed from
// the household's chain (ChainChanged), each told to the viewer with a
// reason; and the TURN relay run inside the cloud with its time-limited
// credentials (TURN). Service is its entry; its refusals are *Error
// values with a Kind the HTTP layer maps to a status.
//
// What it must never do: read a signalling message beyond its type,
// session and camera, which it needs to route it. The messages carry DTLS
// fingerprints signed by the viewer's and the hub's device keys, which
// both ends check against the household chain (G8): a cloud that alters
// them only makes the session fail. A viewer never chooses the hub's ICE
// servers: only the fields of the format pass, and ICE servers come from
// the cloud alone. It never authenticates anyone, and never imports
// net/http, a WebSocket library or the cloud package: the HTTP layer
// (internal/cloud) authenticates the member or the hub, checks the
// origin, upgrades the request, and hands the service a Conn. It asks
// whether a hub is still in its household's chain through the Hubs
// interface it is given.
package liveview
