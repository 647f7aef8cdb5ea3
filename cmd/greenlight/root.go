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
and tests it, waits for your approval, moves the Elastic IP and keeps the old
instance for a one-command rollback.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newValidate(), newLocal())
	return root
}
