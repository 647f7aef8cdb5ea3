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
}

// Definition builds the Release workflow and returns its start.
func Definition(scope constructs.Construct, props Props) sfn.IChainable {
	b := &builder{scope: scope, props: props}

	// Failure handling first: every forward step catches into it.
	rollbackFailed := sfn.NewFail(scope, jsii.String(RollbackFailed), &sfn.FailProps{
		Error: jsii.String(RollbackFailed), CausePath: jsii.String("$.rollback.reason"),
		Comment: jsii.String("The release failed and its rollback could not finish: a person must look (urgent notification sent)."),
	})
	abandon := b.task(Abandon, registry.Abandon, "$.rollback", retryRollback)
	abandon.Next(rollbackFailed)
	rollback := b.task(Rollback, registry.Rollback, "$.rollback", retryRollback)
	rollback.AddCatch(abandon, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.rollbackError")})
	rollback.Next(sfn.NewChoice(scope, jsii.String(RollbackDone), nil).
		When(sfn.Condition_StringEquals(jsii.String("$.rollback.outcome"), jsii.String(RolledBack)),
			sfn.NewFail(scope, jsii.String(RolledBack), &sfn.FailProps{
				Error: jsii.String(RolledBack), CausePath: jsii.String("$.rollback.reason"),
				Comment: jsii.String("The release failed; everything it did was undone and the live instance serves."),
			}), nil).
		When(sfn.Condition_StringEquals(jsii.String("$.rollback.outcome"), jsii.String(RollbackFailed)), rollbackFailed, nil).
		Otherwise(b.wait(WaitForRollback, "$.rollback.waitSeconds").Next(rollback)))

	reject := b.task(RecordRejection, registry.Reject, "$.rejection", retryStep).
		Next(sfn.NewFail(scope, jsii.String(Rejected), &sfn.FailProps{Error: jsii.String(Rejected), CausePath: jsii.String("$.rejection.cause")}))

	cfgJSON, err := json.Marshal(props.Config)
	if err != nil {
		panic(fmt.Sprintf("statemachine: config: %v", err))
	}
	// The config travels as JSON text so that no value in it can be
	// mistaken for a JSONPath.
	prepare := b.taskWith(Prepare, registry.Prepare, "$", retryStep, sfn.TaskInput_FromObject(&map[string]any{
		"release":   sfn.JsonPath_EntirePayload(),
		"config":    string(cfgJSON),
		"execution": sfn.JsonPath_StringAt(jsii.String("$$.Execution.Id")),
	}))
	prepare.AddCatch(reject, &sfn.CatchProps{Errors: jsii.Strings(rejections...), ResultPath: jsii.String("$.failure")})
	prepare.AddCatch(rollback, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.failure")})

	forward := func(name, handler, resultPath string) awsstepfunctionstasks.LambdaInvoke {
		t := b.task(name, handler, resultPath, retryStep)
		t.AddCatch(rollback, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.failure")})
		return t
	}

	launch := forward(LaunchCandidate, registry.Launch, "$.candidate")
	checkCandidate := forward(CheckCandidate, registry.CheckCandidate, "$.candidate")
	deploy := forward(DeployRelease, registry.Deploy, "$.deploy")
	checkDeploy := forward(CheckDeploy, registry.CheckDeploy, "$.deploy")
	smoke := forward(RunSmokeTests, registry.Smoke, "$.smoke")
	switchTraffic := forward(SwitchTraffic, registry.Switch, "$.switch")
	verify := forward(VerifyLive, registry.Verify, "$.verify")
	finish := forward(Finish, registry.Finish, "$.finish")

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
	approval.AddCatch(rollback, &sfn.CatchProps{Errors: jsii.Strings("States.ALL"), ResultPath: jsii.String("$.failure")})

	data := props.Config.HasData()
	waitCandidate := b.wait(WaitForCandidate, "$.candidate.waitSeconds")
	waitDeploy := b.wait(WaitForDeploy, "$.deploy.waitSeconds")
	waitVerify := b.wait(WaitBeforeVerify, "$.verify.waitSeconds")

	released := sfn.NewSucceed(scope, jsii.String(Released), &sfn.SucceedProps{Comment: jsii.String("The new version is live; the previous instance is kept for rollback.")})
	bake := sfn.NewChoice(scope, jsii.String(Baked), nil).
		When(sfn.Condition_BooleanEquals(jsii.String("$.verify.ready"), jsii.Bool(true)), finish.Next(released), nil).
		Otherwise(waitVerify.Next(verify))
	// With a data volume: the candidate gets a restored copy before the
	// deploy, and the data moves to it between approval and switch.
	afterApproval := sfn.IChainable(switchTraffic)
	afterReady := sfn.IChainable(deploy)
	afterLaunch := sfn.IChainable(waitCandidate)
	if data {
		cutover := forward(Cutover, registry.Cutover, "$.cutover")
		waitCutover := b.wait(WaitForCutover, "$.cutover.waitSeconds")
		cutover.Next(sfn.NewChoice(scope, jsii.String(CutoverDone), nil).
			When(sfn.Condition_BooleanEquals(jsii.String("$.cutover.ready"), jsii.Bool(true)), switchTraffic, nil).
			Otherwise(waitCutover.Next(cutover)))
		afterApproval = cutover

		prepareTestData := forward(PrepareTestData, registry.TestData, "$.testData")
		prepareTestData.Next(waitCandidate)
		afterLaunch = prepareTestData
		attachTestData := forward(AttachTestData, registry.TestData, "$.testData")
		waitTestData := b.wait(WaitForTestData, "$.testData.waitSeconds")
		attachTestData.Next(sfn.NewChoice(scope, jsii.String(TestDataReady), nil).
			When(sfn.Condition_BooleanEquals(jsii.String("$.testData.ready"), jsii.Bool(true)), deploy, nil).
			Otherwise(waitTestData.Next(attachTestData)))
		afterReady = attachTestData
	}
	deployed := sfn.NewChoice(scope, jsii.String(DeployDone), nil).
		When(sfn.Condition_BooleanEquals(jsii.String("$.deploy.ready"), jsii.Bool(true)),
			sfn.Chain_Start(smoke).Next(approval).Next(afterApproval), nil).
		Otherwise(waitDeploy.Next(checkDeploy))
	checkDeploy.Next(deployed)
	switchTraffic.Next(verify).Next(bake)
	deploy.Next(waitDeploy)
	ready := sfn.NewChoice(scope, jsii.String(CandidateReady), nil).
		When(sfn.Condition_BooleanEquals(jsii.String("$.candidate.ready"), jsii.Bool(true)), afterReady, nil).
		Otherwise(waitCandidate)
	waitCandidate.Next(checkCandidate).Next(ready)
	return sfn.Chain_Start(prepare).Next(launch).Next(afterLaunch)
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
