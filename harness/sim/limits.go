package sim

import (
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// The documented limits of the parameters greenlight sends, checked on
// every call as the service checks them: a name or token that grows with
// the app's name or version (release ids reach 63 characters) must fail
// here as it would on AWS, not pass in tests and fail on the first real
// release with a long name. docs/aws-behaviours.md lists each source.
var (
	// Scheduler Name: "Length Constraints: Minimum length of 1. Maximum
	// length of 64. Pattern: ^[0-9a-zA-Z-_.]+$" (CreateSchedule, EventBridge
	// Scheduler API Reference).
	scheduleName = regexp.MustCompile(`^[0-9a-zA-Z-_.]{1,64}$`)
	// Step Functions execution name: 1 to 80 characters, no whitespace,
	// brackets, wildcards or special characters (StartExecution, Step
	// Functions API Reference).
	executionName = regexp.MustCompile(`^[^\s<>{}\[\]?*"#%\\^|~` + "`" + `$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$`)
)

// checkLimits answers a call whose parameters break a documented limit
// with the error the service returns; nil otherwise.
func checkLimits(service, op string, in any) error {
	switch v := in.(type) {
	case *ec2.RunInstancesInput:
		if err := clientToken(v.ClientToken); err != nil {
			return err
		}
		return ec2Tags(v.TagSpecifications)
	case *ec2.CreateVolumeInput:
		if err := clientToken(v.ClientToken); err != nil {
			return err
		}
		// VolumeInitializationRate: "Valid range: 100 - 300 MiB/s",
		// "supported only for volumes created from snapshots"
		// (CreateVolume, EC2 API Reference; Initialize Amazon EBS volumes,
		// ebs/latest/userguide/initalize-volume.html).
		if r := v.VolumeInitializationRate; r != nil {
			if *r < 100 || *r > 300 {
				return apiErrorf(ServiceEC2, "InvalidParameterValue", "Value (%d) for parameter volumeInitializationRate is invalid. Valid range: 100 - 300", *r)
			}
			if v.SnapshotId == nil {
				return apiError(ServiceEC2, "InvalidParameterCombination", "The parameter volumeInitializationRate is supported only for volumes created from snapshots")
			}
		}
		return ec2Tags(v.TagSpecifications)
	case *ec2.CreateSnapshotInput:
		// Description: "Up to 255 characters" (CreateSnapshot, EC2 API
		// Reference).
		if d := aws.ToString(v.Description); len(d) > 255 {
			return apiErrorf(ServiceEC2, "InvalidParameterValue", "Value (%s) for parameter Description is invalid. Length exceeds maximum of 255", d)
		}
		return ec2Tags(v.TagSpecifications)
	case *ec2.CreateTagsInput:
		return tagList(v.Tags)
	case *ssm.SendCommandInput:
		// Comment: "Length Constraints: Maximum length of 100"
		// (SendCommand, Systems Manager API Reference).
		if c := aws.ToString(v.Comment); len(c) > 100 {
			return validation(ServiceSSM, "comment", c, "Member must have length less than or equal to 100")
		}
	case *scheduler.CreateScheduleInput:
		if n := aws.ToString(v.Name); !scheduleName.MatchString(n) {
			return validation(ServiceScheduler, "name", n, "Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$ and have length at most 64")
		}
		// Description: "Maximum length of 512" (CreateSchedule).
		if d := aws.ToString(v.Description); len(d) > 512 {
			return validation(ServiceScheduler, "description", d, "Member must have length less than or equal to 512")
		}
	case *scheduler.DeleteScheduleInput:
		if n := aws.ToString(v.Name); !scheduleName.MatchString(n) {
			return validation(ServiceScheduler, "name", n, "Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$ and have length at most 64")
		}
	case *sfn.StartExecutionInput:
		if n := aws.ToString(v.Name); v.Name != nil && !executionName.MatchString(n) {
			return apiErrorf(ServiceSFN, "InvalidName", "Invalid Name: '%s'", n)
		}
	}
	return nil
}

// clientToken: "Constraints: Maximum 64 ASCII characters" (RunInstances
// and CreateVolume, EC2 API Reference; "Ensuring idempotency in Amazon EC2
// API requests", ec2/latest/devguide/ec2-api-idempotency.html).
func clientToken(t *string) error {
	if s := aws.ToString(t); len(s) > 64 {
		return apiErrorf(ServiceEC2, "InvalidParameterValue", "Value (%s) for parameter clientToken is invalid. Length exceeds maximum of 64", s)
	}
	return nil
}

func ec2Tags(specs []ec2types.TagSpecification) error {
	for _, s := range specs {
		if err := tagList(s.Tags); err != nil {
			return err
		}
	}
	return nil
}

// tagList: a tag key has at most 128 characters, a value at most 256
// ("Tag restrictions", Tag your Amazon EC2 resources, ec2/latest/
// UserGuide/Using_Tags.html).
func tagList(tags []ec2types.Tag) error {
	for _, t := range tags {
		if k := aws.ToString(t.Key); len(k) > 128 {
			return apiErrorf(ServiceEC2, "InvalidParameterValue", "Tag key exceeds the maximum length of 128 characters: %s", k)
		}
		if v := aws.ToString(t.Value); len(v) > 256 {
			return apiErrorf(ServiceEC2, "InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters: %s", v)
		}
	}
	return nil
}

// validation is the ValidationException of the JSON-protocol services.
func validation(service, field, value, constraint string) error {
	return apiError(service, "ValidationException", fmt.Sprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, field, constraint))
}
