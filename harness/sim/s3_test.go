package sim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestObjectCreatedEvents: the calls that create an object raise Object
// Created with its version and size; a part, a subresource and a failed
// upload raise nothing (each is followed by a marker upload, which must be
// the next event).
func TestObjectCreatedEvents(t *testing.T) {
	s := NewS3(t, "bucket")
	s.SetEventBridge("bucket", true)
	events := make(chan ObjectCreated, 8)
	s.OnObjectCreated(func(ev ObjectCreated) { events <- ev })
	ctx := context.Background()
	c := s.Client()
	next := func() ObjectCreated {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(time.Minute):
			t.Fatal("no Object Created event")
			return ObjectCreated{}
		}
	}
	put := func(key, body string) string {
		t.Helper()
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.VersionId)
	}
	nothingBefore := func(what string) {
		t.Helper()
		put("marker", "m")
		if ev := next(); ev.Key != "marker" {
			t.Errorf("%s raised %+v", what, ev)
		}
	}

	vid := put("releases/shop-1.0.0.tar.gz", "hello")
	if ev := next(); ev != (ObjectCreated{Bucket: "bucket", Key: "releases/shop-1.0.0.tar.gz", VersionID: vid, Size: 5, Reason: "PutObject"}) {
		t.Errorf("PutObject raised %+v (version %s)", ev, vid)
	}

	// (On an object of its own: gofakes3 stores a tagging request's body
	// as a new version of the object, which S3 does not.)
	put("tagged", "t")
	if ev := next(); ev.Key != "tagged" {
		t.Fatalf("PutObject raised %+v", ev)
	}
	if _, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("bucket"), Key: aws.String("tagged"),
		Tagging: &s3types.Tagging{TagSet: []s3types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}); err != nil {
		t.Fatal(err)
	}
	nothingBefore("PutObjectTagging")

	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("missing"), Key: aws.String("x.tar.gz"), Body: strings.NewReader("x")}); err == nil {
		t.Fatal("an upload to a missing bucket succeeded")
	}
	nothingBefore("a failed PutObject")

	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("bucket"), Key: aws.String("copy.tar.gz"), CopySource: aws.String("bucket/releases/shop-1.0.0.tar.gz")})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Key != "copy.tar.gz" || ev.Reason != "CopyObject" || ev.VersionID != aws.ToString(cp.VersionId) || ev.Size != 5 {
		t.Errorf("CopyObject raised %+v", ev)
	}

	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bucket"), Key: aws.String("big.tar.gz")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bucket"), Key: aws.String("big.tar.gz"), UploadId: mp.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part one")})
	if err != nil {
		t.Fatal(err)
	}
	nothingBefore("UploadPart")
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bucket"), Key: aws.String("big.tar.gz"), UploadId: mp.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev.Key != "big.tar.gz" || ev.Reason != "CompleteMultipartUpload" || ev.VersionID != aws.ToString(done.VersionId) || ev.Size != 8 {
		t.Errorf("CompleteMultipartUpload raised %+v", ev)
	}

	// With EventBridge off for the bucket, nothing is raised.
	s.SetEventBridge("bucket", false)
	put("releases/shop-2.0.0.tar.gz", "unseen")
	s.SetEventBridge("bucket", true)
	nothingBefore("an upload with EventBridge off")
}

// TestBucketNotificationConfiguration: GetBucketNotificationConfiguration
// shows EventBridge on or off, as SetEventBridge left it.
func TestBucketNotificationConfiguration(t *testing.T) {
	s := NewS3(t, "bucket")
	for _, on := range []bool{false, true} {
		s.SetEventBridge("bucket", on)
		out, err := s.Client().GetBucketNotificationConfiguration(context.Background(), &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String("bucket")})
		if err != nil {
			t.Fatal(err)
		}
		if got := out.EventBridgeConfiguration != nil; got != on {
			t.Errorf("EventBridge set %v, read %v", on, got)
		}
	}
}
