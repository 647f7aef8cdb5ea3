package localrun

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/greenlight/greenlight/infra"
	"github.com/greenlight/greenlight/internal/release"
)

// Stack is the synthesized greenlight stack as the local engine uses it.
type Stack struct {
	Template Template
	Release  *Machine
	// Handlers maps function logical ids to handler names.
	Handlers map[string]string
	// Findings are cdk-nag's, for callers that want to refuse a dirty stack.
	Findings []string
}

// Synthesize builds the stack for cfg in-process (no CDK CLI) and takes the
// Release state machine out of the template. asset is the zipped bootstrap
// the functions reference; root is the repository (for Node).
func Synthesize(tc Toolchain, cfg release.Config, asset string) (*Stack, error) {
	bin := filepath.Join(tc.Root, "node_modules", ".bin")
	os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	os.Setenv("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
	if _, err := os.Stat(asset); err != nil {
		return nil, fmt.Errorf("the Lambda asset %s is missing: run `make build`", asset)
	}
	dir, err := os.MkdirTemp("", "greenlight-local-synth-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	syn, err := infra.Synth(dir, infra.Props{Config: cfg, Asset: asset})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(syn.Template)
	if err != nil {
		return nil, err
	}
	var tpl Template
	if err := json.Unmarshal(b, &tpl); err != nil {
		return nil, err
	}
	machines := tpl.StateMachines()
	if len(machines) != 1 {
		return nil, fmt.Errorf("the stack has %d state machines, want 1", len(machines))
	}
	m, err := tpl.Machine(machines[0])
	if err != nil {
		return nil, err
	}
	return &Stack{Template: tpl, Release: m, Handlers: tpl.Handlers(), Findings: syn.Findings}, nil
}
