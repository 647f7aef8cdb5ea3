package release

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func albExample(t *testing.T) []byte { return exampleFile(t, albExampleFile) }

// albEdit is edit on the ALB example.
func albEdit(t *testing.T, old, new string) []byte {
	t.Helper()
	return editFile(t, albExampleFile, old, new)
}

const (
	listenerARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
	blueARN     = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-blue/73e2d6bc24d8a067"
	greenARN    = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-green/2453ed029918f21f"
	albSteps    = `"steps": [5, 25, 50, 100]`
	albMode     = `"mode": "alb",`
	albData     = `"data": {
    "mode": "none"
  }`
	// albBlock is the example's whole traffic.alb.
	albBlock = `"alb": {
      "listenerArn": "` + listenerARN + `",
      "targetGroupArns": [
        "` + blueARN + `",
        "` + greenARN + `"
      ]
    },`
)

// albMinimal is the ALB example with every setting that has a default
// left out.
func albMinimal(t *testing.T) []byte {
	t.Helper()
	return albEdit(t, `,
    "steps": [5, 25, 50, 100],
    "stepBake": "5m",
    "stickiness": "1h",
    "alarms": ["shop-5xx", "shop-p99-latency"],
    "maxErrorRateIncrease": 1.0`, ``)
}

// withDataMode sets a data mode with its device and mount point.
func withDataMode(b []byte, mode string) []byte {
	return []byte(strings.Replace(string(b), albData,
		`"data": {"mode": "`+mode+`", "device": "/dev/sdf", "mountPoint": "/var/lib/shop"}`, 1))
}

// eipTraffic puts a traffic block into the Elastic IP example.
func eipTraffic(t *testing.T, block string) []byte {
	t.Helper()
	return edit(t, `"app": "shop",`, `"app": "shop", "traffic": `+block+`,`)
}

func TestALBExampleConfigIsValid(t *testing.T) {
	c, err := ParseConfig(albExample(t))
	if err != nil {
		t.Fatalf("greenlight.alb.example.json: %v", err)
	}
	if !c.UsesALB() || c.TrafficMode() != TrafficALB || c.Live.ElasticIPAllocationID != "" {
		t.Errorf("not in alb mode: %+v", c.Traffic)
	}
	a := c.Traffic.ALB
	if a.ListenerARN != listenerARN || a.RuleARN != "" || !slices.Equal(a.TargetGroupARNs, []string{blueARN, greenARN}) {
		t.Errorf("alb: %+v", a)
	}
	if !slices.Equal(c.TrafficSteps(), []int{5, 25, 50, 100}) || c.StepBake() != 5*time.Minute || c.Stickiness() != time.Hour ||
		c.MaxErrorRateIncrease() != 1 || !slices.Equal(c.Traffic.Alarms, []string{"shop-5xx", "shop-p99-latency"}) {
		t.Errorf("traffic: %+v", c.Traffic)
	}
}

func TestTrafficDefaults(t *testing.T) {
	c, err := ParseConfig(example(t))
	if err != nil {
		t.Fatal(err)
	}
	// Left out, traffic is today's behaviour, and the ALB's settings stay
	// unset so that nothing reads them by mistake.
	if c.UsesALB() || c.Traffic.Mode != TrafficElasticIP || c.Traffic.Steps != nil || c.Traffic.Stickiness != nil ||
		c.Traffic.MaxErrorRateIncrease != nil || c.Traffic.StepBake != 0 || !slices.Equal(c.TrafficSteps(), []int{100}) {
		t.Errorf("elasticIp defaults: %+v", c.Traffic)
	}
	if (Config{}).TrafficMode() != TrafficElasticIP || (Config{}).UsesALB() {
		t.Error("a config built in code is in elasticIp mode")
	}

	minimal := func(t *testing.T, old, new string) Config {
		t.Helper()
		b := []byte(strings.Replace(string(albMinimal(t)), old, new, 1))
		c, err := ParseConfig(b)
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		return c
	}
	c = minimal(t, "", "")
	if !slices.Equal(c.Traffic.Steps, []int{5, 25, 50, 100}) || c.Traffic.StepBake != defaultStepBake ||
		*c.Traffic.Stickiness != defaultStickiness || *c.Traffic.MaxErrorRateIncrease != 1 || c.Traffic.Alarms != nil {
		t.Errorf("alb defaults: %+v", c.Traffic)
	}
	// Defaults are copies: a step that edits its config's steps must not
	// change the next config's.
	c.Traffic.Steps[0] = 7
	if c := minimal(t, "", ""); c.Traffic.Steps[0] != 5 {
		t.Errorf("the default steps were changed through a config: %v", c.Traffic.Steps)
	}
	for _, mode := range []string{DataMove, DataRestore} {
		c, err = ParseConfig(withDataMode(albMinimal(t), mode))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Traffic.Steps, []int{100}) {
			t.Errorf("data.mode %s: a data volume moves all traffic at once, got steps %v", mode, c.Traffic.Steps)
		}
	}
	// Zero is a setting of its own for these two, not "left out".
	c = minimal(t, `"mode": "alb",`, `"mode": "alb", "stickiness": "0", "maxErrorRateIncrease": 0,`)
	if c.Stickiness() != 0 || c.MaxErrorRateIncrease() != 0 {
		t.Errorf("zero settings: %+v", c.Traffic)
	}
}

// TestParsedConfigParsesAgain: the stack hands each step the parsed
// config as JSON, which the step parses again; the defaults must survive.
func TestParsedConfigParsesAgain(t *testing.T) {
	for name, b := range map[string][]byte{
		"elasticIp example":   example(t),
		"alb example":         albExample(t),
		"alb with defaults":   albMinimal(t),
		"alb with data, zero": withDataMode(albEdit(t, `"stickiness": "1h"`, `"stickiness": "0"`), DataMove),
	} {
		if name == "alb with data, zero" {
			b = []byte(strings.Replace(strings.Replace(string(b), albSteps, `"steps": [100]`, 1),
				`"maxErrorRateIncrease": 1.0`, `"maxErrorRateIncrease": 0`, 1))
		}
		first, err := ParseConfig(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		j, err := json.Marshal(first)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseConfig(j)
		if err != nil {
			t.Fatalf("%s: the parsed config does not parse again: %v\n%s", name, err, j)
		}
		if !reflect.DeepEqual(first, again) {
			t.Errorf("%s: changed on the way through JSON:\n%+v\n%+v", name, first, again)
		}
	}
}

func TestParseELBARN(t *testing.T) {
	a, ok := ParseELBARN(listenerARN)
	if !ok || a != (ELBARN{Partition: "aws", Region: "eu-west-1", Account: "123456789012", Resource: "listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"}) {
		t.Errorf("%+v %v", a, ok)
	}
	for _, bad := range []string{"", "listener/app/shop/1/2", "arn:aws:ec2:eu-west-1:123456789012:instance/i-1", "arn:aws:elasticloadbalancing::123456789012:x"} {
		if _, ok := ParseELBARN(bad); ok {
			t.Errorf("ParseELBARN(%q) accepted it", bad)
		}
	}
}

func TestTrafficAccepted(t *testing.T) {
	rule := "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
	tests := []struct {
		name string
		in   func(t *testing.T) []byte
	}{
		{"traffic left empty", func(t *testing.T) []byte { return eipTraffic(t, `{}`) }},
		{"elasticIp mode named", func(t *testing.T) []byte { return eipTraffic(t, `{"mode": "elasticIp"}`) }},
		{"a rule of the listener", func(t *testing.T) []byte {
			return albEdit(t, `"listenerArn": "`+listenerARN+`",`, `"listenerArn": "`+listenerARN+`", "ruleArn": "`+rule+`",`)
		}},
		{"one step", func(t *testing.T) []byte { return albEdit(t, albSteps, `"steps": [100]`) }},
		{"smallest first step", func(t *testing.T) []byte { return albEdit(t, albSteps, `"steps": [1, 100]`) }},
		{"data move in one step", func(t *testing.T) []byte { return withDataMode(albEdit(t, albSteps, `"steps": [100]`), DataMove) }},
		{"data restore, steps left out", func(t *testing.T) []byte { return withDataMode(albEdit(t, albSteps+",", ``), DataRestore) }},
		{"stickiness off", func(t *testing.T) []byte { return albEdit(t, `"stickiness": "1h"`, `"stickiness": "0"`) }},
		{"stickiness of 0s", func(t *testing.T) []byte { return albEdit(t, `"stickiness": "1h"`, `"stickiness": "0s"`) }},
		{"longest stickiness", func(t *testing.T) []byte { return albEdit(t, `"stickiness": "1h"`, `"stickiness": "168h"`) }},
		{"shortest stickiness", func(t *testing.T) []byte { return albEdit(t, `"stickiness": "1h"`, `"stickiness": "1s"`) }},
		{"shortest step bake", func(t *testing.T) []byte { return albEdit(t, `"stepBake": "5m"`, `"stepBake": "30s"`) }},
		{"longest step bake", func(t *testing.T) []byte { return albEdit(t, `"stepBake": "5m"`, `"stepBake": "24h"`) }},
		{"no error rate increase", func(t *testing.T) []byte {
			return albEdit(t, `"maxErrorRateIncrease": 1.0`, `"maxErrorRateIncrease": 0`)
		}},
		{"any error rate increase", func(t *testing.T) []byte {
			return albEdit(t, `"maxErrorRateIncrease": 1.0`, `"maxErrorRateIncrease": 100`)
		}},
		{"no alarms", func(t *testing.T) []byte {
			return albEdit(t, `["shop-5xx", "shop-p99-latency"]`, `[]`)
		}},
		{"longest alarm name", func(t *testing.T) []byte {
			return albEdit(t, `"shop-5xx"`, `"`+strings.Repeat("a", 255)+`"`)
		}},
		{"no region given", func(t *testing.T) []byte { return albEdit(t, `"region": "eu-west-1",`, ``) }},
		{"China partition", func(t *testing.T) []byte {
			b := strings.ReplaceAll(string(albExample(t)), "arn:aws:elasticloadbalancing:eu-west-1", "arn:aws-cn:elasticloadbalancing:cn-north-1")
			return []byte(strings.Replace(b, `"region": "eu-west-1"`, `"region": "cn-north-1"`, 1))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseConfig(tt.in(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTrafficProblems: each rule refuses its case with exactly these
// problems, path and message, and nothing else.
func TestTrafficProblems(t *testing.T) {
	otherRule := "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/shop/50dc6c495c0c9188/0123456789abcdef/9683b2d02a6cabee"
	withData := func(mode string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return withDataMode(albExample(t), mode) }
	}
	steps := func(s string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return albEdit(t, albSteps, `"steps": `+s) }
	}
	tests := []struct {
		name string
		in   func(t *testing.T) []byte
		want []string // "path: message", the hint left out
	}{
		// Steps.
		{"steps not increasing", steps(`[5, 50, 25, 100]`), []string{"traffic.steps[2]: 25 after 50: steps must increase"}},
		{"a step repeated", steps(`[5, 50, 50, 100]`), []string{"traffic.steps[2]: 50 after 50: steps must increase"}},
		{"steps not ending at 100", steps(`[5, 25, 50]`), []string{"traffic.steps[2]: 50 is the last step: steps must end at 100"}},
		{"neither", steps(`[50, 25]`), []string{
			"traffic.steps[1]: 25 after 50: steps must increase", "traffic.steps[1]: 25 is the last step: steps must end at 100"}},
		{"no steps", steps(`[]`), []string{"traffic.steps: has 0 item(s), needs at least 1"}},
		{"a step of 0", steps(`[0, 100]`), []string{"traffic.steps[0]: 0 is below the minimum 1"}},
		{"a step above 100", steps(`[5, 101]`), []string{"traffic.steps[1]: 101 is above the maximum 100"}},
		{"a fractional step", steps(`[5.5, 100]`), []string{"traffic.steps[0]: is a number, want integer"}},
		{"data move in steps", withData(DataMove), []string{
			`traffic.steps: a data volume serves one instance: with data.mode "move", traffic.steps must be [100]`}},
		{"data restore in steps", withData(DataRestore), []string{
			`traffic.steps: a data volume serves one instance: with data.mode "restore", traffic.steps must be [100]`}},

		// Mode and front.
		{"alb in elasticIp mode", func(t *testing.T) []byte {
			return eipTraffic(t, `{"alb": {"listenerArn": "`+listenerARN+`", "targetGroupArns": ["`+blueARN+`", "`+greenARN+`"]}}`)
		}, []string{`traffic.alb: is set but traffic.mode is "elasticIp"`}},
		{"alb missing in alb mode", func(t *testing.T) []byte { return albEdit(t, albBlock, ``) },
			[]string{`traffic.alb: is required when traffic.mode is "alb"`}},
		{"Elastic IP in alb mode", func(t *testing.T) []byte {
			return albEdit(t, `"region": "eu-west-1",`, `"region": "eu-west-1", "live": {"elasticIpAllocationId": "eipalloc-0a1b2c3d4e5f60718"},`)
		}, []string{`live.elasticIpAllocationId: is set but traffic.mode is "alb"`}},
		{"alb mode on the Elastic IP example", func(t *testing.T) []byte { return eipTraffic(t, `{"mode": "alb"}`) }, []string{
			`live.elasticIpAllocationId: is set but traffic.mode is "alb"`, `traffic.alb: is required when traffic.mode is "alb"`}},
		{"no front at all", func(t *testing.T) []byte { return albEdit(t, albMode, ``) }, []string{
			"live: is required",
			`traffic.alarms: applies only when traffic.mode is "alb"`,
			`traffic.alb: is set but traffic.mode is "elasticIp"`,
			`traffic.maxErrorRateIncrease: applies only when traffic.mode is "alb"`,
			`traffic.stepBake: applies only when traffic.mode is "alb"`,
			`traffic.steps: applies only when traffic.mode is "alb"`,
			`traffic.stickiness: applies only when traffic.mode is "alb"`,
		}},
		{"elasticIp mode without an allocation id", func(t *testing.T) []byte {
			return edit(t, `"elasticIpAllocationId": "eipalloc-0a1b2c3d4e5f60718"`, ``)
		}, []string{"live.elasticIpAllocationId: is required"}},
		{"a mode of its own", func(t *testing.T) []byte { return albEdit(t, albMode, `"mode": "ALB",`) },
			[]string{`traffic.mode: "ALB" is not one of elasticIp, alb`}},
		{"steps in elasticIp mode", func(t *testing.T) []byte { return eipTraffic(t, `{"steps": [100]}`) },
			[]string{`traffic.steps: applies only when traffic.mode is "alb"`}},
		{"a bake out of range in elasticIp mode", func(t *testing.T) []byte { return eipTraffic(t, `{"stepBake": "1s"}`) },
			[]string{`traffic.stepBake: applies only when traffic.mode is "alb"`}},
		{"traffic not an object", func(t *testing.T) []byte { return eipTraffic(t, `"alb"`) },
			[]string{"traffic: is a string, want object"}},
		{"unknown traffic field", func(t *testing.T) []byte { return albEdit(t, albMode, albMode+` "weights": [50, 50],`) },
			[]string{"traffic.weights: is not a known field"}},

		// The ALB's ARNs.
		{"no listener", func(t *testing.T) []byte {
			return albEdit(t, `"listenerArn": "`+listenerARN+`",`, ``)
		}, []string{"traffic.alb.listenerArn: is required"}},
		{"a target group for a listener", func(t *testing.T) []byte {
			return albEdit(t, `"listenerArn": "`+listenerARN+`"`, `"listenerArn": "`+blueARN+`"`)
		}, []string{`traffic.alb.listenerArn: "` + blueARN + `" is not valid`}},
		{"a Network Load Balancer's listener", func(t *testing.T) []byte {
			return albEdit(t, "listener/app/shop", "listener/net/shop")
		}, []string{`traffic.alb.listenerArn: "` + strings.Replace(listenerARN, "/app/", "/net/", 1) + `" is not valid`}},
		{"one target group", func(t *testing.T) []byte {
			return albEdit(t, `",
        "`+greenARN+`"`, `"`)
		},
			[]string{"traffic.alb.targetGroupArns: has 1 item(s), needs at least 2"}},
		{"three target groups", func(t *testing.T) []byte {
			return albEdit(t, `"`+greenARN+`"`, `"`+greenARN+`", "`+strings.Replace(blueARN, "shop-blue", "shop-red", 1)+`"`)
		}, []string{"traffic.alb.targetGroupArns: has 3 items, allows at most 2"}},
		{"the same target group twice", func(t *testing.T) []byte { return albEdit(t, `"`+greenARN+`"`, `"`+blueARN+`"`) },
			[]string{"traffic.alb.targetGroupArns: items 0 and 1 are the same"}},
		{"a target group that is not one", func(t *testing.T) []byte { return albEdit(t, `"`+greenARN+`"`, `"shop-green"`) },
			[]string{`traffic.alb.targetGroupArns[1]: "shop-green" is not valid`}},
		{"a rule that is not one", func(t *testing.T) []byte {
			return albEdit(t, `"listenerArn": "`+listenerARN+`",`, `"listenerArn": "`+listenerARN+`", "ruleArn": "`+listenerARN+`",`)
		}, []string{`traffic.alb.ruleArn: "` + listenerARN + `" is not valid`}},
		{"a rule of another listener", func(t *testing.T) []byte {
			return albEdit(t, `"listenerArn": "`+listenerARN+`",`, `"listenerArn": "`+listenerARN+`", "ruleArn": "`+otherRule+`",`)
		}, []string{"traffic.alb.ruleArn: is not a rule of traffic.alb.listenerArn"}},
		{"a listener in another region", func(t *testing.T) []byte { return albEdit(t, `"region": "eu-west-1"`, `"region": "us-east-1"`) },
			[]string{"traffic.alb.listenerArn: the listener is in eu-west-1 but the stack deploys to us-east-1"}},
		{"a target group in another region", func(t *testing.T) []byte {
			return albEdit(t, `"`+greenARN+`"`, `"`+strings.Replace(greenARN, "eu-west-1", "eu-central-1", 1)+`"`)
		}, []string{"traffic.alb.targetGroupArns[1]: the target group is in eu-central-1 but the listener is in eu-west-1"}},

		// Fleets.
		{"a fleet behind an Elastic IP", func(t *testing.T) []byte { return edit(t, `"app": "shop",`, `"app": "shop", "fleet": {"size": 3},`) },
			[]string{"fleet.size: 3 instances, but an Elastic IP serves one instance"}},
		{"a fleet with a data volume", func(t *testing.T) []byte {
			return withDataMode(albEdit(t, `"region": "eu-west-1",`, `"region": "eu-west-1", "fleet": {"size": 3},`), DataMove)
		}, []string{`fleet.size: 3 instances, but a data volume attaches to one instance (data.mode "move")`,
			`traffic.steps: a data volume serves one instance: with data.mode "move", traffic.steps must be [100]`}},
		{"fleet subnets and a candidate subnet", func(t *testing.T) []byte {
			b := albEdit(t, `"region": "eu-west-1",`, `"region": "eu-west-1", "fleet": {"size": 2, "subnetIds": ["subnet-0a1b2c3d"]},`)
			return []byte(strings.Replace(string(b), `"candidate": {`, `"candidate": {"subnetId": "subnet-0d3c2b1a",`, 1))
		}, []string{"fleet.subnetIds: is set together with candidate.subnetId"}},
		{"a fleet too large", func(t *testing.T) []byte {
			return albEdit(t, `"region": "eu-west-1",`, `"region": "eu-west-1", "fleet": {"size": 21},`)
		},
			[]string{"fleet.size: 21 is above the maximum 20"}},
		{"a fleet of none", func(t *testing.T) []byte {
			return albEdit(t, `"region": "eu-west-1",`, `"region": "eu-west-1", "fleet": {"size": 0},`)
		},
			[]string{"fleet.size: 0 is below the minimum 1"}},
		{"negative replacements", func(t *testing.T) []byte {
			return albEdit(t, `"region": "eu-west-1",`, `"region": "eu-west-1", "fleet": {"replaceUnhealthy": -1},`)
		}, []string{"fleet.replaceUnhealthy: -1 is below the minimum 0"}},

		// Durations, alarms, error rate.
		{"step bake too short", func(t *testing.T) []byte { return albEdit(t, `"stepBake": "5m"`, `"stepBake": "10s"`) },
			[]string{"traffic.stepBake: 10s is outside the allowed range"}},
		{"step bake too long", func(t *testing.T) []byte { return albEdit(t, `"stepBake": "5m"`, `"stepBake": "25h"`) },
			[]string{"traffic.stepBake: 25h0m0s is outside the allowed range"}},
		{"step bake not a duration", func(t *testing.T) []byte { return albEdit(t, `"stepBake": "5m"`, `"stepBake": "0"`) },
			[]string{`traffic.stepBake: "0" is not valid`}},
		{"stickiness past the ALB's limit", func(t *testing.T) []byte { return albEdit(t, `"stickiness": "1h"`, `"stickiness": "169h"`) },
			[]string{"traffic.stickiness: 169h0m0s is outside the allowed range"}},
		{"stickiness under a second", func(t *testing.T) []byte { return albEdit(t, `"stickiness": "1h"`, `"stickiness": "500ms"`) },
			[]string{"traffic.stickiness: 500ms is outside the allowed range"}},
		{"stickiness as a number", func(t *testing.T) []byte { return albEdit(t, `"stickiness": "1h"`, `"stickiness": 3600`) },
			[]string{"traffic.stickiness: is a number, want string"}},
		{"the same alarm twice", func(t *testing.T) []byte { return albEdit(t, `"shop-p99-latency"`, `"shop-5xx"`) },
			[]string{"traffic.alarms: items 0 and 1 are the same"}},
		{"an empty alarm name", func(t *testing.T) []byte { return albEdit(t, `"shop-5xx"`, `""`) },
			[]string{"traffic.alarms[0]: is 0 character(s) long, needs at least 1"}},
		{"an alarm name too long", func(t *testing.T) []byte { return albEdit(t, `"shop-5xx"`, `"`+strings.Repeat("a", 256)+`"`) },
			[]string{"traffic.alarms[0]: is 256 characters long, allows at most 255"}},
		{"more alarms than one call reads", func(t *testing.T) []byte {
			names := make([]string, 101)
			for i := range names {
				names[i] = `"alarm-` + strings.Repeat("x", i) + `"`
			}
			return albEdit(t, `["shop-5xx", "shop-p99-latency"]`, "["+strings.Join(names, ", ")+"]")
		}, []string{"traffic.alarms: has 101 items, allows at most 100"}},
		{"a negative error rate increase", func(t *testing.T) []byte {
			return albEdit(t, `"maxErrorRateIncrease": 1.0`, `"maxErrorRateIncrease": -0.5`)
		}, []string{"traffic.maxErrorRateIncrease: -0.5 is below the minimum 0"}},
		{"an error rate increase past 100 points", func(t *testing.T) []byte {
			return albEdit(t, `"maxErrorRateIncrease": 1.0`, `"maxErrorRateIncrease": 150`)
		}, []string{"traffic.maxErrorRateIncrease: 150 is above the maximum 100"}},
		{"an error rate increase as text", func(t *testing.T) []byte {
			return albEdit(t, `"maxErrorRateIncrease": 1.0`, `"maxErrorRateIncrease": "1%"`)
		}, []string{"traffic.maxErrorRateIncrease: is a string, want number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(tt.in(t))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("want a *ConfigError, got %v", err)
			}
			var got []string
			for _, p := range ce.Problems {
				got = append(got, p.Path+": "+p.Message)
				if strings.HasPrefix(p.Path, "traffic.") && p.Hint == "" && !strings.Contains(p.Message, "not a known field") {
					t.Errorf("%s: no hint", p)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// TestFleetDefaults: a side is one instance and one replacement is allowed
// unless the config says otherwise; 0 replacements is a setting of its own.
func TestFleetDefaults(t *testing.T) {
	c, err := ParseConfig(albExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.FleetSize() != 1 || c.ReplaceUnhealthy() != DefaultReplaceUnhealthy {
		t.Errorf("defaults: size %d, replaceUnhealthy %d", c.FleetSize(), c.ReplaceUnhealthy())
	}
	c, err = ParseConfig(albEdit(t, `"region": "eu-west-1",`, `"region": "eu-west-1", "fleet": {"size": 3, "replaceUnhealthy": 0},`))
	if err != nil {
		t.Fatal(err)
	}
	if c.FleetSize() != 3 || c.ReplaceUnhealthy() != 0 {
		t.Errorf("set: size %d, replaceUnhealthy %d, want 3 and 0", c.FleetSize(), c.ReplaceUnhealthy())
	}
}
