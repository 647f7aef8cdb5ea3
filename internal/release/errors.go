package release

import (
	"errors"
	"fmt"
	"reflect"
)

// Cause is the text of a step error. Embedding it gives an error type its
// Error method, so each error below is one line.
type Cause string

func (c Cause) Error() string { return string(c) }

// Causef formats a Cause.
func Causef(format string, args ...any) Cause { return Cause(fmt.Sprintf(format, args...)) }

// Step errors. aws-lambda-go reports a returned error's Go type name as the
// Lambda errorType, and Step Functions matches Retry and Catch on it, so each
// type name here is an ASL error name. Handlers return them unwrapped.
type (
	// EventInvalid: the trigger event is not an S3 Object Created event
	// for a release artifact.
	EventInvalid struct{ Cause }
	// ArtifactInvalid: the artifact cannot be released (not gzip, bad tar,
	// unsafe path, too large, checksum mismatch).
	ArtifactInvalid struct{ Cause }
	// ReleaseInProgress: another release of the app holds the lock.
	ReleaseInProgress struct{ Cause }
	// ConfigMismatch: the config does not fit what is in AWS (a subnet in
	// another AZ than the live instance, a data device it does not have).
	ConfigMismatch struct{ Cause }
	// NothingToRollBack: there is no previous instance to switch back to
	// (none kept, retired, or not the one asked for).
	NothingToRollBack struct{ Cause }
	// LiveNotFound: the Elastic IP is not associated with a usable
	// instance, so there is nothing to release next to.
	LiveNotFound struct{ Cause }
	// CandidateNotReady: the candidate did not pass its checks in time.
	CandidateNotReady struct{ Cause }
	// DeployFailed: the deploy document failed on the candidate; the
	// cause is the script's last line.
	DeployFailed struct{ Cause }
	// SmokeTestFailed: a smoke test did not pass.
	SmokeTestFailed struct{ Cause }
	// VerifyFailed: the public endpoint failed a check after the switch.
	VerifyFailed struct{ Cause }
	// TargetUnhealthy: the load balancer does not find the candidate
	// healthy (its health check, security groups).
	TargetUnhealthy struct{ Cause }
	// ShiftFailed: a check during a traffic step failed: an alarm, the
	// error-rate comparison, or a smoke test through the load balancer.
	ShiftFailed struct{ Cause }
	// Aborted: an operator aborted the release (greenlight abort).
	Aborted struct{ Cause }
	// DataFailed: a data-volume step cannot go on (wrong AZ, device name
	// taken, volume stuck in use, mount failed).
	DataFailed struct{ Cause }
	// RollbackIncomplete: the compensating rollback could not undo
	// everything; a human must look.
	RollbackIncomplete struct{ Cause }
	// StepFailed: a step failed for a reason none of the names above
	// covers (a bug or an unforeseen condition); it is not retried.
	StepFailed struct{ Cause }

	// Throttled: AWS asked us to slow down or failed transiently; the state
	// machine retries with backoff.
	Throttled struct{ Cause }
	// NotYetVisible: a resource just created is not visible yet (eventual
	// consistency); the state machine retries shortly.
	NotYetVisible struct{ Cause }
	// AWSError: an AWS call failed for a reason retrying will not fix.
	AWSError struct{ Cause }
)

// ErrorName is the name Step Functions sees for err: its dynamic type name,
// exactly as aws-lambda-go computes it.
func ErrorName(err error) string {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// Name is ErrorName for an error value given by its type, for use in ASL
// Retry and Catch lists: Name(DeployFailed{}).
func Name(err error) string { return ErrorName(err) }

// stepError is implemented by every error type above (through Cause).
type stepError interface {
	error
	stepError()
}

func (Cause) stepError() {}

// AsStepError finds a step error in err's chain, so a handler that wrapped
// one by mistake still reports the right name.
func AsStepError(err error) (error, bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if se, ok := e.(stepError); ok {
			if _, bare := e.(Cause); !bare {
				return se, true
			}
		}
	}
	return nil, false
}
