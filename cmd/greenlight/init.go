package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/internal/discover"
	"github.com/greenlight/greenlight/internal/localenv"
	"github.com/greenlight/greenlight/internal/release"
)

type initFlags struct {
	from       discover.From
	app        string
	emails     []string
	healthPort int
	healthPath string
	dataMode   string
	mountPoint string
	output     string
	force      bool
	region     string
	local      bool
}

func newInit() *cobra.Command {
	var f initFlags
	cmd := &cobra.Command{
		Use:   "init (--elastic-ip ID | --instance ID | --listener ARN)",
		Short: "Write greenlight.json from the server that runs the app now (read-only)",
		Long: `init reads, read-only, the live side of an app that already runs: from its
Elastic IP, its instance, or (behind an ALB) its listener, it finds the
instance type, subnet, security groups, instance profile, image and data
volumes, and writes greenlight.json with what it found. What it cannot
read (where the data volume is mounted, the port and path the app answers
on, who approves releases) comes from the flags or, on a terminal, from
questions; what is still open is printed, and the config is validated
before it is written. It never overwrites a file without --force.

Then: greenlight validate, greenlight doctor, make deploy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runInit(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.from.AllocationID, "elastic-ip", "", "the Elastic IP in front of the app (eipalloc-…)")
	fl.StringVar(&f.from.InstanceID, "instance", "", "the instance that serves the app (i-…)")
	fl.StringVar(&f.from.ListenerARN, "listener", "", "the ALB listener in front of the app (traffic mode alb)")
	fl.StringVar(&f.app, "app", "", "the app's name (default: from the instance's Name tag)")
	fl.StringSliceVar(&f.emails, "email", nil, "who approves releases and hears of failures (repeat, or comma-separated)")
	fl.IntVar(&f.healthPort, "health-port", 0, "the port the app answers health checks on (default 80)")
	fl.StringVar(&f.healthPath, "health-path", "", "the app's health check path (default /)")
	fl.StringVar(&f.dataMode, "data-mode", "", "with a data volume: restore (a copy for the candidate) or move (the volume itself), or none")
	fl.StringVar(&f.mountPoint, "mount-point", "", "where the data volume is mounted on the instance")
	fl.StringVar(&f.output, "output", "", "the file to write (default greenlight.json)")
	fl.BoolVar(&f.force, "force", false, "overwrite the file if it exists")
	fl.StringVar(&f.region, "region", "", "AWS region (default AWS_REGION or the profile's)")
	fl.BoolVar(&f.local, "local", false, "read the running local engine's simulated account, not AWS")
	return cmd
}

func runInit(cmd *cobra.Command, f initFlags) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	n := 0
	for _, s := range []string{f.from.AllocationID, f.from.InstanceID, f.from.ListenerARN} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return withCode(exitUsage, errors.New("name the live side with exactly one of --elastic-ip eipalloc-…, --instance i-… or --listener arn:…"))
	}
	switch f.dataMode {
	case "", release.DataNone, release.DataRestore, release.DataMove:
	default:
		return withCode(exitUsage, fmt.Errorf("--data-mode %q is not one of none, restore, move", f.dataMode))
	}
	path := f.output
	if path == "" {
		path = "greenlight.json"
	}
	if _, err := os.Stat(path); err == nil && !f.force {
		return withCode(exitUsage, fmt.Errorf("%s exists: pass --force to overwrite it, or --output FILE", path))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	found, region, err := discoverLive(ctx, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "found %s: %s in %s (%s), security groups %s, instance profile %s, image %s %s\n",
		strings.Join(found.Instances, ", "), found.InstanceType, found.SubnetID, found.AvailabilityZone,
		strings.Join(found.SecurityGroupIDs, ", "), dash(found.InstanceProfile), found.ImageID, found.ImageName)
	for _, v := range found.Volumes {
		fmt.Fprintf(out, "  volume %s at %s, %d GiB\n", v.ID, v.Device, v.SizeGiB)
	}

	a, assumed, err := answers(f, found, prompter(cmd), interactive(cmd))
	if err != nil {
		return err
	}
	cfg, todo := found.Config(a)
	cfg.Region = region
	todo = append(assumed, todo...)
	body, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	body = append(body, '\n')
	// Validated as `greenlight validate` reads it, before it is written.
	check := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".init")
	if err := os.WriteFile(check, body, 0o644); err != nil {
		return err
	}
	defer os.Remove(check)
	if _, err := release.LoadConfig(check); err != nil {
		return withCode(exitConfig, fmt.Errorf("the config init would write is not valid (nothing written): %w", err))
	}
	if err := os.Rename(check, path); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nwrote %s (valid)\n", path)
	if len(todo) > 0 {
		fmt.Fprintln(out, "left to decide:")
		for _, t := range todo {
			fmt.Fprintf(out, "  - %s\n", t)
		}
	}
	local := ""
	if f.local {
		local = " --local"
	}
	fmt.Fprintf(out, "next: greenlight validate %s; greenlight doctor%s; make deploy\n", path, local)
	return nil
}

// discoverLive reads the live side from AWS, or from the local engine.
func discoverLive(ctx context.Context, f initFlags) (discover.Found, string, error) {
	var found discover.Found
	if f.local {
		if f.region != "" {
			return found, "", withCode(exitUsage, errors.New("--local reads the running local engine's account: --region does not apply"))
		}
		ep, err := localenv.Read()
		if err != nil {
			return found, "", withCode(exitAWS, err)
		}
		if err := (hostClient{url: ep.SFN}).post(ctx, "/greenlight/init", f.from, &found); err != nil {
			return found, "", withCode(exitFailed, err)
		}
		return found, ep.Region, nil
	}
	awsCfg, err := awsapi.LoadConfig(ctx, f.region)
	if err != nil {
		return found, "", withCode(exitAWS, fmt.Errorf("%w (check AWS_PROFILE and your AWS config)", err))
	}
	if err := checkAWS(ctx, awsCfg); err != nil {
		return found, "", err
	}
	found, err = discover.Discover(ctx, awsapi.New(awsCfg), f.from)
	if err != nil {
		return found, "", withCode(exitFailed, err)
	}
	return found, awsCfg.Region, nil
}

// answers are the operator's decisions: the flags, then ask's answers for
// the rest (on a terminal, questions; off one, the defaults, each reported
// as assumed).
func answers(f initFlags, found discover.Found, ask func(question, def string) string, onTerminal bool) (discover.Answers, []string, error) {
	a := discover.Answers{App: f.app, Emails: f.emails, HealthPort: f.healthPort, HealthPath: f.healthPath, DataMode: f.dataMode, MountPoint: f.mountPoint}
	var assumed []string
	suggested := discover.AppName(found.Name)
	if a.App == "" {
		a.App = ask("app name", suggested)
	}
	if a.App == "" {
		return a, nil, withCode(exitUsage, errors.New("the instance has no Name tag to name the app after: pass --app NAME"))
	}
	if len(a.Emails) == 0 {
		for _, e := range strings.Split(ask("emails of who approves releases (comma-separated)", ""), ",") {
			if e = strings.TrimSpace(e); e != "" {
				a.Emails = append(a.Emails, e)
			}
		}
	}
	if a.HealthPort == 0 {
		p := ask("port the app answers health checks on", "80")
		port, err := strconv.Atoi(p)
		if err != nil {
			return a, nil, withCode(exitUsage, fmt.Errorf("port %q is not a number", p))
		}
		a.HealthPort = port
		if !onTerminal {
			assumed = append(assumed, "healthCheck.port: 80 assumed; set it to the port the app answers on (--health-port)")
		}
	}
	if a.HealthPath == "" {
		a.HealthPath = ask("health check path", "/")
		if !onTerminal {
			assumed = append(assumed, "healthCheck.path: / assumed; set it to the app's health check path (--health-path)")
		}
	}
	hasData := false
	for _, v := range found.Volumes {
		hasData = hasData || strings.HasPrefix(v.Device, "/dev/sd") || strings.HasPrefix(v.Device, "/dev/xvd")
	}
	if hasData {
		if a.MountPoint == "" {
			a.MountPoint = ask("where the data volume is mounted (empty: decide later)", "")
		}
		if a.DataMode == "" && a.MountPoint != "" {
			a.DataMode = ask("data mode: restore (candidates get a copy) or move (the volume itself)", release.DataRestore)
			if !onTerminal {
				assumed = append(assumed, "data.mode: restore assumed (a copy of the volume for the candidate); move moves the volume itself (--data-mode)")
			}
		}
		switch a.DataMode {
		case "", release.DataNone, release.DataRestore, release.DataMove:
		default:
			return a, nil, withCode(exitUsage, fmt.Errorf("data mode %q is not one of none, restore, move", a.DataMode))
		}
	}
	return a, assumed, nil
}

// interactive reports whether init may ask questions: its input is a
// terminal.
func interactive(cmd *cobra.Command) bool {
	file, ok := cmd.InOrStdin().(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// prompter asks on a terminal and otherwise returns the default.
func prompter(cmd *cobra.Command) func(question, def string) string {
	if !interactive(cmd) {
		return func(_, def string) string { return def }
	}
	in := bufio.NewReader(cmd.InOrStdin())
	w := cmd.ErrOrStderr()
	return func(question, def string) string {
		if def != "" {
			fmt.Fprintf(w, "%s [%s]: ", question, def)
		} else {
			fmt.Fprintf(w, "%s: ", question)
		}
		line, err := in.ReadString('\n')
		line = strings.TrimSpace(line)
		if line == "" || (err != nil && !errors.Is(err, io.EOF)) {
			return def
		}
		return line
	}
}
