package reject

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/internal/steptest"
)

func TestMain(m *testing.M) { os.Exit(steptest.Main(m)) }

const other = "shop-1-9-0-aaaaaaaaaa"

// scene is a release Prepare refused, with its ledger record; when busy,
// another release holds the lock.
func scene(t *testing.T, busy bool) (*steptest.Env, Handler, release.Doc) {
	t.Helper()
	e := steptest.New(t, "reject", sim.Options{})
	body, err := artifact.Sample("shop", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	d := e.Doc(t, "2.0.0", "v2", body, e.Config())
	e.Record(t, d)
	if busy {
		if err := e.Ledger.Acquire(e.Test, "shop", other); err != nil {
			t.Fatal(err)
		}
	}
	e.Region.Advance(e.Test, 3*time.Second)
	return e, Handler{D: e.Deps}, d
}

// lambdaCause is how Step Functions records a Lambda's error as a Catch's
// Cause: the function's whole error document.
func lambdaCause(errType, msg string) string {
	return `{"errorMessage":"` + msg + `","errorType":"` + errType + `"}`
}

// TestRejectRecordsWhy: the ledger says Rejected with the reason in
// words, the operators are told, and the lock is left as it was.
func TestRejectRecordsWhy(t *testing.T) {
	cases := []struct {
		name    string
		failure *release.Failure
		busy    bool
		// errName and reason are what must be recorded and told.
		errName, reason, advice string
	}{
		{
			name:    "artifact invalid",
			failure: &release.Failure{Error: "ArtifactInvalid", Cause: lambdaCause("ArtifactInvalid", "s3://greenlight-shop-releases/releases/shop-2.0.0.tar.gz: checksum mismatch")},
			errName: "ArtifactInvalid", reason: "s3://greenlight-shop-releases/releases/shop-2.0.0.tar.gz: checksum mismatch",
			advice: "greenlight release FILE",
		},
		{
			name:    "another release in progress",
			failure: &release.Failure{Error: "ReleaseInProgress", Cause: lambdaCause("ReleaseInProgress", "release "+other+" of shop is in progress")},
			busy:    true,
			errName: "ReleaseInProgress", reason: "release " + other + " of shop is in progress",
			advice: "Upload the artifact again once the release in progress has ended",
		},
		{
			name:    "a plain cause",
			failure: &release.Failure{Error: "States.Timeout", Cause: "prepare timed out"},
			errName: "States.Timeout", reason: "prepare timed out", advice: "greenlight release FILE",
		},
		{
			name:    "no failure recorded",
			errName: "Rejected", reason: "Rejected", advice: "greenlight release FILE",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, h, d := scene(t, c.busy)
			d.Failure = c.failure
			before := e.Inventory()
			res, err := h.Record(e.Ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if res != (Result{Error: c.errName, Reason: c.reason, Cause: c.errName + ": " + c.reason}) {
				t.Errorf("result %+v", res)
			}
			rec := e.Get(t, d.ReleaseID)
			if rec.Status != ledger.StatusRejected || rec.Failure != c.errName+": "+c.reason || !rec.EndedAt.Equal(e.Region.Now()) {
				t.Errorf("ledger record: status %s, failure %q, ended %s", rec.Status, rec.Failure, rec.EndedAt)
			}
			if last := rec.Timeline[len(rec.Timeline)-1]; last.Step != "Rejected" || last.Detail != c.errName+": "+c.reason {
				t.Errorf("timeline %+v", rec.Timeline)
			}
			msgs := e.Messages("rejected")
			if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "refused: "+c.errName) || !strings.Contains(flat(msgs[0].Body), c.reason) ||
				!strings.Contains(msgs[0].Body, c.advice) || !strings.Contains(msgs[0].Body, "The live instance was not touched") {
				t.Errorf("rejection notifications: %+v", e.Messages(""))
			}
			want := ""
			if c.busy {
				want = other
			}
			if holder := e.Lock(t); holder != want {
				t.Errorf("lock held by %q, want %q", holder, want)
			}
			if after := e.Inventory(); !slices.Equal(after, before) {
				t.Errorf("AWS changed: %v → %v", before, after)
			}
		})
	}
}

// flat is a message body with its wrapping undone.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestRejectTellsEvenWhenTheLedgerFails: the operators hear of the
// rejection although the ledger refused the record; the step fails with
// the ledger's error so the state machine knows it was not recorded.
func TestRejectTellsEvenWhenTheLedgerFails(t *testing.T) {
	e, h, d := scene(t, false)
	d.Failure = &release.Failure{Error: "LiveNotFound", Cause: lambdaCause("LiveNotFound", "Elastic IP is not associated")}
	e.Region.Inject(sim.Fault{Service: sim.ServiceDynamoDB, Operation: "UpdateItem", Code: "AccessDeniedException", Message: "not authorized to perform: dynamodb:UpdateItem"})
	_, err := h.Record(e.Ctx, d)
	if release.ErrorName(err) != "AWSError" || !strings.Contains(err.Error(), "dynamodb:UpdateItem") {
		t.Fatalf("%T %v, want the ledger's AWSError", err, err)
	}
	if msgs := e.Messages("rejected"); len(msgs) != 1 || !strings.Contains(flat(msgs[0].Body), "Elastic IP is not associated") {
		t.Errorf("notifications %+v", e.Messages(""))
	}
	if rec := e.Get(t, d.ReleaseID); rec.Status != ledger.StatusStarting {
		t.Errorf("status %s", rec.Status)
	}

	// And the other way round: recorded, but SNS refused.
	e2, h2, d2 := scene(t, false)
	e2.Region.Inject(sim.Fault{Service: sim.ServiceSNS, Operation: "Publish", Code: "AuthorizationError"})
	_, err = h2.Record(e2.Ctx, d2)
	if release.ErrorName(err) != "AWSError" || !strings.Contains(err.Error(), "sns:Publish") {
		t.Fatalf("%T %v, want the notification's AWSError", err, err)
	}
	if rec := e2.Get(t, d2.ReleaseID); rec.Status != ledger.StatusRejected {
		t.Errorf("status %s, want Rejected", rec.Status)
	}
}
