// Package instance holds what greenlight runs on the EC2 instances: the
// shell scripts behind the SSM Command documents (deploy, maintenance,
// data), their parameter contracts, the files the golden AMI installs
// (nginx maintenance snippet and page, systemd unit) and a runner that
// executes a document in a sandbox exactly as the SSM agent would, for
// the tests and for the simulated region.
//
// Parameters reach a script by SSM's own substitution: each script starts
// with single-quoted assignments such as APP='{{ App }}', which the agent
// fills in before it runs the file. Every parameter has an allowedPattern
// that admits no quote, backslash, dollar or whitespace, so a value can
// never leave its quotes; the script checks the same pattern again before
// doing anything, and never evaluates a value. Render reproduces the
// agent's substitution byte for byte.
package instance

import (
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

//go:embed deploy.sh maintenance.sh data.sh
var scripts embed.FS

// Assets are the files the golden AMI installs (instance/README.md says
// where): nginx/greenlight-maintenance.conf, nginx/maintenance.html and
// systemd/app.service.
//
//go:embed nginx/greenlight-maintenance.conf nginx/maintenance.html systemd/app.service
var Assets embed.FS

// LastLine is the last non-empty line of a script's output: every script
// here reports its outcome, or why it failed, on that line.
func LastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n\r\t "), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// Document names: the last part of each SSM document's name
// (greenlight-<app>-<name>).
const (
	Deploy      = "deploy"
	Maintenance = "maintenance"
	Data        = "data"
)

// Parameter names, as the step Lambdas send them.
const (
	ParamApp           = "App"
	ParamReleaseID     = "ReleaseId"
	ParamVersion       = "Version"
	ParamBucket        = "Bucket"
	ParamKey           = "Key"
	ParamVersionID     = "VersionId"
	ParamSha256        = "Sha256"
	ParamHealthPort    = "HealthPort"
	ParamHealthPath    = "HealthPath"
	ParamHealthStatus  = "HealthStatus"
	ParamHealthTimeout = "HealthTimeout"
	ParamKeepReleases  = "KeepReleases"
	ParamMaxSizeMiB    = "MaxSizeMiB"
	ParamHookTimeout   = "HookTimeout"
	ParamRegion        = "Region"
	ParamAction        = "Action"
	ParamVolumeID      = "VolumeId"
	ParamDevice        = "Device"
	ParamMountPoint    = "MountPoint"
)

// Values of the Action parameter.
const (
	MaintenanceOn  = "on"
	MaintenanceOff = "off"
	DataFreeze     = "freeze"
	DataThaw       = "thaw"
	DataUnmount    = "unmount"
	DataMount      = "mount"
	DataStart      = "start"
)

// Exit statuses of the scripts (the command invocation's ResponseCode).
// Whatever the status, the last line of standard output says what
// happened in words for the operator.
const (
	ExitOK = 0
	// ExitFailed: the action failed; for deploy the previous release is
	// current (left or put back in place).
	ExitFailed = 1
	// ExitInvalidParameters: a parameter failed the script's own check.
	ExitInvalidParameters = 2
	// ExitArtifactRejected: deploy refused the artifact (checksum, size,
	// unsafe member, no entry point); retrying cannot help.
	ExitArtifactRejected = 3
)

// Parameter is one String parameter of a document.
type Parameter struct {
	Name        string
	Description string
	// AllowedPattern is enforced by SSM when the command is sent and
	// again by the script; it must keep shell syntax out (see the package
	// comment).
	AllowedPattern string
	// Optional parameters take Default when the caller leaves them out.
	Optional bool
	Default  string
}

// Document is one SSM Command document: schemaVersion 2.2 with a single
// aws:runShellScript step running Script.
type Document struct {
	// Name is the suffix of the document's name: Deploy, Maintenance, Data.
	Name        string
	Description string
	Parameters  []Parameter
	// TimeoutSeconds bounds the script (the step's timeoutSeconds).
	TimeoutSeconds int
	// Script is the step's runCommand, one line per element, with the
	// parameter placeholders still in it.
	Script string
}

// Patterns shared by several documents.
const (
	patApp        = `^[a-z][a-z0-9-]{0,30}$`
	patSeconds    = `^[1-9][0-9]{0,3}$`
	patMountPoint = `^(/[A-Za-z0-9._-]+){0,16}$`
)

func required(name, pattern, description string) Parameter {
	return Parameter{Name: name, AllowedPattern: pattern, Description: description}
}

func optional(name, pattern, def, description string) Parameter {
	return Parameter{Name: name, AllowedPattern: pattern, Description: description, Optional: true, Default: def}
}

var documents = []Document{
	{
		Name:           Deploy,
		Description:    "greenlight: install a release artifact, switch current atomically, restart the app and wait until it is healthy; the previous release stays current on failure.",
		TimeoutSeconds: 7200,
		Parameters: []Parameter{
			required(ParamApp, patApp, "Application name: /opt/<App>, <App>.service."),
			required(ParamReleaseID, `^[A-Za-z0-9-]{1,80}$`, "Release id: the directory under /opt/<App>/releases."),
			required(ParamVersion, `^[A-Za-z0-9._+-]{1,64}$`, "Version of the artifact, for the record."),
			required(ParamBucket, `^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`, "S3 bucket holding the artifact."),
			required(ParamKey, `^[A-Za-z0-9._/+=,@-]{1,255}$`, "S3 key of the artifact (.tar.gz)."),
			required(ParamVersionID, `^[A-Za-z0-9._+/=-]{1,255}$`, "S3 version id of the artifact."),
			required(ParamSha256, `^[0-9a-fA-F]{64}$`, "Expected SHA-256 of the artifact, hex."),
			required(ParamHealthPort, `^[1-9][0-9]{0,4}$`, "Port of the app's local health endpoint."),
			required(ParamHealthPath, `^/[A-Za-z0-9._~/%?=&+-]{0,200}$`, "Path of the app's local health endpoint."),
			optional(ParamHealthStatus, `^[1-5][0-9][0-9]$`, "200", "HTTP status the health endpoint answers when ready."),
			required(ParamHealthTimeout, patSeconds, "Seconds to wait for the health endpoint after the restart."),
			required(ParamKeepReleases, `^[1-9][0-9]?$`, "Releases to keep on disk (current and previous are always kept)."),
			optional(ParamMaxSizeMiB, `^[1-9][0-9]{0,4}$`, "512", "Largest artifact accepted, compressed and unpacked, in MiB."),
			optional(ParamHookTimeout, patSeconds, "600", "Seconds each artifact hook may run."),
			optional(ParamRegion, `^([a-z]{2}(-[a-z]+)+-[0-9]{1,2})?$`, "", "Region of the bucket (the sender's own); empty leaves it to the AWS CLI's configuration."),
		},
	},
	{
		Name:           Maintenance,
		Description:    "greenlight: turn the nginx maintenance page (503 with Retry-After) on or off.",
		TimeoutSeconds: 60,
		Parameters: []Parameter{
			required(ParamApp, patApp, "Application name."),
			required(ParamAction, `^(on|off)$`, "on or off."),
		},
	},
	{
		Name:           Data,
		Description:    "greenlight: freeze, thaw, unmount or mount the app's data volume, or start the app; after a start, wait until its local health endpoint answers.",
		TimeoutSeconds: 600,
		Parameters: []Parameter{
			required(ParamApp, patApp, "Application name."),
			required(ParamAction, `^(freeze|thaw|unmount|mount|start)$`, "freeze, thaw, unmount, mount or start."),
			optional(ParamVolumeID, `^(vol-[0-9a-f]{8,17})?$`, "", "EBS volume id to mount (found through its NVMe by-id name)."),
			optional(ParamDevice, `^(/dev/(sd|xvd)[b-z][a-z]?)?$`, "", "Device name the volume was attached as (Xen fallback)."),
			optional(ParamMountPoint, patMountPoint, "", "Where the data is mounted, e.g. /var/lib/shop."),
			optional(ParamHealthPort, `^([1-9][0-9]{0,4})?$`, "", "Port of the app's local health endpoint: after mount or start, wait until it answers (empty: do not wait)."),
			optional(ParamHealthPath, `^(/[A-Za-z0-9._~/%?=&+-]{0,200})?$`, "", "Path of the app's local health endpoint."),
			optional(ParamHealthStatus, `^[1-5][0-9][0-9]$`, "200", "HTTP status the health endpoint answers when ready."),
			optional(ParamHealthTimeout, patSeconds, "120", "Seconds to wait for the health endpoint after the start."),
		},
	},
}

func init() {
	for i := range documents {
		b, err := scripts.ReadFile(documents[i].Name + ".sh")
		if err != nil {
			panic(fmt.Sprintf("instance: script of document %s: %v", documents[i].Name, err))
		}
		documents[i].Script = string(b)
	}
}

// Documents returns every document, in a fixed order.
func Documents() []Document {
	out := make([]Document, len(documents))
	for i, d := range documents {
		out[i] = d
		out[i].Parameters = append([]Parameter(nil), d.Parameters...)
	}
	return out
}

// Lookup returns the document called name (Deploy, Maintenance, Data).
func Lookup(name string) (Document, bool) {
	for _, d := range Documents() {
		if d.Name == name {
			return d, true
		}
	}
	return Document{}, false
}

// DocumentName is the SSM document name of document name for app:
// greenlight-<app>-<name>.
func DocumentName(app, name string) string { return "greenlight-" + app + "-" + name }

// FullName is DocumentName(app, d.Name).
func (d Document) FullName(app string) string { return DocumentName(app, d.Name) }

// Lines is the step's runCommand: the script, one element per line.
func (d Document) Lines() []string {
	return strings.Split(strings.TrimSuffix(d.Script, "\n"), "\n")
}

// Content is the document's content as CloudFormation and CreateDocument
// take it (JSON-shaped values only).
func (d Document) Content() map[string]any {
	params := map[string]any{}
	for _, p := range d.Parameters {
		m := map[string]any{
			"type":           "String",
			"description":    p.Description,
			"allowedPattern": p.AllowedPattern,
		}
		if p.Optional {
			m["default"] = p.Default
		}
		params[p.Name] = m
	}
	lines := make([]any, 0, 256)
	for _, l := range d.Lines() {
		lines = append(lines, l)
	}
	return map[string]any{
		"schemaVersion": "2.2",
		"description":   d.Description,
		"parameters":    params,
		"mainSteps": []any{
			map[string]any{
				"action":       "aws:runShellScript",
				"name":         d.Name,
				"precondition": map[string]any{"StringEquals": []any{"platformType", "Linux"}},
				"inputs": map[string]any{
					"timeoutSeconds": strconv.Itoa(d.TimeoutSeconds),
					"runCommand":     lines,
				},
			},
		},
	}
}

// ContentJSON is Content as JSON text.
func (d Document) ContentJSON() string {
	b, err := json.MarshalIndent(d.Content(), "", "  ")
	if err != nil {
		panic(fmt.Sprintf("instance: marshal document %s: %v", d.Name, err)) // only JSON-shaped values
	}
	return string(b)
}

// ParameterError is a parameter SSM would refuse when the command is sent
// (the API's InvalidParameters).
type ParameterError struct {
	Document  string
	Parameter string
	Problem   string
}

func (e *ParameterError) Error() string {
	return fmt.Sprintf("document %s: parameter %s: %s", e.Document, e.Parameter, e.Problem)
}

// Resolve does what SSM does with SendCommand's parameters before any
// instance sees them: refuse unknown names, require required ones, fill
// in defaults and enforce every allowedPattern.
func (d Document) Resolve(params map[string]string) (map[string]string, error) {
	return d.resolve(params, true)
}

// ResolveUnchecked is Resolve without the allowedPattern checks: what a
// script receives when something other than SSM sends its parameters, so
// tests can reach the script's own checks behind SSM's.
func (d Document) ResolveUnchecked(params map[string]string) (map[string]string, error) {
	return d.resolve(params, false)
}

func (d Document) resolve(params map[string]string, patterns bool) (map[string]string, error) {
	known := map[string]bool{}
	for _, p := range d.Parameters {
		known[p.Name] = true
	}
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !known[n] {
			return nil, &ParameterError{Document: d.Name, Parameter: n, Problem: "the document has no such parameter"}
		}
	}
	out := map[string]string{}
	for _, p := range d.Parameters {
		v, ok := params[p.Name]
		switch {
		case !ok && !p.Optional:
			return nil, &ParameterError{Document: d.Name, Parameter: p.Name, Problem: "is required"}
		case !ok:
			v = p.Default
		}
		if patterns && !regexp.MustCompile(p.AllowedPattern).MatchString(v) {
			return nil, &ParameterError{Document: d.Name, Parameter: p.Name, Problem: fmt.Sprintf("%q does not match %s", v, p.AllowedPattern)}
		}
		out[p.Name] = v
	}
	return out, nil
}

// Render is the file the SSM agent writes and runs for this document with
// the given (resolved) parameter values: every {{ Name }} placeholder of
// every runCommand line replaced, the lines joined with newlines. It
// mirrors the agent's parameters.ReplaceParameter, including its use of
// regexp.ReplaceAllString (a "$" in a value would be expanded there too,
// one more reason the patterns exclude it).
func (d Document) Render(values map[string]string) string {
	lines := d.Lines()
	for _, p := range d.Parameters {
		v, ok := values[p.Name]
		if !ok {
			continue
		}
		re := regexp.MustCompile(`{{\s*` + p.Name + `\s*}}`)
		for i, l := range lines {
			lines[i] = re.ReplaceAllString(l, v)
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
