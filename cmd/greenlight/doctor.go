package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/greenlight/greenlight/internal/awsapi"
	"github.com/greenlight/greenlight/internal/doctor"
	"github.com/greenlight/greenlight/internal/localenv"
)

func newDoctor() *cobra.Command {
	var f targetFlags
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the account and the deployed stack for what would break a release (read-only)",
		Long: `doctor reads the account the config points at, and the deployed stack, and
prints each check as pass, warn or fail, with the exact fix: credentials
and region; the stack deployed; the CDK bootstrap; the golden AMI (its parameter, the image,
its architecture against candidate.instanceType); the candidates' instance
profile, its role (as candidate.instanceRole names it) and the Systems
Manager policy on it; the front (the Elastic
IP, or the ALB listener) and the live instances behind it, running; their
SSM agent online; the candidates' subnet (and, with a data volume, its
Availability Zone); their network path to Systems Manager; the data
volume at data.device; the account's default EBS encryption key; the
alarms of traffic.alarms; the release bucket's events reaching EventBridge;
the email subscriptions confirmed.

It makes only read-only calls (Describe, Get, List): your identity needs
cloudformation:DescribeStacks, sts:GetCallerIdentity, iam:GetInstanceProfile,
iam:ListAttachedRolePolicies, ssm:GetParameter,
ssm:DescribeInstanceInformation, ec2:DescribeImages,
ec2:DescribeInstanceTypes, ec2:DescribeAddresses, ec2:DescribeInstances,
ec2:DescribeSubnets, ec2:DescribeVolumes, ec2:GetEbsEncryptionByDefault,
ec2:GetEbsDefaultKmsKeyId, s3:GetBucketNotification,
sns:ListSubscriptionsByTopic and, behind an
ALB or with alarms, elasticloadbalancing:DescribeLoadBalancers,
DescribeListeners, DescribeRules (with traffic.alb.ruleArn) and
DescribeTargetHealth, and cloudwatch:DescribeAlarms. Exit codes: 0
nothing failed (warnings allowed), 1 a check failed, 2 bad usage, 3 the
config is invalid, 4 AWS could not be asked at all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var rep doctor.Report
			if f.local {
				if f.stack != "" || f.region != "" || f.config != "" {
					return withCode(exitUsage, errors.New("--local checks the running local engine's account and config: --stack, --region and --config do not apply"))
				}
				ep, err := localenv.Read()
				if err != nil {
					return withCode(exitAWS, err)
				}
				if err := (hostClient{url: ep.SFN}).post(ctx, "/greenlight/doctor", struct{}{}, &rep); err != nil {
					return withCode(exitAWS, err)
				}
			} else {
				var err error
				if rep, err = doctorOnAWS(ctx, f); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if f.json {
				if err := writeJSON(out, rep); err != nil {
					return err
				}
			} else {
				renderDoctor(out, rep)
			}
			if n := rep.Count(doctor.Fail); n > 0 {
				return withCode(exitFailed, fmt.Errorf("%d check(s) failed: fix them before releasing", n))
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

// doctorOnAWS runs the checks with the operator's credentials. The
// credentials and the stack are checks too: a missing stack still lets
// the account's checks run.
func doctorOnAWS(ctx context.Context, f targetFlags) (doctor.Report, error) {
	cfg, haveConfig, err := f.loadConfig()
	if err != nil {
		return doctor.Report{}, err
	}
	if !haveConfig {
		return doctor.Report{}, withCode(exitConfig, errors.New("doctor checks a config against the account: create greenlight.json (cp greenlight.example.json greenlight.json) or pass --config FILE"))
	}
	region := f.region
	if region == "" {
		region = cfg.Region
	}
	awsCfg, err := awsapi.LoadConfig(ctx, region)
	if err != nil {
		return doctor.Report{}, withCode(exitAWS, fmt.Errorf("%w (check AWS_PROFILE and your AWS config)", err))
	}
	if err := checkAWS(ctx, awsCfg); err != nil {
		return doctor.Report{}, err
	}
	who, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return doctor.Report{}, awsError("check the credentials", "sts:GetCallerIdentity", err, nil)
	}
	first := []doctor.Result{{Check: "credentials", Status: doctor.Pass, Detail: aws.ToString(who.Arn) + " in " + awsCfg.Region}}
	stack := f.stack
	if stack == "" {
		stack = cfg.StackName
	}
	found, err := findStack(ctx, newStackAPI(awsCfg), stack, awsCfg.Region)
	switch {
	case err != nil:
		first = append(first, doctor.Result{Check: "stack", Status: doctor.Fail, Detail: err.Error(), Fix: "deploy it: make deploy"})
	case found.App != "" && found.App != cfg.App:
		first = append(first, doctor.Result{Check: "stack", Status: doctor.Fail, Detail: fmt.Sprintf("stack %s releases app %s, the config says %s", stack, found.App, cfg.App),
			Fix: "pass the config of that app (--config), or the stack of this one (--stack)"})
	default:
		first = append(first, doctor.Result{Check: "stack", Status: doctor.Pass, Detail: "stack " + stack + " deployed"})
	}
	rep := doctor.Run(ctx, doctor.Input{
		Config: cfg, AWS: awsapi.New(awsCfg), InstanceTypes: ec2.NewFromConfig(awsCfg), Subscriptions: sns.NewFromConfig(awsCfg),
		Notifications: s3.NewFromConfig(awsCfg), IAM: iam.NewFromConfig(awsCfg), Bucket: found.Bucket, TopicARN: found.Topic,
	})
	rep.Add(first...)
	return rep, nil
}

// renderDoctor prints one line per check, and the fix under each that did
// not pass.
func renderDoctor(w io.Writer, rep doctor.Report) {
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%-4s  %-16s %s\n", strings.ToUpper(string(r.Status)), r.Check, r.Detail)
		if r.Fix != "" {
			fmt.Fprintf(w, "      %-16s fix: %s\n", "", r.Fix)
		}
	}
	fmt.Fprintf(w, "\n%d passed, %d warned, %d failed, %d skipped\n", rep.Count(doctor.Pass), rep.Count(doctor.Warn), rep.Count(doctor.Fail), rep.Count(doctor.Skip))
}
