package sim

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

func TestFaultInjection(t *testing.T) {
	describeAddrs := func(r *Region, caller string) error {
		_, err := r.EC2().DescribeAddresses(WithCaller(context.Background(), caller), &ec2.DescribeAddressesInput{})
		return err
	}
	for _, c := range []struct {
		name  string
		fault Fault
		// codes is what five calls by caller "a" get
		codes []string
	}{
		{"next call", Fault{Service: ServiceEC2, Operation: "DescribeAddresses", Code: "InternalError"},
			[]string{"InternalError", "", "", "", ""}},
		{"Nth call", Fault{Service: ServiceEC2, Operation: "DescribeAddresses", Code: "InternalError", Nth: 3},
			[]string{"", "", "InternalError", "", ""}},
		{"next K calls", Fault{Service: ServiceEC2, Code: "RequestLimitExceeded", Times: 3},
			[]string{"RequestLimitExceeded", "RequestLimitExceeded", "RequestLimitExceeded", "", ""}},
		{"always from the Nth", Fault{Service: ServiceEC2, Operation: "DescribeAddresses", Code: "Unavailable", Nth: 2, Always: true},
			[]string{"", "Unavailable", "Unavailable", "Unavailable", "Unavailable"}},
		{"other operation", Fault{Service: ServiceEC2, Operation: "RunInstances", Code: "InternalError"},
			[]string{"", "", "", "", ""}},
		{"other caller", Fault{Service: ServiceEC2, Code: "InternalError", Caller: "b"},
			[]string{"", "", "", "", ""}},
		{"this caller", Fault{Service: ServiceEC2, Code: "InternalError", Caller: "a", Times: 2},
			[]string{"InternalError", "InternalError", "", "", ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := NewTest(t, Options{})
			r.Inject(c.fault)
			for n, want := range c.codes {
				if got := ErrorCode(describeAddrs(r, "a")); got != want {
					t.Errorf("call %d: %q, want %q", n+1, got, want)
				}
			}
		})
	}
}

func TestThrottleBursts(t *testing.T) {
	r := NewTest(t, Options{})
	r.Throttle(ServiceEC2, 3)
	r.Throttle(ServiceSSM, 1)
	r.Throttle(ServiceSNS, 1)
	for n := 0; n < 3; n++ {
		_, err := r.EC2().DescribeInstances(testCtx(), &ec2.DescribeInstancesInput{})
		wantCode(t, err, "RequestLimitExceeded")
	}
	_, err := r.EC2().DescribeInstances(testCtx(), &ec2.DescribeInstancesInput{})
	wantCode(t, err, "")
	_, err = r.SSM().GetParameter(testCtx(), &ssm.GetParameterInput{Name: aws.String(r.Fixture().AMIParameter)})
	wantCode(t, err, "ThrottlingException")
	var th *ssmtypes.ThrottlingException
	if !errorsAs(err, &th) {
		t.Errorf("SSM throttling is %T, want the SDK's modeled type", err)
	}
	_, err = r.SNS().Publish(testCtx(), &sns.PublishInput{TopicArn: aws.String(r.Fixture().TopicARN), Message: aws.String("m")})
	wantCode(t, err, "Throttled")
	if got := r.CallsTo(ServiceEC2, "DescribeInstances"); len(got) != 4 || got[0].Code != "RequestLimitExceeded" || got[3].Code != "" {
		t.Errorf("recorded %v", got)
	}
}

func TestImpairAGivenInstance(t *testing.T) {
	r := NewTest(t, Options{})
	f := r.Fixture()
	if err := r.ImpairInstance(f.LiveInstance); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := get(r, "http://"+f.PublicIP+":8080/"); err == nil {
		t.Error("impaired instance still serves")
	}
	out, err := r.EC2().DescribeInstanceStatus(testCtx(), &ec2.DescribeInstanceStatusInput{InstanceIds: []string{f.LiveInstance}})
	wantCode(t, err, "")
	if got := out.InstanceStatuses[0].InstanceStatus.Status; got != "impaired" {
		t.Errorf("status %v", got)
	}
}

func TestCommandFaults(t *testing.T) {
	r := NewTest(t, Options{})
	live := r.Fixture().LiveInstance
	r.FailCommands(CommandFault{Document: "maintenance", Outcome: Outcome{Stdout: "nginx: reload failed\n"}})
	inv := run(t, r, live, "greenlight-shop-maintenance", map[string]string{"App": "shop", "Action": "on"})
	if inv.Status != ssmtypes.CommandInvocationStatusFailed || aws.ToString(inv.StandardOutputContent) != "nginx: reload failed\n" || inv.ResponseCode != 1 {
		t.Fatalf("injected failure: %v %d %q", inv.Status, inv.ResponseCode, aws.ToString(inv.StandardOutputContent))
	}
	if r.Host(live).App().Maintenance {
		t.Error("a failed-by-injection command still changed the instance")
	}
	r.FailCommands(CommandFault{InstanceID: live, Outcome: Outcome{Status: ssmtypes.CommandInvocationStatusTimedOut, Duration: time.Second}})
	inv = run(t, r, live, "greenlight-shop-maintenance", map[string]string{"App": "shop", "Action": "on"})
	if inv.Status != ssmtypes.CommandInvocationStatusTimedOut || aws.ToString(inv.StatusDetails) != "ExecutionTimedOut" {
		t.Fatalf("timed out: %v %s", inv.Status, aws.ToString(inv.StatusDetails))
	}
	inv = run(t, r, live, "greenlight-shop-maintenance", map[string]string{"App": "shop", "Action": "on"})
	if inv.Status != ssmtypes.CommandInvocationStatusSuccess {
		t.Fatalf("after the faults: %v", inv.Status)
	}
}

func TestRecordingAndInventory(t *testing.T) {
	r := NewTest(t, Options{})
	ctx := WithCaller(context.Background(), "launch-candidate")
	if CallerFrom(ctx) != "launch-candidate" || CallerFrom(context.Background()) != "" {
		t.Fatal("caller round trip")
	}
	run := &ec2.RunInstancesInput{ImageId: aws.String(r.Fixture().AMI), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		TagSpecifications: tagSpecs("greenlight:release", "r9")}
	out, err := r.EC2().RunInstances(ctx, run)
	wantCode(t, err, "")
	id := aws.ToString(out.Instances[0].InstanceId)
	describe := &ec2.DescribeInstancesInput{InstanceIds: []string{id}}
	_, err = r.EC2().DescribeInstances(WithCaller(context.Background(), "check-candidate"), describe)
	wantCode(t, err, "InvalidInstanceID.NotFound")

	calls := r.Calls()
	image := map[string]map[string]string{r.Fixture().AMI: {"Name": "greenlight golden image"}}
	want := []Call{
		{Caller: "launch-candidate", Service: "EC2", Operation: "RunInstances", Code: "", At: r.opts.Start, Latency: 1500 * time.Millisecond, Input: run, Tags: image},
		{Caller: "check-candidate", Service: "EC2", Operation: "DescribeInstances", Code: "InvalidInstanceID.NotFound", At: r.opts.Start, Input: describe,
			Tags: map[string]map[string]string{id: {"greenlight:release": "r9"}}},
	}
	if !reflect.DeepEqual(calls, want) {
		t.Fatalf("calls %+v\nwant %+v", calls, want)
	}
	ops := r.Operations()
	if len(ops["launch-candidate"]) != 1 || ops["launch-candidate"][0] != "EC2:RunInstances" {
		t.Errorf("operations %v", ops)
	}

	leaks := r.Leaks("r9")
	if len(leaks) != 1 || leaks[0].ID != id || leaks[0].Caller != "launch-candidate" {
		t.Fatalf("leaks of r9: %+v", leaks)
	}
	_, err = r.EC2().TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	r.Advance(ctx, r.Latencies().InstanceNotFound)
	_, err = r.EC2().TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "")
	if leaks := r.Leaks("r9"); len(leaks) != 1 {
		t.Fatalf("a shutting-down instance is still billable: %v", leaks)
	}
	r.Advance(ctx, r.Latencies().ShuttingDownToTerminated)
	if leaks := r.Leaks("r9"); len(leaks) != 0 {
		t.Fatalf("after termination: %v", leaks)
	}
}

func TestInterceptorFailsChosenCalls(t *testing.T) {
	r := NewTest(t, Options{})
	var seen []string
	r.Intercept(func(service, op, caller string, _ bool) (string, string) {
		seen = append(seen, service+":"+op+":"+caller)
		if caller == "launch" {
			return ThrottleCode(service), ""
		}
		return "", ""
	})
	ctx := WithCaller(context.Background(), "launch")
	_, err := r.EC2().DescribeAddresses(ctx, &ec2.DescribeAddressesInput{})
	if ErrorCode(err) != "RequestLimitExceeded" {
		t.Fatalf("launch's call: %v", err)
	}
	if _, err := r.EC2().DescribeAddresses(WithCaller(context.Background(), "other"), &ec2.DescribeAddressesInput{}); err != nil {
		t.Fatalf("another caller's call failed: %v", err)
	}
	r.Intercept(nil)
	if _, err := r.EC2().DescribeAddresses(ctx, &ec2.DescribeAddressesInput{}); err != nil {
		t.Fatalf("after removing the interceptor: %v", err)
	}
	if len(seen) != 2 || seen[0] != ServiceEC2+":DescribeAddresses:launch" {
		t.Errorf("interceptor saw %v", seen)
	}
	if len(r.CallsTo(ServiceEC2, "DescribeAddresses")) != 3 {
		t.Error("intercepted calls are still recorded")
	}
}
