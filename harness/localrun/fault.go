package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
)

// Fault kinds: what `greenlight local --fail-at STATE --fault KIND` does to
// that state's next invocation.
const (
	// FaultThrottle: the step's next three AWS calls are throttled, with
	// each service's own code. Transient: the release goes on.
	FaultThrottle = "throttle"
	// FaultError: one of the step's AWS calls (the first, or the
	// Fault.Call-th) fails with an access error. Hard: the release rolls
	// back, or, after the commit point, stands with a warning.
	FaultError = "error"
	// FaultErrorAfter: every AWS call of the step succeeds, then the step
	// fails with a hard error, as if its last call (the ledger write) had
	// failed: Step Functions keeps no result of a failed step, so what it
	// did is known only to AWS.
	FaultErrorAfter = "error-after"
	// FaultNotFound: the step's first EC2 or SSM call does not see the
	// resource yet (eventual consistency). Transient.
	FaultNotFound = "not-found"
	// FaultImpaired: the candidate fails its status checks.
	FaultImpaired = "impaired"
	// FaultCommandFailed: the SSM command the step runs fails on the
	// instance.
	FaultCommandFailed = "command-failed"
	// FaultTimeout: the function runs out of time after doing its work,
	// so Step Functions sees Lambda.Unknown and runs it again.
	FaultTimeout = "timeout"
	// FaultAlarm: the first of traffic.alarms goes to ALARM as the step
	// is invoked, so a step that reads the alarms sees it (alb mode
	// only). It stays in ALARM. Hard: the release rolls back.
	FaultAlarm = "alarm"
	// FaultNoCapacity: while LaunchCandidate runs, EC2 has no capacity in
	// the live instance's zone (InsufficientInstanceCapacity), so its
	// candidates launch in the next launch subnet; with no other subnet
	// (one instance behind an Elastic IP) the release rolls back.
	FaultNoCapacity = "no-capacity"
)

// FaultKinds lists the kinds, for flags and errors.
var FaultKinds = []string{FaultThrottle, FaultError, FaultErrorAfter, FaultNotFound, FaultImpaired, FaultCommandFailed, FaultTimeout, FaultAlarm, FaultNoCapacity}

// Transient reports whether a fault kind is one the release must survive.
func Transient(kind string) bool {
	return kind == FaultThrottle || kind == FaultNotFound || kind == FaultTimeout
}

// Fault fails one state's next invocation.
type Fault struct {
	State string
	Kind  string
	// Call, for FaultError, is which of the invocation's AWS calls fails,
	// counting from 1 (0 means 1): a test can walk every call of every
	// step.
	Call int
}

// Check says whether the fault fits the machine and the config: the state
// exists and is a Task, and the kind applies to it.
func (f Fault) Check(m *Machine, cfg release.Config) error {
	if _, ok := m.Tasks[f.State]; !ok {
		return fmt.Errorf("--fail-at %q is not a Task state; the Task states are: %s", f.State, strings.Join(m.TaskStates(), ", "))
	}
	if f.Call < 0 || (f.Call > 1 && f.Kind != FaultError) {
		return fmt.Errorf("--fail-call %d: it picks which AWS call of %s fails with --fault error; it must be 1 or more", f.Call, f.State)
	}
	switch f.Kind {
	case FaultThrottle, FaultError, FaultErrorAfter, FaultNotFound, FaultTimeout:
	case FaultImpaired:
		if f.State != release.StateLaunchCandidate && f.State != release.StateCheckCandidate {
			return fmt.Errorf("--fault impaired applies to %s or %s, which wait for the candidate's status checks", release.StateLaunchCandidate, release.StateCheckCandidate)
		}
	case FaultNoCapacity:
		if f.State != release.StateLaunchCandidate {
			return fmt.Errorf("--fault no-capacity applies to %s, which launches the candidates", release.StateLaunchCandidate)
		}
	case FaultCommandFailed:
		if !commandStates[f.State] {
			return fmt.Errorf("--fault command-failed applies to the states that run SSM commands: %s", strings.Join(sortedKeys(commandStates), ", "))
		}
	case FaultAlarm:
		if !cfg.UsesALB() || len(cfg.Traffic.Alarms) == 0 {
			return fmt.Errorf("--fault alarm raises one of traffic.alarms, which releases watch only when traffic.mode is %q: run with --traffic alb", release.TrafficALB)
		}
	default:
		return fmt.Errorf("--fault %q is not one of %s", f.Kind, strings.Join(FaultKinds, ", "))
	}
	return nil
}

// commandStates run or follow SSM commands on instances.
var commandStates = map[string]bool{release.StateDeployRelease: true, release.StateCheckDeploy: true,
	release.StateAttachTestData: true, release.StateCutover: true}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// hardCodes are access errors as each service words them: not retryable.
var hardCodes = map[string]string{
	sim.ServiceEC2: "UnauthorizedOperation", sim.ServiceS3: "AccessDenied", sim.ServiceSNS: "AuthorizationError",
}

// notFoundCodes are EC2's and SSM's "not visible yet" answers by operation.
var notFoundCodes = map[string]string{
	"DescribeInstances": "InvalidInstanceID.NotFound", "DescribeInstanceStatus": "InvalidInstanceID.NotFound",
	"TerminateInstances": "InvalidInstanceID.NotFound", "CreateTags": "InvalidInstanceID.NotFound", "DeleteTags": "InvalidInstanceID.NotFound",
	"DescribeVolumes": "InvalidVolume.NotFound", "AttachVolume": "InvalidVolume.NotFound", "DetachVolume": "InvalidVolume.NotFound",
	"DeleteVolume": "InvalidVolume.NotFound", "DescribeSnapshots": "InvalidSnapshot.NotFound", "CreateVolume": "InvalidSnapshot.NotFound",
	"GetCommandInvocation": "InvocationDoesNotExist",
}

// apply runs one invocation with the fault in force.
func (f *Fault) apply(ctx context.Context, e *Env, inv Invocation, invoke func(context.Context) ([]byte, error)) ([]byte, error) {
	switch f.Kind {
	case FaultThrottle:
		left := 3
		e.Region.Intercept(func(service, op, caller string, _ bool) (string, string) {
			if caller != inv.Function || left == 0 {
				return "", ""
			}
			left--
			return sim.ThrottleCode(service), ""
		})
		// The burst outlives this invocation: the retries meet the rest.
		// Spent, the interceptor passes everything.
		return invoke(ctx)
	case FaultError, FaultNotFound:
		fired := false
		nth := max(f.Call, 1)
		seen := 0
		e.Region.Intercept(func(service, op, caller string, named bool) (string, string) {
			if fired || caller != inv.Function {
				return "", ""
			}
			if f.Kind == FaultError {
				if seen++; seen < nth {
					return "", ""
				}
				fired = true
				msg := fmt.Sprintf("injected by --fault error at call %d", nth)
				if code, ok := hardCodes[service]; ok {
					return code, msg
				}
				return "AccessDeniedException", msg
			}
			if code, ok := notFoundCodes[op]; ok && named && (service == sim.ServiceEC2 || service == sim.ServiceSSM) {
				fired = true
				return code, ""
			}
			return "", ""
		})
		out, err := invoke(ctx)
		e.Region.Intercept(nil)
		if !fired && f.Kind == FaultError {
			if nth > 1 {
				// Nothing to fail: the run goes on as without the fault,
				// and the result says the fault never landed.
				e.faultMissed(fmt.Sprintf("--fail-call %d: %s made only %d AWS calls in its invocation", nth, inv.State, seen))
				return out, err
			}
			// The step made no AWS call: fail it as its first call would.
			return nil, release.AWSError{Cause: release.Causef("%s: injected by --fault error (the step made no AWS call)", inv.Function)}
		}
		return out, err
	case FaultErrorAfter:
		out, err := invoke(ctx)
		if err != nil {
			return out, err // it failed by itself: nothing to add
		}
		return nil, release.AWSError{Cause: release.Causef("%s: injected by --fault error-after: its AWS calls succeeded, then its last one failed", inv.Function)}
	case FaultImpaired:
		if inv.State == release.StateLaunchCandidate {
			e.Region.ImpairNextInstance(1)
		} else if id := candidateOf(inv.Payload); id != "" {
			if err := e.Region.ImpairInstance(id); err != nil {
				return nil, err
			}
		}
		return invoke(ctx)
	case FaultCommandFailed:
		e.Region.FailCommands(sim.CommandFault{Times: 1, Outcome: sim.Outcome{
			Status: ssmtypes.CommandInvocationStatusFailed, ResponseCode: 1, Stdout: "injected by --fault command-failed\n"}})
		return invoke(ctx)
	case FaultTimeout:
		// The function does its work; the answer is lost to the timeout.
		_, _ = invoke(ctx)
		return nil, &TimedOut{After: 30 * time.Second}
	case FaultNoCapacity:
		e.Region.NoCapacityIn(e.Fixture.LiveAZ, true)
		defer e.Region.NoCapacityIn(e.Fixture.LiveAZ, false)
		return invoke(ctx)
	case FaultAlarm:
		name := e.Config.Traffic.Alarms[0]
		if err := e.Region.SetAlarm(name, cwtypes.StateValueAlarm, "Threshold Crossed: injected by greenlight local --fault alarm"); err != nil {
			return nil, err
		}
		return invoke(ctx)
	}
	return invoke(ctx)
}

func candidateOf(payload []byte) string {
	var d release.Doc
	if json.Unmarshal(payload, &d) != nil || d.Candidate == nil {
		return ""
	}
	return d.Candidate.First().InstanceID
}
