package infra_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/harness/sim"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
)

// TestIAMKMS holds the KMS grants to the KMS calls of the kms scenario
// (see runKMS): every function that created or attached a volume under the
// account's customer managed key had EC2 use it on its behalf, and those
// calls are allowed by the stack synthesized with encryption.kmsKeyId
// (TestIAMEvaluation decides them with the rest); the same calls are
// refused by the stack synthesized without it, which is what a real
// account does (the launch ends in Client.InternalError), and by a stack
// naming another key; naming the key by its alias is enough.
func TestIAMKMS(t *testing.T) {
	var o observed
	for _, s := range recorded(t) {
		if s.name == "kms" {
			o = s
		}
	}
	var calls []sim.Call
	used := map[string][]string{} // handler → KMS operations
	for _, c := range o.calls {
		if c.Service == sim.ServiceKMS {
			calls = append(calls, c)
			if !slices.Contains(used[c.Caller], c.Operation) {
				used[c.Caller] = append(used[c.Caller], c.Operation)
			}
		}
	}
	for _, h := range []string{registry.Launch, registry.TestData, registry.Cutover, registry.Rollback} {
		if !slices.Contains(used[h], "CreateGrant") || !slices.Contains(used[h], "Decrypt") {
			t.Errorf("in the kms scenario %s made KMS calls %v, want at least CreateGrant and Decrypt", h, used[h])
		}
	}
	for _, h := range []string{registry.Launch, registry.TestData} {
		if !slices.Contains(used[h], "GenerateDataKeyWithoutPlaintext") || !slices.Contains(used[h], "DescribeKey") {
			t.Errorf("in the kms scenario %s made KMS calls %v, want a new data key for the volume it created", h, used[h])
		}
	}
	for _, c := range calls {
		if c.Code != "" {
			t.Errorf("%s kms:%s failed with %s", c.Caller, c.Operation, c.Code)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// evaluate decides the scenario's KMS calls against o's policies.
	evaluate := func(t *testing.T, o observed) []string {
		o.calls = calls
		ev := newEvaluation()
		if err := ev.add(o, localWorld(o.config)); err != nil {
			t.Fatal(err)
		}
		return ev.run(t)
	}
	with := func(key string) release.Config {
		cfg := o.config
		cfg.Encryption = nil
		if key != "" {
			cfg.Encryption = &release.Encryption{KMSKeyID: key}
		}
		return cfg
	}
	// refusedAll wants every function's every KMS operation refused.
	refusedAll := func(t *testing.T, denied []string) {
		t.Helper()
		for h, ops := range used {
			for _, op := range ops {
				prefix := fmt.Sprintf("%s (kms) calls KMS %s: kms:%s on %s is ImplicitlyDenied", h, op, op, ebsKey)
				if !slices.ContainsFunc(denied, func(d string) bool { return strings.HasPrefix(d, prefix) }) {
					t.Errorf("not refused: %s…\ndenials:\n%s", prefix, strings.Join(denied, "\n"))
				}
			}
		}
	}

	t.Run("the key's ARN", func(t *testing.T) {
		for _, d := range evaluate(t, o) {
			t.Error(d)
		}
	})
	t.Run("its alias", func(t *testing.T) {
		for _, d := range evaluate(t, synthesize(t, o, with("arn:aws:kms:"+localrun.Region+":"+localrun.Account+":"+ebsKeyAlias))) {
			t.Error(d)
		}
	})
	t.Run("no encryption.kmsKeyId", func(t *testing.T) {
		refusedAll(t, evaluate(t, synthesize(t, o, with(""))))
	})
	t.Run("another key", func(t *testing.T) {
		refusedAll(t, evaluate(t, synthesize(t, o, with(strings.Replace(ebsKey, "1234abcd", "99999999", 1)))))
	})
	t.Run("another alias", func(t *testing.T) {
		refusedAll(t, evaluate(t, synthesize(t, o, with("arn:aws:kms:"+localrun.Region+":"+localrun.Account+":alias/other"))))
	})
}
