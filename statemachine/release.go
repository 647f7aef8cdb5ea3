// Package statemachine builds greenlight's two workflows with CDK's Step
// Functions constructs. Each state names one thing that happens, so the
// console graph reads as the release; the terminal states say how it
// ended. The state names are the shared vocabulary's (release.State*).
package statemachine

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	sfn "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
)

// Props are what a workflow is built from.
type Props struct {
	Config release.Config
	// Functions are the step functions by handler name.
	Functions map[string]awslambda.IFunction
	// Invokes, if set, is told each function a Task state invokes: the
	// state machine's role must be allowed to (infra grants it).
	Invokes func(awslambda.IFunction)
}

// Definition builds the Release workflow, in the order it runs. Every
// forward step's failure goes to the compensating rollback (failureEnds,
// below); bad input found by Prepare is recorded as a rejection.
func Definition(scope constructs.Construct, props Props) sfn.IChainable {
	b := newBuilder(scope, props)
	data := props.Config.HasData()
	return b.sequence(
		b.first(release.StatePrepare, registry.Prepare, map[string]any{"release.$": "$"}),
		b.step(release.StateLaunchCandidate, registry.Launch, "$.candidate"),
		// With a data volume, the restored copy starts while the
		// candidate boots.
		when(data, func() piece { return b.step(release.StatePrepareTestData, registry.TestData, "$.testData") }),
		b.poll(loop{wait: release.StateWaitForCandidate, check: release.StateCheckCandidate, ready: release.StateCandidateReady,
			handler: registry.CheckCandidate, path: "$.candidate", waitFirst: true}),
		when(data, func() piece {
			return b.poll(loop{check: release.StateAttachTestData, ready: release.StateTestDataReady, wait: release.StateWaitForTestData,
				handler: registry.TestData, path: "$.testData"})
		}),
		b.step(release.StateDeployRelease, registry.Deploy, "$.deploy"),
		b.poll(loop{wait: release.StateWaitForDeploy, check: release.StateCheckDeploy, ready: release.StateDeployDone,
			handler: registry.CheckDeploy, path: "$.deploy", waitFirst: true}),
		b.step(release.StateRunSmokeTests, registry.Smoke, "$.smoke"),
		b.approval(),
		b.cutOverAndCommit("The new version is live; the previous instance is kept for rollback."),
	).start
}

// SwitchBack builds the workflow of `greenlight rollback`: back to the
// instance kept from the previous release, its data moved back under a
// maintenance page, with the same keeping, switch, bake, record and
// compensation as a release.
func SwitchBack(scope constructs.Construct, props Props) sfn.IChainable {
	b := newBuilder(scope, props)
	return b.sequence(
		b.first(release.StatePrepareSwitchBack, registry.SwitchBack, map[string]any{
			"request.$":   "$",
			"name.$":      "$$.Execution.Name",
			"startedAt.$": "$$.Execution.StartTime",
		}),
		b.cutOverAndCommit("The previous release is live again; the instance that served is kept in turn."),
	).start
}

// cutOverAndCommit is the end both workflows share. The serving instance
// is kept for rollback; behind an ALB the candidate is registered and
// healthy first; the data moves to the candidate under maintenance (with a
// data volume); the Elastic IP moves and the public endpoint is verified
// for the bake time, or the load balancer's weights shift step by step,
// each step baked with its checks green. That is the commit point: from
// there the bookkeeping's failure never moves traffic back, it ends
// Released with a warning (ReleaseNotRecorded) that the watch function
// reports.
func (b *builder) cutOverAndCommit(comment string) piece {
	released := sfn.NewSucceed(b.scope, jsii.String(release.Released), &sfn.SucceedProps{Comment: jsii.String(comment)})
	record := b.task(release.StateRecordRelease, registry.RecordRelease, "$.record", retryRecord)
	b.unrecorded(record, release.StateReleaseNotRecorded, "$.record", "$.recordError", released,
		"The release stands (verified); part of its record failed. The watch function tells the operators what to fix.",
		map[string]any{"notRecorded.$": "$.recordError"})
	record.Next(released)
	alb := b.props.Config.UsesALB()
	return b.sequence(
		b.step(release.StateKeepPrevious, registry.KeepPrevious, "$.keep"),
		when(alb, func() piece {
			return b.poll(loop{check: release.StateRegisterCandidate, ready: release.StateTargetHealthy, wait: release.StateWaitForTarget,
				handler: registry.Register, path: "$.register"})
		}),
		when(b.props.Config.HasData(), func() piece {
			return b.poll(loop{check: release.StateCutover, ready: release.StateCutoverDone, wait: release.StateWaitForCutover,
				handler: registry.Cutover, path: "$.cutover"})
		}),
		when(!alb, func() piece { return b.step(release.StateSwitchTraffic, registry.Switch, "$.switch") }),
		when(!alb, func() piece {
			return b.poll(loop{check: release.StateVerifyLive, ready: release.StateBaked, wait: release.StateWaitBeforeVerify,
				handler: registry.Verify, path: "$.verify"})
		}),
		when(alb, func() piece {
			return b.poll(loop{check: release.StateShiftTraffic, ready: release.StateShifted, wait: release.StateWaitBeforeShift,
				handler: registry.Shift, path: "$.shift"})
		}),
		piece{start: record},
	)
}

// approval waits for `greenlight approve` or `reject` on a task token.
func (b *builder) approval() piece {
	fn := b.invoke(registry.Approval)
	t := sfn.NewCustomState(b.scope, jsii.String(release.StateAwaitApproval), &sfn.CustomStateProps{StateJson: &map[string]any{
		"Type": "Task",
		// Step Functions' Lambda integration with a task token: the
		// function stores the token; the answer comes from SendTask*.
		"Resource": "arn:" + *awscdk.Aws_PARTITION() + ":states:::lambda:invoke.waitForTaskToken",
		"Parameters": map[string]any{
			"FunctionName": fn.FunctionArn(),
			"Payload":      map[string]any{"release.$": "$", "token.$": "$$.Task.Token"},
		},
		"TimeoutSeconds": int(b.props.Config.ApprovalTimeout.Seconds()),
		"ResultPath":     "$.approval",
		"Comment":        "Waits for `greenlight approve` or `reject`; no answer by the approval timeout rejects.",
	}})
	retryStep(t)
	t.AddCatch(b.rollbackStart(), &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.failure")})
	return task(t)
}

// builder holds what the states are made from.
type builder struct {
	scope constructs.Construct
	props Props
	// rollback is where every forward step's failure goes; reject where
	// bad input goes. Both are built on first use.
	rollback lambdaTask
	reject   sfn.IChainable
}

func newBuilder(scope constructs.Construct, props Props) *builder {
	return &builder{scope: scope, props: props}
}

// piece is part of a workflow: where it starts, and how it goes on to
// what comes next (nil for an end).
type piece struct {
	start sfn.IChainable
	then  func(next sfn.IChainable)
}

func task(t lambdaTask) piece {
	return piece{start: t, then: func(next sfn.IChainable) { t.Next(next) }}
}

// when builds p only if cond holds; else nothing, which sequence skips.
func when(cond bool, p func() piece) piece {
	if !cond {
		return piece{}
	}
	return p()
}

// sequence chains pieces in order and is itself a piece.
func (b *builder) sequence(pieces ...piece) piece {
	var parts []piece
	for _, p := range pieces {
		if p.start != nil {
			parts = append(parts, p)
		}
	}
	for i := 0; i+1 < len(parts); i++ {
		parts[i].then(parts[i+1].start)
	}
	return piece{start: parts[0].start, then: parts[len(parts)-1].then}
}

// loop is a wait loop: the check says whether its part is ready
// (<path>.ready) and, if not, how long to wait (<path>.waitSeconds).
type loop struct {
	wait, check, ready string // state names
	handler, path      string
	// waitFirst waits before the first check (the thing awaited cannot
	// be ready at once); otherwise the check runs first.
	waitFirst bool
}

// poll builds a loop: Wait → Check → Ready? (or Check → Ready? → Wait →
// Check), going on once the check reports ready.
func (b *builder) poll(l loop) piece {
	check := b.forward(l.check, l.handler, l.path)
	wait := sfn.NewWait(b.scope, jsii.String(l.wait), &sfn.WaitProps{Time: sfn.WaitTime_SecondsPath(jsii.String(l.path + ".waitSeconds"))})
	choice := sfn.NewChoice(b.scope, jsii.String(l.ready), nil)
	wait.Next(check)
	check.Next(choice)
	choice.Otherwise(wait)
	start := sfn.IChainable(check)
	if l.waitFirst {
		start = wait
	}
	return piece{start: start, then: func(next sfn.IChainable) {
		choice.When(sfn.Condition_BooleanEquals(jsii.String(l.path+".ready"), jsii.Bool(true)), next, nil)
	}}
}

// step is a forward step whose failure rolls the release back.
func (b *builder) step(name, handler, resultPath string) piece {
	return task(b.forward(name, handler, resultPath))
}

func (b *builder) forward(name, handler, resultPath string) lambdaTask {
	t := b.task(name, handler, resultPath, retryStep)
	t.AddCatch(b.rollbackStart(), &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.failure")})
	return t
}

// first is a workflow's first step: bad input is rejected, anything else
// rolls back (it may have taken the lock).
func (b *builder) first(name, handler string, payload map[string]any) piece {
	cfgJSON, err := json.Marshal(b.props.Config)
	if err != nil {
		panic(fmt.Sprintf("statemachine: config: %v", err))
	}
	// The config travels as JSON text so that no value in it can be
	// mistaken for a JSONPath.
	payload["config"] = string(cfgJSON)
	payload["execution.$"] = "$$.Execution.Id"
	t := b.taskWith(name, handler, "$", retryStep, payload)
	t.AddCatch(b.rejectStart(), &sfn.CatchProps{Errors: jsii.Strings(Rejections[handler]...), ResultPath: jsii.String("$.failure")})
	t.AddCatch(b.rollbackStart(), &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.failure")})
	return task(t)
}

// rollbackStart is the compensating rollback, built once: a loop of
// passes that each look at AWS and move it back toward the live side,
// until it is RolledBack, or RollbackFailed when it cannot finish (the
// report of that is the last resort).
func (b *builder) rollbackStart() sfn.IChainable {
	if b.rollback != nil {
		return b.rollback
	}
	rollbackFailed := sfn.NewFail(b.scope, jsii.String(release.RollbackFailed), &sfn.FailProps{
		Error: jsii.String(release.RollbackFailed), CausePath: jsii.String("$.rollback.reason"),
		Comment: jsii.String("The release failed and its rollback could not finish: a person must look (urgent notification sent)."),
	})
	abandon := b.task(release.StateAbandon, registry.Abandon, "$.rollback", retryRollback)
	abandon.Next(rollbackFailed)
	// The report itself failing (after its retries) still ends
	// RollbackFailed, saying so: the report does all it can (ledger, lock,
	// notification) before it fails, so whatever part failed is the only
	// one missing.
	b.unrecorded(abandon, release.StateRollbackFailureNotRecorded, "$.rollback", "$.abandonError", rollbackFailed,
		"Reporting the failed rollback failed in part: the cause names the error; the execution history has the rest.",
		map[string]any{
			"outcome":  release.RollbackFailed,
			"reason.$": "States.Format('the rollback could not finish, and reporting it failed in part ({}): check the ledger, the lock and the notification', $.abandonError.Error)",
		})
	b.rollback = b.task(release.StateRollback, registry.Rollback, "$.rollback", retryRollback)
	b.rollback.AddCatch(abandon, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.rollbackError")})
	wait := sfn.NewWait(b.scope, jsii.String(release.StateWaitForRollback), &sfn.WaitProps{Time: sfn.WaitTime_SecondsPath(jsii.String("$.rollback.waitSeconds"))})
	wait.Next(b.rollback)
	b.rollback.Next(sfn.NewChoice(b.scope, jsii.String(release.StateRollbackDone), nil).
		When(sfn.Condition_StringEquals(jsii.String("$.rollback.outcome"), jsii.String(release.RolledBack)),
			sfn.NewFail(b.scope, jsii.String(release.RolledBack), &sfn.FailProps{
				Error: jsii.String(release.RolledBack), CausePath: jsii.String("$.rollback.reason"),
				Comment: jsii.String("The release failed; AWS is back as it was and the live instance serves."),
			}), nil).
		When(sfn.Condition_StringEquals(jsii.String("$.rollback.outcome"), jsii.String(release.RollbackFailed)), rollbackFailed, nil).
		Otherwise(wait))
	return b.rollback
}

// rejectStart records a release refused before anything was created.
func (b *builder) rejectStart() sfn.IChainable {
	if b.reject != nil {
		return b.reject
	}
	rejected := sfn.NewFail(b.scope, jsii.String(release.Rejected), &sfn.FailProps{Error: jsii.String(release.Rejected), CausePath: jsii.String("$.rejection.cause")})
	reject := b.task(release.StateRecordRejection, registry.Reject, "$.rejection", retryStep)
	reject.Next(rejected)
	// Nothing was created for a rejected release, so failing to record
	// the rejection still ends Rejected, with the reason and what failed.
	b.unrecorded(reject, release.StateRejectionNotRecorded, "$.rejection", "$.rejectionError", rejected,
		"Recording the rejection failed; nothing was created.",
		map[string]any{
			"cause.$": "States.Format('{} (the rejection could not be recorded: {})', $.failure.Error, $.rejectionError.Error)",
		})
	b.reject = reject
	return reject
}

// unrecorded catches a recording step's own failure into a Pass state
// that writes, at resultPath, what the step would have returned (result,
// naming what failed from errorPath), then goes to the step's end.
func (b *builder) unrecorded(task lambdaTask, name, resultPath, errorPath string, end sfn.IChainable, comment string, result map[string]any) {
	pass := sfn.NewPass(b.scope, jsii.String(name), &sfn.PassProps{
		Comment: jsii.String(comment), ResultPath: jsii.String(resultPath), Parameters: &result,
	})
	task.AddCatch(pass.Next(end), &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String(errorPath)})
}

func (b *builder) fn(handler string) awslambda.IFunction {
	f, ok := b.props.Functions[handler]
	if !ok {
		panic(fmt.Sprintf("statemachine: no function for handler %q", handler))
	}
	return f
}

// task is a step whose input is the release document.
func (b *builder) task(name, handler, resultPath string, retry func(lambdaTask)) lambdaTask {
	return b.taskWith(name, handler, resultPath, retry, nil)
}

func (b *builder) taskWith(name, handler, resultPath string, retry func(lambdaTask), params map[string]any) lambdaTask {
	// The ASL of a Lambda task whose result is the function's own answer
	// (what LambdaInvoke renders with PayloadResponseOnly): the function's
	// ARN as the resource, its input the state's (or params).
	state := map[string]any{"Type": "Task", "Resource": b.invoke(handler).FunctionArn()}
	if params != nil {
		state["Parameters"] = params
	}
	// "$" is the default and is left out: aws-local-stepfunctions 3.0.0
	// mishandles an explicit ResultPath "$" (it nests the result under a
	// "$" key instead of replacing the input).
	if resultPath != "$" {
		state["ResultPath"] = resultPath
	}
	t := sfn.NewCustomState(b.scope, jsii.String(name), &sfn.CustomStateProps{StateJson: &state})
	if retry != nil {
		retry(t)
	}
	return t
}

// lambdaTask is a Task state invoking a step's function, written as the
// ASL it is (a CustomState) rather than with awsstepfunctionstasks, whose
// Go module links about twenty service packages greenlight never uses
// (EKS, SageMaker, Bedrock, Glue, ECS…) into every build of the stack.
type lambdaTask = sfn.CustomState

// invoke is the function of handler, reported to Props.Invokes so that the
// state machine's role may invoke it.
func (b *builder) invoke(handler string) awslambda.IFunction {
	fn := b.fn(handler)
	if b.props.Invokes != nil {
		b.props.Invokes(fn)
	}
	return fn
}

func seconds(n float64) awscdk.Duration { return awscdk.Duration_Seconds(jsii.Number(n)) }

// Error names the state machine retries or catches, taken from the Go
// error types so they cannot drift.
var (
	errNotYetVisible = release.Name(release.NotYetVisible{})
	errThrottled     = release.Name(release.Throttled{})
	errAWS           = release.Name(release.AWSError{})
	errStepFailed    = release.Name(release.StepFailed{})
	// Rejections are each first step's bad-input errors, found before
	// anything was created, so the workflow ends Rejected. A state catches
	// only what its handler can raise (TestRejectionsAreWhatTheHandlersRaise
	// reads the handlers' sources).
	Rejections = map[string][]string{
		registry.Prepare: {
			release.Name(release.EventInvalid{}),
			release.Name(release.ArtifactInvalid{}),
			release.Name(release.ReleaseInProgress{}),
			release.Name(release.LiveNotFound{}),
			release.Name(release.ConfigMismatch{}),
		},
		registry.SwitchBack: {
			release.Name(release.ReleaseInProgress{}),
			release.Name(release.LiveNotFound{}),
			release.Name(release.ConfigMismatch{}),
			release.Name(release.NothingToRollBack{}),
		},
	}
	// Transient failures of the Lambda service itself, and a function that
	// timed out or crashed: every step is idempotent, so running it again
	// is safe.
	//
	// Step Functions, "Handle Lambda service exceptions"
	// (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html):
	// invoking Lambda can fail with "a 500 error, such as
	// ClientExecutionTimeoutException, ServiceException, AWSLambdaException,
	// or SdkClientException", reported as "Lambda." errors; "Unhandled errors
	// in Lambda are reported as Lambda.Unknown in the error output. These
	// include out-of-memory errors and function timeouts"; and "When Lambda
	// hits the maximum number of invocations, the error is
	// Lambda.TooManyRequestsException".
	//
	// A task names the error after the errorType Lambda reports, and on
	// provided.al2023 Lambda reports its own types for a function that did
	// not return: a timeout is Sandbox.Timedout (Lambda, "Troubleshoot
	// invocation issues in Lambda": "Function times out during Init phase
	// (Sandbox.Timedout)",
	// https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html),
	// and a bootstrap that exited (a fatal runtime error, os.Exit, killed
	// when out of memory; panics are recovered into StepFailed) is
	// Runtime.ExitError (AWS re:Post Knowledge Center, "lambda-runtime-error":
	// "errorType": "Runtime.ExitError", "errorMessage": "... Error: Runtime
	// exited with error: exit status 129";
	// https://repost.aws/knowledge-center/lambda-runtime-error).
	//
	// States.Timeout is not retried: only the approval task has a timeout,
	// and its expiry means nobody answered. Runtime.InvalidEntrypoint (no
	// bootstrap in the asset) is a broken deploy, which a retry cannot fix.
	lambdaTransient = []string{
		"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
		"Lambda.TooManyRequestsException", "Lambda.ClientExecutionTimeoutException", "Lambda.Unknown",
		"Sandbox.Timedout", "Runtime.ExitError",
	}
)

// retryStep: eventual consistency clears within seconds; throttling and
// Lambda hiccups back off for up to about two minutes, with jitter so that
// retries of parallel releases do not align.
func retryStep(t lambdaTask) {
	t.AddRetry(&sfn.RetryProps{Errors: jsii.Strings(errNotYetVisible), Interval: seconds(2), MaxAttempts: jsii.Number(4), BackoffRate: jsii.Number(2)})
	t.AddRetry(&sfn.RetryProps{Errors: jsii.Strings(append([]string{errThrottled}, lambdaTransient...)...),
		Interval: seconds(2), MaxAttempts: jsii.Number(6), BackoffRate: jsii.Number(2), MaxDelay: seconds(60), JitterStrategy: sfn.JitterType_FULL})
}

// retryRecord is retryStep, and a hard error is tried twice more: every
// part of the record is idempotent, and past the commit point a person
// must fix what stays unrecorded.
func retryRecord(t lambdaTask) {
	retryStep(t)
	t.AddRetry(&sfn.RetryProps{Errors: jsii.Strings(errAWS, errStepFailed), Interval: seconds(5), MaxAttempts: jsii.Number(2), BackoffRate: jsii.Number(2)})
}

// retryRollback tries harder: a rollback that gives up leaves a human a
// mess, so transient trouble gets more patience, and a pass that failed
// hard (possibly after acting) is repeated twice: the next pass looks at
// AWS again and finishes what the lost one started.
func retryRollback(t lambdaTask) {
	t.AddRetry(&sfn.RetryProps{Errors: jsii.Strings(errNotYetVisible), Interval: seconds(2), MaxAttempts: jsii.Number(6), BackoffRate: jsii.Number(2)})
	t.AddRetry(&sfn.RetryProps{Errors: jsii.Strings(append([]string{errThrottled}, lambdaTransient...)...),
		Interval: seconds(2), MaxAttempts: jsii.Number(10), BackoffRate: jsii.Number(2), MaxDelay: seconds(60), JitterStrategy: sfn.JitterType_FULL})
	t.AddRetry(&sfn.RetryProps{Errors: jsii.Strings(errAWS, errStepFailed), Interval: seconds(5), MaxAttempts: jsii.Number(2), BackoffRate: jsii.Number(2)})
}
