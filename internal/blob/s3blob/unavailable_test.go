package s3blob_test

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"

	"vigil/internal/blob"
	"vigil/internal/blob/s3blob"
)

func TestIsUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{blob.ErrNotFound, false},
		{errors.New("boom"), false},
		{fmt.Errorf("put: %w", minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}), true},
		{fmt.Errorf("put: %w", minio.ErrorResponse{Code: "ServiceUnavailable", StatusCode: 503}), true},
		{fmt.Errorf("get: %w", minio.ErrorResponse{Code: "InternalError", StatusCode: 500}), true},
		{fmt.Errorf("get: %w", minio.ErrorResponse{Code: "Whatever", StatusCode: 502}), true},
		{fmt.Errorf("get: %w", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}), false},
		{fmt.Errorf("get: %w", minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}), false},
		{&url.Error{Op: "Put", URL: "http://s3", Err: syscall.ECONNREFUSED}, true},
		{&url.Error{Op: "Put", URL: "http://s3", Err: errors.New("EOF")}, true},
		{&url.Error{Op: "Get", URL: "https://s3", Err: x509.UnknownAuthorityError{}}, false},
	} {
		if got := s3blob.IsUnavailable(c.err); got != c.want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
