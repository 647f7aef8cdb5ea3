package sim

import (
	"context"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// IAM, as much of it as greenlight doctor reads: instance profiles, the
// role each holds, and the managed policies attached to a role. What is
// modelled, and where AWS says so:
//
//   - GetInstanceProfile answers the profile with its roles (an instance
//     profile holds at most one), NoSuchEntity for a name the account does
//     not have (IAM API Reference, "GetInstanceProfile",
//     /IAM/latest/APIReference/API_GetInstanceProfile.html).
//   - ListAttachedRolePolicies lists the managed policies attached to a
//     role, NoSuchEntity for an unknown role ("ListAttachedRolePolicies",
//     /IAM/latest/APIReference/API_ListAttachedRolePolicies.html).
//
// Not modelled: inline policies, paths, permissions boundaries; IAM is
// global (no region in its ARNs).

// ServiceIAM is Identity and Access Management.
const ServiceIAM = "IAM"

// SSMCorePolicy is the AWS managed policy an instance needs for Systems
// Manager ("AmazonSSMManagedInstanceCore", AWS Managed Policy Reference,
// /aws-managed-policy/latest/reference/AmazonSSMManagedInstanceCore.html).
const SSMCorePolicy = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"

// IAM is the simulated IAM API.
type IAM struct{ r *Region }

// IAM returns the IAM client.
func (r *Region) IAM() *IAM { return &IAM{r: r} }

// PutInstanceProfile creates (or replaces) an instance profile holding
// role, with the role's attached managed policies; an empty role leaves
// the profile without one.
func (r *Region) PutInstanceProfile(profile, role string, policies ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.profiles == nil {
		r.profiles, r.rolePolicies = map[string]string{}, map[string][]string{}
	}
	r.profiles[profile] = role
	if role != "" {
		r.rolePolicies[role] = slices.Clone(policies)
	}
}

func (r *Region) iamARN(kind, name string) string {
	return "arn:aws:iam::" + r.opts.Account + ":" + kind + "/" + name
}

// GetInstanceProfile returns a profile and its role.
func (s *IAM) GetInstanceProfile(ctx context.Context, in *iam.GetInstanceProfileInput, _ ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error) {
	return call(ctx, s.r, ServiceIAM, "GetInstanceProfile", in, func(string) (*iam.GetInstanceProfileOutput, error) {
		r := s.r
		name := aws.ToString(in.InstanceProfileName)
		role, ok := r.profiles[name]
		if !ok {
			return nil, apiErrorf(ServiceIAM, "NoSuchEntity", "Instance Profile %s cannot be found.", name)
		}
		p := &iamtypes.InstanceProfile{InstanceProfileName: aws.String(name), Arn: aws.String(r.iamARN("instance-profile", name)), Path: aws.String("/")}
		if role != "" {
			p.Roles = []iamtypes.Role{{RoleName: aws.String(role), Arn: aws.String(r.iamARN("role", role)), Path: aws.String("/")}}
		}
		return &iam.GetInstanceProfileOutput{InstanceProfile: p}, nil
	})
}

// ListAttachedRolePolicies lists a role's managed policies.
func (s *IAM) ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	return call(ctx, s.r, ServiceIAM, "ListAttachedRolePolicies", in, func(string) (*iam.ListAttachedRolePoliciesOutput, error) {
		r := s.r
		role := aws.ToString(in.RoleName)
		policies, ok := r.rolePolicies[role]
		if !ok {
			return nil, apiErrorf(ServiceIAM, "NoSuchEntity", "The role with name %s cannot be found.", role)
		}
		out := &iam.ListAttachedRolePoliciesOutput{}
		for _, arn := range policies {
			out.AttachedPolicies = append(out.AttachedPolicies, iamtypes.AttachedPolicy{PolicyArn: aws.String(arn), PolicyName: aws.String(arn[len("arn:aws:iam::aws:policy/"):])})
		}
		return out, nil
	})
}
