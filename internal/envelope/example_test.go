package envelope_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"vigil/internal/envelope"
)

// A hub seals a segment to the household's epoch key and signs it; a member
// device opens it with the household identity, trusting only the hub's key.
func ExampleSeal() {
	// Once, at setup: the household identity (its recipient string is what
	// hubs are configured with) and the hub's signing key.
	household, err := envelope.GenerateX25519Identity()
	if err != nil {
		log.Fatal(err)
	}
	hubKey, err := envelope.GenerateSigningKey()
	if err != nil {
		log.Fatal(err)
	}
	recipients, err := envelope.ParseRecipients(strings.NewReader(
		"# household, epoch 7\n" + household.Recipient().String() + "\n"))
	if err != nil {
		log.Fatal(err)
	}

	// On the hub.
	start := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	h := envelope.Header{
		Kind:     envelope.KindSegment,
		Stream:   "cam-front-door",
		Sequence: 1042,
		Start:    start,
		Epoch:    7,
	}
	sealed, err := envelope.Seal(h, start.Add(4*time.Second), hubKey, []byte("fMP4 bytes"), recipients...)
	if err != nil {
		log.Fatal(err)
	}

	// Anyone (the cloud, an index) can read the header without keys.
	pub, _ := envelope.Inspect(bytes.NewReader(sealed))
	fmt.Println(pub.Kind, pub.Stream, pub.Sequence)

	// On a member device.
	trusted := envelope.TrustedKeys{hubKey.Public().(ed25519.PublicKey)}
	hdr, footer, plaintext, err := envelope.Open(sealed, trusted, household)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %v %q\n", hdr.Stream, footer.End.Sub(hdr.Start), plaintext)
	// Output:
	// segment cam-front-door 1042
	// cam-front-door 4s "fMP4 bytes"
}

// Large objects stream: the Writer holds one chunk at a time, and the Reader
// reports io.EOF only once the whole object is verified.
func ExampleNewWriter() {
	household, _ := envelope.GenerateX25519Identity()
	hubKey, _ := envelope.GenerateSigningKey()
	start := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

	var file bytes.Buffer // a file on the hub's disk, in real use
	w, err := envelope.NewWriter(&file, envelope.Header{Kind: envelope.KindClip, Stream: "cam-1", Start: start},
		hubKey, household.Recipient())
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		io.WriteString(w, "frame ")
	}
	w.SetEnd(start.Add(30 * time.Second))
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	r, err := envelope.NewReader(&file, envelope.TrustedKeys{hubKey.Public().(ed25519.PublicKey)}, household)
	if err != nil {
		log.Fatal(err)
	}
	var out bytes.Buffer // keep it aside until io.EOF says it is verified
	if _, err := io.Copy(&out, r); err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.String(), r.Footer().Length)
	// Output: frame frame frame  18
}
