//go:build harness

package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/localenv"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/start"
)

// serve runs `greenlight local --serve`: the simulated account stays up,
// uploads to its bucket start releases as on AWS, and the --local
// commands act on it, until the process is interrupted.
func serve(cmd *cobra.Command, f localFlags, cfg release.Config, cfgPath string) error {
	errOut := cmd.ErrOrStderr()
	for _, flag := range []struct {
		name string
		set  bool
	}{
		{"--artifact", f.artifact != ""}, {"--version", f.version != ""}, {"--fail-at", f.failAt != ""},
		{"--fault", cmd.Flags().Changed("fault")}, {"--fail-call", f.failCall != 0},
		{"--expect", f.expect != ""}, {"--list-states", f.listStates}, {"--json", f.json},
	} {
		if flag.set {
			return withCode(exitUsage, fmt.Errorf("%s does not apply to --serve: releases start from uploads to the local bucket (greenlight release --local FILE, or any S3 client)", flag.name))
		}
	}
	if !cmd.Flags().Changed("approve") {
		// An account that stays up is for trying things by hand.
		f.approve = localrun.ApprovePrompt
	}
	sess, err := openSession(cmd, f.logFile)
	if err != nil {
		return err
	}
	defer sess.close()
	ctx := sess.ctx
	fmt.Fprintf(errOut, "greenlight local --serve: %s, data mode %s, traffic %s, approval %s\n", cfg.App, cfg.Data.Mode, cmp.Or(f.traffic, cfg.TrafficMode()), f.approve)
	fmt.Fprintf(errOut, "  starting the simulated region, dynalite and the stack (config %s)...\n", cfgPath)
	progress := &progress{w: errOut}
	var env *localrun.Env
	env, err = localrun.Start(ctx, localrun.Options{
		Config:         cfg,
		Asset:          localAsset(sess.tc),
		Approve:        f.approve,
		Traffic:        f.traffic,
		Fleet:          f.fleet,
		Log:            sess.log,
		OnEvent:        progress.event,
		OnApproval:     func(id string) { askApproval(ctx, errOut, env, id) },
		DeliverUploads: true,
		Users:          true,
		OnDelivered: func(up sim.ObjectCreated, res start.Result, err error) {
			progress.delivered(up, res, err)
		},
	})
	if err != nil {
		return err
	}
	defer env.Close()
	unpublish, err := env.Publish()
	if err != nil {
		return err
	}
	defer unpublish()
	ep, err := env.Endpoints()
	if err != nil {
		return err
	}
	samples, err := writeSamples(cfg.App, "1.1.0", "1.2.0")
	if err != nil {
		return err
	}
	rel := func(p string) string {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, p); err == nil {
				return r
			}
		}
		return p
	}
	fmt.Fprintf(errOut, `
  the simulated account is up; Ctrl-C stops it. In another terminal:
    release  greenlight release --local %s
             or upload with any S3 client (any credentials), e.g.
             aws --region %s --endpoint-url %s s3 cp %s s3://%s/%s
    follow   greenlight status --local --watch
    answer   greenlight approve --local RELEASE, or reject --local RELEASE --reason "..."
    undo     greenlight rollback --local
    list     greenlight history --local
    time     make local ARGS="advance %dd"   (retires the side kept for retentionDays)
    browse   %s   (the app as users reach it; curl it during a release)
  (greenlight: go run ./cmd/greenlight, or any build of it)

`, rel(samples[0]), ep.Region, ep.S3, rel(samples[1]), ep.Bucket, cfg.ArtifactPrefix, cfg.RetentionDays+1, ep.AppURL)
	<-ctx.Done()
	fmt.Fprintln(errOut, "\ninterrupted: stopping the runner, the region and dynalite")
	return nil
}

// delivered prints what an upload started.
func (p *progress) delivered(up sim.ObjectCreated, res start.Result, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	uri := fmt.Sprintf("s3://%s/%s", up.Bucket, up.Key)
	switch {
	case err != nil:
		fmt.Fprintf(p.w, "\nupload %s: the start function failed: %v\n", uri, err)
	case res.Status == release.Duplicate:
		fmt.Fprintf(p.w, "\nupload %s: release %s already exists (a duplicate event)\n", uri, res.ReleaseID)
	case res.Execution == "":
		fmt.Fprintf(p.w, "\nupload %s: no release started (%s)\n", uri, res.Status)
	default:
		fmt.Fprintf(p.w, "\nupload %s (S3 version %s): release %s started\n", uri, up.VersionID, res.ReleaseID)
	}
}

func newAdvance() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "advance DURATION",
		Short: "Move the clock of a `greenlight local --serve` account on (8d, 36h, 90m)",
		Long: `advance moves the simulated clock of the account a running
` + "`greenlight local --serve`" + ` keeps up, while no release runs, and fires the
EventBridge schedules that come due: after retentionDays the kept side of
the last release is retired, as on AWS. DURATION is a Go duration (90m,
36h) or whole days (8d), optionally followed by one (1d12h).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := parseDays(args[0])
			if err != nil {
				return withCode(exitUsage, err)
			}
			ep, err := localenv.Read()
			if err != nil {
				return withCode(exitAWS, err)
			}
			var out localrun.Advanced
			if err := (hostClient{url: ep.SFN}).post(cmd.Context(), "/greenlight/clock", map[string]float64{"advanceSeconds": d.Seconds()}, &out); err != nil {
				return withCode(exitFailed, err)
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(w, out)
			}
			fmt.Fprintf(w, "simulated time %s -> %s\n", out.From.Format(time.RFC3339), out.Now.Format(time.RFC3339))
			if len(out.Fired) == 0 {
				fmt.Fprintln(w, "no schedule came due")
			}
			for _, f := range out.Fired {
				fmt.Fprintf(w, "  schedule %s (due %s) ran %s: %s\n", f.Schedule, f.Due.Format(time.RFC3339), f.Target, f.Result)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: from, now, and the schedules that fired with what their targets returned")
	return cmd
}

var days = regexp.MustCompile(`^(\d+)d(.*)$`)

// parseDays reads a Go duration, or whole days ("8d") optionally followed
// by one ("1d12h"): time.ParseDuration stops at hours.
func parseDays(s string) (time.Duration, error) {
	var d time.Duration
	rest := s
	if m := days.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return 0, fmt.Errorf("%q: %w", s, err)
		}
		d, rest = time.Duration(n)*24*time.Hour, m[2]
	}
	if rest != "" {
		more, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: say 8d, 36h or 90m", s)
		}
		d += more
	}
	if d <= 0 {
		return 0, errors.New("the duration must be above zero: say 8d, 36h or 90m")
	}
	return d, nil
}

// writeSamples leaves sample artifacts of the app beside the endpoints
// file, for trying releases by hand.
func writeSamples(app string, versions ...string) ([]string, error) {
	path, err := localenv.Path()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(filepath.Dir(path), "samples")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, v := range versions {
		b, err := artifact.Sample(app, v)
		if err != nil {
			return nil, err
		}
		file := filepath.Join(dir, app+"-"+v+".tar.gz")
		if err := os.WriteFile(file, b, 0o644); err != nil {
			return nil, err
		}
		files = append(files, file)
	}
	return files, nil
}
