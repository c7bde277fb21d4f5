package onvif

import (
	"strings"
	"testing"
)

// BenchmarkParseProfiles decodes the sample GetProfiles reply.
func BenchmarkParseProfiles(b *testing.B) {
	data := sample(b, "getprofiles.xml")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := parseProfiles(data, 200); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefuseHostile is the cost of refusing hostile replies: a
// billion-laughs document (refused at its DTD) and a reply of the largest
// size read, nested as deep as it goes (refused at the 65th level).
func BenchmarkRefuseHostile(b *testing.B) {
	deep := []byte(profilesOpen + strings.Repeat("<a>", (DefaultMaxReply-len(profilesOpen))/3))
	for name, data := range map[string][]byte{
		"billion-laughs": sample(b, "billion_laughs.xml"),
		"deep-1MiB":      deep,
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := parseProfiles(data, 200); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
