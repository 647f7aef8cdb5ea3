//go:build harness

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/events"
	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
)

func newInvoke() *cobra.Command {
	var config string
	cmd := &cobra.Command{
		Use:   "invoke HANDLER [EVENT]",
		Short: "Run one step handler against the simulated region",
		Long: `invoke starts the local environment, calls one handler the way Lambda would
(through the Lambda Invoke API and aws-lambda-go's handler) with an event,
and prints what it returned. EVENT is a file, or the name of a sample in
events/ (` + events.ObjectCreatedFile + `, ` + events.RetireScheduleFile + `, ` + events.DailySweepFile + `);
the default is the S3 upload event.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if _, err := registry.Lookup(name); err != nil {
				return withCode(exitUsage, err)
			}
			payload, err := eventPayload(args)
			if err != nil {
				return withCode(exitUsage, err)
			}
			path := config
			if path == "" {
				path = release.DefaultConfigPath()
			}
			cfg, err := release.LoadConfig(path)
			if err != nil {
				return withCode(exitConfig, err)
			}
			tc, err := localrun.FindToolchain()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			env, err := localrun.Start(ctx, localrun.Options{Config: cfg, Asset: localAsset(tc), Log: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			defer env.Close()
			out, err := env.Invoke(ctx, name, payload)
			if err != nil {
				return withCode(exitFailed, err)
			}
			var pretty bytes.Buffer
			if json.Indent(&pretty, out, "", "  ") != nil {
				pretty.Write(out)
			}
			fmt.Fprintln(cmd.OutOrStdout(), pretty.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "config file (default greenlight.json, else greenlight.example.json)")
	return cmd
}

func eventPayload(args []string) ([]byte, error) {
	if len(args) < 2 {
		return events.Sample(events.ObjectCreatedFile)
	}
	if b, err := os.ReadFile(args[1]); err == nil {
		return b, nil
	}
	return events.Sample(filepath.Base(args[1]))
}
