package release

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var printer = message.NewPrinter(language.English)

//go:embed config.schema.json
var configSchemaJSON []byte

// ConfigSchema returns the JSON schema of greenlight.json.
func ConfigSchema() []byte { return bytes.Clone(configSchemaJSON) }

var configSchema = func() *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(configSchemaJSON))
	if err != nil {
		panic("config.schema.json: " + err.Error())
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.schema.json", doc); err != nil {
		panic("config.schema.json: " + err.Error())
	}
	return c.MustCompile("config.schema.json")
}()

// Problem is one thing wrong with a config, at a JSON path.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

func (p Problem) String() string {
	path := p.Path
	if path == "" {
		path = "(top level)"
	}
	s := path + ": " + p.Message
	if p.Hint != "" {
		s += " (" + p.Hint + ")"
	}
	return s
}

// ConfigError lists every problem found in a config.
type ConfigError struct {
	File     string
	Problems []Problem
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	name := e.File
	if name == "" {
		name = "config"
	}
	fmt.Fprintf(&b, "%s: %d problem(s):", name, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// hints explain the expected form of a field, keyed by path with [] for
// array indexes.
var hints = map[string]string{
	"app":                           `lower-case letters, digits and "-", starting with a letter, at most 31 characters, e.g. "shop"`,
	"stackName":                     `letters, digits and "-", starting with a letter`,
	"region":                        `an AWS region such as "eu-west-1"`,
	"live":                          `the Elastic IP in front of the app, {"elasticIpAllocationId": "eipalloc-…"}; with a load balancer in front, set traffic.mode to "alb" instead`,
	"live.elasticIpAllocationId":    `the allocation id of the Elastic IP in front of the app, e.g. "eipalloc-0123456789abcdef0" (aws ec2 describe-addresses)`,
	"candidate.ami":                 `an AMI id such as "ami-0123456789abcdef0"`,
	"candidate.amiParameter":        `an SSM parameter path such as "/greenlight/shop/ami"`,
	"candidate.instanceType":        `an EC2 instance type such as "t4g.small"`,
	"candidate.subnetId":            `a subnet id such as "subnet-0123456789abcdef0"; leave it out to use the live instance's subnet`,
	"candidate.securityGroupIds":    `one to five security group ids`,
	"candidate.securityGroupIds[]":  `a security group id such as "sg-0123456789abcdef0"`,
	"candidate.instanceProfile":     `the name of the instance profile the app's instances use`,
	"candidate.instanceRole":        `the name of the IAM role inside that instance profile`,
	"network.subnetIds[]":           `a subnet id such as "subnet-0123456789abcdef0" in the app's VPC`,
	"network.securityGroupIds[]":    `a security group that may reach the app's port on candidates`,
	"data.mode":                     `none: no data volume; restore: the candidate gets a restored copy; move: the live volume moves to the candidate`,
	"data.device":                   `a device name such as "/dev/sdf"`,
	"data.mountPoint":               `an absolute path such as "/var/lib/shop"`,
	"encryption.kmsKeyId":           `a KMS key ARN ("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab") or alias ARN ("arn:aws:kms:eu-west-1:123456789012:alias/shop-ebs")`,
	"traffic.mode":                  `elasticIp: the Elastic IP moves all traffic at once; alb: an ALB listener shifts it in steps`,
	"traffic.alb.listenerArn":       `an ALB listener ARN, e.g. "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2" (aws elbv2 describe-listeners)`,
	"traffic.alb.ruleArn":           `a rule ARN of that listener, e.g. "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee" (aws elbv2 describe-rules)`,
	"traffic.alb.targetGroupArns":   `two different target groups: greenlight registers each new version in the one not serving`,
	"traffic.alb.targetGroupArns[]": `a target group ARN, e.g. "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-blue/73e2d6bc24d8a067" (aws elbv2 describe-target-groups)`,
	"traffic.steps":                 `the new version's shares of traffic in percent, e.g. [5, 25, 50, 100]`,
	"traffic.steps[]":               `a share of traffic in percent, 1-100`,
	"traffic.stepBake":              `a duration such as "5m", 30s-24h`,
	"traffic.stickiness":            `a duration such as "1h", at most "168h", the ALB's limit; "0" turns stickiness off`,
	"traffic.alarms":                `at most 100 distinct CloudWatch alarm names`,
	"traffic.alarms[]":              `a CloudWatch alarm name, 1-255 characters`,
	"traffic.maxErrorRateIncrease":  `percentage points, 0-100: how much higher the new version's 5xx rate may be than the live one's`,
	"healthCheck.port":              `the TCP port the app listens on, 1-65535`,
	"healthCheck.path":              `an absolute URL path such as "/healthz"`,
	"smokeTests[].path":             `an absolute URL path such as "/"`,
	"notifications.emails[]":        `an email address such as "ops@example.com"`,
	"artifactPrefix":                `an S3 key prefix ending in "/", e.g. "releases/"`,
	"retentionDays":                 `how many days the previous instance is kept for rollback, 1-90`,
	"keepReleases":                  `how many unpacked releases each instance keeps, 1-50`,
	"artifactMaxSize":               `the largest artifact accepted, in MiB`,
}

const durationHint = `a duration such as "90s", "15m" or "24h"`

var indexRE = regexp.MustCompile(`\[[0-9]+\]`)

func hintFor(path string) string {
	return hints[indexRE.ReplaceAllString(path, "[]")]
}

// schemaProblems validates raw JSON against the schema and returns every
// problem it finds, one per offending value, in document order.
func schemaProblems(b []byte) []Problem {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return []Problem{syntaxProblem(b, err)}
	}
	err = configSchema.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Problem{{Message: err.Error()}}
	}
	var out []Problem
	collect(ve, &out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return dedupe(out)
}

func collect(e *jsonschema.ValidationError, out *[]Problem) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collect(c, out)
		}
		return
	}
	*out = append(*out, describe(e)...)
}

// describe words one schema failure; a missing or unknown field becomes one
// problem per field, pointing at the field itself.
func describe(e *jsonschema.ValidationError) []Problem {
	path := jsonPath(e.InstanceLocation)
	p := Problem{Path: path, Hint: hintFor(path)}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		var ps []Problem
		for _, f := range k.Missing {
			fp := joinPath(path, f)
			ps = append(ps, Problem{Path: fp, Message: "is required", Hint: hintFor(fp)})
		}
		return ps
	case *kind.AdditionalProperties:
		var ps []Problem
		for _, f := range k.Properties {
			ps = append(ps, Problem{Path: joinPath(path, f), Message: "is not a known field", Hint: suggestField(e, f)})
		}
		return ps
	case *kind.Type:
		p.Message = fmt.Sprintf("is %s, want %s", article(k.Got), strings.Join(k.Want, " or "))
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		p.Message = fmt.Sprintf("%s is not one of %s", show(k.Got), strings.Join(want, ", "))
	case *kind.Pattern:
		p.Message = fmt.Sprintf("%s is not valid", show(k.Got))
		if strings.Contains(k.Want, "(ms|s|m|h)") && p.Hint == "" {
			p.Hint = durationHint
		}
	case *kind.Minimum:
		p.Message = fmt.Sprintf("%s is below the minimum %s", number(k.Got), number(k.Want))
	case *kind.Maximum:
		p.Message = fmt.Sprintf("%s is above the maximum %s", number(k.Got), number(k.Want))
	case *kind.MinItems:
		p.Message = fmt.Sprintf("has %d item(s), needs at least %d", k.Got, k.Want)
	case *kind.MaxItems:
		p.Message = fmt.Sprintf("has %d items, allows at most %d", k.Got, k.Want)
	case *kind.UniqueItems:
		p.Message = fmt.Sprintf("items %d and %d are the same", k.Duplicates[0], k.Duplicates[1])
	case *kind.MinLength:
		p.Message = fmt.Sprintf("is %d character(s) long, needs at least %d", k.Got, k.Want)
	case *kind.MaxLength:
		p.Message = fmt.Sprintf("is %d characters long, allows at most %d", k.Got, k.Want)
	default:
		p.Message = e.ErrorKind.LocalizedString(printer)
	}
	return []Problem{p}
}

// suggestField names the known field an unknown one was probably meant to be.
func suggestField(e *jsonschema.ValidationError, name string) string {
	known := knownFields(e.InstanceLocation)
	for _, k := range known {
		if strings.EqualFold(k, name) || strings.EqualFold(strings.ReplaceAll(k, "_", ""), strings.ReplaceAll(name, "_", "")) {
			return fmt.Sprintf("did you mean %q?", k)
		}
	}
	if len(known) > 0 {
		return "known fields: " + strings.Join(known, ", ")
	}
	return ""
}

// knownFields lists the properties the schema allows at a location.
func knownFields(loc []string) []string {
	s := configSchema
	for _, tok := range loc {
		switch {
		case s.Properties != nil && s.Properties[tok] != nil:
			s = s.Properties[tok]
		case s.Items2020 != nil:
			s = s.Items2020
		default:
			return nil
		}
		if s.Ref != nil {
			s = s.Ref
		}
	}
	var out []string
	for k := range s.Properties {
		if k != "$schema" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func jsonPath(loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func joinPath(parent, field string) string {
	if parent == "" {
		return field
	}
	return parent + "." + field
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// number writes a JSON number as it was written: -0.5, not the -1/2 a
// fraction prints as.
func number(r *big.Rat) string {
	if r.IsInt() {
		return r.RatString()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func article(typ string) string {
	switch typ {
	case "array", "object", "integer":
		return "an " + typ
	case "null":
		return "null"
	}
	return "a " + typ
}

func dedupe(ps []Problem) []Problem {
	seen := map[string]bool{}
	out := ps[:0]
	for _, p := range ps {
		k := p.Path + "\x00" + p.Message
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}

// syntaxProblem turns a JSON decoding error into a problem with a line and
// column, since a path does not exist yet.
func syntaxProblem(b []byte, err error) Problem {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	offset := int64(-1)
	switch {
	case errors.As(err, &se):
		offset = se.Offset
	case errors.As(err, &te):
		offset = te.Offset
	}
	msg := "is not valid JSON: " + err.Error()
	if offset >= 0 {
		line, col := lineCol(b, offset)
		msg = fmt.Sprintf("is not valid JSON at line %d, column %d: %s", line, col, err)
	}
	return Problem{Message: msg, Hint: "check for a missing comma, quote or bracket"}
}

func lineCol(b []byte, offset int64) (int, int) {
	if offset > int64(len(b)) {
		offset = int64(len(b))
	}
	line, col := 1, 1
	for _, c := range b[:offset] {
		if c == '\n' {
			line++
			col = 1
			continue
		}
		col++
	}
	return line, col
}
