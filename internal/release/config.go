package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
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
	HealthCheck     HealthCheck   `json:"healthCheck"`
	SmokeTests      []SmokeTest   `json:"smokeTests,omitempty"`
	ApprovalTimeout Duration      `json:"approvalTimeout"`
	BakeTime        Duration      `json:"bakeTime"`
	RetentionDays   int           `json:"retentionDays"`
	KeepReleases    int           `json:"keepReleases"`
	Notifications   Notifications `json:"notifications"`
	ArtifactPrefix  string        `json:"artifactPrefix"`
	ArtifactMaxSize int           `json:"artifactMaxSize"`
}

// LiveConfig names the public endpoint; whichever instance holds it is live.
type LiveConfig struct {
	ElasticIPAllocationID string `json:"elasticIpAllocationId"`
}

// Launch says how a candidate instance is launched.
type Launch struct {
	AMI              string   `json:"ami,omitempty"`
	AMIParameter     string   `json:"amiParameter,omitempty"`
	InstanceType     string   `json:"instanceType"`
	SubnetID         string   `json:"subnetId,omitempty"`
	SecurityGroupIDs []string `json:"securityGroupIds"`
	InstanceProfile  string   `json:"instanceProfile"`
	InstanceRole     string   `json:"instanceRole"`
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
	defaultApproval        = Duration(24 * time.Hour)
	defaultBake            = Duration(5 * time.Minute)
	defaultReady           = Duration(10 * time.Minute)
	defaultHealthTimeout   = Duration(2 * time.Minute)
	defaultSnapshotMaxAge  = Duration(time.Hour)
	defaultSmokeLatency    = Duration(2 * time.Second)
)

// Limits that the schema cannot express because they are durations.
var durationLimits = map[string][2]time.Duration{
	"approvalTimeout":         {time.Minute, 7 * 24 * time.Hour},
	"bakeTime":                {30 * time.Second, 24 * time.Hour},
	"candidate.readyTimeout":  {time.Minute, 2 * time.Hour},
	"healthCheck.timeout":     {time.Second, 30 * time.Minute},
	"data.snapshotMaxAge":     {time.Minute, 30 * 24 * time.Hour},
	"smokeTests[].maxLatency": {time.Millisecond, time.Minute},
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
}

// HasData reports whether releases carry a data volume across.
func (c Config) HasData() bool { return c.Data.Mode == DataRestore || c.Data.Mode == DataMove }
