package statemachine_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/greenlight/greenlight/internal/ledger"
	"github.com/greenlight/greenlight/internal/localrun"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/sim"
	"github.com/greenlight/greenlight/lambdas/registry"
	sm "github.com/greenlight/greenlight/statemachine"
)

// The fault matrix: every Task state of the Release workflow meets each of
// the four faults a step meets in AWS, once, and the release must end the
// way the retry policy (release.go) promises: a transient fault is retried
// and the release ends as it would have without it; a hard one ends in the
// compensating rollback, with the old instance serving and nothing the
// release made left behind.

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
)

// matrixRow says how a release reaches one Task state and how it must end
// with each fault there.
type matrixRow struct {
	state string
	route string
	// transient and hard are the ends after a transient fault and after
	// a hard error.
	transient, hard string
	// notApplicable names the kinds that cannot land in this state, and
	// why. The case still runs with the fault armed and checks that it
	// never fired and the release ended as without it.
	notApplicable map[string]string
	// gap, when set, is a known way the hard case ends outside DESIGN's
	// five outcomes, and why. The case asserts that end, so fixing the gap
	// fails it: then drop the gap.
	gap *gap
}

type gap struct {
	ends, why string
	// locked: the lock stays held (and no notification goes out).
	locked bool
}

// uncaught is how an execution ends when a step without a Catch fails
// with a hard AWS error.
var uncaught = "Failed(" + release.Name(release.AWSError{}) + ")"

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
	{state: sm.RecordRejection, route: routeInvalid, transient: sm.Rejected, hard: sm.Rejected,
		notApplicable: notFoundNA("it calls the ledger (DynamoDB) and SNS only"),
		gap: &gap{uncaught, "RecordRejection has no Catch, so a hard error recording the refusal fails the execution with AWSError " +
			"instead of ending Rejected; nothing was created, but the ledger record never says Rejected", false}},
	{state: sm.Abandon, route: routeStuck, transient: sm.RollbackFailed, hard: sm.RollbackFailed,
		notApplicable: notFoundNA("it calls the ledger (DynamoDB) and SNS only"),
		gap: &gap{uncaught, "ReportRollbackFailure has no Catch, so a hard error recording the failed rollback fails the execution with AWSError " +
			"instead of ending RollbackFailed; the lock stays held and no urgent notification goes out", true}},
}

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
// per kind (the kinds run side by side).
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about fifty releases")
	}
	for k, fk := range matrixKinds {
		t.Run(fk.kind, func(t *testing.T) {
			t.Parallel()
			env := localrun.NewTestEnv(t, localrun.Options{}, nil)
			if k == 0 {
				checkCoverage(t, env.Machine())
			}
			for i, row := range matrix {
				t.Run(row.state, func(t *testing.T) {
					runCell(t, env, row, fk.kind, fk.transient, fmt.Sprintf("%d.%d.0", 20+k, i))
				})
			}
		})
	}
}

// checkCoverage fails for a Task state the matrix has no row for.
func checkCoverage(t *testing.T, m *localrun.Machine) {
	var rows []string
	for _, r := range matrix {
		rows = append(rows, r.state)
	}
	for _, s := range m.TaskStates() {
		if !slices.Contains(rows, s) {
			t.Errorf("Task state %s has no row in the fault matrix (statemachine/faultmatrix_test.go): say how a release reaches it and how it must end", s)
		}
	}
}

func runCell(t *testing.T, env *localrun.Env, row matrixRow, kind string, transient bool, version string) {
	ctx := ctxT(t)
	fn := env.Machine().Tasks[row.state].Function
	na, skip := row.notApplicable[kind]
	want := row.hard
	if transient || skip {
		want = row.transient
	}
	known := !transient && !skip && row.gap != nil
	if known {
		t.Logf("known gap: %s", row.gap.why)
		want = row.gap.ends
	}
	liveBefore, versionBefore := env.Region.TrafficTarget(env.Fixture.AllocationID), ""
	if app, err := env.Region.App(liveBefore); err == nil {
		versionBefore = app.Version
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
	res, err := env.Release(ctx, version, body)
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

	live := env.Region.TrafficTarget(env.Fixture.AllocationID)
	switch want {
	case sm.Released:
		if live == liveBefore || res.LiveVersion != version {
			t.Errorf("live is %s serving %q, want a new instance serving %s", live, res.LiveVersion, version)
		}
		if len(res.LeakedResources) > 0 {
			t.Errorf("leaked: %+v", res.LeakedResources)
		}
	case sm.RolledBack, sm.Rejected:
		if live != liveBefore || res.LiveVersion != versionBefore {
			t.Errorf("live is %s serving %q, want the old %s serving %q", live, res.LiveVersion, liveBefore, versionBefore)
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
		if live != liveBefore || res.LiveVersion != versionBefore {
			t.Errorf("live is %s serving %q, want the old %s serving %q", live, res.LiveVersion, liveBefore, versionBefore)
		}
		urgent := false
		for _, m := range env.Region.Messages()[messagesBefore:] {
			urgent = urgent || strings.Contains(m.Subject, "URGENT")
		}
		if !urgent {
			t.Errorf("no urgent notification for a failed rollback")
		}
	case uncaught:
		// The known gap: users still reach the old instance.
		if live != liveBefore {
			t.Errorf("live is %s, want the old %s", live, liveBefore)
		}
		if !known {
			break
		}
		rec, err := env.Deps.Ledger().Get(ctx, env.Config.App, res.ReleaseID)
		if err != nil || rec.Status == ledger.StatusRejected || rec.Status == ledger.StatusRollbackFailed {
			t.Errorf("ledger record %s (%v): the gap is gone? then drop it from the matrix", rec.Status, err)
		}
		if row.gap.locked {
			if _, held, _ := env.Deps.Ledger().LockHolder(ctx, env.Config.App); !held {
				t.Errorf("the lock is free: the gap is gone? then drop it from the matrix")
			}
			for _, m := range env.Region.Messages()[messagesBefore:] {
				if strings.Contains(m.Subject, "URGENT") {
					t.Errorf("an urgent notification went out: the gap is gone? then drop it from the matrix")
				}
			}
			// Free the lock for the next case, as the person the gap
			// leaves it to would.
			if _, _, err := env.Deps.Ledger().ForceRelease(ctx, env.Config.App); err != nil {
				t.Fatal(err)
			}
		}
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
