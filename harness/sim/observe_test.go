package sim

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The real clients the region hands out are recorded and obey faults.
func TestS3CallsAreRecordedAndFaultable(t *testing.T) {
	r := NewTest(t, Options{})
	ctx := WithCaller(context.Background(), "validate-artifact")
	bucket := aws.String(r.Fixture().Bucket)
	_, err := r.Clients().S3.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("releases/shop-2.tar.gz"), Body: strings.NewReader("x")})
	wantCode(t, err, "")
	r.Throttle(ServiceS3, 1)
	_, err = r.Clients().S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("releases/shop-2.tar.gz")})
	wantCode(t, err, "SlowDown")
	var re *awshttp.ResponseError
	if !errorsAs(err, &re) || re.HTTPStatusCode() != 503 {
		t.Errorf("SlowDown without its 503: %v", err)
	}
	_, err = r.Clients().S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("releases/shop-2.tar.gz")})
	wantCode(t, err, "")
	got := r.CallsTo(ServiceS3, "HeadObject")
	if len(got) != 2 || got[0].Code != "SlowDown" || got[1].Code != "" || got[1].Caller != "validate-artifact" {
		t.Errorf("recorded %+v", got)
	}
	if ops := r.Operations()["validate-artifact"]; !equalStrings(ops, []string{"S3:HeadObject", "S3:PutObject"}) {
		t.Errorf("operations %v", ops)
	}
}

// A read of one object version is told apart: IAM authorizes it as
// s3:GetObjectVersion too.
func TestS3VersionedReadsAreMarked(t *testing.T) {
	r := NewTest(t, Options{})
	ctx := WithCaller(context.Background(), "prepare")
	bucket, key := aws.String(r.Fixture().Bucket), aws.String("releases/shop-3.tar.gz")
	put, err := r.Clients().S3.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("x")})
	wantCode(t, err, "")
	_, err = r.Clients().S3.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key, VersionId: put.VersionId})
	wantCode(t, err, "")
	_, err = r.Clients().S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key})
	wantCode(t, err, "")
	var got []bool
	for _, c := range r.Calls() {
		got = append(got, c.Versioned)
	}
	if len(got) != 3 || got[0] || !got[1] || got[2] {
		t.Errorf("versioned marks %v, want [false true false] for PutObject, GetObject with VersionId, HeadObject without", got)
	}
	// The request is kept: IAM authorizes it on the object it names.
	if in, ok := r.Calls()[1].Input.(*s3.GetObjectInput); !ok || aws.ToString(in.Key) != *key || aws.ToString(in.VersionId) != aws.ToString(put.VersionId) {
		t.Errorf("GetObject recorded input %#v", r.Calls()[1].Input)
	}
}

func TestDynamoDBCallsAreRecordedAndFaultable(t *testing.T) {
	d := NewDynamo(t)
	r := NewTest(t, Options{DynamoDB: d.Client()})
	ctx := WithCaller(context.Background(), "lock")
	if err := d.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("ledger"), BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	db := r.Clients().DynamoDB
	put := func() error {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("ledger"),
			Item:                map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "lock#shop"}},
			ConditionExpression: aws.String("attribute_not_exists(pk)")})
		return err
	}
	r.Throttle(ServiceDynamoDB, 1)
	wantCode(t, put(), "ProvisionedThroughputExceededException")
	wantCode(t, put(), "")
	wantCode(t, put(), "ConditionalCheckFailedException") // dynalite's answer, not ours
	got := r.CallsTo(ServiceDynamoDB, "PutItem")
	if len(got) != 3 || got[2].Code != "ConditionalCheckFailedException" {
		t.Errorf("recorded %+v", got)
	}
	if in, ok := got[1].Input.(*dynamodb.PutItemInput); !ok || aws.ToString(in.TableName) != "ledger" {
		t.Errorf("PutItem recorded input %#v", got[1].Input)
	}
}
