package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Config is greenlight.json: how one application is released. The JSON
// schema in config.schema.json is its contract; ParseConfig applies it,
// then the cross-field rules, then the defaults.
type Config struct {
	Schema          string        `json:"$schema,omitempty"`
	App             string        `json:"app"`
	StackName       string        `json:"stackName,omitempty"`
	Region          string        `json:"region,omitempty"`
	Live            LiveConfig    `json:"live"`
	Candidate       Launch        `json:"candidate"`
	Network         *Network      `json:"network,omitempty"`
	Data            DataConfig    `json:"data"`
	Encryption      *Encryption   `json:"encryption,omitempty"`
	Traffic         TrafficConfig `json:"traffic,omitzero"`
	Fleet           FleetConfig   `json:"fleet,omitzero"`
	HealthCheck     HealthCheck   `json:"healthCheck"`
	SmokeTests      []SmokeTest   `json:"smokeTests,omitempty"`
	ApprovalTimeout Duration      `json:"approvalTimeout"`
	Approval        Approvals     `json:"approval,omitzero"`
	BakeTime        Duration      `json:"bakeTime"`
	RetentionDays   int           `json:"retentionDays"`
	KeepReleases    int           `json:"keepReleases"`
	Notifications   Notifications `json:"notifications"`
	ArtifactPrefix  string        `json:"artifactPrefix"`
	ArtifactMaxSize int           `json:"artifactMaxSize"`
}

// LiveConfig names the public endpoint; whichever instance holds it is live.
// In alb mode there is none: the load balancer is the front.
type LiveConfig struct {
	ElasticIPAllocationID string `json:"elasticIpAllocationId,omitempty"`
}

// Launch says how a candidate instance is launched.
type Launch struct {
	AMI              string   `json:"ami,omitempty"`
	AMIParameter     string   `json:"amiParameter,omitempty"`
	InstanceType     string   `json:"instanceType"`
	SubnetID         string   `json:"subnetId,omitempty"`
	SecurityGroupIDs []string `json:"securityGroupIds"`
	InstanceProfile  string   `json:"instanceProfile"`
	InstanceRole     string   `json:"instanceRole,omitempty"`
	KeyName          string   `json:"keyName,omitempty"`
	UserData         string   `json:"userData,omitempty"`
	ReadyTimeout     Duration `json:"readyTimeout"`
	// PublicIP asks for a public IPv4 address at launch (default true).
	// An Elastic IP's subnet is a public one; there the SSM agent reaches
	// Systems Manager only through a public IP unless the subnet has a NAT
	// gateway or VPC endpoints, and an instance that later hands the
	// Elastic IP on keeps a public address only if it was launched with
	// one. Set false where the subnet has such a path.
	PublicIP *bool `json:"publicIp,omitempty"`
}

// Approvals says how an approval may be answered besides the CLI.
type Approvals struct {
	// Links puts signed approve and reject links in the approval
	// notification (default true).
	Links *bool `json:"links,omitempty"`
}

// ApprovalLinks reports whether approval notifications carry links (and
// the stack serves them).
func (c Config) ApprovalLinks() bool { return c.Approval.Links == nil || *c.Approval.Links }

// WantsPublicIP reports whether candidates launch with a public IP.
func (l Launch) WantsPublicIP() bool { return l.PublicIP == nil || *l.PublicIP }

// Data modes: how the application's data volume follows a release.
const (
	DataNone    = "none"
	DataRestore = "restore"
	DataMove    = "move"
)

// Network places the smoke-test function in the app's VPC.
type Network struct {
	SubnetIDs        []string `json:"subnetIds"`
	SecurityGroupIDs []string `json:"securityGroupIds"`
}

// DataConfig describes the application's data volume.
type DataConfig struct {
	Mode           string   `json:"mode"`
	Device         string   `json:"device,omitempty"`
	MountPoint     string   `json:"mountPoint,omitempty"`
	SnapshotMaxAge Duration `json:"snapshotMaxAge,omitempty"`
	// InitializationRate (MiB/s, 100 to 300) has EBS initialize the volume
	// restore mode serves from at that rate, instead of loading each block
	// from the snapshot on its first read (slow first reads right after the
	// cutover). Billed by EBS; omitted, volumes initialize lazily.
	InitializationRate int32 `json:"initializationRate,omitempty"`
}

// Encryption names the customer managed KMS key greenlight encrypts the
// volumes it creates with, and that its functions are granted the use of.
// Without it volumes are encrypted with the account's default EBS key,
// which must then be the AWS managed one (the prepare step checks).
type Encryption struct {
	// KMSKeyID is the key's ARN or an alias ARN, in the stack's region.
	KMSKeyID string `json:"kmsKeyId"`
}

// KeyARN is a KMS key ARN or alias ARN, split.
type KeyARN struct {
	Partition, Region, Account string
	// Resource is "key/<id>" or "alias/<name>".
	Resource string
}

// ParseKeyARN splits a KMS key or alias ARN; ok is false for anything else.
func ParseKeyARN(s string) (KeyARN, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kms" || parts[3] == "" || parts[4] == "" {
		return KeyARN{}, false
	}
	k := KeyARN{Partition: parts[1], Region: parts[3], Account: parts[4], Resource: parts[5]}
	if !strings.HasPrefix(k.Resource, "key/") && !strings.HasPrefix(k.Resource, "alias/") {
		return KeyARN{}, false
	}
	return k, true
}

// IsAWSManagedEBSKey reports whether a key identifier names the AWS
// managed key for EBS (alias/aws/ebs, bare or as an alias ARN): the
// default EBS key of an account that did not choose its own.
func IsAWSManagedEBSKey(id string) bool {
	return id == "alias/aws/ebs" || strings.HasSuffix(id, ":alias/aws/ebs")
}

// IsAlias reports whether the ARN names an alias rather than a key.
func (k KeyARN) IsAlias() bool { return strings.HasPrefix(k.Resource, "alias/") }

// KMSKeyID is encryption.kmsKeyId, or "" when the config leaves it out.
func (c Config) KMSKeyID() string {
	if c.Encryption == nil {
		return ""
	}
	return c.Encryption.KMSKeyID
}

// Traffic modes: which front users reach the app through.
const (
	TrafficElasticIP = "elasticIp"
	TrafficALB       = "alb"
)

// TrafficConfig says how users' traffic reaches a new version. Left out,
// the Elastic IP moves all of it at once; in alb mode a listener's
// weighted forward action shifts it to the new version in steps.
type TrafficConfig struct {
	Mode string     `json:"mode,omitempty"`
	ALB  *ALBConfig `json:"alb,omitempty"`
	// Steps are the new version's shares of traffic in percent, strictly
	// increasing and ending at 100.
	Steps []int `json:"steps,omitempty"`
	// StepBake is how long each step holds before the next.
	StepBake Duration `json:"stepBake,omitempty"`
	// Stickiness keeps a user on the target group they reached for this
	// long while the weights move; "0" turns it off, so nil is "absent".
	Stickiness *Duration `json:"stickiness,omitempty"`
	// Alarms are CloudWatch alarm names; any of them in ALARM aborts. The
	// schema's bounds are DescribeAlarms' AlarmNames ("Array Members:
	// Maximum number of 100 items. Length Constraints: Minimum length of
	// 1. Maximum length of 255.", Amazon CloudWatch API Reference,
	// docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/
	// API_DescribeAlarms.html), so one call reads them all.
	Alarms []string `json:"alarms,omitempty"`
	// MaxErrorRateIncrease is how many percentage points the new target
	// group's 5xx rate may exceed the live one's by; 0 is a valid
	// setting, so nil is "absent".
	MaxErrorRateIncrease *float64 `json:"maxErrorRateIncrease,omitempty"`
}

// ALBConfig is the load balancer front: a listener (or one of its rules)
// whose forward action greenlight weights between two target groups.
type ALBConfig struct {
	ListenerARN string `json:"listenerArn"`
	// RuleARN, when set, is the rule greenlight manages instead of the
	// listener's default action.
	RuleARN         string   `json:"ruleArn,omitempty"`
	TargetGroupARNs []string `json:"targetGroupArns"`
}

// FleetConfig is the size of a side behind the ALB: each release
// launches Size new instances spread evenly across SubnetIDs (by default
// the live side's subnets) and keeps the previous ones for rollback.
type FleetConfig struct {
	Size      int      `json:"size,omitempty"`
	SubnetIDs []string `json:"subnetIds,omitempty"`
	// ReplaceUnhealthy is how many candidates of a release may be
	// replaced for failing their status checks or never reaching SSM,
	// across the whole side; 0 is a valid setting, so nil is "absent".
	ReplaceUnhealthy *int `json:"replaceUnhealthy,omitempty"`
}

// FleetSize is fleet.size, 1 when left out.
func (c Config) FleetSize() int { return max(c.Fleet.Size, 1) }

// ReplaceUnhealthy is fleet.replaceUnhealthy, DefaultReplaceUnhealthy when
// left out.
func (c Config) ReplaceUnhealthy() int {
	if c.Fleet.ReplaceUnhealthy == nil {
		return DefaultReplaceUnhealthy
	}
	return *c.Fleet.ReplaceUnhealthy
}

// UsesALB reports whether releases shift traffic through an ALB rather
// than moving the Elastic IP.
func (c Config) UsesALB() bool { return c.Traffic.Mode == TrafficALB }

// TrafficMode is traffic.mode, elasticIp when left out.
func (c Config) TrafficMode() string {
	if c.Traffic.Mode == "" {
		return TrafficElasticIP
	}
	return c.Traffic.Mode
}

// TrafficSteps are the shares of traffic a release moves through. An
// Elastic IP, and a data volume (attached to one instance), move all
// traffic at once.
func (c Config) TrafficSteps() []int {
	switch {
	case len(c.Traffic.Steps) > 0:
		return c.Traffic.Steps
	case !c.UsesALB() || c.HasData():
		return []int{100}
	}
	return slices.Clone(defaultSteps)
}

// StepBake is how long each traffic step holds before the next.
func (c Config) StepBake() time.Duration {
	if c.Traffic.StepBake == 0 {
		return defaultStepBake.D()
	}
	return c.Traffic.StepBake.D()
}

// Stickiness is how long the ALB keeps a user on one target group; 0 is
// off.
func (c Config) Stickiness() time.Duration {
	if c.Traffic.Stickiness == nil {
		return defaultStickiness.D()
	}
	return c.Traffic.Stickiness.D()
}

// MaxErrorRateIncrease is the percentage points by which the new target
// group's 5xx rate may exceed the live one's.
func (c Config) MaxErrorRateIncrease() float64 {
	if c.Traffic.MaxErrorRateIncrease == nil {
		return DefaultMaxErrorRateIncrease
	}
	return *c.Traffic.MaxErrorRateIncrease
}

// ELBARN is an Elastic Load Balancing (v2) ARN, split.
type ELBARN struct {
	Partition, Region, Account string
	// Resource is "listener/app/<lb>/<id>/<id>",
	// "listener-rule/app/<lb>/<id>/<id>/<id>" or "targetgroup/<name>/<id>".
	Resource string
}

// ParseELBARN splits an Elastic Load Balancing ARN; ok is false for
// anything else. The schema checks the resource's form.
func ParseELBARN(s string) (ELBARN, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "elasticloadbalancing" || parts[3] == "" || parts[4] == "" {
		return ELBARN{}, false
	}
	return ELBARN{Partition: parts[1], Region: parts[3], Account: parts[4], Resource: parts[5]}, true
}

// HealthCheck is the application's own readiness endpoint.
type HealthCheck struct {
	Port           int      `json:"port"`
	Path           string   `json:"path"`
	ExpectedStatus int      `json:"expectedStatus"`
	Timeout        Duration `json:"timeout"`
}

// SmokeTest is one HTTP check run against the candidate before approval.
type SmokeTest struct {
	Name           string   `json:"name"`
	Path           string   `json:"path"`
	ExpectedStatus int      `json:"expectedStatus"`
	BodyContains   string   `json:"bodyContains,omitempty"`
	MaxLatency     Duration `json:"maxLatency"`
}

// Notifications lists who hears about releases.
type Notifications struct {
	Emails []string `json:"emails,omitempty"`
}

// Duration is a time.Duration written in JSON as Go duration text ("90s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Seconds returns the whole seconds, rounded up, as Step Functions wants them.
func (d Duration) Seconds() int {
	return int((time.Duration(d) + time.Second - 1) / time.Second)
}

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads duration text such as "5m" or "1h30m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"90s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Defaults an operator gets when a field is left out.
const (
	DefaultArtifactPrefix  = "releases/"
	DefaultArtifactMaxSize = 512 // MiB
	DefaultRetentionDays   = 7
	DefaultKeepReleases    = 5
	// DefaultReplaceUnhealthy is how many candidates a release replaces
	// before it gives up and rolls back.
	DefaultReplaceUnhealthy = 1
	defaultApproval         = Duration(24 * time.Hour)
	defaultBake             = Duration(5 * time.Minute)
	defaultReady            = Duration(10 * time.Minute)
	defaultHealthTimeout    = Duration(2 * time.Minute)
	defaultSnapshotMaxAge   = Duration(time.Hour)
	defaultSmokeLatency     = Duration(2 * time.Second)
	defaultStepBake         = Duration(5 * time.Minute)
	defaultStickiness       = Duration(time.Hour)
	// DefaultMaxErrorRateIncrease is in percentage points.
	DefaultMaxErrorRateIncrease = 1.0
)

// defaultSteps move a small share first, so a bad version meets few users.
var defaultSteps = []int{5, 25, 50, 100}

// Limits that the schema cannot express because they are durations.
var durationLimits = map[string][2]time.Duration{
	"approvalTimeout":         {time.Minute, 7 * 24 * time.Hour},
	"bakeTime":                {30 * time.Second, 24 * time.Hour},
	"candidate.readyTimeout":  {time.Minute, 2 * time.Hour},
	"healthCheck.timeout":     {time.Second, 30 * time.Minute},
	"data.snapshotMaxAge":     {time.Minute, 30 * 24 * time.Hour},
	"smokeTests[].maxLatency": {time.Millisecond, time.Minute},
	"traffic.stepBake":        {30 * time.Second, 24 * time.Hour},
	// The ALB's limit: TargetGroupStickinessConfig DurationSeconds "The
	// range is 1-604800 seconds (7 days)" (Elastic Load Balancing API
	// Reference, docs.aws.amazon.com/elasticloadbalancing/latest/
	// APIReference/API_TargetGroupStickinessConfig.html). "0" is off.
	"traffic.stickiness": {time.Second, 7 * 24 * time.Hour},
}

// DefaultConfigPath is greenlight.json when it exists, else the example,
// so a fresh clone works out of the box.
func DefaultConfigPath() string {
	if _, err := os.Stat("greenlight.json"); err == nil {
		return "greenlight.json"
	}
	return "greenlight.example.json"
}

// LoadConfig reads and validates a config file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = path
		}
		return Config{}, err
	}
	return c, nil
}

// ParseConfig validates raw greenlight.json and returns it with defaults
// applied. On failure the error is a *ConfigError listing every problem.
func ParseConfig(b []byte) (Config, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return Config{}, &ConfigError{Problems: []Problem{{Path: "", Message: "the file is empty", Hint: "start from greenlight.example.json"}}}
	}
	if probs := schemaProblems(b); len(probs) > 0 {
		// Report the cross-field problems too when the values decode, so
		// one run lists every problem.
		var c Config
		if json.Unmarshal(b, &c) == nil {
			covered := func(path string) bool { // by a schema problem at it or above it
				for _, p := range probs {
					if path == p.Path || strings.HasPrefix(path, p.Path+".") || strings.HasPrefix(path, p.Path+"[") {
						return true
					}
				}
				return false
			}
			for _, p := range c.crossFieldProblems() {
				if !covered(p.Path) {
					probs = append(probs, p)
				}
			}
			sort.SliceStable(probs, func(i, j int) bool { return probs[i].Path < probs[j].Path })
		}
		return Config{}, &ConfigError{Problems: probs}
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		// The schema admitted it, so this is a schema bug; still say where.
		return Config{}, &ConfigError{Problems: []Problem{{Message: err.Error()}}}
	}
	if probs := c.crossFieldProblems(); len(probs) > 0 {
		return Config{}, &ConfigError{Problems: probs}
	}
	c.applyDefaults()
	return c, nil
}

func (c *Config) crossFieldProblems() []Problem {
	var p []Problem
	add := func(path, msg, hint string) { p = append(p, Problem{Path: path, Message: msg, Hint: hint}) }
	switch {
	case c.Candidate.AMI == "" && c.Candidate.AMIParameter == "":
		add("candidate.ami", "neither ami nor amiParameter is set", `give the golden AMI id ("ami-0123456789abcdef0") or an SSM parameter path that holds it ("/greenlight/shop/ami")`)
	case c.Candidate.AMI != "" && c.Candidate.AMIParameter != "":
		add("candidate.amiParameter", "both ami and amiParameter are set", "keep one: ami pins an image, amiParameter follows the image an SSM parameter points at")
	}
	if c.HasData() {
		if c.Data.Device == "" {
			add("data.device", fmt.Sprintf("is required when data.mode is %q", c.Data.Mode), `the device name the data volume is attached as on the live instance, e.g. "/dev/sdf"`)
		}
		if c.Data.MountPoint == "" {
			add("data.mountPoint", fmt.Sprintf("is required when data.mode is %q", c.Data.Mode), `where the application expects its data, e.g. "/var/lib/shop"`)
		}
	}
	if id := c.KMSKeyID(); id != "" {
		k, ok := ParseKeyARN(id)
		switch {
		case !ok:
			// The schema reports the form.
		case strings.HasPrefix(k.Resource, "alias/aws/"):
			add("encryption.kmsKeyId", fmt.Sprintf("%s is an AWS managed key", k.Resource),
				"AWS managed keys need no grant and cannot be named here: leave encryption out to use the account's default key when it is alias/aws/ebs")
		case c.Region != "" && k.Region != c.Region:
			add("encryption.kmsKeyId", fmt.Sprintf("the key is in %s but the stack deploys to %s", k.Region, c.Region),
				"EBS encrypts a volume only with a key of the volume's region: name a key in "+c.Region)
		}
	}
	checkAt := func(path, limit string, d Duration) {
		if d == 0 {
			return // absent: the default applies
		}
		lim := durationLimits[limit]
		if d.D() < lim[0] || d.D() > lim[1] {
			add(path, fmt.Sprintf("%s is outside the allowed range", d.D()), fmt.Sprintf("use between %s and %s", lim[0], lim[1]))
		}
	}
	check := func(path string, d Duration) { checkAt(path, path, d) }
	check("approvalTimeout", c.ApprovalTimeout)
	check("bakeTime", c.BakeTime)
	check("candidate.readyTimeout", c.Candidate.ReadyTimeout)
	check("healthCheck.timeout", c.HealthCheck.Timeout)
	check("data.snapshotMaxAge", c.Data.SnapshotMaxAge)
	if c.UsesALB() { // elsewhere they are refused whole
		check("traffic.stepBake", c.Traffic.StepBake)
		if s := c.Traffic.Stickiness; s != nil && *s != 0 {
			lim := durationLimits["traffic.stickiness"]
			if s.D() < lim[0] || s.D() > lim[1] {
				add("traffic.stickiness", fmt.Sprintf("%s is outside the allowed range", s.D()),
					fmt.Sprintf(`use between %s and %s, the ALB's limit, or "0" to turn stickiness off`, lim[0], lim[1]))
			}
		}
	}
	p = append(p, c.trafficProblems()...)
	p = append(p, c.fleetProblems()...)
	names := map[string]int{}
	for i, t := range c.SmokeTests {
		if j, dup := names[t.Name]; dup {
			add(fmt.Sprintf("smokeTests[%d].name", i), fmt.Sprintf("%q is already the name of smokeTests[%d]", t.Name, j), "give every check its own name: reports refer to checks by name")
		}
		names[t.Name] = i
		checkAt(fmt.Sprintf("smokeTests[%d].maxLatency", i), "smokeTests[].maxLatency", t.MaxLatency)
	}
	return p
}

// trafficProblems are the rules between traffic, its mode, the front and
// the data volume. A mode the schema refuses has no rules to apply.
func (c *Config) trafficProblems() []Problem {
	var p []Problem
	add := func(path, msg, hint string) { p = append(p, Problem{Path: path, Message: msg, Hint: hint}) }
	t := c.Traffic
	switch c.TrafficMode() {
	case TrafficElasticIP:
		if t.ALB != nil {
			add("traffic.alb", fmt.Sprintf("is set but traffic.mode is %q", TrafficElasticIP),
				`set traffic.mode to "alb" to release behind the load balancer, or leave alb out: the Elastic IP is the default front`)
		}
		// An Elastic IP moves all traffic at once: these would be ignored.
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"steps", t.Steps != nil}, {"stepBake", t.StepBake != 0}, {"stickiness", t.Stickiness != nil},
			{"alarms", t.Alarms != nil}, {"maxErrorRateIncrease", t.MaxErrorRateIncrease != nil},
		} {
			if f.set {
				add("traffic."+f.name, fmt.Sprintf("applies only when traffic.mode is %q", TrafficALB),
					fmt.Sprintf(`an Elastic IP moves all traffic at once: set traffic.mode to "alb" or leave %s out`, f.name))
			}
		}
	case TrafficALB:
		if c.Live.ElasticIPAllocationID != "" {
			add("live.elasticIpAllocationId", fmt.Sprintf("is set but traffic.mode is %q", TrafficALB),
				`only one front can be managed: leave the Elastic IP out to release behind the load balancer, or set traffic.mode to "elasticIp"`)
		}
		if t.ALB == nil {
			add("traffic.alb", fmt.Sprintf("is required when traffic.mode is %q", TrafficALB),
				`the listener whose forward action greenlight weights and the two target groups it alternates: {"listenerArn": "arn:aws:elasticloadbalancing:…:listener/app/…", "targetGroupArns": ["…:targetgroup/shop-blue/…", "…:targetgroup/shop-green/…"]}`)
		} else {
			p = append(p, c.albProblems()...)
		}
		if c.HasData() && len(t.Steps) > 1 {
			add("traffic.steps", fmt.Sprintf("a data volume serves one instance: with data.mode %q, traffic.steps must be [100]", c.Data.Mode),
				`set traffic.steps to [100] or leave it out; gradual steps need data.mode "none"`)
		}
		for i := 1; i < len(t.Steps); i++ {
			if t.Steps[i] <= t.Steps[i-1] {
				add(fmt.Sprintf("traffic.steps[%d]", i), fmt.Sprintf("%d after %d: steps must increase", t.Steps[i], t.Steps[i-1]),
					"each step is the new version's share of traffic in percent, e.g. [5, 25, 50, 100]")
			}
		}
		if n := len(t.Steps); n > 0 && t.Steps[n-1] != 100 {
			add(fmt.Sprintf("traffic.steps[%d]", n-1), fmt.Sprintf("%d is the last step: steps must end at 100", t.Steps[n-1]),
				"the last step sends all traffic to the new version")
		}
	}
	return p
}

// fleetProblems are the rules between a fleet and its front and data.
func (c *Config) fleetProblems() []Problem {
	var p []Problem
	add := func(path, msg, hint string) { p = append(p, Problem{Path: path, Message: msg, Hint: hint}) }
	f := c.Fleet
	if f.Size > 1 && !c.UsesALB() {
		add("fleet.size", fmt.Sprintf("%d instances, but an Elastic IP serves one instance", f.Size),
			`use traffic.mode alb to release a fleet behind a load balancer, or set fleet.size to 1`)
	}
	if f.Size > 1 && c.HasData() {
		add("fleet.size", fmt.Sprintf("%d instances, but a data volume attaches to one instance (data.mode %q)", f.Size, c.Data.Mode),
			`keep a fleet's data off the instances (a database, EFS or S3) and set data.mode to "none", or set fleet.size to 1`)
	}
	if len(f.SubnetIDs) > 0 && c.Candidate.SubnetID != "" {
		add("fleet.subnetIds", "is set together with candidate.subnetId",
			"keep one: fleet.subnetIds lists every subnet candidates may launch in, candidate.subnetId pins one")
	}
	if len(f.SubnetIDs) > 0 && c.HasData() {
		add("fleet.subnetIds", fmt.Sprintf("is set but data.mode is %q", c.Data.Mode),
			"a data volume attaches only in its own Availability Zone: the candidate launches in the live instance's subnet (or candidate.subnetId)")
	}
	return p
}

// albProblems are the rules between the ALB's ARNs and the stack: the
// form of each is the schema's.
func (c *Config) albProblems() []Problem {
	var p []Problem
	add := func(path, msg, hint string) { p = append(p, Problem{Path: path, Message: msg, Hint: hint}) }
	a := c.Traffic.ALB
	l, ok := ParseELBARN(a.ListenerARN)
	if !ok {
		return nil
	}
	if c.Region != "" && l.Region != c.Region {
		add("traffic.alb.listenerArn", fmt.Sprintf("the listener is in %s but the stack deploys to %s", l.Region, c.Region),
			"greenlight's functions manage a load balancer of the stack's region: name a listener in "+c.Region)
	}
	// A rule ARN is its listener's ARN with "listener-rule" for
	// "listener" and the rule's id appended.
	if r, ok := ParseELBARN(a.RuleARN); ok {
		if r.Partition != l.Partition || r.Region != l.Region || r.Account != l.Account ||
			!strings.HasPrefix(r.Resource, "listener-rule/"+strings.TrimPrefix(l.Resource, "listener/")+"/") {
			add("traffic.alb.ruleArn", "is not a rule of traffic.alb.listenerArn",
				"name one of the listener's rules (aws elbv2 describe-rules --listener-arn …), or leave ruleArn out to manage its default action")
		}
	}
	for i, arn := range a.TargetGroupARNs {
		if g, ok := ParseELBARN(arn); ok && g.Region != l.Region {
			add(fmt.Sprintf("traffic.alb.targetGroupArns[%d]", i), fmt.Sprintf("the target group is in %s but the listener is in %s", g.Region, l.Region),
				"a listener forwards only to target groups of its own region")
		}
	}
	return p
}

func (c *Config) applyDefaults() {
	if c.StackName == "" {
		c.StackName = "greenlight-" + c.App
	}
	if c.Candidate.InstanceRole == "" {
		c.Candidate.InstanceRole = c.Candidate.InstanceProfile
	}
	if c.Candidate.ReadyTimeout == 0 {
		c.Candidate.ReadyTimeout = defaultReady
	}
	if c.Data.Mode == "" {
		c.Data.Mode = DataNone
	}
	if c.Data.Mode != DataNone && c.Data.SnapshotMaxAge == 0 {
		c.Data.SnapshotMaxAge = defaultSnapshotMaxAge
	}
	if c.HealthCheck.ExpectedStatus == 0 {
		c.HealthCheck.ExpectedStatus = 200
	}
	if c.HealthCheck.Timeout == 0 {
		c.HealthCheck.Timeout = defaultHealthTimeout
	}
	for i := range c.SmokeTests {
		t := &c.SmokeTests[i]
		if t.ExpectedStatus == 0 {
			t.ExpectedStatus = 200
		}
		if t.MaxLatency == 0 {
			t.MaxLatency = defaultSmokeLatency
		}
	}
	if c.ApprovalTimeout == 0 {
		c.ApprovalTimeout = defaultApproval
	}
	if c.BakeTime == 0 {
		c.BakeTime = defaultBake
	}
	if c.RetentionDays == 0 {
		c.RetentionDays = DefaultRetentionDays
	}
	if c.KeepReleases == 0 {
		c.KeepReleases = DefaultKeepReleases
	}
	if c.ArtifactPrefix == "" {
		c.ArtifactPrefix = DefaultArtifactPrefix
	}
	if c.ArtifactMaxSize == 0 {
		c.ArtifactMaxSize = DefaultArtifactMaxSize
	}
	// After data.mode, which the default steps depend on. In elasticIp
	// mode the ALB's settings stay out, so the result parses again.
	c.Traffic.Mode = c.TrafficMode()
	if c.UsesALB() {
		t := &c.Traffic
		t.Steps = c.TrafficSteps()
		t.StepBake = Duration(c.StepBake())
		stickiness, rate := Duration(c.Stickiness()), c.MaxErrorRateIncrease()
		t.Stickiness, t.MaxErrorRateIncrease = &stickiness, &rate
	}
}

// HasData reports whether releases carry a data volume across.
func (c Config) HasData() bool { return c.Data.Mode == DataRestore || c.Data.Mode == DataMove }
