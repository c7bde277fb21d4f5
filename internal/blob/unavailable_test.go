package blob_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"vigil/internal/blob"
)

func TestIsUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{blob.ErrNotFound, false},
		{blob.ErrConflict, false},
		{fmt.Errorf("put: %w", blob.ErrTooLarge), false},
		{fs.ErrPermission, false},
		{context.Canceled, false},
		{errors.New("boom"), false},
		{fmt.Errorf("s3: %w", blob.ErrUnavailable), true},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), true},
	} {
		if got := blob.IsUnavailable(c.err); got != c.want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
