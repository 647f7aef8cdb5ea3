package sim

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3 is the S3 emulator: gofakes3 serving the S3 wire protocol on a
// loopback port, in process, with the real SDK client pointed at it. No
// hand-written fake: what greenlight does to S3 goes through the SDK's
// own serialization.
type S3 struct {
	srv    *httptest.Server
	client *s3.Client

	mu        sync.Mutex
	onCreated func(ObjectCreated)
	// eventBridge: the buckets that send their events to EventBridge.
	eventBridge map[string]bool
}

// S3Options configure StartS3.
type S3Options struct {
	// Clock stamps objects; nil uses the real time.
	Clock *Clock
	// Region the client signs for: "eu-west-1".
	Region string
	// Buckets are created with versioning enabled.
	Buckets []string
}

// clockSource lets gofakes3 read the simulated clock.
type clockSource struct{ c *Clock }

func (s clockSource) Now() time.Time                  { return s.c.Now() }
func (s clockSource) Since(t time.Time) time.Duration { return s.c.Now().Sub(t) }

// StartS3 starts an S3 emulator. Close it when done.
func StartS3(opts S3Options) (*S3, error) {
	if opts.Region == "" {
		opts.Region = "eu-west-1"
	}
	var ts gofakes3.TimeSource = gofakes3.DefaultTimeSource()
	if opts.Clock != nil {
		ts = clockSource{opts.Clock}
	}
	backend := s3mem.New(s3mem.WithTimeSource(ts), s3mem.WithVersionSeed(1))
	// The SDK signs with the real time while objects carry simulated
	// time, so the skew check is off.
	faker := gofakes3.New(backend, gofakes3.WithTimeSource(ts), gofakes3.WithTimeSkewLimit(0))
	s := &S3{}
	srv := httptest.NewServer(s.notifying(faker.Server()))
	s.srv = srv
	s.client = s3.New(s3.Options{
		Region:       opts.Region,
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("sim", "sim", ""),
		// gofakes3 does not speak the newer default checksum trailers.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	for _, b := range opts.Buckets {
		if err := s.CreateBucket(context.Background(), b); err != nil {
			srv.Close()
			return nil, err
		}
	}
	return s, nil
}

// NewS3 starts an S3 emulator for a test and stops it when the test ends.
func NewS3(tb testing.TB, buckets ...string) *S3 {
	tb.Helper()
	s, err := StartS3(S3Options{Buckets: buckets})
	if err != nil {
		tb.Fatalf("sim: start S3: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Client is the real SDK client for the emulator.
func (s *S3) Client() *s3.Client { return s.client }

// URL is the emulator's endpoint.
func (s *S3) URL() string { return s.srv.URL }

// Close stops the emulator.
func (s *S3) Close() { s.srv.Close() }

// CreateBucket creates a bucket with versioning enabled, as greenlight's
// release bucket is.
func (s *S3) CreateBucket(ctx context.Context, name string) error {
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return fmt.Errorf("sim: create bucket %s: %w", name, err)
	}
	_, err := s.client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(name),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		return fmt.Errorf("sim: enable versioning on %s: %w", name, err)
	}
	return nil
}

// ObjectCreated is what S3 tells EventBridge when a request creates an
// object. Amazon S3 User Guide, "Using EventBridge"
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html):
// "Object Created: An object was created. The reason field in the event
// message structure indicates which S3 API was used to create the object:
// PutObject, POST Object, CopyObject, or CompleteMultipartUpload."
type ObjectCreated struct {
	Bucket, Key, VersionID string
	Size                   int64
	// Reason is the API that created it: PutObject, CopyObject or
	// CompleteMultipartUpload (gofakes3 serves no browser POST upload).
	Reason string
}

// OnObjectCreated registers what receives the emulator's Object Created
// events, for the buckets with EventBridge on (SetEventBridge). Like EventBridge it delivers them after the request has
// answered, each on its own goroutine: the uploader never waits for the
// target.
func (s *S3) OnObjectCreated(f func(ObjectCreated)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onCreated = f
}

// SetEventBridge turns a bucket's delivery of events to EventBridge on or
// off, as its notification configuration's EventBridgeConfiguration does
// (the stack turns it on for the release bucket). Off, S3 raises no Object
// Created event for it.
func (s *S3) SetEventBridge(bucket string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eventBridge == nil {
		s.eventBridge = map[string]bool{}
	}
	s.eventBridge[bucket] = on
}

// serveNotification answers GetBucketNotificationConfiguration, which
// gofakes3 does not serve: an EventBridgeConfiguration element when the
// bucket sends its events to EventBridge. Amazon S3 API Reference,
// "GetBucketNotificationConfiguration" and "EventBridgeConfiguration"
// (AmazonS3/latest/API/API_EventBridgeConfiguration.html: "A container
// for specifying the configuration for Amazon EventBridge").
func (s *S3) serveNotification(w http.ResponseWriter, bucket string) {
	s.mu.Lock()
	on := s.eventBridge[bucket]
	s.mu.Unlock()
	inner := ""
	if on {
		inner = "<EventBridgeConfiguration></EventBridgeConfiguration>"
	}
	w.Header().Set("Content-Type", "application/xml")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">%s</NotificationConfiguration>`, inner)
}

// statusRecorder keeps the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// notifying wraps the emulator's handler: a request that created an
// object raises ObjectCreated.
func (s *S3) notifying(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bucket := strings.Trim(r.URL.Path, "/"); r.Method == http.MethodGet && r.URL.Query().Has("notification") && bucket != "" && !strings.Contains(bucket, "/") {
			s.serveNotification(w, bucket)
			return
		}
		reason := creationReason(r)
		if reason == "" {
			next.ServeHTTP(w, r)
			return
		}
		// The bucket's configuration when the request arrives decides.
		bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		s.mu.Lock()
		f, on := s.onCreated, s.eventBridge[bucket]
		s.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		// A handler that writes nothing answers 200.
		if f == nil || !on || (rec.status != 0 && rec.status != http.StatusOK) {
			return
		}
		ev := ObjectCreated{Bucket: bucket, Key: key, VersionID: w.Header().Get("x-amz-version-id"), Reason: reason}
		go func() {
			// The event carries the object's size (detail.object.size).
			if head, err := s.client.HeadObject(context.Background(), &s3.HeadObjectInput{
				Bucket: aws.String(ev.Bucket), Key: aws.String(ev.Key), VersionId: aws.String(ev.VersionID),
			}); err == nil {
				ev.Size = aws.ToInt64(head.ContentLength)
			}
			f(ev)
		}()
	})
}

// creationReason names the API a request calls when it creates an object
// (path-style addressing, as the emulator's clients use), else "".
func creationReason(r *http.Request) string {
	path := strings.TrimPrefix(r.URL.Path, "/")
	if _, key, ok := strings.Cut(path, "/"); !ok || key == "" {
		return ""
	}
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method != http.MethodPut || q.Has("uploadId") || q.Has("partNumber"):
		return ""
	}
	// A PUT on a subresource (?tagging, ?acl, ?retention, ...) changes an
	// object that exists; it creates none.
	for k := range q {
		if !strings.HasPrefix(k, "x-") && k != "versionId" {
			return ""
		}
	}
	if r.Header.Get("x-amz-copy-source") != "" {
		return "CopyObject"
	}
	return "PutObject"
}
