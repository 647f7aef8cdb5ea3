//go:build !harness

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newLocal stands in for the local engine, which this build does not
// link: the operator's CLI stays free of the CDK, the simulator and the
// step handlers. `make local` runs the harness build (-tags harness).
func newLocal() *cobra.Command {
	return &cobra.Command{
		Use:                "local",
		Short:              "Run a whole release on the local engine (in the harness build: make local)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCode(exitUsage, errors.New("the local engine is not in this build of greenlight: run `make local ARGS=\"...\"`, or `go run -tags harness ./cmd/greenlight local ...` from a checkout"))
		},
	}
}
