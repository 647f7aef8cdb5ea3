package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"

	"github.com/greenlight/greenlight/internal/release"
)

// fakeStacks answers DescribeStacks the way CloudFormation does.
type fakeStacks struct {
	stack *cftypes.Stack
	err   error
	asked []string
}

func (f *fakeStacks) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	f.asked = append(f.asked, aws.ToString(in.StackName))
	if f.err != nil {
		return nil, f.err
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{*f.stack}}, nil
}

func deployed(status cftypes.StackStatus, outputs ...string) *cftypes.Stack {
	st := &cftypes.Stack{StackName: aws.String("greenlight-shop"), StackStatus: status,
		Tags: []cftypes.Tag{{Key: aws.String("greenlight:app"), Value: aws.String("shop")}}}
	for i := 0; i+1 < len(outputs); i += 2 {
		st.Outputs = append(st.Outputs, cftypes.Output{OutputKey: aws.String(outputs[i]), OutputValue: aws.String(outputs[i+1])})
	}
	return st
}

var allOutputs = []string{
	release.OutputBucket, "greenlight-shop-releasesbucket-1x2y3z",
	release.OutputTable, "greenlight-shop-Ledger-ABC",
	release.OutputTopic, "arn:aws:sns:eu-west-1:123456789012:greenlight-shop-Notifications",
	release.OutputStateMachine, "arn:aws:states:eu-west-1:123456789012:stateMachine:greenlight-shop-release",
	release.OutputSwitchBack, "arn:aws:states:eu-west-1:123456789012:stateMachine:greenlight-shop-rollback",
}

func code(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return -1
}

func TestDiscover(t *testing.T) {
	notThere := &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id greenlight-shop does not exist"}
	cases := []struct {
		name string
		api  *fakeStacks
		want string // error text; empty: found
	}{
		{"deployed", &fakeStacks{stack: deployed(cftypes.StackStatusUpdateComplete, allOutputs...)}, ""},
		{"not deployed", &fakeStacks{err: notThere}, "stack greenlight-shop is not deployed in eu-west-1: run `make deploy`"},
		{"being created", &fakeStacks{stack: deployed(cftypes.StackStatusCreateInProgress)}, "is still being created (CREATE_IN_PROGRESS): wait for `make deploy` to finish"},
		{"failed first deploy", &fakeStacks{stack: deployed(cftypes.StackStatusRollbackComplete)}, "is ROLLBACK_COMPLETE and has no output ReleaseBucket, LedgerTable, StateMachine, RollbackStateMachine: fix the failed deploy, then run `make deploy`"},
		{"not greenlight's", &fakeStacks{stack: deployed(cftypes.StackStatusCreateComplete, release.OutputBucket, "b")}, "has no output LedgerTable, StateMachine, RollbackStateMachine: is it a greenlight stack?"},
		{"access denied", &fakeStacks{err: &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: arn:aws:iam::123456789012:user/bob is not authorized"}},
			"read stack greenlight-shop in eu-west-1: your AWS identity may not call cloudformation:DescribeStacks"},
		{"expired credentials", &fakeStacks{err: &smithy.GenericAPIError{Code: "ExpiredToken", Message: "The security token included in the request is expired"}},
			"your AWS credentials are expired or invalid (ExpiredToken): run `aws sso login`"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := findStack(context.Background(), c.api, "greenlight-shop", "eu-west-1")
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.App != "shop" || got.Bucket != allOutputs[1] || got.Table != allOutputs[3] || got.StateMachine != allOutputs[7] || got.RollbackStateMachine != allOutputs[9] {
					t.Errorf("found %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || code(err) != exitAWS {
				t.Fatalf("error %v (exit %d), want exit 4 with %q", err, code(err), c.want)
			}
		})
	}
}

// awsEnv points the SDK's default chain at nothing but what the test
// sets: no profile files, no instance metadata, no network beyond
// loopback.
func awsEnv(t *testing.T, withKeys bool) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
		"AWS_ROLE_ARN": "",
	} {
		t.Setenv(k, v)
	}
	if withKeys {
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	}
}

// fakeCloudFormation makes the commands discover stacks through api.
func fakeCloudFormation(t *testing.T, api stackAPI) {
	old := newStackAPI
	newStackAPI = func(aws.Config) stackAPI { return api }
	t.Cleanup(func() { newStackAPI = old })
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func runCLI(args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	c := execute(ctx, args, strings.NewReader(""), &out, &errOut)
	return result{code: c, stdout: out.String(), stderr: errOut.String()}
}

const example = "../../greenlight.example.json"

func TestCommandsNameTheFix(t *testing.T) {
	notThere := &fakeStacks{err: &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id greenlight-shop does not exist"}}
	cases := []struct {
		name     string
		keys     bool
		api      *fakeStacks
		args     []string
		code     int
		stderr   string
		stackArg string
	}{
		{"no credentials", false, notThere, []string{"status", "--config", example, "--region", "eu-west-1"}, exitAWS,
			"greenlight: no AWS credentials found: set AWS_PROFILE or run `aws sso login`\n", ""},
		{"no region", true, notThere, []string{"history", "--config", example}, exitAWS,
			"no AWS region: pass --region, set region in greenlight.json, or set AWS_REGION", ""},
		{"stack not deployed", true, notThere, []string{"status", "--config", example, "--region", "eu-west-1"}, exitAWS,
			"greenlight: stack greenlight-shop is not deployed in eu-west-1: run `make deploy`\n", "greenlight-shop"},
		{"--stack names it", true, notThere, []string{"approve", "--config", example, "--region", "eu-west-1", "--stack", "shop-staging"}, exitAWS,
			"stack shop-staging is not deployed in eu-west-1", "shop-staging"},
		{"stack of another app", true, &fakeStacks{stack: func() *cftypes.Stack {
			s := deployed(cftypes.StackStatusUpdateComplete, allOutputs...)
			s.Tags[0].Value = aws.String("blog")
			return s
		}()}, []string{"lock", "status", "--config", example, "--region", "eu-west-1"}, exitConfig,
			"stack greenlight-shop releases app blog but the config says shop", "greenlight-shop"},
		{"--stack without a config", true, notThere, []string{"status", "--stack", "greenlight-shop", "--region", "eu-west-1"}, exitAWS,
			"stack greenlight-shop is not deployed in eu-west-1", "greenlight-shop"},
		{"no config", true, notThere, []string{"history", "--config", "missing.json", "--region", "eu-west-1"}, exitConfig,
			"no config at missing.json: pass --config FILE, or --stack NAME", ""},
		{"invalid config", true, notThere, []string{"history", "--config", "testdata/invalid.json", "--region", "eu-west-1"}, exitConfig,
			"testdata/invalid.json", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			awsEnv(t, c.keys)
			c.api.asked = nil
			fakeCloudFormation(t, c.api)
			r := runCLI(c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.stderr) {
				t.Fatalf("%s\nwant exit %d with %q", r, c.code, c.stderr)
			}
			if c.stackArg != "" && (len(c.api.asked) != 1 || c.api.asked[0] != c.stackArg) {
				t.Errorf("DescribeStacks asked for %v, want %s", c.api.asked, c.stackArg)
			}
			if c.stackArg == "" && len(c.api.asked) > 0 {
				t.Errorf("CloudFormation was asked although %s", c.name)
			}
		})
	}
}

func TestCheckAWSWithoutCredentials(t *testing.T) {
	failing := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("failed to refresh cached credentials, no EC2 IMDS role found")
	})
	err := checkAWS(context.Background(), aws.Config{Region: "eu-west-1", Credentials: failing})
	if err == nil || err.Error() != "no AWS credentials found: set AWS_PROFILE or run `aws sso login`" || code(err) != exitAWS {
		t.Fatalf("%v (exit %d)", err, code(err))
	}
}

func TestTokenIsScrubbed(t *testing.T) {
	err := scrub(errors.New("InvalidToken: Invalid Token: 'AAAAKgAAAAIAAAAAAAAAAsecret'"), "AAAAKgAAAAIAAAAAAAAAAsecret")
	if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "<task token>") {
		t.Errorf("scrubbed: %v", err)
	}
}
