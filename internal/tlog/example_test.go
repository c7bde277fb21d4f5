package tlog_test

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"vigil/internal/tlog"
)

// A log in memory, and a client that follows it and proves an entry.
func Example() {
	ctx := context.Background()
	skey, vkey, _ := tlog.GenerateKey("example.vigil.test/tlog")
	signer, _ := note.NewSigner(skey)
	st := tlog.NewMemoryStorage()
	l, err := tlog.Open(ctx, tlog.Config{Origin: "example.vigil.test/tlog", Signer: signer, Storage: st})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	first, _ := l.Append(ctx, [][]byte{[]byte("hello"), []byte("world")})

	p, _ := tlog.NewPolicy(vkey, nil, 0)
	c, _ := tlog.NewClient(p, tlog.StorageFetcher{Storage: st}, nil)
	cp, _ := c.Update(ctx)
	e, err := c.Entry(ctx, first+1)
	fmt.Println(cp.N, string(e), err)
	// Output: 2 world <nil>
}
