// Package onvif speaks ONVIF, the protocol IP cameras and doorbells use on
// the household's network: WS-Discovery (probing for devices and answering
// probes), the Device, Media (ver10; the client also reads Media2's
// profiles and URIs) and Events (PullPoint) services over SOAP 1.2 with
// WS-UsernameToken authentication, and fetching a snapshot with HTTP
// digest or basic authentication.
//
// What it owns: the ONVIF protocol on the LAN, both ends of it. The client
// ([Client], [Discover]) is what the hub uses to find a camera, list its
// profiles and stream URIs, take a snapshot and pull its events (a doorbell
// press, motion, tamper) as typed [Event] values; [Event.Alarm] and
// [AlarmStates] tell a camera's motion and tamper changes to true from the
// states a subscription starts with. The device side
// ([Server], [Responder]) is a minimal ONVIF device described by a Go
// value ([Device]), for the software camera to answer as a real one would.
// Its wire shapes follow the ONVIF WSDLs (tds, trt, tev, tt, wsnt, wsa, and
// WS-Discovery's d); testdata holds sample replies in those shapes.
//
// What it must never do:
//   - log or put into an error a password, a password digest, a nonce or
//     the user part of a URL (a stream URI may carry credentials): errors
//     name the operation and the camera's fault, never the secret;
//   - connect off the household's networks or follow a redirect: the
//     default HTTP client dials only loopback, private and link-local
//     addresses (netguard.Private, checked on the address actually dialed)
//     and follows no redirect; and the service, subscription, stream and
//     snapshot URLs a device gives are moved to the device's own host
//     (unless the caller trusts them), so a camera cannot send the hub
//     elsewhere with a URL or a 302;
//   - trust a reply's size or shape: every reply is read through a limit
//     (a SOAP reply, a snapshot, a discovery datagram) and refused with
//     [ErrTooLarge] past it; XML with a DTD, entity declarations or
//     nesting deeper than any ONVIF message is refused before it is
//     decoded ([ErrHostileXML]); a reply in the wrong namespace, of the
//     wrong element or carrying a SOAP fault is an error naming the
//     operation ([FaultError]);
//   - import the cloud, or the sealed-object and key packages: it is LAN
//     protocol only, and what it learns (credentials, snapshots, events)
//     is its caller's to seal;
//   - keep package-level state: a [Client], [Server] or [Responder] holds
//     its own, and the ones that start goroutines have a Close that waits
//     for them.
package onvif
