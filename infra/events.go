package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/greenlight/greenlight/lambdas/registry"
	"github.com/greenlight/greenlight/lambdas/watch"
)

// trigger starts a release for every artifact uploaded under the prefix,
// and raises the alarm for an execution that stopped outside its
// outcomes. EventBridge retries the functions and parks events it could
// not deliver in a dead-letter queue; an invocation that Lambda ran and
// that failed every attempt leaves its record in the same queue (see
// keepAsyncFailures), and an alarm on the queue tells the operators, so
// neither is silently lost.
func (s *Stack) trigger() {
	dlq := awssqs.NewQueue(s.Stack, jsii.String("TriggerDeadLetters"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(dlq, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is the dead-letter queue of the two rules' targets (release trigger, execution alarm) and the on-failure destination of the functions EventBridge invokes asynchronously (start, watch, retire); it needs no dead-letter queue of its own."),
	}}, jsii.Bool(true))
	s.keepAsyncFailures(dlq, registry.Start, registry.Watch, registry.Retire)
	s.alarmOnUndelivered(dlq)
	rule := awsevents.NewRule(s.Stack, jsii.String("ReleaseUploaded"), &awsevents.RuleProps{
		Description: jsii.String(fmt.Sprintf("greenlight: an artifact uploaded under s3://…/%s starts a release of %s", s.Config.ArtifactPrefix, s.Config.App)),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.s3"),
			DetailType: jsii.Strings("Object Created"),
			Detail: &map[string]any{
				"bucket": map[string]any{"name": []any{s.Bucket.BucketName()}},
				"object": map[string]any{"key": awsevents.Match_Wildcard(jsii.String(s.Config.ArtifactPrefix + "*.tar.gz"))},
			},
		},
	})
	invoke(rule, s.Functions[registry.Start], retry{attempts: 8, maxAge: awscdk.Duration_Hours(jsii.Number(2))}, dlq)
	// An execution that ends outside the workflows' outcomes (stopped by
	// hand, timed out, an unhandled error) undid nothing: the watch
	// function records it and raises the alarm. The workflows' own
	// failing ends (RolledBack, Rejected, RollbackFailed) also arrive as
	// FAILED; the function tells them apart by the execution's error.
	// SUCCEEDED executions are read too: a release whose bookkeeping
	// failed past the commit point stands, and someone must fix its
	// record.
	stopped := awsevents.NewRule(s.Stack, jsii.String("ExecutionStopped"), &awsevents.RuleProps{
		Description: jsii.String(fmt.Sprintf("greenlight: alarm when a release of %s stops outside its outcomes or is not recorded", s.Config.App)),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.states"),
			DetailType: jsii.Strings(watch.DetailType),
			Detail: &map[string]any{
				"stateMachineArn": []any{s.StateMachine.StateMachineArn(), s.SwitchBack.StateMachineArn()},
				"status":          []any{"FAILED", "TIMED_OUT", "ABORTED", "SUCCEEDED"},
			},
		},
	})
	invoke(stopped, s.Functions[registry.Watch], retry{attempts: 8, maxAge: awscdk.Duration_Hours(jsii.Number(2))}, dlq)
}

// retry is a rule target's retry policy; a nil maxAge leaves
// EventBridge's default (24 hours).
type retry struct {
	attempts float64
	maxAge   awscdk.Duration
}

// eventsPrincipal is EventBridge, which invokes the rules' targets.
const eventsPrincipal = "events.amazonaws.com"

// invoke makes fn the only target of rule, with the template the L2
// target awseventstargets.LambdaFunction produces: the target (Id
// "Target0", its retry policy, dlq as its dead-letter queue if not nil),
// the function's permission for this rule, and the queue's policy
// statement for it, with the same logical ids and Sids. That package is
// not linked: it imports the bindings of every service a rule can target
// (ECS, SageMaker, RDS, API Gateway, Cognito, AppSync, ...), which a
// cold build compiles for nothing (docs/decisions.md, "Lighter CDK
// bindings").
//
// EventBridge invokes a Lambda function through the function's
// resource-based policy. Amazon EventBridge User Guide, "Using
// resource-based policies for Amazon EventBridge", "AWS Lambda
// permissions"
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-lambda-permissions):
// "To invoke your AWS Lambda function by using a EventBridge rule, add
// the following permission to the policy of your Lambda function", with
// the principal "events.amazonaws.com" and the rule's ARN as
// "AWS:SourceArn". It sends an undelivered event to the dead-letter
// queue through the queue's policy. Same guide, "Using dead-letter
// queues to process undelivered events", "Granting permissions to the
// dead-letter queue"
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html):
// "If you create a rule using the API, or use a queue that is in a
// different AWS account, you must manually create a resource-based
// policy that grants the required permissions and then attach it to the
// queue": sqs:SendMessage for "events.amazonaws.com", on the condition
// "ArnEquals" "aws:SourceArn" the rule's ARN. The queue is in the
// rule's account and region (this stack).
func invoke(rule awsevents.Rule, fn awslambda.IFunction, r retry, dlq awssqs.IQueue) {
	policy := &awsevents.CfnRule_RetryPolicyProperty{MaximumRetryAttempts: jsii.Number(r.attempts)}
	if r.maxAge != nil {
		policy.MaximumEventAgeInSeconds = r.maxAge.ToSeconds(&awscdk.TimeConversionOptions{Integral: jsii.Bool(true)})
	}
	target := &awsevents.CfnRule_TargetProperty{
		Id:          jsii.String("Target0"),
		Arn:         fn.FunctionArn(),
		RetryPolicy: policy,
	}
	principal := awsiam.NewServicePrincipal(jsii.String(eventsPrincipal), nil)
	if dlq != nil {
		target.DeadLetterConfig = &awsevents.CfnRule_DeadLetterConfigProperty{Arn: dlq.QueueArn()}
		dlq.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("AllowEventRule" + *awscdk.Names_NodeUniqueId(rule.Node())),
			Effect:     awsiam.Effect_ALLOW,
			Principals: &[]awsiam.IPrincipal{principal},
			Actions:    jsii.Strings("sqs:SendMessage"),
			Resources:  &[]*string{dlq.QueueArn()},
			Conditions: &map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": rule.RuleArn()}},
		}))
	}
	// The L2 Rule renders the targets AddTarget collected; setting the
	// L1 property replaces that (the rule has no other target).
	rule.Node().DefaultChild().(awsevents.CfnRule).SetTargets(&[]any{target})
	fn.AddPermission(jsii.String("AllowEventRule"+*awscdk.Names_NodeUniqueId(fn.Node())), &awslambda.Permission{
		Scope:     rule,
		Action:    jsii.String("lambda:InvokeFunction"),
		Principal: principal,
		SourceArn: rule.RuleArn(),
	})
}

// keepAsyncFailures gives functions EventBridge invokes asynchronously an
// on-failure destination. EventBridge's dead-letter queue only takes
// events it could not hand to Lambda; once Lambda accepted one, a function
// error is retried by Lambda and then dropped. AWS Lambda Developer Guide,
// "Capturing records of Lambda asynchronous invocations"
// (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html):
// "You can configure separate destinations for events that are processed
// successfully, and events that fail all processing attempts", to "Amazon
// SQS – A standard SQS queue"; "Delivery errors can also occur due to
// permissions errors": Lambda sends the record with the function's role,
// which may therefore sqs:SendMessage to the queue, before the
// configuration is made.
func (s *Stack) keepAsyncFailures(queue awssqs.Queue, handlers ...string) {
	for _, name := range handlers {
		fn := s.Functions[name]
		fn.Role().AddToPrincipalPolicy(allow([]string{"sqs:SendMessage"}, queue.QueueArn()))
		cfg := awslambda.NewCfnEventInvokeConfig(s.Stack, jsii.String(functionID(name)+"AsyncFailures"), &awslambda.CfnEventInvokeConfigProps{
			FunctionName: fn.FunctionName(),
			// EventBridge invokes the unqualified function: $LATEST.
			Qualifier:            jsii.String("$LATEST"),
			MaximumRetryAttempts: jsii.Number(2),
			DestinationConfig: &awslambda.CfnEventInvokeConfig_DestinationConfigProperty{
				OnFailure: &awslambda.CfnEventInvokeConfig_OnFailureProperty{Destination: queue.QueueArn()},
			},
		})
		cfg.Node().AddDependency(fn.Role())
	}
}

// alarmOnUndelivered notifies the operators as soon as the queue holds a
// message: a release that never started, or an execution that stopped and
// was not recorded. The alarm stays raised until the queue is emptied.
func (s *Stack) alarmOnUndelivered(queue awssqs.Queue) {
	alarm := awscloudwatch.NewAlarm(s.Stack, jsii.String("UndeliveredEvents"), &awscloudwatch.AlarmProps{
		AlarmName: jsii.String(s.Config.StackName + "-undelivered-events"),
		AlarmDescription: jsii.String(fmt.Sprintf("greenlight: an upload, an execution end or a retirement of %s was not handled (EventBridge could not deliver it, "+
			"or the function failed every attempt). Read the messages in the queue %s, act on them, then purge it.", s.Config.App, *queue.QueueName())),
		Metric: queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Statistic: jsii.String("Maximum"),
			Period:    awscdk.Duration_Minutes(jsii.Number(5)),
		}),
		Threshold:          jsii.Number(0),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	// The topic's ARN as the alarm's action, on the L1 alarm:
	// awscloudwatchactions.SnsAction says the same but links the Auto
	// Scaling, ELB and Lambda bindings into every build of the stack.
	alarm.Node().DefaultChild().(awscloudwatch.CfnAlarm).SetAlarmActions(&[]*string{s.Topic.TopicArn()})
}

// schedules sets up retirement: a schedule group for the one-time
// schedules the finish step creates, the role EventBridge Scheduler uses
// to invoke the retire function, and a daily sweep that catches any
// retirement a schedule missed.
func (s *Stack) schedules() {
	awsscheduler.NewCfnScheduleGroup(s.Stack, jsii.String("RetireSchedules"), &awsscheduler.CfnScheduleGroupProps{
		Name: jsii.String(s.ScheduleGroup),
	})
	retire := s.Functions[registry.Retire]
	// Scheduler may assume the role only for this account's schedules in
	// greenlight's group. EventBridge Scheduler User Guide, "Confused
	// deputy prevention"
	// (https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html):
	// "We recommend using the aws:SourceArn and aws:SourceAccount global
	// condition context keys in your schedule execution role to limit the
	// permissions that EventBridge Scheduler gives another service to
	// access the resource", with aws:SourceArn naming schedules such as
	// "arn:aws:scheduler:*:123456789012:schedule/your-schedule-group/*".
	trust := awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), nil).WithConditions(&map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		"ArnLike":      map[string]any{"aws:SourceArn": s.scheduleARN()},
	})
	s.SchedulerRole = awsiam.NewRole(s.Stack, jsii.String("SchedulerRole"), &awsiam.RoleProps{
		AssumedBy:   trust,
		Description: jsii.String("greenlight: lets EventBridge Scheduler invoke the retire function"),
	})
	s.SchedulerRole.AddToPrincipalPolicy(allow([]string{"lambda:InvokeFunction"}, retire.FunctionArn()))
	sweep := awsevents.NewRule(s.Stack, jsii.String("DailySweep"), &awsevents.RuleProps{
		Description: jsii.String("greenlight: retire kept instances whose retention has passed, in case a schedule did not fire"),
		Schedule:    awsevents.Schedule_Cron(&awsevents.CronOptions{Hour: jsii.String("3"), Minute: jsii.String("17")}),
	})
	invoke(sweep, retire, retry{attempts: 2}, nil)
}
