// Package approval opens the manual approval: it stores the task token in
// the ledger (where `greenlight approve|reject` and the approval page find
// it) and notifies the operators with everything they need to decide, and
// signed links to answer from the notification (approval.links). The state machine then
// waits on the token until an answer or the approval timeout.
package approval

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/greenlight/greenlight/internal/approvallink"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/notify"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/step"
)

// Input is the release and the callback task's token.
type Input struct {
	Release release.Doc `json:"release"`
	Token   string      `json:"token"`
}

// Answer is what `greenlight approve` sends back as the task's output.
type Answer = release.Approval

// Handler opens approvals.
type Handler struct{ D *step.Deps }

// Open records the token and asks for a decision. It returns nothing: the
// task's result is the answer sent to the token.
func (h Handler) Open(ctx context.Context, in Input) (struct{}, error) {
	d := in.Release
	if in.Token == "" {
		return struct{}{}, release.StepFailed{Cause: "no task token: the approval task must pass $$.Task.Token"}
	}
	if err := d.Require(release.PartConfig, release.PartCandidate); err != nil {
		return struct{}{}, err
	}
	expires := h.D.Now().Add(d.Config.ApprovalTimeout.D()).UTC()
	set := map[string]any{"status": ledger.StatusAwaitingApproval, "token": in.Token, "tokenExpires": expires}
	if d.Artifact.UploadedBy != "" {
		set["uploadedBy"] = d.Artifact.UploadedBy
	}
	detail := "waiting for approval until " + expires.Format(time.RFC3339) + ": greenlight approve " + d.ReleaseID
	if d.Smoke != nil {
		// The smoke-test function may sit in the VPC with no path to the
		// ledger: its report is recorded here.
		set["smoke"] = d.Smoke
		detail = smokeSummary(*d.Smoke) + "; " + detail
	}
	err := h.D.Ledger().Update(ctx, d.App, d.ReleaseID, ledger.Change{
		Set:   set,
		Event: &ledger.Event{Step: release.StateAwaitApproval, Detail: detail},
	})
	if err != nil {
		return struct{}{}, step.AWS("dynamodb:UpdateItem", d.ReleaseID, err)
	}
	links, err := h.links(ctx, d, expires)
	if err != nil {
		return struct{}{}, err
	}
	msg := notify.AwaitingApproval(d, d.Smoke, expires, h.D.Env.Region, links)
	if err := h.D.Publisher().Publish(ctx, msg); err != nil {
		return struct{}{}, step.AWS("sns:Publish", h.D.Env.Topic, err)
	}
	// The token is a credential: it is stored, never logged.
	h.D.Did(ctx, d.ReleaseID, "approval-requested", "expires", expires.Format(time.RFC3339))
	return struct{}{}, nil
}

// links signs the approve and reject links the notification carries,
// valid until the approval's deadline; none when approval.links is off.
func (h Handler) links(ctx context.Context, d release.Doc, expires time.Time) (*notify.Links, error) {
	if !d.Config.ApprovalLinks() {
		return nil, nil
	}
	if h.D.Env.ApprovalURL == "" {
		return nil, release.StepFailed{Cause: "approval.links is on but the function has no " + step.VarApprovalURL + ": redeploy the stack (make deploy) with this config"}
	}
	key, err := h.D.LinkKey(ctx)
	if err != nil {
		return nil, err
	}
	link := func(action string) string {
		return approvallink.URL(key, h.D.Env.ApprovalURL, approvallink.Link{App: d.App, ReleaseID: d.ReleaseID, Action: action, Expires: expires})
	}
	return &notify.Links{Approve: link(approvallink.Approve), Reject: link(approvallink.Reject)}, nil
}

// smokeSummary words a smoke-test report in one line; a fleet's names
// the candidates that failed.
func smokeSummary(r release.Report) string {
	if len(r.Instances) == 0 {
		passed, total := countPassed(r.Checks)
		return fmt.Sprintf("smoke tests: %d of %d checks passed against %s", passed, total, r.Target)
	}
	var checks, passedChecks int
	var failed []string
	for _, ir := range r.Instances {
		p, n := countPassed(ir.Checks)
		passedChecks, checks = passedChecks+p, checks+n
		if !ir.Passed {
			failed = append(failed, ir.InstanceID)
		}
	}
	s := fmt.Sprintf("smoke tests: %d of %d candidates passed (%d of %d checks)", len(r.Instances)-len(failed), len(r.Instances), passedChecks, checks)
	if len(failed) > 0 {
		s += ", failed on " + strings.Join(failed, ", ")
	}
	return s
}

func countPassed(checks []release.CheckResult) (passed, total int) {
	for _, c := range checks {
		if c.Passed {
			passed++
		}
	}
	return passed, len(checks)
}
