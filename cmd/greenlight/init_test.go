//go:build harness

package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
)

// TestInit writes a config from the local environment's live instance, as
// an operator would from a server that already runs: read-only, valid,
// naming the instance's subnet, security groups, instance profile and
// data device, and never over a file without --force.
func TestInit(t *testing.T) {
	env := startLocal(t, func(c *release.Config) { c.Data.Mode = release.DataRestore })
	o := &operator{t: t, local: env}
	dir := t.TempDir()
	file := filepath.Join(dir, "greenlight.json")
	before := len(env.Region.Calls())

	r := o.expect(0, "init", "--local", "--elastic-ip", env.Fixture.AllocationID, "--output", file, "--email", "ops@example.com")
	contains(t, "init", r.stdout, "found "+env.Fixture.LiveInstance, "wrote "+file+" (valid)", "left to decide",
		"data.mode and data.mountPoint", "healthCheck.port: 80 assumed", "greenlight doctor --local")
	o.expect(0, "validate", file)
	cfg, err := release.LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	live := env.Config.Candidate
	if cfg.App != "shop" || cfg.Region != localrun.Region || cfg.Live.ElasticIPAllocationID != env.Fixture.AllocationID ||
		cfg.Candidate.SubnetID != env.Fixture.LiveSubnet || !slices.Equal(cfg.Candidate.SecurityGroupIDs, live.SecurityGroupIDs) ||
		cfg.Candidate.InstanceProfile != live.InstanceProfile || cfg.Candidate.InstanceType != live.InstanceType ||
		cfg.Data.Device != env.Fixture.DataDevice || cfg.Data.Mode != release.DataNone {
		t.Errorf("init wrote %+v", cfg)
	}

	// It never overwrites without --force.
	r = o.expect(exitUsage, "init", "--local", "--instance", env.Fixture.LiveInstance, "--output", file)
	contains(t, "init over a file", r.stderr, "exists: pass --force")

	// From the instance, with the rest answered by flags: the data mode
	// is set, and the Elastic IP in front is found.
	o.expect(0, "init", "--local", "--instance", env.Fixture.LiveInstance, "--output", file, "--force", "--email", "ops@example.com",
		"--mount-point", env.Fixture.DataMountPoint, "--data-mode", release.DataMove, "--health-port", "8080", "--health-path", "/healthz")
	if cfg, err = release.LoadConfig(file); err != nil {
		t.Fatal(err)
	}
	if cfg.Data.Mode != release.DataMove || cfg.Data.MountPoint != env.Fixture.DataMountPoint || cfg.Live.ElasticIPAllocationID != env.Fixture.AllocationID ||
		cfg.HealthCheck.Port != 8080 || cfg.HealthCheck.Path != "/healthz" {
		t.Errorf("init with every answer wrote %+v", cfg)
	}

	// A front that does not exist: the error names it, nothing is written.
	other := filepath.Join(dir, "other.json")
	r = o.expect(exitFailed, "init", "--local", "--elastic-ip", "eipalloc-0000000000000dead", "--output", other)
	contains(t, "init from a missing Elastic IP", r.stderr, "Elastic IP eipalloc-0000000000000dead does not exist")
	if _, err := os.Stat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("init wrote %s for a missing Elastic IP", other)
	}
	o.expect(exitUsage, "init", "--local", "--output", other)

	// Every call it made only read.
	tc, err := localrun.FindToolchain()
	if err != nil {
		t.Fatal(err)
	}
	bad, err := sim.NotReadOnly(env.Region.Calls()[before:], filepath.Join(tc.Root, "node_modules", "@cloud-copilot", "iam-data", "data"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Errorf("init called %s: it must only read", b)
	}
}
