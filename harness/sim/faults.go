package sim

import (
	"time"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Fault makes calls fail with an AWS error instead of doing their work.
// Every matching call counts: the first Nth-1 pass, then Times calls fail
// (or every call, with Always). Combine fields for the usual cases:
//
//	Fault{Service: ServiceEC2, Operation: "AttachVolume", Code: "VolumeInUse"}            // the next call
//	Fault{Service: ServiceEC2, Operation: "RunInstances", Code: "InsufficientInstanceCapacity", Nth: 2} // the second call
//	Fault{Service: ServiceSSM, Code: "ThrottlingException", Times: 3}                   // the next three SSM calls
//	Fault{Service: ServiceSNS, Operation: "Publish", Code: "InternalError", Always: true, Caller: "notify"}
type Fault struct {
	Service   string // required: ServiceEC2, ServiceSSM, ServiceScheduler, ServiceSNS, ServiceSFN, ServiceS3, ServiceDynamoDB, ServiceKMS, ServiceELB, ServiceCloudWatch
	Operation string // "" matches every operation of the service
	Caller    string // "" matches every caller
	Code      string // required: the AWS error code
	Message   string // "" uses the message AWS sends with Code, where known
	Nth       int    // fail from the Nth matching call on (1-based); 0 means the next one
	Times     int    // how many calls fail; 0 means 1
	Always    bool   // fail every matching call from the Nth on
}

type faultRule struct {
	Fault
	skip      int // matching calls still to let through
	remaining int // calls still to fail; -1 for always
}

// Inject adds a fault. Faults apply in the order injected; the first that
// fires answers the call.
func (r *Region) Inject(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rule := &faultRule{Fault: f, skip: max(f.Nth-1, 0), remaining: max(f.Times, 1)}
	if f.Always {
		rule.remaining = -1
	}
	r.faults = append(r.faults, rule)
}

// Throttle makes the next n calls to a service fail with the code that
// service throttles with (RequestLimitExceeded for EC2, ThrottlingException
// for SSM, Scheduler and Step Functions, Throttled for SNS, SlowDown for
// S3, ProvisionedThroughputExceededException for DynamoDB, Throttling for
// ELB and CloudWatch), the burst a busy account sees.
func (r *Region) Throttle(service string, n int) {
	r.Inject(Fault{Service: service, Code: throttleCode[service], Times: n})
}

// throttleCode is the code each service throttles with.
var throttleCode = map[string]string{
	ServiceEC2:       "RequestLimitExceeded",
	ServiceSSM:       "ThrottlingException",
	ServiceScheduler: "ThrottlingException",
	ServiceSNS:       "Throttled",
	ServiceSFN:       "ThrottlingException",
	ServiceS3:        "SlowDown",
	ServiceDynamoDB:  "ProvisionedThroughputExceededException",
	ServiceKMS:       "ThrottlingException",
	// Both answer over the query protocol (CloudWatch in query-compatible
	// mode) with <Code>Throttling</Code> and "Rate exceeded": "An error
	// occurred (Throttling) when calling the DescribeTargetHealth operation
	// ...: Rate exceeded" (ansible-collections/community.aws#444), the same
	// ErrorResponse from ELB in zalando-stups/senza#81, and for CloudWatch
	// "<Code>Throttling</Code> <Message>Rate exceeded</Message>" (AWS
	// re:Post Knowledge Center, "cloudwatch-400-error-throttling",
	// repost.aws/knowledge-center/cloudwatch-400-error-throttling). The
	// ELB user guide's page names the condition ThrottlingException
	// ("Request throttling for the ELB API",
	// elasticloadbalancing/latest/userguide/elb-api-throttling.html:
	// "you get the ThrottlingException error code and a Rate exceeded
	// error message"); the wire code is Throttling, and the SDK's retryer
	// treats both as throttling.
	ServiceELB:        "Throttling",
	ServiceCloudWatch: "Throttling",
}

// defaultMessages are the messages AWS sends with common injected codes.
var defaultMessages = map[string]string{
	"RequestLimitExceeded":                   "Request limit exceeded.",
	"ThrottlingException":                    "Rate exceeded",
	"Throttled":                              "Rate exceeded",
	"Throttling":                             "Rate exceeded",
	"InternalError":                          "An internal error has occurred",
	"Unavailable":                            "The service is unavailable. Please try again shortly.",
	"InsufficientInstanceCapacity":           "We currently do not have sufficient capacity in the Availability Zone you requested.",
	"SlowDown":                               "Please reduce your request rate.",
	"ProvisionedThroughputExceededException": "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
}

// ClearFaults removes every injected fault, impairment and command fault.
func (r *Region) ClearFaults() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = nil
	r.commandFaults = nil
	r.impairNext = 0
}

// Interceptor decides, just before a call runs, whether it fails: a
// non-empty code fails it with that AWS error (and message, or the one AWS
// sends with the code). The local engine uses it to fail the first call a
// chosen step makes, whichever service that is. named says whether the
// call names resources by id: a "not visible yet" error comes only from a
// call that does ("If you specify an instance ID that is not valid, an
// error is returned"; a call with only filters answers with what matches,
// DescribeInstances, Amazon EC2 API Reference:
// /AWSEC2/latest/APIReference/API_DescribeInstances.html). It runs with
// the region locked and must not call back into it.
type Interceptor func(service, operation, caller string, named bool) (code, message string)

// Intercept installs f (nil removes it). Interceptor faults come before
// injected ones.
func (r *Region) Intercept(f Interceptor) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.intercept = f
}

// ThrottleCode is the error code a service throttles with.
func ThrottleCode(service string) string { return throttleCode[service] }

// injected returns the error an injected fault answers this call with,
// or nil. Called with r.mu held.
func (r *Region) injected(service, op, caller string, named bool) error {
	if r.intercept != nil {
		if code, msg := r.intercept(service, op, caller, named); code != "" {
			if msg == "" {
				msg = defaultMessages[code]
			}
			return apiError(service, code, msg)
		}
	}
	return r.injectedFault(service, op, caller)
}

// injectedFault is injected without the interceptor: the faults tests
// injected, which also reach the KMS calls a call makes on its caller's
// behalf. Called with r.mu held.
func (r *Region) injectedFault(service, op, caller string) error {
	var fired *faultRule
	for _, f := range r.faults {
		if f.Service != service || (f.Operation != "" && f.Operation != op) || (f.Caller != "" && f.Caller != caller) {
			continue
		}
		if f.skip > 0 {
			f.skip--
			continue
		}
		if fired == nil && f.remaining != 0 {
			fired = f
			if f.remaining > 0 {
				f.remaining--
			}
		}
	}
	live := r.faults[:0]
	for _, f := range r.faults {
		if f.remaining != 0 {
			live = append(live, f)
		}
	}
	r.faults = live
	if fired == nil {
		return nil
	}
	msg := fired.Message
	if msg == "" {
		msg = defaultMessages[fired.Code]
	}
	return apiError(service, fired.Code, msg)
}

// ImpairNextInstance makes the next n instances launched fail their
// instance status check: they run, but the OS never comes up, so the
// status stays impaired, SSM never sees the agent and the app never
// answers.
func (r *Region) ImpairNextInstance(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.impairNext += n
}

// NoCapacityIn makes RunInstances in zone az fail, as EC2 does when it has
// no On-Demand capacity for the type there: InsufficientInstanceCapacity,
// naming the zone and suggesting others ("Troubleshoot instance launch
// issues", Amazon EC2 User Guide:
// /AWSEC2/latest/UserGuide/troubleshooting-launch.html#troubleshooting-launch-capacity;
// the code is in "Error codes for the Amazon EC2 API":
// /AWSEC2/latest/APIReference/errors-overview.html). No instance is
// launched, so nothing is recorded for the client token. on false
// gives the zone its capacity back.
func (r *Region) NoCapacityIn(az string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.noCapacity == nil {
		r.noCapacity = map[string]bool{}
	}
	r.noCapacity[az] = on
}

// ImpairInstance makes an existing instance fail its status check from
// now on, as an OS that hangs would; the app stops answering too.
func (r *Region) ImpairInstance(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.instances[id]
	if !ok {
		return errUnknown("instance", id)
	}
	i.impaired = true
	if i.impairedAt.IsZero() {
		i.impairedAt = r.now()
	}
	return nil
}

// StopAgent stops the SSM agent on an instance that keeps running (as
// `systemctl stop amazon-ssm-agent` would): it goes ConnectionLost, and
// commands cannot reach it.
func (r *Region) StopAgent(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.instances[id]
	if !ok {
		return errUnknown("instance", id)
	}
	i.agentStopped = true
	return nil
}

// CommandFault makes commands fail (or time out) on the instance instead
// of running the executor: matching invocations get Outcome.
type CommandFault struct {
	// Document matches the document name or its kind ("deploy"); "" any.
	Document string
	// InstanceID matches one instance; "" any.
	InstanceID string
	// Outcome is what the invocation reports. A zero Status means Failed;
	// zero ResponseCode with Failed means 1; zero Duration means 1 s.
	Outcome Outcome
	// Times is how many invocations fail; 0 means 1, negative always.
	Times int
}

// FailCommands adds a command fault.
func (r *Region) FailCommands(f CommandFault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	if f.Outcome.Status == "" {
		f.Outcome.Status = ssmtypes.CommandInvocationStatusFailed
	}
	if f.Outcome.Status == ssmtypes.CommandInvocationStatusFailed && f.Outcome.ResponseCode == 0 {
		f.Outcome.ResponseCode = 1
	}
	if f.Outcome.Duration == 0 {
		f.Outcome.Duration = time.Second
	}
	if f.Outcome.Stdout == "" {
		f.Outcome.Stdout = "injected failure\n"
	}
	r.commandFaults = append(r.commandFaults, &f)
}

// commandFault returns the injected outcome for an invocation, if any.
// Called with r.mu held.
func (r *Region) commandFault(document string, kind DocumentKind, instanceID string) (Outcome, bool) {
	for i, f := range r.commandFaults {
		if f.Document != "" && f.Document != document && f.Document != string(kind) {
			continue
		}
		if f.InstanceID != "" && f.InstanceID != instanceID {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				r.commandFaults = append(r.commandFaults[:i:i], r.commandFaults[i+1:]...)
			}
		}
		return f.Outcome, true
	}
	return Outcome{}, false
}
