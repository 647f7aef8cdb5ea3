// Package infra is greenlight's CDK app: the stack that wires the release
// bucket, the trigger, one Lambda function per step, the Release state
// machine, the ledger, the notification topic, the retirement schedules and
// every IAM role. infra/app is the executable cdk.json runs.
package infra

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/internal/traffic"
	"github.com/greenlight/greenlight/lambdas/registry"
	"github.com/greenlight/greenlight/lambdas/step"
	"github.com/greenlight/greenlight/statemachine"
)

// Props configure the stack.
type Props struct {
	// Config is the validated greenlight.json.
	Config release.Config
	// Asset is the zipped bootstrap binary every function runs
	// (build/bootstrap.zip from `make build`).
	Asset string
	// Env pins account and region; nil leaves them to deploy time.
	Env *awscdk.Environment
}

// Stack is the greenlight stack with handles on what tests and the local
// engine look at.
type Stack struct {
	awscdk.Stack
	Config       release.Config
	Bucket       awss3.Bucket
	Table        awsdynamodb.Table
	Topic        awssns.Topic
	TopicKey     awskms.Key // encrypts the topic; alarms and publishing functions may use it
	Functions    map[string]awslambda.Function
	StateMachine awsstepfunctions.StateMachine
	// SwitchBack is the workflow of `greenlight rollback`.
	SwitchBack    awsstepfunctions.StateMachine
	SchedulerRole awsiam.Role
	ScheduleGroup string
	Documents     Documents
	// LinkKey and ApprovalURL serve the approval links; nil when
	// approval.links is off.
	LinkKey     awssecretsmanager.Secret
	ApprovalURL awslambda.FunctionUrl
}

// Documents names the SSM documents the steps run on instances.
type Documents struct {
	Deploy, Maintenance, Data *string
}

// Output names: the CLI finds the stack's resources through them
// (defined with the release vocabulary, which the CLI links).
const (
	OutputBucket       = release.OutputBucket
	OutputTable        = release.OutputTable
	OutputTopic        = release.OutputTopic
	OutputStateMachine = release.OutputStateMachine
	OutputSwitchBack   = release.OutputSwitchBack
	OutputApp          = release.OutputApp
)

// NewStack builds the stack for one application.
func NewStack(scope constructs.Construct, props Props) *Stack {
	c := props.Config
	st := awscdk.NewStack(scope, jsii.String(c.StackName), &awscdk.StackProps{
		Env:         props.Env,
		Description: jsii.String(fmt.Sprintf("greenlight: releases of %s on EC2", c.App)),
	})
	awscdk.Tags_Of(st).Add(jsii.String("greenlight:app"), jsii.String(c.App), nil)
	s := &Stack{Stack: st, Config: c, Functions: map[string]awslambda.Function{}}

	s.Bucket = s.releaseBucket()
	s.Table = s.ledger()
	s.Topic = s.topic()
	s.Documents = s.documents()
	s.ScheduleGroup = "greenlight-" + c.App
	code := awslambda.Code_FromAsset(jsii.String(props.Asset), nil)
	for _, e := range registry.All() {
		if !e.In(c) {
			continue
		}
		s.Functions[e.Name] = s.function(e, code)
	}
	s.StateMachine = s.stateMachine("Release", "release", statemachine.Definition,
		fmt.Sprintf("greenlight: release %s to EC2 with a candidate, approval, Elastic IP switch and compensating rollback", c.App))
	s.SwitchBack = s.stateMachine("SwitchBack", "rollback", statemachine.SwitchBack,
		fmt.Sprintf("greenlight: switch %s back to the instance kept from the previous release (greenlight rollback)", c.App))
	s.schedules()
	s.trigger()
	s.approvalLinks()
	var publishers []awsiam.IPrincipal
	for _, e := range registry.All() {
		if _, ok := s.Functions[e.Name]; ok {
			if s.wire(e.Name) {
				publishers = append(publishers, s.Functions[e.Name].Role())
			}
		}
	}
	s.letPublishersUseTheKey(publishers)
	if c.Network != nil {
		s.inVPC(s.Functions[registry.Smoke])
	}

	out := func(id string, v *string) { awscdk.NewCfnOutput(st, jsii.String(id), &awscdk.CfnOutputProps{Value: v}) }
	out(OutputBucket, s.Bucket.BucketName())
	out(OutputTable, s.Table.TableName())
	out(OutputTopic, s.Topic.TopicArn())
	out(OutputStateMachine, s.StateMachine.StateMachineArn())
	out(OutputSwitchBack, s.SwitchBack.StateMachineArn())
	out(OutputApp, jsii.String(c.App))
	return s
}

// wire gives a step's function its environment and its permissions, once
// every resource they name exists. It reports whether the function
// publishes to the topic.
func (s *Stack) wire(name string) (publishes bool) {
	sp := specs[name]
	fn := s.Functions[name]
	values := map[string]*string{
		step.VarTable:               s.Table.TableName(),
		step.VarTopic:               s.Topic.TopicArn(),
		step.VarBucket:              s.Bucket.BucketName(),
		step.VarArtifactPrefix:      jsii.String(s.Config.ArtifactPrefix),
		step.VarScheduleGroup:       jsii.String(s.ScheduleGroup),
		step.VarSchedulerRole:       s.SchedulerRole.RoleArn(),
		step.VarRetireFunction:      s.Functions[registry.Retire].FunctionArn(),
		step.VarDeployDocument:      s.Documents.Deploy,
		step.VarMaintenanceDocument: s.Documents.Maintenance,
		step.VarDataDocument:        s.Documents.Data,
		step.VarSmokeTarget:         jsii.String(s.smokeTarget()),
		step.VarRetentionDays:       jsii.String(strconv.Itoa(s.Config.RetentionDays)),
		step.VarFront:               jsii.String(s.frontJSON()),
	}
	values[step.VarStateMachine] = s.StateMachine.StateMachineArn()
	if s.LinkKey != nil {
		values[step.VarApprovalURL] = s.ApprovalURL.Url()
		values[step.VarLinkKey] = s.LinkKey.SecretArn()
	}
	for _, v := range sp.Env {
		val, ok := values[v]
		if !ok && linksOnly[v] {
			continue // approval.links is off
		}
		if !ok {
			panic(fmt.Sprintf("infra: no value for %s of %s", v, name))
		}
		fn.AddEnvironment(jsii.String(v), val, nil)
	}
	statements := sp.Allow(s)
	wildcards := sp.Wildcards
	if UsesEBSKey(name, s.Config) {
		statements = append(statements, s.ebsKeyUse()...)
		if k, _ := release.ParseKeyARN(s.Config.KMSKeyID()); k.IsAlias() {
			wildcards += "; encryption.kmsKeyId is an alias, and IAM names KMS keys only by key ARN: the KMS actions are allowed on the account's keys in the region that carry that alias (kms:ResourceAliases), through EC2 only"
		}
	}
	for _, st := range statements {
		fn.Role().AddToPrincipalPolicy(st)
		for _, a := range *st.Actions() {
			publishes = publishes || *a == "sns:Publish"
		}
	}
	if wildcards != "" {
		cdknag.NagSuppressions_AddResourceSuppressions(fn.Role(), &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-IAM5"),
			Reason: jsii.String(wildcards),
		}}, jsii.Bool(true))
	}
	return publishes
}

// smokeTarget is where the smoke tests reach candidates: their private
// address from inside the VPC when the config gives a network, else their
// public one.
func (s *Stack) smokeTarget() string {
	if s.Config.Network != nil {
		return "private"
	}
	return "public"
}

// inVPC places a function in the config's network: it then reaches
// candidates' private addresses. The VPC config is set on the function
// resource itself (no VPC lookup at synth time, which would need
// credentials), with the network-interface permissions Lambda needs.
func (s *Stack) inVPC(fn awslambda.Function) {
	n := s.Config.Network
	fn.Node().DefaultChild().(awslambda.CfnFunction).AddPropertyOverride(jsii.String("VpcConfig"), map[string]any{
		"SubnetIds": n.SubnetIDs, "SecurityGroupIds": n.SecurityGroupIDs,
	})
	fn.Role().AddToPrincipalPolicy(allow([]string{"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
		"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}, jsii.String("*")))
	cdknag.NagSuppressions_AddResourceSuppressions(fn.Role(), &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("A function in a VPC manages its network interfaces; Lambda's network-interface calls support no resource-level permissions"),
	}}, jsii.Bool(true))
}

// stateMachine is a workflow with execution logging and tracing. Each
// gets its own construct scope, so the two may share state names.
func (s *Stack) stateMachine(id, suffix string, define func(constructs.Construct, statemachine.Props) awsstepfunctions.IChainable, comment string) awsstepfunctions.StateMachine {
	fns := map[string]awslambda.IFunction{}
	for k, v := range s.Functions {
		fns[k] = v
	}
	scope := constructs.NewConstruct(s.Stack, jsii.String(id+"Workflow"))
	name := s.Config.StackName + "-" + suffix
	logs := awslogs.NewLogGroup(s.Stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		// Step Functions, "Avoiding Amazon CloudWatch Logs resource policy
		// size restrictions"
		// (https://docs.aws.amazon.com/step-functions/latest/dg/bp-cwl.html):
		// "CloudWatch Logs resource policies are limited to 5120
		// characters"; "When you create a state machine with logging
		// enabled, Step Functions must update your CloudWatch Logs resource
		// policy with the log group you specify. To avoid reaching the
		// CloudWatch Logs resource policy size limit, prefix your CloudWatch
		// Logs log group names with /aws/vendedlogs/".
		LogGroupName:  jsii.String("/aws/vendedlogs/states/" + name),
		Retention:     awslogs.RetentionDays_THREE_MONTHS,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	var invoked []awslambda.IFunction
	definition := define(scope, statemachine.Props{Config: s.Config, Functions: fns, Invokes: func(fn awslambda.IFunction) {
		for _, f := range invoked {
			if f == fn {
				return
			}
		}
		invoked = append(invoked, fn)
	}})
	sm := awsstepfunctions.NewStateMachine(s.Stack, jsii.String(id), &awsstepfunctions.StateMachineProps{
		StateMachineName: jsii.String(name),
		Comment:          jsii.String(comment),
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromChainable(definition),
		StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
		TracingEnabled:   jsii.Bool(true),
		Logs: &awsstepfunctions.LogOptions{
			Destination:          logs,
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(false), // payloads carry the task token
		},
	})
	// The Task states are written as ASL (statemachine.lambdaTask), so the
	// role is granted what the task constructs would have granted: invoking
	// exactly the functions the workflow calls.
	for _, fn := range invoked {
		fn.GrantInvoke(sm)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(sm.Role(), &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("CDK's generated state machine role: X-Ray and CloudWatch Logs delivery need Resource *, and it may invoke each step function's versions (arn:...:function:name:*)"),
	}}, jsii.Bool(true))
	return sm
}

// releaseBucket is where operators upload release artifacts. Uploads emit
// EventBridge events, which start releases.
func (s *Stack) releaseBucket() awss3.Bucket {
	logs := awss3.NewBucket(s.Stack, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:   awss3.ObjectOwnership_OBJECT_WRITER,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Expiration: awscdk.Duration_Days(jsii.Number(365)),
		}},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(logs, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-S1"),
		Reason: jsii.String("This is the access log bucket of the release bucket; logging it into itself would loop."),
	}}, jsii.Bool(true))

	b := awss3.NewBucket(s.Stack, jsii.String("Releases"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		Versioned:              jsii.Bool(true),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("releases/"),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			// Old artifact versions are only needed while a rollback to
			// them is possible.
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(90)),
		}},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// EventBridge notifications set on the bucket resource itself; the L2
	// EventBridgeEnabled flag would deploy a custom-resource Lambda for it.
	b.Node().DefaultChild().(awss3.CfnBucket).AddPropertyOverride(
		jsii.String("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled"), true)
	return b
}

// ledger is the release database: the per-app lock and one item per
// release.
func (s *Stack) ledger() awsdynamodb.Table {
	return awsdynamodb.NewTable(s.Stack, jsii.String("Ledger"), &awsdynamodb.TableProps{
		PartitionKey:  &awsdynamodb.Attribute{Name: jsii.String("pk"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:       &awsdynamodb.Attribute{Name: jsii.String("sk"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:   awsdynamodb.BillingMode_PAY_PER_REQUEST,
		Encryption:    awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
	})
}

// topic carries notifications to the operators: the steps' and the
// alarms' (see alarmOnUndelivered).
//
// It is encrypted with a key of the stack, not the AWS managed key
// alias/aws/sns: CloudWatch cannot deliver an alarm to a topic encrypted
// with that key. AWS re:Post Knowledge Center, "How do I configure a
// CloudWatch alarm with an encrypted SNS topic?"
// (https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns): with
// alias/aws/sns the alarm history shows "CloudWatch Alarms does not have
// authorization to access the SNS topic encryption key."; the fix is a
// customer managed key whose policy grants cloudwatch.amazonaws.com
// "kms:Decrypt" and "kms:GenerateDataKey*".
func (s *Stack) topic() awssns.Topic {
	s.TopicKey = awskms.NewKey(s.Stack, jsii.String("NotificationsKey"), &awskms.KeyProps{
		Description:       jsii.String("greenlight " + s.Config.App + ": encrypts the notification topic"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
	})
	s.TopicKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
	}), nil)
	t := awssns.NewTopic(s.Stack, jsii.String("Notifications"), &awssns.TopicProps{
		DisplayName: jsii.String("greenlight " + s.Config.App),
		MasterKey:   s.TopicKey,
		EnforceSSL:  jsii.Bool(true),
	})
	// The topic's policy lets the stack's alarms publish. AWS re:Post
	// Knowledge Center, "Why didn't I receive an SNS notification for my
	// CloudWatch alarm trigger?"
	// (https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger):
	// without it the alarm history shows "... is not authorized to perform:
	// SNS:Publish on resource"; the statement allows
	// "cloudwatch.amazonaws.com" "sns:Publish", and "To restrict the ability
	// to publish messages to the topic for specific alarms, add global
	// condition keys" (aws:SourceArn).
	t.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{t.TopicArn()},
		Conditions: &map[string]any{
			"ArnLike":      map[string]any{"aws:SourceArn": s.alarmARN("*")},
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		},
	}))
	for _, email := range s.Config.Notifications.Emails {
		// What awssnssubscriptions.EmailSubscription creates (a subscription
		// named by the address), without linking that package's Firehose,
		// Glue and Lambda bindings.
		awssns.NewSubscription(t, jsii.String(email), &awssns.SubscriptionProps{
			Topic: t, Endpoint: jsii.String(email), Protocol: awssns.SubscriptionProtocol_EMAIL,
		})
	}
	return t
}

// letPublishersUseTheKey lets the functions that publish to the topic use
// its key: SNS encrypts what they publish with the key on their behalf.
// Amazon SNS Developer Guide, "Key management"
// (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html),
// "Configuring AWS KMS permissions": "Before you can use SSE, you must
// configure AWS KMS key policies to allow encryption of topics and
// encryption and decryption of messages." The grant is in the key's policy,
// not the roles': the roles keep exactly the calls their code makes.
func (s *Stack) letPublishersUseTheKey(publishers []awsiam.IPrincipal) {
	if len(publishers) == 0 {
		return
	}
	s.TopicKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("FunctionsPublish"),
		Principals: &publishers,
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
	}), nil)
}

// alarmARN names the stack's CloudWatch alarms; they are all named
// "<stack>-…".
func (s *Stack) alarmARN(name string) *string {
	return jsii.String("arn:" + *awscdk.Aws_PARTITION() + ":cloudwatch:" + *awscdk.Aws_REGION() + ":" + *awscdk.Aws_ACCOUNT_ID() +
		":alarm:" + s.Config.StackName + "-" + name)
}

// function creates the Lambda function for one step, with its own role and
// log group, and the permissions its spec lists.
func (s *Stack) function(e registry.Entry, code awslambda.Code) awslambda.Function {
	id := functionID(e.Name)
	spec, ok := specs[e.Name]
	if !ok {
		panic(fmt.Sprintf("infra: handler %q has no function spec in infra/functions.go", e.Name))
	}
	logGroup := awslogs.NewLogGroup(s.Stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(s.Stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("greenlight " + e.Name + " step: only the calls this step makes"),
	})
	env := map[string]*string{step.VarApp: jsii.String(s.Config.App)}
	fn := awslambda.NewFunction(s.Stack, jsii.String(id), &awslambda.FunctionProps{
		Description:   jsii.String(e.Summary),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String(e.Name),
		Code:          code,
		Role:          role,
		LogGroup:      logGroup,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		MemorySize:    jsii.Number(256),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(spec.timeoutSeconds())),
		Environment:   &env,
	})
	// The role writes only to its own log group.
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: &[]*string{logGroup.LogGroupArn()},
	}))
	return fn
}

// functionID is the construct id of a step's function: "check-candidate"
// becomes "CheckCandidateFunction".
func functionID(name string) string {
	out := []byte{}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '-' {
			upper = true
			continue
		}
		if upper && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		upper = false
		out = append(out, c)
	}
	return string(out) + "Function"
}

// frontJSON is the app's front as the retire function reads it.
func (s *Stack) frontJSON() string {
	b, err := json.Marshal(traffic.FrontOf(s.Config))
	if err != nil {
		panic(fmt.Sprintf("infra: front: %v", err))
	}
	return string(b)
}
