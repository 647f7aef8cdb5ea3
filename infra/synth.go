package infra

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/greenlight/greenlight/internal/release"
)

// NewApp returns a CDK app holding the greenlight stack with the
// AwsSolutions checks applied, writing to outdir ("" lets the CDK choose).
func NewApp(outdir string, props Props) (awscdk.App, *Stack) {
	appProps := &awscdk.AppProps{Context: &featureFlags}
	if outdir != "" {
		appProps.Outdir = jsii.String(outdir)
	}
	app := awscdk.NewApp(appProps)
	s := NewStack(app, props)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return app, s
}

// featureFlags are the CDK feature flags, set in code rather than cdk.json
// so that tests, the local engine and `cdk synth` build the same template.
var featureFlags = map[string]any{
	"@aws-cdk/aws-lambda:recognizeLayerVersion":                                       true,
	"@aws-cdk/core:checkSecretUsage":                                                  true,
	"@aws-cdk/aws-iam:minimizePolicies":                                               true,
	"@aws-cdk/core:enablePartitionLiterals":                                           true,
	"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy":                                 true,
	"@aws-cdk/aws-iam:standardizedServicePrincipals":                                  true,
	"@aws-cdk/aws-stepfunctions-tasks:useNewS3UriParametersForBedrockInvokeModelTask": true,
	"@aws-cdk/aws-lambda:useCdkManagedLogGroup":                                       true,
}

// Synthesized is a synthesized stack: its template and what cdk-nag and
// the CDK said about it.
type Synthesized struct {
	StackName string
	Template  map[string]any
	// Findings are the error and warning annotations, as "path: message".
	Findings []string
}

// Synth synthesizes the stack in-process into outdir and reads it back.
func Synth(outdir string, props Props) (*Synthesized, error) {
	app, s := NewApp(outdir, props)
	return synthApp(app, s)
}

func synthApp(app awscdk.App, s *Stack) (*Synthesized, error) {
	asm := app.Synth(nil)
	name := *s.StackName()
	dir := *asm.Directory()
	art := asm.GetStackByName(jsii.String(name))
	b, err := os.ReadFile(filepath.Join(dir, *art.TemplateFile()))
	if err != nil {
		return nil, fmt.Errorf("read synthesized template: %w", err)
	}
	out := &Synthesized{StackName: name}
	if err := json.Unmarshal(b, &out.Template); err != nil {
		return nil, fmt.Errorf("parse synthesized template: %w", err)
	}
	if out.Findings, err = findings(dir, name); err != nil {
		return nil, err
	}
	return out, nil
}

// findings reads the error and warning annotations (cdk-nag's among them)
// from the cloud assembly: the stack's metadata file, or the manifest.
func findings(dir, stack string) ([]string, error) {
	type entry struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}
	var meta map[string][]entry
	b, err := os.ReadFile(filepath.Join(dir, stack+".metadata.json"))
	if err == nil {
		err = json.Unmarshal(b, &meta)
	} else {
		var manifest struct {
			Artifacts map[string]struct {
				Metadata map[string][]entry `json:"metadata"`
			} `json:"artifacts"`
		}
		if b, err = os.ReadFile(filepath.Join(dir, "manifest.json")); err == nil {
			err = json.Unmarshal(b, &manifest)
			meta = manifest.Artifacts[stack].Metadata
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read the cloud assembly's annotations: %w", err)
	}
	var out []string
	for path, entries := range meta {
		for _, e := range entries {
			level := strings.TrimPrefix(e.Type, "aws:cdk:")
			if level == "error" || level == "warning" {
				out = append(out, fmt.Sprintf("%s %s: %s", level, path, strings.TrimSpace(fmt.Sprint(e.Data))))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// DefaultAsset is where `make build` leaves the zipped bootstrap.
const DefaultAsset = "build/bootstrap.zip"

// PlaceholderAsset writes, under dir, a zip that stands in for the Lambda
// asset where only the template's shape matters (the local engine, the
// tests): it holds a bootstrap that only says what it is, never deployed.
func PlaceholderAsset(dir string) (string, error) {
	path := filepath.Join(dir, "placeholder-bootstrap.zip")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	zw := zip.NewWriter(f)
	w, err := zw.Create("bootstrap")
	if err == nil {
		_, err = w.Write([]byte("#!/bin/sh\necho 'greenlight: a placeholder, not a Lambda bootstrap: run make build' >&2\nexit 1\n"))
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return path, err
}

// EnvFor pins the stack's region when the config names one; the account
// and, otherwise, the region come from the deploying credentials.
func EnvFor(c release.Config) *awscdk.Environment {
	region := c.Region
	if region == "" {
		region = os.Getenv("CDK_DEFAULT_REGION")
	}
	account := os.Getenv("CDK_DEFAULT_ACCOUNT")
	if region == "" && account == "" {
		return nil
	}
	env := &awscdk.Environment{}
	if region != "" {
		env.Region = jsii.String(region)
	}
	if account != "" {
		env.Account = jsii.String(account)
	}
	return env
}
