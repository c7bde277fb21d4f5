package hubd

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"vigil/internal/history"
)

var problemSeeds = []string{
	"refused the chain from the cloud: link 5 differs from the one this hub verified (a fork)",
	"line one\nline two\r\n\tand a tab",
	"\x00\xff\xfe invalid bytes \u2028 and separators",
	strings.Repeat("é", 600),
	strings.Repeat("x", 10000),
	"",
	"   ",
}

// TestProblemTexts: whatever an error says (a cloud's message, joined
// errors), the problems fit a state record: one printable line each, and
// the most a record holds stays under history.MaxStateSize.
func TestProblemTexts(t *testing.T) {
	now := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	var p problems
	for i, s := range problemSeeds {
		got := problemText(s)
		if len(got) > maxProblemText || !utf8.ValidString(got) || strings.ContainsAny(got, "\n\r\t") {
			t.Errorf("seed %d: %q", i, got)
		}
		p.set(string(rune('a'+i)), s, now)
	}
	for i := range 40 { // more than a record holds
		p.set("chain", string(rune('A'+i))+strings.Repeat("y", 1000), now.Add(time.Duration(i)*time.Second))
	}
	probs, n := p.forRecord()
	if len(probs) != history.MaxProblems || n != history.MaxProblems {
		t.Fatalf("%d problems for the record (%d pending), want %d", len(probs), n, history.MaxProblems)
	}
	rec := history.StateRecord{V: 1, Hub: "d" + strings.Repeat("a", 26), Time: now,
		Chain: history.StateChain{Seq: 1, Head: strings.Repeat("0", 64)}, Problems: probs,
		Checkpoint: &history.StateCheckpoint{Origin: strings.Repeat("o", 200), Size: 1 << 40, Hash: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}
	if _, err := history.MarshalState(rec); err != nil {
		t.Fatalf("a full record: %v", err)
	}
	// The same problem again is not new; a cleared one is not in the next
	// record unless it was pending.
	if p.set("chain", string(rune('A'+39))+strings.Repeat("y", 1000), now) {
		t.Error("the same problem counted as new")
	}
	p.recorded(n)
	p.set("chain", "", now)
	if probs, _ := p.forRecord(); len(probs) != len(problemSeeds)-2 {
		t.Errorf("after recording and clearing: %d problems, want the %d still active", len(probs), len(problemSeeds)-2)
	}
}

// FuzzProblemText: any text becomes a problem a state record accepts.
func FuzzProblemText(f *testing.F) {
	for _, s := range problemSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := problemText(s)
		if got == "" {
			return
		}
		rec := history.StateRecord{V: 1, Hub: "d" + strings.Repeat("a", 26), Time: time.Unix(1, 0),
			Chain: history.StateChain{Head: strings.Repeat("0", 64)}, Problems: []history.Problem{{Time: time.Unix(1, 0), Text: got}}}
		if _, err := history.MarshalState(rec); err != nil {
			t.Fatalf("%q: %v", got, err)
		}
	})
}
