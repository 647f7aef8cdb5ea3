package infra

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"

	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
	"github.com/greenlight/greenlight/lambdas/retire"
	"github.com/greenlight/greenlight/lambdas/step"
)

// spec is what the stack must know about a step's function beyond its
// handler: how long it may run, which resources it is told about, and
// exactly which calls its role may make.
type spec struct {
	// Timeout bounds one invocation; steps start or check something and
	// return, so most need seconds.
	Timeout time.Duration
	// Env lists the step.Var* variables the step reads.
	Env []string
	// Allow lists the step's permissions.
	Allow func(s *Stack) []awsiam.PolicyStatement
	// Wildcards justifies each "Resource: *" the step needs, for cdk-nag.
	Wildcards string
	// EBSKey says whether, for a config, the step creates or attaches
	// EBS volumes: it is then granted the use of encryption.kmsKeyId
	// through EC2 (ebsKeyUse), when the config names a key.
	EBSKey func(release.Config) bool
}

// linksOnly are the variables set only when approval.links is on.
var linksOnly = map[string]bool{step.VarApprovalURL: true, step.VarLinkKey: true}

// polling is the timeout of the steps that poll within an invocation
// (step.Poll): the budget and the margin it keeps.
const polling = step.PollBudget + step.PollMargin

// always is EBSKey for the steps that create volumes in every config.
func always(release.Config) bool { return true }

func (sp spec) timeoutSeconds() float64 {
	if sp.Timeout == 0 {
		return 30
	}
	return sp.Timeout.Seconds()
}

// describeWhy is the one justification for the read-only EC2 and SSM
// calls: AWS does not support resource-level permissions for them.
const describeWhy = "ec2:Describe* and ssm:DescribeInstanceInformation/GetCommandInvocation support no resource-level permissions; they only read"

// specs has one entry per registered handler; a test keeps the two lists
// equal. The poll loops' steps read their release in the ledger: an
// operator's abort (greenlight abort) reaches them there.
var specs = map[string]spec{
	registry.Start: {
		Env: []string{step.VarTable, step.VarStateMachine, step.VarArtifactPrefix},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{
				s.ledgerAccess("dynamodb:PutItem", "dynamodb:UpdateItem"),
				allow([]string{"states:StartExecution"}, s.stateMachineARN()),
				allow([]string{"states:DescribeExecution"}, s.executionsARN()),
			}
		},
		Wildcards: "states:DescribeExecution on this state machine's executions only; their names are release ids known at run time",
	},
	registry.Prepare: {
		Timeout: 5 * time.Minute, // streams an artifact of up to artifactMaxSize
		Env:     []string{step.VarTable, step.VarTopic},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return append([]awsiam.PolicyStatement{
				allow([]string{"s3:GetObject", "s3:GetObjectVersion"}, jsii.String(*s.Bucket.BucketArn()+"/"+s.Config.ArtifactPrefix+"*")),
				s.readFront(),
				allow([]string{"ec2:DescribeInstances", "ec2:DescribeSubnets"}, jsii.String("*")),
				// Which key EBS encrypts greenlight's volumes with when it
				// names none (checkEncryption).
				allow([]string{"ec2:GetEbsEncryptionByDefault", "ec2:GetEbsDefaultKmsKeyId"}, jsii.String("*")),
				s.ledgerAccess("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"),
				s.publish(),
			}, s.readAlarms()...) // the alarms must exist before anything is created
		},
		Wildcards: describeWhy + "; " + frontWhy + "; ec2:GetEbsEncryptionByDefault and ec2:GetEbsDefaultKmsKeyId read account settings and support no resource-level permissions",
	},
	registry.Reject: {
		Env: []string{step.VarTable, step.VarTopic},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{s.ledgerAccess("dynamodb:UpdateItem"), s.publish()}
		},
	},
	registry.Launch: {
		Env:       []string{step.VarTable},
		Allow:     func(s *Stack) []awsiam.PolicyStatement { return s.launch(true) },
		EBSKey:    always,
		Wildcards: launchWhy,
	},
	registry.CheckCandidate: {
		Env: []string{step.VarTable},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			st := []awsiam.PolicyStatement{
				allow([]string{"ec2:DescribeInstanceStatus", "ec2:DescribeInstances", "ssm:DescribeInstanceInformation"}, jsii.String("*")),
				s.ledgerAccess("dynamodb:GetItem", "dynamodb:UpdateItem"),
			}
			if s.Config.ReplaceUnhealthy() > 0 {
				// A candidate that will not become ready is terminated (only
				// this app's candidates) and its slot launched again.
				st = append(st, allowIf([]string{"ec2:TerminateInstances"}, map[string]any{"StringEquals": map[string]any{
					"aws:ResourceTag/" + release.TagManaged: release.ManagedValue,
					"aws:ResourceTag/" + release.TagApp:     s.Config.App,
					"aws:ResourceTag/" + release.TagRole:    release.RoleCandidate,
				}}, s.ec2ARN("instance/*")))
				st = append(st, s.launch(false)...)
			}
			return st
		},
		EBSKey:    func(c release.Config) bool { return c.ReplaceUnhealthy() > 0 },
		Wildcards: describeWhy + "; with fleet.replaceUnhealthy, " + launchWhy,
	},
	registry.TestData: {
		Timeout: polling,
		Env:     []string{step.VarTable, step.VarDataDocument},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{
				allow([]string{"ec2:DescribeSnapshots", "ec2:DescribeVolumes", "ec2:DescribeInstances", "ssm:GetCommandInvocation"}, jsii.String("*")),
				s.createManaged("ec2:CreateSnapshot", "snapshot/*"), allow([]string{"ec2:CreateSnapshot"}, s.ec2ARN("volume/*")),
				s.createManaged("ec2:CreateVolume", "volume/*"), s.restoreOwnSnapshots(),
				allowIf([]string{"ec2:CreateTags"}, map[string]any{"StringEquals": map[string]any{"ec2:CreateAction": []string{"CreateSnapshot", "CreateVolume"}}},
					s.ec2ARN("volume/*"), jsii.String("arn:"+*awscdk.Aws_PARTITION()+":ec2:"+*awscdk.Aws_REGION()+"::snapshot/*")),
				allow([]string{"ec2:AttachVolume"}, s.ec2ARN("volume/*"), s.ec2ARN("instance/*")),
				s.sendDocuments(s.Documents.Data), s.sendToManaged(),
				s.ledgerAccess("dynamodb:GetItem", "dynamodb:UpdateItem"),
			}
		},
		EBSKey:    always,
		Wildcards: describeWhy + "; snapshots and volumes are created only carrying the management tag, volumes only from the account's own snapshots; AttachVolume is not destructive and its volume and instance ids are known at run time",
	},
	registry.Cutover: {
		Timeout: polling,
		Env:     []string{step.VarTable, step.VarDataDocument, step.VarMaintenanceDocument},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{
				allow([]string{"ec2:DescribeSnapshots", "ec2:DescribeVolumes", "ssm:GetCommandInvocation"}, jsii.String("*")),
				s.createManaged("ec2:CreateSnapshot", "snapshot/*"), allow([]string{"ec2:CreateSnapshot"}, s.ec2ARN("volume/*")),
				s.createManaged("ec2:CreateVolume", "volume/*"), s.restoreOwnSnapshots(),
				allowIf([]string{"ec2:CreateTags"}, map[string]any{"StringEquals": map[string]any{"ec2:CreateAction": []string{"CreateSnapshot", "CreateVolume"}}},
					s.ec2ARN("volume/*"), jsii.String("arn:"+*awscdk.Aws_PARTITION()+":ec2:"+*awscdk.Aws_REGION()+"::snapshot/*")),
				// Adopting the live instance and its data volume marks them
				// greenlight's, so the conditions below apply to them.
				allowIf([]string{"ec2:CreateTags"}, map[string]any{"StringEquals": map[string]any{"aws:RequestTag/" + release.TagApp: s.Config.App}},
					s.ec2ARN("volume/*"), s.ec2ARN("instance/*")),
				allow([]string{"ec2:AttachVolume"}, s.ec2ARN("volume/*"), s.ec2ARN("instance/*")),
				// Detaching is authorized on the volume and on the instance: both
				// must be greenlight's (the cutover adopted the live ones).
				allowIf([]string{"ec2:DetachVolume"}, managedResource(s), s.ec2ARN("volume/*"), s.ec2ARN("instance/*")),
				allowIf([]string{"ec2:DeleteVolume"}, managedResource(s), s.ec2ARN("volume/*")),
				s.sendDocuments(s.Documents.Data, s.Documents.Maintenance), s.sendToManaged(),
				s.ledgerAccess("dynamodb:UpdateItem"),
			}
		},
		EBSKey:    always,
		Wildcards: describeWhy + "; volumes are detached and deleted, and commands sent, only where this app's management tags are; volumes are restored only from the account's own snapshots; tags are added only naming this app",
	},
	registry.Deploy: {
		Env: []string{step.VarTable, step.VarDeployDocument},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{s.sendDocuments(s.Documents.Deploy), s.sendToManaged(), s.ledgerAccess("dynamodb:UpdateItem")}
		},
		Wildcards: "ssm:SendCommand may target any instance of the account that carries greenlight's management tag (the candidate's id is only known at run time)",
	},
	registry.CheckDeploy: {
		Timeout: polling,
		Env:     []string{step.VarTable},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{
				allow([]string{"ssm:GetCommandInvocation"}, jsii.String("*")),
				s.ledgerAccess("dynamodb:GetItem", "dynamodb:UpdateItem"),
			}
		},
		Wildcards: describeWhy,
	},
	// Smoke only probes the candidate: in the VPC it has no path to an AWS
	// API, so it is granted none (the approval step records its report).
	registry.Smoke: {
		Timeout: 2 * time.Minute,
		Env:     []string{step.VarSmokeTarget},
		Allow:   func(s *Stack) []awsiam.PolicyStatement { return nil },
	},
	registry.Approval: {
		Env: []string{step.VarTable, step.VarTopic, step.VarApprovalURL, step.VarLinkKey},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			out := []awsiam.PolicyStatement{s.ledgerAccess("dynamodb:UpdateItem"), s.publish()}
			if s.LinkKey != nil {
				out = append(out, s.readLinkKey())
			}
			return out
		},
	},
	registry.ApprovalPage: {
		Env: []string{step.VarTable, step.VarLinkKey},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{s.ledgerAccess("dynamodb:GetItem", "dynamodb:UpdateItem"), s.readLinkKey(),
				allow([]string{"states:SendTaskSuccess", "states:SendTaskFailure"}, jsii.String("*"))}
		},
		Wildcards: "states:SendTaskSuccess and SendTaskFailure support no resource-level permissions (Service Authorization Reference, AWS Step Functions: no resource type); " +
			"the page answers only the task tokens it reads from this stack's ledger, for links signed with this stack's key",
	},
	registry.Switch: {
		Env: []string{step.VarTable},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{s.readFront(), s.moveTraffic(), s.ledgerAccess("dynamodb:UpdateItem")}
		},
		Wildcards: "ec2:DescribeAddresses supports no resource-level permissions; AssociateAddress is limited to the app's Elastic IP, and may target any instance since the previous live instance need not carry greenlight's tags",
	},
	registry.Verify: {
		Timeout: polling,
		Env:     []string{step.VarTable},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{s.ledgerAccess("dynamodb:GetItem", "dynamodb:UpdateItem")}
		},
	},
	registry.Register: {
		Timeout: polling,
		Env:     []string{step.VarTable},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{
				s.readForward(),
				// A listener forwarding to the live group alone gets the idle
				// one at weight 0, or its targets are never health-checked.
				s.moveTraffic(),
				s.targetGroups("elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"),
				s.ledgerAccess("dynamodb:GetItem", "dynamodb:UpdateItem"),
			}
		},
		Wildcards: frontWhy,
	},
	registry.Shift: {
		Timeout: polling,
		Env:     []string{step.VarTable},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return append([]awsiam.PolicyStatement{
				s.readFront(),
				s.moveTraffic(),
				// The target groups' request and 5xx counts. GetMetricData's
				// one resource type, dataset, is optional and for PromQL
				// queries (Service Authorization Reference, Amazon
				// CloudWatch, as readAlarms): metric queries take "*".
				allow([]string{"cloudwatch:GetMetricData"}, jsii.String("*")),
				s.ledgerAccess("dynamodb:GetItem", "dynamodb:UpdateItem"),
			}, s.readAlarms()...)
		},
		Wildcards: frontWhy + "; cloudwatch:GetMetricData supports no resource-level permissions and only reads",
	},
	registry.KeepPrevious: {
		Env: []string{step.VarTable, step.VarScheduleGroup, step.VarSchedulerRole, step.VarRetireFunction},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{
				// Tagging marks the serving instance greenlight's and kept;
				// the request must name this app.
				allowIf([]string{"ec2:CreateTags"}, map[string]any{"StringEquals": map[string]any{"aws:RequestTag/" + release.TagApp: s.Config.App}}, s.ec2ARN("instance/*")),
				allow([]string{"scheduler:CreateSchedule"}, s.scheduleARN()),
				passTo("scheduler.amazonaws.com", s.SchedulerRole.RoleArn()),
				s.ledgerAccess("dynamodb:UpdateItem"),
			}
		},
		Wildcards: "tags may be put on any instance of the account as long as the request names this app (the serving instance may not be greenlight's yet)",
	},
	registry.RecordRelease: {
		Env: []string{step.VarTable, step.VarTopic, step.VarScheduleGroup},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{
				allowIf([]string{"ec2:CreateTags"}, map[string]any{"StringEquals": map[string]any{"aws:RequestTag/" + release.TagApp: s.Config.App}}, s.ec2ARN("instance/*")),
				allowIf([]string{"ec2:DeleteTags"}, managedResource(s), s.ec2ARN("instance/*")),
				allow([]string{"scheduler:DeleteSchedule"}, s.scheduleARN()),
				// GetItem: whether the released notification went out on an
				// earlier try.
				s.ledgerAccess("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
				s.publish(),
			}
		},
		Wildcards: "tags may be put on any instance of the account as long as the request names this app; tags are removed only from instances greenlight manages",
	},
	registry.Rollback: {
		Env: []string{step.VarTable, step.VarTopic, step.VarDataDocument, step.VarMaintenanceDocument, step.VarScheduleGroup},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			st := []awsiam.PolicyStatement{
				s.readFront(), s.moveTraffic(),
				allow([]string{"ec2:DescribeInstances"}, jsii.String("*")),
				allowIf([]string{"ec2:TerminateInstances"}, managedResource(s), s.ec2ARN("instance/*")),
				// The live instance serves again: its retirement date
				// (KeepPrevious) and the cutover's mark come off.
				allowIf([]string{"ec2:CreateTags"}, map[string]any{"StringEquals": map[string]any{"aws:RequestTag/" + release.TagApp: s.Config.App}}, s.ec2ARN("instance/*")),
				allowIf([]string{"ec2:DeleteTags"}, managedResource(s), s.ec2ARN("instance/*")),
				allow([]string{"scheduler:DeleteSchedule"}, s.scheduleARN()),
				s.ledgerAccess("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
				s.publish(),
			}
			if s.Config.UsesALB() {
				// The candidate leaves its target group before it ends; the
				// instance kept from the release before goes back in.
				st = append(st, s.targetGroups("elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"))
			}
			if s.Config.HasData() {
				// Giving the data back: maintenance and data documents on
				// both instances, volumes moved and created ones deleted,
				// a stale copy dated for the retire sweep.
				st = append(st,
					allow([]string{"ec2:DescribeVolumes", "ssm:GetCommandInvocation"}, jsii.String("*")),
					allow([]string{"ec2:AttachVolume"}, s.ec2ARN("volume/*"), s.ec2ARN("instance/*")),
					allowIf([]string{"ec2:CreateTags"}, map[string]any{"StringEquals": map[string]any{"aws:RequestTag/" + release.TagApp: s.Config.App}}, s.ec2ARN("volume/*")),
					// Detaching is authorized on the volume and on the instance: both
					// must be greenlight's (the cutover adopted the live ones).
					allowIf([]string{"ec2:DetachVolume"}, managedResource(s), s.ec2ARN("volume/*"), s.ec2ARN("instance/*")),
					allowIf([]string{"ec2:DeleteVolume"}, managedResource(s), s.ec2ARN("volume/*")),
					s.sendDocuments(s.Documents.Data, s.Documents.Maintenance), s.sendToManaged(),
				)
			}
			return st
		},
		// Giving the data back attaches volumes.
		EBSKey:    release.Config.HasData,
		Wildcards: "describe calls support no resource-level permissions; TerminateInstances, DeleteTags, DetachVolume and DeleteVolume only on resources carrying this app's management tags; AssociateAddress only for the app's Elastic IP (ModifyListener or ModifyRule only on the managed one); tags added only naming this app",
	},
	registry.Abandon: {
		Env: []string{step.VarTable, step.VarTopic},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			st := []awsiam.PolicyStatement{
				// It looks at AWS once more to say what is left.
				s.readFront(),
				allow([]string{"ec2:DescribeInstances"}, jsii.String("*")),
				s.ledgerAccess("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"), s.publish(),
			}
			if s.Config.HasData() {
				st = append(st, allow([]string{"ec2:DescribeVolumes"}, jsii.String("*")))
			}
			return st
		},
		Wildcards: describeWhy,
	},
	registry.SwitchBack: {
		Env: []string{step.VarTable, step.VarTopic},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{
				s.readFront(),
				allow([]string{"ec2:DescribeInstances"}, jsii.String("*")),
				s.ledgerAccess("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"),
				s.publish(),
			}
		},
		Wildcards: describeWhy,
	},
	registry.Watch: {
		Env: []string{step.VarTable, step.VarTopic},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			return []awsiam.PolicyStatement{
				allow([]string{"states:DescribeExecution"}, executionsOf(s.StateMachine), executionsOf(s.SwitchBack)),
				s.ledgerAccess("dynamodb:GetItem", "dynamodb:UpdateItem"),
				s.publish(),
			}
		},
		Wildcards: "states:DescribeExecution on the two workflows' executions only; their names are release ids known at run time",
	},
	registry.Retire: {
		// Behind an ALB it waits for a kept instance to drain.
		Timeout: retire.DrainBudget + step.PollMargin,
		Env:     []string{step.VarTable, step.VarTopic, step.VarRetentionDays, step.VarFront},
		Allow: func(s *Stack) []awsiam.PolicyStatement {
			st := []awsiam.PolicyStatement{
				s.readForward(),
				allow([]string{"ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeSnapshots"}, jsii.String("*")),
				allowIf([]string{"ec2:TerminateInstances"}, managedResource(s), s.ec2ARN("instance/*")),
				allowIf([]string{"ec2:DeleteVolume"}, managedResource(s), s.ec2ARN("volume/*")),
				allowIf([]string{"ec2:DeleteSnapshot"}, managedResource(s), jsii.String("arn:"+*awscdk.Aws_PARTITION()+":ec2:"+*awscdk.Aws_REGION()+"::snapshot/*")),
				allowIf([]string{"ec2:CreateTags"}, map[string]any{"StringEquals": map[string]any{"aws:RequestTag/" + release.TagApp: s.Config.App}}, s.ec2ARN("volume/*")),
				s.ledgerAccess("dynamodb:GetItem", "dynamodb:PutItem"),
				s.publish(),
			}
			if s.Config.UsesALB() {
				// A kept side leaves its target group before it ends; then
				// no target group of the account may still hold it.
				st = append(st, s.targetGroups("elasticloadbalancing:DeregisterTargets"),
					allow([]string{"elasticloadbalancing:DescribeTargetGroups"}, jsii.String("*")))
			}
			return st
		},
		Wildcards: "describe calls support no resource-level permissions; instances, volumes and snapshots are terminated or deleted only when they carry this app's management tags",
	},
}

func allow(actions []string, resources ...*string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings(actions...), Resources: &resources})
}

func allowIf(actions []string, cond map[string]any, resources ...*string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: jsii.Strings(actions...), Resources: &resources, Conditions: &cond})
}

// EBSKeyActions are the KMS actions EBS and EC2 use a volume's key with on
// the caller's behalf, besides kms:CreateGrant: "Requirements for Amazon
// EBS encryption", Amazon EBS User Guide,
// /ebs/latest/userguide/ebs-encryption-requirements.html, lists
// kms:CreateGrant, kms:Decrypt, kms:DescribeKey,
// kms:GenerateDataKeyWithoutPlainText and kms:ReEncrypt (kms:ReEncrypt* in
// its policy example; named here, as the project names every action).
var EBSKeyActions = []string{"kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"}

// UsesEBSKey reports whether a step's role is granted the use of
// encryption.kmsKeyId under a config.
func UsesEBSKey(handler string, c release.Config) bool {
	sp, ok := specs[handler]
	return ok && c.KMSKeyID() != "" && sp.EBSKey != nil && sp.EBSKey(c)
}

// ebsKeyUse grants the use of encryption.kmsKeyId, and of it only, to a
// step that creates or attaches volumes: kms:CreateGrant only for grants
// an AWS service creates on the caller's behalf (kms:GrantIsForAWSResource,
// the page above's advice), the other actions only through EC2 in the
// stack's region (kms:ViaService; "AWS KMS condition keys", AWS KMS
// Developer Guide, /kms/latest/developerguide/conditions-kms.html). An
// IAM policy can name a KMS key only by its key ARN: a key given by an
// alias ARN is allowed as any key of the account and region that carries
// that alias (kms:ResourceAliases; "Specifying KMS keys in IAM policy
// statements", /kms/latest/developerguide/cmks-in-iam-policies.html, and
// "Use aliases to control access to KMS keys",
// /kms/latest/developerguide/alias-authorization.html).
func (s *Stack) ebsKeyUse() []awsiam.PolicyStatement {
	k, ok := release.ParseKeyARN(s.Config.KMSKeyID())
	if !ok {
		return nil
	}
	resource := s.Config.KMSKeyID()
	grant := map[string]any{"Bool": map[string]any{"kms:GrantIsForAWSResource": "true"}}
	via := map[string]any{"StringEquals": map[string]any{"kms:ViaService": "ec2." + *awscdk.Aws_REGION() + ".amazonaws.com"}}
	if k.IsAlias() {
		resource = "arn:" + k.Partition + ":kms:" + k.Region + ":" + k.Account + ":key/*"
		alias := map[string]any{"kms:ResourceAliases": k.Resource}
		grant["ForAnyValue:StringEquals"] = alias
		via["ForAnyValue:StringEquals"] = alias
	}
	return []awsiam.PolicyStatement{
		allowIf([]string{"kms:CreateGrant"}, grant, jsii.String(resource)),
		allowIf(EBSKeyActions, via, jsii.String(resource)),
	}
}

// managedResource is the condition every destructive EC2 action carries:
// the resource is greenlight's, for this app.
// launchWhy is why launching needs wildcards.
const launchWhy = "ec2:DescribeImages and DescribeInstances support no resource-level permissions; RunInstances is allowed on any subnet, security group, network interface, key pair and image of the account because the golden AMI and network come from the config, while the instance and volumes it creates must carry the management tag; iam:PassRole names the candidate's role at the root or under any path (the config gives its name, not its path)"

// launch is what launching a candidate needs: the launch step's, and the
// candidate check's when it replaces one. Only the launch resolves the
// golden AMI's parameter: a replacement uses the image its side has.
func (s *Stack) launch(resolveAMI bool) []awsiam.PolicyStatement {
	st := []awsiam.PolicyStatement{
		// The side's instances already launched are found by tag, so a
		// retried launch does not launch a slot twice.
		allow([]string{"ec2:DescribeImages", "ec2:DescribeInstances"}, jsii.String("*")),
		// RunInstances touches many resource types; the instance and
		// its volumes must be created carrying the management tag.
		allowIf([]string{"ec2:RunInstances"}, map[string]any{
			"StringEquals": map[string]any{"aws:RequestTag/" + release.TagManaged: release.ManagedValue, "aws:RequestTag/" + release.TagApp: s.Config.App},
		}, s.ec2ARN("instance/*"), s.ec2ARN("volume/*")),
		allow([]string{"ec2:RunInstances"}, s.ec2ARN("subnet/*"), s.ec2ARN("security-group/*"), s.ec2ARN("network-interface/*"),
			s.ec2ARN("key-pair/*"), jsii.String("arn:"+*awscdk.Aws_PARTITION()+":ec2:"+*awscdk.Aws_REGION()+"::image/*")),
		allowIf([]string{"ec2:CreateTags"}, map[string]any{"StringEquals": map[string]any{"ec2:CreateAction": "RunInstances"}},
			s.ec2ARN("instance/*"), s.ec2ARN("volume/*")),
		s.passInstanceRole(),
		s.ledgerAccess("dynamodb:UpdateItem"),
	}
	if p := s.Config.Candidate.AMIParameter; p != "" && resolveAMI {
		st = append(st, allow([]string{"ssm:GetParameter"}, jsii.String("arn:"+*awscdk.Aws_PARTITION()+":ssm:"+*awscdk.Aws_REGION()+":"+*awscdk.Aws_ACCOUNT_ID()+":parameter"+p)))
	}
	return st
}

func managedResource(s *Stack) map[string]any {
	return map[string]any{"StringEquals": map[string]any{
		"aws:ResourceTag/" + release.TagManaged: release.ManagedValue,
		"aws:ResourceTag/" + release.TagApp:     s.Config.App,
	}}
}

// sendDocuments allows SendCommand with these documents. SendCommand is
// authorized on the document and on each instance; sendToManaged is the
// instance half.
func (s *Stack) sendDocuments(docs ...*string) awsiam.PolicyStatement {
	var arns []*string
	for _, d := range docs {
		arns = append(arns, s.documentARN(d))
	}
	return allow([]string{"ssm:SendCommand"}, arns...)
}

// sendToManaged allows SendCommand only to greenlight's instances.
func (s *Stack) sendToManaged() awsiam.PolicyStatement {
	return allowIf([]string{"ssm:SendCommand"}, managedResource(s), s.ec2ARN("instance/*"))
}

// createManaged allows a create action on the resource it creates only
// when the request tags it as greenlight's, for this app. The condition
// goes on the created resource type alone: AWS supplies aws:RequestTag
// for the resource the action creates (Service Authorization Reference,
// Amazon EC2: CreateSnapshot's snapshot, CreateVolume's volume, with
// aws:RequestTag/${TagKey} and aws:TagKeys;
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html),
// not for the resources it reads (the volume a snapshot copies), which
// need a statement of their own.
func (s *Stack) createManaged(action, created string) awsiam.PolicyStatement {
	arn := s.ec2ARN(created)
	if created == "snapshot/*" {
		arn = jsii.String("arn:" + *awscdk.Aws_PARTITION() + ":ec2:" + *awscdk.Aws_REGION() + "::snapshot/*")
	}
	return allowIf([]string{action}, map[string]any{"StringEquals": map[string]any{
		"aws:RequestTag/" + release.TagManaged: release.ManagedValue,
		"aws:RequestTag/" + release.TagApp:     s.Config.App,
	}}, arn)
}

// passInstanceRole allows passing the role inside the candidate's instance
// profile. Launching with an instance profile is authorized as
// iam:PassRole on that role's ARN, path included (Service Authorization
// Reference, IAM: PassRole, resource type role,
// arn:${Partition}:iam::${Account}:role/${RoleNameWithPath};
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html).
// The config names the role but not its path, so the role is allowed at
// the root and under any path: role names are unique in an account
// whatever their path, so the two ARNs still name only this role.
func (s *Stack) passInstanceRole() awsiam.PolicyStatement {
	role := "arn:" + *awscdk.Aws_PARTITION() + ":iam::" + *awscdk.Aws_ACCOUNT_ID() + ":role/"
	name := s.Config.Candidate.InstanceRole
	return passTo("ec2.amazonaws.com", jsii.String(role+name), jsii.String(role+"*/"+name))
}

// passTo allows passing roles to one service only: iam:PassedToService
// is the service the role is passed to (Service Authorization Reference,
// IAM: PassRole's condition keys;
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html).
func passTo(service string, roles ...*string) awsiam.PolicyStatement {
	return allowIf([]string{"iam:PassRole"}, map[string]any{"StringEquals": map[string]any{"iam:PassedToService": service}}, roles...)
}

// restoreOwnSnapshots allows CreateVolume to restore a snapshot of this
// account. CreateVolume from a snapshot is authorized on the volume it
// creates and on the snapshot (Service Authorization Reference, Amazon
// EC2, CreateVolume: resource types volume and snapshot;
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html).
// The snapshot need not be greenlight's: the test copy may restore the
// newest backup of the live data volume, which the operator's own backups
// take; ec2:Owner keeps it to the account's snapshots (no shared or public
// ones).
func (s *Stack) restoreOwnSnapshots() awsiam.PolicyStatement {
	return allowIf([]string{"ec2:CreateVolume"}, map[string]any{"StringEquals": map[string]any{"ec2:Owner": awscdk.Aws_ACCOUNT_ID()}},
		jsii.String("arn:"+*awscdk.Aws_PARTITION()+":ec2:"+*awscdk.Aws_REGION()+"::snapshot/*"))
}

func (s *Stack) ledgerAccess(actions ...string) awsiam.PolicyStatement {
	return allow(actions, s.Table.TableArn())
}

func (s *Stack) publish() awsiam.PolicyStatement {
	return allow([]string{"sns:Publish"}, s.Topic.TopicArn())
}

func (s *Stack) ec2ARN(resource string) *string {
	return jsii.String("arn:" + *awscdk.Aws_PARTITION() + ":ec2:" + *awscdk.Aws_REGION() + ":" + *awscdk.Aws_ACCOUNT_ID() + ":" + resource)
}

func (s *Stack) documentARN(name *string) *string {
	return jsii.String("arn:" + *awscdk.Aws_PARTITION() + ":ssm:" + *awscdk.Aws_REGION() + ":" + *awscdk.Aws_ACCOUNT_ID() + ":document/" + *name)
}

func (s *Stack) scheduleARN() *string {
	return jsii.String("arn:" + *awscdk.Aws_PARTITION() + ":scheduler:" + *awscdk.Aws_REGION() + ":" + *awscdk.Aws_ACCOUNT_ID() + ":schedule/" + s.ScheduleGroup + "/*")
}

func (s *Stack) stateMachineARN() *string { return s.StateMachine.StateMachineArn() }

// executionsARN covers the Release state machine's executions.
func (s *Stack) executionsARN() *string { return executionsOf(s.StateMachine) }

// executionsOf covers a state machine's executions.
func executionsOf(sm awsstepfunctions.StateMachine) *string {
	return jsii.String("arn:" + *awscdk.Aws_PARTITION() + ":states:" + *awscdk.Aws_REGION() + ":" + *awscdk.Aws_ACCOUNT_ID() +
		":execution:" + *sm.StateMachineName() + ":*")
}

// The front's permissions. Behind an Elastic IP: reading addresses and
// moving the app's one. Behind an ALB: reading listeners, rules, load
// balancers, target groups and target health, each only by the steps that
// call it ("Actions, resources, and condition keys for Elastic Load
// Balancing V2", Service Authorization Reference,
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html:
// the Describe* actions have no resource types, so they take "*");
// changing only the managed listener's (or rule's) actions (ModifyListener:
// resource type listener/app, ModifyRule: listener-rule/app); registering
// and deregistering only in the app's two target groups (resource type
// targetgroup); reading only the alarms the config names.

// readFront lets a step read the split: where traffic goes and the front
// users reach it by (behind an ALB, the load balancer's DNS name).
func (s *Stack) readFront() awsiam.PolicyStatement {
	return s.readForward("elasticloadbalancing:DescribeLoadBalancers")
}

// readForward lets a step read where traffic goes: behind an ALB, the
// managed forward action (the listener's, and its rule's when one is
// managed) and the targets of the app's groups, with the extra ELB reads
// given.
func (s *Stack) readForward(extra ...string) awsiam.PolicyStatement {
	if !s.Config.UsesALB() {
		return allow([]string{"ec2:DescribeAddresses"}, jsii.String("*"))
	}
	actions := []string{"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeTargetHealth"}
	if alb := s.Config.Traffic.ALB; alb != nil && alb.RuleARN != "" {
		actions = append(actions, "elasticloadbalancing:DescribeRules")
	}
	return allow(append(actions, extra...), jsii.String("*"))
}

// moveTraffic lets a step change where traffic goes: the managed forward
// action's weights, or the app's Elastic IP (on any instance: the
// previous live instance need not carry greenlight's tags).
func (s *Stack) moveTraffic() awsiam.PolicyStatement {
	if alb := s.Config.Traffic.ALB; s.Config.UsesALB() && alb != nil {
		if alb.RuleARN != "" {
			return allow([]string{"elasticloadbalancing:ModifyRule"}, jsii.String(alb.RuleARN))
		}
		return allow([]string{"elasticloadbalancing:ModifyListener"}, jsii.String(alb.ListenerARN))
	}
	return allow([]string{"ec2:AssociateAddress"}, s.ec2ARN("elastic-ip/"+s.Config.Live.ElasticIPAllocationID), s.ec2ARN("instance/*"))
}

// targetGroups lets a step register or deregister targets in the app's two
// target groups, and no other.
func (s *Stack) targetGroups(actions ...string) awsiam.PolicyStatement {
	var arns []*string
	for _, g := range s.Config.Traffic.ALB.TargetGroupARNs {
		arns = append(arns, jsii.String(g))
	}
	return allow(actions, arns...)
}

// readAlarms lets a step read the alarms traffic.alarms names, by their
// ARNs (arn:…:cloudwatch:region:account:alarm:name): DescribeAlarms has
// the resource type alarm ("Actions, resources, and condition keys for
// Amazon CloudWatch", Service Authorization Reference,
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html).
// Composite alarms would need it on "*" (API_DescribeAlarms.html); the
// steps ask for metric alarms only.
func (s *Stack) readAlarms() []awsiam.PolicyStatement {
	if len(s.Config.Traffic.Alarms) == 0 {
		return nil
	}
	var arns []*string
	for _, name := range s.Config.Traffic.Alarms {
		arns = append(arns, jsii.String("arn:"+*awscdk.Aws_PARTITION()+":cloudwatch:"+*awscdk.Aws_REGION()+":"+*awscdk.Aws_ACCOUNT_ID()+":alarm:"+name))
	}
	return []awsiam.PolicyStatement{allow([]string{"cloudwatch:DescribeAlarms"}, arns...)}
}

// frontWhy justifies the front's wildcards.
const frontWhy = "ec2:DescribeAddresses and the elasticloadbalancing:Describe* calls support no resource-level permissions; they only read"
