// Package start turns an S3 "Object Created" event for a release artifact
// into exactly one execution of the Release state machine, named after the
// artifact's identity so a duplicate delivery cannot start a second one.
package start

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Outcomes of a start.
const (
	Started   = "Started"
	Duplicate = "Duplicate"
)

// Result says what the start did.
type Result = release.StartResult

// ObjectCreated is the detail of an S3 "Object Created" EventBridge event.
type ObjectCreated struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key       string `json:"key"`
		Size      int64  `json:"size"`
		ETag      string `json:"etag"`
		VersionID string `json:"version-id"`
	} `json:"object"`
	Reason string `json:"reason"`
}

// Handler starts releases.
type Handler struct{ D *step.Deps }

// Start handles one event.
func (h Handler) Start(ctx context.Context, ev events.EventBridgeEvent) (Result, error) {
	if ev.Source != "aws.s3" || ev.DetailType != "Object Created" {
		return Result{}, release.EventInvalid{Cause: release.Causef("not an S3 Object Created event (source %q, detail-type %q)", ev.Source, ev.DetailType)}
	}
	var oc ObjectCreated
	if err := json.Unmarshal(ev.Detail, &oc); err != nil || oc.Bucket.Name == "" || oc.Object.Key == "" {
		return Result{}, release.EventInvalid{Cause: release.Causef("the event names no bucket and key: %s", ev.Detail)}
	}
	app := h.D.Env.App
	// A badly named key still starts an execution, so that Prepare can
	// reject it on record, with a notification, instead of it vanishing.
	version, err := release.VersionFromKey(h.D.Env.ArtifactPrefix, app, oc.Object.Key)
	if err != nil {
		version = "unknown"
	}
	id := release.ReleaseID(app, version, oc.Bucket.Name, oc.Object.Key, oc.Object.VersionID)
	now := h.D.Now().UTC()
	doc := release.Doc{
		ReleaseID: id, App: app, Version: version, StartedAt: now,
		Artifact: release.Artifact{Bucket: oc.Bucket.Name, Key: oc.Object.Key, VersionID: oc.Object.VersionID, Size: oc.Object.Size},
	}
	arn := h.D.ExecutionARN(id)
	led := h.D.Ledger()
	created, err := led.Create(ctx, ledger.Record{
		App: app, ReleaseID: id, Version: version, Kind: "release", Status: ledger.StatusStarting,
		StartedAt: now, Execution: arn, Artifact: artifactURI(doc.Artifact),
		Timeline: []ledger.Event{{At: now, Step: "Start", Detail: "artifact uploaded: " + artifactURI(doc.Artifact)}},
	})
	if err != nil {
		return Result{}, step.AWS("dynamodb:PutItem", id, err)
	}
	if !created {
		// Seen before. Either a duplicate delivery, or a start that died
		// between recording and starting: only the execution tells.
		_, err := h.D.AWS.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		switch {
		case err == nil:
			return h.duplicate(ctx, app, id, arn)
		case step.ErrorCode(err) != "ExecutionDoesNotExist":
			return Result{}, step.AWS("states:DescribeExecution", arn, err)
		}
	}
	input, err := json.Marshal(doc)
	if err != nil {
		return Result{}, err
	}
	out, err := h.D.AWS.SFN.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(h.D.Env.StateMachine),
		Name:            aws.String(id),
		Input:           aws.String(string(input)),
	})
	if step.ErrorCode(err) == "ExecutionAlreadyExists" {
		return h.duplicate(ctx, app, id, arn)
	}
	if err != nil {
		return Result{}, step.AWS("states:StartExecution", id, err)
	}
	h.D.Did(ctx, id, "states:StartExecution", "execution", aws.ToString(out.ExecutionArn), "artifact", artifactURI(doc.Artifact))
	return Result{Status: Started, ReleaseID: id, Execution: aws.ToString(out.ExecutionArn)}, nil
}

func (h Handler) duplicate(ctx context.Context, app, id, arn string) (Result, error) {
	err := h.D.Ledger().Update(ctx, app, id, ledger.Change{
		Add:   map[string]int{"duplicates": 1},
		Event: &ledger.Event{Step: "Start", Detail: "duplicate event ignored: the release already has an execution"},
	})
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return Result{}, step.AWS("dynamodb:UpdateItem", id, err)
	}
	h.D.Did(ctx, id, "duplicate-ignored", "execution", arn)
	return Result{Status: Duplicate, ReleaseID: id, Execution: arn}, nil
}

func artifactURI(a release.Artifact) string {
	u := fmt.Sprintf("s3://%s/%s", a.Bucket, a.Key)
	if a.VersionID != "" {
		u += "?versionId=" + a.VersionID
	}
	return strings.TrimSpace(u)
}
