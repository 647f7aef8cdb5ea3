package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/internal/answer"
	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
)

func newApprove() *cobra.Command { return newAnswer(true) }
func newReject() *cobra.Command  { return newAnswer(false) }

func newAnswer(approve bool) *cobra.Command {
	var f targetFlags
	var reason string
	verb, short := "approve", "Approve the release waiting for approval: traffic moves to the candidate"
	intro := `approve answers the approval of the release that waits for it (RELEASE, or
the only one pending) and approves it: the Elastic IP moves to the
candidate (behind a load balancer, traffic shifts to it step by step), the
public endpoint is verified for the bake time, and the previous instance
is kept for rollback.`
	reasonHelp := "why, recorded with the approval"
	if !approve {
		verb, short = "reject", "Reject the release waiting for approval: the candidate is terminated"
		intro = `reject answers the approval of the release that waits for it (RELEASE, or
the only one pending) and rejects it: the candidate is terminated and the
live instance keeps serving, as if the release had never started.`
		reasonHelp = "why, recorded with the rejection and sent in the rollback's notification"
	}
	cmd := &cobra.Command{
		Use:   verb + " [RELEASE]",
		Short: short,
		Long: intro + `

The answer is recorded with who gave it: the caller's AWS identity (ARN),
or "$USER (local)" on the local engine. It refuses, naming what is pending
instead, when nothing waits for approval, when RELEASE is not the release
that waits, when more than one waits and none is named, and when the
approval has timed out (no answer by the deadline counts as a rejection).
The task token it answers with is read from the ledger and never shown.

Exit codes: 0 answered; 3 invalid config; 4 AWS, the stack or the local
engine could not be reached, or you may not answer; 5 nothing to answer
(nothing pending, another release pending, timed out).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			b, err := f.open(ctx)
			if err != nil {
				return err
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			now := b.Now(ctx)
			r, err := pendingRelease(ctx, b, verb, id, now)
			if err != nil {
				return err
			}
			who, err := b.Who(ctx)
			if err != nil {
				return err
			}
			answer := "approved"
			if !approve {
				answer = "rejected"
			}
			ans := answerView{ReleaseID: r.ReleaseID, Version: r.Version, Answer: answer, By: who, Reason: reason, At: now,
				Follow: "greenlight status " + r.ReleaseID + b.Hint + " --watch"}
			if err := sendAnswer(ctx, b, r, approve, ans, now); err != nil {
				return err
			}
			// The token is spent: nobody should see this approval as
			// pending while the workflow moves on.
			if err := b.Ledger.ClearToken(ctx, b.App, r.ReleaseID, r.Token); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: the answer was taken, but the ledger still shows the approval pending until the release moves on (%s)\n", scrub(err, r.Token))
			}
			if f.json {
				return writeJSON(cmd.OutOrStdout(), ans)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s %s (%s %s) as %s", ans.Answer, r.ReleaseID, r.App, r.Version, who)
			if reason != "" {
				fmt.Fprintf(w, ": %s", reason)
			}
			fmt.Fprintln(w)
			switch {
			case approve && r.TrafficMode == release.TrafficALB:
				fmt.Fprintf(w, "  next: %s is registered behind the load balancer, then traffic shifts to it step by step (greenlight promote skips ahead, greenlight abort stops it)\n", dash(r.CandidateInstance))
			case approve:
				fmt.Fprintf(w, "  next: the Elastic IP moves to %s, then the public endpoint is verified\n", dash(r.CandidateInstance))
			default:
				fmt.Fprintf(w, "  next: candidate %s is terminated; %s keeps serving\n", dash(r.CandidateInstance), dash(r.LiveInstance))
			}
			fmt.Fprintf(w, "  follow it: %s\n", ans.Follow)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", reasonHelp)
	return cmd
}

// answerView is what approve and reject print with --json.
type answerView struct {
	ReleaseID string    `json:"releaseId"`
	Version   string    `json:"version"`
	Answer    string    `json:"answer"` // approved or rejected
	By        string    `json:"by"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
	Follow    string    `json:"follow"`
}

// pendingRelease finds the release an approve or reject is meant for, or
// says why there is none.
func pendingRelease(ctx context.Context, b *backend, verb, id string, now time.Time) (ledger.Record, error) {
	recs, err := b.Ledger.History(ctx, b.App)
	if err != nil {
		return ledger.Record{}, ledgerError(b, err)
	}
	var waiting []ledger.Record
	for _, r := range recs {
		if p, _ := approvalState(r, now); p {
			waiting = append(waiting, r)
		}
	}
	nothing := func(format string, args ...any) error { return withCode(exitPending, fmt.Errorf(format, args...)) }
	if id != "" {
		var r *ledger.Record
		for i := range recs {
			if recs[i].ReleaseID == id {
				r = &recs[i]
			}
		}
		if r == nil {
			return ledger.Record{}, nothing("no release %s of %s in %s: `greenlight history%s` lists them", id, b.App, b.Where, b.Hint)
		}
		if p, expired := approvalState(*r, now); p {
			return *r, nil
		} else if expired {
			return *r, nothing("the approval of %s timed out at %s; it is being rolled back (upload it again to retry)", id, stamp(r.TokenExpires))
		}
		why := notWaiting(*r)
		if len(waiting) > 0 {
			return *r, nothing("%s is not waiting for approval (it %s); %s is:\n  greenlight %s %s%s", id, why, waiting[0].ReleaseID, verb, waiting[0].ReleaseID, b.Hint)
		}
		return *r, nothing("%s is not waiting for approval (it %s): nothing to %s", id, why, verb)
	}
	switch len(waiting) {
	case 1:
		return waiting[0], nil
	case 0:
		msg := fmt.Sprintf("nothing is waiting for approval in %s (%s)", b.App, b.Where)
		if len(recs) > 0 {
			r := recs[0]
			if _, expired := approvalState(r, now); expired {
				msg += fmt.Sprintf(": the approval of %s timed out at %s; it is being rolled back", r.ReleaseID, stamp(r.TokenExpires))
			} else {
				msg += fmt.Sprintf(": the newest release, %s, %s", r.ReleaseID, notWaiting(r))
			}
		}
		return ledger.Record{}, nothing("%s", msg)
	}
	var lines []string
	for _, r := range waiting {
		lines = append(lines, fmt.Sprintf("  greenlight %s %s%s", verb, r.ReleaseID, b.Hint))
	}
	return ledger.Record{}, nothing("%d releases of %s wait for approval; name the one you mean:\n%s", len(waiting), b.App, strings.Join(lines, "\n"))
}

// notWaiting says where a release is, for a refusal: "<release> ...".
func notWaiting(r ledger.Record) string {
	switch {
	case r.Status == ledger.StatusReleased:
		return "was released"
	case ledger.Terminal(r.Status) && strings.HasPrefix(r.Failure, "States.Timeout"):
		return "ended " + r.Status + " after its approval timed out"
	case r.Status == ledger.StatusRollingBack && strings.HasPrefix(r.Failure, "States.Timeout"):
		return "is rolling back: its approval timed out"
	case r.Status == ledger.StatusRollingBack:
		return "is rolling back (" + r.Failure + ")"
	case ledger.Terminal(r.Status):
		return "ended " + r.Status
	case r.Status == ledger.StatusAwaitingApproval:
		return "was answered and is moving on"
	}
	return "is " + r.Status + ", before its approval"
}

// sendAnswer answers the task token the release's approval step stored,
// once the ledger has taken the answer as the one that stands (an
// approval link may have answered first). The token is a credential: it
// goes to Step Functions and nowhere else, and any error that might quote
// it is scrubbed.
func sendAnswer(ctx context.Context, b *backend, r ledger.Record, approve bool, ans answerView, now time.Time) error {
	claim := ledger.Answer{Approved: approve, By: ans.By, Via: ledger.AnswerViaCLI, At: ans.At, Reason: ans.Reason}
	won, err := b.Ledger.ClaimAnswer(ctx, b.App, r.ReleaseID, r.Token, claim)
	if err != nil {
		return ledgerError(b, err)
	}
	if !won {
		if cur, gerr := b.Ledger.Get(ctx, b.App, r.ReleaseID); gerr == nil && cur.Answer != nil {
			return withCode(exitPending, fmt.Errorf("the approval of %s was answered already: %s", r.ReleaseID, cur.Answer.String()))
		}
		return withCode(exitPending, fmt.Errorf("%s no longer waits for approval (it moved on while you answered): greenlight status %s%s", r.ReleaseID, r.ReleaseID, b.Hint))
	}
	err = answer.Send(ctx, b.SFN, r.Token, release.Approval{Approved: approve, By: ans.By, Reason: ans.Reason, At: ans.At})
	if err == nil {
		return nil
	}
	// Step Functions did not take it: the ledger must not say it did.
	if derr := b.Ledger.DropClaim(ctx, b.App, r.ReleaseID, claim); derr != nil {
		err = errors.Join(err, fmt.Errorf("and the ledger still records the answer: %w", derr))
	}
	err = scrub(err, r.Token)
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "TaskTimedOut":
			// Step Functions says so for a token that timed out and for
			// one that was answered already.
			if !r.TokenExpires.IsZero() && !now.Before(r.TokenExpires) {
				return withCode(exitPending, fmt.Errorf("the approval of %s timed out before your answer arrived; it is being rolled back", r.ReleaseID))
			}
			return withCode(exitPending, fmt.Errorf("the approval of %s was answered already (or its task ended): greenlight status %s%s", r.ReleaseID, r.ReleaseID, b.Hint))
		case "InvalidToken", "TaskDoesNotExist":
			return withCode(exitPending, fmt.Errorf("%s no longer waits for approval (its approval task has ended): greenlight status %s%s", r.ReleaseID, r.ReleaseID, b.Hint))
		}
	}
	if ae != nil && (badCredentials[ae.ErrorCode()] || accessDenied[ae.ErrorCode()]) {
		action := "states:SendTaskFailure"
		if approve {
			action = "states:SendTaskSuccess"
		}
		return awsError("answer the approval of "+r.ReleaseID, action, err, nil)
	}
	return withCode(exitAWS, fmt.Errorf("answer the approval of %s: %s", r.ReleaseID, err.Error()))
}

// scrub keeps a task token out of an error's text.
func scrub(err error, token string) error {
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), token, "<task token>"), err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }
