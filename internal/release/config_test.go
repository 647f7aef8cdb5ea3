package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// The example configs at the repository root, by file name.
const (
	eipExampleFile = "greenlight.example.json"
	albExampleFile = "greenlight.alb.example.json"
)

func example(t *testing.T) []byte { return exampleFile(t, eipExampleFile) }

func exampleFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExampleConfigIsValid(t *testing.T) {
	c, err := ParseConfig(example(t))
	if err != nil {
		t.Fatalf("greenlight.example.json: %v", err)
	}
	if c.App != "shop" || c.StackName != "greenlight-shop" || c.Candidate.InstanceRole != "shop-app" {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.ApprovalTimeout.D() != 24*time.Hour || c.BakeTime.D() != 5*time.Minute || c.SmokeTests[0].MaxLatency.D() != 800*time.Millisecond {
		t.Errorf("durations: %+v", c)
	}
}

func TestMinimalConfigGetsDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"app":"blog","live":{"elasticIpAllocationId":"eipalloc-12345678"},
		"candidate":{"ami":"ami-12345678","instanceType":"t3.micro","securityGroupIds":["sg-12345678"],"instanceProfile":"blog"},
		"healthCheck":{"port":80,"path":"/"}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{App: "blog", StackName: "greenlight-blog", Data: DataConfig{Mode: DataNone},
		ApprovalTimeout: defaultApproval, BakeTime: defaultBake, RetentionDays: 7, KeepReleases: 5,
		ArtifactPrefix: "releases/", ArtifactMaxSize: 512}
	if c.StackName != want.StackName || c.Data.Mode != want.Data.Mode || c.ApprovalTimeout != want.ApprovalTimeout ||
		c.BakeTime != want.BakeTime || c.RetentionDays != want.RetentionDays || c.KeepReleases != want.KeepReleases ||
		c.ArtifactPrefix != want.ArtifactPrefix || c.ArtifactMaxSize != want.ArtifactMaxSize ||
		c.HealthCheck.ExpectedStatus != 200 || c.HealthCheck.Timeout != defaultHealthTimeout || c.Candidate.ReadyTimeout != defaultReady {
		t.Errorf("got %+v", c)
	}
	if c.HasData() {
		t.Error("mode none has no data")
	}
}

// edit applies a textual replacement to the example so each case states
// only what it breaks.
func edit(t *testing.T, old, new string) []byte {
	t.Helper()
	return editFile(t, eipExampleFile, old, new)
}

// editFile is the example config name with old replaced by new once.
func editFile(t *testing.T, name, old, new string) []byte {
	t.Helper()
	b := string(exampleFile(t, name))
	if !strings.Contains(b, old) {
		t.Fatalf("%s has no %q", name, old)
	}
	return []byte(strings.Replace(b, old, new, 1))
}

func TestConfigProblems(t *testing.T) {
	tests := []struct {
		name string
		in   func(t *testing.T) []byte
		want []string // each must appear as a whole problem line prefix
	}{
		{"empty file", func(*testing.T) []byte { return nil }, []string{"(top level): the file is empty"}},
		{"only spaces", func(*testing.T) []byte { return []byte(" \n\t") }, []string{"(top level): the file is empty"}},
		{"malformed", func(*testing.T) []byte { return []byte("{\n  \"app\": \"shop\",\n  \"live\": {\"x\" 1}\n}") },
			[]string{"(top level): is not valid JSON at line 3, column"}},
		{"truncated", func(*testing.T) []byte { return []byte(`{"app": "shop",`) }, []string{"(top level): is not valid JSON"}},
		{"not an object", func(*testing.T) []byte { return []byte(`[1,2]`) }, []string{"(top level): is an array, want object"}},
		{"null", func(*testing.T) []byte { return []byte(`null`) }, []string{"(top level): is null, want object"}},
		{"bad mode", func(t *testing.T) []byte { return edit(t, `"mode": "none"`, `"mode": "mvoe"`) },
			[]string{`data.mode: "mvoe" is not one of none, restore, move`}},
		{"unknown field with suggestion", func(t *testing.T) []byte { return edit(t, `"instanceType"`, `"instancetype"`) },
			[]string{`candidate.instancetype: is not a known field (did you mean "instanceType"?)`, "candidate.instanceType: is required"}},
		{"unknown top-level field", func(t *testing.T) []byte { return edit(t, `"app": "shop",`, `"app": "shop", "colour": "green",`) },
			[]string{"colour: is not a known field (known fields: app,"}},
		{"wrong types", func(t *testing.T) []byte {
			return edit(t, `"port": 8080`, `"port": "8080"`)
		}, []string{"healthCheck.port: is a string, want integer"}},
		{"several at once", func(t *testing.T) []byte {
			b := string(edit(t, `"retentionDays": 7`, `"retentionDays": 0`))
			b = strings.Replace(b, `"eipalloc-0a1b2c3d4e5f60718"`, `"eip-123"`, 1)
			b = strings.Replace(b, `"bakeTime": "5m"`, `"bakeTime": "5 minutes"`, 1)
			b = strings.Replace(b, `"path": "/healthz"`, `"path": "healthz"`, 1)
			return []byte(b)
		}, []string{
			`bakeTime: "5 minutes" is not valid (a duration such as`,
			`healthCheck.path: "healthz" is not valid`,
			`live.elasticIpAllocationId: "eip-123" is not valid (the allocation id of the Elastic IP`,
			`retentionDays: 0 is below the minimum 1`,
		}},
		{"array item path", func(t *testing.T) []byte {
			return edit(t, `["sg-0a1b2c3d4e5f60718"]`, `["sg-0a1b2c3d4e5f60718", "default"]`)
		},
			[]string{`candidate.securityGroupIds[1]: "default" is not valid (a security group id`}},
		{"no security groups", func(t *testing.T) []byte { return edit(t, `["sg-0a1b2c3d4e5f60718"]`, `[]`) },
			[]string{"candidate.securityGroupIds: has 0 item(s), needs at least 1"}},
		{"missing section", func(t *testing.T) []byte { return []byte(`{"app":"shop"}`) },
			[]string{"candidate: is required", "healthCheck: is required", "live: is required"}},
		{"neither ami nor parameter", func(t *testing.T) []byte { return edit(t, `"amiParameter": "/greenlight/shop/golden-ami",`, ``) },
			[]string{"candidate.ami: neither ami nor amiParameter is set"}},
		{"both ami and parameter", func(t *testing.T) []byte {
			return edit(t, `"amiParameter": "/greenlight/shop/golden-ami",`, `"amiParameter": "/greenlight/shop/golden-ami", "ami": "ami-0123456789abcdef0",`)
		}, []string{"candidate.amiParameter: both ami and amiParameter are set"}},
		{"data mode needs a device", func(t *testing.T) []byte {
			return edit(t, `"mode": "none",
    "device": "/dev/sdf",
    "mountPoint": "/var/lib/shop",`, `"mode": "move",`)
		}, []string{`data.device: is required when data.mode is "move"`, `data.mountPoint: is required when data.mode is "move"`}},
		{"schema and cross-field problems in one run", func(t *testing.T) []byte {
			b := edit(t, `"amiParameter": "/greenlight/shop/golden-ami",`, ``)
			return bytes.Replace(b, []byte(`"retentionDays": 7`), []byte(`"retentionDays": 0`), 1)
		}, []string{"candidate.ami: neither ami nor amiParameter is set", "retentionDays: 0 is below the minimum 1"}},
		{"duration out of range", func(t *testing.T) []byte { return edit(t, `"approvalTimeout": "24h"`, `"approvalTimeout": "30s"`) },
			[]string{"approvalTimeout: 30s is outside the allowed range (use between 1m0s and 168h0m0s)"}},
		{"duplicate smoke test names", func(t *testing.T) []byte { return edit(t, `"name": "version"`, `"name": "home page"`) },
			[]string{`smokeTests[1].name: "home page" is already the name of smokeTests[0]`}},
		{"smoke latency out of range", func(t *testing.T) []byte { return edit(t, `"maxLatency": "500ms"`, `"maxLatency": "5m"`) },
			[]string{"smokeTests[1].maxLatency: 5m0s is outside the allowed range"}},
		{"key id that is not an ARN", func(t *testing.T) []byte {
			return edit(t, `"app": "shop",`, `"app": "shop", "encryption": {"kmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},`)
		}, []string{`encryption.kmsKeyId: "1234abcd-12ab-34cd-56ef-1234567890ab" is not valid (a KMS key ARN`}},
		{"encryption without a key", func(t *testing.T) []byte { return edit(t, `"app": "shop",`, `"app": "shop", "encryption": {},`) },
			[]string{"encryption.kmsKeyId: is required"}},
		{"AWS managed key", func(t *testing.T) []byte {
			return edit(t, `"app": "shop",`, `"app": "shop", "encryption": {"kmsKeyId": "arn:aws:kms:eu-west-1:123456789012:alias/aws/ebs"},`)
		}, []string{"encryption.kmsKeyId: alias/aws/ebs is an AWS managed key (AWS managed keys need no grant"}},
		{"key in another region", func(t *testing.T) []byte {
			return edit(t, `"app": "shop",`, `"app": "shop", "region": "eu-west-1", "encryption": {"kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},`)
		}, []string{"encryption.kmsKeyId: the key is in us-east-1 but the stack deploys to eu-west-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(tt.in(t))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("want a *ConfigError, got %v", err)
			}
			var lines []string
			for _, p := range ce.Problems {
				lines = append(lines, p.String())
			}
			for _, w := range tt.want {
				found := false
				for _, l := range lines {
					if strings.HasPrefix(l, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing problem %q in:\n  %s", w, strings.Join(lines, "\n  "))
				}
			}
			if len(lines) < len(tt.want) {
				t.Errorf("want at least %d problems, got %d", len(tt.want), len(lines))
			}
		})
	}
}

func TestEncryptionConfig(t *testing.T) {
	c, err := ParseConfig(example(t))
	if err != nil || c.KMSKeyID() != "" {
		t.Fatalf("the example names no key: %q %v", c.KMSKeyID(), err)
	}
	for _, arn := range []string{
		"arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
		"arn:aws:kms:eu-west-1:123456789012:alias/shop-ebs",
	} {
		c, err := ParseConfig(edit(t, `"app": "shop",`, `"app": "shop", "region": "eu-west-1", "encryption": {"kmsKeyId": "`+arn+`"},`))
		if err != nil {
			t.Fatalf("%s: %v", arn, err)
		}
		k, ok := ParseKeyARN(c.KMSKeyID())
		if c.KMSKeyID() != arn || !ok || k.Region != "eu-west-1" || k.Account != "123456789012" || k.Partition != "aws" ||
			k.IsAlias() != strings.Contains(arn, ":alias/") {
			t.Errorf("%s: %q %+v %v", arn, c.KMSKeyID(), k, ok)
		}
	}
	for _, bad := range []string{"", "alias/shop", "arn:aws:kms:eu-west-1:123456789012:grant/x", "arn:aws:s3:::bucket"} {
		if _, ok := ParseKeyARN(bad); ok {
			t.Errorf("ParseKeyARN(%q) accepted it", bad)
		}
	}
}

func TestLoadConfigNamesTheFile(t *testing.T) {
	p := t.TempDir() + "/greenlight.json"
	if err := os.WriteFile(p, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+": 4 problem(s):") {
		t.Fatalf("got %v", err)
	}
	if _, err := LoadConfig(t.TempDir() + "/missing.json"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
}

func FuzzParseConfigNeverPanics(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"app":`))
	f.Add([]byte(`{"app":"a","live":{"elasticIpAllocationId":"eipalloc-12345678"},"candidate":{"ami":"ami-12345678","instanceType":"t3.micro","securityGroupIds":["sg-12345678"],"instanceProfile":"p"},"healthCheck":{"port":1,"path":"/"},"bakeTime":"99999999999h"}`))
	f.Add([]byte(`{"smokeTests":[{"maxLatency":"1ms1ms"}],"data":{"mode":null}}`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err == nil && c.App == "" {
			t.Fatalf("accepted a config without an app: %q", b)
		}
	})
}

// TestClientTokenFits: tokens stay within EC2's 64 characters for the
// longest release id, differ by purpose and by release, and keep a short
// release id readable.
func TestClientTokenFits(t *testing.T) {
	long := ReleaseID("a-very-long-application-name-31", "2026.12.03-build.4711-feature-branch", "b", "k", "v")
	other := ReleaseID("a-very-long-application-name-31", "2026.12.03-build.4711-feature-branch", "b", "k", "w")
	if len(long) != 63 {
		t.Fatalf("release id %q: %d characters, want 63", long, len(long))
	}
	seen := map[string]bool{}
	for _, id := range []string{long, other} {
		for _, purpose := range []string{"volume-test-copy", "volume-data"} {
			tok := ClientToken(id, purpose)
			if len(tok) > 64 || seen[tok] || !strings.HasSuffix(tok, "-"+purpose) {
				t.Errorf("ClientToken(%s, %s) = %q (%d characters, seen before %v)", id, purpose, tok, len(tok), seen[tok])
			}
			seen[tok] = true
		}
	}
	if got := ClientToken("shop-2-0-0-0123456789", "volume-data"); got != "shop-2-0-0-0123456789-volume-data" {
		t.Errorf("a short release id's token: %q", got)
	}
	if c := CommandComment(long, "unmount the stale copy"); len(c) > 100 {
		t.Errorf("comment of %d characters", len(c))
	}
}

// TestConfigurationReferenceCoversTheSchema: every field of the schema has
// a row in docs/configuration.md (the fields of an array's items are
// described in the array's row).
func TestConfigurationReferenceCoversTheSchema(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(configSchemaJSON, &schema); err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, props map[string]json.RawMessage)
	walk = func(prefix string, props map[string]json.RawMessage) {
		for name, raw := range props {
			if name == "$schema" {
				continue
			}
			path := prefix + name
			var sub struct {
				Properties map[string]json.RawMessage `json:"properties"`
			}
			if err := json.Unmarshal(raw, &sub); err != nil {
				t.Fatal(err)
			}
			if len(sub.Properties) > 0 {
				walk(path+".", sub.Properties)
				continue
			}
			if !bytes.Contains(doc, []byte("`"+path)) {
				t.Errorf("docs/configuration.md does not describe %s", path)
			}
		}
	}
	walk("", schema.Properties)
}
