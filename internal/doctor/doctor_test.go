package doctor_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/doctor"
	"github.com/greenlight/greenlight/internal/release"
)

// run runs the checks against env's simulated account with cfg (the
// environment's config unless the case changes it), and fails the test if
// any call it made was not read-only.
func run(t *testing.T, env *localrun.Env, cfg release.Config) doctor.Report {
	t.Helper()
	before := len(env.Region.Calls())
	rep := doctor.Run(context.Background(), doctor.Input{
		Config: cfg, AWS: env.Region.Clients(), InstanceTypes: env.Region.EC2(), Subscriptions: env.Region.SNS(),
		Notifications: env.Region.S3Client(), IAM: env.Region.IAM(), Bucket: env.Fixture.Bucket, TopicARN: env.Fixture.TopicARN,
	})
	calls := env.Region.Calls()[before:]
	readOnly(t, calls)
	if testing.Verbose() {
		ops := map[string]bool{}
		for _, c := range calls {
			ops[sim.IAMPrefix[c.Service]+":"+c.Operation] = true
		}
		t.Logf("calls: %v", slices.Sorted(maps.Keys(ops)))
	}
	return rep
}

// readOnly fails for a call whose IAM action is not of access level Read
// or List.
func readOnly(t *testing.T, calls []sim.Call) {
	t.Helper()
	tc, err := localrun.FindToolchain()
	if err != nil {
		t.Fatal(err)
	}
	bad, err := sim.NotReadOnly(calls, filepath.Join(tc.Root, "node_modules", "@cloud-copilot", "iam-data", "data"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Errorf("doctor called %s: it must only read", b)
	}
}

func result(t *testing.T, rep doctor.Report, check string) doctor.Result {
	t.Helper()
	for _, r := range rep.Results {
		if r.Check == check {
			return r
		}
	}
	t.Fatalf("no %s check in %+v", check, rep.Results)
	return doctor.Result{}
}

// TestHealthyAccount: on the simulated account as the local engine sets
// it up, nothing fails or warns, in each data mode and behind an ALB.
func TestHealthyAccount(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts localrun.Options
		edit func(*release.Config)
	}{
		{"elastic IP, no data", localrun.Options{}, nil},
		{"restore", localrun.Options{}, func(c *release.Config) { c.Data.Mode = release.DataRestore }},
		{"alb", localrun.Options{Traffic: release.TrafficALB}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := localrun.NewTestEnv(t, tc.opts, tc.edit)
			rep := run(t, env, env.Config)
			for _, r := range rep.Results {
				if r.Status == doctor.Fail || r.Status == doctor.Warn {
					t.Errorf("%s %s: %s (fix: %s)", r.Status, r.Check, r.Detail, r.Fix)
				}
			}
			if !rep.OK() {
				t.Error("the report is not OK")
			}
		})
	}
}

// TestProblems injects one problem per case, in the account or in the
// config, and checks that the check it belongs to fails (or warns) and
// names the fix.
func TestProblems(t *testing.T) {
	withData := func(c *release.Config) { c.Data.Mode = release.DataRestore }
	for _, tc := range []struct {
		name   string
		opts   localrun.Options
		setup  func(*release.Config) // before the environment starts
		world  func(t *testing.T, env *localrun.Env)
		config func(c *release.Config, f sim.Fixture) // the config doctor reads
		check  string
		status doctor.Status
		fix    string
	}{
		{name: "the environment is not bootstrapped", world: func(_ *testing.T, env *localrun.Env) {
			env.Region.DeleteParameter(doctor.BootstrapParameter)
		}, check: "cdk-bootstrap", status: doctor.Fail, fix: "make deploy bootstraps it first"},
		{name: "the bootstrap stack is too old", world: func(_ *testing.T, env *localrun.Env) {
			env.Region.PutParameter(doctor.BootstrapParameter, "5")
		}, check: "cdk-bootstrap", status: doctor.Fail, fix: "it runs cdk bootstrap, which upgrades it"},
		{name: "the AMI parameter does not exist", config: func(c *release.Config, _ sim.Fixture) { c.Candidate.AMIParameter = "/greenlight/shop/none" },
			check: "golden-ami", status: doctor.Fail, fix: "aws ssm put-parameter --name /greenlight/shop/none"},
		{name: "the parameter names a deregistered image", world: func(_ *testing.T, env *localrun.Env) {
			env.Region.PutParameter(env.Fixture.AMIParameter, "ami-0000000000000dead")
		}, check: "golden-ami", status: doctor.Fail, fix: "point the parameter " + "/greenlight/shop/golden-ami at your current golden AMI"},
		{name: "the instance profile does not exist", config: func(c *release.Config, _ sim.Fixture) { c.Candidate.InstanceProfile = "shop-gone" },
			check: "instance-profile", status: doctor.Fail, fix: "set it to the live instance's profile"},
		{name: "the profile's role is not the configured role", world: func(_ *testing.T, env *localrun.Env) {
			env.Region.PutInstanceProfile(env.Config.Candidate.InstanceProfile, "shop-instance", sim.SSMCorePolicy)
		}, check: "instance-profile", status: doctor.Fail, fix: "set candidate.instanceRole to shop-instance and redeploy"},
		{name: "the role lacks the Systems Manager policy", world: func(_ *testing.T, env *localrun.Env) {
			env.Region.PutInstanceProfile(env.Config.Candidate.InstanceProfile, env.Config.Candidate.InstanceRole)
		}, check: "instance-profile", status: doctor.Warn, fix: "aws iam attach-role-policy"},
		{name: "an x86 instance type for an arm64 AMI", config: func(c *release.Config, _ sim.Fixture) { c.Candidate.InstanceType = "t3.small" },
			check: "instance-type", status: doctor.Fail, fix: "set candidate.instanceType to a type that runs arm64"},
		{name: "an instance type that does not exist", config: func(c *release.Config, _ sim.Fixture) { c.Candidate.InstanceType = "t9g.huge" },
			check: "instance-type", status: doctor.Fail, fix: "set candidate.instanceType to one it offers"},
		{name: "the Elastic IP does not exist", config: func(c *release.Config, _ sim.Fixture) {
			c.Live.ElasticIPAllocationID = "eipalloc-0000000000000dead"
		}, check: "front", status: doctor.Fail, fix: "set it to the front your users reach"},
		{name: "the Elastic IP is associated with nothing", world: func(t *testing.T, env *localrun.Env) {
			if _, err := env.Region.EC2().DisassociateAddress(context.Background(), &ec2.DisassociateAddressInput{PublicIp: aws.String(env.Fixture.PublicIP)}); err != nil {
				t.Fatal(err)
			}
		}, check: "front", status: doctor.Fail, fix: "aws ec2 associate-address --allocation-id"},
		{name: "the live instance is stopped", world: func(t *testing.T, env *localrun.Env) {
			if _, err := env.Region.EC2().StopInstances(context.Background(), &ec2.StopInstancesInput{InstanceIds: []string{env.Fixture.LiveInstance}}); err != nil {
				t.Fatal(err)
			}
		}, check: "live-instances", status: doctor.Fail, fix: "aws ec2 start-instances"},
		{name: "the SSM agent is stopped", world: func(t *testing.T, env *localrun.Env) {
			if err := env.Region.StopAgent(env.Fixture.LiveInstance); err != nil {
				t.Fatal(err)
			}
		}, check: "ssm-agent", status: doctor.Fail, fix: "systemctl status amazon-ssm-agent"},
		{name: "the candidate subnet does not exist", config: func(c *release.Config, _ sim.Fixture) { c.Candidate.SubnetID = "subnet-0000000000000dead" },
			check: "candidate-subnet", status: doctor.Fail, fix: "set candidate.subnetId to a subnet of the live instance's VPC"},
		{name: "the candidate subnet is in another zone than the data", setup: withData, config: func(c *release.Config, f sim.Fixture) { c.Candidate.SubnetID = f.Subnets[1] },
			check: "candidate-subnet", status: doctor.Fail, fix: "set candidate.subnetId to a subnet in eu-west-1a"},
		{name: "candidates launch without a public IP", config: func(c *release.Config, _ sim.Fixture) { c.Candidate.PublicIP = aws.Bool(false) },
			check: "ssm-path", status: doctor.Warn, fix: "NAT gateway or VPC endpoints"},
		{name: "data.device is not where the volume is", setup: withData, config: func(c *release.Config, _ sim.Fixture) { c.Data.Device = "/dev/sdz" },
			check: "data-volume", status: doctor.Fail, fix: "set data.device to the device the data volume is attached at"},
		{name: "the account encrypts with a key the stack is not granted",
			opts:  localrun.Options{Encryption: sim.Encryption{ByDefault: true, DefaultKey: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
			check: "ebs-encryption", status: doctor.Fail, fix: "set encryption.kmsKeyId to arn:aws:kms:eu-west-1:123456789012:key/1234abcd"},
		{name: "an alarm that does not exist", opts: localrun.Options{Traffic: release.TrafficALB},
			config: func(c *release.Config, _ sim.Fixture) { c.Traffic.Alarms = append(c.Traffic.Alarms, "shop-latency") },
			check:  "alarms", status: doctor.Fail, fix: "create the alarm, or take the name out of traffic.alarms"},
		{name: "an alarm in ALARM", opts: localrun.Options{Traffic: release.TrafficALB}, world: func(t *testing.T, env *localrun.Env) {
			if err := env.Region.SetAlarm(env.Config.Traffic.Alarms[0], cwtypes.StateValueAlarm, "test"); err != nil {
				t.Fatal(err)
			}
		}, check: "alarms", status: doctor.Warn, fix: "a release would abort at its first traffic step"},
		{name: "the listener does not exist", opts: localrun.Options{Traffic: release.TrafficALB}, config: func(c *release.Config, _ sim.Fixture) {
			c.Traffic.ALB.ListenerARN = strings.Replace(c.Traffic.ALB.ListenerARN, "listener/app/", "listener/app/gone-", 1)
		}, check: "front", status: doctor.Fail, fix: "set it to the front your users reach"},
		{name: "the bucket's events do not reach EventBridge", world: func(t *testing.T, env *localrun.Env) {
			s3srv, err := env.Region.S3()
			if err != nil {
				t.Fatal(err)
			}
			s3srv.SetEventBridge(env.Fixture.Bucket, false)
		}, check: "bucket-events", status: doctor.Fail, fix: `--notification-configuration '{"EventBridgeConfiguration":{}}'`},
		{name: "an email subscription is not confirmed", world: func(_ *testing.T, env *localrun.Env) {
			env.Region.Subscribe(env.Fixture.TopicARN, env.Config.Notifications.Emails[0], false)
		}, check: "notifications", status: doctor.Warn, fix: "AWS Notification - Subscription Confirmation"},
		{name: "nobody is notified", config: func(c *release.Config, _ sim.Fixture) { c.Notifications.Emails = nil },
			check: "notifications", status: doctor.Warn, fix: "add who approves releases"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := localrun.NewTestEnv(t, tc.opts, tc.setup)
			if tc.world != nil {
				tc.world(t, env)
			}
			cfg := env.Config
			if tc.config != nil {
				tc.config(&cfg, env.Fixture)
			}
			rep := run(t, env, cfg)
			r := result(t, rep, tc.check)
			if r.Status != tc.status || !strings.Contains(r.Fix, tc.fix) {
				t.Errorf("%s: %s %q, fix %q; want %s with a fix naming %q", tc.check, r.Status, r.Detail, r.Fix, tc.status, tc.fix)
			}
			if ok := tc.status != doctor.Fail; rep.OK() != ok {
				t.Errorf("report OK %v with a %s", rep.OK(), tc.status)
			}
		})
	}
}
