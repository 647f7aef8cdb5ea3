package statemachine_test

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/greenlight/greenlight/internal/localrun"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/sim"
	"github.com/greenlight/greenlight/lambdas/registry"
	sm "github.com/greenlight/greenlight/statemachine"
)

// The fault matrix: every Task state of both workflows, in every data mode
// it exists in, meets each of the four faults a step meets in AWS, once,
// and the execution must end the way the retry policy (release.go)
// promises: a transient fault is retried and the execution ends as it
// would have without it; a hard one ends in the compensating rollback,
// with the old instance serving its data, no user write lost and nothing
// the execution made left behind.

// Fault kinds in the matrix, and whether the release must survive them.
var matrixKinds = []struct {
	kind      string
	transient bool
}{
	{localrun.FaultThrottle, true}, // a throttling burst: three calls refused
	{localrun.FaultError, false},   // a hard AWS error (access denied)
	{localrun.FaultNotFound, true}, // eventual consistency: not visible yet
	{localrun.FaultTimeout, true},  // the function times out after its work
}

// Routes: how a release reaches a state.
const (
	// routeForward is an approved release of a good artifact: it passes
	// every forward state.
	routeForward = "forward"
	// routeRefused refuses the approval, so the rollback runs with a
	// candidate to terminate.
	routeRefused = "approval refused"
	// routeInvalid uploads an artifact that is not a tarball, so Prepare
	// refuses it and the rejection is recorded.
	routeInvalid = "invalid artifact"
	// routeStuck refuses the approval and throttles every EC2 call of the
	// rollback for good, so its retries run out and the failure report
	// runs.
	routeStuck = "rollback stuck"
	// routeSwitchBack releases, then runs the rollback command (the
	// second workflow) with the fault armed: it must end back on the
	// previous instance, or, on a hard fault, still on the new one.
	routeSwitchBack = "switch back"
)

// matrixRow says how an execution reaches one Task state and how it must
// end with each fault there.
type matrixRow struct {
	state string
	// mode is the data mode of the environment ("" is none).
	mode  string
	route string
	// transient and hard are the ends after a transient fault and after
	// a hard error.
	transient, hard string
	// notApplicable names the kinds that cannot land in this state, and
	// why. The case still runs with the fault armed and checks that it
	// never fired and the release ended as without it.
	notApplicable map[string]string
}

func (r matrixRow) name() string {
	n := r.state
	if r.route == routeSwitchBack {
		n = "switch back " + n
	}
	return n
}

// notFoundNA is why an eventual-consistency NotFound cannot land in a step
// whose calls all name long-lived resources: the fault answers only the
// EC2 and SSM reads that can race a resource's creation (localrun's
// notFoundCodes).
func notFoundNA(calls string) map[string]string {
	return map[string]string{localrun.FaultNotFound: calls + ": no EC2 or SSM call that can meet a resource not yet visible"}
}

var matrix = []matrixRow{
	{state: sm.Prepare, route: routeForward, transient: sm.Released, hard: sm.RolledBack},
	{state: sm.LaunchCandidate, route: routeForward, transient: sm.Released, hard: sm.RolledBack,
		notApplicable: notFoundNA("it reads the AMI parameter and image, which exist long before, and creates the instance (RunInstances)")},
	{state: sm.CheckCandidate, route: routeForward, transient: sm.Released, hard: sm.RolledBack},
	{state: sm.DeployRelease, route: routeForward, transient: sm.Released, hard: sm.RolledBack,
		notApplicable: notFoundNA("its only AWS call is SendCommand to a candidate CheckCandidate already saw online in SSM")},
	{state: sm.CheckDeploy, route: routeForward, transient: sm.Released, hard: sm.RolledBack},
	{state: sm.RunSmokeTests, route: routeForward, transient: sm.Released, hard: sm.RolledBack,
		notApplicable: notFoundNA("it calls HTTP and the ledger (DynamoDB) only")},
	{state: sm.AwaitApproval, route: routeForward, transient: sm.Released, hard: sm.RolledBack,
		notApplicable: notFoundNA("it calls the ledger (DynamoDB) and SNS only")},
	{state: sm.SwitchTraffic, route: routeForward, transient: sm.Released, hard: sm.RolledBack,
		notApplicable: notFoundNA("it names the Elastic IP and the candidate, both seen long before (DescribeAddresses, AssociateAddress)")},
	{state: sm.VerifyLive, route: routeForward, transient: sm.Released, hard: sm.RolledBack,
		notApplicable: notFoundNA("it calls HTTP and the ledger (DynamoDB) only")},
	{state: sm.Finish, route: routeForward, transient: sm.Released, hard: sm.RolledBack},
	// A rollback that meets a hard error cannot undo and says so: the
	// urgent notification goes out and the lock is freed.
	{state: sm.Rollback, route: routeRefused, transient: sm.RolledBack, hard: sm.RollbackFailed},
	// Failing to record a rejection still ends Rejected (nothing was
	// created); failing to report a failed rollback still ends
	// RollbackFailed, with the lock freed and the alarm raised by the
	// parts of the report that worked.
	{state: sm.RecordRejection, route: routeInvalid, transient: sm.Rejected, hard: sm.Rejected,
		notApplicable: notFoundNA("it calls the ledger (DynamoDB) and SNS only")},
	{state: sm.Abandon, route: routeStuck, transient: sm.RollbackFailed, hard: sm.RollbackFailed,
		notApplicable: notFoundNA("it calls the ledger (DynamoDB) and SNS only")},

	// The data steps, on an environment with a data volume: the test copy
	// (restore and move make it alike) and the cutover in each mode.
	{state: sm.PrepareTestData, mode: release.DataRestore, route: routeForward, transient: sm.Released, hard: sm.RolledBack},
	{state: sm.AttachTestData, mode: release.DataRestore, route: routeForward, transient: sm.Released, hard: sm.RolledBack},
	{state: sm.Cutover, mode: release.DataRestore, route: routeForward, transient: sm.Released, hard: sm.RolledBack},
	{state: sm.Cutover, mode: release.DataMove, route: routeForward, transient: sm.Released, hard: sm.RolledBack},

	// The rollback command's workflow: its own first step, the data moved
	// back, and the steps it shares with a release.
	{state: sm.PrepareSwitchBack, route: routeSwitchBack, transient: sm.Released, hard: sm.RolledBack},
	{state: sm.Cutover, mode: release.DataMove, route: routeSwitchBack, transient: sm.Released, hard: sm.RolledBack},
	{state: sm.SwitchTraffic, route: routeSwitchBack, transient: sm.Released, hard: sm.RolledBack,
		notApplicable: notFoundNA("it names the Elastic IP and the kept instance, both seen long before")},
	{state: sm.VerifyLive, route: routeSwitchBack, transient: sm.Released, hard: sm.RolledBack,
		notApplicable: notFoundNA("it calls HTTP and the ledger (DynamoDB) only")},
	{state: sm.Finish, route: routeSwitchBack, transient: sm.Released, hard: sm.RolledBack},
}

// matrixModes are the data modes the rows use, each run on its own
// environment.
var matrixModes = []string{"", release.DataRestore, release.DataMove}

// faultCodes are the error codes each kind answers calls with.
func faultCodes(kind string) []string {
	switch kind {
	case localrun.FaultThrottle:
		return []string{sim.ThrottleCode(sim.ServiceEC2), sim.ThrottleCode(sim.ServiceSSM), sim.ThrottleCode(sim.ServiceSNS),
			sim.ThrottleCode(sim.ServiceS3), sim.ThrottleCode(sim.ServiceDynamoDB), sim.ThrottleCode(sim.ServiceScheduler), sim.ThrottleCode(sim.ServiceSFN)}
	case localrun.FaultError:
		return []string{"UnauthorizedOperation", "AccessDenied", "AuthorizationError", "AccessDeniedException"}
	case localrun.FaultNotFound:
		return []string{"InvalidInstanceID.NotFound", "InvalidVolume.NotFound", "InvalidSnapshot.NotFound", "InvocationDoesNotExist"}
	}
	return nil
}

// TestFaultMatrix runs every row with every kind, on one local environment
// per kind and data mode (the kinds run side by side).
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about a hundred and fifty executions")
	}
	for k, fk := range matrixKinds {
		for _, mode := range matrixModes {
			t.Run(fk.kind+"/"+cmp.Or(mode, release.DataNone), func(t *testing.T) {
				t.Parallel()
				env := localrun.NewTestEnv(t, localrun.Options{}, func(c *release.Config) { c.Data.Mode = cmp.Or(mode, release.DataNone) })
				if k == 0 {
					checkCoverage(t, env.Stack)
				}
				for i, row := range matrix {
					if row.mode != mode {
						continue
					}
					t.Run(row.name(), func(t *testing.T) {
						runCell(t, env, row, fk.kind, fk.transient, fmt.Sprintf("%d.%d.0", 20+k, i))
					})
				}
			})
		}
	}
}

// checkCoverage fails for a Task state of either workflow the matrix has
// no row for.
func checkCoverage(t *testing.T, s *localrun.Stack) {
	var rows []string
	for _, r := range matrix {
		rows = append(rows, r.state)
	}
	for _, m := range []*localrun.Machine{s.Release, s.SwitchBack} {
		for _, st := range m.TaskStates() {
			if !slices.Contains(rows, st) {
				t.Errorf("Task state %s has no row in the fault matrix (statemachine/faultmatrix_test.go): say how an execution reaches it and how it must end", st)
			}
		}
	}
}

func runCell(t *testing.T, env *localrun.Env, row matrixRow, kind string, transient bool, version string) {
	ctx := ctxT(t)
	m := env.Machine()
	if row.route == routeSwitchBack {
		m = env.Stack.SwitchBack
	}
	fn := m.Tasks[row.state].Function
	na, skip := row.notApplicable[kind]
	want := row.hard
	if transient || skip {
		want = row.transient
	}
	serving := func() (string, string) {
		live := env.Region.TrafficTarget(env.Fixture.AllocationID)
		if app, err := env.Region.App(live); err == nil {
			return live, app.Version
		}
		return live, ""
	}
	if row.route == routeSwitchBack {
		// The release the rollback command undoes.
		if res, err := env.Release(ctx, version, nil); err != nil || res.Status != sm.Released {
			t.Fatalf("the release to switch back from: %+v %v", res, err)
		}
	}
	liveBefore, versionBefore := serving()
	// Where a successful execution must leave traffic: a new instance
	// serving the version, or for a switch back the kept instance.
	var keptLive, keptVersion string
	if row.route == routeSwitchBack {
		rec, ok, err := env.Deps.Ledger().Serving(ctx, env.Config.App)
		if err != nil || !ok || rec.PreviousInstance == "" {
			t.Fatalf("no kept instance to switch back to: %+v %v", rec, err)
		}
		keptLive, keptVersion = rec.PreviousInstance, rec.PreviousVersion
	}
	callsBefore, messagesBefore := len(env.Region.Calls()), len(env.Region.Messages())

	var body []byte
	switch row.route {
	case routeRefused:
		env.SetApprove(localrun.ApproveReject)
		defer env.SetApprove(localrun.ApproveAuto)
	case routeInvalid:
		body = []byte("not a tarball")
	case routeStuck:
		env.SetApprove(localrun.ApproveReject)
		defer env.SetApprove(localrun.ApproveAuto)
		env.Region.Inject(sim.Fault{Service: sim.ServiceEC2, Caller: registry.Rollback, Code: sim.ThrottleCode(sim.ServiceEC2), Always: true})
		defer env.Region.ClearFaults()
	}
	env.SetFault(&localrun.Fault{State: row.state, Kind: kind})
	defer env.SetFault(nil)
	var (
		res *localrun.Result
		err error
	)
	if row.route == routeSwitchBack {
		res, err = env.Rollback(ctx, localrun.RollbackRequest{RequestedBy: "fault matrix"})
	} else {
		res, err = env.Release(ctx, version, body)
	}
	if err != nil {
		t.Fatal(err)
	}
	env.SetFault(nil)

	if res.Status != want {
		t.Fatalf("ended %s, want %s (%s): %s\npath: %s", res.Status, want, map[bool]string{true: "transient", false: "hard"}[transient && !skip],
			res.Cause, strings.Join(res.StatesEntered, " > "))
	}
	fired := faultFired(env.Region.Calls()[callsBefore:], res, fn, row.state, kind)
	switch {
	case skip && fired:
		t.Errorf("marked not applicable (%s), but the fault landed", na)
	case !skip && !fired:
		t.Errorf("the %s fault never landed on %s (%s): the case proves nothing", kind, row.state, fn)
	}

	live, liveVersion := serving()
	switch want {
	case sm.Released:
		wantLive := "a new instance"
		ok := live != liveBefore && liveVersion == version
		if row.route == routeSwitchBack {
			wantLive, version = "the kept "+keptLive, keptVersion
			ok = live == keptLive && liveVersion == keptVersion
		}
		if !ok {
			t.Errorf("live is %s serving %q, want %s serving %s", live, liveVersion, wantLive, version)
		}
		if len(res.LeakedResources) > 0 {
			t.Errorf("leaked: %+v", res.LeakedResources)
		}
	case sm.RolledBack, sm.Rejected:
		if live != liveBefore || liveVersion != versionBefore {
			t.Errorf("live is %s serving %q, want the old %s serving %q", live, liveVersion, liveBefore, versionBefore)
		}
		if len(res.LeakedResources) > 0 {
			t.Errorf("leaked: %+v", res.LeakedResources)
		}
		if want == sm.Rejected && launchedBy(env, res.ReleaseID) {
			t.Errorf("a rejected release created resources")
		}
	case sm.RollbackFailed:
		// What the rollback could not undo stays for a person, who is
		// told at once; users still reach the old instance.
		if live != liveBefore || liveVersion != versionBefore {
			t.Errorf("live is %s serving %q, want the old %s serving %q", live, liveVersion, liveBefore, versionBefore)
		}
		urgent := false
		for _, m := range env.Region.Messages()[messagesBefore:] {
			urgent = urgent || strings.Contains(m.Subject, "URGENT")
		}
		if !urgent {
			t.Errorf("no urgent notification for a failed rollback")
		}
	}
	if row.mode != "" && res.Writes != nil && res.Writes.Lost > 0 {
		t.Errorf("%d user writes lost (%+v)", res.Writes.Lost, *res.Writes)
	}
	assertUnlocked(t, env)
}

// faultFired tells whether the injected fault reached the state: an
// injected error code answered one of its function's calls, or (timeout)
// Step Functions retried the state.
func faultFired(calls []sim.Call, res *localrun.Result, fn, state, kind string) bool {
	if kind == localrun.FaultTimeout {
		for _, ev := range res.Timeline {
			if ev.Type == "StateRetried" && ev.State == state {
				return true
			}
		}
		return false
	}
	codes := faultCodes(kind)
	for _, c := range calls {
		if c.Caller == fn && slices.Contains(codes, c.Code) {
			return true
		}
	}
	// A hard error in a step that made no AWS call is injected as the
	// step's own failure.
	return kind == localrun.FaultError && strings.Contains(res.Cause, "injected by --fault error")
}
