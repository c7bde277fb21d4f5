package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	vtlog "vigil/internal/tlog"
)

// ErrConflict is returned (wrapped) when the witness refuses a checkpoint
// because it cosigned another one of the same size with a different root:
// the log has shown two different trees.
var ErrConflict = errors.New("the witness cosigned a different checkpoint of the same size (split view)")

// ErrBadCosignature is returned (wrapped) when the witness answers 200 but
// its answer holds no valid cosignature by the witness's key over the
// checkpoint sent, or a line that claims to be one and is not.
var ErrBadCosignature = errors.New("the witness's answer is not a valid cosignature by its key")

// maxResponseBytes bounds what the client reads of a witness's answer.
const maxResponseBytes = 64 << 10

// Client asks one witness to cosign checkpoints: the log's side of C2SP
// tlog-witness add-checkpoint, a [vtlog.Witness]. Its fields are read-only
// once in use.
type Client struct {
	// URL is the witness's submission prefix: the client POSTs to
	// URL + "/add-checkpoint".
	URL string
	// Verifier is the witness's cosignature verifier
	// ([vtlog.NewCosignatureVerifier] reads it from the witness's vkey).
	// Its name is the witness's name.
	Verifier note.Verifier
	// HTTP sends the requests (nil: http.DefaultClient). Bound each call
	// with its context.
	HTTP *http.Client
}

// Name returns the witness's key name.
func (c *Client) Name() string { return c.Verifier.Name() }

// AddCheckpoint asks the witness to cosign checkpoint (the log-signed note),
// with a consistency proof from oldSize, the size the log believes the
// witness last cosigned (0 for none, with an empty proof). It returns the
// witness's signature lines (each "— name base64\n"), only those that are
// valid cosignatures by c.Verifier over checkpoint; lines by other keys are
// dropped. When the witness holds another size it returns
// *[vtlog.SizeMismatch] with that size.
func (c *Client) AddCheckpoint(ctx context.Context, oldSize int64, proof tlog.TreeProof, checkpoint []byte) ([]byte, error) {
	if c.Verifier == nil {
		return nil, errors.New("witness client: no Verifier for the witness's key")
	}
	if oldSize < 0 {
		return nil, fmt.Errorf("witness %s: old size %d is negative", c.Name(), oldSize)
	}
	if len(proof) > MaxProofLines {
		return nil, fmt.Errorf("witness %s: a consistency proof of %d hashes is longer than the %d a witness takes", c.Name(), len(proof), MaxProofLines)
	}
	text, ok := noteText(checkpoint)
	if !ok {
		return nil, fmt.Errorf("witness %s: the checkpoint is not a signed note", c.Name())
	}
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", oldSize)
	for _, h := range proof {
		body.WriteString(h.String())
		body.WriteByte('\n')
	}
	body.WriteByte('\n')
	body.Write(checkpoint)
	if body.Len() > MaxRequestBytes {
		return nil, fmt.Errorf("witness %s: the request would be %d bytes, over the %d a witness takes", c.Name(), body.Len(), MaxRequestBytes)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/add-checkpoint", &body)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.Name(), err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", c.Name(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("witness %s: reading the answer: %w", c.Name(), err)
	}
	if len(b) > maxResponseBytes {
		return nil, fmt.Errorf("witness %s: answer over %d bytes", c.Name(), maxResponseBytes)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return c.checkCosignatures(text, b)
	case http.StatusConflict:
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == SizeContentType {
			s, ok := strings.CutSuffix(string(b), "\n")
			n, err := strconv.ParseInt(s, 10, 64)
			if !ok || err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
				return nil, fmt.Errorf("witness %s: 409 with a malformed size %.40q", c.Name(), b)
			}
			if n == oldSize {
				return nil, fmt.Errorf("witness %s: %w", c.Name(), ErrConflict)
			}
			return nil, &vtlog.SizeMismatch{Size: n}
		}
		return nil, fmt.Errorf("witness %s: %w: %s", c.Name(), ErrConflict, firstLine(b))
	default:
		return nil, fmt.Errorf("witness %s refused the checkpoint: %s: %s", c.Name(), resp.Status, firstLine(b))
	}
}

// checkCosignatures keeps the lines of answer that are valid cosignatures by
// c.Verifier over text. Lines by other keys are dropped; a line under the
// witness's own name and key hash that does not verify, a malformed line, or
// an answer without a valid cosignature fails.
func (c *Client) checkCosignatures(text string, answer []byte) ([]byte, error) {
	if len(answer) == 0 || answer[len(answer)-1] != '\n' {
		return nil, fmt.Errorf("witness %s: %w: the answer is not signature lines", c.Name(), ErrBadCosignature)
	}
	known := note.VerifierList(c.Verifier)
	var out bytes.Buffer
	seen := map[string]bool{}
	for i, line := range bytes.SplitAfter(answer[:len(answer)-1], []byte("\n")) {
		line = append(bytes.TrimSuffix(line, []byte("\n")), '\n')
		// Each line on its own: note.Open checks only the first of several
		// signatures by one key.
		n, err := note.Open(append([]byte(text+"\n"), line...), known)
		var unverified *note.UnverifiedNoteError
		switch {
		case errors.As(err, &unverified):
			continue // another key's signature
		case err != nil:
			return nil, fmt.Errorf("witness %s: %w: line %d: %v", c.Name(), ErrBadCosignature, i+1, err)
		}
		if s := n.Sigs[0]; !seen[s.Base64] {
			seen[s.Base64] = true
			fmt.Fprintf(&out, "— %s %s\n", s.Name, s.Base64)
		}
	}
	if out.Len() == 0 {
		return nil, fmt.Errorf("witness %s: %w: no cosignature by its key", c.Name(), ErrBadCosignature)
	}
	return out.Bytes(), nil
}

var _ vtlog.Witness = (*Client)(nil)

// firstLine returns the first line of a witness's error answer, shortened,
// for an error message.
func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if len(line) > 200 {
		line = line[:200]
	}
	return strconv.QuoteToGraphic(string(line))
}
