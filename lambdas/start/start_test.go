package start

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/greenlight/greenlight/events"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
	"github.com/greenlight/greenlight/lambdas/prepare"
)

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

func newEnv(t *testing.T) (*steptest.Env, Handler) {
	t.Helper()
	e := steptest.New(t, "start", sim.Options{})
	return e, Handler{D: e.Deps}
}

// objectCreated is the event EventBridge delivers for an upload, from the
// sample the stack's rule matches.
func objectCreated(t *testing.T, e *steptest.Env, key, versionID string, size int64) awsevents.EventBridgeEvent {
	t.Helper()
	b, err := events.ObjectCreated(e.Fixture.Bucket, key, versionID, size, e.Region.Now())
	if err != nil {
		t.Fatal(err)
	}
	var ev awsevents.EventBridgeEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// upload puts a sample release in the bucket and returns its event.
func upload(t *testing.T, e *steptest.Env, version string) awsevents.EventBridgeEvent {
	t.Helper()
	body, err := artifact.Sample("shop", version)
	if err != nil {
		t.Fatal(err)
	}
	vid := e.Upload(t, e.Key(version), body, "")
	return objectCreated(t, e, e.Key(version), vid, int64(len(body)))
}

func executions(e *steptest.Env) []sim.Execution { return e.Region.Executions() }

// TestStartStartsOneExecution: an upload starts one execution, named
// after the artifact's identity, with the release document as input, and
// the release is on record in the ledger.
func TestStartStartsOneExecution(t *testing.T) {
	e, h := newEnv(t)
	ev := upload(t, e, "2.0.0")
	var oc ObjectCreated
	if err := json.Unmarshal(ev.Detail, &oc); err != nil {
		t.Fatal(err)
	}
	at := e.Region.Now()
	res, err := h.Start(e.Ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	id := release.ReleaseID("shop", "2.0.0", e.Fixture.Bucket, e.Key("2.0.0"), oc.Object.VersionID)
	arn := steptest.ExecutionARN(e.Fixture.StateMachineARN, id)
	if res != (Result{Status: Started, ReleaseID: id, Execution: arn}) {
		t.Fatalf("result %+v, want started %s", res, id)
	}
	ex := executions(e)
	if len(ex) != 1 || ex[0].Name != id || ex[0].ARN != arn || ex[0].StateMachineARN != e.Fixture.StateMachineARN || ex[0].Status != sfntypes.ExecutionStatusRunning {
		t.Fatalf("executions %+v", ex)
	}
	var d release.Doc
	if err := json.Unmarshal([]byte(ex[0].Input), &d); err != nil {
		t.Fatal(err)
	}
	want := release.Artifact{Bucket: e.Fixture.Bucket, Key: e.Key("2.0.0"), VersionID: oc.Object.VersionID, Size: oc.Object.Size}
	if d.ReleaseID != id || d.App != "shop" || d.Version != "2.0.0" || d.Artifact != want || !d.StartedAt.Equal(at) {
		t.Errorf("execution input %+v", d)
	}
	rec := e.Get(t, id)
	if rec.Status != ledger.StatusStarting || rec.Kind != release.KindRelease || rec.Version != "2.0.0" || rec.Execution != arn ||
		rec.Artifact != "s3://"+e.Fixture.Bucket+"/"+e.Key("2.0.0")+"?versionId="+oc.Object.VersionID || rec.Duplicates != 0 {
		t.Errorf("ledger record %+v", rec)
	}
	if len(rec.Timeline) != 1 || rec.Timeline[0].Step != "Start" {
		t.Errorf("timeline %+v", rec.Timeline)
	}
}

// TestStartIgnoresDuplicateDeliveries: EventBridge delivers at least once.
// Every later delivery of the same upload, at once or much later, finds
// the release and starts nothing; it is counted on the record.
func TestStartIgnoresDuplicateDeliveries(t *testing.T) {
	e, h := newEnv(t)
	ev := upload(t, e, "2.0.0")
	first, err := h.Start(e.Ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	for n, wait := range []time.Duration{0, 90 * time.Second, 3 * time.Hour} {
		e.Region.Advance(e.Test, wait)
		again := ev
		again.Time = e.Region.Now()
		res, err := h.Start(e.Ctx, again)
		if err != nil {
			t.Fatal(err)
		}
		if res != (Result{Status: Duplicate, ReleaseID: first.ReleaseID, Execution: first.Execution}) {
			t.Fatalf("delivery %d: %+v, want the duplicate of %+v", n+2, res, first)
		}
		if ex := executions(e); len(ex) != 1 {
			t.Fatalf("delivery %d started a second execution: %+v", n+2, ex)
		}
		rec := e.Get(t, first.ReleaseID)
		if rec.Duplicates != n+1 || rec.Status != ledger.StatusStarting {
			t.Errorf("delivery %d: record counts %d duplicates, status %s", n+2, rec.Duplicates, rec.Status)
		}
		if last := rec.Timeline[len(rec.Timeline)-1]; !strings.Contains(last.Detail, "duplicate event ignored") {
			t.Errorf("timeline %+v", rec.Timeline)
		}
	}
	// The same delivered when the execution has ended: still a duplicate.
	if err := e.Region.FinishExecution(first.Execution, sfntypes.ExecutionStatusSucceeded, "{}", "", ""); err != nil {
		t.Fatal(err)
	}
	if res, err := h.Start(e.Ctx, ev); err != nil || res.Status != Duplicate || len(executions(e)) != 1 {
		t.Fatalf("after the execution ended: %+v %v, %d executions", res, err, len(executions(e)))
	}
}

// TestStartTellsAReuploadFromADuplicate: the same key uploaded again is a
// new object version, so a new release with an execution of its own.
func TestStartTellsAReuploadFromADuplicate(t *testing.T) {
	e, h := newEnv(t)
	a, err := h.Start(e.Ctx, upload(t, e, "2.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	e.Region.Advance(e.Test, time.Minute)
	b, err := h.Start(e.Ctx, upload(t, e, "2.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != Started || b.ReleaseID == a.ReleaseID || len(executions(e)) != 2 {
		t.Fatalf("re-upload: %+v after %+v, %d executions", b, a, len(executions(e)))
	}
}

// TestStartFinishesAStartThatDied: a start that recorded the release but
// died before StartExecution (here: Step Functions failed) is finished by
// the redelivery: the record exists but no execution, so it starts one.
func TestStartFinishesAStartThatDied(t *testing.T) {
	e, h := newEnv(t)
	ev := upload(t, e, "2.0.0")
	e.Region.Inject(sim.Fault{Service: sim.ServiceSFN, Operation: "StartExecution", Code: "InternalError"})
	_, err := h.Start(e.Ctx, ev)
	if release.ErrorName(err) != "Throttled" {
		t.Fatalf("%T %v, want Throttled (EventBridge and Lambda retry it)", err, err)
	}
	if len(executions(e)) != 0 {
		t.Fatalf("executions %+v", executions(e))
	}
	res, err := h.Start(e.Ctx, ev)
	if err != nil || res.Status != Started {
		t.Fatalf("redelivered: %+v %v, want started", res, err)
	}
	if ex := executions(e); len(ex) != 1 || ex[0].Name != res.ReleaseID {
		t.Fatalf("executions %+v", ex)
	}
	if rec := e.Get(t, res.ReleaseID); rec.Duplicates != 0 {
		t.Errorf("the retried start was counted as a duplicate: %+v", rec)
	}
}

// TestStartRefusesWhatIsNotAnUpload: events that are not an S3 Object
// Created naming a bucket and key are EventInvalid, and nothing is
// recorded or started.
func TestStartRefusesWhatIsNotAnUpload(t *testing.T) {
	e, h := newEnv(t)
	sweep, err := events.Sample(events.DailySweepFile)
	if err != nil {
		t.Fatal(err)
	}
	var scheduled awsevents.EventBridgeEvent
	if err := json.Unmarshal(sweep, &scheduled); err != nil {
		t.Fatal(err)
	}
	good := objectCreated(t, e, e.Key("2.0.0"), "v1", 100)
	deleted := good
	deleted.DetailType = "Object Deleted"
	noKey := good
	noKey.Detail = json.RawMessage(`{"bucket": {"name": "greenlight-shop-releases"}, "object": {}}`)
	garbage := good
	garbage.Detail = json.RawMessage(`"not an object"`)
	for name, ev := range map[string]awsevents.EventBridgeEvent{"scheduled event": scheduled, "object deleted": deleted, "no key": noKey, "garbage detail": garbage} {
		_, err := h.Start(e.Ctx, ev)
		var ei release.EventInvalid
		if !errors.As(err, &ei) {
			t.Errorf("%s: %T %v, want EventInvalid", name, err, err)
		}
	}
	if len(executions(e)) != 0 {
		t.Errorf("executions %+v", executions(e))
	}
	if h, err := e.Ledger.History(e.Test, "shop"); err != nil || len(h) != 0 {
		t.Errorf("ledger history %+v %v", h, err)
	}
}

// TestStartKeyOutsideThePrefix: the stack's rule only sends keys under
// the artifact prefix, but one that arrives anyway (a hand-made event) is
// not dropped in silence: it starts a release of version "unknown", on
// record, which Prepare then refuses naming the prefix. The release never
// takes the lock.
func TestStartKeyOutsideThePrefix(t *testing.T) {
	e, h := newEnv(t)
	body, err := artifact.Sample("shop", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	const key = "uploads/shop-2.0.0.tar.gz"
	vid := e.Upload(t, key, body, "")
	res, err := h.Start(e.Ctx, objectCreated(t, e, key, vid, int64(len(body))))
	if err != nil || res.Status != Started {
		t.Fatalf("%+v %v", res, err)
	}
	rec := e.Get(t, res.ReleaseID)
	if rec.Version != "unknown" || !strings.Contains(rec.Artifact, key) {
		t.Errorf("ledger record %+v", rec)
	}
	ex := executions(e)
	if len(ex) != 1 {
		t.Fatalf("executions %+v", ex)
	}
	var d release.Doc
	if err := json.Unmarshal([]byte(ex[0].Input), &d); err != nil {
		t.Fatal(err)
	}
	cfg := steptest.ConfigJSON(t, e.Config())
	p := prepare.Handler{D: e.Deps}
	_, err = p.Prepare(e.Ctx, prepare.Input{Release: d, Config: cfg, Execution: ex[0].ARN})
	var ei release.EventInvalid
	if !errors.As(err, &ei) || !strings.Contains(err.Error(), `key "uploads/shop-2.0.0.tar.gz" is not under the artifact prefix "releases/"`) {
		t.Fatalf("prepare: %v, want EventInvalid naming the prefix", err)
	}
	if holder := e.Lock(t); holder != "" {
		t.Errorf("lock held by %s", holder)
	}
}

// TestStartLosesTheRaceToAConcurrentDelivery: two deliveries run at once;
// the second finds the record but looks for the execution just before the
// first starts it, so it tries to start it too. Step Functions refuses the
// name (its input differs: it started later), and the second is a
// duplicate, not a failure and not a second execution.
func TestStartLosesTheRaceToAConcurrentDelivery(t *testing.T) {
	e, h := newEnv(t)
	ev := upload(t, e, "2.0.0")
	first, err := h.Start(e.Ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	e.Region.Advance(e.Test, time.Second)
	e.Region.Inject(sim.Fault{Service: sim.ServiceSFN, Operation: "DescribeExecution", Code: "ExecutionDoesNotExist", Message: "Execution Does Not Exist: '" + first.Execution + "'"})
	res, err := h.Start(e.Ctx, ev)
	if err != nil || res.Status != Duplicate || res.ReleaseID != first.ReleaseID {
		t.Fatalf("%+v %v, want a duplicate of %s", res, err, first.ReleaseID)
	}
	if len(executions(e)) != 1 || e.Get(t, first.ReleaseID).Duplicates != 1 {
		t.Errorf("executions %d, duplicates %d", len(executions(e)), e.Get(t, first.ReleaseID).Duplicates)
	}
}

// TestStartKeyTheDeployCannotTake: a key with a space, or as an S3 event
// may deliver it URL-encoded, names a version the deploy document would
// refuse after a candidate was launched; Prepare refuses it first, naming
// the rule, and nothing is created.
func TestStartKeyTheDeployCannotTake(t *testing.T) {
	for _, key := range []string{"releases/shop-2.0 beta.tar.gz", "releases/shop-2.0%2Bbuild.tar.gz"} {
		t.Run(key, func(t *testing.T) {
			e, h := newEnv(t)
			body, err := artifact.Sample("shop", "2.0.0")
			if err != nil {
				t.Fatal(err)
			}
			vid := e.Upload(t, key, body, "")
			res, err := h.Start(e.Ctx, objectCreated(t, e, key, vid, int64(len(body))))
			if err != nil || res.Status != Started {
				t.Fatalf("%+v %v", res, err)
			}
			ex := executions(e)
			var d release.Doc
			if err := json.Unmarshal([]byte(ex[0].Input), &d); err != nil {
				t.Fatal(err)
			}
			before := e.Inventory()
			_, err = prepare.Handler{D: e.Deps}.Prepare(e.Ctx, prepare.Input{Release: d, Config: steptest.ConfigJSON(t, e.Config()), Execution: ex[0].ARN})
			var ei release.EventInvalid
			if !errors.As(err, &ei) || !strings.Contains(err.Error(), "a version has 1 to 64 letters, digits") {
				t.Fatalf("prepare: %v, want EventInvalid naming the version rule", err)
			}
			if after := e.Inventory(); len(after) != len(before) {
				t.Errorf("prepare created something: %v", after)
			}
		})
	}
}
