package statemachine_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
)

// Data-volume scenarios: the real apps run and users write through the
// Elastic IP while releases run (Options.Users); no write the app
// acknowledged may be missing from the data that serves at the end.

func withData(mode string) func(*release.Config) {
	return func(c *release.Config) { c.Data.Mode = mode }
}

var dataModes = []string{release.DataRestore, release.DataMove}

func TestDataCutoverReleases(t *testing.T) {
	for _, mode := range dataModes {
		t.Run(mode, func(t *testing.T) {
			env := localrun.NewTestEnv(t, realUsers, withData(mode))
			res, err := env.Release(ctxT(t), "2.0.0", nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != release.Released {
				t.Fatalf("status %s: %s", res.Status, res.Cause)
			}
			assertPath(t, res, path(prepared, release.StatePrepareTestData, candidateWait, testDataWait, release.StateDeployRelease, deployWait,
				release.StateRunSmokeTests, release.StateAwaitApproval, release.StateKeepPrevious, cutoverWait, release.StateSwitchTraffic, bake,
				release.StateRecordRelease, release.Released))
			assertNoWriteLost(t, res)
			if res.Traffic.ByPhase["cutover"].Maintenance == 0 || res.Traffic.Failed != 0 {
				t.Errorf("users %+v: want the maintenance page met during the cutover, under load, and no other failure", res.Traffic)
			}
			w := res.ModelSeconds.MaintenanceWindow
			if w <= 0 {
				t.Fatal("no maintenance window reported")
			}
			if mode == release.DataMove && w > 30 {
				t.Errorf("move-mode maintenance window %.1fs, budget 30s (bench/main.go BudgetMoveWindow)", w)
			}
			if len(res.LeakedResources) > 0 {
				t.Errorf("leaked %+v", res.LeakedResources)
			}
			live := env.Region.Host(res.LiveInstanceID).App()
			if !live.Running || live.Maintenance || live.Frozen || !slices.Equal(res.UserWrites.Volumes, []string{live.MountedVolume}) {
				t.Errorf("the new live app: %+v", live)
			}
			rec, _ := env.Deps.Ledger().Get(context.Background(), env.Config.App, res.ReleaseID)
			if rec.MaintenanceWindowSeconds != w {
				t.Errorf("ledger window %.1f, result %.1f", rec.MaintenanceWindowSeconds, w)
			}
			t.Logf("%s: window %.1fs, %d transitions, writes %+v", mode, w, res.StateTransitions, *res.UserWrites)
		})
	}
}

// realUsers runs the real apps and users.
var realUsers = localrun.Options{Users: true}

// assertNoWriteLost checks the users wrote and every write acknowledged
// since the environment started is in the data that serves, read from
// the volume's files.
func assertNoWriteLost(t *testing.T, res *localrun.Result) {
	t.Helper()
	w := res.UserWrites
	if w == nil {
		t.Fatal("no write accounting")
	}
	if w.Acknowledged == 0 || w.Lost != 0 {
		t.Errorf("writes %+v: want some acknowledged and none lost", *w)
	}
}

// assertOldLiveServesItsData checks a data rollback's end: the original
// live instance serves, maintenance off, app running, its data mounted
// and holding every write.
func assertOldLiveServesItsData(t *testing.T, env *localrun.Env, res *localrun.Result) {
	t.Helper()
	assertClean(t, env, res)
	assertNoWriteLost(t, res)
	app := env.Region.Host(env.Fixture.LiveInstance).App()
	if !app.Running || app.Maintenance || app.Frozen || app.MountedVolume == "" || !slices.Equal(res.UserWrites.Volumes, []string{app.MountedVolume}) {
		t.Errorf("the old live app after the rollback: %+v (writes read from %v)", app, res.UserWrites.Volumes)
	}
}

// TestDataStepsRollBack fails each data step, in both modes, and checks
// the old instance is left serving its data with every write.
func TestDataStepsRollBack(t *testing.T) {
	for _, mode := range dataModes {
		t.Run(mode, func(t *testing.T) {
			env := localrun.NewTestEnv(t, realUsers, withData(mode))
			for i, state := range []string{release.StatePrepareTestData, release.StateAttachTestData, release.StateCutover} {
				t.Run(state, func(t *testing.T) {
					env.SetFault(&localrun.Fault{State: state, Kind: localrun.FaultError})
					defer env.SetFault(nil)
					res, err := env.Release(ctxT(t), "3.0."+string(rune('0'+i)), nil)
					if err != nil {
						t.Fatal(err)
					}
					if res.Status != release.RolledBack || !strings.Contains(res.Cause, "injected") {
						t.Fatalf("status %s: %s", res.Status, res.Cause)
					}
					assertPath(t, res, failedAt(t, routeForward, mode, state))
					assertOldLiveServesItsData(t, env, res)
				})
			}
		})
	}
}

// TestDataFailuresInsideTheWindow fails the cutover once the maintenance
// page is up, the way EBS and instances fail: the volume is in another AZ,
// the device name is taken, the volume stays in use, the mount fails.
func TestDataFailuresInsideTheWindow(t *testing.T) {
	cases := []struct {
		name, mode, why string
		inject          func(env *localrun.Env)
	}{
		{"volume in another AZ", release.DataMove, "another Availability Zone", func(env *localrun.Env) {
			env.Region.Inject(sim.Fault{Service: sim.ServiceEC2, Operation: "AttachVolume", Caller: "cutover", Code: "InvalidVolume.ZoneMismatch",
				Message: "The volume is not in the same availability zone as the instance."})
		}},
		{"device name taken", release.DataRestore, "already in use", func(env *localrun.Env) {
			env.Region.Inject(sim.Fault{Service: sim.ServiceEC2, Operation: "AttachVolume", Caller: "cutover", Code: "InvalidParameterValue",
				Message: "Invalid value '/dev/sdf' for unixDevice. Attachment point /dev/sdf is already in use"})
		}},
		{"volume stuck in use", release.DataMove, "stuck", func(env *localrun.Env) {
			env.Region.Inject(sim.Fault{Service: sim.ServiceEC2, Operation: "AttachVolume", Caller: "cutover", Code: "VolumeInUse",
				Message: "vol is already attached to an instance", Always: true})
		}},
		{"mount fails on the candidate", release.DataMove, "mount the data on the candidate", func(env *localrun.Env) {
			env.Region.FailCommands(sim.CommandFault{Document: "data", Outcome: sim.Outcome{Status: ssmtypes.CommandInvocationStatusFailed,
				Stdout: "mount: /var/lib/shop: wrong fs type, bad option, bad superblock\n"}, InstanceID: "candidate"})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := localrun.NewTestEnv(t, realUsers, withData(c.mode))
			// The hook runs on the scheduler's goroutine.
			var injected atomic.Bool
			// Once the maintenance page is up, in the middle of the
			// cutover's invocation (it polls on the simulated clock): the
			// window is open.
			env.AfterAdvance(func(_, _ time.Time) {
				if injected.Load() || !env.Region.Host(env.Fixture.LiveInstance).App().Maintenance {
					return
				}
				injected.Store(true)
				if c.name == "mount fails on the candidate" {
					cand := candidateOf(env)
					env.Region.FailCommands(sim.CommandFault{Document: "data", InstanceID: cand, Outcome: sim.Outcome{Status: ssmtypes.CommandInvocationStatusFailed,
						Stdout: "mount: /var/lib/shop: wrong fs type, bad option, bad superblock\n"}})
					return
				}
				c.inject(env)
			})
			res, err := env.Release(ctxT(t), "4.0.0", nil)
			if err != nil {
				t.Fatal(err)
			}
			env.Region.ClearFaults()
			if !injected.Load() {
				t.Fatal("the maintenance page never went up")
			}
			if res.Status != release.RolledBack || !strings.Contains(res.Cause, "DataFailed") || !strings.Contains(res.Cause, c.why) {
				t.Fatalf("status %s: %s; want RolledBack with DataFailed: %s", res.Status, res.Cause, c.why)
			}
			// The cutover put the maintenance page up, then failed.
			assertPath(t, res, failedAt(t, routeForward, c.mode, release.StateCutover))
			assertOldLiveServesItsData(t, env, res)
		})
	}
}

func candidateOf(env *localrun.Env) string {
	for _, r := range env.Region.Inventory() {
		if r.Kind == sim.KindInstance && r.ID != env.Fixture.LiveInstance && r.State == "running" {
			return r.ID
		}
	}
	return ""
}

// TestDataVerifyFailureAfterTheSwitch breaks the new version after the
// switch: the data, with the writes users made on the candidate
// meanwhile, goes back to the old instance under maintenance, then
// traffic.
func TestDataVerifyFailureAfterTheSwitch(t *testing.T) {
	for _, mode := range dataModes {
		t.Run(mode, func(t *testing.T) {
			var env *localrun.Env
			var broken atomic.Bool
			opts := realUsers
			opts.AfterInvoke = func(inv localrun.Invocation, out []byte, err error) {
				// A bake round once users have written on the candidate:
				// stop its app.
				if inv.State != release.StateVerifyLive || err != nil || broken.Load() {
					return
				}
				if w, err := env.UserWrites(); err == nil && w.ByVersion["5.0.0"] > 0 {
					broken.Store(true)
					env.Region.Host(candidateOf(env)).StopApp()
				}
			}
			env = localrun.NewTestEnv(t, opts, withData(mode))
			res, err := env.Release(ctxT(t), "5.0.0", nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != release.RolledBack || !strings.Contains(res.Cause, "VerifyFailed") {
				t.Fatalf("status %s: %s", res.Status, res.Cause)
			}
			assertPath(t, res, failedAt(t, routeForward, mode, release.StateVerifyLive))
			if !broken.Load() || res.UserWrites.ByVersion["5.0.0"] == 0 {
				t.Fatalf("writes %+v: want some acknowledged by the candidate (5.0.0) before it broke", res.UserWrites)
			}
			assertOldLiveServesItsData(t, env, res)
			if mode == release.DataRestore {
				// The stale original volume was set aside, detached.
				out, err := env.Region.EC2().DescribeVolumes(context.Background(), &ec2.DescribeVolumesInput{VolumeIds: []string{env.Fixture.DataVolume}})
				if err != nil || len(out.Volumes) != 1 || len(out.Volumes[0].Attachments) != 0 {
					t.Errorf("the original volume: %+v %v", out, err)
				} else if slices.Contains(res.UserWrites.Volumes, aws.ToString(out.Volumes[0].VolumeId)) {
					t.Error("the stale original volume is serving")
				}
			}
		})
	}
}

// TestDataRollbackMovesDataBack releases with a data volume, then rolls
// back: the data (with the writes made after the release) moves back to
// the old instance under maintenance, before traffic.
func TestDataRollbackMovesDataBack(t *testing.T) {
	for _, mode := range dataModes {
		t.Run(mode, func(t *testing.T) {
			env := localrun.NewTestEnv(t, realUsers, withData(mode))
			ctx := ctxT(t)
			rel, err := env.Release(ctx, "6.0.0", nil)
			if err != nil || rel.Status != release.Released {
				t.Fatalf("release: %v %v", rel, err)
			}
			res, err := env.Rollback(ctx, localrun.RollbackRequest{RequestedBy: "test"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != release.Released {
				t.Fatalf("rollback: %s %s", res.Status, res.Cause)
			}
			assertPath(t, res, path(release.StatePrepareSwitchBack, release.StateKeepPrevious, cutoverWait, release.StateSwitchTraffic, bake,
				release.StateRecordRelease, release.Released))
			if res.ModelSeconds.MaintenanceWindow <= 0 || res.ModelSeconds.MaintenanceWindow > 60 {
				t.Errorf("switch-back window %.1fs", res.ModelSeconds.MaintenanceWindow)
			}
			assertOldLiveServesItsData(t, env, res)
			if mode == release.DataRestore {
				// The previous instance's stale copy (the original volume)
				// was set aside: detached, and dated for the retire sweep
				// (which deletes only dated, detached volumes of the app).
				out, err := env.Region.EC2().DescribeVolumes(context.Background(), &ec2.DescribeVolumesInput{VolumeIds: []string{env.Fixture.DataVolume}})
				if err != nil || len(out.Volumes) != 1 {
					t.Fatalf("the original volume: %+v %v", out, err)
				}
				v := out.Volumes[0]
				due, err := time.Parse(time.RFC3339, tagValue(v.Tags, release.TagRetireAfter))
				want := env.Region.Now().Add(time.Duration(env.Config.RetentionDays) * 24 * time.Hour)
				if len(v.Attachments) != 0 || err != nil || due.After(want) || want.Sub(due) > time.Hour {
					t.Errorf("the stale copy %s: attachments %d, retire after %q; want detached and dated about %s", env.Fixture.DataVolume, len(v.Attachments),
						tagValue(v.Tags, release.TagRetireAfter), want.Format(time.RFC3339))
				}
			}
		})
	}
}

func tagValue(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// TestLongNamesRelease: the longest app name the config allows and a long
// version make a 63-character release id; every name and token derived
// from it (client tokens, command comments, schedule names) must stay
// within its AWS limit, which the simulated region enforces, in both data
// modes, and the restore-mode cutover must not reuse the test copy's
// client token (IdempotentParameterMismatch on AWS).
func TestLongNamesRelease(t *testing.T) {
	for _, mode := range dataModes {
		t.Run(mode, func(t *testing.T) {
			env := localrun.NewTestEnv(t, realUsers, func(c *release.Config) {
				c.Data.Mode = mode
				old := c.App
				c.App = "a-very-long-application-name-31"
				for i := range c.SmokeTests {
					if c.SmokeTests[i].BodyContains == old {
						c.SmokeTests[i].BodyContains = c.App // the sample app shows its name
					}
				}
			})
			res, err := env.Release(ctxT(t), "2026.12.03-build.4711-feature-branch", nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.ReleaseID) != 63 {
				t.Fatalf("release id %q has %d characters, want the longest (63)", res.ReleaseID, len(res.ReleaseID))
			}
			if res.Status != release.Released {
				t.Fatalf("status %s: %s", res.Status, res.Cause)
			}
			assertNoWriteLost(t, res)
		})
	}
}
