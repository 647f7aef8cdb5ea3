package infra

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
)

const (
	albListener = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
	albRule     = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
	albBlue     = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-blue/73e2d6bc24d8a067"
	albGreen    = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-green/2453ed029918f21f"
)

// albStack synthesizes the example in ALB mode, managing the listener's
// default action or one of its rules.
func albStack(t *testing.T, rule bool) (*Synthesized, release.Config) {
	t.Helper()
	props := exampleProps(t)
	c := &props.Config
	c.Live.ElasticIPAllocationID = ""
	c.Traffic = release.TrafficConfig{Mode: release.TrafficALB, Alarms: []string{"shop-5xx", "shop-latency"},
		ALB: &release.ALBConfig{ListenerARN: albListener, TargetGroupARNs: []string{albBlue, albGreen}}}
	if rule {
		c.Traffic.ALB.RuleARN = albRule
	}
	s, err := Synth(t.TempDir(), props)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Findings) > 0 {
		t.Fatalf("cdk-nag: %v", s.Findings)
	}
	return s, props.Config
}

// grants lists, for a function, each action its role allows with the
// resources it is allowed on.
func grants(t *testing.T, s *Synthesized, handler string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, st := range statementsOf(t, s, handler) {
		var res []string
		switch r := st["Resource"].(type) {
		case string:
			res = []string{r}
		case []any:
			for _, x := range r {
				res = append(res, fmt.Sprint(x))
			}
		default:
			res = []string{fmt.Sprint(r)}
		}
		for _, a := range actionsOf(st) {
			out[a] = append(out[a], res...)
		}
	}
	return out
}

// TestALBStack: in ALB mode the stack has the register and shift functions
// instead of the Elastic IP switch; weights change only on the managed
// listener (or rule), targets only in the app's two target groups, alarms
// are read only by name; rules are read only when one is managed, the
// account's target groups listed only by the retirement; nothing may move
// an Elastic IP; cdk-nag is clean.
func TestALBStack(t *testing.T) {
	for _, rule := range []bool{false, true} {
		t.Run(fmt.Sprintf("rule=%v", rule), func(t *testing.T) {
			s, cfg := albStack(t, rule)
			fns := map[string]bool{}
			for _, f := range resources(s, "AWS::Lambda::Function") {
				fns[fmt.Sprint(f["Handler"])] = true
			}
			for _, e := range registry.All() {
				if fns[e.Name] != e.In(cfg) {
					t.Errorf("function %s: present %v, want %v", e.Name, fns[e.Name], e.In(cfg))
				}
			}
			modify, where := "elasticloadbalancing:ModifyListener", albListener
			if rule {
				modify, where = "elasticloadbalancing:ModifyRule", albRule
			}
			for _, e := range registry.For(cfg) {
				g := grants(t, s, e.Name)
				for action, res := range g {
					switch {
					case action == "ec2:AssociateAddress":
						t.Errorf("%s may move an Elastic IP in ALB mode", e.Name)
					case strings.HasPrefix(action, "elasticloadbalancing:Modify"):
						if action != modify || !slices.Equal(res, []string{where}) {
							t.Errorf("%s: %s on %v, want only %s on %s", e.Name, action, res, modify, where)
						}
					case action == "elasticloadbalancing:RegisterTargets" || action == "elasticloadbalancing:DeregisterTargets":
						if !slices.Equal(res, []string{albBlue, albGreen}) {
							t.Errorf("%s: %s on %v, want the two target groups", e.Name, action, res)
						}
					case action == "elasticloadbalancing:DescribeRules" && !rule:
						t.Errorf("%s may read listener rules, but the stack manages the listener's default action", e.Name)
					case action == "elasticloadbalancing:DescribeTargetGroups" && e.Name != registry.Retire:
						// Only the retirement looks beyond the app's groups.
						t.Errorf("%s may list the account's target groups", e.Name)
					case action == "cloudwatch:DescribeAlarms":
						for _, r := range res {
							if !strings.Contains(r, ":alarm:shop-5xx") && !strings.Contains(r, ":alarm:shop-latency") {
								t.Errorf("%s: DescribeAlarms on %s, want only the named alarms", e.Name, r)
							}
						}
					}
				}
			}
			for handler, want := range map[string][]string{
				registry.Register: {modify, "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DescribeTargetHealth"},
				registry.Shift:    {modify, "cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData"},
				registry.Rollback: {modify, "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"},
				registry.Retire:   {"elasticloadbalancing:DeregisterTargets", "elasticloadbalancing:DescribeTargetGroups"},
				registry.Prepare:  {"elasticloadbalancing:DescribeListeners", "cloudwatch:DescribeAlarms"},
			} {
				g := grants(t, s, handler)
				for _, a := range want {
					if _, ok := g[a]; !ok {
						t.Errorf("%s may not %s", handler, a)
					}
				}
			}
			if g := grants(t, s, registry.Retire); g["elasticloadbalancing:RegisterTargets"] != nil {
				t.Errorf("the retire function may register targets: %v", g["elasticloadbalancing:RegisterTargets"])
			}
		})
	}
}
