// Package staff is the cloud's staff domain: the identities of the people
// who run the service (support, operators, staff admins), their sessions,
// their enrolment, and the households' support codes.
//
// Staff are not accounts. A staff identity has its own table, its own
// sessions (a table of their own, and a cookie of their own in the HTTP
// layer), no e-mail address, no password and no household membership: a
// customer's session never authenticates as staff, a staff session never
// authenticates as a customer, and nothing a staff identity holds is ever
// an input to the cloud's membership check.
//
// What it owns: who is staff and in which role (Add, List, Disable),
// whether a presented staff session is live (Authenticate, with the
// session's CSRF token for changes), the one-time enrolment secret an
// operator hands a new staff member (Add returns it, Enrol takes it once),
// and support codes: an opaque code per household (SupportCode), random
// and carrying a check character, never derived from the household's ID
// or its members' addresses, which household members read out to support
// and staff look a household up by (LookUp) — staff never search by
// e-mail address or browse households — and the lockbox (lockbox.go):
// staff requests for some of a household's metadata, the admins'
// decisions, and time-boxed grants read one scope at a time; which role
// may do what (SupportRoles, OperatorRoles, AdminRoles and Permit: support
// staff look up, file requests, read under grants and keep tickets;
// operators also see the operations view, Ops, counts across households
// that name none; staff admins also manage staff); and tickets
// (tickets.go): a ticket about one household, opened after a look-up by
// its support code, with a subject, an open or closed state, who opened and
// closed it and when, and notes. Notes are written by staff and are staff
// metadata: what the customer said and what a grant showed, never a
// household's content, which staff cannot see to copy. The household sees
// a ticket's opening, closing and reopening, with its subject, in its
// history (the HTTP layer records them); it does not see the notes
// (docs/THREAT_MODEL.md, G6, says why). Its refusals are *Error values with
// a Kind the HTTP layer maps to a status; their messages are written for
// the person who made the request.
//
// NewSession issues a staff session. Staff sign in with passkeys only: the
// HTTP layer calls NewSession after the passkeys domain has checked a staff
// passkey's enrolment (which took the enrolment secret here first) or
// sign-in; there is no password path.
//
// Store is the storage it needs; its conformance suite is stafftest, which
// internal/cloud/store runs over SQLite and PostgreSQL.
//
// What it must never do: import net/http or the cloud package (the HTTP
// layer parses requests, sets cookies and maps errors), read or return a
// household's content or anything that opens it (objects, shares, live
// view, events, snapshots, sealed payloads, exports; envelope and key
// packages are out of reach, internal/deptest), resolve a household from
// anything but its support code (tickets too: a household's tickets are
// found by its code, never by its ID), count anything per household for
// the operations view, or log a session secret, a CSRF token, an
// enrolment secret or a note's text.
package staff
