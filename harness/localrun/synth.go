package localrun

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/aws/jsii-runtime-go"

	"github.com/greenlight/greenlight/infra"
	"github.com/greenlight/greenlight/internal/release"
)

// Stack is the synthesized greenlight stack as the local engine uses it.
type Stack struct {
	Template Template
	Release  *Machine
	// SwitchBack is the workflow of `greenlight rollback`.
	SwitchBack *Machine
	// Handlers maps function logical ids to handler names.
	Handlers map[string]string
	// Findings are cdk-nag's, for callers that want to refuse a dirty stack.
	Findings []string
}

// Synthesize builds the stack for cfg in-process (no CDK CLI) and takes the
// Release state machine out of the template. asset is the zipped bootstrap
// the functions reference; empty stands in a placeholder, since the local
// engine runs the handlers in-process and only the template's shape
// matters (`make local` then need not cross-compile the Lambda binary).
func Synthesize(tc Toolchain, cfg release.Config, asset string) (*Stack, error) {
	synthMu.Lock()
	defer synthMu.Unlock()
	key, err := synthKey(cfg, asset)
	if err != nil {
		return nil, err
	}
	if c, ok := synthCache[key]; ok {
		return parseStack(c.Template, c.Findings)
	}
	disk := synthDiskCache(tc, asset)
	if c, ok := disk.load(key); ok {
		synthCache[key] = c
		return parseStack(c.Template, c.Findings)
	}
	UsePinnedNode(tc)
	dir, err := os.MkdirTemp("", "greenlight-local-synth-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if asset == "" {
		placeholder, err := os.MkdirTemp("", "greenlight-local-asset-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(placeholder)
		if asset, err = infra.PlaceholderAsset(placeholder); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(asset); err != nil {
		return nil, fmt.Errorf("the Lambda asset %s is missing: run `make build`", asset)
	}
	syn, err := infra.Synth(dir, infra.Props{Config: cfg, Asset: asset})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(syn.Template)
	if err != nil {
		return nil, err
	}
	synthCache[key] = synthesized{Template: b, Findings: syn.Findings}
	disk.store(key, synthCache[key])
	return parseStack(b, syn.Findings)
}

// synthCache keeps each synthesized template by what it was made from:
// synthesis is deterministic, and the tests start dozens of environments
// with the same config, each a few seconds of jsii otherwise.
var synthCache = map[string]synthesized{}

// synthesized is a template and its findings, as kept in memory and on
// disk.
type synthesized struct {
	Template json.RawMessage `json:"template"`
	Findings []string        `json:"findings"`
}

// synthKey is what a synthesis depends on: the config and the asset (its
// path, size and time, so a rebuilt asset synthesizes afresh).
func synthKey(cfg release.Config, asset string) (string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	key := string(b) + "\x00" + asset
	if asset != "" {
		st, err := os.Stat(asset)
		if err != nil {
			return "", fmt.Errorf("the Lambda asset %s is missing: run `make build`", asset)
		}
		key += fmt.Sprintf("\x00%d\x00%d", st.Size(), st.ModTime().UnixNano())
	}
	return key, nil
}

// parseStack reads a synthesized template into the Stack the engine uses;
// each call gets its own copy.
func parseStack(b []byte, findings []string) (*Stack, error) {
	var tpl Template
	if err := json.Unmarshal(b, &tpl); err != nil {
		return nil, err
	}
	st := &Stack{Template: tpl, Handlers: tpl.Handlers(), Findings: append([]string(nil), findings...)}
	for _, id := range tpl.StateMachines() {
		m, err := tpl.Machine(id)
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasSuffix(m.StateMachineName, "-release"):
			st.Release = m
		case strings.HasSuffix(m.StateMachineName, "-rollback"):
			st.SwitchBack = m
		}
	}
	if st.Release == nil || st.SwitchBack == nil {
		return nil, fmt.Errorf("the stack lacks the release or the rollback state machine (it has %v)", tpl.StateMachines())
	}
	return st, nil
}

// synthMu serializes synthesis: the jsii runtime is one Node process per
// Go process and does not take concurrent requests, so environments
// started side by side (parallel tests) synthesize one after the other.
var synthMu sync.Mutex

// UsePinnedNode makes jsii run on the repository's pinned Node whatever is
// first on PATH. jsii prepares its Node process while Go packages
// initialize, before any code can set JSII_NODE, so the prepared (unused)
// process is closed and the next CDK call starts a fresh one.
func UsePinnedNode(tc Toolchain) {
	if os.Getenv("JSII_NODE") == tc.Node() {
		return
	}
	os.Setenv("JSII_NODE", tc.Node())
	os.Setenv("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
	jsii.Close()
}
