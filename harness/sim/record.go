package sim

import (
	"context"
	"maps"
	"reflect"
	"sort"
	"time"
)

type callerKey struct{}

// WithCaller names who makes the AWS calls made with ctx: the step
// handler's name, so the record shows which Lambda called what (and the
// IAM policy of each function can be checked against it).
func WithCaller(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, callerKey{}, name)
}

// CallerFrom is the name WithCaller put in ctx, or "".
func CallerFrom(ctx context.Context) string {
	s, _ := ctx.Value(callerKey{}).(string)
	return s
}

// IAMPrefix is each simulated service's IAM action prefix: a call's
// action is IAMPrefix[Service] + ":" + Operation, unless IAM authorizes
// it as more.
var IAMPrefix = map[string]string{
	ServiceEC2: "ec2", ServiceSSM: "ssm", ServiceScheduler: "scheduler", ServiceSNS: "sns",
	ServiceSFN: "states", ServiceS3: "s3", ServiceDynamoDB: "dynamodb", ServiceKMS: "kms",
	ServiceELB: "elasticloadbalancing", ServiceCloudWatch: "cloudwatch", ServiceSecrets: "secretsmanager",
	ServiceIAM: "iam",
}

// Call is one API call the region answered.
type Call struct {
	Caller    string
	Service   string // ServiceEC2, ServiceSSM …
	Operation string // "RunInstances"
	Code      string // the error code returned, "" on success
	At        time.Time
	// Latency is the modelled duration of the call itself where the
	// latency table gives one (RunInstances); the region does not block
	// on it, the local engine may charge it to the caller.
	Latency time.Duration
	// Versioned says an S3 read named an object version (VersionId):
	// IAM then authorizes it as s3:GetObjectVersion as well.
	Versioned bool
	// Input is the request: the SDK input struct the caller passed
	// (*ec2.RunInstancesInput, *s3.GetObjectInput …). Treat it as read-only.
	Input any
	// Tags holds, for every EC2 resource the request names by id (an
	// instance, volume, snapshot, image, Elastic IP or subnet the region
	// has), its tags as they were when the call arrived, before the call
	// changed them: what IAM sees as aws:ResourceTag. Nil when the request
	// names none.
	Tags map[string]map[string]string
}

// namedTags takes the tags of every EC2 resource whose id appears
// anywhere in a request's input. Called with r.mu held.
func (r *Region) namedTags(in any) map[string]map[string]string {
	var out map[string]map[string]string
	eachString(reflect.ValueOf(in), func(id string) {
		t, ok := r.tagSetOf(id)
		if !ok {
			return
		}
		if out == nil {
			out = map[string]map[string]string{}
		}
		out[id] = maps.Clone(map[string]string(t))
		if out[id] == nil {
			out[id] = map[string]string{}
		}
	})
	return out
}

// tagSetOf finds an EC2 resource by id, whatever its state.
func (r *Region) tagSetOf(id string) (tagSet, bool) {
	if i, ok := r.instances[id]; ok {
		return i.tags, true
	}
	if v, ok := r.volumes[id]; ok {
		return v.tags, true
	}
	if s, ok := r.snapshots[id]; ok {
		return s.tags, true
	}
	if m, ok := r.images[id]; ok {
		return m.tags, true
	}
	if a, ok := r.addresses[id]; ok {
		return a.tags, true
	}
	if s := r.subnet(id); s != nil {
		return s.tags, true
	}
	return nil, false
}

// eachString calls f with every string in v: fields of structs, elements
// of slices and values of maps, through pointers and interfaces.
func eachString(v reflect.Value, f func(string)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			eachString(v.Elem(), f)
		}
	case reflect.String:
		f(v.String())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				eachString(v.Field(i), f)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			eachString(v.Index(i), f)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			eachString(it.Value(), f)
		}
	}
}

// Calls returns every call so far, oldest first.
func (r *Region) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// CallsTo returns the calls to one operation of one service, oldest first.
func (r *Region) CallsTo(service, operation string) []Call {
	var out []Call
	for _, c := range r.Calls() {
		if c.Service == service && c.Operation == operation {
			out = append(out, c)
		}
	}
	return out
}

// Operations lists, per caller, the distinct "service:Operation" pairs it
// called, sorted: what its IAM policy must allow.
func (r *Region) Operations() map[string][]string {
	seen := map[string]map[string]bool{}
	for _, c := range r.Calls() {
		if seen[c.Caller] == nil {
			seen[c.Caller] = map[string]bool{}
		}
		seen[c.Caller][c.Service+":"+c.Operation] = true
	}
	out := map[string][]string{}
	for caller, ops := range seen {
		for op := range ops {
			out[caller] = append(out[caller], op)
		}
		sort.Strings(out[caller])
	}
	return out
}

// Resource kinds in the inventory.
const (
	KindInstance = "instance"
	KindVolume   = "volume"
	KindSnapshot = "snapshot"
	KindAddress  = "address"
	KindSchedule = "schedule"
)

// Resource is one billable thing in the region.
type Resource struct {
	Kind  string
	ID    string // for a schedule, "group/name"
	State string
	// Release is the value of the greenlight:release tag, "" when the
	// resource has none (the fixture's own resources, or schedules, which
	// cannot be tagged individually).
	Release string
	// Caller is who created the resource, when a call created it.
	Caller string
}

// Inventory lists the billable resources that exist now: instances not
// terminated, volumes, snapshots, Elastic IPs and schedules, in creation
// order within each kind.
func (r *Region) Inventory() []Resource {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle()
	var out []Resource
	for _, id := range r.instanceOrder {
		i := r.instances[id]
		if i.state == stateTerminated {
			continue
		}
		out = append(out, Resource{Kind: KindInstance, ID: id, State: i.state, Release: i.tags[tagRelease], Caller: i.caller})
	}
	for _, id := range r.volumeOrder {
		if v, ok := r.volumes[id]; ok {
			out = append(out, Resource{Kind: KindVolume, ID: id, State: v.state, Release: v.tags[tagRelease], Caller: v.caller})
		}
	}
	for _, id := range r.snapshotOrder {
		if s, ok := r.snapshots[id]; ok {
			out = append(out, Resource{Kind: KindSnapshot, ID: id, State: s.status(r.now()), Release: s.tags[tagRelease], Caller: s.caller})
		}
	}
	for _, id := range r.addressOrder {
		a := r.addresses[id]
		state := "unassociated"
		if a.instanceID != "" {
			state = "associated:" + a.instanceID
		}
		out = append(out, Resource{Kind: KindAddress, ID: id, State: state, Release: a.tags[tagRelease]})
	}
	for _, key := range r.scheduleOrder {
		if s, ok := r.schedules[key]; ok {
			out = append(out, Resource{Kind: KindSchedule, ID: key, State: s.state, Caller: s.caller})
		}
	}
	return out
}

// Leaks lists what the release created that still exists, leaving out
// snapshots, which greenlight keeps as backups.
func (r *Region) Leaks(release string) []Resource {
	var out []Resource
	for _, res := range r.Inventory() {
		if res.Release == release && res.Kind != KindSnapshot {
			out = append(out, res)
		}
	}
	return out
}
