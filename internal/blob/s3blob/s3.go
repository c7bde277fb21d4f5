// Package s3blob is a blob.Store in a bucket of an S3-compatible object
// store (AWS S3, MinIO, Ceph RGW, versitygw and the like), for a cloud
// that keeps its sealed objects off its own disk. It passes blobtest.Run
// like blob.Dir.
//
// It owns the objects under its prefix in its bucket and nothing else: it
// never creates, configures or deletes a bucket and never touches a name
// outside its prefix. Like every blob.Store it never interprets, decrypts
// or logs object contents (the cloud holds only ciphertext, G2) and never
// replaces an object with different bytes. It never logs, and never puts in
// an error, the secret key: errors name the endpoint, the bucket and the
// key.
//
// # Write once
//
// S3 lets any PUT replace an object, so Put writes with If-None-Match: *
// (a single PUT, or the CompleteMultipartUpload of an upload in parts): the
// server refuses the write if the name exists, atomically. A Put that is
// refused, or (in parts) finds the key taken before it starts, compares
// what it was given with what is stored (size, then SHA-256): the same bytes are
// created=false, others ErrConflict. Open checks that the server honours
// the condition for both kinds of write, and refuses a server that
// ignores it, since without it two Puts of different bytes could both
// report success.
//
// # Streaming
//
// Put never holds an object in memory: a single PUT streams the reader as
// the request body, and an object larger than Config.PartSize goes up in
// parts, each streamed from the reader in turn (so the reader is read
// once, in order). Put hashes the bytes as they pass and checks that the
// reader yields exactly size bytes before the last of them is sent, so a
// reader that is short, long or failing leaves nothing behind; a failed
// upload in parts is aborted. A single PUT carries the object's SHA-256 as
// an x-amz-checksum-sha256 trailer, which the server verifies and keeps;
// Stat reads it back with HEAD. When the caller knows the SHA-256 already
// (blob.Hashed), Put does not hash the bytes: it sends the sum in an
// x-amz-checksum-sha256 header instead, which the server verifies just the
// same. An object uploaded in parts has only a
// checksum of its parts' checksums on the server, so Stat hashes it by
// reading it, as blob.Dir.Stat does for every object (the cloud keeps the
// hash Put returned in its metadata store). An Object reads with ranged
// GETs, never the whole object unless asked to.
//
// # Layout
//
// The object of a key is named like the file blob.Dir keeps it in, less
// Dir's escaping of upper-case letters: the key followed by '@', and a
// segment longer than 200 bytes cut into pieces, each but the last
// followed by '+' and a '/'. Key "cam/1/000001" is the object
// PREFIX/cam/1/000001@. Many S3 servers keep objects as files (versitygw's
// posix backend, MinIO): there the suffix lets "a" and "a/b" both exist,
// and the pieces keep every name within 255 bytes. List ignores names that
// are not an object's.
package s3blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"vigil/internal/blob"
)

const (
	// MinPartSize is the smallest part S3 accepts (but for the last).
	MinPartSize = 5 << 20
	// DefaultPartSize is Config.PartSize when it is 0.
	DefaultPartSize = 16 << 20
	// maxParts is the most parts an S3 upload may have.
	maxParts = 10_000
	// maxRetries bounds the attempts of a request whose body can be sent
	// again (HEAD, GET, list, delete, complete); an upload's body is read
	// from the caller's reader once and never retried.
	maxRetries = 3
	// responseTimeout bounds the wait for response headers once a request
	// is sent (completing a large upload takes the server a while).
	responseTimeout = 2 * time.Minute
	// cleanupTimeout bounds aborting an upload after its context ended.
	cleanupTimeout = 30 * time.Second
)

// Config says where the store is and how it writes.
type Config struct {
	// Endpoint is the server's host, with a port if not the scheme's
	// default: "s3.eu-central-1.amazonaws.com", "127.0.0.1:7070". No
	// scheme: Secure chooses it.
	Endpoint string
	// Secure: HTTPS, verified against the system's roots.
	Secure bool
	// Region is the bucket's region; "" asks the server.
	Region string
	// Bucket holds the store. It must exist; Open does not create it.
	Bucket string
	// AccessKey and SecretKey sign the requests (AWS Signature V4).
	AccessKey string
	SecretKey string
	// Prefix puts the store's objects under Prefix/ in the bucket, so one
	// bucket can hold other things too: "" or segments like a key's
	// ("vigil/blobs").
	Prefix string
	// PartSize: an object larger than this is uploaded in parts of this
	// size; at most one part of the object is in flight per Put. 0 means
	// DefaultPartSize; at least MinPartSize.
	PartSize int64
	// MaxObjectSize is the largest object Put accepts, in bytes; a larger
	// size fails with blob.ErrTooLarge before any byte is read. 0 means
	// blob.DefaultMaxObjectSize; at most PartSize times 10,000 (S3's most
	// parts).
	MaxObjectSize int64
	// Logger receives what goes wrong behind a caller's back (an upload
	// that could not be aborted): names and keys, never contents or
	// credentials. nil discards it.
	Logger *slog.Logger
}

// Store is a blob.Store in an S3 bucket. It is safe for concurrent use.
// Close releases its idle connections.
type Store struct {
	core     minio.Core
	tr       *http.Transport
	bucket   string
	root     string // Prefix + "/", or ""
	where    string // "endpoint/bucket", for errors
	partSize int64
	max      int64
	log      *slog.Logger
}

var _ blob.Store = (*Store)(nil)

// Open connects to the bucket and checks it: that it exists, that the
// credentials may write to it, and that the server honours conditional
// writes (it writes, conditionally rewrites and deletes a probe object
// under the prefix, whose name is no object's).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &Store{
		bucket:   cfg.Bucket,
		where:    cfg.Endpoint + "/" + cfg.Bucket,
		partSize: cfg.PartSize,
		max:      cfg.MaxObjectSize,
		log:      cfg.Logger,
	}
	if p := strings.TrimSuffix(cfg.Prefix, "/"); p != "" {
		s.root = p + "/"
	}
	if s.partSize == 0 {
		s.partSize = DefaultPartSize
	}
	if s.max == 0 {
		s.max = min(blob.DefaultMaxObjectSize, s.partSize*maxParts)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.tr = &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: responseTimeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		DisableCompression:    true,
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:           credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:          cfg.Secure,
		Region:          cfg.Region,
		Transport:       s.tr,
		TrailingHeaders: true,
		MaxRetries:      maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("blob/s3: endpoint %q: %v", cfg.Endpoint, err)
	}
	s.core = minio.Core{Client: c}
	if err := s.check(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (cfg Config) check() error {
	var errs []error
	switch {
	case cfg.Endpoint == "":
		errs = append(errs, errors.New("endpoint: required (host or host:port of the S3 server)"))
	case strings.Contains(cfg.Endpoint, "/"):
		errs = append(errs, fmt.Errorf("endpoint %q: want host or host:port, without a scheme or path (secure chooses https)", cfg.Endpoint))
	}
	if cfg.Bucket == "" {
		errs = append(errs, errors.New("bucket: required"))
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		errs = append(errs, errors.New("access_key and secret_key: required"))
	}
	if p := strings.TrimSuffix(cfg.Prefix, "/"); p != "" && !blob.ValidKey(p) {
		errs = append(errs, fmt.Errorf("prefix %q: want segments of A-Z a-z 0-9 . _ - separated by single '/'", cfg.Prefix))
	}
	part := cfg.PartSize
	if part == 0 {
		part = DefaultPartSize
	}
	if part < MinPartSize || part > 5<<30 {
		errs = append(errs, fmt.Errorf("part_size %d: want 0 (%d) or %d to %d bytes", cfg.PartSize, DefaultPartSize, MinPartSize, int64(5<<30)))
	} else if cfg.MaxObjectSize < 0 || cfg.MaxObjectSize > part*maxParts {
		errs = append(errs, fmt.Errorf("max_object_size %d: want 0 (default) up to %d bytes (part_size × %d parts)", cfg.MaxObjectSize, part*maxParts, maxParts))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("blob/s3: %w", err)
	}
	return nil
}

// check makes sure the bucket is there and writable, and that the server
// refuses a conditional write over an existing name, both as a PUT and as
// the completion of an upload in parts.
func (s *Store) check(ctx context.Context) error {
	// A listing, not HEAD: its errors come with a body that says what is
	// wrong (no such bucket, unknown access key, bad signature).
	lctx, cancel := context.WithCancel(ctx)
	for o := range s.core.ListObjectsIter(lctx, s.bucket, minio.ListObjectsOptions{Prefix: s.root, MaxKeys: 1}) {
		if o.Err != nil {
			cancel()
			if minio.ToErrorResponse(o.Err).Code == minio.NoSuchBucket {
				return fmt.Errorf("blob/s3: bucket %q does not exist at %s (hint: create it, or correct the endpoint and bucket)", s.bucket, s.core.EndpointURL().Host)
			}
			return s.fail("open", "", o.Err)
		}
		break
	}
	cancel()
	probe := s.root + ".vigil-probe-" + randomHex(8) // no '@': not an object's name
	put := func() error {
		_, err := s.core.PutObject(ctx, s.bucket, probe, strings.NewReader("probe"), 5, "", "", s.putOptions())
		return err
	}
	if err := put(); err != nil {
		return s.fail("open: writing a probe object (a PUT with If-None-Match: * and an x-amz-checksum-sha256 trailer)", "", err)
	}
	defer func() {
		if err := s.core.RemoveObject(context.WithoutCancel(ctx), s.bucket, probe, minio.RemoveObjectOptions{}); err != nil {
			s.log.Warn("blob/s3: removing the probe object", "bucket", s.bucket, "name", probe, "err", err)
		}
	}()
	unconditional := fmt.Errorf("blob/s3: the server at %s overwrote an object despite If-None-Match: *; without conditional writes Put cannot be write-once, so this server cannot hold the cloud's objects", s.where)
	switch err := put(); {
	case err == nil:
		return unconditional
	case !preconditionFailed(err):
		return s.fail("open: rewriting a probe object", "", err)
	}
	id, err := s.core.NewMultipartUpload(ctx, s.bucket, probe, minio.PutObjectOptions{})
	if err != nil {
		return s.fail("open: starting a probe upload", "", err)
	}
	defer s.abort(ctx, probe, id)
	part, err := s.core.PutObjectPart(ctx, s.bucket, probe, id, 1, strings.NewReader("probe"), 5, minio.PutObjectPartOptions{})
	if err != nil {
		return s.fail("open: uploading a probe part", "", err)
	}
	opts := minio.PutObjectOptions{}
	opts.SetMatchETagExcept("*")
	switch _, err := s.core.CompleteMultipartUpload(ctx, s.bucket, probe, id, []minio.CompletePart{{PartNumber: 1, ETag: part.ETag}}, opts); {
	case err == nil:
		return unconditional
	case !preconditionFailed(err):
		return s.fail("open: completing a probe upload", "", err)
	}
	return nil
}

// Close releases idle connections. Objects already open stay readable.
func (s *Store) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

// putOptions are those of every single PUT: conditional, with a SHA-256
// trailer the server verifies and keeps. The payload is not signed: the
// trailer covers it, and some servers refuse a signed stream with a
// trailer.
func (s *Store) putOptions() minio.PutObjectOptions {
	opts := minio.PutObjectOptions{
		ContentType:          "application/octet-stream",
		Checksum:             minio.ChecksumSHA256,
		DisableContentSha256: true,
	}
	opts.SetMatchETagExcept("*")
	return opts
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) (blob.Info, bool, error) {
	if !blob.ValidKey(key) {
		return blob.Info{}, false, invalidKey(key)
	}
	if size < 0 {
		return blob.Info{}, false, fmt.Errorf("blob/s3: put %s: size %d is negative", key, size)
	}
	if size > s.max {
		return blob.Info{}, false, fmt.Errorf("blob/s3: put %s: %d bytes, at most %d: %w", key, size, s.max, blob.ErrTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, false, fmt.Errorf("blob/s3: put %s: %w", key, err)
	}
	name := s.name(key)
	if size > s.partSize {
		// A multipart upload is worth a question first: the object may
		// be there already (a retry). A single PUT is not: it is
		// conditional, and the rare retry of one is answered below,
		// after the server refuses it, so that the usual new object costs
		// one request rather than two.
		switch st, err := s.head(ctx, name); {
		case err == nil:
			return s.putExisting(ctx, key, name, st, newPutReader(ctx, r, size))
		case !errors.Is(err, blob.ErrNotFound):
			return blob.Info{}, false, s.fail("put", key, err)
		}
	}

	src := newPutReader(ctx, r, size)
	var err error
	if size <= s.partSize {
		err = s.putSingle(ctx, name, src, size)
	} else {
		err = s.putParts(ctx, name, src, size)
	}
	if err == nil {
		info := blob.Info{Key: key, Size: size, SHA256: src.sum()}
		return info, true, nil
	}
	if !preconditionFailed(err) {
		if rerr := src.failure(); rerr != nil {
			// The reader's fault (or the context's), not the server's.
			return blob.Info{}, false, s.fail("put", key, rerr)
		}
		if !s.refusedInFlight(ctx, name, err) {
			return blob.Info{}, false, s.fail("put", key, err)
		}
	}
	// The name exists: a single PUT's object stored before, or another
	// Put created it after the HEAD above. Finish reading this one's bytes
	// and compare.
	sum, err := src.finish()
	if err != nil {
		return blob.Info{}, false, fmt.Errorf("blob/s3: put %s: %w", key, err)
	}
	st, err := s.head(ctx, name)
	if errors.Is(err, blob.ErrNotFound) {
		// Created and deleted since: a Put racing a Delete of the same
		// key. The caller may retry.
		return blob.Info{}, false, fmt.Errorf("blob/s3: put %s: another writer created and removed the object meanwhile; try again", key)
	}
	if err != nil {
		return blob.Info{}, false, s.fail("put", key, err)
	}
	return s.compare(ctx, key, name, st, size, sum)
}

// refusedInFlight tells whether a Put that failed with err, without an
// answer from the server, was most likely refused because name exists: a
// server may answer a conditional PUT's 412 as soon as it has the headers
// and close the connection while the body is still being sent, so that
// the client sees only a reset. The object's presence, asked afterwards,
// tells that case from a failed transfer; Put then compares as it would
// after a 412. An error the server answered, or one of the reader or the
// context, is left as it is.
func (s *Store) refusedInFlight(ctx context.Context, name string, err error) bool {
	if minio.ToErrorResponse(err).StatusCode != 0 || ctx.Err() != nil ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	_, herr := s.head(ctx, name)
	return herr == nil
}

// putSingle writes the object in one conditional PUT.
func (s *Store) putSingle(ctx context.Context, name string, src *putReader, size int64) error {
	if size == 0 {
		// There is no body to send, so nothing will read it: check here
		// that the reader is empty.
		if _, err := src.finish(); err != nil {
			return err
		}
	}
	opts := s.putOptions()
	if src.known != nil {
		// The server checks the sum the caller knows in place of one
		// computed here.
		opts.Checksum = minio.ChecksumNone
		opts.UserMetadata = map[string]string{"x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(src.known[:])}
	}
	_, err := s.core.PutObject(ctx, s.bucket, name, src, size, "", "", opts)
	src.detach()
	if err == nil && !src.complete() {
		// The server took the object without all of its bytes having been
		// read, which a correct HTTP exchange cannot do.
		s.remove(ctx, name)
		return errors.New("the upload ended before the reader's last byte was read")
	}
	return err
}

// putParts writes the object as a multipart upload whose parts stream from
// src in turn, completed with If-None-Match: *. A failed upload is
// aborted.
func (s *Store) putParts(ctx context.Context, name string, src *putReader, size int64) (err error) {
	id, err := s.core.NewMultipartUpload(ctx, s.bucket, name, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.abort(ctx, name, id)
		}
	}()
	var parts []minio.CompletePart
	for off, n := int64(0), 1; off < size; n++ {
		length := min(s.partSize, size-off)
		p, perr := s.core.PutObjectPart(ctx, s.bucket, name, id, n, io.LimitReader(src, length), length, minio.PutObjectPartOptions{})
		if perr != nil {
			return perr
		}
		parts = append(parts, minio.CompletePart{PartNumber: n, ETag: p.ETag})
		off += length
	}
	src.detach()
	if !src.complete() {
		return errors.New("the upload ended before the reader's last byte was read")
	}
	opts := minio.PutObjectOptions{}
	opts.SetMatchETagExcept("*")
	_, err = s.core.CompleteMultipartUpload(ctx, s.bucket, name, id, parts, opts)
	return err
}

// abort abandons an upload in parts, even once ctx is done.
func (s *Store) abort(ctx context.Context, name, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	err := s.core.AbortMultipartUpload(ctx, s.bucket, name, id)
	if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchUpload {
		s.log.Warn("blob/s3: could not abort an unfinished upload; its parts stay until a bucket lifecycle rule removes them",
			"bucket", s.bucket, "name", name, "err", err)
	}
}

// remove deletes name, even once ctx is done.
func (s *Store) remove(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.core.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil {
		s.log.Warn("blob/s3: could not remove an object after a failed upload", "bucket", s.bucket, "name", name, "err", err)
	}
}

// putExisting answers a Put of a key that holds st: the bytes src yields
// must be the same.
func (s *Store) putExisting(ctx context.Context, key, name string, st stat, src *putReader) (blob.Info, bool, error) {
	if st.size != src.size {
		return blob.Info{}, false, fmt.Errorf("blob/s3: put %s: %w", key, blob.ErrConflict)
	}
	sum, err := src.finish()
	if err != nil {
		return blob.Info{}, false, fmt.Errorf("blob/s3: put %s: %w", key, err)
	}
	return s.compare(ctx, key, name, st, src.size, sum)
}

// compare tells whether the object st is size bytes hashing to sum.
func (s *Store) compare(ctx context.Context, key, name string, st stat, size int64, sum [32]byte) (blob.Info, bool, error) {
	if st.size != size {
		return blob.Info{}, false, fmt.Errorf("blob/s3: put %s: %w", key, blob.ErrConflict)
	}
	stored, err := s.sum(ctx, name, st)
	if err != nil {
		return blob.Info{}, false, s.fail("put", key, err)
	}
	if stored != sum {
		return blob.Info{}, false, fmt.Errorf("blob/s3: put %s: %w", key, blob.ErrConflict)
	}
	return blob.Info{Key: key, Size: size, SHA256: sum}, false, nil
}

// stat is what HEAD says of an object.
type stat struct {
	size int64
	etag string
	// sha256 is the server's full-object SHA-256 checksum, if it has one.
	sha256 *[32]byte
}

func (s *Store) head(ctx context.Context, name string) (stat, error) {
	oi, err := s.core.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return stat{}, mapError(err)
	}
	st := stat{size: oi.Size, etag: oi.ETag}
	// A composite checksum (of parts) is not the object's SHA-256; its
	// value does not decode to 32 bytes either ("...-3").
	if oi.ChecksumMode != "COMPOSITE" {
		if b, err := base64.StdEncoding.DecodeString(oi.ChecksumSHA256); err == nil && len(b) == sha256.Size {
			st.sha256 = (*[32]byte)(b)
		}
	}
	return st, nil
}

// sum is the SHA-256 of the object st: the server's checksum, or else
// the hash of its bytes.
func (s *Store) sum(ctx context.Context, name string, st stat) ([32]byte, error) {
	if st.sha256 != nil {
		return *st.sha256, nil
	}
	if st.size == 0 {
		return sha256.Sum256(nil), nil
	}
	opts := minio.GetObjectOptions{}
	opts.SetMatchETag(st.etag)
	body, _, _, err := s.core.GetObject(ctx, s.bucket, name, opts)
	if err != nil {
		return [32]byte{}, mapError(err)
	}
	defer body.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, body})
	if err != nil {
		return [32]byte{}, err
	}
	if n != st.size {
		return [32]byte{}, fmt.Errorf("the server sent %d bytes of a %d-byte object", n, st.size)
	}
	return [32]byte(h.Sum(nil)), nil
}

// Stat implements blob.Store. The SHA-256 comes from HEAD for an object
// written in one PUT; one written in parts is read to hash it.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if !blob.ValidKey(key) {
		return blob.Info{}, invalidKey(key)
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, fmt.Errorf("blob/s3: stat %s: %w", key, err)
	}
	name := s.name(key)
	st, err := s.head(ctx, name)
	if err != nil {
		return blob.Info{}, s.fail("stat", key, err)
	}
	sum, err := s.sum(ctx, name, st)
	if err != nil {
		return blob.Info{}, s.fail("stat", key, err)
	}
	return blob.Info{Key: key, Size: st.size, SHA256: sum}, nil
}

// Open implements blob.Store. The Object reads with ranged GETs under
// ctx, which must stay live while it is read; each GET requires the
// object's ETag at Open, so an Object never mixes the bytes of two objects
// (after a Delete and a new Put of the key, it fails instead).
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	if !blob.ValidKey(key) {
		return nil, invalidKey(key)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob/s3: open %s: %w", key, err)
	}
	name := s.name(key)
	st, err := s.head(ctx, name)
	if err != nil {
		return nil, s.fail("open", key, err)
	}
	return &object{s: s, ctx: ctx, key: key, name: name, size: st.size, etag: st.etag}, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if !blob.ValidKey(key) {
		return invalidKey(key)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob/s3: delete %s: %w", key, err)
	}
	err := s.core.RemoveObject(ctx, s.bucket, s.name(key), minio.RemoveObjectOptions{})
	if err != nil && !errors.Is(mapError(err), blob.ErrNotFound) {
		return s.fail("delete", key, err)
	}
	return nil
}

// List implements blob.Store: one listing of the names that can belong to
// keys with prefix, page by page, decoded and sorted.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob/s3: list %q: %w", prefix, err)
	}
	if !blob.ValidKey(prefix+"a") && !blob.ValidKey(prefix) {
		return nil, nil // no valid key starts with it
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the listing if the loop stops early
	var keys []string
	for o := range s.core.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.root + namePrefix(prefix), Recursive: true}) {
		if o.Err != nil {
			return nil, s.fail("list", fmt.Sprintf("%q", prefix), o.Err)
		}
		key, ok := keyOf(strings.TrimPrefix(o.Key, s.root))
		if ok && strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob/s3: list %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

const (
	objectSuffix = '@'
	pieceSuffix  = '+'
	// maxPiece bounds a written segment (or piece of one), so that a name
	// component stays well inside the usual 255-byte limit.
	maxPiece = 200
	// minLastPiece keeps the last piece of a cut segment from being "."
	// or "..", so that every first maxPiece-minLastPiece+1 bytes of a
	// segment are written uncut.
	minLastPiece = 3
)

// name is the object name of key (see Layout in the package doc).
func (s *Store) name(key string) string { return s.root + objectName(key) }

func objectName(key string) string {
	var b strings.Builder
	b.Grow(len(key) + 8)
	for i, seg := range strings.Split(key, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		writeSegment(&b, seg)
	}
	b.WriteByte(objectSuffix)
	return b.String()
}

// writeSegment writes seg, cut into pieces if it is long.
func writeSegment(b *strings.Builder, seg string) {
	for len(seg) > maxPiece {
		n := maxPiece
		if len(seg)-n < minLastPiece {
			n = len(seg) - minLastPiece
		}
		b.WriteString(seg[:n])
		b.WriteByte(pieceSuffix)
		b.WriteByte('/')
		seg = seg[n:]
	}
	b.WriteString(seg)
}

// namePrefix is a prefix of the names of all keys that start with prefix,
// as long as can be said without knowing how long their last segment is.
func namePrefix(prefix string) string {
	i := strings.LastIndexByte(prefix, '/')
	var b strings.Builder
	for j, seg := range strings.Split(prefix[:i+1], "/") {
		if j > 0 {
			b.WriteByte('/')
		}
		writeSegment(&b, seg)
	}
	last := prefix[i+1:]
	if uncut := maxPiece - minLastPiece + 1; len(last) > uncut {
		last = last[:uncut]
	}
	b.WriteString(last)
	return b.String()
}

// keyOf returns the key whose object name is name, if there is one.
func keyOf(name string) (string, bool) {
	if len(name) < 2 || name[len(name)-1] != objectSuffix {
		return "", false
	}
	key := strings.ReplaceAll(name[:len(name)-1], string(pieceSuffix)+"/", "")
	if !blob.ValidKey(key) || objectName(key) != name {
		return "", false
	}
	return key, true
}

func invalidKey(key string) error {
	const show = 64
	if len(key) > show {
		key = key[:show] + "..."
	}
	return fmt.Errorf("%w %q: want 1 to %d bytes of A-Z a-z 0-9 . _ - in segments separated by single '/', none of them \".\" or \"..\"", blob.ErrInvalidKey, key, blob.MaxKeyLen)
}

// preconditionFailed: the server refused a conditional write because the
// name exists.
func preconditionFailed(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusPreconditionFailed || r.Code == "PreconditionFailed"
}

// mapError turns the S3 errors that have a blob meaning into it.
func mapError(err error) error {
	r := minio.ToErrorResponse(err)
	switch {
	case r.Code == minio.NoSuchKey:
		return blob.ErrNotFound
	case r.Code == "EntityTooLarge":
		return fmt.Errorf("%w: %v", blob.ErrTooLarge, err)
	}
	return err
}

// fail wraps err from op on key (or a listing) with where it happened and,
// for errors of configuration, a hint.
func (s *Store) fail(op, key string, err error) error {
	err = mapError(err)
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrTooLarge) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if key == "" {
			return fmt.Errorf("blob/s3: %s: %w", op, err)
		}
		return fmt.Errorf("blob/s3: %s %s: %w", op, key, err)
	}
	hint := ""
	switch r := minio.ToErrorResponse(err); {
	case r.Code == minio.NoSuchBucket:
		hint = " (hint: the bucket does not exist)"
	case r.Code == "InvalidAccessKeyId" || r.Code == "SignatureDoesNotMatch" || r.Code == "XAdminUserNotFound":
		hint = " (hint: the server refused the credentials: check access_key and secret_key)"
	case r.Code == "AccessDenied" || r.StatusCode == http.StatusForbidden:
		hint = " (hint: check access_key and secret_key, and that the credentials may list, read, write and delete in the bucket)"
	case r.StatusCode == http.StatusNotImplemented:
		hint = " (hint: the server lacks something this store needs: conditional writes and SHA-256 checksum trailers)"
	}
	if key != "" {
		op += " " + key
	}
	return fmt.Errorf("blob/s3: %s at %s: %w%s", op, s.where, err, hint)
}

// putReader is the body of an upload: it yields exactly size bytes of r,
// hashing them, and fails rather than give the last of them unless r has
// nothing more. Its errors are sticky. The HTTP client reads it until
// detach; then Put may finish reading it itself.
type putReader struct {
	ctx  context.Context
	r    io.Reader
	size int64

	known *[32]byte // the caller's SHA-256 of the bytes (blob.Hashed), or nil

	mu       sync.Mutex
	n        int64
	h        hash.Hash // nil when known
	err      error     // what went wrong reading r (or ctx), for good
	done     bool      // size bytes read and r at EOF
	detached bool
}

var errDetached = errors.New("blob/s3: upload body read after the upload ended")

func newPutReader(ctx context.Context, r io.Reader, size int64) *putReader {
	if known := blob.KnownSHA256(r); known != nil {
		return &putReader{ctx: ctx, r: r, size: size, known: known}
	}
	return &putReader{ctx: ctx, r: r, size: size, h: sha256.New()}
}

// Read is for the HTTP client. It hides r's other methods (a Seek would
// let the client send the body twice).
func (p *putReader) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.detached {
		return 0, errDetached
	}
	return p.read(b)
}

func (p *putReader) read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	if p.done {
		return 0, io.EOF
	}
	if err := p.ctx.Err(); err != nil {
		p.err = err
		return 0, err
	}
	if left := p.size - p.n; int64(len(b)) > left {
		b = b[:left]
	}
	n, err := p.r.Read(b)
	if n < 0 || n > len(b) {
		p.err = fmt.Errorf("reader returned %d for a %d-byte read", n, len(b))
		return 0, p.err
	}
	if p.h != nil {
		p.h.Write(b[:n])
	}
	p.n += int64(n)
	if p.n == p.size {
		if err != io.EOF {
			if err == nil {
				err = p.atEOF()
			}
			if err != nil {
				p.err = err
				return 0, err // withhold the last bytes: the upload must fail
			}
		}
		p.done = true
		return n, nil
	}
	switch {
	case err == io.EOF:
		p.err = fmt.Errorf("reader gave %d bytes, want %d: %w", p.n, p.size, io.ErrUnexpectedEOF)
		return 0, p.err
	case err != nil:
		p.err = err
		return 0, err
	}
	return n, nil
}

// atEOF checks that r has nothing after the size bytes it gave.
func (p *putReader) atEOF() error {
	var one [1]byte
	for range 100 {
		n, err := p.r.Read(one[:])
		switch {
		case n > 0:
			return fmt.Errorf("reader gave more than the %d bytes announced", p.size)
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
	return io.ErrNoProgress
}

// detach ends the HTTP client's reading: a Read still in progress
// finishes first, later ones fail.
func (p *putReader) detach() {
	p.mu.Lock()
	p.detached = true
	p.mu.Unlock()
}

// finish reads what is left of the body and returns its hash: the
// reader's bytes must be exactly size.
func (p *putReader) finish() ([32]byte, error) {
	p.detach()
	var buf [32 << 10]byte
	for {
		if _, err := p.read(buf[:]); err == io.EOF {
			return p.sum(), nil
		} else if err != nil {
			return [32]byte{}, err
		}
	}
}

// complete reports whether all size bytes were read and r was at EOF.
func (p *putReader) complete() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// failure is what went wrong reading the body, if anything.
func (p *putReader) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *putReader) sum() [32]byte {
	if p.known != nil {
		return *p.known
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return [32]byte(p.h.Sum(nil))
}

// object is an open object: ReadAt with a ranged GET per call, Read with
// one GET from the read offset to the end, kept open while reads follow
// on.
type object struct {
	s    *Store
	ctx  context.Context
	key  string
	name string
	size int64
	etag string

	// Read's state (io.ReadSeeker is not for concurrent use).
	off    int64
	body   io.ReadCloser
	bodyAt int64 // the offset body reads from next
}

func (o *object) Size() int64 { return o.size }

// get opens the object's bytes from off to end (exclusive; 0: to the
// object's end).
func (o *object) get(off, end int64) (io.ReadCloser, error) {
	if err := o.ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob/s3: read %s: %w", o.key, err)
	}
	opts := minio.GetObjectOptions{}
	opts.SetMatchETag(o.etag)
	var err error
	switch {
	case end > 0:
		err = opts.SetRange(off, end-1)
	case off > 0:
		err = opts.SetRange(off, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("blob/s3: read %s: %w", o.key, err)
	}
	body, _, _, err := o.s.core.GetObject(o.ctx, o.s.bucket, o.name, opts)
	if err != nil {
		if preconditionFailed(err) {
			return nil, fmt.Errorf("blob/s3: read %s: the object was replaced since it was opened", o.key)
		}
		return nil, o.s.fail("read", o.key, err)
	}
	return body, nil
}

// ReadAt implements io.ReaderAt with one ranged GET.
func (o *object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("blob/s3: read %s: negative offset %d", o.key, off)
	}
	if off >= o.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), o.size-off))
	if n == 0 {
		return 0, nil
	}
	body, err := o.get(off, off+int64(n))
	if err != nil {
		return 0, err
	}
	defer body.Close()
	m, err := io.ReadFull(ctxReader{o.ctx, body}, p[:n])
	if err != nil {
		return m, fmt.Errorf("blob/s3: read %s at %d: %w", o.key, off, err)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read implements io.Reader.
func (o *object) Read(p []byte) (int, error) {
	if o.off >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil || o.bodyAt != o.off {
		o.closeBody()
		body, err := o.get(o.off, 0)
		if err != nil {
			return 0, err
		}
		o.body, o.bodyAt = body, o.off
	}
	p = p[:min(int64(len(p)), o.size-o.off)]
	n, err := o.body.Read(p)
	o.off += int64(n)
	o.bodyAt = o.off
	switch {
	case err == io.EOF && o.off < o.size:
		o.closeBody()
		return n, fmt.Errorf("blob/s3: read %s: the server ended the object at %d of %d bytes: %w", o.key, o.off, o.size, io.ErrUnexpectedEOF)
	case err == io.EOF:
		o.closeBody()
		return n, nil
	case err != nil:
		o.closeBody()
		return n, fmt.Errorf("blob/s3: read %s: %w", o.key, err)
	}
	return n, nil
}

// Seek implements io.Seeker; the next Read starts a new GET if it moved.
func (o *object) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.off + offset
	case io.SeekEnd:
		abs = o.size + offset
	default:
		return 0, fmt.Errorf("blob/s3: seek %s: invalid whence %d", o.key, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("blob/s3: seek %s: negative position", o.key)
	}
	o.off = abs
	return abs, nil
}

func (o *object) closeBody() {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
}

// Close implements io.Closer.
func (o *object) Close() error {
	o.closeBody()
	return nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
