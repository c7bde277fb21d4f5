package devauth_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"vigil/internal/devauth"
)

// A hub signs an upload with its device key; the cloud reads the body with a
// size limit, then verifies the request against the keys of paired devices.
func Example() {
	hubPub, hubKey, _ := ed25519.GenerateKey(rand.Reader)
	paired := map[string]ed25519.PublicKey{"hub-42": hubPub}

	v := &devauth.Verifier{Lookup: func(_ context.Context, id string) (ed25519.PublicKey, error) {
		if k, ok := paired[id]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("device %s: %w", id, devauth.ErrUnknownDevice)
	}}
	cloud := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		device, err := v.Verify(r, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%d bytes from %s", len(body), device)
	}))
	defer cloud.Close()

	body := []byte("sealed object")
	req, _ := http.NewRequest(http.MethodPut, cloud.URL+"/v1/objects", bytes.NewReader(body))
	if err := devauth.Sign(req, body, "hub-42", hubKey, time.Now()); err != nil {
		log.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(answer))
	// Output: 200 13 bytes from hub-42
}
