// Package history is a household's verifiable history: the entries Vigil
// appends to the transparency log (internal/tlog) and what they mean
// (docs/FORMAT.md, "Log entries, version 1" and the sections after it).
//
// What it owns: the entry encoding (chain heads, sealed household records,
// web releases; room for later types); the household keys derived from the
// genesis hash (tags only members and hubs recognise); household records
// (sealed to the household's epoch key, numbered and chained by hash);
// hub state records (what a hub verified, sealed by the hub); signed
// household actions (admin-device signatures over settings, invites and
// membership changes); and the audit a member's device runs over all of
// them.
//
// What it must never do: put anything in an entry that tells the public
// about a household (IDs, names, times, counts in the clear); accept a
// record, a head or an action that it has not verified; import net/http.
package history
