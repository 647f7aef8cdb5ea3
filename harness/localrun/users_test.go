package localrun

import (
	"archive/tar"
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/greenlight/greenlight/internal/artifact"
	"github.com/greenlight/greenlight/internal/release"
)

// release runs one release of 2.0.0 with real apps and users and returns
// its result; the environment is closed first, so the test can also
// check that no app process outlives it.
func releaseWithUsers(t *testing.T, o Options, edit func(*release.Config)) (*Result, *Env) {
	t.Helper()
	o.Users = true
	e := NewTestEnv(t, o, edit)
	res, err := e.Release(context.Background(), "2.0.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Traffic == nil {
		t.Fatal("no traffic report")
	}
	t.Logf("%s: %+v; writes %+v", res.Status, res.Traffic, res.UserWrites)
	return res, e
}

// assertNoProcessLeft closes the environment and checks every app
// process it ever started is gone.
func assertNoProcessLeft(t *testing.T, e *Env) {
	t.Helper()
	pids := e.apps.started()
	if len(pids) == 0 {
		t.Fatal("no app process was started")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("app process %d outlived the environment (kill 0: %v)", pid, err)
		}
	}
}

func dataMode(m string) func(*release.Config) {
	return func(c *release.Config) { c.Data.Mode = m }
}

// Behind the Elastic IP without data, the users see the old version, then
// the new, and nothing fails: the remap happens between clock moves, when
// no request is in flight, so at most the connections it cuts could fail.
func TestUsersThroughTheElasticIP(t *testing.T) {
	t.Parallel()
	res, e := releaseWithUsers(t, Options{}, dataMode(release.DataNone))
	tr := res.Traffic
	if res.Status != release.Released || tr.Requests == 0 || tr.OK+tr.Maintenance+tr.Failed != tr.Requests {
		t.Fatalf("%s, traffic %+v", res.Status, tr)
	}
	if tr.Failed > tr.Concurrency || tr.Maintenance != 0 {
		t.Errorf("failed %d (in flight at most %d), maintenance %d: want no failure beyond the requests in flight at the remap and no maintenance page", tr.Failed, tr.Concurrency, tr.Maintenance)
	}
	if tr.VersionsSeen["deploy"]["1.0.0"] == 0 || len(tr.VersionsSeen["deploy"]) != 1 || tr.VersionsSeen["verify"]["2.0.0"] == 0 || len(tr.VersionsSeen["verify"]) != 1 {
		t.Errorf("versions seen %v: want the old one while deploying and the new one in the bake", tr.VersionsSeen)
	}
	if tr.CutAtRemap == 0 {
		t.Error("the remap cut no connection: the users' kept-alive connection to the old instance should have been reset")
	}
	if res.UserWrites != nil {
		t.Errorf("writes %+v without a data volume", res.UserWrites)
	}
	assertNoProcessLeft(t, e)
}

// Through the load balancer, every step of the weighted shift answers:
// nothing fails, and no user who reached the new version is sent back.
func TestUsersThroughTheLoadBalancer(t *testing.T) {
	t.Parallel()
	res, e := releaseWithUsers(t, Options{Traffic: release.TrafficALB}, dataMode(release.DataNone))
	tr := res.Traffic
	if res.Status != release.Released || tr.Failed != 0 || tr.Maintenance != 0 || tr.StickyFlips != 0 {
		t.Fatalf("%s, traffic %+v: want Released, nothing failed, no sticky flip", res.Status, tr)
	}
	if seen := tr.VersionsSeen["cutover"]; seen["1.0.0"] == 0 || seen["2.0.0"] == 0 {
		t.Errorf("during the shift users saw %v: want both versions", seen)
	}
	assertNoProcessLeft(t, e)
}

// With a data volume, a release and a rollback after the switch: every
// answer that is not OK is the maintenance page, and every acknowledged
// write is in the data that serves at the end, read from the files.
func TestUsersLoseNoWrite(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{release.DataMove, release.DataRestore} {
		for _, fault := range []string{"", AppFaultErrors} {
			t.Run(mode+" "+fault, func(t *testing.T) {
				t.Parallel()
				res, e := releaseWithUsers(t, Options{AppFault: fault}, dataMode(mode))
				tr, w := res.Traffic, res.UserWrites
				want := release.Released
				if fault != "" {
					want = release.RolledBack
				}
				if res.Status != want || w == nil {
					t.Fatalf("%s (%s), writes %+v: want %s", res.Status, res.Cause, w, want)
				}
				if tr.Maintenance == 0 || tr.ByPhase["cutover"].Maintenance == 0 {
					t.Errorf("no maintenance page during the cutover: %+v", tr.ByPhase)
				}
				// The fault's own 500s are the only failures allowed.
				if tr.Failed != tr.Errors["status 500"] || (fault == "" && tr.Failed != 0) {
					t.Errorf("failed %d (%v): only the injected 500s may fail", tr.Failed, tr.Errors)
				}
				if w.Acknowledged == 0 || w.Lost != 0 || len(w.Volumes) != 1 {
					t.Errorf("writes %+v: want some acknowledged, none lost, read from the one serving volume", w)
				}
				assertNoProcessLeft(t, e)
			})
		}
	}
}

// --fault app-errors: the users who reach the new version get 500s, the
// bake catches it and the release rolls back to the old version.
func TestAppErrorsRollBack(t *testing.T) {
	t.Parallel()
	for _, traffic := range []string{release.TrafficElasticIP, release.TrafficALB} {
		t.Run(traffic, func(t *testing.T) {
			t.Parallel()
			res, e := releaseWithUsers(t, Options{Traffic: traffic, AppFault: AppFaultErrors}, dataMode(release.DataNone))
			tr := res.Traffic
			if res.Status != release.RolledBack || res.LiveVersion != "1.0.0" || !res.LiveServing {
				t.Fatalf("%s (%s), live %s serving %v: want RolledBack to 1.0.0", res.Status, res.Cause, res.LiveVersion, res.LiveServing)
			}
			if tr.Failed == 0 || tr.Errors["status 500"] != tr.Failed {
				t.Errorf("failed %d (%v): want the users who met the new version's 500s counted", tr.Failed, tr.Errors)
			}
			assertNoProcessLeft(t, e)
		})
	}
}

// --fault app-crash: the new version's process exits on a user's request;
// the front answers 502 until it is restarted, and the release rolls back.
func TestAppCrashRollsBack(t *testing.T) {
	t.Parallel()
	res, e := releaseWithUsers(t, Options{AppFault: AppFaultCrash}, dataMode(release.DataNone))
	if res.Status != release.RolledBack || res.LiveVersion != "1.0.0" || res.Traffic.Errors["status 502"] == 0 {
		t.Fatalf("%s (%s), live %s, errors %v: want RolledBack and users meeting 502s", res.Status, res.Cause, res.LiveVersion, res.Traffic.Errors)
	}
	assertNoProcessLeft(t, e)
}

// Closing the environment in the middle of a release (an interrupted
// `greenlight local`) stops every app process.
func TestInterruptedRunLeavesNoProcess(t *testing.T) {
	t.Parallel()
	e := NewTestEnv(t, Options{Users: true, Approve: ApprovePrompt}, dataMode(release.DataMove))
	if _, err := e.Start(context.Background(), "2.0.0", nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(e.apps.started()) < 2 { // the live app and the candidate's
		if time.Now().After(deadline) {
			t.Fatalf("the candidate's app never started: %v", e.apps.started())
		}
		time.Sleep(20 * time.Millisecond)
	}
	assertNoProcessLeft(t, e)
}

// An artifact whose app cannot start here: the operator is told why, the
// front answers 502, and the smoke tests roll the release back.
func TestAnAppThatDoesNotStart(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var told []string
	e := NewTestEnv(t, Options{Users: true, OnAppProblem: func(id, why string) {
		mu.Lock()
		defer mu.Unlock()
		told = append(told, id+": "+why)
	}}, nil)
	art, err := artifact.Build([]artifact.Entry{
		{Name: "VERSION", Body: "2.0.0\n"},
		{Name: "APP", Body: "shop\n"},
		{Name: "greenlight/", Type: tar.TypeDir, Mode: 0o755},
		{Name: artifact.Entrypoint, Mode: 0o755, Body: "#!/bin/sh\necho 'needs a JVM' >&2\nexit 3\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Release(context.Background(), "2.0.0", art)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != release.RolledBack || !strings.Contains(res.Cause, "502") || res.LiveVersion != "1.0.0" || !res.LiveServing {
		t.Fatalf("%s (%s), live %s: want RolledBack by the smoke tests' 502s, 1.0.0 serving", res.Status, res.Cause, res.LiveVersion)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) == 0 || !strings.Contains(told[0], "needs a JVM") {
		t.Errorf("told %q: want the app's own words", told)
	}
	if res.Traffic.Failed != 0 {
		t.Errorf("users met %d failures: the candidate never served them", res.Traffic.Failed)
	}
}
