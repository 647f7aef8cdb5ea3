package infra_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
)

// The independent IAM evaluation (TestIAMEvaluation) turns every call a
// function made on the local engine into the authorizations AWS makes for
// it — the IAM action, each resource ARN the action authorizes against
// and the request context AWS supplies — and has @cloud-copilot/iam-simulate
// (infra/iamcheck/evaluate.mjs) decide each against the function's
// policies from the synthesized template. This file is the first half:
// from a recorded call to its authorizations. Each service's mapping
// follows its page of AWS's Service Authorization Reference (SAR), cited
// above it; an operation without a mapping fails the test rather than
// pass unexamined.

// authz is one authorization AWS makes for a call: an action on one
// resource, with the request context that applies to that resource.
type authz struct {
	Action   string              `json:"action"`
	Resource string              `json:"resource"`
	Context  map[string][]string `json:"context,omitempty"`
	// ResourcePolicy is the resource's own policy where IAM policies alone
	// do not authorize (a KMS key's key policy).
	ResourcePolicy any `json:"resourcePolicy,omitempty"`
}

// world is what the evaluation knows of the account besides the call
// record: where it is, and what the simulated region does not model.
type world struct {
	partition, region, account string
	// roleOfProfile maps an instance profile's name to the ARN of the role
	// inside it: IAM knows it, the simulated region has no IAM.
	roleOfProfile map[string]string
}

// localWorld is the local engine's account, with the instance profile of
// the config holding the role the config names (candidate.instanceRole,
// which defaults to the profile's name) at the root path.
func localWorld(c release.Config) world {
	w := world{partition: localrun.Partition, region: localrun.Region, account: localrun.Account, roleOfProfile: map[string]string{}}
	w.roleOfProfile[c.Candidate.InstanceProfile] = w.iamARN("role/" + c.Candidate.InstanceRole)
	return w
}

func (w world) arn(service, region, account, resource string) string {
	return "arn:" + w.partition + ":" + service + ":" + region + ":" + account + ":" + resource
}

func (w world) iamARN(resource string) string { return w.arn("iam", "", w.account, resource) }

// ec2ARN names an EC2 resource of a kind. Snapshots and images carry no
// account in their ARN (SAR, Amazon EC2, resource types).
func (w world) ec2ARN(kind, id string) string {
	if kind == "snapshot" || kind == "image" {
		return w.arn("ec2", w.region, "", kind+"/"+id)
	}
	return w.arn("ec2", w.region, w.account, kind+"/"+id)
}

// ec2Kinds maps an EC2 id's prefix to its resource type.
var ec2Kinds = map[string]string{
	"i": "instance", "vol": "volume", "snap": "snapshot", "ami": "image", "eipalloc": "elastic-ip",
	"subnet": "subnet", "sg": "security-group", "eni": "network-interface",
}

func (w world) ec2ARNOf(id string) (string, error) {
	prefix, _, _ := strings.Cut(id, "-")
	kind, ok := ec2Kinds[prefix]
	if !ok {
		return "", fmt.Errorf("no EC2 resource type for id %q", id)
	}
	return w.ec2ARN(kind, id), nil
}

// authorizations is every authorization AWS makes for one call.
func (w world) authorizations(c sim.Call) ([]authz, error) {
	if c.Input == nil {
		return nil, fmt.Errorf("%s %s was recorded without its request", c.Service, c.Operation)
	}
	switch c.Service {
	case sim.ServiceEC2:
		return w.ec2(c)
	case sim.ServiceSSM:
		return w.ssm(c)
	case sim.ServiceScheduler:
		return w.scheduler(c)
	case sim.ServiceSNS:
		return w.sns(c)
	case sim.ServiceSFN:
		return w.sfn(c)
	case sim.ServiceS3:
		return w.s3(c)
	case sim.ServiceDynamoDB:
		return w.dynamodb(c)
	case sim.ServiceKMS:
		return w.kms(c)
	case sim.ServiceELB:
		return w.elb(c)
	case sim.ServiceCloudWatch:
		return w.cloudwatch(c)
	case sim.ServiceSecrets:
		return w.secrets(c)
	}
	return nil, fmt.Errorf("no IAM mapping for service %s", c.Service)
}

// noMapping is the error for an operation the evaluation cannot judge yet.
func noMapping(c sim.Call) error {
	return fmt.Errorf("no IAM mapping for %s %s: add one in infra/iamcheck_test.go from the service's page of the Service Authorization Reference", c.Service, c.Operation)
}

// Context keys. Every value is a list; iam-simulate takes the first for a
// single-valued key.

// resourceTags is what AWS supplies for an existing resource: its tags at
// the time of the call, as aws:ResourceTag/* and, for EC2, ec2:ResourceTag/*
// (and ssm:resourceTag/* for instances named in SSM calls). A resource the
// region did not have when the call arrived has none.
func resourceTags(c sim.Call, id string, prefixes ...string) map[string][]string {
	tags, ok := c.Tags[id]
	if !ok {
		return nil
	}
	out := map[string][]string{}
	for k, v := range tags {
		for _, p := range prefixes {
			out[p+"/"+k] = []string{v}
		}
	}
	return out
}

// requestTags is what AWS supplies for the tags in a request:
// aws:RequestTag/* for each tag given with a value and aws:TagKeys for
// every key.
func requestTags(tags []ec2types.Tag) map[string][]string {
	if len(tags) == 0 {
		return nil
	}
	out := map[string][]string{}
	for _, t := range tags {
		k := aws.ToString(t.Key)
		if t.Value != nil {
			out["aws:RequestTag/"+k] = []string{*t.Value}
		}
		out["aws:TagKeys"] = append(out["aws:TagKeys"], k)
	}
	return out
}

func merge(ctxs ...map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, c := range ctxs {
		for k, v := range c {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// specTags are the tags a create request gives resources of one type
// (TagSpecifications).
func specTags(specs []ec2types.TagSpecification, typ ec2types.ResourceType) []ec2types.Tag {
	var out []ec2types.Tag
	for _, s := range specs {
		if s.ResourceType == typ {
			out = append(out, s.Tags...)
		}
	}
	return out
}

// ec2 maps EC2 calls. Service Authorization Reference, Amazon EC2:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html
//
// A resource the call creates is authorized as "<type>/*" (its id does not
// exist yet) with aws:RequestTag/* and aws:TagKeys from the tags the
// request gives that resource type. Tagging at creation is authorized as
// ec2:CreateTags on the created resource with ec2:CreateAction naming the
// create operation. A resource the call names is authorized with its tags
// at the time of the call (aws:ResourceTag/*, ec2:ResourceTag/*).
func (w world) ec2(c sim.Call) ([]authz, error) {
	action := "ec2:" + c.Operation
	var out []authz
	// existing authorizes the action on a resource the call names.
	existing := func(id string) error {
		arn, err := w.ec2ARNOf(id)
		if err != nil {
			return err
		}
		ctx := resourceTags(c, id, "aws:ResourceTag", "ec2:ResourceTag")
		if _, known := c.Tags[id]; known && (strings.HasPrefix(id, "snap-") || strings.HasPrefix(id, "ami-")) {
			// ec2:Owner: every snapshot and image of the simulated region is
			// the account's own.
			ctx = merge(ctx, map[string][]string{"ec2:Owner": {w.account}})
		}
		out = append(out, authz{Action: action, Resource: arn, Context: ctx})
		return nil
	}
	// created authorizes the action on a resource the call creates, and
	// the tagging at creation when the request tags it.
	created := func(kind string, typ ec2types.ResourceType, specs []ec2types.TagSpecification) {
		tags := specTags(specs, typ)
		out = append(out, authz{Action: action, Resource: w.ec2ARN(kind, "*"), Context: requestTags(tags)})
		if len(tags) > 0 {
			out = append(out, authz{Action: "ec2:CreateTags", Resource: w.ec2ARN(kind, "*"),
				Context: merge(requestTags(tags), map[string][]string{"ec2:CreateAction": {c.Operation}})})
		}
	}
	each := func(ids ...string) ([]authz, error) {
		for _, id := range ids {
			if err := existing(id); err != nil {
				return nil, err
			}
		}
		return out, nil
	}

	switch in := c.Input.(type) {
	case *ec2.RunInstancesInput:
		// RunInstances authorizes against the image, the instance, its
		// network interface, subnet, security groups and volumes, and the
		// key pair and snapshots when the request names them.
		if in.LaunchTemplate != nil || len(in.NetworkInterfaces) > 1 || (len(in.NetworkInterfaces) == 1 && in.NetworkInterfaces[0].NetworkInterfaceId != nil) {
			return nil, fmt.Errorf("RunInstances with an existing or a second network interface, or a launch template: extend the mapping")
		}
		subnet, groups := in.SubnetId, in.SecurityGroupIds
		if len(in.NetworkInterfaces) == 1 {
			// The subnet and groups of the primary interface it creates.
			subnet, groups = in.NetworkInterfaces[0].SubnetId, in.NetworkInterfaces[0].Groups
		}
		if subnet == nil {
			return nil, fmt.Errorf("RunInstances without a subnet (the default VPC's subnet): extend the mapping")
		}
		if _, err := each(aws.ToString(in.ImageId), aws.ToString(subnet)); err != nil {
			return nil, err
		}
		if _, err := each(groups...); err != nil {
			return nil, err
		}
		if in.KeyName != nil {
			out = append(out, authz{Action: action, Resource: w.ec2ARN("key-pair", *in.KeyName)})
		}
		for _, m := range in.BlockDeviceMappings {
			if m.Ebs != nil && m.Ebs.SnapshotId != nil {
				if err := existing(*m.Ebs.SnapshotId); err != nil {
					return nil, err
				}
			}
		}
		created("instance", ec2types.ResourceTypeInstance, in.TagSpecifications)
		// The root volume of an EBS-backed image (every image here).
		created("volume", ec2types.ResourceTypeVolume, in.TagSpecifications)
		created("network-interface", ec2types.ResourceTypeNetworkInterface, in.TagSpecifications)
		if p := in.IamInstanceProfile; p != nil {
			// Launching with an instance profile passes the role inside it
			// (IAM: iam:PassRole on the role's ARN, path included;
			// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html).
			name := aws.ToString(p.Name)
			if p.Arn != nil {
				name = (*p.Arn)[strings.LastIndex(*p.Arn, "/")+1:]
			}
			role, ok := w.roleOfProfile[name]
			if !ok {
				return nil, fmt.Errorf("RunInstances passes instance profile %q, whose role the evaluation does not know", name)
			}
			out = append(out, authz{Action: "iam:PassRole", Resource: role, Context: map[string][]string{"iam:PassedToService": {"ec2.amazonaws.com"}}})
		}
		return out, nil
	case *ec2.CreateVolumeInput:
		// CreateVolume authorizes against the volume it creates and, when
		// it restores one, the snapshot.
		created("volume", ec2types.ResourceTypeVolume, in.TagSpecifications)
		if in.SnapshotId != nil {
			return each(*in.SnapshotId)
		}
		return out, nil
	case *ec2.CreateSnapshotInput:
		// CreateSnapshot authorizes against the snapshot it creates and the
		// volume it copies.
		created("snapshot", ec2types.ResourceTypeSnapshot, in.TagSpecifications)
		return each(aws.ToString(in.VolumeId))
	case *ec2.AttachVolumeInput:
		return each(aws.ToString(in.InstanceId), aws.ToString(in.VolumeId))
	case *ec2.DetachVolumeInput:
		// The instance only when the request names it.
		if in.InstanceId != nil {
			if err := existing(*in.InstanceId); err != nil {
				return nil, err
			}
		}
		return each(aws.ToString(in.VolumeId))
	case *ec2.DeleteVolumeInput:
		return each(aws.ToString(in.VolumeId))
	case *ec2.DeleteSnapshotInput:
		return each(aws.ToString(in.SnapshotId))
	case *ec2.TerminateInstancesInput:
		return each(in.InstanceIds...)
	case *ec2.StopInstancesInput:
		return each(in.InstanceIds...)
	case *ec2.StartInstancesInput:
		return each(in.InstanceIds...)
	case *ec2.AssociateAddressInput:
		// The Elastic IP and the instance (or network interface) it goes to.
		ids := []string{aws.ToString(in.AllocationId)}
		if in.InstanceId != nil {
			ids = append(ids, *in.InstanceId)
		}
		if in.NetworkInterfaceId != nil {
			ids = append(ids, *in.NetworkInterfaceId)
		}
		return each(ids...)
	case *ec2.CreateTagsInput:
		// Each resource, with its tags before the call and the tags the
		// request adds.
		for _, id := range in.Resources {
			arn, err := w.ec2ARNOf(id)
			if err != nil {
				return nil, err
			}
			out = append(out, authz{Action: action, Resource: arn,
				Context: merge(resourceTags(c, id, "aws:ResourceTag", "ec2:ResourceTag"), requestTags(in.Tags))})
		}
		return out, nil
	case *ec2.DeleteTagsInput:
		// Each resource, with its tags before the call; aws:TagKeys names
		// the keys removed.
		for _, id := range in.Resources {
			arn, err := w.ec2ARNOf(id)
			if err != nil {
				return nil, err
			}
			out = append(out, authz{Action: action, Resource: arn,
				Context: merge(resourceTags(c, id, "aws:ResourceTag", "ec2:ResourceTag"), requestTags(in.Tags))})
		}
		return out, nil
	}
	if strings.HasPrefix(c.Operation, "Describe") || c.Operation == "GetEbsEncryptionByDefault" || c.Operation == "GetEbsDefaultKmsKeyId" {
		// Describe actions, and the reads of the account's EBS encryption
		// settings, support no resource-level permissions.
		return []authz{{Action: action, Resource: "*"}}, nil
	}
	return nil, noMapping(c)
}

// kms maps the KMS calls EC2 and EBS make on a caller's behalf (recorded
// by the simulated region with a *sim.KMSRequest). Service Authorization
// Reference, AWS Key Management Service:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awskeymanagementservice.html
// Each is authorized on the key's ARN (an alias is resolved to its key)
// with what KMS supplies: kms:ViaService, kms:CallerAccount, the key's
// aliases (kms:ResourceAliases), the encryption context, and for a grant
// kms:GrantIsForAWSResource ("AWS KMS condition keys", AWS KMS Developer
// Guide, /kms/latest/developerguide/conditions-kms.html).
func (w world) kms(c sim.Call) ([]authz, error) {
	in, ok := c.Input.(*sim.KMSRequest)
	if !ok {
		return nil, noMapping(c)
	}
	ctx := map[string][]string{"kms:ViaService": {in.ViaService}, "kms:CallerAccount": {in.CallerAccount}}
	if c.Operation == "CreateGrant" {
		ctx["kms:GrantIsForAWSResource"] = []string{fmt.Sprint(in.GrantIsForAWSResource)}
	}
	if len(in.ResourceAliases) > 0 {
		ctx["kms:ResourceAliases"] = in.ResourceAliases
	}
	for k, v := range in.EncryptionContext {
		ctx["kms:EncryptionContext:"+k] = []string{v}
		ctx["kms:EncryptionContextKeys"] = append(ctx["kms:EncryptionContextKeys"], k)
	}
	return []authz{{Action: "kms:" + c.Operation, Resource: in.KeyID, Context: ctx, ResourcePolicy: w.defaultKeyPolicy()}}, nil
}

// defaultKeyPolicy is the key policy KMS gives a key created without one:
// it allows the account, which lets IAM policies grant the key's use (a
// KMS key is used only if its key policy allows it; "Default key policy",
// AWS KMS Developer Guide, /kms/latest/developerguide/key-policy-default.html).
// An account whose key policy does not delegate so must allow greenlight's
// roles in the key policy itself, which the stack cannot do.
func (w world) defaultKeyPolicy() any {
	return map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": map[string]any{"AWS": w.iamARN("root")},
		"Action": "kms:*", "Resource": "*",
	}}}
}

// ssm maps Systems Manager calls. Service Authorization Reference, AWS
// Systems Manager:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html
func (w world) ssm(c sim.Call) ([]authz, error) {
	action := "ssm:" + c.Operation
	switch in := c.Input.(type) {
	case *ssm.GetParameterInput:
		name := aws.ToString(in.Name)
		if !strings.HasPrefix(name, "/") {
			name = "/" + name
		}
		return []authz{{Action: action, Resource: w.arn("ssm", w.region, w.account, "parameter"+name)}}, nil
	case *ssm.SendCommandInput:
		// SendCommand authorizes against the document and each instance,
		// with the instance's tags.
		if len(in.Targets) > 0 {
			return nil, fmt.Errorf("SendCommand with Targets: extend the mapping")
		}
		out := []authz{{Action: action, Resource: w.arn("ssm", w.region, w.account, "document/"+aws.ToString(in.DocumentName))}}
		for _, id := range in.InstanceIds {
			out = append(out, authz{Action: action, Resource: w.ec2ARN("instance", id),
				Context: resourceTags(c, id, "aws:ResourceTag", "ssm:resourceTag")})
		}
		return out, nil
	case *ssm.GetCommandInvocationInput, *ssm.DescribeInstanceInformationInput:
		// No resource-level permissions.
		return []authz{{Action: action, Resource: "*"}}, nil
	}
	return nil, noMapping(c)
}

// scheduler maps EventBridge Scheduler calls. Service Authorization
// Reference, Amazon EventBridge Scheduler:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridgescheduler.html
func (w world) scheduler(c sim.Call) ([]authz, error) {
	action := "scheduler:" + c.Operation
	schedule := func(group, name *string) string {
		g := aws.ToString(group)
		if g == "" {
			g = "default"
		}
		return w.arn("scheduler", w.region, w.account, "schedule/"+g+"/"+aws.ToString(name))
	}
	switch in := c.Input.(type) {
	case *scheduler.CreateScheduleInput:
		out := []authz{{Action: action, Resource: schedule(in.GroupName, in.Name)}}
		if in.Target != nil && in.Target.RoleArn != nil {
			// The schedule's role is passed to the scheduler.
			out = append(out, authz{Action: "iam:PassRole", Resource: *in.Target.RoleArn,
				Context: map[string][]string{"iam:PassedToService": {"scheduler.amazonaws.com"}}})
		}
		return out, nil
	case *scheduler.DeleteScheduleInput:
		return []authz{{Action: action, Resource: schedule(in.GroupName, in.Name)}}, nil
	case *scheduler.GetScheduleInput:
		return []authz{{Action: action, Resource: schedule(in.GroupName, in.Name)}}, nil
	}
	return nil, noMapping(c)
}

// sns maps SNS calls. Service Authorization Reference, Amazon SNS:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html
func (w world) sns(c sim.Call) ([]authz, error) {
	if in, ok := c.Input.(*sns.PublishInput); ok {
		topic := aws.ToString(in.TopicArn)
		if topic == "" {
			topic = aws.ToString(in.TargetArn)
		}
		return []authz{{Action: "sns:Publish", Resource: topic}}, nil
	}
	return nil, noMapping(c)
}

// sfn maps Step Functions calls. Service Authorization Reference, AWS
// Step Functions:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html
func (w world) sfn(c sim.Call) ([]authz, error) {
	action := "states:" + c.Operation
	switch in := c.Input.(type) {
	case *sfn.StartExecutionInput:
		return []authz{{Action: action, Resource: aws.ToString(in.StateMachineArn)}}, nil
	case *sfn.DescribeExecutionInput:
		return []authz{{Action: action, Resource: aws.ToString(in.ExecutionArn)}}, nil
	case *sfn.SendTaskSuccessInput, *sfn.SendTaskFailureInput, *sfn.SendTaskHeartbeatInput:
		// Task tokens support no resource-level permissions.
		return []authz{{Action: action, Resource: "*"}}, nil
	}
	return nil, noMapping(c)
}

// secrets maps Secrets Manager calls. Service Authorization Reference,
// AWS Secrets Manager:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html
// GetSecretValue is authorized on the secret (resource type Secret,
// required), by its full ARN whichever form the request named it in.
func (w world) secrets(c sim.Call) ([]authz, error) {
	switch in := c.Input.(type) {
	case *secretsmanager.GetSecretValueInput:
		id := aws.ToString(in.SecretId)
		if !strings.HasPrefix(id, "arn:") {
			return nil, fmt.Errorf("%s named secret %q by name: greenlight's functions name it by the ARN the stack gives them", c.Caller, id)
		}
		return []authz{{Action: "secretsmanager:GetSecretValue", Resource: id}}, nil
	}
	return nil, noMapping(c)
}

// s3 maps S3 calls. Service Authorization Reference, Amazon S3:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
// Reading a given version of an object is also s3:GetObjectVersion;
// HeadObject is authorized as s3:GetObject.
func (w world) s3(c sim.Call) ([]authz, error) {
	read := func(bucket, key, version *string) []authz {
		obj := w.arn("s3", "", "", aws.ToString(bucket)+"/"+aws.ToString(key))
		out := []authz{{Action: "s3:GetObject", Resource: obj}}
		if aws.ToString(version) != "" {
			out = append(out, authz{Action: "s3:GetObjectVersion", Resource: obj})
		}
		return out
	}
	switch in := c.Input.(type) {
	case *s3.GetObjectInput:
		return read(in.Bucket, in.Key, in.VersionId), nil
	case *s3.HeadObjectInput:
		return read(in.Bucket, in.Key, in.VersionId), nil
	}
	return nil, noMapping(c)
}

// dynamodb maps DynamoDB item calls on one table. Service Authorization
// Reference, Amazon DynamoDB:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html
func (w world) dynamodb(c sim.Call) ([]authz, error) {
	switch c.Input.(type) {
	case *dynamodb.GetItemInput, *dynamodb.PutItemInput, *dynamodb.UpdateItemInput, *dynamodb.DeleteItemInput, *dynamodb.QueryInput:
	default:
		return nil, noMapping(c)
	}
	table := reflect.ValueOf(c.Input).Elem().FieldByName("TableName").Interface().(*string)
	return []authz{{Action: "dynamodb:" + c.Operation, Resource: w.arn("dynamodb", w.region, w.account, "table/"+aws.ToString(table))}}, nil
}

// elb maps Elastic Load Balancing (v2) calls. Service Authorization
// Reference, AWS Elastic Load Balancing V2:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html
// The Describe* actions have no resource types: "*". ModifyListener is
// authorized on the listener (listener/app), ModifyRule on the rule
// (listener-rule/app), RegisterTargets and DeregisterTargets on the target
// group (targetgroup). ModifyListener's elasticloadbalancing:ListenerProtocol
// and SecurityPolicy keys come from a request changing the protocol or TLS
// policy, which greenlight's never do. The simulated region keeps no ELB
// tags, so no aws:ResourceTag/* is supplied: a statement conditioned on
// them is denied here until the mapping supplies them.
func (w world) elb(c sim.Call) ([]authz, error) {
	action := "elasticloadbalancing:" + c.Operation
	on := func(arn *string) ([]authz, error) {
		if aws.ToString(arn) == "" {
			return nil, fmt.Errorf("%s without the ARN it is authorized on", c.Operation)
		}
		return []authz{{Action: action, Resource: *arn}}, nil
	}
	switch in := c.Input.(type) {
	case *elb.ModifyListenerInput:
		return on(in.ListenerArn)
	case *elb.ModifyRuleInput:
		return on(in.RuleArn)
	case *elb.RegisterTargetsInput:
		return on(in.TargetGroupArn)
	case *elb.DeregisterTargetsInput:
		return on(in.TargetGroupArn)
	case *elb.DescribeLoadBalancersInput, *elb.DescribeListenersInput, *elb.DescribeRulesInput, *elb.DescribeTargetGroupsInput,
		*elb.DescribeTargetHealthInput, *elb.DescribeTargetGroupAttributesInput:
		return []authz{{Action: action, Resource: "*"}}, nil
	}
	return nil, noMapping(c)
}

// cloudwatch maps CloudWatch calls. Service Authorization Reference,
// Amazon CloudWatch:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html
// DescribeAlarms has the resource type alarm, required
// (arn:…:cloudwatch:region:account:alarm:name); a request naming alarms is
// authorized here on each of them. The reference does not spell out a
// request naming several; AWS's own policies for callers that read named
// alarms allow each alarm's ARN (Application Recovery Controller, "CloudWatch
// alarms for application health permissions",
// /r53recovery/latest/dg/security_iam_region_switch_cloudwatch.html), and
// only composite alarms need the permission on "*" (API_DescribeAlarms.html).
// GetMetricData's one resource type, dataset, is optional and for PromQL
// queries: a metric query is authorized on "*".
func (w world) cloudwatch(c sim.Call) ([]authz, error) {
	action := "cloudwatch:" + c.Operation
	switch in := c.Input.(type) {
	case *cloudwatch.DescribeAlarmsInput:
		if len(in.AlarmNames) == 0 || in.AlarmNamePrefix != nil || slices.Contains(in.AlarmTypes, cwtypes.AlarmTypeCompositeAlarm) {
			return nil, fmt.Errorf("DescribeAlarms other than for named metric alarms: extend the mapping")
		}
		var out []authz
		for _, name := range in.AlarmNames {
			out = append(out, authz{Action: action, Resource: w.arn("cloudwatch", w.region, w.account, "alarm:"+name)})
		}
		return out, nil
	case *cloudwatch.GetMetricDataInput:
		return []authz{{Action: action, Resource: "*"}}, nil
	}
	return nil, noMapping(c)
}

// contextString shows a request context in a message, keys sorted.
func contextString(ctx map[string][]string) string {
	if len(ctx) == 0 {
		return "{}"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(ctx)) {
		parts = append(parts, k+"="+strings.Join(ctx[k], ","))
	}
	return "{" + strings.Join(parts, " ") + "}"
}
