package infra

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
)

// statementsOf is every statement of the policies on a function's role.
func statementsOf(t *testing.T, s *Synthesized, handler string) []map[string]any {
	t.Helper()
	fn := only(t, s, "AWS::Lambda::Function", func(p map[string]any) bool { return p["Handler"] == handler })
	role := fmt.Sprint(dig(fn, "Role", "Fn::GetAtt", 0))
	var out []map[string]any
	for _, p := range resources(s, "AWS::IAM::Policy") {
		if dig(p, "Roles", 0, "Ref") != role {
			continue
		}
		list, _ := dig(p, "PolicyDocument", "Statement").([]any)
		for _, st := range list {
			out = append(out, st.(map[string]any))
		}
	}
	return out
}

func actionsOf(st map[string]any) []string {
	switch a := st["Action"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

// kmsStatements are a role's statements that allow KMS actions.
func kmsStatements(t *testing.T, s *Synthesized, handler string) []map[string]any {
	var out []map[string]any
	for _, st := range statementsOf(t, s, handler) {
		if slices.ContainsFunc(actionsOf(st), func(a string) bool { return strings.HasPrefix(a, "kms:") }) {
			out = append(out, st)
		}
	}
	return out
}

// TestEBSKeyGrants: with encryption.kmsKeyId, the functions that create or
// attach volumes may use that key, and only it, through EC2 only (grants
// only for AWS resources); without it no function holds a KMS permission;
// the prepare step may read the account's EBS encryption settings.
func TestEBSKeyGrants(t *testing.T) {
	const keyARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	const aliasARN = "arn:aws:kms:eu-west-1:123456789012:alias/shop-ebs"
	s := example(t)
	for _, e := range registry.For(exampleProps(t).Config) {
		if st := kmsStatements(t, s, e.Name); len(st) > 0 {
			t.Errorf("without encryption.kmsKeyId %s may use KMS: %v", e.Name, st)
		}
	}
	var reads bool
	for _, st := range statementsOf(t, s, registry.Prepare) {
		a := actionsOf(st)
		reads = reads || slices.Contains(a, "ec2:GetEbsEncryptionByDefault") && slices.Contains(a, "ec2:GetEbsDefaultKmsKeyId") && st["Resource"] == "*"
	}
	if !reads {
		t.Errorf("prepare may not read the account's EBS encryption: %v", statementsOf(t, s, registry.Prepare))
	}

	for _, tc := range []struct{ name, key, resource, alias string }{
		{"key ARN", keyARN, keyARN, ""},
		{"alias ARN", aliasARN, "arn:aws:kms:eu-west-1:123456789012:key/*", "alias/shop-ebs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props := exampleProps(t)
			props.Config.Encryption = &release.Encryption{KMSKeyID: tc.key}
			props.Config.Data.Mode = release.DataMove
			s, err := Synth(t.TempDir(), props)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Findings) > 0 {
				t.Fatalf("cdk-nag: %v", s.Findings)
			}
			// The candidate check launches a replacement for a candidate
			// that never becomes ready (fleet.replaceUnhealthy, default 1).
			users := []string{registry.Launch, registry.CheckCandidate, registry.TestData, registry.Cutover, registry.Rollback}
			for _, e := range registry.For(props.Config) {
				h := e.Name
				sts := kmsStatements(t, s, h)
				if !slices.Contains(users, h) {
					if len(sts) > 0 {
						t.Errorf("%s neither creates nor attaches volumes but may use KMS: %v", h, sts)
					}
					continue
				}
				if !UsesEBSKey(h, props.Config) || len(sts) != 2 {
					t.Errorf("%s: %d KMS statements, want 2: %v", h, len(sts), sts)
					continue
				}
				grant, use := sts[0], sts[1]
				if !slices.Equal(actionsOf(grant), []string{"kms:CreateGrant"}) || dig(grant, "Condition", "Bool", "kms:GrantIsForAWSResource") != "true" ||
					dig(grant, "Resource") != tc.resource {
					t.Errorf("%s: grant statement %v", h, grant)
				}
				via, _ := json.Marshal(dig(use, "Condition", "StringEquals", "kms:ViaService"))
				if !slices.Equal(actionsOf(use), EBSKeyActions) || !strings.Contains(string(via), `"ec2."`) || !strings.Contains(string(via), `AWS::Region`) ||
					dig(use, "Resource") != tc.resource {
					t.Errorf("%s: use statement %v", h, use)
				}
				for _, st := range sts {
					if got := dig(st, "Condition", "ForAnyValue:StringEquals", "kms:ResourceAliases"); tc.alias != "" && got != tc.alias || tc.alias == "" && got != nil {
						t.Errorf("%s: kms:ResourceAliases %v, want %q", h, got, tc.alias)
					}
				}
			}
		})
	}

	// The rollback attaches volumes only with a data mode.
	cfg := exampleProps(t).Config
	cfg.Encryption = &release.Encryption{KMSKeyID: keyARN}
	if UsesEBSKey(registry.Rollback, cfg) || !UsesEBSKey(registry.Launch, cfg) || UsesEBSKey(registry.Smoke, cfg) {
		t.Error("UsesEBSKey without data")
	}
}
