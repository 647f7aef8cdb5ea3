package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

func TestAgentRegistration(t *testing.T) {
	r := NewTest(t, Options{AutoAssignPublicIP: true})
	lat := r.Latencies()
	id := runInstance(t, r, "eu-west-1a")
	online := func() []string {
		out, err := r.SSM().DescribeInstanceInformation(testCtx(), &ssm.DescribeInstanceInformationInput{
			Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("PingStatus"), Values: []string{"Online"}}}})
		wantCode(t, err, "")
		var ids []string
		for _, i := range out.InstanceInformationList {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
		return ids
	}
	send := func() error {
		_, err := r.SSM().SendCommand(testCtx(), &ssm.SendCommandInput{DocumentName: aws.String("greenlight-shop-maintenance"),
			InstanceIds: []string{id}, Parameters: map[string][]string{"App": {"shop"}, "Action": {"on"}}})
		return err
	}
	r.Advance(testCtx(), lat.PendingToRunning+lat.SSMOnline-time.Second)
	if got := online(); len(got) != 1 || got[0] != r.Fixture().LiveInstance {
		t.Fatalf("online just before the agent registers: %v", got)
	}
	wantCode(t, send(), "InvalidInstanceId")
	r.Advance(testCtx(), time.Second)
	if got := online(); len(got) != 2 {
		t.Fatalf("online after %v: %v", lat.PendingToRunning+lat.SSMOnline, got)
	}
	wantCode(t, send(), "")

	_, err := r.SSM().DescribeInstanceInformation(testCtx(), &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("Colour"), Values: []string{"x"}}}})
	wantCode(t, err, "InvalidFilterKey")
}

func TestCommandLifecycle(t *testing.T) {
	r := NewTest(t, Options{})
	f := r.Fixture()
	lat := r.Latencies()
	out, err := r.SSM().SendCommand(testCtx(), &ssm.SendCommandInput{DocumentName: aws.String("greenlight-shop-maintenance"),
		InstanceIds: []string{f.LiveInstance}, Parameters: map[string][]string{"App": {"shop"}, "Action": {"on"}}})
	wantCode(t, err, "")
	cmd := aws.ToString(out.Command.CommandId)
	inv := func() *ssm.GetCommandInvocationOutput {
		t.Helper()
		o, err := r.SSM().GetCommandInvocation(testCtx(), &ssm.GetCommandInvocationInput{CommandId: aws.String(cmd), InstanceId: aws.String(f.LiveInstance)})
		if err != nil {
			t.Fatalf("GetCommandInvocation at %v: %v", r.Now(), err)
		}
		return o
	}
	_, err = r.SSM().GetCommandInvocation(testCtx(), &ssm.GetCommandInvocationInput{CommandId: aws.String(cmd), InstanceId: aws.String(f.LiveInstance)})
	wantCode(t, err, "InvocationDoesNotExist")

	r.Advance(testCtx(), lat.InvocationNotFound)
	if got := inv(); got.Status != ssmtypes.CommandInvocationStatusInProgress || got.ResponseCode != -1 {
		t.Fatalf("after %v: %v (%d), want InProgress", lat.InvocationNotFound, got.Status, got.ResponseCode)
	}
	if !r.Host(f.LiveInstance).App().Maintenance {
		t.Fatal("the script's effect is not there once it runs")
	}
	r.Advance(testCtx(), lat.CommandOverhead+DefaultMaintenanceRunTime-lat.InvocationNotFound)
	got := inv()
	if got.Status != ssmtypes.CommandInvocationStatusSuccess || got.ResponseCode != 0 || !strings.Contains(aws.ToString(got.StandardOutputContent), "maintenance on") {
		t.Fatalf("finished: %v %d %q", got.Status, got.ResponseCode, aws.ToString(got.StandardOutputContent))
	}
	cmds := r.Commands()
	if len(cmds) != 1 || cmds[0].Kind != DocumentMaintenance || cmds[0].Parameters["Action"][0] != "on" || cmds[0].Caller != "test" {
		t.Errorf("recorded commands %+v", cmds)
	}
}

// With a longer not-found window the Pending status shows.
func TestCommandPending(t *testing.T) {
	lat := DefaultLatencies()
	lat.InvocationNotFound = 0
	r := NewTest(t, Options{Latencies: &lat})
	f := r.Fixture()
	out, err := r.SSM().SendCommand(testCtx(), &ssm.SendCommandInput{DocumentName: aws.String("maintenance"),
		InstanceIds: []string{f.LiveInstance}, Parameters: map[string][]string{"App": {"shop"}, "Action": {"off"}}})
	wantCode(t, err, "")
	got, err := r.SSM().GetCommandInvocation(testCtx(), &ssm.GetCommandInvocationInput{CommandId: out.Command.CommandId, InstanceId: aws.String(f.LiveInstance)})
	wantCode(t, err, "")
	if got.Status != ssmtypes.CommandInvocationStatusPending {
		t.Fatalf("at the send: %v, want Pending", got.Status)
	}
}

func TestSendCommandErrors(t *testing.T) {
	r := NewTest(t, Options{})
	live := r.Fixture().LiveInstance
	for _, c := range []struct {
		name string
		in   ssm.SendCommandInput
		code string
	}{
		{"unknown document", ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{live}}, "InvalidDocument"},
		{"undeclared parameter", ssm.SendCommandInput{DocumentName: aws.String("greenlight-shop-data"), InstanceIds: []string{live},
			Parameters: map[string][]string{"App": {"shop"}, "Action": {"freeze"}, "Force": {"yes"}}}, "InvalidParameters"},
		{"missing required parameter", ssm.SendCommandInput{DocumentName: aws.String("greenlight-shop-data"), InstanceIds: []string{live},
			Parameters: map[string][]string{"App": {"shop"}}}, "InvalidParameters"},
		{"value outside allowedPattern", ssm.SendCommandInput{DocumentName: aws.String("greenlight-shop-data"), InstanceIds: []string{live},
			Parameters: map[string][]string{"App": {"shop; rm -rf /"}, "Action": {"freeze"}}}, "InvalidParameters"},
		{"unknown action", ssm.SendCommandInput{DocumentName: aws.String("greenlight-shop-maintenance"), InstanceIds: []string{live},
			Parameters: map[string][]string{"App": {"shop"}, "Action": {"maybe"}}}, "InvalidParameters"},
		{"unknown instance", ssm.SendCommandInput{DocumentName: aws.String("greenlight-shop-data"), InstanceIds: []string{"i-0123456789abcdef0"},
			Parameters: map[string][]string{"App": {"shop"}, "Action": {"start"}}}, "InvalidInstanceId"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.SSM().SendCommand(testCtx(), &c.in)
			wantCode(t, err, c.code)
		})
	}
}

func TestGetParameter(t *testing.T) {
	r := NewTest(t, Options{})
	f := r.Fixture()
	out, err := r.SSM().GetParameter(testCtx(), &ssm.GetParameterInput{Name: aws.String(f.AMIParameter)})
	wantCode(t, err, "")
	if aws.ToString(out.Parameter.Value) != f.AMI || aws.ToString(out.Parameter.DataType) != "aws:ec2:image" {
		t.Errorf("parameter %+v", out.Parameter)
	}
	_, err = r.SSM().GetParameter(testCtx(), &ssm.GetParameterInput{Name: aws.String("/greenlight/shop/nope")})
	wantCode(t, err, "ParameterNotFound")
	var nf *ssmtypes.ParameterNotFound
	if !errorsAs(err, &nf) {
		t.Errorf("ParameterNotFound is %T, want the SDK's modeled *types.ParameterNotFound", err)
	}
}

// putArtifact stores an artifact in the region's bucket and returns its
// version id and SHA-256.
func putArtifact(t *testing.T, r *Region, key string, body []byte) (string, string) {
	t.Helper()
	out, err := r.S3Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(r.Fixture().Bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	sum := sha256.Sum256(body)
	return aws.ToString(out.VersionId), hex.EncodeToString(sum[:])
}

// run sends a document to an instance, lets it finish and returns the
// invocation.
func run(t *testing.T, r *Region, instance, document string, params map[string]string) *ssm.GetCommandInvocationOutput {
	t.Helper()
	p := map[string][]string{}
	for k, v := range params {
		p[k] = []string{v}
	}
	out, err := r.SSM().SendCommand(testCtx(), &ssm.SendCommandInput{DocumentName: aws.String(document), InstanceIds: []string{instance}, Parameters: p})
	if err != nil {
		t.Fatalf("SendCommand %s: %v", document, err)
	}
	r.Advance(testCtx(), r.Latencies().CommandOverhead+DefaultDeployRunTime)
	inv, err := r.SSM().GetCommandInvocation(testCtx(), &ssm.GetCommandInvocationInput{CommandId: out.Command.CommandId, InstanceId: aws.String(instance)})
	if err != nil {
		t.Fatalf("GetCommandInvocation: %v", err)
	}
	return inv
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestDeployDocument(t *testing.T) {
	r := NewTest(t, Options{AutoAssignPublicIP: true})
	f := r.Fixture()
	cand := boot(t, r, f.LiveAZ)
	vid, sum := putArtifact(t, r, "releases/shop-2.0.0.tar.gz", []byte("artifact 2.0.0"))
	params := map[string]string{"App": "shop", "ReleaseId": "r2", "Version": "2.0.0", "Bucket": f.Bucket,
		"Key": "releases/shop-2.0.0.tar.gz", "VersionId": vid, "Sha256": sum, "HealthPort": "8081", "HealthPath": "/up",
		"HealthTimeout": "120", "KeepReleases": "5"}

	bad := map[string]string{}
	for k, v := range params {
		bad[k] = v
	}
	bad["Sha256"] = strings.Repeat("0", 64)
	inv := run(t, r, cand, "greenlight-shop-deploy", bad)
	if inv.Status != ssmtypes.CommandInvocationStatusFailed || inv.ResponseCode == 0 || !strings.HasPrefix(lastLine(aws.ToString(inv.StandardOutputContent)), "checksum mismatch: ") {
		t.Fatalf("bad checksum: %v %d %q", inv.Status, inv.ResponseCode, aws.ToString(inv.StandardOutputContent))
	}
	if app := r.Host(cand).App(); app.Version != "" {
		t.Fatalf("failed deploy installed %q", app.Version)
	}

	inv = run(t, r, cand, "greenlight-shop-deploy", params)
	if inv.Status != ssmtypes.CommandInvocationStatusSuccess {
		t.Fatalf("deploy: %v %q", inv.Status, aws.ToString(inv.StandardOutputContent))
	}
	app := r.Host(cand).App()
	if app.Version != "2.0.0" || app.ReleaseID != "r2" || !app.Running || app.Port != 8081 || app.HealthPath != "/up" {
		t.Fatalf("after deploy: %+v", app)
	}
	ip := r.instances[cand].privateIP
	if status, body, _, err := get(r, "http://"+ip+":8081/up"); err != nil || status != 200 || body != "ok" {
		t.Errorf("health after deploy: %d %q %v", status, body, err)
	}
	// The same release again changes nothing.
	r.Host(cand).StopApp()
	inv = run(t, r, cand, "greenlight-shop-deploy", params)
	if inv.Status != ssmtypes.CommandInvocationStatusSuccess || r.Host(cand).App().Running {
		t.Errorf("repeat deploy: %v, running=%v; want a no-op success", inv.Status, r.Host(cand).App().Running)
	}
}

func TestDataDocument(t *testing.T) {
	r := NewTest(t, Options{AutoAssignPublicIP: true, DataVolume: true})
	f := r.Fixture()
	doc := "greenlight-shop-data"
	p := func(action string) map[string]string {
		return map[string]string{"App": "shop", "Action": action, "VolumeId": f.DataVolume, "Device": f.DataDevice, "MountPoint": f.DataMountPoint}
	}
	for _, c := range []struct {
		action     string
		status     ssmtypes.CommandInvocationStatus
		running    bool
		frozen     bool
		mounted    bool
		wantWrites bool
	}{
		{"freeze", ssmtypes.CommandInvocationStatusSuccess, false, true, true, false},
		{"freeze", ssmtypes.CommandInvocationStatusSuccess, false, true, true, false}, // idempotent
		{"thaw", ssmtypes.CommandInvocationStatusSuccess, false, false, true, false},
		{"start", ssmtypes.CommandInvocationStatusSuccess, true, false, true, true},
		{"unmount", ssmtypes.CommandInvocationStatusSuccess, false, false, false, false},
		{"unmount", ssmtypes.CommandInvocationStatusSuccess, false, false, false, false},
		{"mount", ssmtypes.CommandInvocationStatusSuccess, true, false, true, true},
		{"mount", ssmtypes.CommandInvocationStatusSuccess, true, false, true, true},
	} {
		inv := run(t, r, f.LiveInstance, doc, p(c.action))
		app := r.Host(f.LiveInstance).App()
		if inv.Status != c.status || app.Running != c.running || app.Frozen != c.frozen || (app.MountedVolume != "") != c.mounted {
			t.Fatalf("%s: %v, app %+v", c.action, inv.Status, app)
		}
		if err := r.Write(f.LiveInstance); (err == nil) != c.wantWrites {
			t.Fatalf("%s: write error %v, want writes accepted=%v", c.action, err, c.wantWrites)
		}
	}

	// Mounting a volume attached elsewhere fails with the script's reason.
	cand := boot(t, r, f.LiveAZ)
	inv := run(t, r, cand, doc, p("mount"))
	want := "volume " + f.DataVolume + " is not attached"
	if inv.Status != ssmtypes.CommandInvocationStatusFailed || lastLine(aws.ToString(inv.StandardOutputContent)) != want {
		t.Fatalf("mount elsewhere: %v %q, want Failed %q", inv.Status, aws.ToString(inv.StandardOutputContent), want)
	}
}

func TestDocumentNamesFromOptions(t *testing.T) {
	r := NewTest(t, Options{Documents: map[string]DocumentKind{"ShopMaint": DocumentMaintenance}})
	inv := run(t, r, r.Fixture().LiveInstance, "ShopMaint", map[string]string{"App": "shop", "Action": "on"})
	if inv.Status != ssmtypes.CommandInvocationStatusSuccess || !r.Host(r.Fixture().LiveInstance).App().Maintenance {
		t.Fatalf("mapped document: %v", inv.Status)
	}
}

// A command sent to an instance that stops before the script starts is
// undeliverable.
func TestCommandToAStoppingInstance(t *testing.T) {
	r := NewTest(t, Options{})
	f := r.Fixture()
	out, err := r.SSM().SendCommand(testCtx(), &ssm.SendCommandInput{DocumentName: aws.String("maintenance"),
		InstanceIds: []string{f.LiveInstance}, Parameters: map[string][]string{"App": {"shop"}, "Action": {"on"}}})
	wantCode(t, err, "")
	r.mu.Lock()
	r.shutDown(r.instances[f.LiveInstance], stateStopping, time.Minute)
	r.mu.Unlock()
	r.Advance(testCtx(), 5*time.Second)
	inv, err := r.SSM().GetCommandInvocation(testCtx(), &ssm.GetCommandInvocationInput{CommandId: out.Command.CommandId, InstanceId: aws.String(f.LiveInstance)})
	wantCode(t, err, "")
	if inv.Status != ssmtypes.CommandInvocationStatusFailed || aws.ToString(inv.StatusDetails) != "Undeliverable" {
		t.Fatalf("status %v / %s", inv.Status, aws.ToString(inv.StatusDetails))
	}
}
