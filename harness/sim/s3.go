package sim

import (
	"context"
	"fmt"
	"net/http/httptest"
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
	srv := httptest.NewServer(faker.Server())
	s := &S3{srv: srv}
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
