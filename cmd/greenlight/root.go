package main

import (
	"github.com/spf13/cobra"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "greenlight",
		Short: "Release a web app on EC2 with minimal downtime",
		Long: `greenlight releases a new version of a web app that runs on EC2: upload a
release tarball and a Step Functions workflow launches a candidate, installs
and tests it, waits for your approval, moves the Elastic IP (or shifts
traffic to it in steps through your load balancer) and keeps the old
instance for a one-command rollback.

Every command that acts on releases finds the stack by name (stackName in
greenlight.json, or --stack) through CloudFormation, or with --local talks
to the local engine that 'greenlight local --approve prompt' runs.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.AddCommand(newRelease(), newStatus(), newApprove(), newReject(), newAbort(), newPromote(), newRollback(), newHistory(), newLock(), newValidate(), newInit(), newDoctor(), newLocal())
	return root
}
