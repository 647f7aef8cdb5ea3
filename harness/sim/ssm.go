package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	documents "github.com/greenlight/greenlight/instance"
)

// SSM is the simulated Systems Manager API: agent registration, Run
// Command and parameters. It implements awsapi.SSM.
type SSM struct{ r *Region }

type parameter struct {
	name, value, dataType string
	version               int64
	modified              time.Time
}

type command struct {
	id, document, comment string
	kind                  DocumentKind
	params                map[string][]string
	requested             time.Time
	timeout               int32
	instanceIDs           []string
	invocations           map[string]*invocation
	caller                string
}

type invocation struct {
	instanceID     string
	sent, visible  time.Time
	start          time.Time // the script starts (Pending → InProgress)
	claimed, done  bool
	outcome        Outcome
	details        string // StatusDetails once done
	end            time.Time
	executionStart time.Time
}

// checkParameters applies a document's parameter declarations (from the
// instance package, the documents the stack deploys) the way SSM does:
// unknown or missing parameters, or a value outside a parameter's
// allowedPattern, refuse the command with InvalidParameters.
func checkParameters(kind DocumentKind, params map[string][]string) error {
	doc, ok := documents.Lookup(string(kind))
	if !ok {
		return apiError(ServiceSSM, "InvalidDocument", "")
	}
	flat := map[string]string{}
	for name, values := range params {
		if len(values) != 1 {
			return apiError(ServiceSSM, "InvalidParameters", "")
		}
		flat[name] = values[0]
	}
	if _, err := doc.Resolve(flat); err != nil {
		// SSM sends this code with an empty message.
		return apiError(ServiceSSM, "InvalidParameters", "")
	}
	return nil
}

// PutParameter stores a String parameter (outside the API: the fixture
// and tests use it).
func (r *Region) PutParameter(name, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.putParameter(name, value, "text")
}

// DeleteParameter removes a parameter, as an operator might by mistake.
func (r *Region) DeleteParameter(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.parameters, name)
}

func (r *Region) putParameter(name, value, dataType string) {
	p, ok := r.parameters[name]
	if !ok {
		p = &parameter{name: name}
		r.parameters[name] = p
	}
	p.value, p.dataType, p.modified = value, dataType, r.now()
	p.version++
}

// GetParameter reads a parameter; an unknown name is ParameterNotFound.
func (s *SSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return call(ctx, s.r, ServiceSSM, "GetParameter", in, func(string) (*ssm.GetParameterOutput, error) {
		r := s.r
		if in.Name == nil {
			return nil, paramRequired("GetParameterInput", "Name")
		}
		p, ok := r.parameters[*in.Name]
		if !ok {
			// SSM sends this code with an empty message.
			return nil, apiError(ServiceSSM, "ParameterNotFound", "")
		}
		arnName := strings.TrimPrefix(p.name, "/")
		return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{
			Name: aws.String(p.name), Value: aws.String(p.value), Type: ssmtypes.ParameterTypeString,
			Version: p.version, DataType: aws.String(p.dataType), LastModifiedDate: aws.Time(p.modified),
			ARN: aws.String(r.arn("ssm", "parameter/"+arnName)),
		}}, nil
	})
}

// DescribeInstanceInformation lists instances whose agent has registered:
// Online while the agent runs (from Latencies.SSMOnline after running),
// ConnectionLost once the instance stops. Filters: InstanceIds,
// PingStatus, ResourceType, PlatformTypes.
func (s *SSM) DescribeInstanceInformation(ctx context.Context, in *ssm.DescribeInstanceInformationInput, _ ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error) {
	return call(ctx, s.r, ServiceSSM, "DescribeInstanceInformation", in, func(string) (*ssm.DescribeInstanceInformationOutput, error) {
		r := s.r
		filters := map[string][]string{}
		for _, f := range in.Filters {
			filters[aws.ToString(f.Key)] = append(filters[aws.ToString(f.Key)], f.Values...)
		}
		for _, f := range in.InstanceInformationFilterList {
			filters[string(f.Key)] = append(filters[string(f.Key)], f.ValueSet...)
		}
		for k := range filters {
			switch k {
			case "InstanceIds", "PingStatus", "ResourceType", "PlatformTypes":
			default:
				return nil, apiError(ServiceSSM, "InvalidFilterKey", "")
			}
		}
		now := r.now()
		out := &ssm.DescribeInstanceInformationOutput{}
		for _, id := range r.instanceOrder {
			i := r.instances[id]
			online := i.agentOnline(now, r.lat)
			if online {
				i.agentSeen = true
			}
			if !i.agentSeen || i.state == stateTerminated {
				continue
			}
			ping := ssmtypes.PingStatusOnline
			last := now
			if !online {
				ping, last = ssmtypes.PingStatusConnectionLost, i.stateAt
			}
			values := map[string]string{"InstanceIds": i.id, "PingStatus": string(ping), "ResourceType": "EC2Instance", "PlatformTypes": "Linux"}
			keep := true
			for k, want := range filters {
				keep = keep && slices.Contains(want, values[k])
			}
			if !keep {
				continue
			}
			out.InstanceInformationList = append(out.InstanceInformationList, ssmtypes.InstanceInformation{
				InstanceId: aws.String(i.id), PingStatus: ping, LastPingDateTime: aws.Time(last),
				AgentVersion: aws.String("3.3.1142.0"), IsLatestVersion: aws.Bool(false),
				PlatformType: ssmtypes.PlatformTypeLinux, PlatformName: aws.String("Amazon Linux"), PlatformVersion: aws.String("2023"),
				ResourceType: ssmtypes.ResourceTypeEc2Instance, IPAddress: aws.String(i.privateIP),
				ComputerName: aws.String("ip-" + strings.ReplaceAll(i.privateIP, ".", "-") + "." + r.opts.Region + ".compute.internal"),
			})
		}
		return out, nil
	})
}

// SendCommand runs one of greenlight's documents on instances whose
// agent is Online (else InvalidInstanceId). Each invocation is
// InvocationDoesNotExist for Latencies.InvocationNotFound, Pending until
// Latencies.CommandDelivery, when the Executor runs it, InProgress until
// Latencies.CommandOverhead + its run time, then Success, Failed or
// TimedOut.
func (s *SSM) SendCommand(ctx context.Context, in *ssm.SendCommandInput, _ ...func(*ssm.Options)) (*ssm.SendCommandOutput, error) {
	return call(ctx, s.r, ServiceSSM, "SendCommand", in, func(caller string) (*ssm.SendCommandOutput, error) {
		r := s.r
		if in.DocumentName == nil {
			return nil, paramRequired("SendCommandInput", "DocumentName")
		}
		if len(in.Targets) > 0 || len(in.InstanceIds) == 0 {
			return nil, errors.New("sim: SendCommand is simulated for InstanceIds only, not Targets")
		}
		kind, ok := r.documentKind(*in.DocumentName)
		if !ok {
			return nil, apiError(ServiceSSM, "InvalidDocument", "")
		}
		if err := checkParameters(kind, in.Parameters); err != nil {
			return nil, err
		}
		now := r.now()
		var offline []string
		for _, id := range in.InstanceIds {
			if i, ok := r.instances[id]; !ok || !i.agentOnline(now, r.lat) {
				offline = append(offline, id)
			}
		}
		if len(offline) > 0 {
			return nil, apiErrorf(ServiceSSM, "InvalidInstanceId", "Instances [[%s]] not in a valid state for account %s", strings.Join(offline, ", "), r.opts.Account)
		}
		c := &command{
			id: r.uuid(), document: *in.DocumentName, kind: kind, comment: aws.ToString(in.Comment),
			params: maps.Clone(in.Parameters), requested: now, timeout: aws.ToInt32(in.TimeoutSeconds),
			instanceIDs: slices.Clone(in.InstanceIds), invocations: map[string]*invocation{}, caller: caller,
		}
		if c.timeout == 0 {
			c.timeout = 3600
		}
		for _, id := range c.instanceIDs {
			c.invocations[id] = &invocation{
				instanceID: id, sent: now, visible: now.Add(r.lat.InvocationNotFound), start: now.Add(r.lat.CommandDelivery),
			}
		}
		r.commands[c.id] = c
		r.commandOrder = append(r.commandOrder, c.id)
		return &ssm.SendCommandOutput{Command: &ssmtypes.Command{
			CommandId: aws.String(c.id), DocumentName: aws.String(c.document), DocumentVersion: aws.String("$DEFAULT"),
			Parameters: maps.Clone(c.params), InstanceIds: slices.Clone(c.instanceIDs), Comment: aws.String(c.comment),
			Status: ssmtypes.CommandStatusPending, RequestedDateTime: aws.Time(now), TimeoutSeconds: aws.Int32(c.timeout),
			TargetCount: int32(len(c.instanceIDs)), ExpiresAfter: aws.Time(now.Add(time.Duration(c.timeout) * time.Second)),
		}}, nil
	})
}

// GetCommandInvocation reports one invocation's status and output.
func (s *SSM) GetCommandInvocation(ctx context.Context, in *ssm.GetCommandInvocationInput, _ ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error) {
	// Commands whose time has come run first, as they would have on the
	// instance by now.
	s.r.runDueCommands(ctx)
	return call(ctx, s.r, ServiceSSM, "GetCommandInvocation", in, func(string) (*ssm.GetCommandInvocationOutput, error) {
		r := s.r
		if m := missing(map[string]bool{"CommandId": in.CommandId != nil, "InstanceId": in.InstanceId != nil}); len(m) > 0 {
			return nil, paramRequired("GetCommandInvocationInput", m...)
		}
		now := r.now()
		c, ok := r.commands[*in.CommandId]
		var inv *invocation
		if ok {
			inv = c.invocations[*in.InstanceId]
		}
		if inv == nil || now.Before(inv.visible) {
			// SSM sends this code with an empty message.
			return nil, apiError(ServiceSSM, "InvocationDoesNotExist", "")
		}
		out := &ssm.GetCommandInvocationOutput{
			CommandId: aws.String(c.id), InstanceId: aws.String(inv.instanceID), DocumentName: aws.String(c.document),
			DocumentVersion: aws.String("$DEFAULT"), Comment: aws.String(c.comment), PluginName: aws.String("aws:runShellScript"),
			ResponseCode: -1, StandardOutputContent: aws.String(""), StandardErrorContent: aws.String(""),
		}
		status, details := ssmtypes.CommandInvocationStatusPending, "Pending"
		switch {
		case !now.Before(inv.start) && (!inv.done || now.Before(inv.end)):
			status, details = ssmtypes.CommandInvocationStatusInProgress, "InProgress"
		case inv.done && !now.Before(inv.end):
			status, details = inv.outcome.Status, inv.details
			out.ResponseCode = inv.outcome.ResponseCode
			out.StandardOutputContent = aws.String(truncate(inv.outcome.Stdout))
			out.StandardErrorContent = aws.String(truncate(inv.outcome.Stderr))
			out.ExecutionEndDateTime = aws.String(ssmTime(inv.end))
			out.ExecutionElapsedTime = aws.String(fmt.Sprintf("PT%.3fS", inv.end.Sub(inv.executionStart).Seconds()))
		}
		if !now.Before(inv.start) {
			out.ExecutionStartDateTime = aws.String(ssmTime(inv.start))
		}
		out.Status, out.StatusDetails = status, aws.String(details)
		return out, nil
	})
}

// ssmTime is how SSM writes times in GetCommandInvocation.
func ssmTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// truncate keeps the first 24,000 characters of command output, as
// GetCommandInvocation does.
func truncate(s string) string {
	const limit = 24000
	if len(s) > limit {
		return s[:limit]
	}
	return s
}

// runDueCommands runs, oldest first, every invocation whose script should
// have started by now. The executor runs without the region's lock, so it
// may fetch artifacts and change the instance through its Host.
func (r *Region) runDueCommands(ctx context.Context) {
	for {
		r.mu.Lock()
		r.settle()
		c, inv := r.nextDueInvocation()
		if inv == nil {
			r.mu.Unlock()
			return
		}
		inv.claimed = true
		i := r.instances[inv.instanceID]
		deliverable := i != nil && i.agentOnline(r.now(), r.lat)
		injected, faulted := r.commandFault(c.document, c.kind, inv.instanceID)
		r.mu.Unlock()

		var out Outcome
		details := ""
		switch {
		case !deliverable:
			out = Outcome{Status: ssmtypes.CommandInvocationStatusFailed, ResponseCode: -1}
			details = "Undeliverable"
		case faulted:
			out = injected
		default:
			out = r.exec.Execute(ctx, Invocation{
				CommandID: c.id, InstanceID: inv.instanceID, DocumentName: c.document, Kind: c.kind,
				Parameters: maps.Clone(c.params), Host: r.Host(inv.instanceID),
			})
		}
		if out.Status == "" {
			out.Status = ssmtypes.CommandInvocationStatusFailed
		}
		if details == "" {
			details = string(out.Status)
			if out.Status == ssmtypes.CommandInvocationStatusTimedOut {
				details = "ExecutionTimedOut"
			}
		}

		r.mu.Lock()
		inv.done, inv.outcome, inv.details = true, out, details
		inv.executionStart = inv.start
		inv.end = inv.sent.Add(r.lat.CommandOverhead + out.Duration)
		r.mu.Unlock()
	}
}

// nextDueInvocation is the oldest invocation due to start and not yet
// taken. Called with r.mu held.
func (r *Region) nextDueInvocation() (*command, *invocation) {
	now := r.now()
	var bestC *command
	var best *invocation
	for _, id := range r.commandOrder {
		c := r.commands[id]
		for _, iid := range c.instanceIDs {
			inv := c.invocations[iid]
			if inv.claimed || inv.start.After(now) {
				continue
			}
			if best == nil || inv.start.Before(best.start) {
				bestC, best = c, inv
			}
		}
	}
	return bestC, best
}

// Command is what SendCommand recorded, for assertions.
type Command struct {
	ID           string
	DocumentName string
	Kind         DocumentKind
	Parameters   map[string][]string
	InstanceIDs  []string
	Caller       string
	At           time.Time
}

// Commands returns every command sent, oldest first.
func (r *Region) Commands() []Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Command
	for _, id := range r.commandOrder {
		c := r.commands[id]
		out = append(out, Command{ID: c.id, DocumentName: c.document, Kind: c.kind, Parameters: maps.Clone(c.params),
			InstanceIDs: slices.Clone(c.instanceIDs), Caller: c.caller, At: c.requested})
	}
	return out
}
