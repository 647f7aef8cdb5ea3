package statemachine_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/greenlight/greenlight/harness/localrun"
	"github.com/greenlight/greenlight/internal/release"
	"github.com/greenlight/greenlight/lambdas/registry"
)

// TestHandlersRefuseIncompleteDocuments invokes every step with documents
// that lack what the workflow would have filled before it (as a step
// invoked by hand, or a hand-edited redrive, would): each must fail with
// StepFailed naming what is missing, never crash, and change nothing in
// AWS.
func TestHandlersRefuseIncompleteDocuments(t *testing.T) {
	env := localrun.NewTestEnv(t, localrun.Options{}, withData(release.DataRestore))
	ctx := ctxT(t)
	cfg, err := json.Marshal(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	// Identified, with its config, and nothing else.
	bare := fmt.Sprintf(`{"releaseId":"shop-9-9-9-0000000000","app":%q,"version":"9.9.9","config":%s}`, env.Config.App, cfg)
	// Steps that act on any identified release: the rejection record and
	// the rollback, which must work from whatever point a release failed.
	anyPoint := map[string]bool{registry.Reject: true, registry.Rollback: true, registry.Abandon: true}
	stepFailed := release.Name(release.StepFailed{})
	for _, e := range registry.All() { // the host serves every handler, whatever the stack has
		if e.Name == registry.Start || e.Name == registry.Retire || e.Name == registry.Watch || e.Name == registry.Prepare || e.Name == registry.SwitchBack || e.Name == registry.ApprovalPage {
			continue // they take events or requests, refused by their own tests
		}
		docs := map[string]string{"empty": `{}`, "bare": bare}
		if anyPoint[e.Name] {
			delete(docs, "bare")
		}
		for what, doc := range docs {
			in := doc
			if e.Name == registry.Approval {
				in = `{"token":"t","release":` + doc + `}`
			}
			before := inventory(env)
			out, err := env.Invoke(ctx, e.Name, []byte(in))
			if err == nil || !strings.Contains(err.Error(), stepFailed+": the release document lacks") {
				t.Errorf("%s with the %s document: %s %v; want %s naming what is missing", e.Name, what, out, err, stepFailed)
			}
			if after := inventory(env); after != before {
				t.Errorf("%s with the %s document changed AWS:\n%s", e.Name, what, diff(before, after))
			}
		}
	}
}

func inventory(env *localrun.Env) string {
	var lines []string
	for _, r := range env.Region.Inventory() {
		lines = append(lines, fmt.Sprintf("%+v", r))
	}
	return strings.Join(lines, "\n")
}
