package infra

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
)

// asset is a placeholder for build/bootstrap.zip: the
// tests look at the template, whose shape the asset's bytes do not change,
// so `make test` need not cross-compile the Lambda binary (`make build` and
// `make deploy` do).
var asset = func() string {
	dir, err := os.MkdirTemp("", "greenlight-infra-asset-")
	if err == nil {
		var path string
		if path, err = PlaceholderAsset(dir); err == nil {
			return path
		}
	}
	panic(err)
}()

func TestMain(m *testing.M) {
	// jsii runs the pinned Node from the repository's node_modules.
	// jsii prepared its Node process during package init; restart it on
	// the pinned Node.
	node, _ := filepath.Abs("../node_modules/.bin/node")
	os.Setenv("JSII_NODE", node)
	os.Setenv("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
	jsii.Close()
	code := m.Run()
	os.RemoveAll(filepath.Dir(asset))
	os.Exit(code)
}

func exampleProps(t *testing.T) Props {
	t.Helper()
	cfg, err := release.LoadConfig("../greenlight.example.json")
	if err != nil {
		t.Fatal(err)
	}
	return Props{Config: cfg, Asset: asset}
}

var (
	synthOnce sync.Once
	synthed   *Synthesized
	synthErr  error
)

// example synthesizes the example stack once for the whole package.
func example(t *testing.T) *Synthesized {
	t.Helper()
	props := exampleProps(t)
	synthOnce.Do(func() {
		dir, err := os.MkdirTemp("", "greenlight-synth-")
		if err != nil {
			synthErr = err
			return
		}
		synthed, synthErr = Synth(dir, props)
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return synthed
}

func resources(s *Synthesized, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.Template["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			props, _ := res["Properties"].(map[string]any)
			out[id] = props
		}
	}
	return out
}

func only(t *testing.T, s *Synthesized, typ string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, p := range resources(s, typ) {
		if match == nil || match(p) {
			found = append(found, p)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one matching %s, found %d", typ, len(found))
	}
	return found[0]
}

// dig follows a path of map keys and array indexes through a template value.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func TestCdkNagFindsNothing(t *testing.T) {
	s := example(t)
	if len(s.Findings) > 0 {
		t.Fatalf("cdk-nag AwsSolutions findings (fix them or suppress with a reason):\n%s", strings.Join(s.Findings, "\n"))
	}
}

// TestCdkNagCatchesAFinding proves the guard above has teeth: a bucket with
// none of the protections must produce AwsSolutions findings.
func TestCdkNagCatchesAFinding(t *testing.T) {
	props := exampleProps(t)
	app, s := NewApp(t.TempDir(), props)
	awss3.NewBucket(s.Stack, jsii.String("Careless"), &awss3.BucketProps{})
	synth, err := synthApp(app, s)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, f := range synth.Findings {
		if strings.Contains(f, "Careless") {
			found = append(found, f)
		}
	}
	joined := strings.Join(found, "\n")
	for _, rule := range []string{"AwsSolutions-S1", "AwsSolutions-S10"} {
		if !strings.Contains(joined, rule) {
			t.Errorf("cdk-nag did not report %s for an unprotected bucket; got:\n%s", rule, joined)
		}
	}
}

func TestReleaseBucketIsLockedDown(t *testing.T) {
	s := example(t)
	b := only(t, s, "AWS::S3::Bucket", func(p map[string]any) bool { return p["VersioningConfiguration"] != nil })
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if dig(b, "PublicAccessBlockConfiguration", k) != true {
			t.Errorf("release bucket: %s is not on", k)
		}
	}
	if dig(b, "VersioningConfiguration", "Status") != "Enabled" {
		t.Error("release bucket is not versioned")
	}
	if dig(b, "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault", "SSEAlgorithm") == nil {
		t.Error("release bucket is not encrypted")
	}
	if dig(b, "NotificationConfiguration", "EventBridgeConfiguration", "EventBridgeEnabled") != true {
		t.Error("release bucket does not send events to EventBridge")
	}
	if dig(b, "LoggingConfiguration", "DestinationBucketName") == nil {
		t.Error("release bucket has no access logging")
	}
	tlsOnly := false
	for _, p := range resources(s, "AWS::S3::BucketPolicy") {
		for _, st := range dig(p, "PolicyDocument", "Statement").([]any) {
			if dig(st, "Effect") == "Deny" && dig(st, "Condition", "Bool", "aws:SecureTransport") == "false" {
				tlsOnly = true
			}
		}
	}
	if !tlsOnly {
		t.Error("no bucket policy denies requests without TLS")
	}
}

func TestLedgerTable(t *testing.T) {
	s := example(t)
	tbl := only(t, s, "AWS::DynamoDB::Table", nil)
	if tbl["BillingMode"] != "PAY_PER_REQUEST" {
		t.Errorf("ledger billing mode %v, want on-demand", tbl["BillingMode"])
	}
	if dig(tbl, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
		t.Error("ledger has no point-in-time recovery")
	}
	if dig(tbl, "KeySchema", 0, "AttributeName") != "pk" || dig(tbl, "KeySchema", 1, "AttributeName") != "sk" {
		t.Errorf("ledger key schema %v", tbl["KeySchema"])
	}
}

func TestTopicIsEncryptedAndSubscribed(t *testing.T) {
	s := example(t)
	topic := only(t, s, "AWS::SNS::Topic", nil)
	if topic["KmsMasterKeyId"] == nil {
		t.Error("topic is not encrypted")
	}
	sub := only(t, s, "AWS::SNS::Subscription", nil)
	if sub["Protocol"] != "email" || sub["Endpoint"] != "ops@example.com" {
		t.Errorf("subscription %v", sub)
	}
}

func TestOneFunctionPerHandlerWithItsOwnRole(t *testing.T) {
	s := example(t)
	fns := resources(s, "AWS::Lambda::Function")
	byHandler := map[string]map[string]any{}
	roles := map[string]string{}
	for _, f := range fns {
		h, _ := f["Handler"].(string)
		byHandler[h] = f
		role := fmt.Sprint(dig(f, "Role", "Fn::GetAtt", 0))
		if other, dup := roles[role]; dup {
			t.Errorf("functions %s and %s share role %s", h, other, role)
		}
		roles[role] = h
	}
	var names []string
	for _, e := range registry.For(exampleProps(t).Config) {
		names = append(names, e.Name)
	}
	if len(fns) != len(names) {
		t.Errorf("%d functions for %d handlers", len(fns), len(names))
	}
	for _, name := range names {
		f, ok := byHandler[name]
		if !ok {
			t.Errorf("no function for handler %s", name)
			continue
		}
		if f["Runtime"] != "provided.al2023" || dig(f, "Architectures", 0) != "arm64" {
			t.Errorf("%s: runtime %v %v, want provided.al2023 arm64", name, f["Runtime"], f["Architectures"])
		}
		if dig(f, "LoggingConfig", "LogFormat") != "JSON" || dig(f, "LoggingConfig", "LogGroup") == nil {
			t.Errorf("%s: logging %v", name, f["LoggingConfig"])
		}
	}
	for _, lg := range resources(s, "AWS::Logs::LogGroup") {
		if lg["RetentionInDays"] == nil {
			t.Error("a log group keeps logs forever")
		}
	}
}

func TestSpecsMatchRegistry(t *testing.T) {
	for _, name := range registry.Names() {
		if _, ok := specs[name]; !ok {
			t.Errorf("handler %s has no spec in functions.go", name)
		}
	}
	for name := range specs {
		if _, err := registry.Lookup(name); err != nil {
			t.Errorf("spec %s has no handler: %v", name, err)
		}
	}
}

func TestFunctionID(t *testing.T) {
	for in, want := range map[string]string{"prepare": "PrepareFunction", "check-candidate": "CheckCandidateFunction"} {
		if got := functionID(in); got != want {
			t.Errorf("functionID(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSmokeTestsInTheVPC: with a network in the config, the smoke-test
// function runs in it and reaches candidates' private addresses.
func TestSmokeTestsInTheVPC(t *testing.T) {
	props := exampleProps(t)
	props.Config.Network = &release.Network{SubnetIDs: []string{"subnet-0123456789abcdef0"}, SecurityGroupIDs: []string{"sg-0123456789abcdef0"}}
	s, err := Synth(t.TempDir(), props)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Findings) > 0 {
		t.Fatalf("cdk-nag: %v", s.Findings)
	}
	smoke := only(t, s, "AWS::Lambda::Function", func(p map[string]any) bool { return p["Handler"] == registry.Smoke })
	if dig(smoke, "VpcConfig", "SubnetIds", 0) != "subnet-0123456789abcdef0" || dig(smoke, "Environment", "Variables", "GREENLIGHT_SMOKE_TARGET") != "private" {
		t.Errorf("smoke function %v", smoke)
	}
	for _, f := range resources(s, "AWS::Lambda::Function") {
		if f["Handler"] != registry.Smoke && f["VpcConfig"] != nil {
			t.Errorf("%v is in the VPC too", f["Handler"])
		}
	}
}

// logicalID is the resource a Ref or Fn::GetAtt names.
func logicalID(v any) string {
	if ref, ok := dig(v, "Ref").(string); ok {
		return ref
	}
	if id, ok := dig(v, "Fn::GetAtt", 0).(string); ok {
		return id
	}
	return ""
}

// statements are a policy document's statements.
func statements(doc any) []any {
	list, _ := dig(doc, "Statement").([]any)
	return list
}

// strs is a policy value (a string or a list of them) as a list.
func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func has(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, s := range list {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}

// TestStateMachineLogsAreVended: each workflow logs to a group named under
// /aws/vendedlogs/states/, which keeps Step Functions from growing the
// account's CloudWatch Logs resource policy towards its size limit.
func TestStateMachineLogsAreVended(t *testing.T) {
	s := example(t)
	groups := resources(s, "AWS::Logs::LogGroup")
	machines := resources(s, "AWS::StepFunctions::StateMachine")
	if len(machines) != 2 {
		t.Fatalf("%d state machines, want 2", len(machines))
	}
	for id, sm := range machines {
		group := logicalID(dig(sm, "LoggingConfiguration", "Destinations", 0, "CloudWatchLogsLogGroup", "LogGroupArn"))
		name, _ := dig(groups[group], "LogGroupName").(string)
		if !strings.HasPrefix(name, "/aws/vendedlogs/states/") {
			t.Errorf("state machine %s logs to %s named %q, want a name under /aws/vendedlogs/states/", id, group, name)
		}
	}
}

// TestSchedulerRoleTrustsOnlyThisAccount: EventBridge Scheduler may assume
// the retirement role only for this account's schedules in greenlight's
// group (confused-deputy prevention).
func TestSchedulerRoleTrustsOnlyThisAccount(t *testing.T) {
	s := example(t)
	role := only(t, s, "AWS::IAM::Role", func(p map[string]any) bool {
		return dig(p, "AssumeRolePolicyDocument", "Statement", 0, "Principal", "Service") == "scheduler.amazonaws.com"
	})
	for _, st := range statements(role["AssumeRolePolicyDocument"]) {
		if logicalID(dig(st, "Condition", "StringEquals", "aws:SourceAccount")) != "AWS::AccountId" {
			t.Errorf("the scheduler role's trust is not conditioned on aws:SourceAccount: %v", st)
		}
		arn := fmt.Sprint(dig(st, "Condition", "ArnLike", "aws:SourceArn"))
		if !strings.Contains(arn, ":schedule/greenlight-"+exampleProps(t).Config.App+"/*") {
			t.Errorf("the scheduler role's trust is not limited to greenlight's schedule group: aws:SourceArn %s", arn)
		}
	}
}

// TestAsyncFailuresAreKept: the functions EventBridge invokes
// asynchronously (start, watch) send a record of an invocation that failed
// every attempt to an encrypted, TLS-only queue, and an alarm on that
// queue tells the operators through the topic.
func TestAsyncFailuresAreKept(t *testing.T) {
	s := example(t)
	all := s.Template["Resources"].(map[string]any)
	fnID := map[string]string{}
	for id, p := range resources(s, "AWS::Lambda::Function") {
		fnID[fmt.Sprint(p["Handler"])] = id
	}
	configs := resources(s, "AWS::Lambda::EventInvokeConfig")
	queue := ""
	for _, handler := range []string{registry.Start, registry.Watch, registry.Retire} {
		var cfg map[string]any
		var cfgID string
		for id, c := range configs {
			if logicalID(c["FunctionName"]) == fnID[handler] {
				cfg, cfgID = c, id
			}
		}
		if cfg == nil {
			t.Errorf("%s: no asynchronous invocation config (a failed event is dropped after Lambda's retries)", handler)
			continue
		}
		if cfg["Qualifier"] != "$LATEST" {
			t.Errorf("%s: the config applies to %v, not to $LATEST, which EventBridge invokes", handler, cfg["Qualifier"])
		}
		dest := dig(cfg, "DestinationConfig", "OnFailure", "Destination")
		q := logicalID(dest)
		if dig(all[q], "Type") != "AWS::SQS::Queue" || dig(dest, "Fn::GetAtt", 1) != "Arn" {
			t.Errorf("%s: on-failure destination %v is not a queue's ARN", handler, dest)
			continue
		}
		if queue != "" && q != queue {
			t.Errorf("start and watch send failures to different queues %s, %s", queue, q)
		}
		queue = q
		// The function's role sends the record: it must be allowed to,
		// before the config exists.
		role := logicalID(dig(all[fnID[handler]], "Properties", "Role"))
		allowed, policy := false, ""
		for id, p := range resources(s, "AWS::IAM::Policy") {
			if logicalID(dig(p, "Roles", 0)) != role {
				continue
			}
			policy = id
			for _, st := range statements(p["PolicyDocument"]) {
				if has(strs(dig(st, "Action")), "sqs:SendMessage") && logicalID(dig(st, "Resource")) == q {
					allowed = true
				}
			}
		}
		if !allowed {
			t.Errorf("%s: its role may not sqs:SendMessage to %s", handler, q)
		}
		if !has(strs(dig(all[cfgID], "DependsOn")), policy) {
			t.Errorf("%s: the invocation config does not depend on the role's policy %s", handler, policy)
		}
	}
	if queue == "" {
		return
	}
	props, _ := dig(all[queue], "Properties").(map[string]any)
	if props["SqsManagedSseEnabled"] != true && props["KmsMasterKeyId"] == nil {
		t.Errorf("queue %s is not encrypted", queue)
	}
	tlsOnly := false
	for _, p := range resources(s, "AWS::SQS::QueuePolicy") {
		if logicalID(dig(p, "Queues", 0)) != queue {
			continue
		}
		for _, st := range statements(p["PolicyDocument"]) {
			if dig(st, "Effect") == "Deny" && dig(st, "Condition", "Bool", "aws:SecureTransport") == "false" {
				tlsOnly = true
			}
		}
	}
	if !tlsOnly {
		t.Errorf("queue %s accepts requests without TLS", queue)
	}
	topic := ""
	for id := range resources(s, "AWS::SNS::Topic") {
		topic = id
	}
	alarm := only(t, s, "AWS::CloudWatch::Alarm", func(p map[string]any) bool {
		return p["MetricName"] == "ApproximateNumberOfMessagesVisible" && logicalID(dig(p, "Dimensions", 0, "Value")) == queue
	})
	if alarm["Namespace"] != "AWS/SQS" || dig(alarm, "Dimensions", 0, "Name") != "QueueName" ||
		alarm["ComparisonOperator"] != "GreaterThanThreshold" || fmt.Sprint(alarm["Threshold"]) != "0" {
		t.Errorf("alarm does not fire on a message in the queue: %v", alarm)
	}
	if logicalID(dig(alarm, "AlarmActions", 0)) != topic {
		t.Errorf("alarm actions %v, want the topic %s", alarm["AlarmActions"], topic)
	}
}

// TestAlarmsCanPublishToTheTopic: CloudWatch can deliver the alarm to the
// encrypted topic: the topic's key is the stack's own, whose policy lets
// CloudWatch use it, and the topic's policy lets CloudWatch publish.
// The functions that publish may still use the key.
func TestAlarmsCanPublishToTheTopic(t *testing.T) {
	s := example(t)
	all := s.Template["Resources"].(map[string]any)
	var topicID string
	topic := map[string]any{}
	for id, p := range resources(s, "AWS::SNS::Topic") {
		topicID, topic = id, p
	}
	key := logicalID(topic["KmsMasterKeyId"])
	if dig(all[key], "Type") != "AWS::KMS::Key" {
		t.Fatalf("the topic is encrypted with %v, not a key of the stack: CloudWatch cannot use the AWS managed key alias/aws/sns", topic["KmsMasterKeyId"])
	}
	if dig(all[key], "Properties", "EnableKeyRotation") != true {
		t.Error("the topic's key does not rotate")
	}
	cloudwatch, publishers := false, map[string]bool{}
	for _, st := range statements(dig(all[key], "Properties", "KeyPolicy")) {
		actions := strs(dig(st, "Action"))
		if !has(actions, "kms:Decrypt") || (!has(actions, "kms:GenerateDataKey*") && !has(actions, "kms:GenerateDataKey")) {
			continue
		}
		if has(strs(dig(st, "Principal", "Service")), "cloudwatch.amazonaws.com") {
			cloudwatch = true
		}
		aws, _ := dig(st, "Principal", "AWS").([]any)
		if one := dig(st, "Principal", "AWS"); aws == nil && one != nil {
			aws = []any{one}
		}
		for _, p := range aws {
			publishers[logicalID(p)] = true
		}
	}
	if !cloudwatch {
		t.Error("the topic's key policy does not let cloudwatch.amazonaws.com use the key")
	}
	for _, p := range resources(s, "AWS::IAM::Policy") {
		for _, st := range statements(p["PolicyDocument"]) {
			if has(strs(dig(st, "Action")), "sns:Publish") && !publishers[logicalID(dig(p, "Roles", 0))] {
				t.Errorf("role %s publishes to the topic but may not use its key", logicalID(dig(p, "Roles", 0)))
			}
		}
	}
	publish := false
	for _, p := range resources(s, "AWS::SNS::TopicPolicy") {
		if logicalID(dig(p, "Topics", 0)) != topicID {
			continue
		}
		for _, st := range statements(p["PolicyDocument"]) {
			if dig(st, "Effect") == "Allow" && has(strs(dig(st, "Principal", "Service")), "cloudwatch.amazonaws.com") &&
				has(strs(dig(st, "Action")), "sns:Publish") && dig(st, "Condition", "ArnLike", "aws:SourceArn") != nil {
				publish = true
			}
		}
	}
	if !publish {
		t.Error("the topic's policy does not let CloudWatch alarms of the stack publish")
	}
}
