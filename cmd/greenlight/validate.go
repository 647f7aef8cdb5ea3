package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/internal/release"
)

func newValidate() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check a greenlight.json and list every problem",
		Long: `Validate reads a config (default greenlight.json, else greenlight.example.json)
and prints every problem with its JSON path and a hint. It exits 0 when the
config is valid and 3 when it is not.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := release.DefaultConfigPath()
			if len(args) == 1 {
				path = args[0]
			}
			cfg, err := release.LoadConfig(path)
			var ce *release.ConfigError
			if asJSON {
				out := map[string]any{"file": path, "valid": err == nil}
				if errors.As(err, &ce) {
					out["problems"] = ce.Problems
				} else if err != nil {
					out["error"] = err.Error()
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if encErr := enc.Encode(out); encErr != nil {
					return encErr
				}
				if err != nil {
					return withCode(exitConfig, fmt.Errorf("%s is not valid", path))
				}
				return nil
			}
			if err != nil {
				return withCode(exitConfig, err)
			}
			traffic := cfg.TrafficMode()
			if cfg.UsesALB() {
				steps := strings.Trim(strings.ReplaceAll(fmt.Sprint(cfg.TrafficSteps()), " ", ", "), "[]")
				traffic += fmt.Sprintf(" in steps of %s %%", steps)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is valid: app %s, stack %s, data mode %s, traffic %s, %d smoke test(s)\n",
				path, cfg.App, cfg.StackName, cfg.Data.Mode, traffic, len(cfg.SmokeTests))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
