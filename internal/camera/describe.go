package camera

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
)

// The kinds Kind returns.
const (
	KindCanceled  = "canceled"  // the hub stopped the session
	KindRefused   = "refused"   // nothing listens at the camera's address
	KindTimeout   = "timeout"   // the camera did not answer in time
	KindDNS       = "dns"       // the camera's host name does not resolve
	KindClosed    = "closed"    // the camera closed or reset the connection
	KindNetwork   = "network"   // another network error (unreachable, ...)
	KindTLS       = "tls"       // the rtsps handshake failed
	KindAuth      = "auth"      // the camera refused the credentials (401, 403)
	KindStatus    = "status"    // the camera answered another error status
	KindNoVideo   = "no video"  // the stream has no H.264 or H.265 track
	KindRecording = "recording" // the hub could not start recording the session
	KindProtocol  = "protocol"  // anything else: the camera spoke bad RTSP
)

// errNoVideo marks a stream without a video track the hub records.
var errNoVideo = errors.New("no H.264 or H.265 video track in the stream (hint: set the camera's encoder to H.264 or H.265)")

// recordingError marks a session the Handler refused.
type recordingError struct{ err error }

func (e recordingError) Error() string { return "start recording: " + e.err.Error() }
func (e recordingError) Unwrap() error { return e.err }

// Kind classifies an error of a camera session into one of the Kind*
// constants. It depends on the error's type, never on its text, so that a
// camera sending different garbage every time still gives one kind: the
// repeat-warning limit keys on it.
func Kind(err error) string {
	var (
		status  liberrors.ErrClientBadStatusCode
		dnsErr  *net.DNSError
		netErr  net.Error
		opErr   *net.OpError
		recErr  recordingError
		certErr *tls.CertificateVerificationError
		alert   tls.AlertError
		recHdr  tls.RecordHeaderError
		unknown x509.UnknownAuthorityError
		hostErr x509.HostnameError
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return KindCanceled
	case errors.As(err, &recErr):
		return KindRecording
	case errors.Is(err, errNoVideo):
		return KindNoVideo
	case errors.As(err, &status):
		if status.Code == 401 || status.Code == 403 {
			return KindAuth
		}
		return KindStatus
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.As(err, &dnsErr):
		return KindDNS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout(),
		errors.As(err, &liberrors.ErrClientRequestTimedOut{}), errors.As(err, &liberrors.ErrClientTCPTimeout{}),
		errors.As(err, &liberrors.ErrClientUDPTimeout{}):
		return KindTimeout
	case errors.As(err, &certErr), errors.As(err, &alert), errors.As(err, &recHdr),
		errors.As(err, &unknown), errors.As(err, &hostErr):
		return KindTLS
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed), errors.As(err, &liberrors.ErrClientTerminated{}):
		return KindClosed
	case errors.As(err, &opErr):
		return KindNetwork
	}
	return KindProtocol
}
