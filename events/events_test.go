package events

import (
	"encoding/json"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

func TestSamplesAreValidJSON(t *testing.T) {
	for _, name := range []string{ObjectCreatedFile, RetireScheduleFile, DailySweepFile, ExecutionStatusFile, ApprovalPageFile} {
		b, err := Sample(name)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Errorf("%s is not valid JSON", name)
		}
	}
	if _, err := Sample("nope.json"); err == nil {
		t.Error("want an error for an unknown sample")
	}
}

func TestObjectCreatedDecodesAsEventBridgeEvent(t *testing.T) {
	b, err := ObjectCreated("bkt", "releases/shop-2.0.0.tar.gz", "v1", 42, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var ev lambdaevents.EventBridgeEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Bucket struct{ Name string }
		Object struct {
			Key       string
			Size      int64
			VersionID string `json:"version-id"`
		}
	}
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		t.Fatal(err)
	}
	if ev.Source != "aws.s3" || ev.DetailType != "Object Created" || d.Bucket.Name != "bkt" || d.Object.Key != "releases/shop-2.0.0.tar.gz" || d.Object.Size != 42 || d.Object.VersionID != "v1" {
		t.Errorf("event %+v detail %+v", ev, d)
	}
}

func TestExecutionStatusChangeDecodesAsEventBridgeEvent(t *testing.T) {
	arn := "arn:aws:states:eu-west-1:123456789012:execution:greenlight-shop-release:shop-2-0-0-0123456789"
	b, err := ExecutionStatusChange(arn, "arn:aws:states:eu-west-1:123456789012:stateMachine:greenlight-shop-release", "shop-2-0-0-0123456789", "TIMED_OUT",
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var ev lambdaevents.EventBridgeEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	var d struct{ ExecutionArn, Name, Status string }
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		t.Fatal(err)
	}
	if ev.Source != "aws.states" || ev.DetailType != "Step Functions Execution Status Change" || d.ExecutionArn != arn || d.Name != "shop-2-0-0-0123456789" || d.Status != "TIMED_OUT" {
		t.Errorf("event %+v detail %+v", ev, d)
	}
}

func TestApprovalPageSampleDecodesAsAFunctionURLRequest(t *testing.T) {
	b, err := Sample(ApprovalPageFile)
	if err != nil {
		t.Fatal(err)
	}
	var req lambdaevents.LambdaFunctionURLRequest
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	if req.RequestContext.HTTP.Method != "GET" || req.RequestContext.HTTP.SourceIP == "" || req.QueryStringParameters["release"] == "" || req.RawQueryString == "" {
		t.Errorf("request %+v", req)
	}
}
