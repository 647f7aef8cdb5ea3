package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/internal/release"
)

func newRollback() *cobra.Command {
	var f targetFlags
	var to, reason string
	var wait bool
	cmd := &cobra.Command{
		Use:   "rollback [--to RELEASE] [--reason TEXT] [--wait]",
		Short: "Switch back to the instance kept from the previous release",
		Long: `rollback switches the app back to the instance kept from the previous
release, within the retention period: with a data volume, the data moves
back under a maintenance page first; then the Elastic IP moves (behind a
load balancer: all the weight goes back to the kept instance's target
group, which must still hold it, healthy), the public
endpoint is verified, the instance that served is kept (and scheduled for
retirement) in its turn, and the revived one's retirement is cancelled.

It runs as an execution of the stack's rollback state machine (locked,
logged and compensated like a release), not as loose API calls: if it
fails, traffic and data go back where they were. --to names the release
you expect to return to, and refuses anything else.

Exit codes: 0 started (with --wait: switched back); 1 with --wait, the
rollback ended otherwise; 4 AWS or the stack cannot be reached; 5 there is
no kept instance to go back to.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			b, err := f.open(ctx)
			if err != nil {
				return err
			}
			serving, ok, err := b.Ledger.Serving(ctx, b.App)
			if err != nil {
				return ledgerError(b, err)
			}
			live, kept := strings.Join(serving.LiveIDs(), ", "), strings.Join(serving.PreviousIDs(), ", ")
			if !ok || kept == "" {
				return withCode(exitPending, fmt.Errorf("no previous instance of %s is kept: there is nothing to roll back to", b.App))
			}
			now := b.Now(ctx)
			if !serving.RetireAfter.IsZero() && now.After(serving.RetireAfter) {
				return withCode(exitPending, fmt.Errorf("the previous side %s was due for retirement at %s: it can no longer be switched back to", kept, serving.RetireAfter.Format(time.RFC3339)))
			}
			if to != "" && to != serving.PreviousRelease {
				return withCode(exitPending, fmt.Errorf("the kept side %s runs %s (%s), not %s: only the previous release can be switched back to", kept, serving.PreviousRelease, serving.PreviousVersion, to))
			}
			who, err := b.Who(ctx)
			if err != nil {
				return err
			}
			name := release.RollbackName(b.App, now)
			input, err := json.Marshal(release.SwitchBackRequest{ReleaseID: name, App: b.App, RequestedBy: who, Reason: reason, ToRelease: to})
			if err != nil {
				return err
			}
			started, err := b.SFN.StartExecution(ctx, &sfn.StartExecutionInput{
				StateMachineArn: aws.String(b.RollbackStateMachine), Name: aws.String(name), Input: aws.String(string(input)),
			})
			if err != nil {
				return awsError("start the rollback of "+b.App, "states:StartExecution", err, nil)
			}
			view := map[string]any{"rollbackId": name, "app": b.App, "execution": aws.ToString(started.ExecutionArn),
				"from": map[string]any{"instance": serving.LiveInstance, "instances": serving.LiveIDs(), "version": serving.LiveVersion, "release": serving.LiveRelease},
				"to": map[string]any{"instance": serving.PreviousInstance, "instances": serving.PreviousIDs(), "version": serving.PreviousVersion,
					"release": serving.PreviousRelease},
				"follow": "greenlight status " + name + b.Hint + " --watch"}
			text := out
			if f.json {
				text = errOut
			}
			fmt.Fprintf(text, "rollback %s started: %s goes back from %s (%s) to %s (%s)\n", name, b.App,
				live, orNone(serving.LiveVersion), kept, orNone(serving.PreviousVersion))
			if !wait {
				fmt.Fprintf(text, "follow it:\n  %s\n", view["follow"])
				if f.json {
					return writeJSON(out, view)
				}
				return nil
			}
			return followToEnd(ctx, b, name, text, f.json, out, func(v *statusView) any { view["status"] = v; return view })
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the release you expect to go back to; anything else is refused")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the ledger and the notification")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the rollback to its end; exit 0 only if it switched back")
	return cmd
}

func orNone(v string) string {
	if v == "" {
		return "version unknown"
	}
	return v
}
