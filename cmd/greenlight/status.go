package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/release"
)

func newStatus() *cobra.Command {
	var f targetFlags
	var watch bool
	cmd := &cobra.Command{
		Use:   "status [RELEASE]",
		Short: "Show a release: state, instances, smoke tests, timeline, what to do next",
		Long: `status shows one release (default: the newest): its state, version, when it
started and ended, its timeline, the candidate and live instances, the app's
serving state (what is live, which previous instance is kept for rollback
and until when), the smoke test report (each check, its HTTP status and
latency) and, while an approval is pending, the exact commands that answer
it and the deadline.

--watch follows the release until it ends: on a terminal it redraws the
whole view; in a pipe it prints the view once, then each new timeline line.
With --json, --watch prints the whole view as one JSON line each time it
changes.

Exit codes: 0 shown (with --watch: the release ended Released); 1 with
--watch, the release ended otherwise; 3 invalid config; 4 AWS, the stack
or the local engine could not be reached; 5 no such release, or no
release yet.`,
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
			r, err := findRelease(ctx, b, id)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !watch {
				v, err := statusOf(ctx, b, r)
				if err != nil {
					return err
				}
				if f.json {
					return writeJSON(out, v)
				}
				renderStatus(out, v)
				return nil
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			var last ledger.Record
			switch {
			case f.json:
				last, err = watchJSON(ctx, b, r, out)
			case isTerminal(out):
				last, err = watchScreen(ctx, b, r, out)
			default:
				v, serr := statusOf(ctx, b, r)
				if serr != nil {
					return serr
				}
				renderStatus(out, v)
				last, err = follow(ctx, b, r, out, len(r.Timeline), pending(r, v.Now))
			}
			if err != nil {
				return err
			}
			return endedWith(last)
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&watch, "watch", false, "follow the release until it ends")
	return cmd
}

func pending(r ledger.Record, now time.Time) bool {
	p, _ := approvalState(r, now)
	return p
}

// statusOf reads what status shows besides the record: the app's serving
// state and the backend's clock.
func statusOf(ctx context.Context, b *backend, r ledger.Record) (statusView, error) {
	now := b.Now(ctx)
	v := statusView{Now: now, Release: viewOf(b, r, now)}
	s, ok, err := b.Ledger.Serving(ctx, b.App)
	if err != nil {
		return v, ledgerError(b, err)
	}
	if ok {
		v.Serving = servingOf(s)
	}
	if b.links != nil && pending(r, now) {
		// Links off, or the answer on its way: status shows none.
		if l, err := b.links(ctx, r.ReleaseID); err == nil {
			v.ApprovalLinks = &l
		}
	}
	return v, nil
}

// endedWith is the exit status of a watch: 0 only for Released.
func endedWith(r ledger.Record) error {
	if r.Status == ledger.StatusReleased {
		return nil
	}
	why := ""
	if r.Failure != "" {
		why = ": " + r.Failure
	}
	return withCode(exitFailed, fmt.Errorf("release %s ended %s%s", r.ReleaseID, r.Status, why))
}

func renderStatus(w io.Writer, v statusView) {
	r := v.Release
	state := r.Status
	if a := r.Approval; a != nil && a.Expired {
		state += " (the approval timed out at " + stamp(a.Expires) + "; rolling back)"
	}
	fmt.Fprintf(w, "%s  %s\n", r.ReleaseID, state)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-10s %s\n", k, v)
		}
	}
	row("app", r.App)
	row("version", r.Version)
	if r.Kind != "" && r.Kind != "release" {
		row("kind", r.Kind)
	}
	row("artifact", r.Artifact)
	row("started", stamp(r.StartedAt)+" ("+ago(v.Now, r.StartedAt)+")")
	if r.EndedAt != nil {
		row("ended", fmt.Sprintf("%s (after %s)", stamp(*r.EndedAt), roughly(r.EndedAt.Sub(r.StartedAt))))
	} else {
		row("ended", "not yet")
	}
	if r.LeadTimeSeconds > 0 {
		row("lead time", seconds(r.LeadTimeSeconds))
	}
	if r.MaintenanceWindowSeconds > 0 {
		row("downtime", seconds(r.MaintenanceWindowSeconds)+" maintenance window")
	}
	if r.CandidateInstance != "" {
		if r.CandidateAddress != "" {
			row("candidate", r.CandidateInstance+" at "+r.CandidateAddress)
		} else {
			row("candidate", r.CandidateInstance)
		}
	}
	if r.LiveInstance != "" {
		row("live", r.LiveInstance+" (when this release ran)")
	}
	if t := r.Traffic; t != nil {
		row("traffic", fmt.Sprintf("%d %% on the candidate, %d %% on the live side (step %d of %d)", t.Weights["candidate"], t.Weights["live"], t.Step, t.Steps))
	}
	for _, q := range r.Requests {
		row("asked", q)
	}
	if r.ApprovedBy != "" {
		row("approved", "by "+r.ApprovedBy)
	}
	row("note", r.Reason)
	if r.Duplicates > 0 {
		row("duplicates", fmt.Sprintf("%d duplicate upload event(s) ignored", r.Duplicates))
	}
	row("execution", r.Execution)
	row("console", r.Console)

	if s := v.Serving; s != nil {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Serving %s now:\n", r.App)
		fmt.Fprintf(w, "  live       %s (%s, release %s)\n", strings.Join(s.LiveInstances, ", "), dash(s.LiveVersion), dash(s.LiveRelease))
		if len(s.PreviousInstances) > 0 {
			kept := ""
			if s.RetireAfter != nil {
				kept = ", kept for rollback until " + stamp(*s.RetireAfter)
			}
			fmt.Fprintf(w, "  previous   %s (%s%s)\n", strings.Join(s.PreviousInstances, ", "), dash(s.PreviousVersion), kept)
		}
	}

	if rep := r.Smoke; rep != nil {
		fmt.Fprintln(w)
		verdict := "passed"
		if !rep.Passed {
			verdict = "FAILED"
		}
		fmt.Fprintf(w, "Smoke tests against %s: %s\n", rep.Target, verdict)
		printChecks(w, "  ", rep.Checks)
		for _, in := range rep.Instances {
			verdict := "passed"
			if !in.Passed {
				verdict = "FAILED"
			}
			fmt.Fprintf(w, "  %s (%s) at %s: %s\n", in.InstanceID, dash(in.AZ), in.Target, verdict)
			printChecks(w, "    ", in.Checks)
		}
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "Timeline (UTC):")
	for _, e := range r.Timeline {
		fmt.Fprintln(w, timelineLine(e))
	}

	if r.Failure != "" && r.Status != ledger.StatusReleased {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Why: %s\n", r.Failure)
	}
	if len(r.Left) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Left to do by hand (the rollback could not):")
		for _, l := range r.Left {
			fmt.Fprintf(w, "  - %s\n", l)
		}
	}
	if a := r.Approval; a != nil && a.Pending {
		fmt.Fprintln(w)
		approvalHelp(w, a, v.Now)
		if l := v.ApprovalLinks; l != nil {
			fmt.Fprintln(w, "Or open a link (a confirm page; nothing happens until you press its button):")
			fmt.Fprintf(w, "  approve: %s\n  reject:  %s\n", l.Approve, l.Reject)
		}
	}
}

func approvalHelp(w io.Writer, a *approvalView, now time.Time) {
	if a.Expires.IsZero() {
		fmt.Fprintln(w, "Approval pending. Run one of:")
	} else {
		fmt.Fprintf(w, "Approval pending until %s (%s left). Run one of:\n", stamp(a.Expires), roughly(a.Expires.Sub(now)))
	}
	fmt.Fprintf(w, "  %s\n", a.Approve)
	fmt.Fprintf(w, "  %s\n", a.Reject)
}

func timelineLine(e eventView) string {
	return fmt.Sprintf("  %s  %-16s %s", e.At.UTC().Format("2006-01-02 15:04:05"), e.Step, e.Detail)
}

// follow prints each timeline line after the first seen ones as it
// appears, and what to run when the release starts waiting for approval,
// until the release ends. It returns the last record read.
func follow(ctx context.Context, b *backend, r ledger.Record, w io.Writer, seen int, asked bool) (ledger.Record, error) {
	return poll(ctx, b, r, func(r ledger.Record, now time.Time) error {
		for ; seen < len(r.Timeline); seen++ {
			fmt.Fprintln(w, timelineLine(eventView(r.Timeline[seen])))
		}
		v := viewOf(b, r, now)
		if a := v.Approval; a != nil && a.Pending && !asked {
			asked = true
			fmt.Fprintln(w)
			approvalHelp(w, a, now)
			fmt.Fprintln(w)
		}
		if v.Ended {
			fmt.Fprintf(w, "\n%s ended %s", r.ReleaseID, r.Status)
			if r.Failure != "" && r.Status != ledger.StatusReleased {
				fmt.Fprintf(w, ": %s", r.Failure)
			}
			fmt.Fprintln(w)
		}
		return nil
	})
}

// watchScreen redraws the whole view on a terminal whenever it changes.
func watchScreen(ctx context.Context, b *backend, r ledger.Record, w io.Writer) (ledger.Record, error) {
	var last string
	return poll(ctx, b, r, func(r ledger.Record, now time.Time) error {
		v, err := statusOf(ctx, b, r)
		if err != nil {
			return err
		}
		var screen strings.Builder
		renderStatus(&screen, v)
		if !v.Release.Ended {
			fmt.Fprintf(&screen, "\nwatching %s (Ctrl-C stops watching, not the release)\n", b.Where)
		}
		if screen.String() != last {
			last = screen.String()
			fmt.Fprint(w, "\033[H\033[2J"+last)
		}
		return nil
	})
}

func watchJSON(ctx context.Context, b *backend, r ledger.Record, w io.Writer) (ledger.Record, error) {
	var last []byte
	return poll(ctx, b, r, func(r ledger.Record, now time.Time) error {
		v, err := statusOf(ctx, b, r)
		if err != nil {
			return err
		}
		v.Now = time.Time{} // only a change of the release is news
		line, err := json.Marshal(v)
		if err != nil || string(line) == string(last) {
			return err
		}
		last = line
		v.Now = now
		line, _ = json.Marshal(v)
		_, err = fmt.Fprintln(w, string(line))
		return err
	})
}

// poll reads the release every b.Poll and hands each reading to show,
// the first at once, until the release ends. An execution that ended
// while the ledger says otherwise ends the watch too: the ledger would
// never change again.
func poll(ctx context.Context, b *backend, r ledger.Record, show func(ledger.Record, time.Time) error) (ledger.Record, error) {
	tick := time.NewTicker(b.Poll)
	defer tick.Stop()
	for {
		if err := show(r, b.Now(ctx)); err != nil {
			return r, err
		}
		if ledger.Terminal(r.Status) {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, withCode(exitFailed, fmt.Errorf("stopped watching; %s goes on: greenlight status %s%s --watch", r.ReleaseID, r.ReleaseID, b.Hint))
		case <-tick.C:
		}
		next, err := b.Ledger.Get(ctx, b.App, r.ReleaseID)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return r, ledgerError(b, err)
		}
		if !ledger.Terminal(next.Status) && next.Execution != "" {
			if st, why := executionEnded(ctx, b, next.Execution); st != "" {
				// The ledger is written before an execution ends: read it
				// once more before calling it stuck.
				if again, err := b.Ledger.Get(ctx, b.App, r.ReleaseID); err == nil && ledger.Terminal(again.Status) {
					next = again
				} else {
					_ = show(next, b.Now(ctx))
					return next, withCode(exitFailed, fmt.Errorf("the execution of %s ended %s%s but the ledger still says %s", r.ReleaseID, st, why, next.Status))
				}
			}
		}
		r = next
	}
}

// executionEnded returns the status of an execution that is no longer
// running, and why; "" while it runs or when it cannot be told.
func executionEnded(ctx context.Context, b *backend, arn string) (string, string) {
	out, err := b.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil || out.Status == sfntypes.ExecutionStatusRunning || out.Status == "" {
		return "", ""
	}
	why := ""
	if e := aws.ToString(out.Error); e != "" {
		why = " (" + release.Failure{Error: e, Cause: aws.ToString(out.Cause)}.Reason() + ")"
	}
	return string(out.Status), why
}

// printChecks prints smoke checks one a line, PASS or FAIL first.
func printChecks(w io.Writer, indent string, checks []release.CheckResult) {
	for _, c := range checks {
		mark, got := "PASS", fmt.Sprintf("HTTP %d  %5d ms", c.Status, c.LatencyMS)
		if !c.Passed {
			mark = "FAIL"
		}
		if c.Status == 0 {
			got = "no response"
		}
		fmt.Fprintf(w, "%s%s  %-24s %s", indent, mark, c.Name, got)
		if c.Problem != "" {
			fmt.Fprintf(w, "  %s", c.Problem)
		}
		fmt.Fprintln(w)
	}
}
