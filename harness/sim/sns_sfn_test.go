package sim

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

func TestPublish(t *testing.T) {
	r := NewTest(t, Options{})
	ctx := WithCaller(context.Background(), "notify")
	_, err := r.SNS().Publish(ctx, &sns.PublishInput{TopicArn: aws.String(r.Fixture().TopicARN), Subject: aws.String("shop 2.0.0 awaits approval"), Message: aws.String("report")})
	wantCode(t, err, "")
	_, err = r.SNS().Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:eu-west-1:123456789012:nope"), Message: aws.String("x")})
	wantCode(t, err, "NotFound")
	_, err = r.SNS().Publish(ctx, &sns.PublishInput{TopicArn: aws.String(r.Fixture().TopicARN), Message: aws.String("")})
	wantCode(t, err, "InvalidParameter")
	msgs := r.Messages()
	if len(msgs) != 1 || msgs[0].Subject != "shop 2.0.0 awaits approval" || msgs[0].Caller != "notify" {
		t.Fatalf("messages %+v", msgs)
	}
}

func TestStartExecutionNameSemantics(t *testing.T) {
	r := NewTest(t, Options{})
	var started []Execution
	r.OnStartExecution(func(_ context.Context, e Execution) { started = append(started, e) })
	machine := r.Fixture().StateMachineARN
	start := func(name, input string) (*sfn.StartExecutionOutput, error) {
		return r.SFN().StartExecution(testCtx(), &sfn.StartExecutionInput{StateMachineArn: aws.String(machine), Name: aws.String(name), Input: aws.String(input)})
	}
	first, err := start("shop-2.0.0-abc", `{"key":"releases/shop-2.0.0.tar.gz"}`)
	wantCode(t, err, "")
	again, err := start("shop-2.0.0-abc", `{"key":"releases/shop-2.0.0.tar.gz"}`)
	wantCode(t, err, "")
	if aws.ToString(again.ExecutionArn) != aws.ToString(first.ExecutionArn) || len(started) != 1 {
		t.Fatalf("duplicate start: %s vs %s, hook called %d times", aws.ToString(again.ExecutionArn), aws.ToString(first.ExecutionArn), len(started))
	}
	if started[0].Name != "shop-2.0.0-abc" || started[0].Input != `{"key":"releases/shop-2.0.0.tar.gz"}` {
		t.Errorf("hook got %+v", started[0])
	}
	_, err = start("shop-2.0.0-abc", `{"key":"other"}`)
	wantCode(t, err, "ExecutionAlreadyExists")

	if err := r.FinishExecution(aws.ToString(first.ExecutionArn), sfntypes.ExecutionStatusSucceeded, `{"status":"Released"}`, "", ""); err != nil {
		t.Fatal(err)
	}
	_, err = start("shop-2.0.0-abc", `{"key":"releases/shop-2.0.0.tar.gz"}`)
	wantCode(t, err, "ExecutionAlreadyExists") // closed executions keep their name

	d, err := r.SFN().DescribeExecution(testCtx(), &sfn.DescribeExecutionInput{ExecutionArn: first.ExecutionArn})
	wantCode(t, err, "")
	if d.Status != sfntypes.ExecutionStatusSucceeded || aws.ToString(d.Output) != `{"status":"Released"}` {
		t.Errorf("describe %+v", d)
	}
	for _, c := range []struct{ name, machine, input, code string }{
		{"bad name", machine, "{}", "InvalidName"},
		{"ok", machine + "x", "{}", "StateMachineDoesNotExist"},
		{"ok", "arn:aws:lambda:eu-west-1:123456789012:function:f", "{}", "InvalidArn"},
		{"ok2", machine, "{", "InvalidExecutionInput"},
	} {
		name := c.name
		if name == "bad name" {
			name = "shop 2.0"
		}
		_, err := r.SFN().StartExecution(testCtx(), &sfn.StartExecutionInput{StateMachineArn: aws.String(c.machine), Name: aws.String(name), Input: aws.String(c.input)})
		wantCode(t, err, c.code)
	}
	_, err = r.SFN().DescribeExecution(testCtx(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String("arn:aws:states:eu-west-1:123456789012:execution:greenlight-shop-release:nope")})
	wantCode(t, err, "ExecutionDoesNotExist")
}

func TestTaskTokens(t *testing.T) {
	r := NewTest(t, Options{})
	approval := r.AwaitTask("token-1", TaskOptions{Timeout: 24 * time.Hour})
	_, err := r.SFN().SendTaskHeartbeat(testCtx(), &sfn.SendTaskHeartbeatInput{TaskToken: aws.String("token-1")})
	wantCode(t, err, "")
	_, err = r.SFN().SendTaskSuccess(testCtx(), &sfn.SendTaskSuccessInput{TaskToken: aws.String("token-1"), Output: aws.String("not json")})
	wantCode(t, err, "InvalidOutput")
	_, err = r.SFN().SendTaskSuccess(testCtx(), &sfn.SendTaskSuccessInput{TaskToken: aws.String("token-1"), Output: aws.String(`{"approved":true}`)})
	wantCode(t, err, "")
	select {
	case <-approval.Done():
	default:
		t.Fatal("task not done after SendTaskSuccess")
	}
	if res := approval.Result(); res.Status != TaskSucceeded || res.Output != `{"approved":true}` {
		t.Fatalf("result %+v", res)
	}
	_, err = r.SFN().SendTaskSuccess(testCtx(), &sfn.SendTaskSuccessInput{TaskToken: aws.String("token-1"), Output: aws.String("{}")})
	wantCode(t, err, "TaskTimedOut")
	_, err = r.SFN().SendTaskFailure(testCtx(), &sfn.SendTaskFailureInput{TaskToken: aws.String("nope")})
	wantCode(t, err, "InvalidToken")

	// No answer before the timeout: the task times out on the simulated
	// clock, and a late answer is TaskTimedOut.
	late := r.AwaitTask("token-2", TaskOptions{Timeout: time.Hour})
	r.Advance(testCtx(), time.Hour)
	<-late.Done()
	if res := late.Result(); res.Status != TaskTimedOut || res.Error != "States.Timeout" {
		t.Fatalf("timed out task: %+v", res)
	}
	_, err = r.SFN().SendTaskFailure(testCtx(), &sfn.SendTaskFailureInput{TaskToken: aws.String("token-2"), Error: aws.String("Rejected")})
	wantCode(t, err, "TaskTimedOut")

	// Heartbeats keep a task alive past its heartbeat timeout.
	hb := r.AwaitTask("token-3", TaskOptions{Heartbeat: time.Minute})
	r.Advance(testCtx(), 50*time.Second)
	_, err = r.SFN().SendTaskHeartbeat(testCtx(), &sfn.SendTaskHeartbeatInput{TaskToken: aws.String("token-3")})
	wantCode(t, err, "")
	r.Advance(testCtx(), 50*time.Second)
	select {
	case <-hb.Done():
		t.Fatal("task timed out despite a heartbeat")
	default:
	}
	r.Advance(testCtx(), 20*time.Second)
	<-hb.Done()
}
