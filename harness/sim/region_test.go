package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestRegionS3UsesTheSimulatedClock(t *testing.T) {
	r := NewTest(t, Options{})
	r.Advance(testCtx(), time.Hour)
	ctx := testCtx()
	if _, err := r.S3Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.Fixture().Bucket), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	head, err := r.S3Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(r.Fixture().Bucket), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToTime(head.LastModified); !got.Equal(r.Now().Truncate(time.Second)) {
		t.Errorf("LastModified %v, want the simulated %v", got, r.Now())
	}
}
