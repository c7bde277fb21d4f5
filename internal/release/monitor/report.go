package monitor

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
)

// WriteText writes the report for people: the log and policy checked, the
// releases trusted, every file with its verdict, and for each failure the
// path, the hash served and the logged ones.
func (r Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "site        %s\n", r.Site)
	fmt.Fprintf(w, "log         %s (%s), %d of %d witnesses required\n", r.Policy.Key, r.PolicySource, r.Policy.Quorum, len(r.Policy.Witnesses))
	if r.PolicySource != "pinned" {
		fmt.Fprintln(w, "            the policy is the cloud's own word: pin it with --log-key (and --witness, --quorum) so a cloud cannot name a log of its own")
	}
	fmt.Fprintf(w, "checkpoint  %d entries, root %s (verified)\n", r.Checkpoint.N, base64.StdEncoding.EncodeToString(r.Checkpoint.Hash[:]))
	fmt.Fprintf(w, "releases    %d logged and signed by a trusted release key", len(r.Releases))
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "; %d other release entries not trusted", len(r.Skipped))
	}
	fmt.Fprintln(w)
	for _, rel := range r.Releases {
		fmt.Fprintf(w, "  #%d  %s, %d files, key %s\n", rel.Index, rel.Manifest, len(rel.Manifest.Assets), rel.Key)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "  #%d  not trusted: %s\n", s.Index, s.Reason)
	}
	fmt.Fprintf(w, "files       %d fetched\n", len(r.Files))
	for _, f := range r.Files {
		switch {
		case f.Problem != "":
			fmt.Fprintf(w, "  FAIL  %s (%s): %s\n", f.URL, f.Why, f.Problem)
		case f.Status != http.StatusOK:
			fmt.Fprintf(w, "  --    %s (%s): not served (%d)\n", f.URL, f.Why, f.Status)
		case f.Finding.OK():
			fmt.Fprintf(w, "  ok    %s (%s) %s\n", f.URL, f.Why, f.Finding)
		default:
			fmt.Fprintf(w, "  FAIL  %s (%s): %s\n", f.URL, f.Why, f.Finding)
		}
	}
	switch {
	case len(r.Releases) == 0:
		fmt.Fprintln(w, "NOT VERIFIED: no release signed by a trusted release key is in the log, so nothing this site serves can be checked")
	case r.OK():
		fmt.Fprintln(w, "verified: every page, script, stylesheet and service worker fetched is a file of a logged release")
	default:
		n := 0
		for _, f := range r.Files {
			if f.Failed() {
				n++
			}
		}
		fmt.Fprintf(w, "NOT VERIFIED: %d file(s) served are in no logged release (see FAIL above): the site serves code that was not published in the transparency log\n", n)
	}
}

// Summary is a one-line verdict per failing file, for errors and alerts.
func (r Report) Summary() []string {
	var out []string
	for _, f := range r.Files {
		if !f.Failed() {
			continue
		}
		if f.Problem != "" {
			out = append(out, f.URL+": "+f.Problem)
		} else {
			out = append(out, f.Finding.String()+" (served at "+f.URL+")")
		}
	}
	if len(r.Releases) == 0 {
		out = append(out, "no release signed by a trusted release key is in the log")
	}
	return out
}
