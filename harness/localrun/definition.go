package localrun

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Placeholders the local engine gives the template's pseudo parameters.
const (
	Partition = "aws"
	Region    = "eu-west-1"
	Account   = "123456789012"
)

// Machine is a state machine definition ready for the runner: intrinsic
// functions resolved, and every Task state mapped to the handler serving it.
type Machine struct {
	// Name is the state machine's logical id in the template.
	Name string
	// StateMachineName is its name in AWS.
	StateMachineName string
	// Definition is the ASL document.
	Definition map[string]any
	// Tasks maps each Task state to how it is served.
	Tasks map[string]TaskSpec
	// Waits holds every Wait state, for the runner to time on the
	// simulated clock.
	Waits map[string]map[string]any
	// Retrying lists the states with a Retry field.
	Retrying []string
}

// Integrations: how a Task state calls its Lambda function.
const (
	Direct   = "direct"   // Resource is the function ARN
	Invoke   = "invoke"   // arn:aws:states:::lambda:invoke
	Callback = "callback" // arn:aws:states:::lambda:invoke.waitForTaskToken
)

// TaskSpec says how the runner serves one Task state.
type TaskSpec struct {
	Function         string `json:"function"` // handler name
	Integration      string `json:"integration"`
	TimeoutSeconds   int    `json:"timeoutSeconds,omitempty"`
	HeartbeatSeconds int    `json:"heartbeatSeconds,omitempty"`
}

// TaskStates lists the Task states in a stable order: the ones --fail-at
// accepts.
func (m *Machine) TaskStates() []string {
	var out []string
	for name := range m.Tasks {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Template is a synthesized CloudFormation template.
type Template map[string]any

func (t Template) resources() map[string]map[string]any {
	out := map[string]map[string]any{}
	rs, _ := t["Resources"].(map[string]any)
	for id, r := range rs {
		if m, ok := r.(map[string]any); ok {
			out[id] = m
		}
	}
	return out
}

// FunctionARN is the ARN the local engine gives a function by handler name.
func FunctionARN(handler string) string {
	return fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", Partition, Region, Account, handler)
}

// Handlers maps each Lambda function's logical id to its handler name.
func (t Template) Handlers() map[string]string {
	out := map[string]string{}
	for id, r := range t.resources() {
		if r["Type"] != "AWS::Lambda::Function" {
			continue
		}
		props, _ := r["Properties"].(map[string]any)
		if h, ok := props["Handler"].(string); ok {
			out[id] = h
		}
	}
	return out
}

// Timeouts are the handlers' function timeouts, from the template (Lambda's
// default of 3 s where it sets none).
func (t Template) Timeouts() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, r := range t.resources() {
		if r["Type"] != "AWS::Lambda::Function" {
			continue
		}
		props, _ := r["Properties"].(map[string]any)
		h, ok := props["Handler"].(string)
		if !ok {
			continue
		}
		out[h] = 3 * time.Second
		if s, ok := props["Timeout"].(float64); ok {
			out[h] = time.Duration(s * float64(time.Second))
		}
	}
	return out
}

// InVPC lists the handlers whose function the template attaches to a VPC
// (VpcConfig with subnets): the simulated region gives them the network
// path such a function has (sim.Options.FunctionsInVPC). Never nil.
func (t Template) InVPC() []string {
	out := []string{}
	for id, r := range t.resources() {
		if r["Type"] != "AWS::Lambda::Function" {
			continue
		}
		props, _ := r["Properties"].(map[string]any)
		vpc, _ := props["VpcConfig"].(map[string]any)
		if subnets, _ := vpc["SubnetIds"].([]any); len(subnets) > 0 {
			if h, ok := t.Handlers()[id]; ok {
				out = append(out, h)
			}
		}
	}
	sort.Strings(out)
	return out
}

// StateMachines lists the logical ids of the template's state machines.
func (t Template) StateMachines() []string {
	var out []string
	for id, r := range t.resources() {
		if r["Type"] == "AWS::StepFunctions::StateMachine" {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Machine takes a state machine's definition out of the template, resolves
// its intrinsic functions against the local engine's names, and maps each
// Task to its handler.
func (t Template) Machine(logicalID string) (*Machine, error) {
	r, ok := t.resources()[logicalID]
	if !ok || r["Type"] != "AWS::StepFunctions::StateMachine" {
		return nil, fmt.Errorf("template has no state machine %q (it has %v)", logicalID, t.StateMachines())
	}
	props, _ := r["Properties"].(map[string]any)
	raw, ok := props["DefinitionString"]
	if !ok {
		return nil, fmt.Errorf("state machine %s has no DefinitionString", logicalID)
	}
	resolved, err := t.resolve(raw)
	if err != nil {
		return nil, fmt.Errorf("state machine %s: %w", logicalID, err)
	}
	text, ok := resolved.(string)
	if !ok {
		return nil, fmt.Errorf("state machine %s: DefinitionString resolves to %T, not a string", logicalID, resolved)
	}
	if subs, ok := props["DefinitionSubstitutions"].(map[string]any); ok {
		for k, v := range subs {
			rv, err := t.resolve(v)
			if err != nil {
				return nil, fmt.Errorf("state machine %s: substitution %s: %w", logicalID, k, err)
			}
			text = strings.ReplaceAll(text, "${"+k+"}", fmt.Sprint(rv))
		}
	}
	var def map[string]any
	if err := json.Unmarshal([]byte(text), &def); err != nil {
		return nil, fmt.Errorf("state machine %s: definition is not JSON: %w", logicalID, err)
	}
	m, err := Analyze(logicalID, def)
	if err != nil {
		return nil, err
	}
	m.StateMachineName, _ = props["StateMachineName"].(string)
	return m, nil
}

// resolve evaluates the intrinsic functions CDK puts in a definition:
// Fn::Join, Fn::GetAtt, Ref, Fn::Sub without variables map, Fn::Select.
func (t Template) resolve(v any) (any, error) {
	switch x := v.(type) {
	case string, float64, bool, nil:
		return x, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := t.resolve(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				switch k {
				case "Fn::Join":
					return t.join(arg)
				case "Fn::GetAtt":
					return t.getAtt(arg)
				case "Ref":
					return t.ref(arg)
				case "Fn::Select":
					return t.selectFn(arg)
				}
				if strings.HasPrefix(k, "Fn::") {
					return nil, fmt.Errorf("intrinsic %s is not supported by the local engine", k)
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			r, err := t.resolve(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected template value %T", v)
}

func (t Template) join(arg any) (any, error) {
	a, ok := arg.([]any)
	if !ok || len(a) != 2 {
		return nil, fmt.Errorf("Fn::Join wants [separator, [values]], got %v", arg)
	}
	sep, _ := a[0].(string)
	parts, err := t.resolve(a[1])
	if err != nil {
		return nil, err
	}
	list, ok := parts.([]any)
	if !ok {
		return nil, fmt.Errorf("Fn::Join values are not a list: %v", parts)
	}
	strs := make([]string, len(list))
	for i, p := range list {
		strs[i] = fmt.Sprint(p)
	}
	return strings.Join(strs, sep), nil
}

func (t Template) selectFn(arg any) (any, error) {
	a, ok := arg.([]any)
	if !ok || len(a) != 2 {
		return nil, fmt.Errorf("Fn::Select wants [index, list], got %v", arg)
	}
	idx, err := t.resolve(a[0])
	if err != nil {
		return nil, err
	}
	list, err := t.resolve(a[1])
	if err != nil {
		return nil, err
	}
	l, ok := list.([]any)
	var i int
	switch n := idx.(type) {
	case float64:
		i = int(n)
	case string:
		_, err = fmt.Sscan(n, &i)
	}
	if !ok || err != nil || i < 0 || i >= len(l) {
		return nil, fmt.Errorf("Fn::Select %v out of %v", idx, list)
	}
	return l[i], nil
}

func (t Template) getAtt(arg any) (any, error) {
	a, ok := arg.([]any)
	if !ok || len(a) != 2 {
		return nil, fmt.Errorf("Fn::GetAtt wants [resource, attribute], got %v", arg)
	}
	id, _ := a[0].(string)
	attr, _ := a[1].(string)
	r, ok := t.resources()[id]
	if !ok {
		return nil, fmt.Errorf("Fn::GetAtt of unknown resource %s", id)
	}
	if r["Type"] == "AWS::Lambda::Function" && attr == "Arn" {
		h, ok := t.Handlers()[id]
		if !ok {
			return nil, fmt.Errorf("function %s has no Handler", id)
		}
		return FunctionARN(h), nil
	}
	return fmt.Sprintf("arn:%s:local:%s:%s:%s/%s", Partition, Region, Account, id, attr), nil
}

func (t Template) ref(arg any) (any, error) {
	name, _ := arg.(string)
	switch name {
	case "AWS::Partition":
		return Partition, nil
	case "AWS::Region":
		return Region, nil
	case "AWS::AccountId":
		return Account, nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::StackName":
		return "local", nil
	}
	if h, ok := t.Handlers()[name]; ok {
		return h, nil // a function's Ref is its name
	}
	if _, ok := t.resources()[name]; ok {
		return name, nil
	}
	return nil, fmt.Errorf("unknown Ref %s", name)
}

// Analyze maps the Task and Wait states of a definition (including those
// inside Parallel branches and Map iterators).
func Analyze(name string, def map[string]any) (*Machine, error) {
	m := &Machine{Name: name, Definition: def, Tasks: map[string]TaskSpec{}, Waits: map[string]map[string]any{}}
	if err := m.walk(def); err != nil {
		return nil, err
	}
	sort.Strings(m.Retrying)
	return m, nil
}

func (m *Machine) walk(graph map[string]any) error {
	states, _ := graph["States"].(map[string]any)
	for name, s := range states {
		st, _ := s.(map[string]any)
		if _, dup := m.Tasks[name]; dup {
			return fmt.Errorf("state name %q is used twice", name)
		}
		if _, dup := m.Waits[name]; dup {
			return fmt.Errorf("state name %q is used twice", name)
		}
		if _, ok := st["Retry"]; ok {
			m.Retrying = append(m.Retrying, name)
		}
		switch st["Type"] {
		case "Task":
			spec, err := taskSpec(name, st)
			if err != nil {
				return err
			}
			m.Tasks[name] = spec
		case "Wait":
			m.Waits[name] = st
		case "Parallel":
			branches, _ := st["Branches"].([]any)
			for _, b := range branches {
				if err := m.walk(b.(map[string]any)); err != nil {
					return err
				}
			}
		case "Map":
			for _, key := range []string{"ItemProcessor", "Iterator"} {
				if it, ok := st[key].(map[string]any); ok {
					if err := m.walk(it); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func taskSpec(name string, st map[string]any) (TaskSpec, error) {
	res, _ := st["Resource"].(string)
	spec := TaskSpec{}
	if n, ok := st["TimeoutSeconds"].(float64); ok {
		spec.TimeoutSeconds = int(n)
	}
	if n, ok := st["HeartbeatSeconds"].(float64); ok {
		spec.HeartbeatSeconds = int(n)
	}
	params, _ := st["Parameters"].(map[string]any)
	switch {
	case strings.HasSuffix(res, ":states:::lambda:invoke"):
		spec.Integration = Invoke
	case strings.HasSuffix(res, ":states:::lambda:invoke.waitForTaskToken"):
		spec.Integration = Callback
	case strings.Contains(res, ":lambda:") && strings.Contains(res, ":function:"):
		spec.Integration = Direct
		spec.Function = handlerOf(res)
		return spec, nil
	default:
		return spec, fmt.Errorf("task %s: resource %q is not a Lambda function; the local engine serves Lambda tasks only", name, res)
	}
	fn, _ := params["FunctionName"].(string)
	if fn == "" {
		return spec, fmt.Errorf("task %s: no FunctionName in Parameters", name)
	}
	spec.Function = handlerOf(fn)
	return spec, nil
}

// handlerOf takes the handler name out of a function ARN (or name, with an
// optional :qualifier).
func handlerOf(arn string) string {
	if i := strings.Index(arn, ":function:"); i >= 0 {
		arn = arn[i+len(":function:"):]
	}
	if i := strings.Index(arn, ":"); i >= 0 {
		arn = arn[:i]
	}
	return arn
}

// TokenPlaceholder is what $$.Task.Token holds in the Context Object; the
// runner swaps in a fresh token for each callback task.
const TokenPlaceholder = "greenlight-task-token-placeholder"

// ARN is the ARN the local engine gives the state machine.
func (m *Machine) ARN() string {
	return fmt.Sprintf("arn:%s:states:%s:%s:stateMachine:%s", Partition, Region, Account, m.awsName())
}

func (m *Machine) awsName() string {
	if m.StateMachineName != "" {
		return m.StateMachineName
	}
	return m.Name
}

// ExecutionARN is the ARN the local engine gives an execution.
func (m *Machine) ExecutionARN(name string) string {
	return fmt.Sprintf("arn:%s:states:%s:%s:execution:%s:%s", Partition, Region, Account, m.awsName(), name)
}

// Job builds the runner's job for one execution of the machine.
func (m *Machine) Job(name string, input any, start time.Time) *Job {
	waits := map[string]any{}
	for k, v := range m.Waits {
		waits[k] = v
	}
	return &Job{
		Name:       name,
		Definition: m.Definition,
		Input:      input,
		Context: map[string]any{
			"Execution": map[string]any{
				"Id":        m.ExecutionARN(name),
				"Name":      name,
				"StartTime": start.UTC().Format(time.RFC3339Nano),
			},
			"StateMachine": map[string]any{
				"Id":   m.ARN(),
				"Name": m.awsName(),
			},
			"Task": map[string]any{"Token": TokenPlaceholder},
		},
		Tasks: m.Tasks,
		Waits: waits,
		// Never null: the runner iterates it (a machine may retry nothing).
		Retrying: append([]string{}, m.Retrying...),
	}
}
