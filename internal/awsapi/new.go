package awsapi

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// LoadConfig is the one way greenlight builds AWS configuration: the
// default credential chain and region, with the region overridable.
func LoadConfig(ctx context.Context, region string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// New builds the real clients from one AWS configuration.
func New(cfg aws.Config) Clients {
	return Clients{
		EC2:        ec2.NewFromConfig(cfg),
		SSM:        ssm.NewFromConfig(cfg),
		Scheduler:  scheduler.NewFromConfig(cfg),
		SNS:        sns.NewFromConfig(cfg),
		SFN:        sfn.NewFromConfig(cfg),
		S3:         s3.NewFromConfig(cfg),
		DynamoDB:   dynamodb.NewFromConfig(cfg),
		ELB:        elb.NewFromConfig(cfg),
		CloudWatch: cloudwatch.NewFromConfig(cfg),
		Secrets:    secretsmanager.NewFromConfig(cfg),
	}
}
