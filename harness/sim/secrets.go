package sim

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Secrets Manager, as much of it as the approval links use: a secret the
// stack created holding a generated string, read with GetSecretValue.
// What is modelled, and where AWS says so:
//
//   - A secret's ARN is its name followed by a hyphen and six random
//     characters, so a secret created again under the same name has
//     another ARN ("CreateSecret", ARN in the response, AWS Secrets
//     Manager API Reference: /secretsmanager/latest/apireference/API_CreateSecret.html).
//   - GetSecretValue's SecretId is the full ARN or the name; a partial ARN
//     (without the suffix) matches too; anything else is
//     ResourceNotFoundException ("GetSecretValue", SecretId and Errors:
//     /secretsmanager/latest/apireference/API_GetSecretValue.html).
//   - A secret scheduled for deletion answers InvalidRequestException
//     ("You can't perform this operation on the secret because it was
//     marked for deletion", same page).
//
// Not modelled: versions and stages other than AWSCURRENT, binary
// secrets, resource policies and KMS (the stack's secret uses the AWS
// managed key aws/secretsmanager, which needs no IAM permission of the
// caller beyond GetSecretValue).

// ServiceSecrets is Secrets Manager; its SDK client names itself so in
// errors.
const ServiceSecrets = "Secrets Manager"

// Secrets is the simulated Secrets Manager API. It implements
// awsapi.Secrets.
type Secrets struct{ r *Region }

type secret struct {
	arn, name, value string
	deleted          bool
}

// Secrets returns the Secrets Manager client.
func (r *Region) Secrets() *Secrets { return &Secrets{r: r} }

// PutSecret creates a secret holding value, as the stack's deployment
// does, and returns its ARN.
func (r *Region) PutSecret(name, value string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	suffix := make([]byte, 6)
	for i := range suffix {
		suffix[i] = chars[r.rng.IntN(len(chars))]
	}
	arn := r.arn("secretsmanager", "secret:"+name+"-"+string(suffix))
	r.secrets = append(r.secrets, &secret{arn: arn, name: name, value: value})
	return arn
}

// DeleteSecret schedules a secret for deletion: from then on it cannot be
// read.
func (r *Region) DeleteSecret(arn string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		if s.arn == arn {
			s.deleted = true
		}
	}
}

// GetSecretValue returns the secret's current string.
func (s *Secrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return call(ctx, s.r, ServiceSecrets, "GetSecretValue", in, func(string) (*secretsmanager.GetSecretValueOutput, error) {
		id := aws.ToString(in.SecretId)
		if id == "" {
			return nil, paramRequired("GetSecretValueInput", "SecretId")
		}
		for _, sec := range s.r.secrets {
			if id != sec.arn && id != sec.name && id != sec.arn[:len(sec.arn)-7] {
				continue
			}
			if sec.deleted {
				return nil, apiError(ServiceSecrets, "InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
			}
			return &secretsmanager.GetSecretValueOutput{ARN: aws.String(sec.arn), Name: aws.String(sec.name),
				SecretString: aws.String(sec.value), VersionStages: []string{"AWSCURRENT"}}, nil
		}
		return nil, apiError(ServiceSecrets, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	})
}
