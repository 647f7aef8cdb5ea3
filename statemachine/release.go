package statemachine

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	sfn "github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctionstasks"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
)

// Props are what the workflow is built from.
type Props struct {
	Config release.Config
	// Functions are the step functions by handler name.
	Functions map[string]awslambda.IFunction
}

// Error names the state machine retries or catches, taken from the Go
// error types so they cannot drift.
var (
	errNotYetVisible = release.Name(release.NotYetVisible{})
	errThrottled     = release.Name(release.Throttled{})
	// Rejections: bad input, found before anything was created.
	rejections = []string{
		release.Name(release.EventInvalid{}),
		release.Name(release.ArtifactInvalid{}),
		release.Name(release.ReleaseInProgress{}),
		release.Name(release.LiveNotFound{}),
		release.Name(release.ConfigMismatch{}),
		release.Name(release.NothingToRollBack{}),
	}
	// Transient failures of the Lambda service itself, and a function that
	// timed out or crashed (Lambda.Unknown): every step is idempotent, so
	// running it again is safe.
	lambdaTransient = []string{
		"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
		"Lambda.TooManyRequestsException", "Lambda.ClientExecutionTimeoutException", "Lambda.Unknown",
	}
)

// builder holds what the states are made from.
type builder struct {
	scope constructs.Construct
	props Props
	// rollback is where every forward step's failure goes; reject where
	// bad input goes.
	rollback awsstepfunctionstasks.LambdaInvoke
	reject   sfn.IChainable
}

// newBuilder starts a workflow with its failure handling, which every
// forward step catches into: the compensating rollback loop, its last
// resort, and the recorded rejection.
func newBuilder(scope constructs.Construct, props Props) *builder {
	b := &builder{scope: scope, props: props}
	rollbackFailed := sfn.NewFail(scope, jsii.String(RollbackFailed), &sfn.FailProps{
		Error: jsii.String(RollbackFailed), CausePath: jsii.String("$.rollback.reason"),
		Comment: jsii.String("The release failed and its rollback could not finish: a person must look (urgent notification sent)."),
	})
	abandon := b.task(Abandon, registry.Abandon, "$.rollback", retryRollback)
	abandon.Next(rollbackFailed)
	// The report itself failing (after its retries) still ends
	// RollbackFailed, saying so: the report does all it can (ledger, lock,
	// notification) before it fails, so whatever part failed is the only
	// one missing.
	b.unrecorded(abandon, RollbackFailureNotRecorded, "$.rollback", "$.abandonError", rollbackFailed,
		"Reporting the failed rollback failed in part: the cause names the error; the execution history has the rest.",
		map[string]any{
			"outcome":  RollbackFailed,
			"reason.$": "States.Format('the rollback could not finish, and reporting it failed in part ({}): check the ledger, the lock and the notification', $.abandonError.Error)",
		})
	b.rollback = b.task(Rollback, registry.Rollback, "$.rollback", retryRollback)
	b.rollback.AddCatch(abandon, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.rollbackError")})
	b.rollback.Next(sfn.NewChoice(scope, jsii.String(RollbackDone), nil).
		When(sfn.Condition_StringEquals(jsii.String("$.rollback.outcome"), jsii.String(RolledBack)),
			sfn.NewFail(scope, jsii.String(RolledBack), &sfn.FailProps{
				Error: jsii.String(RolledBack), CausePath: jsii.String("$.rollback.reason"),
				Comment: jsii.String("The release failed; everything it did was undone and the live instance serves."),
			}), nil).
		When(sfn.Condition_StringEquals(jsii.String("$.rollback.outcome"), jsii.String(RollbackFailed)), rollbackFailed, nil).
		Otherwise(b.wait(WaitForRollback, "$.rollback.waitSeconds").Next(b.rollback)))
	rejected := sfn.NewFail(scope, jsii.String(Rejected), &sfn.FailProps{Error: jsii.String(Rejected), CausePath: jsii.String("$.rejection.cause")})
	reject := b.task(RecordRejection, registry.Reject, "$.rejection", retryStep)
	reject.Next(rejected)
	// Nothing was created for a rejected release, so failing to record
	// the rejection still ends Rejected, with the reason and what failed.
	b.unrecorded(reject, RejectionNotRecorded, "$.rejection", "$.rejectionError", rejected,
		"Recording the rejection failed; nothing was created.",
		map[string]any{
			"cause.$": "States.Format('{} (the rejection could not be recorded: {})', $.failure.Error, $.rejectionError.Error)",
		})
	b.reject = reject
	return b
}

// unrecorded catches a recording step's own failure into a Pass state
// that writes, at resultPath, what the step would have returned (result,
// naming what failed from errorPath), then goes to the step's end.
func (b *builder) unrecorded(task awsstepfunctionstasks.LambdaInvoke, name, resultPath, errorPath string, end sfn.IChainable, comment string, result map[string]any) {
	pass := sfn.NewPass(b.scope, jsii.String(name), &sfn.PassProps{
		Comment: jsii.String(comment), ResultPath: jsii.String(resultPath), Parameters: &result,
	})
	task.AddCatch(pass.Next(end), &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String(errorPath)})
}

// forward is a step whose failure rolls the release back.
func (b *builder) forward(name, handler, resultPath string) awsstepfunctionstasks.LambdaInvoke {
	t := b.task(name, handler, resultPath, retryStep)
	t.AddCatch(b.rollback, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.failure")})
	return t
}

// first is a workflow's first step: bad input is rejected, anything else
// rolls back (it may have taken the lock).
func (b *builder) first(name, handler string, payload map[string]any) awsstepfunctionstasks.LambdaInvoke {
	cfgJSON, err := json.Marshal(b.props.Config)
	if err != nil {
		panic(fmt.Sprintf("statemachine: config: %v", err))
	}
	// The config travels as JSON text so that no value in it can be
	// mistaken for a JSONPath.
	payload["config"] = string(cfgJSON)
	payload["execution"] = sfn.JsonPath_StringAt(jsii.String("$$.Execution.Id"))
	t := b.taskWith(name, handler, "$", retryStep, sfn.TaskInput_FromObject(&payload))
	t.AddCatch(b.reject, &sfn.CatchProps{Errors: jsii.Strings(rejections...), ResultPath: jsii.String("$.failure")})
	t.AddCatch(b.rollback, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.failure")})
	return t
}

// switchAndBake is the end every workflow shares: the Elastic IP moves,
// the public endpoint is verified for the bake time, the previous
// instance is kept and the release recorded. It returns the switch.
func (b *builder) switchAndBake(comment string) sfn.IChainable {
	switchTraffic := b.forward(SwitchTraffic, registry.Switch, "$.switch")
	verify := b.forward(VerifyLive, registry.Verify, "$.verify")
	finish := b.forward(Finish, registry.Finish, "$.finish")
	released := sfn.NewSucceed(b.scope, jsii.String(Released), &sfn.SucceedProps{Comment: jsii.String(comment)})
	bake := sfn.NewChoice(b.scope, jsii.String(Baked), nil).
		When(sfn.Condition_BooleanEquals(jsii.String("$.verify.ready"), jsii.Bool(true)), finish.Next(released), nil).
		Otherwise(b.wait(WaitBeforeVerify, "$.verify.waitSeconds").Next(verify))
	switchTraffic.Next(verify).Next(bake)
	return switchTraffic
}

// cutover moves the data onto the candidate, then goes on to next.
func (b *builder) cutover(next sfn.IChainable) sfn.IChainable {
	cutover := b.forward(Cutover, registry.Cutover, "$.cutover")
	cutover.Next(sfn.NewChoice(b.scope, jsii.String(CutoverDone), nil).
		When(sfn.Condition_BooleanEquals(jsii.String("$.cutover.ready"), jsii.Bool(true)), next, nil).
		Otherwise(b.wait(WaitForCutover, "$.cutover.waitSeconds").Next(cutover)))
	return cutover
}

// Definition builds the Release workflow and returns its start.
func Definition(scope constructs.Construct, props Props) sfn.IChainable {
	b := newBuilder(scope, props)
	prepare := b.first(Prepare, registry.Prepare, map[string]any{"release": sfn.JsonPath_EntirePayload()})
	launch := b.forward(LaunchCandidate, registry.Launch, "$.candidate")
	checkCandidate := b.forward(CheckCandidate, registry.CheckCandidate, "$.candidate")
	deploy := b.forward(DeployRelease, registry.Deploy, "$.deploy")
	checkDeploy := b.forward(CheckDeploy, registry.CheckDeploy, "$.deploy")
	smoke := b.forward(RunSmokeTests, registry.Smoke, "$.smoke")

	approval := awsstepfunctionstasks.NewLambdaInvoke(scope, jsii.String(AwaitApproval), &awsstepfunctionstasks.LambdaInvokeProps{
		LambdaFunction:     b.fn(registry.Approval),
		IntegrationPattern: sfn.IntegrationPattern_WAIT_FOR_TASK_TOKEN,
		Payload: sfn.TaskInput_FromObject(&map[string]any{
			"release": sfn.JsonPath_EntirePayload(),
			"token":   sfn.JsonPath_TaskToken(),
		}),
		TaskTimeout:              sfn.Timeout_Duration(awscdk.Duration_Seconds(jsii.Number(float64(props.Config.ApprovalTimeout.Seconds())))),
		ResultPath:               jsii.String("$.approval"),
		RetryOnServiceExceptions: jsii.Bool(false),
		Comment:                  jsii.String("Waits for `greenlight approve` or `reject`; no answer by the approval timeout rejects."),
	})
	retryStep(approval)
	approval.AddCatch(b.rollback, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.failure")})

	waitCandidate := b.wait(WaitForCandidate, "$.candidate.waitSeconds")
	waitDeploy := b.wait(WaitForDeploy, "$.deploy.waitSeconds")
	switchTraffic := b.switchAndBake("The new version is live; the previous instance is kept for rollback.")

	// With a data volume: the candidate gets a restored copy before the
	// deploy, and the data moves to it between approval and switch.
	afterApproval, afterReady, afterLaunch := switchTraffic, sfn.IChainable(deploy), sfn.IChainable(waitCandidate)
	if props.Config.HasData() {
		afterApproval = b.cutover(switchTraffic)
		prepareTestData := b.forward(PrepareTestData, registry.TestData, "$.testData")
		prepareTestData.Next(waitCandidate)
		afterLaunch = prepareTestData
		attachTestData := b.forward(AttachTestData, registry.TestData, "$.testData")
		attachTestData.Next(sfn.NewChoice(scope, jsii.String(TestDataReady), nil).
			When(sfn.Condition_BooleanEquals(jsii.String("$.testData.ready"), jsii.Bool(true)), deploy, nil).
			Otherwise(b.wait(WaitForTestData, "$.testData.waitSeconds").Next(attachTestData)))
		afterReady = attachTestData
	}
	checkDeploy.Next(sfn.NewChoice(scope, jsii.String(DeployDone), nil).
		When(sfn.Condition_BooleanEquals(jsii.String("$.deploy.ready"), jsii.Bool(true)),
			sfn.Chain_Start(smoke).Next(approval).Next(afterApproval), nil).
		Otherwise(waitDeploy.Next(checkDeploy)))
	deploy.Next(waitDeploy)
	waitCandidate.Next(checkCandidate).Next(sfn.NewChoice(scope, jsii.String(CandidateReady), nil).
		When(sfn.Condition_BooleanEquals(jsii.String("$.candidate.ready"), jsii.Bool(true)), afterReady, nil).
		Otherwise(waitCandidate))
	return sfn.Chain_Start(prepare).Next(launch).Next(afterLaunch)
}

// SwitchBack builds the workflow of `greenlight rollback`: back to the
// instance kept from the previous release, its data moved back under a
// maintenance page, with the same bake, bookkeeping and compensation as a
// release.
func SwitchBack(scope constructs.Construct, props Props) sfn.IChainable {
	b := newBuilder(scope, props)
	prepare := b.first(PrepareSwitchBack, registry.SwitchBack, map[string]any{
		"request":   sfn.JsonPath_EntirePayload(),
		"name":      sfn.JsonPath_StringAt(jsii.String("$$.Execution.Name")),
		"startedAt": sfn.JsonPath_StringAt(jsii.String("$$.Execution.StartTime")),
	})
	next := b.switchAndBake("The previous release is live again; the instance that served is kept in turn.")
	if props.Config.HasData() {
		next = b.cutover(next)
	}
	return sfn.Chain_Start(prepare).Next(next)
}

func (b *builder) fn(handler string) awslambda.IFunction {
	f, ok := b.props.Functions[handler]
	if !ok {
		panic(fmt.Sprintf("statemachine: no function for handler %q", handler))
	}
	return f
}

// task is a step whose input is the release document.
func (b *builder) task(name, handler, resultPath string, retry func(awsstepfunctionstasks.LambdaInvoke)) awsstepfunctionstasks.LambdaInvoke {
	return b.taskWith(name, handler, resultPath, retry, nil)
}

func (b *builder) taskWith(name, handler, resultPath string, retry func(awsstepfunctionstasks.LambdaInvoke), payload sfn.TaskInput) awsstepfunctionstasks.LambdaInvoke {
	props := &awsstepfunctionstasks.LambdaInvokeProps{
		LambdaFunction:           b.fn(handler),
		PayloadResponseOnly:      jsii.Bool(true),
		Payload:                  payload,
		RetryOnServiceExceptions: jsii.Bool(false), // retryStep covers them
	}
	// "$" is the default and is left out: aws-local-stepfunctions 3.0.0
	// mishandles an explicit ResultPath "$" (it nests the result under a
	// "$" key instead of replacing the input).
	if resultPath != "$" {
		props.ResultPath = jsii.String(resultPath)
	}
	t := awsstepfunctionstasks.NewLambdaInvoke(b.scope, jsii.String(name), props)
	if retry != nil {
		retry(t)
	}
	return t
}

func (b *builder) wait(name, secondsPath string) sfn.Wait {
	return sfn.NewWait(b.scope, jsii.String(name), &sfn.WaitProps{Time: sfn.WaitTime_SecondsPath(jsii.String(secondsPath))})
}

func seconds(n float64) awscdk.Duration { return awscdk.Duration_Seconds(jsii.Number(n)) }

// retryStep: eventual consistency clears within seconds; throttling and
// Lambda hiccups back off for up to about two minutes, with jitter so that
// retries of parallel releases do not align.
func retryStep(t awsstepfunctionstasks.LambdaInvoke) {
	t.AddRetry(&sfn.RetryProps{Errors: jsii.Strings(errNotYetVisible), Interval: seconds(2), MaxAttempts: jsii.Number(4), BackoffRate: jsii.Number(2)})
	t.AddRetry(&sfn.RetryProps{Errors: jsii.Strings(append([]string{errThrottled}, lambdaTransient...)...),
		Interval: seconds(2), MaxAttempts: jsii.Number(6), BackoffRate: jsii.Number(2), MaxDelay: seconds(60), JitterStrategy: sfn.JitterType_FULL})
}

// retryRollback tries harder: a rollback that gives up leaves a human a
// mess, so transient trouble gets more patience.
func retryRollback(t awsstepfunctionstasks.LambdaInvoke) {
	t.AddRetry(&sfn.RetryProps{Errors: jsii.Strings(errNotYetVisible), Interval: seconds(2), MaxAttempts: jsii.Number(6), BackoffRate: jsii.Number(2)})
	t.AddRetry(&sfn.RetryProps{Errors: jsii.Strings(append([]string{errThrottled}, lambdaTransient...)...),
		Interval: seconds(2), MaxAttempts: jsii.Number(10), BackoffRate: jsii.Number(2), MaxDelay: seconds(60), JitterStrategy: sfn.JitterType_FULL})
}
