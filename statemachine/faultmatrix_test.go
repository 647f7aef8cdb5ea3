package statemachine_test

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
)

// The fault matrix: every Task state of both workflows, in every data mode
// it exists in, meets the faults a step meets in AWS, and the execution
// must end the way the retry policy (release.go) promises. A transient
// fault is retried and the execution ends as it would have without it. A
// hard one is injected after all of the state's AWS calls (error-after:
// the step acted, then failed, and Step Functions kept nothing of what it
// did), and then at each call around each action that invocation took
// (faultPositions, --fail-call K), however long it polls:
// before the commit point the execution ends in the compensating
// rollback, with the old instance serving its data; after it, Released
// with the new one serving. Either way: the Elastic IP on a running
// instance that answers, no user write lost, nothing the execution made
// left behind, the lock free.

// transientKinds are the faults a release must survive.
var transientKinds = []string{
	localrun.FaultThrottle, // a throttling burst: three calls refused
	localrun.FaultNotFound, // eventual consistency: not visible yet
	localrun.FaultTimeout,  // the function times out after its work
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
	// hardTail is the path after the state when a hard error fails its
	// first invocation: where the state's catch leads. None when the
	// state's retry policy retries a one-off hard error, and the
	// execution then goes as without it.
	hardTail []string
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

// noAWSCallNA is why the faults that answer an AWS call (a throttle, a
// NotFound) cannot land in a step that makes none; an error still fails
// it (the local engine fails a step that made no call).
func noAWSCallNA(why string) map[string]string {
	na := map[string]string{}
	for _, k := range []string{localrun.FaultThrottle, localrun.FaultNotFound} {
		na[k] = why + ": no AWS call to answer"
	}
	return na
}

var matrix = []matrixRow{
	{state: release.StatePrepare, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack},
	{state: release.StateLaunchCandidate, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack,
		notApplicable: notFoundNA("it reads the AMI parameter and image, which exist long before, lists the release's candidates by tag (filters never answer NotFound) and creates the instances (RunInstances)")},
	{state: release.StateCheckCandidate, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack},
	{state: release.StateDeployRelease, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack,
		notApplicable: notFoundNA("its only AWS call is SendCommand to a candidate CheckCandidate already saw online in SSM")},
	{state: release.StateCheckDeploy, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack},
	{state: release.StateRunSmokeTests, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack,
		notApplicable: noAWSCallNA("it only probes the candidate over HTTP (in the VPC it has no path to an AWS API)")},
	{state: release.StateAwaitApproval, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack,
		notApplicable: notFoundNA("it calls the ledger (DynamoDB) and SNS only")},
	{state: release.StateKeepPrevious, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack},
	{state: release.StateSwitchTraffic, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack,
		notApplicable: notFoundNA("it names the Elastic IP and the candidate, both seen long before (DescribeAddresses, AssociateAddress)")},
	{state: release.StateVerifyLive, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack,
		notApplicable: notFoundNA("it calls HTTP and the ledger (DynamoDB) only")},
	// Past the commit point: the release stands (a one-off hard error is
	// retried; TestRecordFailureLeavesTheReleaseStanding has the lasting
	// ones).
	{state: release.StateRecordRelease, route: routeForward, transient: release.Released, hard: release.Released},
	// A rollback pass that meets a hard error once is repeated: the next
	// pass looks at AWS again and finishes (only an action failing on
	// rollback.GiveUpAfter passes gives up: TestRollbackGivesUp).
	{state: release.StateRollback, route: routeRefused, transient: release.RolledBack, hard: release.RolledBack},
	// Failing to record a rejection still ends Rejected (nothing was
	// created), through RejectionNotRecorded: a hard error is not retried
	// there. Failing to report a failed rollback still ends
	// RollbackFailed, with the lock freed and the alarm raised by the
	// parts of the report that worked (a one-off hard error is retried).
	{state: release.StateRecordRejection, route: routeInvalid, transient: release.Rejected, hard: release.Rejected,
		hardTail:      path(release.StateRejectionNotRecorded, release.Rejected),
		notApplicable: notFoundNA("it calls the ledger (DynamoDB) and SNS only")},
	{state: release.StateAbandon, route: routeStuck, transient: release.RollbackFailed, hard: release.RollbackFailed},

	// The data steps, on an environment with a data volume: the test copy
	// (restore and move make it alike) and the cutover in each mode.
	{state: release.StatePrepareTestData, mode: release.DataRestore, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack},
	{state: release.StateAttachTestData, mode: release.DataRestore, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack},
	{state: release.StateCutover, mode: release.DataRestore, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack},
	{state: release.StateCutover, mode: release.DataMove, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack},

	// The rollback command's workflow: its own first step, the data moved
	// back, and the steps it shares with a release.
	{state: release.StatePrepareSwitchBack, route: routeSwitchBack, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack},
	{state: release.StateCutover, mode: release.DataMove, route: routeSwitchBack, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack},
	{state: release.StateSwitchTraffic, route: routeSwitchBack, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack,
		notApplicable: notFoundNA("it names the Elastic IP and the kept instance, both seen long before")},
	{state: release.StateVerifyLive, route: routeSwitchBack, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack,
		notApplicable: notFoundNA("it calls HTTP and the ledger (DynamoDB) only")},
	{state: release.StateKeepPrevious, route: routeSwitchBack, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack},
	{state: release.StateRecordRelease, route: routeSwitchBack, transient: release.Released, hard: release.Released},

	// Behind the load balancer (an environment of its own): the
	// candidate's registration and the traffic steps, in a release and in
	// a switch back, and the rollback after a refused approval, which
	// puts the kept instance back in the target group the candidate took.
	{state: release.StateRegisterCandidate, mode: albMode, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack,
		notApplicable: notFoundNA("it calls the load balancer and the ledger only")},
	{state: release.StateShiftTraffic, mode: albMode, route: routeForward, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack,
		notApplicable: notFoundNA("it calls the load balancer, CloudWatch, HTTP and the ledger only")},
	{state: release.StateRollback, mode: albMode, route: routeRefused, transient: release.RolledBack, hard: release.RolledBack},
	{state: release.StatePrepareSwitchBack, mode: albMode, route: routeSwitchBack, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack},
	{state: release.StateRegisterCandidate, mode: albMode, route: routeSwitchBack, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack,
		notApplicable: notFoundNA("it calls the load balancer and the ledger only")},
	{state: release.StateShiftTraffic, mode: albMode, route: routeSwitchBack, transient: release.Released, hard: release.RolledBack, hardTail: rolledBack,
		notApplicable: notFoundNA("it calls the load balancer, CloudWatch, HTTP and the ledger only")},
}

// albMode is the matrix's environment behind the load balancer (no data
// volume), as a row's mode.
const albMode = "alb"

// matrixConfig is a matrix environment's config for a row mode.
// matrixUsers runs the real apps and a few users: every cell then checks
// that no acknowledged write is lost, read from the serving volume.
func matrixUsers(mode string) localrun.Options {
	o := localrun.Options{Users: true, ReadsPerSecond: 0.2}
	if mode == release.DataRestore || mode == release.DataMove {
		o.WritesPerSecond = 0.2
	}
	return o
}

func matrixConfig(mode string) func(*release.Config) {
	return func(c *release.Config) {
		c.Data.Mode = release.DataNone
		switch mode {
		case albMode:
			// Two steps: a fault walks a state's first invocation, and
			// every cell runs a whole release; more steps would only
			// repeat the second's passes.
			withALB(50, 100)(c)
		case release.DataRestore, release.DataMove:
			c.Data.Mode = mode
		}
		// Every test copy restores the last release's snapshot, however
		// much simulated time the matrix has spent, so the test-copy step
		// makes the same calls in every cell.
		c.Data.SnapshotMaxAge = release.Duration(30 * 24 * time.Hour)
	}
}

// routePath is the path of an execution along a route in a data mode
// ("" is none) when no fault lands: spelled out, as the scenario tests
// spell theirs, not read from the definition the test is about.
func routePath(route, mode string) []string {
	data := func(p ...any) []string {
		if mode != release.DataRestore && mode != release.DataMove {
			return nil
		}
		return path(p...)
	}
	upToApproval := path(prepared, data(release.StatePrepareTestData), candidateWait, data(testDataWait),
		release.StateDeployRelease, deployWait, release.StateRunSmokeTests, release.StateAwaitApproval)
	cutOverAndCommit := path(release.StateKeepPrevious, data(cutoverWait), release.StateSwitchTraffic, bake, release.StateRecordRelease, release.Released)
	if mode == albMode {
		cutOverAndCommit = path(release.StateKeepPrevious, targetWait, shifting, release.StateRecordRelease, release.Released)
	}
	switch route {
	case routeForward:
		return path(upToApproval, cutOverAndCommit)
	case routeRefused:
		return path(upToApproval, rolledBack)
	case routeInvalid:
		return rejected
	case routeStuck:
		// The first rollback pass runs out of retries on the throttling.
		return path(upToApproval, release.StateRollback, release.StateAbandon, release.RollbackFailed)
	case routeSwitchBack:
		return path(release.StatePrepareSwitchBack, cutOverAndCommit)
	}
	panic("no path for route " + route)
}

// upTo is a path up to and including the first entry of state; for a
// state in a poll loop, the loop's first pass up to it.
func upTo(p []string, state string) ([]string, bool) {
	for i, s := range p {
		if s == state {
			return slices.Clone(p[:i+1]), true
		}
		for _, l := range loops {
			if s != l.String() {
				continue
			}
			if k := slices.Index(l.first(), state); k >= 0 {
				return append(slices.Clone(p[:i]), l.first()[:k+1]...), true
			}
		}
	}
	return nil, false
}

// failedAt is the path of an execution along a route, in a data mode,
// that one of its states failed (at its first invocation, or in a later
// pass of its loop): the route as far as the state, then the rollback.
func failedAt(t *testing.T, route, mode, state string) []string {
	t.Helper()
	before, ok := upTo(routePath(route, mode), state)
	if !ok {
		t.Fatalf("%s is not on the %s route", state, route)
	}
	return path(before, rolledBack)
}

// wantPath is the path a cell must take. A fault the execution survives
// (transient, not applicable, never landed) leaves the route's path as it
// is. A hard error fails the state's first invocation: the path runs as
// far as that, then where the row says the catch leads, unless the
// state's retry policy repeats it.
func wantPath(t *testing.T, row matrixRow, survived bool) []string {
	t.Helper()
	route := routePath(row.route, row.mode)
	if survived || row.hardTail == nil {
		return route
	}
	before, ok := upTo(route, row.state)
	if !ok {
		t.Fatalf("%s is not on the %s route: %s", row.state, row.route, strings.Join(route, " > "))
	}
	return path(before, row.hardTail)
}

// TestMatrixRowsSayWhereAHardErrorGoes: a row whose hard error ends
// otherwise than its transient fault must say where its catch leads, and
// that tail must end in the hard end.
func TestMatrixRowsSayWhereAHardErrorGoes(t *testing.T) {
	for _, row := range matrix {
		switch {
		case row.hard != row.transient && row.hardTail == nil:
			t.Errorf("%s (%s): a hard error ends %s, not %s, but the row has no hardTail", row.name(), row.route, row.hard, row.transient)
		case row.hardTail != nil && row.hardTail[len(row.hardTail)-1] != row.hard:
			t.Errorf("%s (%s): hardTail %v does not end in %s", row.name(), row.route, row.hardTail, row.hard)
		}
		if _, ok := upTo(routePath(row.route, row.mode), row.state); !ok {
			t.Errorf("%s is not on the path of the %s route", row.name(), row.route)
		}
	}
}

// matrixModes are the data modes the rows use, each run on its own
// environment.
var matrixModes = []string{"", release.DataRestore, release.DataMove, albMode}

// faultCodes are the error codes each kind answers calls with.
func faultCodes(kind string) []string {
	switch kind {
	case localrun.FaultThrottle:
		return []string{sim.ThrottleCode(sim.ServiceEC2), sim.ThrottleCode(sim.ServiceSSM), sim.ThrottleCode(sim.ServiceSNS),
			sim.ThrottleCode(sim.ServiceS3), sim.ThrottleCode(sim.ServiceDynamoDB), sim.ThrottleCode(sim.ServiceScheduler), sim.ThrottleCode(sim.ServiceSFN),
			sim.ThrottleCode(sim.ServiceELB), sim.ThrottleCode(sim.ServiceCloudWatch)}
	case localrun.FaultError:
		return []string{"UnauthorizedOperation", "AccessDenied", "AuthorizationError", "AccessDeniedException"}
	case localrun.FaultNotFound:
		return []string{"InvalidInstanceID.NotFound", "InvalidVolume.NotFound", "InvalidSnapshot.NotFound", "InvocationDoesNotExist"}
	}
	return nil
}

// cell is one run of the matrix: a row and the fault it meets.
type cell struct {
	kind string
	call int // for FaultError: which call of the invocation fails
}

func (c cell) String() string {
	if c.kind == localrun.FaultError {
		return fmt.Sprintf("error at call %d", c.call)
	}
	return c.kind
}

// TestFaultMatrix runs every row with every fault, on one local
// environment per data mode and group of routes (side by side).
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several hundred executions")
	}
	groups := [][]string{{routeForward}, {routeRefused, routeInvalid, routeStuck, routeSwitchBack}}
	for _, mode := range matrixModes {
		for g, routes := range groups {
			t.Run(cmp.Or(mode, release.DataNone)+"/"+strings.Join(routes, ","), func(t *testing.T) {
				t.Parallel()
				env := localrun.NewTestEnv(t, matrixUsers(mode), matrixConfig(mode))
				if (mode == "" || mode == albMode) && g == 0 {
					checkCoverage(t, env.Stack)
				}
				// A first release leaves the environment as every later one
				// finds it (a recent snapshot of the data, a kept instance),
				// so the calibrated call counts hold for every cell.
				if res, err := env.Release(ctxT(t), "0.0.1", nil); err != nil || res.Status != release.Released {
					t.Fatalf("the first release: %+v %v", res, err)
				}
				n := 0
				for _, row := range matrix {
					if row.mode != mode || !slices.Contains(routes, row.route) {
						continue
					}
					t.Run(row.name(), func(t *testing.T) {
						// The fault after every call first: the state's
						// invocation then makes all its calls, and they say
						// where the hard errors below must land.
						var calls []sim.Call
						for _, kind := range append([]string{localrun.FaultErrorAfter}, transientKinds...) {
							n++
							t.Run(kind, func(t *testing.T) {
								_, res := runCell(t, env, row, cell{kind: kind}, fmt.Sprintf("%d.%d.%d", 20+g, len(mode), n))
								if kind == localrun.FaultErrorAfter {
									calls = env.FirstInvocation(res.ReleaseID, row.state)
								}
							})
						}
						// A hard error at each call around each action the
						// invocation takes (before it, the action itself,
						// right after it), at the first of each kind of
						// read, and at the last call: the whole invocation,
						// however long it polls.
						for _, k := range faultPositions(calls) {
							n++
							last := false
							if !t.Run(fmt.Sprintf("error at call %d", k), func(t *testing.T) {
								last, _ = runCell(t, env, row, cell{kind: localrun.FaultError, call: k}, fmt.Sprintf("%d.%d.%d", 20+g, len(mode), n))
							}) || last {
								break
							}
						}
					})
				}
			})
		}
	}
}

// faultPositions are the calls of an invocation (1-based) where a hard
// error is injected: the first and the last; each call that changes AWS
// (anything but a Describe, Get, List, Query, Head or Scan), the call
// before it and the call after it (the action has happened and nothing
// has recorded it yet); and the first call of each operation. Between
// two actions an invocation only polls: a fault there meets the same
// world as the one just after the action or just before the next. With no
// calls, the first position still proves the state makes none.
func faultPositions(calls []sim.Call) []int {
	n := len(calls)
	picked := map[int]bool{1: true, n: true}
	seen := map[string]bool{}
	for i, c := range calls {
		k := i + 1
		op := c.Service + ":" + c.Operation
		if !seen[op] {
			seen[op] = true
			picked[k] = true
		}
		if !reads(c.Operation) {
			picked[k-1], picked[k], picked[k+1] = true, true, true
		}
	}
	var out []int
	for k := range picked {
		if k >= 1 && (k <= n || k == 1) {
			out = append(out, k)
		}
	}
	sort.Ints(out)
	return out
}

// reads reports whether an AWS operation only reads.
func reads(op string) bool {
	for _, p := range []string{"Describe", "Get", "List", "Query", "Head", "Scan"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// runRoute sets the route up and runs it (for a switch back, a release
// first); arm runs just before the execution the row is about.
func runRoute(t *testing.T, env *localrun.Env, row matrixRow, version string, arm func()) *localrun.Result {
	t.Helper()
	ctx := ctxT(t)
	cleanup := func() {}
	defer func() { cleanup() }()
	var body []byte
	switch row.route {
	case routeRefused:
		env.SetApprove(localrun.ApproveReject)
		cleanup = func() { env.SetApprove(localrun.ApproveAuto) }
	case routeInvalid:
		body = []byte("not a tarball")
	case routeStuck:
		env.SetApprove(localrun.ApproveReject)
		env.Region.Inject(sim.Fault{Service: sim.ServiceEC2, Caller: registry.Rollback, Code: sim.ThrottleCode(sim.ServiceEC2), Always: true})
		cleanup = func() { env.SetApprove(localrun.ApproveAuto); env.Region.ClearFaults() }
	case routeSwitchBack:
		// The release the rollback command undoes.
		if res, err := env.Release(ctx, version+"-kept", nil); err != nil || res.Status != release.Released {
			t.Fatalf("the release to switch back from: %+v %v", res, err)
		}
	}
	arm()
	var (
		res *localrun.Result
		err error
	)
	if row.route == routeSwitchBack {
		res, err = env.Rollback(ctx, localrun.RollbackRequest{RequestedBy: "fault matrix"})
	} else {
		res, err = env.Release(ctx, version, body)
	}
	env.SetFault(nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
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

// runCell runs one cell; it reports whether a --fail-call K found no K-th
// call (the walk over the invocation is complete).
func runCell(t *testing.T, env *localrun.Env, row matrixRow, c cell, version string) (bool, *localrun.Result) {
	ctx := ctxT(t)
	m := env.Machine()
	if row.route == routeSwitchBack {
		m = env.Stack.SwitchBack
	}
	fn := m.Tasks[row.state].Function
	na, skip := row.notApplicable[c.kind]
	transient := slices.Contains(transientKinds, c.kind)
	want := row.hard
	if transient || skip {
		want = row.transient
	}
	serving := func() (string, string) {
		live := env.Live()
		if app, err := env.Region.App(live); err == nil {
			return live, app.Version
		}
		return live, ""
	}
	var before, beforeVersion string
	callsBefore, messagesBefore := len(env.Region.Calls()), len(env.Region.Messages())
	// Where a successful execution must leave traffic: a new instance
	// serving the version, or for a switch back the kept instance.
	var keptLive, keptVersion string
	armed := func() {
		before, beforeVersion = serving()
		if row.route == routeSwitchBack {
			rec, ok, err := env.Deps.Ledger().Serving(ctx, env.Config.App)
			if err != nil || !ok || rec.PreviousInstance == "" {
				t.Fatalf("no kept instance to switch back to: %+v %v", rec, err)
			}
			keptLive, keptVersion = rec.PreviousInstance, rec.PreviousVersion
		}
		callsBefore, messagesBefore = len(env.Region.Calls()), len(env.Region.Messages())
		env.SetFault(&localrun.Fault{State: row.state, Kind: c.kind, Call: c.call})
	}
	res := runRoute(t, env, row, version, armed)
	return check(t, env, row, c, want, res, fn, na, skip, callsBefore, messagesBefore, before, beforeVersion, keptLive, keptVersion, version, serving), res
}

func check(t *testing.T, env *localrun.Env, row matrixRow, c cell, want string, res *localrun.Result, fn, na string, skip bool,
	callsBefore, messagesBefore int, liveBefore, versionBefore, keptLive, keptVersion, version string, serving func() (string, string)) (last bool) {
	t.Helper()
	last = res.FaultMissed != ""
	if last {
		// No K-th call: the run went on as without a fault.
		if c.call <= 1 && !skip {
			t.Errorf("the fault never landed: %s", res.FaultMissed)
		}
		want, skip = row.transient, true
	}
	if res.Status != want {
		t.Fatalf("ended %s, want %s (%s): %s\npath: %s", res.Status, want, c, res.Cause, strings.Join(res.StatesEntered, " > "))
	}
	survived := skip || slices.Contains(transientKinds, c.kind)
	if got, wanted, ok := samePath(res.StatesEntered, wantPath(t, row, survived)); !ok {
		t.Errorf("path (%s at %s)\n got: %s\nwant: %s", c, row.state, got, wanted)
	}
	fired := faultFired(env.Region.Calls()[callsBefore:], res, fn, row.state, c.kind)
	switch {
	case skip && fired:
		t.Errorf("marked not applicable (%s), but the fault landed", na)
	case !skip && !fired:
		t.Errorf("the %s fault never landed on %s (%s): the case proves nothing (%s)", c, row.state, fn, res.FaultMissed)
	}
	// Never a front routing to nothing, or to an instance that does not
	// answer.
	if !res.LiveServing {
		t.Errorf("the front's instance %s does not serve", res.LiveInstanceID)
	}
	live, liveVersion := serving()
	switch want {
	case release.Released:
		wantLive := "a new instance"
		ok := live != liveBefore && liveVersion == version
		if row.route == routeSwitchBack {
			wantLive, version = "the kept "+keptLive, keptVersion
			ok = live == keptLive && liveVersion == keptVersion
		}
		if !ok {
			t.Errorf("live is %s serving %q, want %s serving %s", live, liveVersion, wantLive, version)
		}
	case release.RolledBack, release.Rejected, release.RollbackFailed:
		if live != liveBefore || liveVersion != versionBefore {
			t.Errorf("live is %s serving %q, want the old %s serving %q", live, liveVersion, liveBefore, versionBefore)
		}
		if want == release.Rejected && launchedBy(env, res.ReleaseID) {
			t.Errorf("a rejected release created resources")
		}
	}
	if want == release.RollbackFailed {
		// What the rollback could not undo stays for a person, who is
		// told at once.
		urgent := false
		for _, m := range env.Region.Messages()[messagesBefore:] {
			urgent = urgent || strings.Contains(m.Subject, "URGENT")
		}
		if !urgent {
			t.Errorf("no urgent notification for a failed rollback")
		}
	} else if len(res.LeakedResources) > 0 {
		t.Errorf("leaked: %+v", res.LeakedResources)
	}
	// Every write the app acknowledged, in this release or before, is in
	// the data that serves, read from the volume's files.
	w := res.UserWrites
	switch {
	case (row.mode == release.DataRestore || row.mode == release.DataMove) && (w == nil || w.Acknowledged == 0):
		t.Errorf("no acknowledged write to check (%+v): the users did not write", w)
	case w != nil && w.Lost > 0:
		t.Errorf("%d acknowledged writes lost (%+v)", w.Lost, *w)
	}
	assertUnlocked(t, env)
	return last
}

// faultFired tells whether the injected fault reached the state: an
// injected error code answered one of its function's calls, the step
// failed after acting (error-after), or (timeout) Step Functions retried
// the state.
func faultFired(calls []sim.Call, res *localrun.Result, fn, state, kind string) bool {
	switch kind {
	case localrun.FaultTimeout:
		for _, ev := range res.Timeline {
			if ev.Type == "StateRetried" && ev.State == state {
				return true
			}
		}
		return false
	case localrun.FaultErrorAfter:
		for _, ev := range res.Timeline {
			if strings.Contains(ev.Cause, "injected by --fault error-after") {
				return true
			}
		}
		return strings.Contains(res.Cause, "injected by --fault error-after") || strings.Contains(res.Warning, "error-after")
	}
	codes := faultCodes(kind)
	for _, c := range calls {
		if c.Caller == fn && slices.Contains(codes, c.Code) {
			return true
		}
	}
	// A hard error in a step that made no AWS call is injected as the
	// step's own failure.
	return kind == localrun.FaultError && (strings.Contains(res.Cause, "injected by --fault error") || strings.Contains(res.Warning, "injected by --fault error"))
}

// TestFaultPositions: around every action (the call before, the action,
// the call after), the first of each read, the first and the last call;
// the polls between two actions are left out.
func TestFaultPositions(t *testing.T) {
	op := func(names ...string) []sim.Call {
		var out []sim.Call
		for _, n := range names {
			out = append(out, sim.Call{Service: sim.ServiceEC2, Operation: n})
		}
		return out
	}
	calls := op("DescribeVolumes", "DescribeVolumes", "DescribeVolumes", "DetachVolume", "DescribeVolumes", "DescribeVolumes",
		"DescribeVolumes", "DescribeVolumes", "AttachVolume", "DescribeVolumes", "DescribeVolumes")
	if got, want := faultPositions(calls), []int{1, 3, 4, 5, 8, 9, 10, 11}; !slices.Equal(got, want) {
		t.Errorf("positions %v, want %v", got, want)
	}
	if got := faultPositions(nil); !slices.Equal(got, []int{1}) {
		t.Errorf("no calls: %v, want [1] (the fault must be seen not to land)", got)
	}
}
