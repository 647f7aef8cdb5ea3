package sim

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

func TestGetSecretValue(t *testing.T) {
	r := NewTest(t, Options{})
	ctx := context.Background()
	arn := r.PutSecret("greenlight-shop-approval-links", "k3y")
	again := r.PutSecret("other", "x")
	if arn[len(arn)-7] != '-' || len(arn)-len("arn:aws:secretsmanager:eu-west-1:123456789012:secret:greenlight-shop-approval-links") != 7 || arn == again {
		t.Fatalf("ARN %s: want the name, a hyphen and six random characters", arn)
	}
	for _, id := range []string{arn, "greenlight-shop-approval-links", arn[:len(arn)-7]} {
		out, err := r.Secrets().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil || aws.ToString(out.SecretString) != "k3y" || aws.ToString(out.ARN) != arn {
			t.Errorf("GetSecretValue(%s) = %v, %v", id, out, err)
		}
	}
	var nf *smtypes.ResourceNotFoundException
	if _, err := r.Secrets().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn + "x")}); !errors.As(err, &nf) {
		t.Errorf("an unknown secret: %v, want ResourceNotFoundException", err)
	}
	r.DeleteSecret(arn)
	var ir *smtypes.InvalidRequestException
	if _, err := r.Secrets().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}); !errors.As(err, &ir) {
		t.Errorf("a secret marked for deletion: %v, want InvalidRequestException", err)
	}
}
