// Package hubhealth is the cloud's hub health domain: each hub's latest
// health report, which the hub sends signed with its device key, and when
// the cloud received it (the hub's last contact, by the cloud's clock).
//
// What it owns: the checks a report must pass (Check: sizes, counts,
// times, text length, UTF-8, and an error text that names no URL, path or
// address — reports are hostile input), storing the latest report per hub
// (Service.Report, which stamps the receipt time) and reading a
// household's reports back for the staff console (Service.Reports). A
// report is metadata only: a software version, when the hub started,
// camera counts, the upload queue's counts and oldest pending time, and
// the latest upload failure as a kind, a status and a short message.
//
// The Watcher (watch.go) tells a household when one of its hubs goes
// quiet — no report for QuietAfter — and when it reports again: once per
// outage, through the mark it sets on the hub's latest report with a
// compare-and-set (Store.MarkHubQuiet, Store.MarkHubBack), so replicas
// sharing a Store tell once between them. What it tells (Change) is the
// household's and hub's IDs and the cloud's times; the HTTP layer turns
// it into a push.
//
// Which hub and household a report is for is the HTTP layer's to say,
// from the device signature and the household's verified chain (a hub
// removed from its chain cannot report); nothing in a report names either.
//
// Store is the storage it needs; its conformance suite is hubhealthtest,
// which internal/cloud/store runs over SQLite and PostgreSQL.
//
// What it must never do: hold or return a household's content or anything
// that opens it (objects, events, shares, keys, sealed payloads), keep
// more than the latest report of a hub, import net/http or the cloud
// package (the HTTP layer decodes bodies and maps errors), or log a
// report's error text, or tell a household anything but a hub's ID and
// the cloud's own times.
package hubhealth
