package sim

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// A call records the tags of the EC2 resources its request names as they
// were when it arrived: IAM's aws:ResourceTag is the resource's tags
// before the call, even for a call that changes them.
func TestCallsRecordTagsBeforeTheCall(t *testing.T) {
	r := NewTest(t, Options{DataVolume: true})
	ctx := WithCaller(context.Background(), "finish")
	f := r.Fixture()
	tag := func(k, v string) []ec2types.Tag { return []ec2types.Tag{{Key: aws.String(k), Value: aws.String(v)}} }
	if _, err := r.EC2().CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{f.LiveInstance, f.DataVolume}, Tags: tag("owner", "ops")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.EC2().DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{f.LiveInstance}, Tags: tag("owner", "ops")}); err != nil {
		t.Fatal(err)
	}
	// Ids inside nested inputs count too; strings that name nothing the
	// region has do not. A refused call is recorded all the same (the
	// document takes no such parameter).
	_, err := r.SSM().SendCommand(ctx, &ssm.SendCommandInput{DocumentName: aws.String("greenlight-shop-deploy"), InstanceIds: []string{f.LiveInstance, "i-0000000000000000f"},
		Parameters: map[string][]string{"Volume": {f.DataVolume}}})
	wantCode(t, err, "InvalidParameters")
	calls := r.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls recorded, want 3", len(calls))
	}
	live := func(extra ...string) map[string]string {
		m := map[string]string{"Name": "shop", tagApp: "shop", tagRole: "live", tagManaged: "true", tagVersion: "1.0.0"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	data := func(extra ...string) map[string]string {
		m := map[string]string{"Name": "shop-data", tagApp: "shop", tagRole: "data", tagManaged: "true"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	for i, want := range []map[string]map[string]string{
		{f.LiveInstance: live(), f.DataVolume: data()},
		{f.LiveInstance: live("owner", "ops")},
		{f.LiveInstance: live(), f.DataVolume: data("owner", "ops")},
	} {
		if !reflect.DeepEqual(calls[i].Tags, want) {
			t.Errorf("%s recorded tags %v, want %v", calls[i].Operation, calls[i].Tags, want)
		}
	}
	if in, ok := calls[0].Input.(*ec2.CreateTagsInput); !ok || len(in.Resources) != 2 {
		t.Errorf("CreateTags recorded input %#v", calls[0].Input)
	}
}
