package sim

import "github.com/greenlight/greenlight/internal/awsapi"

// Compile-time proof that the simulated clients satisfy the interfaces
// the steps consume, as the SDK clients do.
var (
	_ awsapi.EC2        = (*EC2)(nil)
	_ awsapi.SSM        = (*SSM)(nil)
	_ awsapi.Scheduler  = (*Scheduler)(nil)
	_ awsapi.SNS        = (*SNS)(nil)
	_ awsapi.SFN        = (*SFN)(nil)
	_ awsapi.ELB        = (*ELB)(nil)
	_ awsapi.CloudWatch = (*CloudWatch)(nil)
	_ awsapi.Secrets    = (*Secrets)(nil)
)
