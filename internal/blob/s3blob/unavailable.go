package s3blob

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"

	"github.com/minio/minio-go/v7"

	"vigil/internal/blob"
)

// IsUnavailable reports whether err from the S3 store means the server is
// down, unreachable, failing or asking for fewer requests (SlowDown, 503,
// any 5xx, a request timeout), so the same call may succeed later; it
// includes what blob.IsUnavailable recognises. Errors of configuration
// (credentials, a missing bucket) and of the request are not.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if blob.IsUnavailable(err) {
		return true
	}
	var r minio.ErrorResponse
	if errors.As(err, &r) {
		switch r.Code {
		case "SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError":
			return true
		}
		return r.StatusCode >= http.StatusInternalServerError || r.StatusCode == http.StatusTooManyRequests
	}
	// The HTTP client's errors: the server did not answer, unless TLS says
	// the endpoint is the wrong one (configuration, not an outage).
	var ue *url.Error
	var op *net.OpError
	if !errors.As(err, &ue) && !errors.As(err, &op) {
		return false
	}
	var hostname x509.HostnameError
	var authority x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var header tls.RecordHeaderError
	return !errors.As(err, &hostname) && !errors.As(err, &authority) && !errors.As(err, &invalid) && !errors.As(err, &header)
}
