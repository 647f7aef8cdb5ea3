package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
)

// AbortedError is the error an abort sends to a waiting approval task (the
// steps' own error for an abort); the state machine rolls the release back
// on it, as on any failure.
var AbortedError = release.Name(release.Aborted{})

// requestView is what abort and promote print with --json.
type requestView struct {
	ReleaseID string    `json:"releaseId"`
	Version   string    `json:"version"`
	Request   string    `json:"request"` // abort or promote
	By        string    `json:"by"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
	Follow    string    `json:"follow"`
}

func newAbort() *cobra.Command {
	var f targetFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "abort [RELEASE]",
		Short: "Stop the running release and roll it back",
		Long: `abort stops the release that runs (RELEASE, or the only one running) and
rolls it back: the live side keeps or gets back all the traffic, and what
the release made is removed. It works at any point before the release
ends, in both traffic modes.

The request is recorded in the ledger with who asked and why; the running
step sees it at its next look (every poll loop reads it: the candidate's
checks, the deploy, the load balancer's registration and each traffic
step, the bake), fails with Aborted, and the compensating rollback runs.
A release waiting for approval is answered at once, as a rejection would
be. A one-shot step that is running finishes first, and so does a data
cutover under way; the next loop sees the abort.

Exit codes: 0 requested; 3 invalid config; 4 AWS, the stack or the local
engine could not be reached; 5 nothing to abort (nothing running, rolling
back already, or aborted already).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return request(cmd, &f, args, ledger.FieldAbort, reason)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the abort and sent in the rollback's notification")
	return cmd
}

func newPromote() *cobra.Command {
	var f targetFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "promote [RELEASE]",
		Short: "Skip the remaining traffic steps: all traffic to the new version now",
		Long: `promote tells the release that shifts traffic through the load balancer
(RELEASE, or the only one running) to skip its remaining steps: its next
pass sends all traffic to the new version, which is then verified for the
bake time as the last step always is. It is recorded in the ledger with
who asked.

It applies while traffic moves step by step (traffic.mode alb, after the
approval); an Elastic IP moves all traffic at once, so there is nothing to
promote there.

Exit codes: 0 requested; 3 invalid config; 4 AWS, the stack or the local
engine could not be reached; 5 nothing to promote (nothing shifting, or
promoted already).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return request(cmd, &f, args, ledger.FieldPromote, reason)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the promotion")
	return cmd
}

// request records an abort or a promote on the running release.
func request(cmd *cobra.Command, f *targetFlags, args []string, field, reason string) error {
	ctx := cmd.Context()
	b, err := f.open(ctx)
	if err != nil {
		return err
	}
	verb := "abort"
	if field == ledger.FieldPromote {
		verb = "promote"
	}
	id := ""
	if len(args) == 1 {
		id = args[0]
	}
	r, err := runningRelease(ctx, b, verb, id)
	if err != nil {
		return err
	}
	nothing := func(format string, a ...any) error { return withCode(exitPending, fmt.Errorf(format, a...)) }
	switch {
	case r.Status == ledger.StatusRollingBack:
		return nothing("%s is rolling back already (%s)", r.ReleaseID, r.Failure)
	case field == ledger.FieldPromote && r.Traffic == nil:
		return nothing("%s is not shifting traffic (it is %s): promote applies while traffic moves step by step through the load balancer (traffic.mode alb), after the approval", r.ReleaseID, r.Status)
	case field == ledger.FieldPromote && r.Traffic.Weight == 100:
		return nothing("%s has all the traffic already (step %d of %d): nothing to promote", r.ReleaseID, r.Traffic.Step, r.Traffic.Steps)
	}
	now := b.Now(ctx)
	who, err := b.Who(ctx)
	if err != nil {
		return err
	}
	req := ledger.Request{By: who, At: now, Reason: reason}
	recorded, err := b.Ledger.Ask(ctx, b.App, r.ReleaseID, field, req)
	if err != nil {
		return ledgerError(b, err)
	}
	if !recorded {
		again, gerr := b.Ledger.Get(ctx, b.App, r.ReleaseID)
		prev := again.AbortRequested
		if field == ledger.FieldPromote {
			prev = again.PromoteRequested
		}
		if gerr == nil && prev != nil {
			return nothing("%s was asked already, by %s at %s", verb, prev.By, stamp(prev.At))
		}
		return nothing("%s has ended: nothing to %s", r.ReleaseID, verb)
	}
	detail := verb + " asked by " + who
	if reason != "" {
		detail += ": " + reason
	}
	if err := b.Ledger.Update(ctx, b.App, r.ReleaseID, ledger.Change{Event: &ledger.Event{At: now, Step: strings.ToUpper(verb[:1]) + verb[1:], Detail: detail}}); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: the %s is recorded, but its timeline line is not (%v)\n", verb, err)
	}
	if field == ledger.FieldAbort {
		if pending, _ := approvalState(r, now); pending {
			if err := failApproval(ctx, b, r, who, reason); err != nil {
				return err
			}
		}
	}
	v := requestView{ReleaseID: r.ReleaseID, Version: r.Version, Request: verb, By: who, Reason: reason, At: now,
		Follow: "greenlight status " + r.ReleaseID + b.Hint + " --watch"}
	if f.json {
		return writeJSON(cmd.OutOrStdout(), v)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%s of %s (%s %s) asked as %s", verb, r.ReleaseID, r.App, r.Version, who)
	if reason != "" {
		fmt.Fprintf(w, ": %s", reason)
	}
	fmt.Fprintln(w)
	if field == ledger.FieldAbort {
		fmt.Fprintf(w, "  next: the running step sees it and the release rolls back; %s keeps or gets back all the traffic\n", dash(r.LiveInstance))
	} else {
		fmt.Fprintf(w, "  next: the next traffic pass sends all traffic to %s (now %d %%, step %d of %d), then bakes it\n",
			dash(r.CandidateInstance), r.Traffic.Weight, r.Traffic.Step, r.Traffic.Steps)
	}
	fmt.Fprintf(w, "  follow it: %s\n", v.Follow)
	return nil
}

// runningRelease finds the release an abort or promote is meant for: the
// one named, or the only one that has not ended.
func runningRelease(ctx context.Context, b *backend, verb, id string) (ledger.Record, error) {
	recs, err := b.Ledger.History(ctx, b.App)
	if err != nil {
		return ledger.Record{}, ledgerError(b, err)
	}
	nothing := func(format string, a ...any) error { return withCode(exitPending, fmt.Errorf(format, a...)) }
	if id != "" {
		for _, r := range recs {
			if r.ReleaseID == id {
				if ledger.Terminal(r.Status) {
					return r, nothing("%s ended %s: nothing to %s", id, r.Status, verb)
				}
				return r, nil
			}
		}
		return ledger.Record{}, nothing("no release %s of %s in %s: `greenlight history%s` lists them", id, b.App, b.Where, b.Hint)
	}
	var running []ledger.Record
	for _, r := range recs {
		if !ledger.Terminal(r.Status) && r.Status != ledger.StatusDuplicate {
			running = append(running, r)
		}
	}
	switch len(running) {
	case 1:
		return running[0], nil
	case 0:
		return ledger.Record{}, nothing("nothing of %s is running in %s: nothing to %s", b.App, b.Where, verb)
	}
	var lines []string
	for _, r := range running {
		lines = append(lines, fmt.Sprintf("  greenlight %s %s%s", verb, r.ReleaseID, b.Hint))
	}
	return ledger.Record{}, nothing("%d releases of %s are running; name the one you mean:\n%s", len(running), b.App, strings.Join(lines, "\n"))
}

// failApproval answers a waiting approval with Aborted, so the release
// rolls back at once; the token is a credential and never shown.
func failApproval(ctx context.Context, b *backend, r ledger.Record, who, reason string) error {
	cause := "aborted by " + who
	if reason != "" {
		cause += ": " + reason
	}
	_, err := b.SFN.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(r.Token),
		Error: aws.String(AbortedError), Cause: aws.String(cause)})
	if err != nil {
		// The answer may have raced another: the ledger has the abort
		// all the same, and the next step sees it.
		return withCode(exitAWS, fmt.Errorf("the abort is recorded, but answering the approval of %s failed (%s): the release rolls back when it moves on", r.ReleaseID, scrub(err, r.Token)))
	}
	// The answer was taken: a token left behind goes with the release.
	_ = b.Ledger.ClearToken(ctx, b.App, r.ReleaseID, r.Token)
	return nil
}
